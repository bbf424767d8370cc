"""Stack settings: the one typed model of the `llm:` config namespace.

Parsing happens once, before any resource is declared. Structural problems (unknown keys, wrong
types, values out of range) come from pydantic; rules that span several keys (sizing, CIDRs,
parallelism) from `cross_checks`. Every problem is reported at once, one line each, as
`llm:<key>: <what is wrong> (got X; allowed Y)`.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from components import acs_settings, catalog
from components.acs_settings import AcsSettings
from components.settings_base import NAMESPACE, ConfigError, Problem, _Model

__all__ = ["NAMESPACE", "ConfigError", "Problem", "Resolved", "Settings", "resolve"]

MODES = ("ecs-single", "ecs-cluster", "acs")
BUILT_MODES = ("ecs-single", "ecs-cluster", "acs")
MAX_NODES = 16
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
        if v is None:
            return v
        try:
            net = ipaddress.ip_network(v, strict=True)
        except ValueError as e:
            raise ValueError(f"not a valid IPv4 CIDR ({e})") from None
        if net.version != 4 or not net.is_private:
            raise ValueError("must be a private IPv4 CIDR (10/8, 172.16/12, 192.168/16)")
        return v

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


class PublicAccessSettings(_Model):
    enabled: bool = Field(False, description="bind an EIP; plain HTTP with a bearer key (README, Security)")
    allowed_cidrs: list[str] = Field(default_factory=list, description="who may reach port 8000")
    bandwidth_mbps: int = Field(10, ge=1, le=1000, description="EIP bandwidth, Mbit/s")


class SshSettings(_Model):
    allowed_cidrs: list[str] = Field(default_factory=list, description="SSH is closed when empty")
    key_pair_name: str | None = Field(None, description="existing ECS key pair")


class ModelDiskSettings(_Model):
    size_gib: int | None = Field(None, ge=20, le=32768, description="default: from the model size")
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
    acs: AcsSettings = Field(default_factory=AcsSettings, description="acs only")  # type: ignore[arg-type]
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


def _camel_path(loc: tuple) -> str:
    return ".".join(to_camel(p) if isinstance(p, str) else str(p) for p in loc)


def _allowed_for(model: type[BaseModel], loc: tuple) -> str | None:
    """Names the allowed keys of the block an unknown key was found in."""
    cls: Any = model
    for part in loc[:-1]:
        if not isinstance(part, str):
            continue
        field = cls.model_fields.get(part) if hasattr(cls, "model_fields") else None
        if field is None:
            return None
        ann = field.annotation
        for cand in getattr(ann, "__args__", (ann,)):
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                cls = cand
                break
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        return ", ".join(sorted(to_camel(n) for n in cls.model_fields))
    return None


def _problems_from(err: ValidationError) -> list[Problem]:
    out = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if p not in ("function-after",))
        key = _camel_path(loc) if loc else "(top)"
        kind = e["type"]
        if kind == "extra_forbidden":
            out.append(Problem(key, "unknown key", e.get("input"), _allowed_for(Settings, loc)))
        elif kind == "missing":
            out.append(Problem(key, "required key is missing"))
        elif kind == "literal_error":
            out.append(Problem(key, "not an allowed value", e.get("input"), e["ctx"]["expected"]))
        else:
            msg = e["msg"].removeprefix("Value error, ")
            out.append(Problem(key, msg, e.get("input")))
    return out


def _drop(data: dict[str, Any], loc: tuple) -> str | None:
    """Remove the innermost mapping key on `loc` from `data` (in place); return its camel path."""
    node: Any = data
    path: list[str] = []
    target: tuple[dict, str] | None = None
    for part in loc:
        if not isinstance(node, dict):
            break
        key = next((k for k in (part, to_camel(str(part))) if k in node), None)
        if key is None:
            break
        target = (node, key)
        path.append(key)
        node = node[key]
    if target is None:
        return None
    del target[0][target[1]]
    return ".".join(path)


def parse_raw(raw: Mapping[str, Any]) -> tuple[Settings | None, list[Problem]]:
    """Structural parse of the `llm:` keys (namespace stripped, values already JSON-decoded).

    On errors, the offending keys (the innermost ones, so their valid siblings stay) are dropped
    and the rest parsed again, so that the cross-key rules still run on what is valid and every
    problem is reported in one pass.
    """
    data = copy.deepcopy({k: v for k, v in raw.items() if k not in SECRET_KEYS})
    problems: list[Problem] = []
    dropped: set[str] = set()
    while True:
        try:
            return Settings.model_validate(data), problems
        except ValidationError as e:
            # A key dropped for being invalid is then "missing": that is not a second problem.
            problems += [p for p in _problems_from(e) if p.key not in dropped]
            removed = {path for err in e.errors() if (path := _drop(data, tuple(err["loc"])))}
            if not removed:
                return None, problems
            dropped |= removed


# ---------------------------------------------------------------------------------------------
# Derived settings and cross-key rules


@dataclass(frozen=True)
class Resolved:
    """Settings plus everything derived from them (what the components consume)."""

    settings: Settings
    model: catalog.ModelSpec
    instance: catalog.InstanceSpec | None  # None in acs mode
    tensor_parallel: int
    tensor_parallel_derived: bool
    max_model_len: int
    served_model_name: str
    reasoning_parser: str | None
    vllm_image: str
    disk_size_gib: int
    download_timeout_s: int
    vpc_cidr: str
    vswitch_cidr: str
    nodes: int = 1
    pipeline_parallel: int = 1
    nccl_env: dict[str, str] | None = None
    acs: acs_settings.AcsResolved | None = None

    @property
    def public(self) -> bool:
        return self.settings.public_access.enabled


def _model_spec(s: Settings, problems: list[Problem]) -> catalog.ModelSpec | None:
    if s.custom_model and s.model:
        problems.append(Problem("model", "set either `model` or `customModel`, not both", s.model))
        return None
    if s.custom_model:
        c = s.custom_model
        return catalog.ModelSpec(
            key=c.name, hf_repo=c.name, params_b=0, dtype="custom", weight_bytes=c.weight_bytes,
            attention_heads=c.attention_heads, kv_bytes_per_token=c.kv_bytes_per_token,
            max_model_len=c.max_model_len, default_max_model_len=min(c.max_model_len, 32768),
            served_model_name=c.served_model_name, reasoning_parser=c.reasoning_parser,
            shards=c.shards, exact_bytes=True,
        )  # fmt: skip
    if not s.model:
        problems.append(Problem("model", "required: a catalog key or `customModel`", None, ", ".join(catalog.MODELS)))
        return None
    spec = catalog.MODELS.get(s.model)
    if spec is None:
        problems.append(Problem("model", "unknown model", s.model, ", ".join(catalog.MODELS)))
    return spec


def _check_cidrs(s: Settings, vswitch_cidr: str | None, problems: list[Problem]) -> None:
    net = s.network
    if net.vpc_id:
        return
    vpc = ipaddress.ip_network(net.vpc_cidr)
    if vswitch_cidr:
        vsw = ipaddress.ip_network(vswitch_cidr)
        if not vsw.subnet_of(vpc):  # type: ignore[arg-type]
            problems.append(
                Problem("network.vswitchCidr", "must lie inside `network.vpcCidr`", vswitch_cidr, f"a subnet of {vpc}")
            )
        elif not 16 <= vsw.prefixlen <= 29:
            problems.append(Problem("network.vswitchCidr", "prefix length out of range", vswitch_cidr, "/16 to /29"))
    if not 8 <= vpc.prefixlen <= 24:
        problems.append(Problem("network.vpcCidr", "prefix length out of range", net.vpc_cidr, "/8 to /24"))


def _check_allowlist(key: str, cidrs: list[str], problems: list[Problem]) -> None:
    nets = []
    for i, c in enumerate(cidrs):
        try:
            n = ipaddress.ip_network(c, strict=True)
        except ValueError:
            problems.append(Problem(f"{key}[{i}]", "not a valid CIDR", c, "e.g. 203.0.113.0/24"))
            continue
        if n.prefixlen == 0:
            problems.append(Problem(f"{key}[{i}]", "opens the port to the whole internet", c, "a narrower range"))
        nets.append(n)
    for i, a in enumerate(nets):
        for b in nets[i + 1 :]:
            if a.version == b.version and a.overlaps(b):
                problems.append(Problem(key, "CIDRs overlap", f"{a} and {b}", "disjoint ranges"))


def _check_common(s: Settings, problems: list[Problem]) -> tuple[str, str | None]:
    """Rules of every mode: network, allowlists, model source, image; returns (image, vSwitch CIDR)."""
    vswitch_cidr = s.network.vswitch_cidr
    if not s.network.vpc_id and vswitch_cidr is None:
        vswitch_cidr = str(next(ipaddress.ip_network(s.network.vpc_cidr).subnets(new_prefix=24)))  # type: ignore[arg-type]
    _check_cidrs(s, vswitch_cidr, problems)
    pa = s.public_access
    if pa.enabled and not pa.allowed_cidrs:
        problems.append(
            Problem(
                "publicAccess.allowedCidrs",
                "required when public access is enabled",
                [],
                "a list of CIDRs, e.g. [203.0.113.0/24]",
            )
        )
    _check_allowlist("publicAccess.allowedCidrs", pa.allowed_cidrs, problems)
    _check_allowlist("ssh.allowedCidrs", s.ssh.allowed_cidrs, problems)

    src_region = s.model_source.region or s.region
    if src_region != s.region:
        problems.append(
            Problem(
                "modelSource.region",
                "the bucket must be in the stack's region (internal endpoint, no cross-region traffic)",
                src_region,
                s.region,
            )
        )

    image = (s.vllm.image or DEFAULT_VLLM_IMAGE).format(region=s.region)
    if s.network.egress == "none" and not IN_VPC_REGISTRY.match(image):
        problems.append(
            Problem(
                "vllm.image",
                "with `network.egress: none` the image must come from an in-VPC registry",
                image,
                "a `*-vpc.<region>.*aliyuncs.com/` registry",
            )
        )
    return image, vswitch_cidr


def _check_billing(s: Settings, problems: list[Problem]) -> None:
    b = s.billing
    if b.charge_type == "PrePaid":
        if b.period not in PREPAID_PERIODS:
            problems.append(
                Problem(
                    "billing.period",
                    "PrePaid needs a valid period in months",
                    b.period,
                    ", ".join(map(str, PREPAID_PERIODS)),
                )
            )
        if b.spot:
            problems.append(Problem("billing.spot", "spot instances are PostPaid only", True, "false with PrePaid"))
    elif b.period is not None:
        problems.append(Problem("billing.period", "a period applies to PrePaid only", b.period, "unset with PostPaid"))


def _instance(s: Settings, problems: list[Problem]) -> catalog.InstanceSpec | None:
    if s.instance_type is None:
        problems.append(Problem("instanceType", f"required in mode {s.mode}", None, "a GPU ECS instance type"))
        return None
    inst = catalog.INSTANCE_TYPES.get(s.instance_type)
    if inst is None:
        problems.append(
            Problem("instanceType", "unknown GPU instance type", s.instance_type, ", ".join(catalog.INSTANCE_TYPES))
        )
    return inst


def _nccl_env(s: Settings, problems: list[Problem]) -> dict[str, str]:
    for key in s.cluster.nccl_env:
        if not NCCL_KEY.match(key):
            problems.append(Problem(f"cluster.ncclEnv.{key}", "not an NCCL_/GLOO_ variable", key, "NCCL_* or GLOO_*"))
    return {**NCCL_DEFAULTS, **s.cluster.nccl_env}


def _parallelism(
    s: Settings, model: catalog.ModelSpec, inst: catalog.InstanceSpec, nodes: int, problems: list[Problem]
) -> tuple[int, int]:
    """(TP, PP): TP inside a node (divides the heads, <= GPUs per node), PP across nodes."""
    v = s.vllm
    divisors = catalog.attention_head_divisors(model.attention_heads, inst.gpus)
    tp = v.tensor_parallel_size or catalog.default_tensor_parallel(model, inst.gpus)
    pp = v.pipeline_parallel_size or nodes
    if v.tensor_parallel_size and (model.attention_heads % tp or tp > inst.gpus):
        problems.append(
            Problem(
                "vllm.tensorParallelSize",
                f"must divide the model's {model.attention_heads} attention heads and not exceed the {inst.gpus} GPUs of {inst.name}",
                tp,
                ", ".join(map(str, divisors)),
            )
        )
        tp = 0
    if nodes == 1 and v.pipeline_parallel_size not in (None, 1):
        problems.append(Problem("vllm.pipelineParallelSize", "pipeline parallelism needs ecs-cluster", pp, "1"))
        pp = 0
    if nodes > 1 and v.tensor_parallel_size and v.pipeline_parallel_size and tp * pp != inst.gpus * nodes:
        problems.append(
            Problem(
                "vllm.pipelineParallelSize",
                f"TP x PP must equal the {inst.gpus * nodes} GPUs of {nodes} x {inst.name}",
                f"{tp} x {pp}",
                f"TP {inst.gpus} x PP {nodes}",
            )
        )
        pp = 0
    elif nodes > 1 and pp != nodes:
        problems.append(Problem("vllm.pipelineParallelSize", "one pipeline stage per node", pp, str(nodes)))
        pp = 0
    return tp, pp


def _check_ecs_sizing(
    s: Settings, model: catalog.ModelSpec, inst: catalog.InstanceSpec, max_len: int, tp: int, problems: list[Problem]
) -> None:
    v = s.vllm
    cluster = s.mode == "ecs-cluster"
    nodes = s.cluster.nodes if cluster else 1
    util = v.gpu_memory_utilization
    if cluster and not inst.erdma:
        fitting = catalog.types_that_fit(model, max_len, util, nodes=nodes, erdma_only=True)
        problems.append(
            Problem(
                "instanceType",
                "ecs-cluster needs an eRDMA-capable instance type",
                inst.name,
                ", ".join(fitting) or ", ".join(n for n, t in catalog.INSTANCE_TYPES.items() if t.erdma),
            )
        )
        return
    if cluster and not s.cluster.allow_single_node_fit:
        one_node_tp = catalog.default_tensor_parallel(model, inst.gpus)
        if catalog.fits(model, inst, max_len, util, one_node_tp):
            problems.append(
                Problem(
                    "mode",
                    f"{model.key} fits on one {inst.name}: a cluster only adds cost and network hops",
                    s.mode,
                    "ecs-single, or llm:cluster.allowSingleNodeFit: true",
                )
            )
    if tp and not catalog.fits(model, inst, max_len, util, tp, nodes):
        need = catalog.memory_needed(model, max_len, tp * nodes) / catalog.GIB
        have = catalog.memory_available(inst, tp, util, nodes) / catalog.GIB
        fitting = catalog.types_that_fit(model, max_len, util, nodes=nodes, erdma_only=cluster)
        problems.append(Problem(
            "instanceType",
            f"{model.key} needs {need:.0f} GiB (weights + KV for {max_len} tokens + overhead) but {nodes} x {tp} GPU(s) x {inst.gpu_memory_gib} GiB x {util} give {have:.0f} GiB",
            inst.name,
            ", ".join(fitting) if fitting else ("more nodes" if cluster else "no single instance: use mode ecs-cluster"),
        ))  # fmt: skip


def cross_checks(s: Settings) -> tuple[Resolved | None, list[Problem]]:
    problems: list[Problem] = []
    if s.mode not in BUILT_MODES:
        problems.append(Problem("mode", "not built yet", s.mode, ", ".join(BUILT_MODES)))
    model = _model_spec(s, problems)
    image, vswitch_cidr = _check_common(s, problems)
    ecs = s.mode != "acs"
    inst = None
    if ecs:
        inst = _instance(s, problems)
        _check_billing(s, problems)
    nccl = _nccl_env(s, problems) if s.mode == "ecs-cluster" else None
    if model is None or (ecs and inst is None):
        return None, problems

    v = s.vllm
    max_len = v.max_model_len or min(model.default_max_model_len, model.max_model_len)
    length_ok = not (v.max_model_len and v.max_model_len > model.max_model_len)
    if not length_ok:
        problems.append(
            Problem("vllm.maxModelLen", "above the model's limit", v.max_model_len, f"1..{model.max_model_len}")
        )

    nodes, tp, pp, acs = 1, 0, 1, None
    if inst is not None:
        nodes = s.cluster.nodes if s.mode == "ecs-cluster" else 1
        tp, pp = _parallelism(s, model, inst, nodes, problems)
        if length_ok and pp:
            _check_ecs_sizing(s, model, inst, max_len, tp, problems)
    else:
        acs = acs_settings.check(s, model, max_len, problems)

    parser = v.reasoning_parser if v.reasoning_parser is not None else model.reasoning_parser
    if parser == "none":
        parser = None

    disk = s.model_disk.size_gib or catalog.disk_size_gib(model)
    if disk * catalog.GIB < model.weight_bytes * 1.05:
        problems.append(
            Problem(
                "modelDisk.sizeGib",
                "too small for the weights",
                disk,
                f">= {int(model.weight_bytes * 1.05 / catalog.GIB) + 1}",
            )
        )
    # Download bound: at a conservative 100 MB/s, twice over, plus 30 minutes; at least 1 hour.
    timeout = s.download_timeout_s or max(3600, int(model.weight_bytes / (100 * 1000**2) * 2) + 1800)

    if problems:
        return None, problems
    return Resolved(
        settings=s, model=model, instance=inst, tensor_parallel=tp,
        tensor_parallel_derived=v.tensor_parallel_size is None, max_model_len=max_len,
        served_model_name=v.served_model_name or model.served_model_name, reasoning_parser=parser,
        vllm_image=image, disk_size_gib=disk, download_timeout_s=timeout,
        vpc_cidr=s.network.existing_vpc_cidr or s.network.vpc_cidr, vswitch_cidr=vswitch_cidr or "",
        nodes=nodes, pipeline_parallel=pp, nccl_env=nccl, acs=acs,
    ), []  # fmt: skip


def check_api_key(value: str | None) -> list[Problem]:
    """The key travels through Cloud Assistant parameters and shell quoting: keep it simple."""
    if value is None:
        return []
    if not API_KEY_CHARS.match(value):
        # Never echo the value: it is a secret.
        return [Problem("apiKey", "must be 16-128 characters of A-Z a-z 0-9 _ -", "[secret]", "[A-Za-z0-9_-]{16,128}")]
    return []


def resolve(raw: Mapping[str, Any], api_key: str | None = None) -> Resolved:
    """Parse and check everything; raise ConfigError listing every problem."""
    s, problems = parse_raw(raw)
    resolved = None
    if s is not None:
        resolved, more = cross_checks(s)
        problems += more
    problems += check_api_key(api_key)
    if problems or resolved is None:
        raise ConfigError(problems)
    return resolved
