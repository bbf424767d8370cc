"""More rule edges (issue 17): the custom model, TLS without public access, the ECS fit's
fallbacks, the Cloud Assistant parameter bounds, host strings and the timeout split.

Each case calls one rule and pins its full problem lines, on both sides of each bound.
"""

from __future__ import annotations

import pytest

from components.config import rules, rules_cloud, rules_observability
from components.config.model import HOST_UNSAFE
from components.sizing import catalog, fit
from tests.unit.test_rules_exact import MODELS, TYPES, settings, text

GIB = catalog.GIB
R1 = MODELS["deepseek-r1"]
Q7 = MODELS["deepseek-r1-distill-qwen-7b"]
A10 = TYPES["ecs.gn7i-c8g1.2xlarge"]
A10X4 = TYPES["ecs.gn7i-4x.8xlarge"]
H20X4 = TYPES["ecs.gn8v-4x.24xlarge"]
EBM = TYPES["ecs.ebmgn8v.48xlarge"]
ERDMA = ", ".join(n for n, t in TYPES.items() if t.erdma)


def custom(**over):
    c = {"name": "my-model", "weightBytes": 20 * GIB, "attentionHeads": 32, "kvBytesPerToken": 131072,
         "maxModelLen": 65536, "servedModelName": "mine", "reasoningParser": "deepseek_r1", "shards": 4}  # fmt: skip
    return {**c, **over}


# --- the custom model -------------------------------------------------------------------------


def test_a_custom_model_is_its_settings():
    spec, problems = rules.model_spec(settings(model=None, customModel=custom()))
    assert problems == []
    assert spec == catalog.ModelSpec(
        key="my-model", hf_repo="my-model", params_b=0, dtype="custom", weight_bytes=20 * GIB, attention_heads=32,
        kv_bytes_per_token=131072, max_model_len=65536, default_max_model_len=32768, served_model_name="mine",
        reasoning_parser="deepseek_r1", shards=4, exact_bytes=True,
    )  # fmt: skip


@pytest.mark.parametrize("limit,default", [(16384, 16384), (32768, 32768), (32769, 32768)])
def test_a_custom_model_default_length_is_its_limit_up_to_32768(limit, default):
    spec, _ = rules.model_spec(settings(model=None, customModel=custom(maxModelLen=limit)))
    assert spec is not None and (spec.max_model_len, spec.default_max_model_len) == (limit, default)


def test_model_and_custom_model_together():
    got, problems = rules.model_spec(settings(customModel=custom()))
    assert got is None
    assert text(problems) == [
        "llm:model: set either `model` or `customModel`, not both (got 'deepseek-r1-distill-qwen-7b')"
    ]


def test_custom_model_names_are_checked_by_their_own_keys():
    s = settings(model=None, customModel=custom(name="a/b", servedModelName="x..y"))
    assert [p.key for p in rules_cloud.check_names(s)] == ["customModel.name", "customModel.servedModelName"]
    s = settings(model=None, customModel=custom(name="a{{b", servedModelName="c}}", reasoningParser="p\nq"))
    assert [p.key for p in rules_cloud.check_host_strings(s)] == [
        "customModel.name",
        "customModel.servedModelName",
        "customModel.reasoningParser",
    ]


# --- disk at the exact boundary ---------------------------------------------------------------


def test_disk_at_exactly_the_weights_plus_5_percent():
    # 20 GiB of weights x 1.05 = 21 GiB exactly: 21 passes, 20 does not and names 21
    model, _ = rules.model_spec(settings(model=None, customModel=custom()))
    assert model is not None
    assert rules.check_disk(settings(model=None, customModel=custom(), modelDisk={"sizeGib": 21}), model) == []
    assert text(rules.check_disk(settings(model=None, customModel=custom(), modelDisk={"sizeGib": 20}), model)) == [
        "llm:modelDisk.sizeGib: too small for the weights (got 20; allowed >= 21)"
    ]


# --- TLS needs public access ------------------------------------------------------------------


def test_tls_certificate_needs_public_access():
    assert text(rules.check_common(settings(publicAccess={"enabled": False, "tls": {"certificateId": "123"}}))) == [
        "llm:publicAccess.tls.certificateId: HTTPS lives on the internet load balancer: it needs "
        "`publicAccess.enabled: true` (got '123'; allowed unset, or set together with publicAccess.enabled and "
        "allowedCidrs)"
    ]
    on = {"enabled": True, "allowedCidrs": ["203.0.113.0/24"], "tls": {"certificateId": "123"}}
    assert rules.check_common(settings(publicAccess=on)) == []


def test_zone_id_is_checked_in_mode_acs_too():
    s = settings("acs", zoneId="cn-beijing-a", acs={"zoneIds": ["cn-beijing-a", "cn-wulanchabu-b"]})
    assert [p.key for p in rules.check_zones(s)] == ["zoneId", "acs.zoneIds[0]"]


