"""ecs-cluster: settings rules, the N-node graph under mocks, and what a change re-runs."""

from __future__ import annotations

import base64

import pytest

from components.config.problems import ConfigError
from components.config.resolve import resolve
from planner import diff as plan_diff
from planner import run as plan
from tests import planning as P

PROD = {k.removeprefix("llm:"): v for k, v in P.stack_config("prod").items() if k.startswith("llm:")}
SG_RULE = "alicloud:ecs/securityGroupRule:SecurityGroupRule"


def problems(**changes) -> list[str]:
    raw = {k: v for k, v in {**PROD, **changes}.items() if v is not None}
    with pytest.raises(ConfigError) as e:
        resolve(raw)
    return [str(p) for p in e.value.problems]


def test_prod_resolves_to_tp8_pp2():
    r = resolve(PROD)
    assert (r.nodes, r.tensor_parallel, r.pipeline_parallel) == (2, 8, 2)
    assert r.nccl_env == {
        "NCCL_IB_DISABLE": "0", "NCCL_NET_GDR_LEVEL": "5", "NCCL_P2P_LEVEL": "5",
        "NCCL_IB_GID_INDEX": "1", "NCCL_SOCKET_IFNAME": "eth0", "GLOO_SOCKET_IFNAME": "eth0",
    }  # fmt: skip


def test_nccl_overrides_merge_key_by_key():
    r = resolve({**PROD, "cluster": {**PROD["cluster"], "ncclEnv": {"NCCL_IB_GID_INDEX": "3", "NCCL_DEBUG": "INFO"}}})
    assert r.nccl_env is not None
    assert (r.nccl_env["NCCL_IB_GID_INDEX"], r.nccl_env["NCCL_DEBUG"], r.nccl_env["NCCL_P2P_LEVEL"]) == (
        "3",
        "INFO",
        "5",
    )


@pytest.mark.parametrize(
    "changes, key, fragment",
    [
        ({"cluster": {"nodes": 1, "allowSingleNodeFit": True}}, "llm:cluster.nodes", "greater than or equal to 2"),
        ({"cluster": {"nodes": 17, "allowSingleNodeFit": True}}, "llm:cluster.nodes", "less than or equal to 16"),
        # 70B's derived disk (215 GiB) is below prod's PL2 minimum (461 GiB): size it, one problem left.
        ({"instanceType": "ecs.gn7i-8x.16xlarge", "model": "deepseek-r1-distill-llama-70b",
          "modelDisk": {"category": "cloud_essd", "performanceLevel": "PL2", "sizeGib": 500}}, "llm:instanceType", "eRDMA"),
        ({"vllm": {"tensorParallelSize": 8, "pipelineParallelSize": 3}}, "llm:vllm.pipelineParallelSize", "TP x PP"),
        ({"vllm": {"pipelineParallelSize": 4}}, "llm:vllm.pipelineParallelSize", "one pipeline stage per node"),
        ({"cluster": {"nodes": 2}}, "llm:mode", "fits on one"),
        ({"cluster": {"allowSingleNodeFit": True, "ncclEnv": {"LD_PRELOAD": "x"}}}, "llm:cluster.ncclEnv.LD_PRELOAD", "NCCL_/GLOO_"),
        ({"instanceType": None}, "llm:instanceType", "required in mode ecs-cluster"),
    ],
)  # fmt: skip
def test_bad_cluster_input_names_its_key(changes, key, fragment):
    found = problems(**changes)
    assert len(found) == 1, found
    assert found[0].startswith(key + ": ") and fragment in found[0], found[0]


def test_non_erdma_type_lists_erdma_types_that_fit():
    line = problems(instanceType="ecs.gn7i-8x.16xlarge")[0]
    allowed = line.split("allowed ", 1)[1].rstrip(")").split(", ")
    assert "ecs.ebmgn8v.48xlarge" in allowed and all("gn7i" not in t for t in allowed)


def cluster_plan(tmp_path, nodes: int, **changes):
    changes.setdefault("cluster", {"nodes": nodes, "allowSingleNodeFit": True})
    cfg = P.with_changes(P.stack_config("prod"), **changes)
    return P.run(tmp_path, cfg)


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    return cluster_plan(tmp_path_factory.mktemp("n2"), 2)


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    return cluster_plan(tmp_path_factory.mktemp("n4"), 4)


