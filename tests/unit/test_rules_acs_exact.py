"""The `acs` mode's rules (components/config/rules_acs.py) at their edge values, with the full
problem line users read, and the exact AcsPlan parts they derive (issue 17).

Each case calls one rule on the example `acs` stack with changes, so it pins that rule alone:
both sides of each bound (the value that passes and the first that does not) and the complete
`llm:<key>: <what> (got X; allowed Y)` text.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.config import rules_acs as R
from components.sizing import acs_pods, fit
from components.sizing.acs_pods import GPU_SERIES
from components.sizing.catalog import GIB, MODELS
from tests.unit.test_rules_exact import settings, text

GU8TF = GPU_SERIES["GU8TF"]
T4 = GPU_SERIES["T4"]
A10 = GPU_SERIES["A10"]
R1 = MODELS["deepseek-r1"]
QWQ = MODELS["qwq-32b"]  # 40 attention heads
Q7 = MODELS["deepseek-r1-distill-qwen-7b"]  # 28 attention heads
L70 = MODELS["deepseek-r1-distill-llama-70b"]  # 64 attention heads
VERSIONS = "an ACS version 1.25-1.37 like 1.30.1-aliyunacs.1"
SECRET_SET = "pulumi config set --secret llm:{k} ..."


def acs(stack: str = "acs", **acs_changes: Any):
    """The example stack with changes to `llm:acs` only (a None value unsets the key)."""
    return settings(stack, acs=acs_changes)


def cidrs(**acs_changes: Any) -> tuple[Any, list[str]]:
    got, problems = R.vswitch_cidrs(acs(**acs_changes))
    return got, text(problems)


# --- network --------------------------------------------------------------------------------

DERIVED = (("192.168.0.0/24", "192.168.64.0/24"), ("192.168.128.0/18", "192.168.192.0/18"))


def test_the_example_network_is_the_vpc_in_quarters():
    # 192.168.0.0/16 (the default VPC) in four /18s: nodes get the first /24 of the first two,
    # pods the last two whole.
    assert cidrs() == (DERIVED, [])


def test_given_cidrs_are_taken_as_given():
    nodes, pods = ["192.168.1.0/24", "192.168.2.0/24"], ["192.168.16.0/20", "192.168.32.0/20"]
    assert cidrs(nodeVswitchCidrs=nodes, podVswitchCidrs=pods) == ((tuple(nodes), tuple(pods)), [])
    # one side given, the other derived
    assert cidrs(nodeVswitchCidrs=nodes) == ((tuple(nodes), DERIVED[1]), [])
    assert cidrs(podVswitchCidrs=["192.168.16.0/20", "192.168.32.0/20"])[0] == (DERIVED[0], tuple(pods))


@pytest.mark.parametrize(
    "key,given,line",
    [
        (
            "nodeVswitchCidrs",
            ["192.168.1.0/24", "192.168.2.1/24"],
            "llm:acs.nodeVswitchCidrs[1]: not a valid IPv4 CIDR (192.168.2.1/24 has host bits set) (got '192.168.2.1/24')",
        ),
        (
            "podVswitchCidrs",
            ["bad", "192.168.2.0/24"],
            "llm:acs.podVswitchCidrs[0]: not a valid IPv4 CIDR ('bad' does not appear to be an IPv4 or IPv6 network) (got 'bad')",
        ),
        (
            "nodeVswitchCidrs",
            ["192.168.1.0/24", "10.1.0.0/24"],
            "llm:acs.nodeVswitchCidrs[1]: must be inside the VPC (got '10.1.0.0/24'; allowed 192.168.0.0/16)",
        ),
        (
            "podVswitchCidrs",
            ["192.168.0.0/15", "192.168.2.0/24"],  # contains the VPC: not a subnet of it
            "llm:acs.podVswitchCidrs[0]: must be inside the VPC (got '192.168.0.0/15'; allowed 192.168.0.0/16)",
        ),
        (
            "nodeVswitchCidrs",
            ["192.168.1.0/24"],
            'llm:acs.nodeVswitchCidrs: two CIDRs are needed (one per zone) (got ["192.168.1.0/24"]; allowed two CIDRs)',
        ),
        (
            "podVswitchCidrs",
            ["192.168.1.0/24", "192.168.2.0/24", "192.168.3.0/24"],
            'llm:acs.podVswitchCidrs: two CIDRs are needed (one per zone) (got ["192.168.1.0/24", "192.168.2.0/24", '
            '"192.168.3.0/24"]; allowed two CIDRs)',
        ),
    ],
)
def test_a_bad_given_cidr_list_is_one_problem_and_no_plan(key, given, line):
    assert cidrs(**{key: given}) == (None, [line])


def test_the_whole_vpc_as_a_vswitch_is_inside_it():
    # subnet_of is inclusive: the VPC itself is inside the VPC (the overlap rule then catches it)
    got, lines = cidrs(nodeVswitchCidrs=["192.168.0.0/16", "192.168.1.0/24"])
    assert got is not None
    assert lines == [
        'llm:acs.podVswitchCidrs: vSwitch CIDRs overlap (got ["192.168.0.0/16", "192.168.1.0/24", '
        '"192.168.128.0/18", "192.168.192.0/18"]; allowed disjoint)'
    ]


def test_overlapping_vswitches_name_all_four():
    # the last pod vSwitch overlaps the first node vSwitch; adjacent ranges do not overlap
    assert cidrs(podVswitchCidrs=["192.168.128.0/18", "192.168.0.0/23"])[1] == [
        'llm:acs.podVswitchCidrs: vSwitch CIDRs overlap (got ["192.168.0.0/24", "192.168.64.0/24", '
        '"192.168.128.0/18", "192.168.0.0/23"]; allowed disjoint)'
    ]
    assert cidrs(podVswitchCidrs=["192.168.1.0/24", "192.168.65.0/24"]) == (
        (DERIVED[0], ("192.168.1.0/24", "192.168.65.0/24")),
        [],
    )
    # a node vSwitch and the first pod vSwitch: named by the pod list
    assert cidrs(podVswitchCidrs=["192.168.0.0/23", "192.168.200.0/24"])[1][0].startswith(
        "llm:acs.podVswitchCidrs: vSwitch CIDRs overlap"
    )
    # the two node vSwitches overlapping each other: named by the node list
    assert cidrs(nodeVswitchCidrs=["192.168.1.0/24", "192.168.1.0/25"])[1] == [
        'llm:acs.nodeVswitchCidrs: vSwitch CIDRs overlap (got ["192.168.1.0/24", "192.168.1.0/25", '
        '"192.168.128.0/18", "192.168.192.0/18"]; allowed disjoint)'
    ]
    # and the two pod vSwitches (last pair)
    assert cidrs(podVswitchCidrs=["192.168.200.0/24", "192.168.200.128/25"])[1][0].startswith(
        "llm:acs.podVswitchCidrs: vSwitch CIDRs overlap"
    )


@pytest.mark.parametrize(
    "zones,line",
    [
        (
            ["cn-wulanchabu-a"],
            'llm:acs.zoneIds: two different zones are needed (nodes and pods) (got ["cn-wulanchabu-a"]; allowed two zone IDs)',
        ),
        (
            ["cn-wulanchabu-a", "cn-wulanchabu-a"],
            'llm:acs.zoneIds: two different zones are needed (nodes and pods) (got ["cn-wulanchabu-a", "cn-wulanchabu-a"]; allowed two zone IDs)',
        ),
        (
            ["cn-wulanchabu-a", "cn-wulanchabu-b", "cn-wulanchabu-c"],
            'llm:acs.zoneIds: two different zones are needed (nodes and pods) (got ["cn-wulanchabu-a", "cn-wulanchabu-b", "cn-wulanchabu-c"]; allowed two zone IDs)',
        ),
        (
            ["cn-wulanchabu-b", "cn-wulanchabu-a"],
            "llm:zoneId: in mode acs, the first of llm:acs.zoneIds (jump host, first vSwitches) (got 'cn-wulanchabu-a'; allowed cn-wulanchabu-b)",
        ),
    ],
)
def test_zones(zones, line):
    got, lines = cidrs(zoneIds=zones)
    assert lines == [line]
    assert got == DERIVED  # the network plan does not depend on the zones


def test_an_existing_vpc_or_vswitch_is_refused_in_mode_acs():
    s = settings("acs", network={"vpcId": "vpc-1", "vswitchId": "vsw-1", "existingVpcCidr": "192.168.0.0/16"})
    assert text(R.vswitch_cidrs(s)[1]) == [
        "llm:network.vpcId: mode acs creates its own VPC (got 'vpc-1'; allowed unset)"
    ]
    s = settings("acs", network={"vswitchCidr": "192.168.9.0/24"})
    assert text(R.vswitch_cidrs(s)[1]) == [
        "llm:network.vswitchCidr: mode acs uses llm:acs.nodeVswitchCidrs (got '192.168.9.0/24'; allowed unset)"
    ]


def test_service_cidr_against_the_vpc_both_sides():
    assert cidrs(serviceCidr="192.168.0.0/24")[1] == [  # inside the VPC
        "llm:acs.serviceCidr: overlaps the VPC (got '192.168.0.0/24'; allowed a private range outside 192.168.0.0/16)"
    ]
    vpc = {"vpcCidr": "10.8.0.0/16"}
    s = settings("acs", network=vpc, acs={"serviceCidr": "10.0.0.0/8"})  # contains the VPC
    assert text(R.vswitch_cidrs(s)[1]) == [
        "llm:acs.serviceCidr: overlaps the VPC (got '10.0.0.0/8'; allowed a private range outside 10.8.0.0/16)"
    ]
    for adjacent in ("10.7.0.0/16", "10.9.0.0/16"):
        s = settings("acs", network=vpc, acs={"serviceCidr": adjacent})
        assert R.vswitch_cidrs(s)[1] == [], adjacent
    assert cidrs(serviceCidr="172.16.0.0/16") == (DERIVED, [])


def test_vpc_prefix_length_22_is_the_largest_prefix():
    s = settings("acs", network={"vpcCidr": "10.8.0.0/22"}, acs={"serviceCidr": "172.16.0.0/16"})
    assert R.vswitch_cidrs(s) == ((("10.8.0.0/24", "10.8.1.0/24"), ("10.8.2.0/24", "10.8.3.0/24")), [])
    s = settings("acs", network={"vpcCidr": "10.8.0.0/23"}, acs={"serviceCidr": "172.16.0.0/16"})
    got, problems = R.vswitch_cidrs(s)
    assert got is None
    assert text(problems) == [
        "llm:network.vpcCidr: too small for four vSwitches in mode acs (got '10.8.0.0/23'; allowed /22 or larger)"
    ]


def test_every_network_problem_at_once():
    s = settings(
        "acs",
        zoneId="cn-wulanchabu-c",
        network={"vswitchCidr": "192.168.9.0/24"},
        acs={"serviceCidr": "192.168.0.0/16", "nodeVswitchCidrs": ["192.168.1.0/24"]},
    )
    got, problems = R.vswitch_cidrs(s)
    assert got is None
    assert [p.key for p in problems] == ["zoneId", "network.vswitchCidr", "acs.serviceCidr", "acs.nodeVswitchCidrs"]
    # both lists bad: both reported
    got, problems = R.vswitch_cidrs(acs(nodeVswitchCidrs=["x", "y"], podVswitchCidrs=["192.168.1.0/24"]))
    assert got is None and [p.key for p in problems] == ["acs.nodeVswitchCidrs[0]", "acs.podVswitchCidrs"]


# --- versions and rollout --------------------------------------------------------------------


@pytest.mark.parametrize(
    "version,minor",
    [("1.25.0-aliyunacs.1", "1.25"), ("1.37.12-aliyunacs.30", "1.37"), ("1.30.1-aliyunacs.1", "1.30")],
)
def test_kubernetes_versions_inside_the_schema_range(version, minor):
    s = acs(kubernetesVersion=version)
    assert R.check_versions(s) == [] and R.k8s_minor(s) == minor


@pytest.mark.parametrize("version", ["1.24.9-aliyunacs.1", "1.38.0-aliyunacs.1"])
def test_kubernetes_versions_just_outside_the_schema_range(version):
    s = acs(kubernetesVersion=version)
    assert R.k8s_minor(s) is None
    assert text(R.check_versions(s)) == [
        f"llm:acs.kubernetesVersion: no schemas to validate the manifests against (got '{version}'; allowed {VERSIONS})"
    ]


@pytest.mark.parametrize(
    "version,what",
    [
        ("1.30.1-aliyun.1", "an ACK version string (-aliyun.N); ACS versions end in -aliyunacs.N"),
        ("1.30-aliyunacs.1", "not an ACS version string"),
        ("1.30.1-aliyunacs.", "not an ACS version string"),
        ("v1.30.1-aliyunacs.1", "not an ACS version string"),
        ("1.30.1-aliyunacs.1-x", "not an ACS version string"),
        ("2.30.1-aliyunacs.1", "not an ACS version string"),
    ],
)
def test_kubernetes_version_format(version, what):
    s = acs(kubernetesVersion=version)
    assert R.k8s_minor(s) is None
    assert text(R.check_versions(s)) == [f"llm:acs.kubernetesVersion: {what} (got '{version}'; allowed {VERSIONS})"]


def test_lws_controller_version_needs_a_crd():
    assert text(R.check_versions(acs(lws={"controllerVersion": "v0.6.0"}))) == [
        "llm:acs.lws.controllerVersion: no CRD to validate the LeaderWorkerSet against (got 'v0.6.0'; allowed v0.5.0)"
    ]


@pytest.mark.parametrize(
    "unavailable,surge,bad", [(0, 0, True), (0, 1, False), (1, 0, False), (1, 1, False), (2, 0, False)]
)
def test_lws_rollout_needs_one_of_unavailable_or_surge(unavailable, surge, bad):
    got = text(R.check_versions(acs(lwsMaxUnavailable=unavailable, lwsMaxSurge=surge)))
    assert got == (
        [
            "llm:acs.lwsMaxUnavailable: 0 needs acs.lwsMaxSurge >= 1 (LWS: no rollout could progress) (got 0; allowed >= 1)"
        ]
        if bad
        else []
    )


@pytest.mark.parametrize(
    "klass,qos,bad",
    [("gpu-hpn", "best-effort", True), ("gpu-hpn", "default", False), ("gpu", "best-effort", False)],
)
def test_hpn_pods_take_only_default_qos(klass, qos, bad):
    got = text(R.check_versions(acs(computeClass=klass, computeQos=qos)))
    assert got == (
        ["llm:acs.computeQos: gpu-hpn pods take only qos default (got 'best-effort'; allowed default)"] if bad else []
    )


def test_every_version_problem_at_once():
    s = acs(
        kubernetesVersion="1.30.1-aliyun.1",
        lws={"controllerVersion": "v0.4.0"},
        lwsMaxUnavailable=0,
        computeClass="gpu-hpn",
        computeQos="best-effort",
    )
    assert [p.key for p in R.check_versions(s)] == [
        "acs.kubernetesVersion",
        "acs.lws.controllerVersion",
        "acs.lwsMaxUnavailable",
        "acs.computeQos",
    ]


# --- OSS credentials -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode,present,lines",
    [
        ("rrsa", set(), []),
        ("secret", {"ossAccessKeyId", "ossAccessKeySecret"}, []),
        (
            "secret",
            set(),
            [
                f"llm:ossAccessKeyId: required with llm:acs.ossAuth secret (allowed {SECRET_SET.format(k='ossAccessKeyId')})",
                f"llm:ossAccessKeySecret: required with llm:acs.ossAuth secret (allowed {SECRET_SET.format(k='ossAccessKeySecret')})",
            ],
        ),
        (
            "secret",
            {"ossAccessKeyId", "apiKey"},
            [
                f"llm:ossAccessKeySecret: required with llm:acs.ossAuth secret (allowed {SECRET_SET.format(k='ossAccessKeySecret')})"
            ],
        ),
        (
            "rrsa",
            {"ossAccessKeyId", "ossAccessKeySecret"},
            [
                "llm:ossAccessKeyId: used only with llm:acs.ossAuth secret (got '[secret]'; allowed unset with rrsa)",
                "llm:ossAccessKeySecret: used only with llm:acs.ossAuth secret (got '[secret]'; allowed unset with rrsa)",
            ],
        ),
        (
            "rrsa",
            {"ossAccessKeySecret", "apiKey"},
            ["llm:ossAccessKeySecret: used only with llm:acs.ossAuth secret (got '[secret]'; allowed unset with rrsa)"],
        ),
    ],
)
def test_oss_auth(mode, present, lines):
    assert text(R.check_oss_auth(acs(ossAuth=mode), frozenset(present))) == lines


# --- pod layout ------------------------------------------------------------------------------


def layout(stack: str = "acs", model=QWQ, max_len: int = 8192, series=GU8TF, **acs_changes: Any):
    return R.pod_layout(acs(stack, **acs_changes), model, max_len, series)


def test_a_gpu_count_the_series_does_not_offer():
    got, problems = layout(series=T4, gpusPerPod=8)
    assert got is None
    assert text(problems) == [
        "llm:acs.gpusPerPod: ACS does not offer this GPU count per pod for T4 (got 8; allowed 1, 2, 4)"
    ]
    got, problems = layout(gpusPerPod=3)
    assert got is None and text(problems) == [
        "llm:acs.gpusPerPod: ACS does not offer this GPU count per pod for GU8TF (got 3; allowed 1, 2, 4, 8)"
    ]


@pytest.mark.parametrize(
    "model,series,expected",
    [
        (QWQ, "GU8TF", (1, 1)),
        (QWQ, "L20", (2, 1)),
        (QWQ, "A10", (4, 1)),
        (QWQ, "T4", (4, 2)),
        (L70, "GU8TF", (2, 1)),
        (L70, "A10", (8, 1)),
        (L70, "T4", (4, 3)),
        (R1, "GU8TF", (8, 2)),  # the seed's layout: one pod would fit, with too little KV cache
        (R1, "GU8TEF", (8, 1)),
        (R1, "L20", (8, 3)),
        (R1, "A10", (8, 5)),
    ],
)
def test_derived_layout_is_the_smallest_roomy_fit(model, series, expected):
    """Smallest group first, then fewest GPUs per pod, among counts dividing the heads."""
    ser = GPU_SERIES[series]
    assert layout("acs", model, 8192, ser, gpusPerPod=None) == (expected, [])
    gpus, group = expected
    util = 0.9
    assert acs_pods.group_fits(model, 8192, util, ser, gpus, group)
    assert acs_pods.group_roomy(model, util, ser, gpus, group)
    # nothing smaller is both a fit and roomy
    for g in range(1, group + 1):
        for c in ser.counts:
            if model.attention_heads % c == 0 and (g, c) < (group, gpus):
                assert not (
                    acs_pods.group_fits(model, 8192, util, ser, c, g) and acs_pods.group_roomy(model, util, ser, c, g)
                ), (g, c)


def test_a_fit_without_headroom_beats_no_fit():
    # R1 on GU8TF with one pod: 8 GPUs fit, but not roomily; the derived count takes it anyway
    assert acs_pods.group_fits(R1, 8192, 0.9, GU8TF, 8, 1)
    assert not acs_pods.group_roomy(R1, 0.9, GU8TF, 8, 1)
    assert layout(model=R1, gpusPerPod=None, groupSize=1) == ((8, 1), [])
    assert layout(model=R1, gpusPerPod=8, groupSize=None) == ((8, 2), [])  # roomy at 2 pods


def test_explicit_gpus_and_group_need_only_fit():
    assert layout(model=R1, gpusPerPod=8, groupSize=1) == ((8, 1), [])
    assert layout(model=QWQ, gpusPerPod=2, groupSize=3) == ((2, 3), [])  # taken as given, however roomy


def test_no_fit_names_the_numbers_and_the_key():
    # 706 GiB needed (fit.memory_needed over 8 pods x 4 GPUs); 8 x 4 x 16 GiB x 0.9 = 460.8
    need = fit.memory_needed(R1, 8192, 32) / GIB
    assert round(need) == 706
    got, problems = layout(model=R1, series=T4, gpusPerPod=None)
    assert got is None
    assert text(problems) == [
        "llm:acs.gpuModelSeries: deepseek-r1 needs 706 GiB (weights + KV for 8192 tokens + overhead) but 8 pod(s) x "
        "4 x 16 GiB x 0.9 give 461 GiB (got 'T4'; allowed more GPUs per pod, a larger llm:acs.groupSize, or a series "
        "with more memory)"
    ]
    # with the GPU count given, the key is acs.gpusPerPod and the group is the given one
    got, problems = layout(model=R1, series=A10, gpusPerPod=8, groupSize=2)
    assert got is None
    need = fit.memory_needed(R1, 8192, 16) / GIB
    assert text(problems) == [
        f"llm:acs.gpusPerPod: deepseek-r1 needs {need:.0f} GiB (weights + KV for 8192 tokens + overhead) but 2 pod(s) x "
        "8 x 24 GiB x 0.9 give 346 GiB (got 8; allowed more GPUs per pod, a larger llm:acs.groupSize, or a series "
        "with more memory)"
    ]


def test_the_utilization_setting_counts():
    # QwQ-32B on one GU8TF GPU at 8192 tokens fits at 0.9 but not at a low utilization
    assert layout(model=QWQ, gpusPerPod=1, groupSize=1) == ((1, 1), [])
    s = settings("acs", acs={"gpusPerPod": 1, "groupSize": 1}, vllm={"gpuMemoryUtilization": 0.5})
    got, problems = R.pod_layout(s, QWQ, 8192, GU8TF)
    assert got is None and "x 0.5 give 48 GiB" in str(problems[0])


# --- pod shape and parallelism ---------------------------------------------------------------


@pytest.mark.parametrize("gpus,shape", [(1, (16, 128)), (2, (32, 256)), (4, (64, 512)), (8, (64, 512)), (3, (48, 384))])
def test_default_pod_shape_per_gpu_count(gpus, shape):
    assert R.pod_shape(acs(cpu=None, memoryGib=None), gpus) == shape


def test_given_pod_shape_wins_per_field():
    assert R.pod_shape(acs(cpu=8, memoryGib=None), 1) == (8, 128)
    assert R.pod_shape(acs(cpu=None, memoryGib=64), 1) == (16, 64)
    assert R.pod_shape(acs(cpu=8, memoryGib=64), 1) == (8, 64)


def test_check_pods_heads_shape_and_parallelism():
    # 28 heads: 8 does not divide them (allowed lists the counts that do); 40 heads: it does
    assert text(R.check_pods(acs(cpu=64, memoryGib=512), Q7, GU8TF, 8, 1)) == [
        "llm:acs.gpusPerPod: tensor parallel = GPUs per pod must divide the model's 28 attention heads (got 8; allowed 1, 2, 4)",
    ]
    assert R.check_pods(acs(cpu=64, memoryGib=512), QWQ, GU8TF, 8, 1) == []
    assert R.check_pods(acs(cpu=64, memoryGib=512), Q7, GU8TF, 4, 1) == []
    # GU8TF with 1 GPU: 2-16 vCPU at 1-8 GiB per vCPU, or 22
    assert R.check_pods(acs(cpu=16, memoryGib=128), QWQ, GU8TF, 1, 1) == []
    assert text(R.check_pods(acs(cpu=16, memoryGib=129), QWQ, GU8TF, 1, 1)) == [
        "llm:acs.cpu: GU8TF with 1 GPU takes 2-16 vCPU at 1-8 GiB per vCPU, or 22 vCPU (got '16 vCPU / 129 GiB with 1 GPU(s)')"
    ]
    s = settings("acs", vllm={"tensorParallelSize": 2, "pipelineParallelSize": 2})
    assert text(R.check_pods(s, QWQ, GU8TF, 1, 1)) == [
        "llm:vllm.tensorParallelSize: in mode acs it equals the GPUs per pod (got 2; allowed 1)",
        "llm:vllm.pipelineParallelSize: in mode acs it equals the group size (got 2; allowed 1)",
    ]
    s = settings("acs", vllm={"tensorParallelSize": 1, "pipelineParallelSize": 1})
    assert R.check_pods(s, QWQ, GU8TF, 1, 1) == []
    s = settings("acs-r1", vllm={"tensorParallelSize": 8, "pipelineParallelSize": 2})
    assert R.check_pods(s, R1, GU8TF, 8, 2) == []


# --- the plan parts --------------------------------------------------------------------------


def test_plan_parts_of_the_example_stacks():
    parts, problems = R.acs_plan_parts(acs(), QWQ, 32768, frozenset())
    assert problems == []
    assert parts == {
        "zone_ids": ("cn-wulanchabu-a", "cn-wulanchabu-b"),
        "node_cidrs": DERIVED[0],
        "pod_cidrs": DERIVED[1],
        "series": GU8TF,
        "gpus_per_pod": 1,
        "cpu": 16,
        "memory_gib": 128,
        "shm_gib": 8,
        "group_size": 1,
        "tensor_parallel": 1,
        "pipeline_parallel": 1,
        "k8s_minor": "1.30",
        "lws_image_repository": "registry-cn-wulanchabu-vpc.ack.aliyuncs.com/acs/lws",
        "oss_endpoint": "oss-cn-wulanchabu-internal.aliyuncs.com",
    }
    parts, problems = R.acs_plan_parts(acs("acs-r1"), R1, 16384, frozenset())
    assert problems == []
    assert {k: parts[k] for k in ("gpus_per_pod", "group_size", "tensor_parallel", "pipeline_parallel")} == {
        "gpus_per_pod": 8,
        "group_size": 2,
        "tensor_parallel": 8,
        "pipeline_parallel": 2,
    }
    assert (parts["cpu"], parts["memory_gib"], parts["shm_gib"]) == (64, 512, 32)


@pytest.mark.parametrize("gpus,shm", [(1, 8), (2, 8), (4, 16)])
def test_shm_default_is_4_gib_per_gpu_at_least_8(gpus, shm):
    parts, problems = R.acs_plan_parts(acs(gpusPerPod=gpus, cpu=None, memoryGib=None), QWQ, 8192, frozenset())
    assert problems == [] and parts["shm_gib"] == shm
    parts, _ = R.acs_plan_parts(acs(gpusPerPod=gpus, shmGib=2), QWQ, 8192, frozenset())
    assert parts["shm_gib"] == 2


def test_plan_parts_take_the_given_lws_image():
    parts, _ = R.acs_plan_parts(acs(lws={"imageRepository": "reg.example/lws"}), QWQ, 8192, frozenset())
    assert parts["lws_image_repository"] == "reg.example/lws"


@pytest.mark.parametrize(
    "changes,secrets,key",
    [
        ({"zoneIds": ["cn-wulanchabu-a"]}, frozenset(), "acs.zoneIds"),
        ({"kubernetesVersion": "1.24.0-aliyunacs.1"}, frozenset(), "acs.kubernetesVersion"),
        ({"ossAuth": "secret"}, frozenset(), "ossAccessKeyId"),
        ({"gpuModelSeries": "H20"}, frozenset(), "acs.gpuModelSeries"),
        ({"gpusPerPod": 3}, frozenset(), "acs.gpusPerPod"),
        ({"cpu": 17}, frozenset(), "acs.cpu"),
    ],
)
def test_any_problem_means_no_plan(changes, secrets, key):
    parts, problems = R.acs_plan_parts(acs(**changes), QWQ, 8192, secrets)
    assert parts is None
    assert key in [p.key for p in problems]


def test_unknown_series_text_and_every_problem_at_once():
    parts, problems = R.acs_plan_parts(
        acs(gpuModelSeries="H20", ossAuth="secret", lwsMaxUnavailable=0), QWQ, 8192, frozenset()
    )
    assert parts is None
    assert text(problems) == [
        "llm:acs.lwsMaxUnavailable: 0 needs acs.lwsMaxSurge >= 1 (LWS: no rollout could progress) (got 0; allowed >= 1)",
        f"llm:ossAccessKeyId: required with llm:acs.ossAuth secret (allowed {SECRET_SET.format(k='ossAccessKeyId')})",
        f"llm:ossAccessKeySecret: required with llm:acs.ossAuth secret (allowed {SECRET_SET.format(k='ossAccessKeySecret')})",
        f"llm:acs.gpuModelSeries: unknown ACS GPU model series (got 'H20'; allowed {', '.join(GPU_SERIES)})",
    ]


def test_a_gpu_count_not_dividing_the_heads_means_no_plan():
    parts, problems = R.acs_plan_parts(acs(gpusPerPod=8, cpu=64, memoryGib=512), Q7, 8192, frozenset())
    assert parts is None and [p.key for p in problems] == ["acs.gpusPerPod"]
    # the derived count skips it: 28 heads on GU8TF take 1 GPU
    parts, problems = R.acs_plan_parts(acs(gpusPerPod=None), Q7, 8192, frozenset())
    assert problems == [] and parts["gpus_per_pod"] == 1


def test_every_series_offers_one_gpu_per_pod():
    # pod_layout relies on it: 1 divides every head count, so a derived count always exists
    assert all(1 in s.counts for s in GPU_SERIES.values())
