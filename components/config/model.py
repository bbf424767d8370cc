"""Stack settings: the one typed model of the `llm:` config namespace (pydantic).

Structure only: types, ranges, allowed values and single-key rules. Rules that span keys are in
`rules.py` / `rules_acs.py`; turning pydantic's errors into problem lines is `parse.py`'s.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from components.config.base import _Model  # noqa: E402
from components.sizing.cidr import private_ipv4

MODES = ("ecs-single", "ecs-cluster", "acs")
MAX_NODES = 16
MAX_REPLICAS = 8
# NCCL/Gloo over eRDMA between ECS nodes: the seed's values (FACTS.md); override key by key.
NCCL_DEFAULTS = {
    "NCCL_IB_DISABLE": "0",
    "NCCL_NET_GDR_LEVEL": "5",
    "NCCL_P2P_LEVEL": "5",
    "NCCL_IB_GID_INDEX": "1",
    "NCCL_SOCKET_IFNAME": "eth0",
    "GLOO_SOCKET_IFNAME": "eth0",
}
NCCL_KEY = re.compile(r"^(NCCL|GLOO)_[A-Z0-9_]+$")
PREPAID_PERIODS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 24, 36, 48, 60)
# Registries reachable without internet egress: Alibaba's VPC endpoints.
IN_VPC_REGISTRY = re.compile(r"^[a-z0-9.-]*-vpc\.[a-z0-9.-]+\.aliyuncs\.com/")
OSS_URI = re.compile(r"^oss://(?P<bucket>[a-z0-9][a-z0-9-]{1,61}[a-z0-9])/(?P<prefix>(?:[^/\s]+/)*)$")
API_KEY_CHARS = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
# The vLLM image: Alibaba's EGS registry, as in the seed (which used 0.7.2 then pip-installed
# 0.8.2 at every start), pinned. The exact tag is unverified offline: override `llm:vllm.image`
# with a tag listed in your region's egs-registry. {region} is filled in.
DEFAULT_VLLM_IMAGE = "egs-registry.{region}.cr.aliyuncs.com/egs/vllm:0.8.5-pytorch2.6-cu124-20250429"

# Cloud contracts: what Alibaba Cloud and the tools accept. Sources, one row each, with the test
# that pins it: docs/cloud-contracts.md.
# The image reference grammar of distribution/reference (regexp.go @00a09fa3): [domain[:port]/]
# path-components[:tag][@digest]; Go's \w is ASCII. Digests are narrowed to sha256:<64 hex>.
_REF_PATH = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_REF_HOST_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_REF_DOMAIN = rf"(?:{_REF_HOST_PART}(?:\.{_REF_HOST_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
IMAGE_REFERENCE = re.compile(
    rf"^(?P<name>(?:{_REF_DOMAIN}/)?{_REF_PATH}(?:/{_REF_PATH})*)(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?"
    r"(?:@sha256:[a-f0-9]{64})?$"
)
IMAGE_NAME_MAX = 255  # distribution/reference reference.go NameTotalLengthMax
# Served model names and labels become file names, URL path segments and `model` in requests.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# CreateKeyPair/ImportKeyPair KeyPairName (ECS API; the installed SDK's doc comments).
KEY_PAIR_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9:_-]{1,127}$")
# ECS TagResources / RunInstances Tag.N (SDK doc comments = API reference).
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 128
TAGS_MAX = 20
TAG_RESERVED_PREFIXES = ("aliyun", "acs:")
# Tags the stack adds to every resource (components/common/naming.py merge_tags).
STACK_TAG_KEYS = ("managed-by", "llm-stack")
# Cloud Assistant parses `{{name}}` in command content as a parameter (enable_parameter), and our
# env block is one variable per line: values that reach a host must not carry these.
HOST_UNSAFE = ("{{", "}}", "\n", "\r")
# Cloud Assistant command timeout, seconds. Minimum: InvokeCommand Timeout "must be at least 10
# seconds" (SDK doc comment). Maximum: no primary source found (unverified): 24 hours is applied.
COMMAND_TIMEOUT_MIN_S = 10
COMMAND_TIMEOUT_MAX_S = 86400
# One invocation's instance IDs: 50 (Terraform docs for alicloud_ecs_invocation); 100 (API).
MAX_INVOCATION_INSTANCES = 50
# Model disk (CreateDisk Size, SDK doc comment): cloud_essd by performance level from these
# minimums; cloud_auto 1+. Maximum 65,536 GiB there, 32,768 in older ECS docs: the lower is kept.
ESSD_MIN_GIB = {"PL0": 1, "PL1": 20, "PL2": 461, "PL3": 1261}
DISK_MAX_GIB = 32768
# EIP bandwidth for PayAsYouGo + PayByBandwidth (pulumi_alicloud EipAddress docstring): 1-500.
EIP_BANDWIDTH_MAX_MBPS = 500


class NetworkSettings(_Model):
    vpc_cidr: str = Field("192.168.0.0/16", description="CIDR of the new VPC")
    vswitch_cidr: str | None = Field(None, description="CIDR of the new vSwitch (default: the first /24 of the VPC)")
    vpc_id: str | None = Field(None, description="use this existing VPC instead of creating one")
    vswitch_id: str | None = Field(None, description="existing vSwitch (with `vpcId`)")
    existing_vpc_cidr: str | None = Field(
        None, description="CIDR of the existing VPC (with `vpcId`), for the port 8000 rule"
    )
    egress: Literal["nat", "none"] = Field("nat", description="`nat`: NAT gateway + SNAT; `none`: only in-VPC sources")

    @field_validator("vpc_cidr", "vswitch_cidr", "existing_vpc_cidr")
    @classmethod
    def _cidr(cls, v: str | None) -> str | None:
        return v if v is None else private_ipv4(v)

    @model_validator(mode="after")
    def _existing(self) -> NetworkSettings:
        if bool(self.vpc_id) != bool(self.vswitch_id):
            raise ValueError("`vpcId` and `vswitchId` go together")
        if self.vpc_id and not self.existing_vpc_cidr:
            raise ValueError("with `vpcId`, set `existingVpcCidr` (the VPC's CIDR)")
        return self


class ModelSourceSettings(_Model):
    uri: str = Field(description="`oss://bucket/prefix/` holding the model files")
    revision: str = Field("", description="revision label; a new one downloads into a new directory")
    region: str | None = Field(None, description="the bucket's region (default: `llm:region`)")

    @field_validator("uri")
    @classmethod
    def _uri(cls, v: str) -> str:
        if not OSS_URI.match(v):
            raise ValueError("must look like oss://bucket/prefix/ (bucket 3-63 of a-z 0-9 -, ending in /)")
        return v

    @field_validator("revision")
    @classmethod
    def _rev(cls, v: str) -> str:
        if v and not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", v):
            raise ValueError("letters, digits, . _ - only, at most 64")
        return v

    @property
    def bucket(self) -> str:
        m = OSS_URI.match(self.uri)
        assert m
        return m["bucket"]

    @property
    def prefix(self) -> str:
        m = OSS_URI.match(self.uri)
        assert m
        return m["prefix"]


class CustomModelSettings(_Model):
    """A model outside the catalog. Sizes are the user's word; the sync check uses them."""

    name: str = Field(description="label, used in names and the plan")
    weight_bytes: int = Field(gt=0, description="total bytes of the *.safetensors files")
    attention_heads: int = Field(gt=0, description="num_attention_heads (TP must divide it)")
    kv_bytes_per_token: int = Field(gt=0, description="KV cache bytes per token, all layers")
    max_model_len: int = Field(gt=0, description="the model's own limit")
    served_model_name: str = Field(description="the `model` clients send")
    reasoning_parser: str | None = Field(None, description="vLLM reasoning parser, if any")
    shards: int | None = Field(None, gt=0, description="count of *.safetensors files (checked)")


