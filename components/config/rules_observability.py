"""Rules of llm:observability that span keys. Pure functions (see rules.py)."""

from __future__ import annotations

from components.config.model import IN_VPC_REGISTRY, Settings
from components.config.problems import Problem


def check(s: Settings) -> list[Problem]:
    o = s.observability
    out: list[Problem] = []
    if o.alarms is not None and o.metrics != "arms":
        out.append(
            Problem(
                "observability.alarms",
                "alarms are Prometheus alert rules: they need `observability.metrics: arms`",
                o.metrics,
                "arms",
            )
        )
    ecs = s.mode != "acs"
    if ecs and o.metrics == "arms" and s.network.egress == "none" and not IN_VPC_REGISTRY.match(o.dcgm_image):
        out.append(
            Problem(
                "observability.dcgmImage",
                "with `network.egress: none` the DCGM exporter image must come from an in-VPC registry",
                o.dcgm_image,
                "a `*-vpc.<region>.*aliyuncs.com/` registry",
            )
        )
    url = o.logtail_installer_url.format(region=s.region)
    if ecs and o.logs == "sls" and s.network.egress == "none" and "-internal.aliyuncs.com/" not in url:
        out.append(
            Problem(
                "observability.logtailInstallerUrl",
                "with `network.egress: none` the Logtail installer must come from an internal endpoint",
                url,
                "an `oss-<region>-internal.aliyuncs.com` URL",
            )
        )
    return out
