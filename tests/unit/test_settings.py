"""Settings validation and sizing: every bad input named by its key, before any resource."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from components.config.model import Settings
from components.config.problems import ConfigError
from components.config.resolve import resolve
from components.sizing import catalog, fit
from tests import planning as P

BASE = {k.removeprefix("llm:"): v for k, v in P.stack_config().items() if k.startswith("llm:")}


def problems(**changes) -> list[str]:
    raw = {**BASE, **changes}
    raw = {k: v for k, v in raw.items() if v is not None}
    api_key = raw.pop("apiKey", None)
    with pytest.raises(ConfigError) as e:
        resolve(raw, api_key=api_key)
    return [str(p) for p in e.value.problems]


def one(**changes) -> str:
    found = problems(**changes)
    assert len(found) == 1, found
    return found[0]


def test_dev_stack_resolves():
    r = resolve(BASE)
    assert (r.tensor_parallel, r.tensor_parallel_derived, r.max_model_len) == (1, True, 32768)
    assert r.vllm_image.startswith("egs-registry.cn-hangzhou.cr.aliyuncs.com/")


@pytest.mark.parametrize(
    "changes, key, fragment",
    [
        ({"bogus": 1}, "llm:bogus", "unknown key"),
        ({"host": {"erdmaInstallerUrl": "ftp://x/env_setup.sh"}}, "llm:host.erdmaInstallerUrl", "http:// or https://"),
        ({"host": {"erdmaInstallerSha256": "ABC"}}, "llm:host.erdmaInstallerSha256", "64 lower-case hex"),
        ({"host": {"fabricManager": "maybe"}}, "llm:host.fabricManager", "not an allowed value"),
        ({"host": {"fabricManagerPackage": "a b"}}, "llm:host.fabricManagerPackage", "not an RPM package name"),
        ({"vllm": {"maxModelLen": 4096, "maxModelLength": 1}}, "llm:vllm.maxModelLength", "unknown key"),
        ({"model": "gpt-5"}, "llm:model", "unknown model"),
        ({"model": "deepseek-r1"}, "llm:instanceType", "needs"),
        ({"vllm": {"tensorParallelSize": 2}}, "llm:vllm.tensorParallelSize", "must divide"),
        (
            {"instanceType": "ecs.gn7i-4x.8xlarge", "vllm": {"tensorParallelSize": 3}},
            "llm:vllm.tensorParallelSize",
            "attention heads",
        ),
        ({"network": {"vpcCidr": "10.0.0.0/33"}}, "llm:network.vpcCidr", "not a valid"),
        ({"network": {"vpcCidr": "10.0.0.0/16", "vswitchCidr": "192.168.1.0/24"}}, "llm:network.vswitchCidr", "inside"),
        ({"publicAccess": {"enabled": True}}, "llm:publicAccess.allowedCidrs", "required"),
        (
            {"publicAccess": {"enabled": True, "allowedCidrs": ["203.0.113.0/24", "203.0.113.128/25"]}},
            "llm:publicAccess.allowedCidrs",
            "overlap",
        ),
        ({"ssh": {"allowedCidrs": ["0.0.0.0/0"]}}, "llm:ssh.allowedCidrs[0]", "whole internet"),
        ({"modelSource": "s3://bucket/x/"}, "llm:modelSource.uri", "oss://"),
        ({"modelSource": "oss://bucket/no-trailing-slash"}, "llm:modelSource.uri", "oss://"),
        ({"vllm": {"gpuMemoryUtilization": 0}}, "llm:vllm.gpuMemoryUtilization", "(0, 1]"),
        ({"vllm": {"gpuMemoryUtilization": 1.01}}, "llm:vllm.gpuMemoryUtilization", "(0, 1]"),
        ({"vllm": {"maxModelLen": 200000}}, "llm:vllm.maxModelLen", "above the model's limit"),
        ({"billing": {"chargeType": "PrePaid"}}, "llm:billing.period", "PrePaid needs"),
        ({"billing": {"chargeType": "PrePaid", "period": 10}}, "llm:billing.period", "PrePaid needs"),
        ({"network": {"egress": "none"}}, "llm:vllm.image", "in-VPC registry"),
        ({"vllm": {"image": "vllm/vllm-openai:latest"}}, "llm:vllm.image", "latest"),
        ({"vllm": {"extraArgs": ["--api-key=abc"]}}, "llm:vllm.extraArgs", "managed by the stack"),
        ({"mode": "k8s"}, "llm:mode", "not an allowed value"),
        (
            {"modelSource": {"uri": "oss://my-llm-weights/x/", "region": "cn-beijing"}},
            "llm:modelSource.region",
            "region",
        ),
        ({"apiKey": "has spaces and is long enough"}, "llm:apiKey", "A-Z a-z 0-9"),
    ],
)
def test_each_bad_input_names_its_key(changes, key, fragment):
    line = one(**changes)
    assert line.startswith(key + ": "), line
    assert fragment in line


def test_spot_with_prepaid_is_refused():
    found = problems(billing={"chargeType": "PrePaid", "period": 1, "spot": True})
    assert found == ["llm:billing.spot: spot instances are PostPaid only (got true; allowed false with PrePaid)"]


def test_every_problem_is_reported_at_once():
    found = problems(bogus=1, vllm={"gpuMemoryUtilization": 2}, ssh={"allowedCidrs": ["0.0.0.0/0"]},
                     publicAccess={"enabled": True}, billing={"chargeType": "PrePaid"})  # fmt: skip
    keys = sorted(line.split(": ", 1)[0] for line in found)
    assert keys == ["llm:billing.period", "llm:bogus", "llm:publicAccess.allowedCidrs",
                    "llm:ssh.allowedCidrs[0]", "llm:vllm.gpuMemoryUtilization"]  # fmt: skip


def test_unknown_key_lists_what_is_allowed():
    line = one(vllm={"maxModelLength": 1})
    assert "allowed enableChunkedPrefill, extraArgs, gpuMemoryUtilization" in line


def test_model_too_large_names_types_that_fit():
    line = one(model="deepseek-r1-distill-qwen-32b")
    assert "(got 'ecs.gn7i-c8g1.2xlarge'; allowed " in line
    allowed = line.split("allowed ", 1)[1].rstrip(")").split(", ")
    assert "ecs.gn8v.4xlarge" in allowed and "ecs.gn7i-c8g1.2xlarge" not in allowed


def test_secret_api_key_is_never_echoed():
    line = one(apiKey="bad key with secret words")
    assert "secret words" not in line and "[secret]" in line


@given(heads=st.integers(1, 256), gpus=st.sampled_from([1, 2, 4, 8]))
def test_default_tp_divides_heads_and_fits_gpus(heads, gpus):
    spec = catalog.ModelSpec("m", "m", 1, "bf16", 10, heads, 1, 1024, 1024, "m", None)
    tp = fit.default_tensor_parallel(spec, gpus)
    assert heads % tp == 0 and 1 <= tp <= gpus
    assert all(heads % d for d in range(tp + 1, gpus + 1))


@hsettings(max_examples=60)
@given(
    model=st.sampled_from(sorted(catalog.MODELS)),
    inst=st.sampled_from(sorted(catalog.INSTANCE_TYPES)),
    u1=st.floats(0.5, 1.0),
    u2=st.floats(0.5, 1.0),
    length=st.integers(1024, 40960),
)
def test_more_memory_share_never_turns_a_fit_into_a_misfit(model, inst, u1, u2, length):
    m, i = catalog.MODELS[model], catalog.INSTANCE_TYPES[inst]
    tp = fit.default_tensor_parallel(m, i.gpus)
    lo, hi = sorted((u1, u2))
    if fit.fits(m, i, length, lo, tp):
        assert fit.fits(m, i, length, hi, tp)


def test_types_that_fit_really_fit():
    m = catalog.MODELS["qwq-32b"]
    for name in fit.types_that_fit(m, 32768, 0.9):
        i = catalog.INSTANCE_TYPES[name]
        assert fit.fits(m, i, 32768, 0.9, fit.default_tensor_parallel(m, i.gpus))


def test_pulumi_yaml_declares_model_keys_with_matching_defaults():
    project = yaml.safe_load((P.ROOT / "Pulumi.yaml").read_text())
    fields = {f.alias or name: f for name, f in Settings.model_fields.items()}
    kinds = {"string": str, "integer": int, "boolean": bool}
    for full, decl in project["config"].items():
        key = full.removeprefix("llm:")
        assert key in fields, f"{full} is declared in Pulumi.yaml but not in the settings model"
        f = fields[key]
        assert (
            kinds[decl["type"]] in (getattr(f.annotation, "__args__", None) or (f.annotation,))
            or decl["type"] == "string"
        )
        if "default" in decl:
            assert decl["default"] == f.default, full


# ---------------------------------------------------------------------------------------------
# Cloud contracts (issue 9): one bad input per rule, the exact line. Sources of each bound:
# docs/cloud-contracts.md.

_ZONE = "must be a zone of llm:region (checked by prefix, a heuristic: DescribeZones lists the zones)"
_ID = "must be a non-empty ID without whitespace"
_ID_ALLOWED = "allowed an existing ID, e.g. as DescribeVpcs lists it"
_NAME = (
    "must be safe as a name and a path segment: letters, digits, . _ -, starting with a letter or digit,"
    " no `..`, at most 64"
)
_NAME_ALLOWED = "allowed [A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_HOST = (
    "must not contain `{{`, `}}` or a line break (it reaches the host as a Cloud Assistant parameter, and the"
    " agent resolves `{{...}}` references in parameters)"
)
_HOST_ALLOWED = "allowed a single line without {{ or }}"
_IMAGE = "not an image reference (registry/path:tag or @sha256:<64 hex>, lower-case path)"
_IMAGE_ALLOWED = "allowed e.g. egs-registry.<region>.cr.aliyuncs.com/egs/vllm:<tag>"
_CA_MAX = "Cloud Assistant's maximum command timeout of 86400 s (unverified bound)"


@pytest.mark.parametrize(
    "changes, line",
    [
        # Zone of the region (heuristic; DescribeZones is authoritative).
        (
            {"zoneId": "cn-beijing-a"},
            f"llm:zoneId: {_ZONE} (got 'cn-beijing-a'; allowed a zone ID starting with cn-hangzhou, e.g. cn-hangzhou-k)",
        ),
        (
            {"zoneId": "cn-hangzhou"},
            f"llm:zoneId: {_ZONE} (got 'cn-hangzhou'; allowed a zone ID starting with cn-hangzhou, e.g. cn-hangzhou-k)",
        ),
        # IDs passed to the cloud.
        (
            {"network": {"vpcId": "vpc 1", "vswitchId": "vsw-1", "existingVpcCidr": "10.0.0.0/16"}},
            f"llm:network.vpcId: {_ID} (got 'vpc 1'; {_ID_ALLOWED})",
        ),
        (
            {"network": {"vpcId": "vpc-1", "vswitchId": "vsw-1 ", "existingVpcCidr": "10.0.0.0/16"}},
            f"llm:network.vswitchId: {_ID} (got 'vsw-1 '; {_ID_ALLOWED})",
        ),
        ({"imageId": ""}, f"llm:imageId: {_ID} (got ''; {_ID_ALLOWED})"),
        (
            {"ssh": {"keyPairName": "1key"}},
            "llm:ssh.keyPairName: not an ECS key pair name (2-128 characters, starting with a letter)"
            " (got '1key'; allowed [A-Za-z][A-Za-z0-9:_-]{1,127})",
        ),
        # ECS tag rules (TagResources / RunInstances).
        (
            {"tags": {"aliyun-team": "x"}},
            "llm:tags.aliyun-team: a tag key must not start with `aliyun` or `acs:` (reserved)"
            " (got 'aliyun-team'; allowed another prefix)",
        ),
        (
            {"tags": {"acs:x": "x"}},
            "llm:tags.acs:x: a tag key must not start with `aliyun` or `acs:` (reserved) (got 'acs:x'; allowed another prefix)",
        ),
        (
            {"tags": {"k" * 129: "x"}},
            f"llm:tags.{'k' * 129}: a tag key must be 1-128 characters (got '{'k' * 76}...; allowed 1..128 characters)",
        ),
        ({"tags": {"": "x"}}, "llm:tags.: a tag key must be 1-128 characters (got ''; allowed 1..128 characters)"),
        (
            {"tags": {"k": "v" * 129}},
            f"llm:tags.k: a tag value must be at most 128 characters (got '{'v' * 76}...; allowed 0..128 characters)",
        ),
        (
            {"tags": {"site": "https://example.com"}},
            "llm:tags.site: tags must not contain `http://` or `https://` (got 'site=https://example.com'; allowed no URL scheme)",
        ),
        (
            {"tags": {f"t{i}": "x" for i in range(19)}},
            "llm:tags: at most 20 tags per resource, counting the stack's own managed-by and llm-stack"
            " (got 21; allowed at most 18 of your own)",
        ),
        # The image reference grammar (distribution/reference).
        (
            {"vllm": {"image": "Registry.io/Egs/vllm:1"}},
            f"llm:vllm.image: {_IMAGE} (got 'Registry.io/Egs/vllm:1'; {_IMAGE_ALLOWED})",
        ),
        (
            {"vllm": {"image": "reg.io/egs/vllm@sha256:abc"}},
            f"llm:vllm.image: {_IMAGE} (got 'reg.io/egs/vllm@sha256:abc'; {_IMAGE_ALLOWED})",
        ),
        (
            {"vllm": {"image": "reg.io/egs/vllm:1 2"}},
            f"llm:vllm.image: {_IMAGE} (got 'reg.io/egs/vllm:1 2'; {_IMAGE_ALLOWED})",
        ),
        (
            {"vllm": {"image": "reg.io/{{x}}/vllm:1"}},
            "llm:vllm.image: only `{region}` may appear in braces (got 'reg.io/{{x}}/vllm:1')",
        ),
        # Names that become paths and the `model` clients send.
        (
            {"vllm": {"servedModelName": "my/model"}},
            f"llm:vllm.servedModelName: {_NAME} (got 'my/model'; {_NAME_ALLOWED})",
        ),
        ({"vllm": {"servedModelName": "-x"}}, f"llm:vllm.servedModelName: {_NAME} (got '-x'; {_NAME_ALLOWED})"),
        ({"vllm": {"servedModelName": "a..b"}}, f"llm:vllm.servedModelName: {_NAME} (got 'a..b'; {_NAME_ALLOWED})"),
        (
            {"vllm": {"servedModelName": "a {{b}}"}},
            f"llm:vllm.servedModelName: {_NAME} (got 'a {{{{b}}}}'; {_NAME_ALLOWED})",
        ),
        (
            {"modelSource": {"uri": "oss://my-llm-weights/x/", "revision": ".hidden"}},
            f"llm:modelSource.revision: {_NAME} (got '.hidden'; {_NAME_ALLOWED})",
        ),
        # Strings that reach a host through Cloud Assistant.
        (
            {"vllm": {"extraArgs": ["--x={{y}}"]}},
            f"llm:vllm.extraArgs[0]: {_HOST} (got '--x={{{{y}}}}'; {_HOST_ALLOWED})",
        ),
        ({"vllm": {"reasoningParser": "a}}b"}}, f"llm:vllm.reasoningParser: {_HOST} (got 'a}}}}b'; {_HOST_ALLOWED})"),
        (
            {"modelSource": "oss://my-llm-weights/{{x}}/"},
            f"llm:modelSource.uri: {_HOST} (got 'oss://my-llm-weights/{{{{x}}}}/'; {_HOST_ALLOWED})",
        ),
        # Documented bounds: disk by performance level, EIP bandwidth, command timeouts.
        (
            {"modelDisk": {"category": "cloud_essd", "performanceLevel": "PL2", "sizeGib": 200}},
            "llm:modelDisk.sizeGib: a PL2 ESSD must be 461-32768 GiB (got 200; allowed 461..32768, or a lower modelDisk.performanceLevel)",
        ),
        (
            {"modelDisk": {"category": "cloud_essd", "performanceLevel": "PL3"}},
            "llm:modelDisk.sizeGib: a PL3 ESSD must be 1261-32768 GiB (derived from the model: set modelDisk.sizeGib)"
            " (got 100; allowed 1261..32768, or a lower modelDisk.performanceLevel)",
        ),
        (
            {"publicAccess": {"enabled": True, "allowedCidrs": ["203.0.113.0/24"], "bandwidthMbps": 501}},
            "llm:publicAccess.bandwidthMbps: Input should be less than or equal to 500 (got 501)",
        ),
        (
            {"vllm": {"startupTimeoutS": 40000}},
            "llm:vllm.startupTimeoutS: the serve command's timeout (bootstrap wait 3600 + download 3600 + Ray wait 0"
            f" + 2 x startup 40000 = 87200 s) exceeds {_CA_MAX}: lower vllm.startupTimeoutS"
            " (got 40000; allowed <= 39600 with a download bound of 3600 s)",
        ),
        (
            {"downloadTimeoutS": 90000},
            "llm:downloadTimeoutS: the model sync command's timeout (bootstrap wait 3600 + download 90000 = 93600 s)"
            f" exceeds {_CA_MAX}: lower downloadTimeoutS (got 90000; allowed <= 82800)",
        ),
        (
            {"downloadTimeoutS": 80000},
            "llm:downloadTimeoutS: the serve command's timeout (bootstrap wait 3600 + download 80000 + Ray wait 0"
            f" + 2 x startup 3600 = 90800 s) exceeds {_CA_MAX}: lower downloadTimeoutS (got 80000; allowed <= 75600)",
        ),
    ],
)
def test_each_cloud_contract_names_its_key_exactly(changes, line):
    assert problems(**changes) == [line]


def test_cluster_nccl_values_stay_off_cloud_assistant_parameters():
    found = problems(mode="ecs-cluster", model="deepseek-r1-distill-llama-70b", instanceType="ecs.gn8is-4x.16xlarge",
                     cluster={"allowSingleNodeFit": True, "ncclEnv": {"NCCL_DEBUG": "INFO\nx"}})  # fmt: skip
    assert found == [f"llm:cluster.ncclEnv.NCCL_DEBUG: {_HOST} (got 'INFO\\nx'; {_HOST_ALLOWED})"]


def test_zone_heuristic_accepts_both_zone_shapes():
    """cn-hangzhou-k and ap-southeast-1a (zone = region + letter, as Alibaba's provider tests use)."""
    resolve({**BASE, "zoneId": "cn-hangzhou-k"})
    resolve({**BASE, "region": "ap-southeast-1", "zoneId": "ap-southeast-1a",
             "modelSource": {"uri": BASE["modelSource"]["uri"], "region": "ap-southeast-1"}})  # fmt: skip
    assert one(region="ap-southeast-1", zoneId="ap-southeast-10a").startswith("llm:zoneId: ")


def test_acs_zone_ids_belong_to_the_region():
    base = {k.removeprefix("llm:"): v for k, v in P.stack_config("acs").items() if k.startswith("llm:")}
    resolve(base)
    raw = {**base, "acs": {**base["acs"], "zoneIds": ["cn-wulanchabu-a", "cn-beijing-b"]}}
    with pytest.raises(ConfigError) as e:
        resolve(raw)
    assert [str(p) for p in e.value.problems] == [
        f"llm:acs.zoneIds[1]: {_ZONE} (got 'cn-beijing-b'; allowed a zone ID starting with cn-wulanchabu, e.g. cn-wulanchabu-k)"
    ]


def test_contract_problems_come_all_at_once():
    found = problems(zoneId="cn-beijing-a", imageId=" ", tags={"acs:x": "y"}, vllm={"servedModelName": "a/b"},
                     modelDisk={"category": "cloud_essd", "performanceLevel": "PL3"})  # fmt: skip
    keys = [line.split(": ", 1)[0] for line in found]
    assert keys == ["llm:zoneId", "llm:imageId", "llm:tags.acs:x", "llm:vllm.servedModelName", "llm:modelDisk.sizeGib"]


def test_image_grammar_accepts_real_references():
    digest = "a" * 64
    for image in ("vllm/vllm-openai:v0.8.5", "localhost:5000/egs/vllm:1", f"reg.io/egs/vllm@sha256:{digest}",
                  f"reg.io/egs/vllm:1@sha256:{digest}", "egs-registry.{region}-vpc.cr.aliyuncs.com/egs/vllm:0.8.5"):  # fmt: skip
        resolve({**BASE, "vllm": {**BASE["vllm"], "image": image}})


def test_stack_tags_are_the_ones_counted():
    from components.common.naming import merge_tags
    from components.config.model import STACK_TAG_KEYS

    assert set(merge_tags({}, "dev")) == set(STACK_TAG_KEYS)


def test_counts_stay_within_one_invocation():
    """Every node runs in one Cloud Assistant invocation: at most 50 instance IDs (TF docs)."""
    from components.config.model import MAX_INVOCATION_INSTANCES, MAX_NODES

    assert MAX_NODES <= MAX_INVOCATION_INSTANCES


def test_fixed_timeouts_and_nat_bandwidth_within_documented_bounds():
    from components.common.network import NetworkArgs
    from components.config.model import COMMAND_TIMEOUT_MAX_S, COMMAND_TIMEOUT_MIN_S
    from components.ecs import host_env

    assert COMMAND_TIMEOUT_MIN_S <= host_env.ray_timeout_s() <= COMMAND_TIMEOUT_MAX_S
    assert host_env.serve_timeout_for(1, 1, cluster=False) >= COMMAND_TIMEOUT_MIN_S
    # The NAT EIP is PayByTraffic: 1-200 Mbit/s (pulumi_alicloud EipAddress docstring).
    assert 1 <= NetworkArgs.__dataclass_fields__["nat_bandwidth_mbps"].default <= 200


def test_url_settings_are_known():
    """A new URL-valued setting needs a scheme rule: the inventory is pinned here."""
    from pydantic import BaseModel

    def walk(model: type[BaseModel], prefix: str = "") -> list[str]:
        out = []
        for name, f in model.model_fields.items():
            key = prefix + (f.alias or name)
            for cand in getattr(f.annotation, "__args__", (f.annotation,)):
                if isinstance(cand, type) and issubclass(cand, BaseModel):
                    out += walk(cand, key + ".")
            if key.lower().endswith(("url", "uri")):
                out.append(key)
        return out

    assert sorted(walk(Settings)) == [
        "acs.lws.chartUrl", "host.erdmaInstallerUrl", "modelSource.uri", "observability.logtailInstallerUrl",
    ]  # fmt: skip