class BillingSettings(_Model):
    charge_type: Literal["PostPaid", "PrePaid"] = Field("PostPaid", description="instance billing")
    period: int | None = Field(None, description="PrePaid months: 1-9, 12, 24, 36, 48, 60")
    spot: bool = Field(False, description="spot instance (PostPaid only)")


class VllmSettings(_Model):
    image: str | None = Field(None, description="vLLM image, pinned (default: EGS vLLM 0.8.5 in-region)")
    served_model_name: str | None = Field(None, description="default: the catalog's name")
    max_model_len: int | None = Field(None, gt=0, description="default: the catalog's default")
    gpu_memory_utilization: float = Field(0.9, description="share of GPU memory vLLM may use, (0, 1]")
    pipeline_parallel_size: int | None = Field(None, gt=0, description="ecs-cluster: default the node count")
    tensor_parallel_size: int | None = Field(
        None, gt=0, description="default: the largest divisor of the attention heads <= GPUs"
    )
    enable_chunked_prefill: bool = Field(True, description="`--enable-chunked-prefill`")
    reasoning_parser: str | None = Field(None, description="default: the catalog's parser; `none` turns it off")
    extra_args: list[str] = Field(default_factory=list, description="more `vllm serve` arguments")
    startup_timeout_s: int = Field(3600, gt=0, description="model load + first answer bound")

    @field_validator("gpu_memory_utilization")
    @classmethod
    def _util(cls, v: float) -> float:
        if not 0 < v <= 1:
            raise ValueError("must be in (0, 1]")
        return v

    @field_validator("image")
    @classmethod
    def _image(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if "@sha256:" not in v and (":" not in v.rsplit("/", 1)[-1] or v.endswith(":latest")):
            raise ValueError("pin a tag or digest (no `latest`)")
        if re.sub(r"\{region\}", "", v).count("{") or re.sub(r"\{region\}", "", v).count("}"):
            # `{region}` is filled in (str.format); any other brace would break that, or reach
            # Cloud Assistant as a parameter.
            raise ValueError("only `{region}` may appear in braces")
        return v

    @field_validator("extra_args")
    @classmethod
    def _extra(cls, v: list[str]) -> list[str]:
        for a in v:
            if "\n" in a or "\0" in a:
                raise ValueError("arguments must be single-line")
            if a.split("=", 1)[0] in ("--api-key", "--port", "--host"):
                raise ValueError(f"{a.split('=', 1)[0]} is managed by the stack")
        return v


class TlsSettings(_Model):
    certificate_id: str | None = Field(
        None, pattern=r"^[0-9]{1,20}$", description="Certificate Management Service ID (digits): HTTPS on 443"
    )


class PublicAccessSettings(_Model):
    enabled: bool = Field(False, description="bind an EIP; plain HTTP with a bearer key (README, Security)")
    allowed_cidrs: list[str] = Field(default_factory=list, description="who may reach port 8000")
    bandwidth_mbps: int = Field(10, ge=1, le=EIP_BANDWIDTH_MAX_MBPS, description="EIP bandwidth, Mbit/s")
    tls: TlsSettings = Field(default_factory=TlsSettings, description="HTTPS at the load balancer")  # type: ignore[arg-type]


class SshSettings(_Model):
    allowed_cidrs: list[str] = Field(default_factory=list, description="SSH is closed when empty")
    key_pair_name: str | None = Field(None, description="existing ECS key pair")


class ModelDiskSettings(_Model):
    size_gib: int | None = Field(None, ge=20, le=DISK_MAX_GIB, description="default: from the model size")
    category: Literal["cloud_auto", "cloud_essd"] = Field(
        "cloud_auto", description="cloud_auto bursts to ~4 GB/s; cloud_essd uses `performanceLevel`"
    )
    performance_level: Literal["PL0", "PL1", "PL2", "PL3"] = Field("PL1", description="for cloud_essd only")
    bursting_enabled: bool = Field(True, description="for cloud_auto only")


class ClusterSettings(_Model):
    nodes: int = Field(2, ge=2, le=MAX_NODES, description="ecs-cluster: GPU nodes (2-16)")
    nccl_env: dict[str, str] = Field(
        default_factory=dict, description="ecs-cluster: NCCL_/GLOO_ variables over the seed's defaults"
    )
    allow_single_node_fit: bool = Field(
        False, description="ecs-cluster: allow a model that would fit on one node (else use ecs-single)"
    )


class LwsSettings(_Model):
    chart_url: str = Field(
        "https://aliacs-app-catalog.oss-cn-hangzhou.aliyuncs.com/charts-incubator/lws-0.1.0.tgz",
        description="LeaderWorkerSet Helm chart (Alibaba's mirror)",
    )
    chart_version: str = Field("0.1.0", description="chart version (pinned)")
    image_repository: str | None = Field(
        None, description="LWS controller image (default: registry-<region>-vpc.ack.aliyuncs.com/acs/lws)"
    )
    controller_version: str = Field("v0.5.0", description="controller version the chart deploys (CRD checked)")


class AcsSettings(_Model):
    zone_ids: list[str] = Field(default_factory=list, description="two zones for node and pod vSwitches")
    node_vswitch_cidrs: list[str] | None = Field(None, description="two node vSwitch CIDRs (default: derived)")
    pod_vswitch_cidrs: list[str] | None = Field(None, description="two pod vSwitch CIDRs (default: derived)")
    service_cidr: str = Field("10.0.0.0/16", description="Kubernetes service CIDR (must not overlap the VPC)")
    kubernetes_version: str = Field(
        "1.30.1-aliyunacs.1",
        description="pinned ACS cluster version, `<k8s>-aliyunacs.<n>` (ACS release notes); which versions your "
        "region offers now is unverified offline: list them with DescribeKubernetesVersionMetadata (Profile Acs)",
    )
    api_access: Literal["public", "private"] = Field("public", description="API server endpoint in the kubeconfig")
    credential_minutes: int = Field(
        4320, ge=15, le=4320, description="lifetime of the kubeconfig Pulumi fetches (destroy needs a live one)"
    )
    gpu_model_series: str = Field("GU8TF", description="ACS GPU model series (pod label)")
    compute_class: Literal["gpu", "gpu-hpn"] = Field("gpu", description="pod label compute-class")
    compute_qos: Literal["default", "best-effort"] = Field("default", description="pod label compute-qos")
    gpus_per_pod: int | None = Field(None, ge=1, description="default: what the model needs")
    cpu: int | None = Field(None, ge=1, description="vCPU per pod (default: by GPU count)")
    memory_gib: int | None = Field(None, ge=1, description="GiB per pod (default: by GPU count)")
    shm_gib: int | None = Field(None, ge=1, description="/dev/shm size (default: 4 GiB per GPU, at least 8)")
    group_size: int | None = Field(
        None, ge=1, le=8, description="pods per model copy; > 1 uses a LeaderWorkerSet (default: what fits)"
    )
    oss_auth: Literal["rrsa", "secret"] = Field("rrsa", description="how the OSS volume authenticates")
    oss_rrsa_service_account: str = Field(
        "ack-csi-fuse/csi-fuse-ossfs",
        description="namespace/name of the service account whose token the OSS mount uses, the only subject the "
        "OSS role trusts (CSI driver default `csi-fuse-ossfs`; its namespace on ACS is unverified)",
    )
    oss_fuse_type: Literal["ossfs", "ossfs2"] = Field(
        "ossfs",
        description="FUSE client of the OSS volume; `ossfs2` (read-only AI workloads) needs CSI >= 1.33.1 (ACK "
        "docs), which ACS's CSI for the pinned version is not documented to be (unverified)",
    )
    dns_addon: str = Field(
        "managed-coredns",
        description="cluster DNS add-on installed at creation (create-only; LWS and the readiness Job resolve "
        "Service names); the name is the provider docs' ACK name, unverified for ACS; empty: none",
    )
    storage_addon: str = Field(
        "managed-csiprovisioner",
        description="storage add-on installed at creation (create-only; ACS docs name it); empty: none",
    )
    readiness_image: str | None = Field(
        None,
        description="image of the readiness Job, pinned, with python3 (default: the vLLM image: no small in-region "
        "image has a primary source; docs/security.md)",
    )
    read_only_root_filesystem: bool = Field(
        True, description="serving pods' root filesystem read-only, caches on emptyDirs (docs/security.md)"
    )
    seccomp_runtime_default: bool = Field(
        True, description="seccompProfile RuntimeDefault on every pod (unverified on ACS sandboxes; docs/security.md)"
    )
    lws: LwsSettings = Field(default_factory=LwsSettings, description="LeaderWorkerSet controller")  # type: ignore[arg-type]
    lws_max_unavailable: int = Field(1, ge=0, le=MAX_REPLICAS, description="LWS rollout: groups down at once")
    lws_max_surge: int = Field(0, ge=0, le=MAX_REPLICAS, description="LWS rollout: extra groups during it")
    jump_host_instance_type: str = Field("ecs.g7.large", description="jump host ECS type")

    @field_validator("service_cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        return private_ipv4(v)

    @field_validator("dns_addon", "storage_addon")
    @classmethod
    def _addon(cls, v: str) -> str:
        if v and not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", v):
            raise ValueError("an add-on name: a-z 0-9 - (or empty for none)")
        return v


# ECS host and disk settings (their own module: model_host.py).
from components.config.model_host import EncryptionSettings, HostSettings  # noqa: E402

# llm:observability (its own module: model_observability.py).
from components.config.model_observability import (  # noqa: E402
    DCGM_PORT,
    DEFAULT_DCGM_IMAGE,
    DEFAULT_LOGTAIL_INSTALLER_URL,
    LOG_RETENTION_MAX_DAYS,
    AlarmSettings,
    ObservabilitySettings,
)

__all__ = [
    "EncryptionSettings", "HostSettings",
    "DCGM_PORT", "DEFAULT_DCGM_IMAGE", "DEFAULT_LOGTAIL_INSTALLER_URL", "LOG_RETENTION_MAX_DAYS",
    "AlarmSettings", "ObservabilitySettings",
]  # fmt: skip


class Settings(_Model):
    mode: Literal["ecs-single", "ecs-cluster", "acs"] = Field("ecs-single", description="shape")
    region: str = Field(description="Alibaba Cloud region, e.g. cn-hangzhou")
    zone_id: str = Field(description="zone of the GPU instance, e.g. cn-hangzhou-i")
    network: NetworkSettings = Field(default_factory=NetworkSettings, description="VPC and egress")  # type: ignore[arg-type]
    model: str | None = Field(None, description="catalog key (see README)")
    custom_model: CustomModelSettings | None = Field(None, description="a model outside the catalog")
    model_source: ModelSourceSettings = Field(description="where the weights are (string or object)")
    instance_type: str | None = Field(None, description="GPU ECS instance type (ecs modes: required)")
    image_id: str | None = Field(None, description="OS image (default: latest Alibaba Cloud Linux 3)")
    billing: BillingSettings = Field(default_factory=BillingSettings, description="how the instance is paid")  # type: ignore[arg-type]
    vllm: VllmSettings = Field(default_factory=VllmSettings, description="serving settings (change in place)")  # type: ignore[arg-type]
    api_key_version: int = Field(1, ge=1, description="bump to rotate the API key")
    replicas: int = Field(1, ge=1, le=MAX_REPLICAS, description="serving groups behind one load balancer")
    public_access: PublicAccessSettings = Field(
        default_factory=PublicAccessSettings,  # type: ignore[arg-type]
        description="optional public endpoint",
    )
    ssh: SshSettings = Field(default_factory=SshSettings, description="closed by default")  # type: ignore[arg-type]
    model_disk: ModelDiskSettings = Field(default_factory=ModelDiskSettings, description="disk holding the weights")  # type: ignore[arg-type]
    download_timeout_s: int | None = Field(
        None, gt=0, description="model download bound (default: from size at 100 MB/s, x2)"
    )
    cluster: ClusterSettings = Field(default_factory=ClusterSettings, description="ecs-cluster only")  # type: ignore[arg-type]
    host: HostSettings = Field(default_factory=HostSettings, description="ECS host setup (Fabric Manager, eRDMA)")  # type: ignore[arg-type]
    acs: AcsSettings = Field(default_factory=AcsSettings, description="acs only")  # type: ignore[arg-type]
    encryption: EncryptionSettings = Field(
        default_factory=EncryptionSettings,  # type: ignore[arg-type]
        description="disk encryption at rest (on by default)",
    )
    observability: ObservabilitySettings = Field(
        default_factory=ObservabilitySettings,  # type: ignore[arg-type]
        description="metrics, logs and alarms (all off by default)",
    )
    tags: dict[str, str] = Field(default_factory=dict, description="added to every resource that takes tags")

    @field_validator("model_source", mode="before")
    @classmethod
    def _source_str(cls, v: Any) -> Any:
        return {"uri": v} if isinstance(v, str) else v

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z]{2}-[a-z0-9-]+", v):
            raise ValueError("must be a region ID like cn-hangzhou")
        return v


# Keys read outside the model (secrets).
SECRET_KEYS = {
    "apiKey": "API key clients send as a bearer token (generated when unset)",
    "ossAccessKeyId": "acs with `acs.ossAuth: secret` only: AccessKey ID that reads the model prefix",
    "ossAccessKeySecret": "acs with `acs.ossAuth: secret` only: its AccessKey secret",
}
