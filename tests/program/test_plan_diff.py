"""`plan --diff` proves the in-place promise: serving changes never touch the machine."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from planner import diff as plan_diff
from planner import run as plan
from tests import planning as P
from tests.regenerate_golden import GOLDEN

# The commands are static (issue 13): a settings change re-runs the invocation only.
SERVE = {"serving-invocation"}
SYNC = {"model-sync-invocation"}
MACHINE = {"node-instance", "node-model-disk", "node-model-disk-attach", "node-role-attach"}


@pytest.fixture(scope="module")
def base():
    return plan.resources_json(P.run(None))


def changed_after(tmp_path, base, **changes):
    new = plan.resources_json(P.run(tmp_path, P.with_changes(P.stack_config(), **changes)))
    d = plan_diff.diff_resources(base, new)
    assert d["added"] == [] and d["removed"] == [], d
    return d, {c["name"] for c in d["changed"]}


@pytest.mark.parametrize(
    "changes",
    [
        {"vllm": {"maxModelLen": 16384}},
        {"vllm": {"gpuMemoryUtilization": 0.85}},
        {"vllm": {"image": "egs-registry.cn-hangzhou.cr.aliyuncs.com/egs/vllm:0.9.1-pytorch2.7-cu128-20250612"}},
        {"vllm": {"extraArgs": ["--max-num-seqs", "64"]}},
        {"apiKeyVersion": 2},
    ],
    ids=["max-model-len", "gpu-memory", "image", "extra-args", "key-rotation"],
)
def test_serving_setting_changes_only_the_serving_run(tmp_path, base, changes):
    d, names = changed_after(tmp_path, base, **changes)
    expected = SERVE | ({"api-key-generated"} if "apiKeyVersion" in changes else set())
    assert names == expected
    for c in d["changed"]:
        if c["name"] in SERVE:
            assert {x["effect"] for x in c["changes"]} == {plan_diff.REPLACES}


def test_model_revision_changes_sync_and_serving_only(tmp_path, base):
    src = {"uri": "oss://my-llm-weights/deepseek-ai/DeepSeek-R1-Distill-Qwen-7B/", "revision": "2025-02-01"}
    _, names = changed_after(tmp_path, base, modelSource=src)
    assert names == SYNC | SERVE


def test_other_model_never_touches_instance_disk_or_user_data(tmp_path, base):
    src = {"uri": "oss://my-llm-weights/deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B/"}
    _, names = changed_after(tmp_path, base, model="deepseek-r1-distill-qwen-1.5b", modelSource=src)
    assert names & MACHINE == set()
    # The read policy follows the new prefix (a new policy version, in place).
    assert names == SYNC | SERVE | {"model-access-policy"}


def test_user_data_change_is_flagged_as_a_reboot():
    old = [
        {"urn": "u", "name": "n", "type": "alicloud:ecs/instance:Instance", "inputs": {"userData": "a"}, "options": {}}
    ]
    new = [{**old[0], "inputs": {"userData": "b", "tags": {"x": "1"}}}]
    d = plan_diff.diff_resources(old, new)
    effects = {c["property"]: c["effect"] for c in d["changed"][0]["changes"]}
    # tags: updated by a helper outside this resource's file, so the facts leave it unknown.
    assert effects == {"userData": plan_diff.REBOOTS, "tags": plan_diff.UNKNOWN}
    assert "| `n` | userData | updates in place (reboots the instance) | a | b |" in plan_diff.markdown(d)


def test_effects_follow_the_provider_schema():
    # TF @81c43b67: the instance's top-level vswitch_id is not ForceNew (ModifyInstanceVpcAttribute
    # with a stop and start); nat_type updates in place; network_type is never sent again.
    assert plan_diff.effect("alicloud:ecs/instance:Instance", "vswitchId") == plan_diff.REBOOTS
    assert plan_diff.effect("alicloud:vpc/natGateway:NatGateway", "natType") == plan_diff.IN_PLACE
    assert plan_diff.effect("alicloud:vpc/natGateway:NatGateway", "networkType") == plan_diff.RECORDED
    assert plan_diff.effect("alicloud:ecs/instance:Instance", "networkInterfaceTrafficMode") == plan_diff.REPLACES


def test_unknown_properties_are_not_guessed():
    assert plan_diff.effect("alicloud:vpc/network:Network", "noSuchProperty") == plan_diff.UNKNOWN
    assert plan_diff.effect("kubernetes:apps/v1:Deployment", "spec") == plan_diff.UNKNOWN


def cli(*args):
    return subprocess.run([sys.executable, "-m", "stackctl", "plan", *args], cwd=P.ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_cli_plan_diff_exit_code_and_json(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    assert cli("--stack", "dev", "--out", str(old)).returncode == 0
    for name in ("resources.json", "outputs.json", "summary.md", "files/node-instance.user-data.sh",
                 "files/serving-command.sh", "files/model-sync-command.sh"):  # fmt: skip
        assert (old / name).is_file(), name
    same = cli("--stack", "dev", "--out", str(new), "--diff", str(old), "--exit-code")
    assert same.returncode == 0 and "No changes." in same.stdout

    cfg = P.write_stack(tmp_path, P.with_changes(P.stack_config(), vllm={"maxModelLen": 8192}))
    md = cli("--stack", "dev", "--config-file", str(cfg), "--out", str(new), "--diff", str(old), "--exit-code")
    assert md.returncode == 1
    assert "| `serving-invocation` | vllmArgs | maxModelLen | 32768 | 8192 |" in md.stdout
    assert "| serving interruption | vLLM reload on one group" in md.stdout
    js = cli("--stack", "dev", "--config-file", str(cfg), "--out", str(new), "--diff", str(old), "--json")
    assert js.returncode == 0
    out = json.loads(js.stdout)
    assert {c["name"] for c in out["changed"]} == SERVE
    assert out["impact"]["vllm"] == "restarts (new settings)"
    assert out["impact"]["reruns"] == [
        {"phase": "serving (vLLM)", "run": "serving-invocation", "nodes": ["node"], "newRun": False}
    ]


def test_cli_config_error_exits_2_and_writes_nothing(tmp_path):
    cfg = P.write_stack(tmp_path, P.with_changes(P.stack_config(), bogus=1, vllm={"gpuMemoryUtilization": 3}))
    out = tmp_path / "out"
    res = cli("--stack", "dev", "--config-file", str(cfg), "--out", str(out))
    assert res.returncode == 2
    assert not out.exists()
    lines = res.stderr.strip().splitlines()
    assert lines == [
        "llm:vllm.gpuMemoryUtilization: must be in (0, 1] (got 3)",
        "llm:bogus: unknown key (got '1'; allowed acs, apiKeyVersion, billing, cluster, customModel, downloadTimeoutS, encryption, "
        "host, imageId, instanceType, mode, model, modelDisk, modelSource, network, observability, publicAccess, region, "
        "replicas, ssh, tags, vllm, zoneId)",
    ]


def test_program_raises_the_same_lines_under_pulumi_up(tmp_path):
    """Under the engine, the program's own check raises RunError with the same lines."""
    import pulumi

    from components.config import load as config

    cfg_file = P.write_stack(tmp_path, P.with_changes(P.stack_config(), vllm={"gpuMemoryUtilization": 3}))
    engine_cfg, secret = plan.merged_config(P.ROOT, cfg_file)
    pulumi.runtime.set_all_config(engine_cfg, secret)
    with pytest.raises(pulumi.RunError) as e:
        config.load()
    assert str(e.value).splitlines()[1:] == ["llm:vllm.gpuMemoryUtilization: must be in (0, 1] (got 3)"]


def test_a_config_error_leaves_the_next_in_process_plan_working(tmp_path):
    """A bad config used to leave the mock runtime half set up, and the next plan hung."""
    bad = P.write_stack(tmp_path, P.with_changes(P.stack_config(), vllm={"gpuMemoryUtilization": 3}))
    code = (
        "from pathlib import Path\n"
        "from planner import run as plan\n"
        "try:\n"
        f"    plan.run_program('dev', Path({str(bad)!r}))\n"
        "except plan.PlanConfigError:\n"
        "    print('config error')\n"
        "print(len(plan.run_program('dev').records))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=P.ROOT, capture_output=True, text=True, timeout=60)
    assert res.stdout.split() == [
        "config",
        "error",
        str(len(json.loads((GOLDEN / "dev" / "resources.json").read_text()))),
    ], res.stderr