# --- the ECS fit ------------------------------------------------------------------------------


def test_a_cluster_on_a_type_without_erdma_lists_the_erdma_types_that_fit():
    s = settings("prod", instanceType="ecs.gn7i-4x.8xlarge")
    fitting = "ecs.ebmgn8is.32xlarge, ecs.gn8is-8x.32xlarge, ecs.gn8v-4x.24xlarge, ecs.gn8v-4x.8xlarge, ecs.ebmgn8v.48xlarge, ecs.gn8v-8x.16xlarge, ecs.gn8v-8x.48xlarge"
    assert text(rules.check_ecs_sizing(s, R1, A10X4, 32768, 4)) == [
        f"llm:instanceType: ecs-cluster needs an eRDMA-capable instance type (got 'ecs.gn7i-4x.8xlarge'; allowed {fitting})"
    ]
    # none fits: every eRDMA type is named
    huge = settings("prod", model=None, customModel=custom(weightBytes=100_000 * GIB))
    model, _ = rules.model_spec(huge)
    assert text(rules.check_ecs_sizing(huge, model, A10X4, 32768, 4)) == [
        f"llm:instanceType: ecs-cluster needs an eRDMA-capable instance type (got 'ecs.gn7i-4x.8xlarge'; allowed {ERDMA})"
    ]


def test_the_fit_counts_every_node():
    # R1 does not fit one node of 4 x 96 GiB, it fits two
    assert not fit.fits(R1, H20X4, 32768, 0.92, 4, 1) and fit.fits(R1, H20X4, 32768, 0.92, 4, 2)
    s = settings("prod", instanceType="ecs.gn8v-4x.24xlarge", vllm={"tensorParallelSize": 4})
    assert rules.check_ecs_sizing(s, R1, H20X4, 32768, 4) == []


def test_the_fit_counts_the_context_length_and_utilization():
    assert rules.check_ecs_sizing(settings(), Q7, A10, 32768, 1) == []
    assert text(rules.check_ecs_sizing(settings(), Q7, A10, 131072, 1))[0].startswith(
        "llm:instanceType: deepseek-r1-distill-qwen-7b needs 23 GiB (weights + KV for 131072 tokens + overhead) but "
        "1 x 1 GPU(s) x 24 GiB x 0.9 give 22 GiB (got 'ecs.gn7i-c8g1.2xlarge'; allowed ecs.gn7i-2x.8xlarge, "
    )
    assert text(rules.check_ecs_sizing(settings(vllm={"gpuMemoryUtilization": 0.5}), Q7, A10, 4096, 1))[0].startswith(
        "llm:instanceType: deepseek-r1-distill-qwen-7b needs 16 GiB (weights + KV for 4096 tokens + overhead) but "
        "1 x 1 GPU(s) x 24 GiB x 0.5 give 12 GiB"
    )


def test_when_no_type_fits_the_allowed_value_says_what_to_do():
    single = settings(model=None, customModel=custom(weightBytes=100_000 * GIB))
    model, _ = rules.model_spec(single)
    assert text(rules.check_ecs_sizing(single, model, A10, 4096, 1))[0].endswith(
        "(got 'ecs.gn7i-c8g1.2xlarge'; allowed no single instance: use mode ecs-cluster)"
    )
    cluster = settings("prod", model=None, customModel=custom(weightBytes=100_000 * GIB))
    assert text(rules.check_ecs_sizing(cluster, model, EBM, 4096, 8))[0].endswith(
        "(got 'ecs.ebmgn8v.48xlarge'; allowed more nodes)"
    )


# --- Cloud Assistant parameter bounds ---------------------------------------------------------


@pytest.mark.parametrize(
    "args,line",
    [
        (["--a"] * 64, None),
        (["--a"] * 65, "65 arguments, 195 characters"),
        (["x" * 768, "y" * 768], None),  # 1536 characters in all
        (["x" * 768, "y" * 769], "2 arguments, 1537 characters"),
    ],
)
def test_extra_args_bounds(args, line):
    got = text(rules_cloud.check_parameter_sizes(settings(vllm={"extraArgs": args})))
    assert got == (
        [
            f"llm:vllm.extraArgs: too long for a Cloud Assistant parameter (got '{line}'; allowed at most 64 "
            "arguments and 1536 characters in all)"
        ]
        if line
        else []
    )


