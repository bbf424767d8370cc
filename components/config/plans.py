"""What the components consume: the settings plus everything derived from them, per mode.

`Common` holds what every shape uses; `EcsPlan` and `AcsPlan` add only what is meaningful in
their mode, so no field is a placeholder and no component needs to assert a mode.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.config.model import Settings
from components.sizing.acs_pods import GpuSeries
from components.sizing.catalog import InstanceSpec, ModelSpec


@dataclass(frozen=True)
class Common:
    settings: Settings
    model: ModelSpec
    max_model_len: int
    served_model_name: str
    reasoning_parser: str | None
    vllm_image: str
    disk_size_gib: int  # ECS: the model disk; ACS: the OSS volume's declared size
    vpc_cidr: str
    tensor_parallel: int  # ECS: inside a node; ACS: GPUs per pod
    pipeline_parallel: int  # ECS: nodes; ACS: pods per group

    @property
    def public(self) -> bool:
        return self.settings.public_access.enabled

    @property
    def replicas(self) -> int:
        """Identical serving groups (llm:replicas): nodes, Ray groups, pods or LWS groups."""
        return self.settings.replicas

    @property
    def tls_certificate_id(self) -> str | None:
        return self.settings.public_access.tls.certificate_id


@dataclass(frozen=True)
class EcsPlan(Common):
    instance: InstanceSpec
    tensor_parallel_derived: bool
    nodes: int  # 1 in ecs-single
    vswitch_cidr: str | None  # None with an existing vSwitch
    download_timeout_s: int
    nccl_env: dict[str, str]  # ecs-cluster only; empty on one node

    @property
    def cluster(self) -> bool:
        return self.nodes > 1

    @property
    def load_balanced(self) -> bool:
        """One endpoint in front of the groups: with replicas > 1 or TLS (else the EIP path)."""
        return self.replicas > 1 or self.tls_certificate_id is not None


@dataclass(frozen=True)
class AcsPlan(Common):
    zone_ids: tuple[str, str]
    node_cidrs: tuple[str, str]
    pod_cidrs: tuple[str, str]
    series: GpuSeries
    gpus_per_pod: int
    cpu: int
    memory_gib: int
    shm_gib: int
    group_size: int
    k8s_minor: str  # "1.33"
    lws_image_repository: str
    oss_endpoint: str

    @property
    def lws(self) -> bool:
        return self.group_size > 1


Plan = EcsPlan | AcsPlan
