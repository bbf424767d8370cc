"""Rules that span several keys, for every mode and for the ECS shapes. Pure functions.

Each rule returns the problems it finds (an empty list when the settings pass); derivations
(the image, the default vSwitch, TP/PP) are separate functions, so a failed rule never leaves a
placeholder value behind.
"""

from __future__ import annotations

import ipaddress
import math
import re

from components.config.model import (
    DEFAULT_VLLM_IMAGE,
    IN_VPC_REGISTRY,
    NCCL_DEFAULTS,
    NCCL_KEY,
    PREPAID_PERIODS,
    Settings,
)
from components.config.problems import Problem
from components.sizing import catalog, fit
from components.sizing.cidr import first_24

# ---------------------------------------------------------------------------------------------
# Every mode


def model_spec(s: Settings) -> tuple[catalog.ModelSpec | None, list[Problem]]:
    if s.custom_model and s.model:
        return None, [Problem("model", "set either `model` or `customModel`, not both", s.model)]
    if s.custom_model:
        c = s.custom_model
        return catalog.ModelSpec(
            key=c.name, hf_repo=c.name, params_b=0, dtype="custom", weight_bytes=c.weight_bytes,
            attention_heads=c.attention_heads, kv_bytes_per_token=c.kv_bytes_per_token,
            max_model_len=c.max_model_len, default_max_model_len=min(c.max_model_len, 32768),
            served_model_name=c.served_model_name, reasoning_parser=c.reasoning_parser,
            shards=c.shards, exact_bytes=True,
        ), []  # fmt: skip
    if not s.model:
        return None, [Problem("model", "required: a catalog key or `customModel`", None, ", ".join(catalog.MODELS))]
    spec = catalog.MODELS.get(s.model)
    if spec is None:
        return None, [Problem("model", "unknown model", s.model, ", ".join(catalog.MODELS))]
    return spec, []


def vllm_image(s: Settings) -> str:
    return (s.vllm.image or DEFAULT_VLLM_IMAGE).format(region=s.region)


def vswitch_cidr(s: Settings) -> str | None:
    """The given vSwitch CIDR, the VPC's first /24 by default, None with an existing vSwitch."""
    if s.network.vpc_id:
        return None
    return s.network.vswitch_cidr or first_24(s.network.vpc_cidr)


def check_cidrs(s: Settings) -> list[Problem]:
    net = s.network
    if net.vpc_id:
        return []
    out = []
    vpc = ipaddress.ip_network(net.vpc_cidr)
    cidr = vswitch_cidr(s)
    if cidr:
        vsw = ipaddress.ip_network(cidr)
        if not vsw.subnet_of(vpc):  # type: ignore[arg-type]
            out.append(Problem("network.vswitchCidr", "must lie inside `network.vpcCidr`", cidr, f"a subnet of {vpc}"))
        elif not 16 <= vsw.prefixlen <= 29:
            out.append(Problem("network.vswitchCidr", "prefix length out of range", cidr, "/16 to /29"))
    if not 8 <= vpc.prefixlen <= 24:
        out.append(Problem("network.vpcCidr", "prefix length out of range", net.vpc_cidr, "/8 to /24"))
    return out


def check_allowlist(key: str, cidrs: list[str]) -> list[Problem]:
    out = []
    nets = []
    for i, c in enumerate(cidrs):
        try:
            n = ipaddress.ip_network(c, strict=True)
        except ValueError:
            out.append(Problem(f"{key}[{i}]", "not a valid CIDR", c, "e.g. 203.0.113.0/24"))
            continue
        if n.prefixlen == 0:
            out.append(Problem(f"{key}[{i}]", "opens the port to the whole internet", c, "a narrower range"))
        nets.append(n)
    for i, a in enumerate(nets):
        for b in nets[i + 1 :]:
            if a.version == b.version and a.overlaps(b):
                out.append(Problem(key, "CIDRs overlap", f"{a} and {b}", "disjoint ranges"))
    return out


# A heuristic, not a documented rule: no primary source says a zone ID is the region ID plus a
# suffix. Zone IDs in Alibaba's docs and in its Terraform provider's tests are the region and
# `-<letter>` (cn-hangzhou-k) or a bare letter (ap-southeast-1a, kms_instance_test.go).
# DescribeZones is authoritative (`stackctl preflight`).
_ZONE_SUFFIX = r"(?:-[a-z0-9]+|[a-z])"


def check_zones(s: Settings) -> list[Problem]:
    """`zoneId` (and in mode acs each of `acs.zoneIds`) is a zone of `region`."""
    zones = [("zoneId", s.zone_id)]
    if s.mode == "acs":
        zones += [(f"acs.zoneIds[{i}]", z) for i, z in enumerate(s.acs.zone_ids)]
    return [
        Problem(
            key,
            "must be a zone of llm:region (checked by prefix, a heuristic: DescribeZones lists the zones)",
            zone,
            f"a zone ID starting with {s.region}, e.g. {s.region}-k",
        )
        for key, zone in zones
        if not re.fullmatch(re.escape(s.region) + _ZONE_SUFFIX, zone)
    ]