@pytest.mark.parametrize(
    "changes,key,limit",
    [
        ({"vllm": {"reasoningParser": "p" * 65}}, "vllm.reasoningParser", 64),
        ({"model": None, "customModel": custom(reasoningParser="p" * 65)}, "customModel.reasoningParser", 64),
        ({"modelSource": {"uri": "oss://bkt/" + "k" * 1014 + "/"}}, "modelSource.uri", 1024),
    ],
)
def test_string_bounds(changes, key, limit):
    got = text(rules_cloud.check_parameter_sizes(settings(**changes)))
    assert got == [f"llm:{key}: too long (got '{limit + 1} characters'; allowed at most {limit})"]
    # one character less passes
    at = {k: (dict(v) if isinstance(v, dict) else v) for k, v in changes.items()}
    if key == "vllm.reasoningParser":
        at["vllm"]["reasoningParser"] = "p" * 64
    elif key == "customModel.reasoningParser":
        at["customModel"]["reasoningParser"] = "p" * 64
    else:
        at["modelSource"]["uri"] = "oss://bkt/" + "k" * 1013 + "/"
    assert rules_cloud.check_parameter_sizes(settings(**at)) == []


def test_nccl_env_bounds_in_a_cluster_only():
    sixteen = {f"NCCL_{i}": "1" for i in range(16)}
    assert rules_cloud.check_parameter_sizes(settings("prod", cluster={"ncclEnv": sixteen})) == []
    seventeen = {**sixteen, "NCCL_X": "1"}
    assert text(rules_cloud.check_parameter_sizes(settings("prod", cluster={"ncclEnv": seventeen}))) == [
        "llm:cluster.ncclEnv: too many variables (got 17; allowed at most 16)"
    ]
    long_name, long_value = "NCCL_" + "N" * 60, "v" * 129  # 65 characters; 129
    got = text(
        rules_cloud.check_parameter_sizes(
            settings(
                "prod",
                cluster={
                    "ncclEnv": {long_name: "1", "NCCL_V": long_value, "NCCL_OK": "v" * 128, "NCCL_" + "M" * 59: "1"}
                },
            )  # fmt: skip
        )
    )
    assert got == [
        f"llm:cluster.ncclEnv.{long_name}: too long (got '65+1 characters'; allowed a name of at most 64 and a value "
        "of at most 128)",
        "llm:cluster.ncclEnv.NCCL_V: too long (got '6+129 characters'; allowed a name of at most 64 and a value of "
        "at most 128)",
    ]
    # the single shape ignores the cluster settings
    assert rules_cloud.check_parameter_sizes(settings(cluster={"ncclEnv": seventeen})) == []


def test_an_nccl_variable_name_with_a_reference_is_named_without_the_suffix():
    s = settings("prod", cluster={"ncclEnv": {"NCCL_{{X": "1"}})
    assert [p.key for p in rules_cloud.check_host_strings(s)] == ["cluster.ncclEnv.NCCL_{{X"]


@pytest.mark.parametrize("bad", [b for b in HOST_UNSAFE if b != "\n"])  # "\n": the model refuses it first
def test_each_unsafe_sequence_in_an_extra_argument(bad):
    s = settings(vllm={"extraArgs": ["--ok", f"a{bad}b"]})
    assert [p.key for p in rules_cloud.check_host_strings(s)] == ["vllm.extraArgs[1]"]


# --- the serve timeout split ------------------------------------------------------------------


def test_startup_bound_of_exactly_one_second_is_named():
    # 86400 - 3600 (bootstrap) - 82798 (download) = 2: at most 1 s of startup, twice
    s = settings(downloadTimeoutS=82798, vllm={"startupTimeoutS": 2})
    assert text(rules_cloud.check_command_timeouts(s, Q7)) == [
        "llm:vllm.startupTimeoutS: the serve command's timeout (bootstrap wait 3600 + download 82798 + Ray wait 0 + "
        "2 x startup 2 = 86402 s) exceeds Cloud Assistant's maximum command timeout of 86400 s (unverified bound): "
        "lower vllm.startupTimeoutS (got 2; allowed <= 1 with a download bound of 82798 s)"
    ]
    s = settings(downloadTimeoutS=82799, vllm={"startupTimeoutS": 2})  # no startup bound of 1 s is left
    assert [p.key for p in rules_cloud.check_command_timeouts(s, Q7)] == ["downloadTimeoutS"]


def test_download_bound_in_a_cluster_leaves_room_for_ray():
    s = settings("prod", downloadTimeoutS=73801)  # 86400 - 3600 - 1800 - 2 x 3600 = 73800
    assert text(rules_cloud.check_command_timeouts(s, R1)) == [
        "llm:downloadTimeoutS: the serve command's timeout (bootstrap wait 3600 + download 73801 + Ray wait 1800 + "
        "2 x startup 3600 = 86401 s) exceeds Cloud Assistant's maximum command timeout of 86400 s (unverified bound): "
        "lower downloadTimeoutS (got 73801; allowed <= 73800)"
    ]
    assert rules_cloud.check_command_timeouts(settings("prod", downloadTimeoutS=73800), R1) == []


# --- llm:observability ------------------------------------------------------------------------

