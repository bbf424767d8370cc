"""acs settings: bad input stops with one `llm:<key>` line each (exit 2); derived pod layouts."""

from __future__ import annotations

import ipaddress
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.sizing import acs_pods, cidr
from planner import run as plan
from tests import planning as P


def _problems(tmp_path, **changes) -> str:
    """The lines the plan prints for this config (the same check it makes before running the
    program, run here without the mock runtime: a program stopped half-way leaves that runtime in
    a state that hangs the next in-process plan)."""
    from pulumi.runtime.config import set_all_config

    from components.config.load import resolve_engine_config
    from components.config.problems import ConfigError

    values, secret_keys = plan.merged_config(
        P.ROOT, P.write_stack(tmp_path, P.with_changes(P.stack_config("acs"), **changes))
    )
    set_all_config(values, secret_keys)
    try:
        with pytest.raises(ConfigError) as e:
            resolve_engine_config()
    finally:
        set_all_config({})
    return str(e.value)


def test_service_cidr_overlapping_the_vpc(tmp_path):
    out = _problems(tmp_path, acs={"serviceCidr": "192.168.128.0/20"})
    assert "llm:acs.serviceCidr: overlaps the VPC (got '192.168.128.0/20'" in out


def test_one_zone(tmp_path):
    out = _problems(tmp_path, acs={"zoneIds": ["cn-wulanchabu-a"]})
    assert "llm:acs.zoneIds: two different zones are needed" in out


def test_unknown_gpu_series(tmp_path):
    out = _problems(tmp_path, acs={"gpuModelSeries": "H100"})
    assert "llm:acs.gpuModelSeries: unknown ACS GPU model series (got 'H100'; allowed GU8TF, GU8TEF, L20" in out


def test_gpu_count_not_offered(tmp_path):
    out = _problems(tmp_path, acs={"gpusPerPod": 3})
    assert "llm:acs.gpusPerPod: ACS does not offer this GPU count per pod for GU8TF (got 3; allowed 1, 2, 4, 8)" in out


def test_oss_secret_without_the_secret_values(tmp_path):
    out = _problems(tmp_path, acs={"ossAuth": "secret"})
    assert "llm:ossAccessKeyId: required with llm:acs.ossAuth secret" in out
    assert "llm:ossAccessKeySecret: required with llm:acs.ossAuth secret" in out


def test_oss_keys_without_oss_secret_mode(tmp_path):
    out = _problems(tmp_path, ossAccessKeyId={"secure": "x"})
    assert "llm:ossAccessKeyId: used only with llm:acs.ossAuth secret" in out


