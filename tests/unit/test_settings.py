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
