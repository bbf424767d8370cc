"""Settings of the `acs` mode (`llm:acs`): cluster network, GPU pods, OSS access, LWS, jump host.

The `check` function derives what the ACS components consume and reports problems the same way
the rest of the settings do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from components.settings_base import Problem, _Model

if TYPE_CHECKING:
    from components.catalog import ModelSpec


class LwsSettings(_Model):
    chart_url: str = Field(
        "https://aliacs-app-catalog.oss-cn-hangzhou.aliyuncs.com/charts-incubator/lws-0.1.0.tgz",
        description="LeaderWorkerSet Helm chart (Alibaba's mirror)",
    )
    image_repository: str | None = Field(
        None, description="LWS controller image (default: registry-<region>-vpc.ack.aliyuncs.com/acs/lws)"
    )
    controller_version: str = Field("v0.5.0", description="controller version the chart deploys (CRD checked)")


class AcsSettings(_Model):
    zone_ids: list[str] = Field(default_factory=list, description="two zones for node and pod vSwitches")
    service_cidr: str = Field("10.0.0.0/16", description="Kubernetes service CIDR (must not overlap the VPC)")
    api_access: Literal["public", "private"] = Field("public", description="API server endpoint in the kubeconfig")
    gpu_model_series: str = Field("GU8TF", description="ACS GPU model series (pod label)")
    gpus_per_pod: int | None = Field(None, ge=1, description="default: what the model needs")
    oss_auth: Literal["rrsa", "secret"] = Field("rrsa", description="how the OSS volume authenticates")
    group_size: int = Field(2, ge=2, le=8, description="pods per LeaderWorkerSet group (671B models)")
    lws: LwsSettings = Field(default_factory=LwsSettings, description="LeaderWorkerSet controller")  # type: ignore[arg-type]
    jump_host_instance_type: str = Field("ecs.g7.large", description="jump host ECS type")


@dataclass(frozen=True)
class AcsResolved:
    """What the ACS components consume (filled in by `check`)."""

    settings: AcsSettings
    details: dict[str, Any]


def check(acs: AcsSettings, model: ModelSpec, max_model_len: int, problems: list[Problem]) -> AcsResolved | None:
    if len(acs.zone_ids) != 2:
        problems.append(Problem("acs.zoneIds", "two zones are needed (nodes and pods)", acs.zone_ids, "two zone IDs"))
        return None
    return AcsResolved(settings=acs, details={"maxModelLen": max_model_len, "model": model.key})
