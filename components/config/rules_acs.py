"""Rules of the `acs` mode (`llm:acs`): cluster network, GPU pods, OSS access, LWS. Pure.

`acs_plan_parts` derives what the ACS components consume (CIDR plan, pod shape, group size);
every rule returns the problems it finds.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from components.config.model import Settings
from components.config.problems import Problem
from components.sizing import acs_pods, fit
from components.sizing.acs_pods import GPU_SERIES, GpuSeries
from components.sizing.catalog import GIB, ModelSpec
from components.sizing.cidr import plan_acs_cidrs

NAMESPACE_K8S = "llm-model"  # the seed's namespace
# Secret config keys read only when `acs.ossAuth = secret` (components/config/model.py SECRET_KEYS).
OSS_SECRET_KEYS = ("ossAccessKeyId", "ossAccessKeySecret")
# LWS CRD versions the tests validate against (tests/fixtures/).
LWS_CRD_VERSIONS = ("v0.5.0",)
# ACS version strings look like 1.30.1-aliyunacs.1 (ACS release notes); ACK's are 1.30.1-aliyun.1.
# The manifests are validated at its minor.
K8S_VERSION = re.compile(r"^1\.(?P<minor>\d+)\.\d+-aliyunacs\.\d+$")
ACK_VERSION = re.compile(r"^1\.\d+\.\d+-aliyun\.\d+$")
EXAMPLE_VERSION = "1.30.1-aliyunacs.1"
# Kubernetes minors kubernetes-validate (1.37.0) ships schemas for.
K8S_MINORS = range(25, 38)


def _given_cidrs(
    key: str, given: list[str] | None, derived: tuple[str, str], vpc: Any
) -> tuple[tuple[str, str] | None, list[Problem]]:
    if given is None:
        return derived, []
    nets = []
    for i, c in enumerate(given):
        try:
            nets.append(ipaddress.ip_network(c, strict=True))
        except ValueError as e:
            return None, [Problem(f"{key}[{i}]", f"not a valid IPv4 CIDR ({e})", c)]
        if not nets[-1].subnet_of(vpc):
            return None, [Problem(f"{key}[{i}]", "must be inside the VPC", c, str(vpc))]
    if len(given) != 2:
        return None, [Problem(key, "two CIDRs are needed (one per zone)", given, "two CIDRs")]
    return (given[0], given[1]), []


def vswitch_cidrs(s: Settings) -> tuple[tuple[tuple[str, str], tuple[str, str]] | None, list[Problem]]:
    """(node CIDRs, pod CIDRs) and the problems of the ACS network settings."""
    acs = s.acs
    out: list[Problem] = []
    if len(acs.zone_ids) != 2 or len(set(acs.zone_ids)) != 2:
        out.append(
            Problem("acs.zoneIds", "two different zones are needed (nodes and pods)", acs.zone_ids, "two zone IDs")
        )
    elif s.zone_id != acs.zone_ids[0]:
        out.append(
            Problem("zoneId", "in mode acs, the first of llm:acs.zoneIds (jump host, first vSwitches)", s.zone_id,
                    acs.zone_ids[0])
        )  # fmt: skip
    if s.network.vpc_id:
        out.append(Problem("network.vpcId", "mode acs creates its own VPC", s.network.vpc_id, "unset"))
    if s.network.vswitch_cidr:
        out.append(
            Problem("network.vswitchCidr", "mode acs uses llm:acs.nodeVswitchCidrs", s.network.vswitch_cidr, "unset")
        )
    vpc = ipaddress.ip_network(s.network.vpc_cidr)
    if ipaddress.ip_network(acs.service_cidr).overlaps(vpc):
        out.append(Problem("acs.serviceCidr", "overlaps the VPC", acs.service_cidr, f"a private range outside {vpc}"))
    if vpc.prefixlen > 22:
        out.append(
            Problem("network.vpcCidr", "too small for four vSwitches in mode acs", s.network.vpc_cidr, "/22 or larger")
        )
        return None, out
    derived_nodes, derived_pods = plan_acs_cidrs(s.network.vpc_cidr)
    node_cidrs, more = _given_cidrs("acs.nodeVswitchCidrs", acs.node_vswitch_cidrs, derived_nodes, vpc)
    out += more
    pod_cidrs, more = _given_cidrs("acs.podVswitchCidrs", acs.pod_vswitch_cidrs, derived_pods, vpc)
    out += more
    if node_cidrs is None or pod_cidrs is None:
        return None, out
    nets = [ipaddress.ip_network(c) for c in (*node_cidrs, *pod_cidrs)]
    pairs = [(i, j) for i, a in enumerate(nets) for j, b in enumerate(nets) if i < j and a.overlaps(b)]
    if pairs:  # named by the list to change: the node list when only its two overlap
        key = "acs.nodeVswitchCidrs" if all(j < 2 for _, j in pairs) else "acs.podVswitchCidrs"
        out.append(Problem(key, "vSwitch CIDRs overlap", [*node_cidrs, *pod_cidrs], "disjoint"))
    return (node_cidrs, pod_cidrs), out


def k8s_minor(s: Settings) -> str | None:
    m = K8S_VERSION.match(s.acs.kubernetes_version)
    return f"1.{m['minor']}" if m and int(m["minor"]) in K8S_MINORS else None


def check_versions(s: Settings) -> list[Problem]:
    acs = s.acs
    out = []
    allowed = f"an ACS version 1.{K8S_MINORS[0]}-1.{K8S_MINORS[-1]} like {EXAMPLE_VERSION}"
    if ACK_VERSION.match(acs.kubernetes_version):
        out.append(
            Problem(
                "acs.kubernetesVersion",
                "an ACK version string (-aliyun.N); ACS versions end in -aliyunacs.N",
                acs.kubernetes_version,
                allowed,
            )
        )
    elif not K8S_VERSION.match(acs.kubernetes_version):
        out.append(Problem("acs.kubernetesVersion", "not an ACS version string", acs.kubernetes_version, allowed))
    elif k8s_minor(s) is None:
        out.append(
            Problem(
                "acs.kubernetesVersion", "no schemas to validate the manifests against", acs.kubernetes_version, allowed
            )
        )
    if acs.lws.controller_version not in LWS_CRD_VERSIONS:
        out.append(
            Problem(
                "acs.lws.controllerVersion",
                "no CRD to validate the LeaderWorkerSet against",
                acs.lws.controller_version,
                ", ".join(LWS_CRD_VERSIONS),
            )
        )
    if acs.lws_max_unavailable == 0 and acs.lws_max_surge == 0:
        # LWS v0.5.0 CRD: maxUnavailable "can not be 0 if MaxSurge is 0".
        out.append(
            Problem("acs.lwsMaxUnavailable", "0 needs acs.lwsMaxSurge >= 1 (LWS: no rollout could progress)", 0, ">= 1")
        )
    if acs.compute_class == "gpu-hpn" and acs.compute_qos != "default":
        out.append(Problem("acs.computeQos", "gpu-hpn pods take only qos default", acs.compute_qos, "default"))
    return out


def check_oss_auth(s: Settings, secrets_set: frozenset[str]) -> list[Problem]:
    """OSS credentials: secret config values with `ossAuth: secret`, nothing otherwise."""
    set_keys = [k for k in OSS_SECRET_KEYS if k in secrets_set]
    if s.acs.oss_auth == "secret":
        return [
            Problem(k, "required with llm:acs.ossAuth secret", None, f"pulumi config set --secret llm:{k} ...")
            for k in OSS_SECRET_KEYS
            if k not in set_keys
        ]
    return [Problem(k, "used only with llm:acs.ossAuth secret", "[secret]", "unset with rrsa") for k in set_keys]


def pod_layout(
    s: Settings, model: ModelSpec, max_len: int, series: GpuSeries
) -> tuple[tuple[int, int] | None, list[Problem]]:
    """(GPUs per pod, pods per group): the given ones, or the smallest that fit."""
    acs, util = s.acs, s.vllm.gpu_memory_utilization
    if acs.gpus_per_pod is not None and acs.gpus_per_pod not in series.counts:
        return None, [
            Problem(
                "acs.gpusPerPod",
                f"ACS does not offer this GPU count per pod for {series.name}",
                acs.gpus_per_pod,
                ", ".join(map(str, series.counts)),
            )
        ]
    # Every series offers 1 GPU per pod, which divides any head count: `counts` is never empty.
    counts = [acs.gpus_per_pod] if acs.gpus_per_pod else [c for c in series.counts if model.attention_heads % c == 0]
    groups = [acs.group_size] if acs.group_size else list(range(1, 9))
    for group in groups:  # the smallest roomy fit (with both given, the one candidate need only fit: below)
        for gpus in counts:
            if acs_pods.group_fits(model, max_len, util, series, gpus, group) and acs_pods.group_roomy(
                model, util, series, gpus, group
            ):
                return (gpus, group), []
    for group in groups:  # a fit without the headroom beats no fit
        for gpus in counts:
            if acs_pods.group_fits(model, max_len, util, series, gpus, group):
                return (gpus, group), []
    gpus, group = counts[-1], groups[-1]
    need = fit.memory_needed(model, max_len, gpus * group) / GIB
    have = series.memory_gib * gpus * group * util
    return None, [
        Problem(
            "acs.gpusPerPod" if acs.gpus_per_pod else "acs.gpuModelSeries",
            f"{model.key} needs {need:.0f} GiB (weights + KV for {max_len} tokens + overhead) but {group} pod(s) x "
            f"{gpus} x {series.memory_gib} GiB x {util} give {have:.0f} GiB",
            acs.gpus_per_pod or series.name,
            "more GPUs per pod, a larger llm:acs.groupSize, or a series with more memory",
        )
    ]


def pod_shape(s: Settings, gpus: int) -> tuple[int, int]:
    """(vCPU, GiB) per pod: the given ones, or the defaults for the GPU count."""
    default_cpu, default_mem = acs_pods.DEFAULT_SHAPE.get(gpus, (16 * gpus, 128 * gpus))
    return s.acs.cpu or default_cpu, s.acs.memory_gib or default_mem


def check_pods(s: Settings, model: ModelSpec, series: GpuSeries, gpus: int, group: int) -> list[Problem]:
    out = []
    if model.attention_heads % gpus:
        out.append(
            Problem(
                "acs.gpusPerPod",
                f"tensor parallel = GPUs per pod must divide the model's {model.attention_heads} attention heads",
                gpus,
                ", ".join(str(c) for c in series.counts if model.attention_heads % c == 0),
            )
        )
    cpu, memory = pod_shape(s, gpus)
    why = acs_pods.shape_problem(series.name, gpus, cpu, memory)
    if why:
        out.append(Problem("acs.cpu", why, f"{cpu} vCPU / {memory} GiB with {gpus} GPU(s)"))
    v = s.vllm
    if v.tensor_parallel_size not in (None, gpus):
        out.append(
            Problem("vllm.tensorParallelSize", "in mode acs it equals the GPUs per pod", v.tensor_parallel_size, gpus)
        )
    if v.pipeline_parallel_size not in (None, group):
        out.append(
            Problem(
                "vllm.pipelineParallelSize", "in mode acs it equals the group size", v.pipeline_parallel_size, group
            )
        )
    return out


def acs_plan_parts(
    s: Settings, model: ModelSpec, max_len: int, secrets_set: frozenset[str]
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The AcsPlan fields beyond `Common` (None when a problem was found) and every problem."""
    acs = s.acs
    cidrs, problems = vswitch_cidrs(s)
    problems += check_versions(s)
    problems += check_oss_auth(s, secrets_set)
    series = GPU_SERIES.get(acs.gpu_model_series)
    layout = None
    if series is None:
        problems.append(
            Problem("acs.gpuModelSeries", "unknown ACS GPU model series", acs.gpu_model_series, ", ".join(GPU_SERIES))
        )
    else:
        layout, more = pod_layout(s, model, max_len, series)
        problems += more
        if layout is not None:
            problems += check_pods(s, model, series, *layout)
    minor = k8s_minor(s)
    if problems or series is None or layout is None or cidrs is None or minor is None:
        return None, problems
    gpus, group = layout
    cpu, memory = pod_shape(s, gpus)
    return {
        "zone_ids": (acs.zone_ids[0], acs.zone_ids[1]),
        "node_cidrs": cidrs[0],
        "pod_cidrs": cidrs[1],
        "series": series,
        "gpus_per_pod": gpus,
        "cpu": cpu,
        "memory_gib": memory,
        "shm_gib": acs.shm_gib or max(8, 4 * gpus),
        "group_size": group,
        "tensor_parallel": gpus,
        "pipeline_parallel": group,
        "k8s_minor": minor,
        "lws_image_repository": acs.lws.image_repository or f"registry-{s.region}-vpc.ack.aliyuncs.com/acs/lws",
        "oss_endpoint": f"oss-{s.region}-internal.aliyuncs.com",
    }, []
