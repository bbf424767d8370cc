"""What llm:observability adds to an ECS node's host setup: host.env lines and host files.

Pure functions of the settings; with `metrics: none` and `logs: none` they add nothing, so the
host-setup command of a stack without observability is byte-for-byte what it was.
"""

from __future__ import annotations

from components.config.model import DCGM_PORT, Settings


def host_env(s: Settings) -> tuple[tuple[str, str], ...]:
    o = s.observability
    env: list[tuple[str, str]] = []
    if o.metrics == "arms":
        env += [("LLM_DCGM_IMAGE", o.dcgm_image), ("LLM_DCGM_PORT", str(DCGM_PORT))]
    if o.logs == "sls":
        env += [
            ("LLM_REGION", s.region),
            ("LLM_LOGTAIL_INSTALLER_URL", o.logtail_installer_url.format(region=s.region)),
        ]
    return tuple(env)


def host_files(env: tuple[tuple[str, str], ...]) -> tuple[bool, bool, str]:
    """(metrics files?, logs files?, " unit ..." to enable) from the host.env lines."""
    keys = {k for k, _ in env}
    metrics, logs = "LLM_DCGM_IMAGE" in keys, "LLM_LOGTAIL_INSTALLER_URL" in keys
    units = (" llm-dcgm.service" if metrics else "") + (" llm-logtail.service" if logs else "")
    return metrics, logs, units