def check_common(s: Settings) -> list[Problem]:
    """Rules of every mode: network, allowlists, model source, image, zones."""
    out = check_cidrs(s)
    pa = s.public_access
    if pa.enabled and not pa.allowed_cidrs:
        out.append(
            Problem(
                "publicAccess.allowedCidrs",
                "required when public access is enabled",
                [],
                "a list of CIDRs, e.g. [203.0.113.0/24]",
            )
        )
    out += check_allowlist("publicAccess.allowedCidrs", pa.allowed_cidrs)
    if pa.tls.certificate_id is not None and not pa.enabled:
        out.append(
            Problem(
                "publicAccess.tls.certificateId",
                "HTTPS lives on the internet load balancer: it needs `publicAccess.enabled: true`",
                pa.tls.certificate_id,
                "unset, or set together with publicAccess.enabled and allowedCidrs",
            )
        )
    out += check_allowlist("ssh.allowedCidrs", s.ssh.allowed_cidrs)

    src_region = s.model_source.region or s.region
    if src_region != s.region:
        out.append(
            Problem(
                "modelSource.region",
                "the bucket must be in the stack's region (internal endpoint, no cross-region traffic)",
                src_region,
                s.region,
            )
        )
    image = vllm_image(s)
    if s.network.egress == "none" and not IN_VPC_REGISTRY.match(image):
        out.append(
            Problem(
                "vllm.image",
                "with `network.egress: none` the image must come from an in-VPC registry",
                image,
                "a `*-vpc.<region>.*aliyuncs.com/` registry",
            )
        )
    return out + check_zones(s)


def max_model_len(s: Settings, model: catalog.ModelSpec) -> int:
    return s.vllm.max_model_len or min(model.default_max_model_len, model.max_model_len)


def check_max_model_len(s: Settings, model: catalog.ModelSpec) -> list[Problem]:
    v = s.vllm
    if v.max_model_len and v.max_model_len > model.max_model_len:
        return [Problem("vllm.maxModelLen", "above the model's limit", v.max_model_len, f"1..{model.max_model_len}")]
    return []


def reasoning_parser(s: Settings, model: catalog.ModelSpec) -> str | None:
    v = s.vllm
    parser = v.reasoning_parser if v.reasoning_parser is not None else model.reasoning_parser
    return None if parser == "none" else parser


def disk_size_gib(s: Settings, model: catalog.ModelSpec) -> int:
    return s.model_disk.size_gib or fit.disk_size_gib(model)


def check_disk(s: Settings, model: catalog.ModelSpec) -> list[Problem]:
    disk = disk_size_gib(s, model)
    if disk * catalog.GIB < model.weight_bytes * 1.05:
        need = math.ceil(model.weight_bytes * 1.05 / catalog.GIB)  # the smallest size that passes
        return [Problem("modelDisk.sizeGib", "too small for the weights", disk, f">= {need}")]
    return []


def download_timeout_s(s: Settings, model: catalog.ModelSpec) -> int:
    """At a conservative 100 MB/s, twice over, plus 30 minutes; at least 1 hour."""
    return s.download_timeout_s or max(3600, int(model.weight_bytes / (100 * 1000**2) * 2) + 1800)


# ---------------------------------------------------------------------------------------------
# ECS shapes


def instance_spec(s: Settings) -> tuple[catalog.InstanceSpec | None, list[Problem]]:
    if s.instance_type is None:
        return None, [Problem("instanceType", f"required in mode {s.mode}", None, "a GPU ECS instance type")]
    inst = catalog.INSTANCE_TYPES.get(s.instance_type)
    if inst is None:
        return None, [
            Problem("instanceType", "unknown GPU instance type", s.instance_type, ", ".join(catalog.INSTANCE_TYPES))
        ]
    return inst, []


def check_billing(s: Settings) -> list[Problem]:
    b = s.billing
    out = []
    if b.charge_type == "PrePaid":
        if b.period not in PREPAID_PERIODS:
            out.append(
                Problem(
                    "billing.period",
                    "PrePaid needs a valid period in months",
                    b.period,
                    ", ".join(map(str, PREPAID_PERIODS)),
                )
            )
        if b.spot:
            out.append(Problem("billing.spot", "spot instances are PostPaid only", True, "false with PrePaid"))
    elif b.period is not None:
        out.append(Problem("billing.period", "a period applies to PrePaid only", b.period, "unset with PostPaid"))
    return out


def nodes(s: Settings) -> int:
    return s.cluster.nodes if s.mode == "ecs-cluster" else 1


