"""What a GPU node gets at first boot, and the host files the host-setup phase installs.

User-data runs once, at first boot, and a change to it reboots the instance without running it
again (DESIGN section 1). Since release 2 it carries nothing that may need fixing: the host's
scripts and units travel in the host-setup command (`userdata/host-setup.sh`, a Cloud Assistant
phase keyed on its content), packed as a tar.gz, with `host.env` rendered here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from components.common.scripts import check_env, library_text, pack_files, script_text, strip_comments

# User data: at most 16 KB before Base64 (older ECS docs; newer ones say 32 KB: we budget 16).
USER_DATA_LIMIT = 16 * 1024

USER_DATA = """#!/bin/bash
# llm-inference (release 2): nothing is installed at first boot. Host setup (drivers, Docker,
# Fabric Manager, eRDMA, the model disk, the systemd units) is the Cloud Assistant phase
# llm:host:HostSetup (userdata/host-setup.sh), which can change without a reboot.
mkdir -p /var/lib/llm
date -u +%FT%TZ >/var/lib/llm/first-boot
"""

# host.env is read by systemd (EnvironmentFile) and by bash: plain values only, no quoting.
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_./:@%+=,-]*$")
# Installed on every node: (file in userdata/); *.sh go to LLM_LIB_DIR, *.service to systemd.
HOST_FILES = ("host-bootstrap.sh", "vllm-run.sh", "llm-bootstrap.service", "llm-vllm.service")
# Added on ecs-cluster nodes (the Ray node under systemd; its settings come from ray-start.sh).
RAY_FILES = ("ray-run.sh", "llm-ray.service")
# The per-run scripts (issue 13): their Cloud Assistant commands are static and run the installed
# copy with the invocation's parameters (components/common/scripts.py render_runner,
# userdata/lib/params.sh). Installed in LLM_LIB_DIR, lib/*.sh in LLM_LIB_DIR/lib (so the scripts'
# `. "$(dirname ...)/lib/common.sh"` line works there), by the host-scripts run of the host-setup
# stage (userdata/install-scripts.sh): packed together with HOST_FILES, host setup's command
# would be 28.7 KB after Base64, over the 18 KB budget (and the 24 KB API limit).
RUNNER_LIBS = ("lib/common.sh", "lib/params.sh")
RUNNER_FILES = ("model-sync.sh", "serve.sh", *RUNNER_LIBS)
RAY_RUNNER_FILES = ("ray-start.sh",)
# Added with llm:observability (metrics: arms; logs: sls), units started with the bootstrap.
METRICS_FILES = ("dcgm-run.sh", "llm-dcgm.service")
LOGS_FILES = ("logtail-install.sh", "llm-logtail.service")
# Added when a load balancer fronts the groups (llm:replicas > 1 or TLS): the readiness responder
# its health check targets and the drain/rejoin steps serve.sh calls (rolling.sh).
ROLLING_RUNNER_FILES = ("rolling.sh", "ready.sh")
# Never allowed in host.env: it is readable by local users.
_HOST_ENV_FORBIDDEN = ("LLM_API_KEY",)


def render_user_data() -> str:
    return USER_DATA


def installed_text(name: str) -> str:
    """A host file as installed: scripts keep their shebang and lose their comment lines (the
    host-setup command must stay under its size budget); the commented source is userdata/."""
    if name.startswith("lib/"):
        return strip_comments(library_text(name))
    text = script_text(name)
    if not name.endswith(".sh"):
        return text
    shebang, _, body = text.partition("\n")
    return f"{shebang}\n# userdata/{name} of llm-inference, comments stripped\n{strip_comments(body)}"


def host_files(ray: bool, metrics: bool = False, logs: bool = False) -> dict[str, str]:
    """File name -> text of what host-setup.sh installs on a node."""
    extra = (METRICS_FILES if metrics else ()) + (LOGS_FILES if logs else ())
    return {name: installed_text(name) for name in HOST_FILES + (RAY_FILES if ray else ()) + extra}


def runner_digest(script: str) -> str:
    """sha256 of the installed script and the libraries it runs with, as params.sh's llm_run
    computes it on the host (`cat script lib/common.sh lib/params.sh | sha256sum`): names this
    release's scripts in the static content, so a changed script re-runs its phase once."""
    return hashlib.sha256("".join(installed_text(n) for n in (script, *RUNNER_LIBS)).encode()).hexdigest()


def runner_files(ray: bool, rolling: bool = False) -> dict[str, str]:
    """File name (relative to LLM_LIB_DIR) -> text of what install-scripts.sh installs."""
    names = RUNNER_FILES + (RAY_RUNNER_FILES if ray else ()) + (ROLLING_RUNNER_FILES if rolling else ())
    return {name: installed_text(name) for name in names}


def packed_runner_files(ray: bool, rolling: bool = False) -> tuple[str, str]:
    files = runner_files(ray, rolling)
    return pack_files(files), files_hash(files)


def files_hash(files: Mapping[str, str]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return h.hexdigest()[:16]


def host_env_text(env: Mapping[str, str | int]) -> str:
    """host.env, one KEY=value per line (EnvironmentFile of the units); plain, non-secret values."""
    checked = check_env(env)
    for key in _HOST_ENV_FORBIDDEN:
        if key in checked:
            raise ValueError(f"env {key} must never be in host.env (it is readable on the host)")
    for key, value in checked.items():
        if not _PLAIN_VALUE.match(value):
            raise ValueError(f"env {key}: host.env values must match {_PLAIN_VALUE.pattern} (got {value!r})")
    return "\n".join(f"{k}={v}" for k, v in checked.items())


def packed_host_files(ray: bool, metrics: bool = False, logs: bool = False) -> tuple[str, str]:
    """(Base64 tar.gz, hash) of the host files, reproducible: same files, same text."""
    files = host_files(ray, metrics, logs)
    return pack_files(files), files_hash(files)