def test_every_problem_at_once_and_exit_2(tmp_path):
    cfg = P.with_changes(
        P.stack_config("acs"),
        acs={
            "zoneIds": ["cn-wulanchabu-a"],
            "serviceCidr": "192.168.0.0/16",
            "gpuModelSeries": "X",
            "ossAuth": "secret",
        },
    )
    path = P.write_stack(tmp_path, cfg)
    cmd = [sys.executable, "-m", "stackctl", "plan", "--stack", "acs", "--config-file", str(path)]
    run = subprocess.run(
        [*cmd, "--out", str(tmp_path / "out")], cwd=P.ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2, run.stderr
    err = run.stderr.splitlines()
    for key in ("acs.zoneIds", "acs.serviceCidr", "acs.gpuModelSeries", "ossAccessKeyId", "ossAccessKeySecret"):
        assert any(line.startswith(f"llm:{key}: ") for line in err), key
    assert not (tmp_path / "out").exists()


def test_pod_shape_rules_for_gu8tf(tmp_path):
    out = _problems(tmp_path, acs={"cpu": 20})
    assert "llm:acs.cpu: GU8TF with 1 GPU takes 2-16 vCPU at 1-8 GiB per vCPU, or 22 vCPU" in out
    assert acs_pods.shape_problem("GU8TF", 8, 64, 512) is None
    assert acs_pods.shape_problem("GU8TF", 8, 64, 600)
    assert acs_pods.shape_problem("GU8TF", 1, 22, 176) is None


def test_model_that_does_not_fit_names_the_key(tmp_path):
    cfg = dict(model="deepseek-r1", acs={"gpuModelSeries": "L20", "gpusPerPod": 8, "groupSize": 1})
    out = _problems(tmp_path, **cfg)
    assert "llm:acs.gpusPerPod: deepseek-r1 needs" in out


def test_parallelism_must_match_the_pod_layout(tmp_path):
    out = _problems(tmp_path, vllm={"tensorParallelSize": 2})
    assert "llm:vllm.tensorParallelSize: in mode acs it equals the GPUs per pod" in out


def test_zone_id_is_the_first_zone(tmp_path):
    out = _problems(tmp_path, zoneId="cn-wulanchabu-c")
    assert "llm:zoneId: in mode acs, the first of llm:acs.zoneIds" in out


def _resolve(**changes):
    from components.config.plans import AcsPlan
    from components.config.resolve import resolve

    cfg = P.with_changes(P.stack_config("acs"), **changes)
    plan = resolve({k.removeprefix("llm:"): v for k, v in cfg.items()})
    assert isinstance(plan, AcsPlan)
    return plan


@pytest.mark.parametrize(
    ("model", "series", "gpus", "group"),
    [
        ("qwq-32b", "GU8TF", 1, 1),
        ("qwq-32b", "L20", 2, 1),
        ("deepseek-r1-distill-llama-70b", "GU8TF", 2, 1),
        # R1 would squeeze into one 8 x 96 GB pod with ~30 GiB of KV cache: the seed's 2 x 8 instead.
        ("deepseek-r1", "GU8TF", 8, 2),
        ("deepseek-r1", "GU8TEF", 8, 1),
    ],
)
def test_derived_pod_layout(model, series, gpus, group):
    a = _resolve(model=model, acs={"gpuModelSeries": series, "gpusPerPod": None}, vllm={"maxModelLen": 16384})
    assert (a.gpus_per_pod, a.group_size, a.tensor_parallel, a.pipeline_parallel) == (gpus, group, gpus, group)
    assert a.lws == (group > 1)


def test_default_cidr_plan():
    assert cidr.plan_acs_cidrs("192.168.0.0/16") == (
        ("192.168.0.0/24", "192.168.64.0/24"),
        ("192.168.128.0/18", "192.168.192.0/18"),
    )


@given(st.sampled_from(["10.0.0.0", "172.16.0.0", "192.168.0.0"]), st.integers(min_value=8, max_value=22))
def test_cidr_plan_stays_inside_the_vpc_and_disjoint(base, prefix):
    vpc = ipaddress.ip_network(f"{base}/{prefix}", strict=False)
    if not vpc.is_private:
        return
    nodes, pods = cidr.plan_acs_cidrs(str(vpc))
    nets = [ipaddress.ip_network(c) for c in (*nodes, *pods)]
    assert all(n.subnet_of(vpc) for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])
    assert all(n.prefixlen <= 24 for n in nets)


def test_an_ack_version_string_is_refused_with_the_acs_format(tmp_path):
    out = _problems(tmp_path, acs={"kubernetesVersion": "1.33.1-aliyun.1"})
    assert (
        "llm:acs.kubernetesVersion: an ACK version string (-aliyun.N); ACS versions end in -aliyunacs.N "
        "(got '1.33.1-aliyun.1'; allowed an ACS version 1.25-1.37 like 1.30.1-aliyunacs.1)"
    ) in out


@pytest.mark.parametrize(
    ("version", "what"),
    [
        ("1.30", "not an ACS version string"),
        ("1.30.1-aliyunacs", "not an ACS version string"),
        ("v1.30.1-aliyunacs.1", "not an ACS version string"),
        ("1.99.1-aliyunacs.1", "no schemas to validate the manifests against"),
    ],
)
def test_a_version_in_the_wrong_format_names_the_key(tmp_path, version, what):
    out = _problems(tmp_path, acs={"kubernetesVersion": version})
    assert f"llm:acs.kubernetesVersion: {what} (got '{version}'" in out


def test_an_acs_version_resolves_to_its_minor():
    assert _resolve(acs={"kubernetesVersion": "1.31.1-aliyunacs.2"}).k8s_minor == "1.31"
    assert _resolve().settings.acs.kubernetes_version.endswith("-aliyunacs.1")


def test_a_bad_add_on_name_names_the_key(tmp_path):
    out = _problems(tmp_path, acs={"dnsAddon": "Core DNS"})
    assert "llm:acs.dnsAddon: " in out and "a-z 0-9 -" in out