@pytest.mark.parametrize("fixture, n", [("two", 2), ("four", 4)])
def test_nodes_names_traffic_mode_and_placement(request, fixture, n):
    result = request.getfixturevalue(fixture)
    instances = P.of_type(result, "alicloud:ecs/instance:Instance")
    names = sorted(i["inputs"]["instanceName"] for i in instances)
    assert names == sorted(["llm-dev-master"] + [f"llm-dev-worker-{i}" for i in range(1, n)])
    sets = P.of_type(result, "alicloud:ecs/ecsDeploymentSet:EcsDeploymentSet")
    assert len(sets) == 1 and sets[0]["inputs"]["strategy"] == "LowLatency"
    for i in instances:
        assert i["inputs"]["networkInterfaceTrafficMode"] == "HighPerformance"
        assert i["inputs"]["deploymentSetId"] == "placement-set-id"
        assert i["inputs"]["instanceType"] == "ecs.ebmgn8v.48xlarge"
        assert i["options"]["ignoreChanges"] == ["imageId"]
        assert "LLM_" not in i["inputs"]["userData"]  # static since release 2
    assert len(P.of_type(result, "alicloud:ecs/ecsDisk:EcsDisk")) == n
    # Host setup, one per node, carries eRDMA, Fabric Manager (ebmgn8v: NVSwitch) and the Ray unit.
    setups = sorted(c["name"] for c in P.of_type(result, "alicloud:ecs/command:Command") if "host-setup" in c["name"])
    assert setups == sorted(["node-host-setup-command"] + [f"worker-{i}-host-setup-command" for i in range(1, n)])
    for c in P.of_type(result, "alicloud:ecs/command:Command"):
        if "host-setup" in c["name"]:
            text = base64.b64decode(c["inputs"]["commandContent"]).decode()
            assert "LLM_ERDMA=1\n" in text and "LLM_FABRIC_MANAGER=1\n" in text
            assert "export LLM_UNITS='llm-vllm.service llm-ray.service'" in text


@pytest.mark.parametrize("fixture", ["two", "four"])
def test_security_group_self_rule_and_nothing_world_open(request, fixture):
    rules = [r["inputs"] for r in P.of_type(request.getfixturevalue(fixture), SG_RULE)]
    intra = [r for r in rules if "sourceSecurityGroupId" in r]
    assert intra == [{
        "description": "llm-dev cluster nodes to each other (Ray, NCCL)", "ipProtocol": "all", "nicType": "intranet",
        "policy": "accept", "portRange": "-1/-1", "priority": 1, "securityGroupId": "network-sg-id",
        "sourceSecurityGroupId": "network-sg-id", "type": "ingress",
    }]  # fmt: skip
    cidr_rules = sorted((r["portRange"], r["cidrIp"]) for r in rules if "cidrIp" in r)
    assert cidr_rules == [("8000/8000", "192.168.0.0/16"), ("8000/8000", "203.0.113.0/24")]


@pytest.mark.parametrize("fixture, n", [("two", 2), ("four", 4)])
def test_invocations_order_and_targets(request, fixture, n):
    res = P.by_name(request.getfixturevalue(fixture))
    ids = ["node-instance-id"] + [f"worker-{i}-instance-id" for i in range(1, n)]
    assert res["model-sync-invocation"]["inputs"]["instanceIds"] == ids
    assert res["ray-invocation"]["inputs"]["instanceIds"] == ids
    assert res["serving-invocation"]["inputs"]["instanceIds"] == ["node-instance-id"]
    # Serve waits for the Ray run (which itself returns without waiting for joins).
    assert "ray-invocation" in res["serving-invocation"]["options"]["dependsOn"]
    assert "ray-invocation" not in res["model-sync-invocation"]["options"].get("dependsOn", [])
    serve = P.phase_text(res, "serving")
    assert f"export LLM_CLUSTER_NODES={n}\n" in serve
    assert "--tensor-parallel-size\n8\n" in serve and f"--pipeline-parallel-size\n{n}\n" in serve
    assert "--distributed-executor-backend\nray\n" in serve and "--enforce-eager" not in serve
    assert "--max-model-len\n32768\n" in serve
    ray = P.phase_text(res, "ray")
    assert "export LLM_RAY_HEAD_IP=192.168.0.10\n" in ray and "NCCL_IB_GID_INDEX=1" in ray


def test_cluster_outputs(two):
    out = plan.outputs_json(two)
    assert out["masterPrivateIp"] == "192.168.0.10"
    assert out["rayDashboard"] == "http://192.168.0.10:8265"
    assert out["publicEndpoint"] == "http://203.0.113.10:8000/v1"
    assert out["servedModelName"] == "ds" and out["pipelineParallelSize"] == 2


def changed(tmp_path, base, **changes):
    new = plan.resources_json(cluster_plan(tmp_path, 2, **changes))
    d = plan_diff.diff_resources(plan.resources_json(base), new)
    assert d["added"] == [] and d["removed"] == []
    return {c["name"] for c in d["changed"]}


def test_vllm_only_change_touches_only_serving(tmp_path, two):
    # The command is static (issue 13): only the invocation's parameters change.
    assert changed(tmp_path, two, vllm={"maxModelLen": 16384, "gpuMemoryUtilization": 0.92}) == {"serving-invocation"}


def test_nccl_change_touches_ray_and_serving(tmp_path, two):
    names = changed(
        tmp_path, two, cluster={"nodes": 2, "allowSingleNodeFit": True, "ncclEnv": {"NCCL_IB_GID_INDEX": "3"}}
    )
    # Ray restarts on every node; serving re-runs after it (LLM_RAY_GENERATION) so that `up` again
    # ends only when the model answers. Nothing else: no instance, disk or download.
    assert names == {"ray-invocation", "serving-invocation"}
