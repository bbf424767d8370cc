"""User-data of the GPU nodes: a thin installer of the bootstrap and serving units.

User-data runs once, at first boot, and a change to it reboots the instance without running it
again (DESIGN section 1): what it embeds is frozen across releases unless an upgrade note says
otherwise, and a test pins it byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from components.common.scripts import HEREDOC_END, check_env, env_block, script_text

# User data: at most 16 KB before Base64 (older ECS docs; newer ones say 32 KB: we budget 16).
USER_DATA_LIMIT = 16 * 1024
# host.env is read by systemd (EnvironmentFile) and by bash: plain values only, no quoting.
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_./:@%+=,-]*$")
# Embedded in user-data: (file in userdata/, directory variable, mode).
_USER_DATA_FILES: tuple[tuple[str, str, str], ...] = (
    ("host-bootstrap.sh", "LLM_LIB_DIR", "0755"),
    ("vllm-run.sh", "LLM_LIB_DIR", "0755"),
    ("llm-bootstrap.service", "LLM_SYSTEMD_DIR", "0644"),
    ("llm-vllm.service", "LLM_SYSTEMD_DIR", "0644"),
)
# Added on ecs-cluster nodes (the Ray node under systemd; its settings come from ray-start.sh).
_RAY_FILES: tuple[tuple[str, str, str], ...] = (
    ("ray-run.sh", "LLM_LIB_DIR", "0755"),
    ("llm-ray.service", "LLM_SYSTEMD_DIR", "0644"),
)
# Where the installer writes when the env block does not say otherwise. The unit files name
# these paths literally (systemd cannot expand variables in paths), so hosts keep the defaults;
# the overrides exist for the test sandbox.
_INSTALL_DEFAULTS = {
    "LLM_LIB_DIR": "/usr/local/lib/llm",
    "LLM_ETC_DIR": "/etc/llm",
    "LLM_STATE_DIR": "/var/lib/llm",
    "LLM_SYSTEMD_DIR": "/etc/systemd/system",
}
# Never allowed in user-data: it is readable from the instance metadata by any local user.
_USER_DATA_FORBIDDEN = ("LLM_API_KEY",)


def model_disk_device(disk_id: str) -> str:
    """Virtio disks show their ID (without `d-`) as the serial under /dev/disk/by-id."""
    return "/dev/disk/by-id/virtio-" + disk_id.removeprefix("d-")


def _heredoc(target: str, text: str, mode: str) -> str:
    if any(line == HEREDOC_END for line in text.splitlines()):
        raise ValueError(f"embedded file contains the heredoc terminator line {HEREDOC_END}")
    if not text.endswith("\n"):
        text += "\n"
    return f"cat > {target} <<'{HEREDOC_END}'\n{text}{HEREDOC_END}\nchmod {mode} {target}\n"


def render_user_data(env: Mapping[str, str | int], *, ray: bool | None = None) -> str:
    """User-data: installs the bootstrap and serving units from `userdata/` and starts the bootstrap.

    `env` holds only non-secret host settings; they are exported for the installer and also
    written to `$LLM_ETC_DIR/host.env`, the EnvironmentFile of the units.

    `ray` adds the Ray unit (`llm-ray.service`, `ray-run.sh`), enabled so that a reboot brings
    the node back into its cluster. By default it follows `LLM_ERDMA=1`: only ecs-cluster nodes
    have eRDMA, and single-node user-data stays as it was. Nothing in it names the node count
    or the head: those reach the node through ray-start.sh, so scaling reboots no node.
    """
    checked = check_env(env)
    if ray is None:
        ray = checked.get("LLM_ERDMA") == "1"
    for key in _USER_DATA_FORBIDDEN:
        if key in checked:
            raise ValueError(f"env {key} must never be in user-data (it is readable on the host)")
    for key, value in checked.items():
        if not _PLAIN_VALUE.match(value):
            raise ValueError(f"env {key}: host.env values must match {_PLAIN_VALUE.pattern} (got {value!r})")
    host_env = "".join(f"{k}={v}\n" for k, v in checked.items())
    parts = [
        "#!/bin/bash\n",
        "# Host installer (runs once at first boot): writes the bootstrap and serving units,\n",
        "# then starts the bootstrap unit, which resumes after a reboot until it has finished.\n",
        "set -euo pipefail\n",
        env_block(checked),
        "".join(f': "${{{k}:={v}}}"\n' for k, v in _INSTALL_DEFAULTS.items()),
        "umask 022\n",
        'mkdir -p "$LLM_LIB_DIR" "$LLM_ETC_DIR" "$LLM_STATE_DIR" "$LLM_SYSTEMD_DIR"\n',
        _heredoc('"$LLM_ETC_DIR/host.env"', host_env, "0644"),
    ]
    for name, dir_var, mode in _USER_DATA_FILES + (_RAY_FILES if ray else ()):
        parts.append(_heredoc(f'"${dir_var}/{name}"', script_text(name), mode))
    parts.append(
        "systemctl daemon-reload\n"
        + ("systemctl enable llm-ray.service\n" if ray else "")
        + "systemctl enable llm-vllm.service\n"
        "systemctl enable --now --no-block llm-bootstrap.service\n"
    )
    return "".join(parts)