def nccl_env(s: Settings) -> dict[str, str]:
    return {**NCCL_DEFAULTS, **s.cluster.nccl_env} if s.mode == "ecs-cluster" else {}


def check_nccl(s: Settings) -> list[Problem]:
    if s.mode != "ecs-cluster":
        return []
    return [
        Problem(f"cluster.ncclEnv.{key}", "not an NCCL_/GLOO_ variable", key, "NCCL_* or GLOO_*")
        for key in s.cluster.nccl_env
        if not NCCL_KEY.match(key)
    ]


def tensor_parallel(s: Settings, model: catalog.ModelSpec, inst: catalog.InstanceSpec) -> int:
    return s.vllm.tensor_parallel_size or fit.default_tensor_parallel(model, inst.gpus)


def pipeline_parallel(s: Settings) -> int:
    return s.vllm.pipeline_parallel_size or nodes(s)


def check_tensor_parallel(s: Settings, model: catalog.ModelSpec, inst: catalog.InstanceSpec) -> list[Problem]:
    """TP inside a node: divides the heads, at most the GPUs of one node."""
    tp = s.vllm.tensor_parallel_size
    if tp and (model.attention_heads % tp or tp > inst.gpus):
        return [
            Problem(
                "vllm.tensorParallelSize",
                f"must divide the model's {model.attention_heads} attention heads and not exceed the {inst.gpus} GPUs of {inst.name}",
                tp,
                ", ".join(map(str, fit.attention_head_divisors(model.attention_heads, inst.gpus))),
            )
        ]
    return []


def check_pipeline_parallel(s: Settings, model: catalog.ModelSpec, inst: catalog.InstanceSpec) -> list[Problem]:
    """PP across nodes: one stage per node, and TP x PP = every GPU of the cluster."""
    v, n = s.vllm, nodes(s)
    pp = pipeline_parallel(s)
    if n == 1:
        if v.pipeline_parallel_size not in (None, 1):
            return [Problem("vllm.pipelineParallelSize", "pipeline parallelism needs ecs-cluster", pp, "1")]
        return []
    tp = tensor_parallel(s, model, inst)
    if v.tensor_parallel_size and v.pipeline_parallel_size and tp * pp != inst.gpus * n:
        return [
            Problem(
                "vllm.pipelineParallelSize",
                f"TP x PP must equal the {inst.gpus * n} GPUs of {n} x {inst.name}",
                f"{tp} x {pp}",
                f"TP {inst.gpus} x PP {n}",
            )
        ]
    if pp != n:
        return [Problem("vllm.pipelineParallelSize", "one pipeline stage per node", pp, str(n))]
    return []


def check_ecs_sizing(
    s: Settings, model: catalog.ModelSpec, inst: catalog.InstanceSpec, max_len: int, tp: int | None
) -> list[Problem]:
    """The model fits the node(s); a cluster needs eRDMA and more than one node's worth of model.

    `tp` is None when the given TP is invalid (reported by its own rule): the fit is not judged.
    """
    cluster = s.mode == "ecs-cluster"
    n = nodes(s)
    util = s.vllm.gpu_memory_utilization
    if cluster and not inst.erdma:
        fitting = fit.types_that_fit(model, max_len, util, nodes=n, erdma_only=True)
        return [
            Problem(
                "instanceType",
                "ecs-cluster needs an eRDMA-capable instance type",
                inst.name,
                ", ".join(fitting) or ", ".join(name for name, t in catalog.INSTANCE_TYPES.items() if t.erdma),
            )
        ]
    out = []
    if cluster and not s.cluster.allow_single_node_fit:
        one_node_tp = fit.default_tensor_parallel(model, inst.gpus)
        if fit.fits(model, inst, max_len, util, one_node_tp):
            out.append(
                Problem(
                    "mode",
                    f"{model.key} fits on one {inst.name}: a cluster only adds cost and network hops",
                    s.mode,
                    "ecs-single, or llm:cluster.allowSingleNodeFit: true",
                )
            )
    if tp and not fit.fits(model, inst, max_len, util, tp, n):
        need = fit.memory_needed(model, max_len, tp * n) / catalog.GIB
        have = fit.memory_available(inst, tp, util, n) / catalog.GIB
        fitting = fit.types_that_fit(model, max_len, util, nodes=n, erdma_only=cluster)
        out.append(Problem(
            "instanceType",
            f"{model.key} needs {need:.0f} GiB (weights + KV for {max_len} tokens + overhead) but {n} x {tp} GPU(s) x {inst.gpu_memory_gib} GiB x {util} give {have:.0f} GiB",
            inst.name,
            ", ".join(fitting) if fitting else ("more nodes" if cluster else "no single instance: use mode ecs-cluster"),
        ))  # fmt: skip
    return out