ALARMS = {"contactGroup": "oncall"}
PUBLIC_DCGM = "nvcr.io/nvidia/k8s/dcgm-exporter:2.3.5-2.6.5-ubuntu20.04"
VPC_DCGM = "registry-vpc.cn-hangzhou.aliyuncs.com/team/dcgm-exporter:2.3.5"
NO_EGRESS = {"egress": "none"}


def obs(stack: str = "dev", network: dict | None = None, **o):
    return text(
        rules_observability.check(settings(stack, observability=o, **({"network": network} if network else {})))
    )


def test_alarms_need_arms_metrics():
    assert obs(alarms=ALARMS, metrics="none") == [
        "llm:observability.alarms: alarms are Prometheus alert rules: they need `observability.metrics: arms` "
        "(got 'none'; allowed arms)"
    ]
    assert obs(alarms=ALARMS, metrics="arms") == []


def test_the_dcgm_image_without_egress_comes_from_the_vpc():
    assert obs(network=NO_EGRESS, metrics="arms", dcgmImage=PUBLIC_DCGM) == [
        "llm:observability.dcgmImage: with `network.egress: none` the DCGM exporter image must come from an in-VPC "
        f"registry (got '{PUBLIC_DCGM}'; allowed a `*-vpc.<region>.*aliyuncs.com/` registry)"
    ]
    assert obs(network=NO_EGRESS, metrics="arms", dcgmImage=VPC_DCGM) == []
    assert obs(metrics="arms", dcgmImage=PUBLIC_DCGM) == []  # with egress
    assert obs(network=NO_EGRESS, metrics="none", logs="sls", dcgmImage=PUBLIC_DCGM) == []  # no DCGM
    assert obs("acs", network=NO_EGRESS, metrics="arms", dcgmImage=PUBLIC_DCGM) == []  # ACS: managed metrics


def test_the_logtail_installer_without_egress_is_internal():
    public = "http://logtail-release-{region}.oss-{region}.aliyuncs.com/linux64/logtail.sh"
    assert obs(network=NO_EGRESS, logs="sls", logtailInstallerUrl=public) == [
        "llm:observability.logtailInstallerUrl: with `network.egress: none` the Logtail installer must come from an "
        "internal endpoint (got 'http://logtail-release-cn-hangzhou.oss-cn-hangzhou.aliyuncs.com/linux64/logt...; "
        "allowed an `oss-<region>-internal.aliyuncs.com` URL)"
    ]
    assert obs(network=NO_EGRESS, logs="sls") == []  # the default is the internal endpoint
    assert obs(logs="sls", logtailInstallerUrl=public) == []
    assert obs(network=NO_EGRESS, logs="none", logtailInstallerUrl=public) == []
    assert obs("acs", network=NO_EGRESS, logs="sls", logtailInstallerUrl=public) == []


def test_every_observability_problem_at_once():
    got = obs(network=NO_EGRESS, metrics="none", logs="sls", alarms=ALARMS,
              logtailInstallerUrl="http://x.example/logtail.sh")  # fmt: skip
    assert [line.split(":")[1] for line in got] == ["observability.alarms", "observability.logtailInstallerUrl"]


def test_a_cluster_only_ever_suggests_erdma_types():
    # Q7 fits many types without eRDMA (A10s), which a cluster cannot use
    s = settings("prod", instanceType="ecs.gn7i-4x.8xlarge", model="deepseek-r1-distill-qwen-7b")
    (line,) = text(rules.check_ecs_sizing(s, Q7, A10X4, 32768, 4))
    allowed = line.split("allowed ", 1)[1].rstrip(")").split(", ")
    assert allowed and all(TYPES[n].erdma for n in allowed)
    # too small on 2 nodes: the types that fit 2 nodes, eRDMA ones only (2 x 8 A10s would fit)
    l70 = MODELS["deepseek-r1-distill-llama-70b"]
    s = settings("prod", instanceType="ecs.gn8is.2xlarge", model="deepseek-r1-distill-llama-70b")
    (line,) = text(rules.check_ecs_sizing(s, l70, TYPES["ecs.gn8is.2xlarge"], 32768, 1))
    assert line.startswith(
        "llm:instanceType: deepseek-r1-distill-llama-70b needs 146 GiB (weights + KV for 32768 tokens + overhead) but "
        "2 x 1 GPU(s) x 48 GiB x 0.92 give 88 GiB (got 'ecs.gn8is.2xlarge'; allowed ecs.gn8is-2x.8xlarge, "
    )
    allowed = line.split("allowed ", 1)[1].rstrip(")").split(", ")
    assert all(TYPES[n].erdma for n in allowed)
    assert fit.fits(l70, TYPES["ecs.gn7i-8x.16xlarge"], 32768, 0.92, 8, 2)  # a type without eRDMA that would fit
