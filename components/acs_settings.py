"""Settings of the `acs` mode (`llm:acs`): cluster network, GPU pods, OSS access, LWS, jump host.

`check` derives what the ACS components consume (CIDR plan, GPU pod shape, group size,
parallelism) and reports problems the same way the rest of the settings do. Pure, except that
it asks the Pulumi config whether the OSS secret keys are set (never their values).

Figures and where they come from (FACTS.md, "ACS and Kubernetes"):
- GPU model series and their memory: ACS GPU pod docs (GU8TF 96 GB, GU8TEF 141 GB, L20 48 GB);
  L20X, A10 and T4 figures and every GPU count per pod other than GU8TF 1 and 8 are unverified.
- vCPU/memory per GPU count: GU8TF 1 GPU takes 2-16 vCPU at 1-8 GiB per vCPU, or 22 vCPU;
  8 GPUs take 64 vCPU (64-512 GiB), 128 vCPU (<= 920 GiB) or 184 vCPU. Defaults follow the seed
  (1 GPU: 16 vCPU / 128 GiB; 8 GPUs: 64 vCPU / 512 GiB); other counts scale the seed's ratio
  (unverified).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from components import catalog
from components.settings_base import Problem, _Model

if TYPE_CHECKING:
    from components.catalog import ModelSpec
    from components.settings import Settings

NAMESPACE_K8S = "llm-model"  # the seed's namespace
# Secret config keys read only when `acs.ossAuth = secret` (components/settings.py SECRET_KEYS).
OSS_SECRET_KEYS = ("ossAccessKeyId", "ossAccessKeySecret")
# LWS CRD versions the tests validate against (tests/fixtures/).
LWS_CRD_VERSIONS = ("v0.5.0",)
# ACK version strings look like 1.33.1-aliyun.1; the manifests are validated at its minor.
K8S_VERSION = re.compile(r"^1\.(?P<minor>\d+)\.\d+-aliyun\.\d+$")
# Kubernetes minors kubernetes-validate (1.37.0) ships schemas for.
K8S_MINORS = range(25, 38)


@dataclass(frozen=True)
class GpuSeries:
    name: str
    memory_gib: int  # per GPU
    counts: tuple[int, ...]  # GPUs per pod ACS offers
    verified: bool  # memory and counts checked against a primary source


GPU_SERIES: dict[str, GpuSeries] = {
    s.name: s
    for s in (
        GpuSeries("GU8TF", 96, (1, 2, 4, 8), verified=True),  # 2 and 4: unverified
        GpuSeries("GU8TEF", 141, (1, 2, 4, 8), verified=False),
        GpuSeries("L20", 48, (1, 2, 4, 8), verified=False),
        GpuSeries("L20X", 141, (1, 2, 4, 8), verified=False),
        GpuSeries("A10", 24, (1, 2, 4, 8), verified=False),
        GpuSeries("T4", 16, (1, 2, 4), verified=False),
    )
}
# Default vCPU / GiB per GPU count (seed: 1 GPU 16/128, 8 GPUs 64/512; 2 and 4 unverified).
DEFAULT_SHAPE = {1: (16, 128), 2: (32, 256), 4: (64, 512), 8: (64, 512)}


def shape_problem(series: str, gpus: int, cpu: int, memory_gib: int) -> str | None:
    """Why ACS would refuse this pod shape, where the documented rules (GU8TF) say so."""
    if series != "GU8TF":
        return None  # no documented rule: ACS decides at scheduling time
    if gpus == 1:
        if cpu == 22 or (2 <= cpu <= 16 and cpu <= memory_gib <= 8 * cpu):
            return None
        return "GU8TF with 1 GPU takes 2-16 vCPU at 1-8 GiB per vCPU, or 22 vCPU"
    if gpus == 8:
        limits = {64: (64, 512), 128: (64, 920), 184: (64, 1840)}
        lo_hi = limits.get(cpu)
        if lo_hi and lo_hi[0] <= memory_gib <= lo_hi[1]:
            return None
        return "GU8TF with 8 GPUs takes 64 vCPU (64-512 GiB), 128 vCPU (<= 920 GiB) or 184 vCPU"
    return None


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
        "1.33.1-aliyun.1", description="pinned cluster version (ACK's list; string unverified offline)"
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
        description="namespace/name of the CSI service account the OSS role trusts (ACK docs; ACS unverified)",
    )
    readiness_image: str | None = Field(None, description="image of the readiness Job (default: the vLLM image)")
    lws: LwsSettings = Field(default_factory=LwsSettings, description="LeaderWorkerSet controller")  # type: ignore[arg-type]
    jump_host_instance_type: str = Field("ecs.g7.large", description="jump host ECS type")

    @field_validator("service_cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        try:
            net = ipaddress.ip_network(v, strict=True)
        except ValueError as e:
            raise ValueError(f"not a valid IPv4 CIDR ({e})") from None
        if net.version != 4 or not net.is_private:
            raise ValueError("must be a private IPv4 CIDR (10/8, 172.16/12, 192.168/16)")
        return v


@dataclass(frozen=True)
class AcsResolved:
    """What the ACS components consume (filled in by `check`)."""

    settings: AcsSettings
    zone_ids: tuple[str, str]
    node_cidrs: tuple[str, str]
    pod_cidrs: tuple[str, str]
    series: GpuSeries
    gpus_per_pod: int
    cpu: int
    memory_gib: int
    shm_gib: int
    group_size: int
    tensor_parallel: int
    pipeline_parallel: int
    k8s_minor: str  # "1.33"
    lws_image_repository: str
    oss_endpoint: str

    @property
    def lws(self) -> bool:
        return self.group_size > 1


def plan_cidrs(vpc_cidr: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """Node and pod vSwitch CIDRs: the VPC in four quarters; nodes get the first /24 of the first
    two (few IPs: the jump host and load balancers), pods the last two whole (one IP per pod)."""
    vpc = ipaddress.IPv4Network(vpc_cidr)
    quarters = list(vpc.subnets(prefixlen_diff=2))
    node_prefix = max(24, quarters[0].prefixlen)
    nodes = tuple(str(next(q.subnets(new_prefix=node_prefix))) for q in quarters[:2])
    pods = (str(quarters[2]), str(quarters[3]))
    return nodes, pods  # type: ignore[return-value]


def _cidrs(key: str, given: list[str] | None, derived: tuple[str, str], vpc, problems: list[Problem]):
    if given is None:
        return derived
    nets = []
    for i, c in enumerate(given):
        try:
            nets.append(ipaddress.ip_network(c, strict=True))
        except ValueError as e:
            problems.append(Problem(f"{key}[{i}]", f"not a valid IPv4 CIDR ({e})", c))
            return None
        if not nets[-1].subnet_of(vpc):
            problems.append(Problem(f"{key}[{i}]", "must be inside the VPC", c, str(vpc)))
            return None
    if len(given) != 2:
        problems.append(Problem(key, "two CIDRs are needed (one per zone)", given, "two CIDRs"))
        return None
    return tuple(given)


def secret_config_set(key: str) -> bool:
    """Whether `llm:<key>` is set in the stack config (a secret: the value is never read here)."""
    from pulumi.runtime import config as runtime_config

    return runtime_config.get_config(f"llm:{key}") not in (None, "")


# A derived layout leaves at least this share of the usable GPU memory to the KV cache, so that
# more than one sequence runs at a time: DeepSeek-R1 on 8 x GU8TF would fit one pod with ~30 GiB
# of KV cache; it gets the seed's 2 pods x 8 GPUs instead. Explicit settings need only fit.
KV_HEADROOM = 0.2


def _fits(model: ModelSpec, max_len: int, util: float, series: GpuSeries, gpus: int, pods: int) -> bool:
    need = catalog.memory_needed(model, max_len, gpus * pods)
    return need <= int(series.memory_gib * catalog.GIB * gpus * pods * util)


def _roomy(model: ModelSpec, util: float, series: GpuSeries, gpus: int, pods: int) -> bool:
    return model.weight_bytes <= (1 - KV_HEADROOM) * series.memory_gib * catalog.GIB * gpus * pods * util


def _pod_layout(
    s: Settings, model: ModelSpec, max_len: int, series: GpuSeries, problems: list[Problem]
) -> tuple[int, int] | None:
    """(GPUs per pod, pods per group): the given ones, or the smallest that fit."""
    acs, util = s.acs, s.vllm.gpu_memory_utilization
    if acs.gpus_per_pod is not None and acs.gpus_per_pod not in series.counts:
        problems.append(
            Problem(
                "acs.gpusPerPod",
                f"ACS does not offer this GPU count per pod for {series.name}",
                acs.gpus_per_pod,
                ", ".join(map(str, series.counts)),
            )
        )
        return None
    counts = [acs.gpus_per_pod] if acs.gpus_per_pod else [c for c in series.counts if model.attention_heads % c == 0]
    groups = [acs.group_size] if acs.group_size else list(range(1, 9))
    explicit = acs.gpus_per_pod is not None and acs.group_size is not None
    for group in groups:
        for gpus in counts:
            if _fits(model, max_len, util, series, gpus, group) and (
                explicit or _roomy(model, util, series, gpus, group)
            ):
                return gpus, group
    for group in groups:  # a fit without the headroom beats no fit
        for gpus in counts:
            if _fits(model, max_len, util, series, gpus, group):
                return gpus, group
    gpus, group = counts[-1] if counts else series.counts[-1], groups[-1]
    need = catalog.memory_needed(model, max_len, gpus * group) / catalog.GIB
    have = series.memory_gib * gpus * group * util
    problems.append(
        Problem(
            "acs.gpusPerPod" if acs.gpus_per_pod else "acs.gpuModelSeries",
            f"{model.key} needs {need:.0f} GiB (weights + KV for {max_len} tokens + overhead) but {group} pod(s) x "
            f"{gpus} x {series.memory_gib} GiB x {util} give {have:.0f} GiB",
            acs.gpus_per_pod or series.name,
            "more GPUs per pod, a larger llm:acs.groupSize, or a series with more memory",
        )
    )
    return None


def check(s: Settings, model: ModelSpec, max_model_len: int, problems: list[Problem]) -> AcsResolved | None:
    acs = s.acs
    start = len(problems)

    # Network: two zones, vSwitch CIDRs inside the VPC, service CIDR outside it.
    if len(acs.zone_ids) != 2 or len(set(acs.zone_ids)) != 2:
        problems.append(
            Problem("acs.zoneIds", "two different zones are needed (nodes and pods)", acs.zone_ids, "two zone IDs")
        )
    elif s.zone_id != acs.zone_ids[0]:
        problems.append(
            Problem("zoneId", "in mode acs, the first of llm:acs.zoneIds (jump host, first vSwitches)", s.zone_id,
                    acs.zone_ids[0])
        )  # fmt: skip
    if s.network.vpc_id:
        problems.append(Problem("network.vpcId", "mode acs creates its own VPC", s.network.vpc_id, "unset"))
    if s.network.vswitch_cidr:
        problems.append(
            Problem("network.vswitchCidr", "mode acs uses llm:acs.nodeVswitchCidrs", s.network.vswitch_cidr, "unset")
        )
    vpc = ipaddress.ip_network(s.network.vpc_cidr)
    service = ipaddress.ip_network(acs.service_cidr)
    if service.overlaps(vpc):
        problems.append(
            Problem("acs.serviceCidr", "overlaps the VPC", acs.service_cidr, f"a private range outside {vpc}")
        )
    node_cidrs = pod_cidrs = None
    if vpc.prefixlen > 22:
        problems.append(
            Problem("network.vpcCidr", "too small for four vSwitches in mode acs", s.network.vpc_cidr, "/22 or larger")
        )
    else:
        derived_nodes, derived_pods = plan_cidrs(s.network.vpc_cidr)
        node_cidrs = _cidrs("acs.nodeVswitchCidrs", acs.node_vswitch_cidrs, derived_nodes, vpc, problems)
        pod_cidrs = _cidrs("acs.podVswitchCidrs", acs.pod_vswitch_cidrs, derived_pods, vpc, problems)
        if node_cidrs and pod_cidrs:
            nets = [ipaddress.ip_network(c) for c in (*node_cidrs, *pod_cidrs)]
            if any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :]):
                problems.append(
                    Problem("acs.podVswitchCidrs", "vSwitch CIDRs overlap", [*node_cidrs, *pod_cidrs], "disjoint")
                )

    m = K8S_VERSION.match(acs.kubernetes_version)
    if not m or int(m["minor"]) not in K8S_MINORS:
        problems.append(
            Problem(
                "acs.kubernetesVersion",
                "not an ACK version with schemas to validate against",
                acs.kubernetes_version,
                f"1.{K8S_MINORS[0]}-1.{K8S_MINORS[-1]}, like 1.33.1-aliyun.1",
            )
        )
    if acs.lws.controller_version not in LWS_CRD_VERSIONS:
        problems.append(
            Problem(
                "acs.lws.controllerVersion",
                "no CRD to validate the LeaderWorkerSet against",
                acs.lws.controller_version,
                ", ".join(LWS_CRD_VERSIONS),
            )
        )
    if acs.compute_class == "gpu-hpn" and acs.compute_qos != "default":
        problems.append(Problem("acs.computeQos", "gpu-hpn pods take only qos default", acs.compute_qos, "default"))

    # OSS credentials: a secret config value or nothing.
    set_keys = [k for k in OSS_SECRET_KEYS if secret_config_set(k)]
    if acs.oss_auth == "secret":
        for k in OSS_SECRET_KEYS:
            if k not in set_keys:
                problems.append(
                    Problem(
                        k,
                        "required with llm:acs.ossAuth secret",
                        None,
                        f"pulumi config set --secret llm:{k} ...",
                    )
                )
    else:
        for k in set_keys:
            problems.append(Problem(k, "used only with llm:acs.ossAuth secret", "[secret]", "unset with rrsa"))

    # GPU pods.
    series = GPU_SERIES.get(acs.gpu_model_series)
    layout = None
    if series is None:
        problems.append(
            Problem("acs.gpuModelSeries", "unknown ACS GPU model series", acs.gpu_model_series, ", ".join(GPU_SERIES))
        )
    else:
        layout = _pod_layout(s, model, max_model_len, series, problems)
    gpus = group = 0
    cpu = memory = 0
    if layout is not None and series is not None:
        gpus, group = layout
        if model.attention_heads % gpus:
            problems.append(
                Problem(
                    "acs.gpusPerPod",
                    f"tensor parallel = GPUs per pod must divide the model's {model.attention_heads} attention heads",
                    gpus,
                    ", ".join(str(c) for c in series.counts if model.attention_heads % c == 0),
                )
            )
        default_cpu, default_mem = DEFAULT_SHAPE.get(gpus, (16 * gpus, 128 * gpus))
        cpu, memory = acs.cpu or default_cpu, acs.memory_gib or default_mem
        why = shape_problem(series.name, gpus, cpu, memory)
        if why:
            problems.append(Problem("acs.cpu", why, f"{cpu} vCPU / {memory} GiB with {gpus} GPU(s)"))
        v = s.vllm
        if v.tensor_parallel_size not in (None, gpus):
            problems.append(
                Problem(
                    "vllm.tensorParallelSize", "in mode acs it equals the GPUs per pod", v.tensor_parallel_size, gpus
                )
            )
        if v.pipeline_parallel_size not in (None, group):
            problems.append(
                Problem(
                    "vllm.pipelineParallelSize", "in mode acs it equals the group size", v.pipeline_parallel_size, group
                )
            )

    if len(problems) > start or series is None or node_cidrs is None or pod_cidrs is None:
        return None
    return AcsResolved(
        settings=acs,
        zone_ids=(acs.zone_ids[0], acs.zone_ids[1]),
        node_cidrs=node_cidrs,
        pod_cidrs=pod_cidrs,
        series=series,
        gpus_per_pod=gpus,
        cpu=cpu,
        memory_gib=memory,
        shm_gib=acs.shm_gib or max(8, 4 * gpus),
        group_size=group,
        tensor_parallel=gpus,
        pipeline_parallel=group,
        k8s_minor=f"1.{m['minor']}" if m else "",
        lws_image_repository=acs.lws.image_repository or f"registry-{s.region}-vpc.ack.aliyuncs.com/acs/lws",
        oss_endpoint=f"oss-{s.region}-internal.aliyuncs.com",
    )
