"""llm:replicas and HTTPS under mocks: groups, deployment sets, load balancers, listeners, health
checks on the responder, ACL, backends, the serving runs' order, ACS strategies, bad input, and
what a change (a serving setting, 1 -> 2 replicas) does to an existing stack."""

from __future__ import annotations

import pytest

from components.common.ports import READY_PORT
from components.config.problems import ConfigError
from components.config.resolve import resolve
from components.ecs import rolling
from planner import diff as plan_diff
from planner import run as plan
from tests import planning as P

INSTANCE = "alicloud:ecs/instance:Instance"
DISK = "alicloud:ecs/ecsDisk:EcsDisk"
DSET = "alicloud:ecs/ecsDeploymentSet:EcsDeploymentSet"
LB = "alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer"
LISTENER = "alicloud:slb/listener:Listener"
BACKENDS = "alicloud:slb/backendServer:BackendServer"
ACL = "alicloud:slb/acl:Acl"
ACL_ENTRY = "alicloud:slb/aclEntryAttachment:AclEntryAttachment"
CERT = "alicloud:slb/serverCertificate:ServerCertificate"
EIP = "alicloud:ecs/eipAddress:EipAddress"
PUBLIC = {"enabled": True, "allowedCidrs": ["203.0.113.0/24", "198.51.100.7/32"]}


def planned(tmp_path, stack="dev", **changes) -> list[dict]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return plan.resources_json(P.run(tmp_path, P.with_changes(P.stack_config(stack), **changes), stack=stack))


def of(res: list[dict], type_: str) -> list[dict]:
    return [r for r in res if r["type"] == type_]


def named(res: list[dict]) -> dict[str, dict]:
    return {r["name"]: r for r in res}


def serving_invocations(res: list[dict]) -> list[dict]:
    return [r for r in res if r["type"] == "alicloud:ecs/ecsInvocation:EcsInvocation" and r["parent"]
            and r["parent"].endswith("serving")]  # fmt: skip


# --- ecs-single -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3])
def test_ecs_single_groups_names_and_serving_order(tmp_path, n):
    res = planned(tmp_path, replicas=n, publicAccess=PUBLIC)
    inst = {r["name"]: r["inputs"]["instanceName"] for r in of(res, INSTANCE)}
    expected = {"node-instance": "llm-dev-master"} | {
        f"replica-{i}-instance": f"llm-dev-replica-{i}" for i in range(1, n)
    }
    assert inst == expected
    assert len(of(res, DISK)) == n  # each group its own copy
    by = named(res)
    # Each group's serving run waits for the previous group's: a serving change rolls.
    for i in range(1, n):
        prev = "serving-invocation" if i == 1 else f"replica-{i - 1}-serving-invocation"
        assert prev in by[f"replica-{i}-serving-invocation"]["options"]["dependsOn"]
        assert by[f"replica-{i}-serving-invocation"]["inputs"]["instanceIds"] == [f"replica-{i}-instance-id"]
    assert not any(d.endswith("serving-invocation") for d in by["serving-invocation"]["options"]["dependsOn"])
    # Each group downloads on its own nodes only.
    for i in range(1, n):
        assert by[f"replica-{i}-model-sync-invocation"]["inputs"]["instanceIds"] == [f"replica-{i}-instance-id"]
    if n == 1:  # the EIP path stays
        assert of(res, LB) == [] and len([e for e in of(res, EIP) if "nat" not in e["name"]]) == 1
    else:
        assert [e["name"] for e in of(res, EIP) if "nat" not in e["name"]] == []


@pytest.mark.parametrize("n", [2, 3])
def test_load_balancers_listeners_health_checks_acl_and_backends(tmp_path, n):
    res = planned(tmp_path, replicas=n, publicAccess=PUBLIC)
    lbs = {r["name"]: r["inputs"] for r in of(res, LB)}
    assert lbs["load-balancer-intranet"]["addressType"] == "intranet"
    assert lbs["load-balancer-intranet"]["vswitchId"] == "network-vswitch-id"
    assert lbs["load-balancer-internet"]["addressType"] == "internet"
    listeners = {r["name"]: r["inputs"] for r in of(res, LISTENER)}
    assert set(listeners) == {"load-balancer-intranet-tcp", "load-balancer-internet-tcp"}
    for i in listeners.values():
        # TCP for plain HTTP: no 60 s idle / 180 s request cap on a long non-streaming completion.
        assert (i["protocol"], i["frontendPort"], i["backendPort"]) == ("tcp", 8000, 8000)
        assert i["establishedTimeout"] == 900
        assert "requestTimeout" not in i and "idleTimeout" not in i
        assert i["healthCheckType"] == "http" and i["healthCheckConnectPort"] == READY_PORT == 8001
        assert i["healthCheckUri"] == "/ready"
        assert (i["healthCheckInterval"], i["unhealthyThreshold"], i["healthCheckTimeout"]) == (2, 3, 5)
    assert "aclStatus" not in listeners["load-balancer-intranet-tcp"]
    internet = listeners["load-balancer-internet-tcp"]
    assert (internet["aclStatus"], internet["aclType"], internet["aclIds"]) == ("on", "white", ["load-balancer-acl-id"])
    assert "aclId" not in internet  # deprecated field
    assert "entryLists" not in of(res, ACL)[0]["inputs"]  # deprecated inline entries
    assert sorted(e["inputs"]["entry"] for e in of(res, ACL_ENTRY)) == sorted(PUBLIC["allowedCidrs"])
    assert named(res)["load-balancer-internet-tcp"]["options"]["dependsOn"] == [
        "load-balancer-acl-0",
        "load-balancer-acl-1",
    ]
    serving_nodes = ["node-instance-id", *(f"replica-{i}-instance-id" for i in range(1, n))]
    for b in of(res, BACKENDS):
        assert [s["serverId"] for s in b["inputs"]["backendServers"]] == serving_nodes
        assert {(s["weight"], s["type"]) for s in b["inputs"]["backendServers"]} == {(100, "ecs")}


def test_private_only_has_just_the_intranet_balancer_and_outputs_point_at_it(tmp_path):
    result = P.run(tmp_path, P.with_changes(P.stack_config(), replicas=2))
    res = plan.resources_json(result)
    assert [r["name"] for r in of(res, LB)] == ["load-balancer-intranet"]
    assert of(res, ACL) == []
    out = plan.outputs_json(result)
    assert out["privateEndpoint"] == "http://192.168.0.30:8000/v1"
    assert out["publicEndpoint"] is None
    assert out["replicaInstanceIds"] == ["node-instance-id", "replica-1-instance-id"]


def test_serving_run_drains_only_behind_a_balancer(tmp_path):
    one = named(planned(tmp_path / "a"))
    two = named(planned(tmp_path / "b", replicas=2))
    assert "LLM_DRAIN_FILE" not in P.phase_env(one, "serving")
    for phase in ("serving", "replica-1-serving"):
        env = P.phase_env(two, phase)
        assert env["LLM_DRAIN_FILE"] == "/run/llm/drain"
        # The drain covers what the listener needs to see a 503: interval x unhealthy + timeout.
        assert int(env["LLM_DRAIN_WAIT_S"]) == 2 * 3 + 5 == rolling.drain_wait_s()
        assert env["LLM_READY_PORT"] == "8001"


def test_https_listener_with_the_certificate_and_no_plain_internet_listener(tmp_path):
    result = P.run(tmp_path, P.with_changes(P.stack_config(), replicas=2,
                                            publicAccess={**PUBLIC, "tls": {"certificateId": "12345678"}}))  # fmt: skip
    res = plan.resources_json(result)
    listeners = {r["name"]: r["inputs"] for r in of(res, LISTENER)}
    assert set(listeners) == {"load-balancer-intranet-tcp", "load-balancer-internet-https"}
    https = listeners["load-balancer-internet-https"]
    assert (https["protocol"], https["frontendPort"], https["backendPort"]) == ("https", 443, 8000)
    assert https["serverCertificateId"] == "load-balancer-certificate-id"
    assert https["aclStatus"] == "on" and https["aclType"] == "white"
    # The provider's maxima (request_timeout 1-180, idle_timeout 1-60): the README says what they cut.
    assert (https["requestTimeout"], https["idleTimeout"]) == (180, 60)
    assert https["healthCheck"] == "on" and https["healthCheckConnectPort"] == 8001
    assert of(res, CERT)[0]["inputs"]["alicloudCertificateId"] == "12345678"
    assert plan.outputs_json(result)["publicEndpoint"] == "https://203.0.113.30/v1"
    rule = named(res)["load-balancer-clb-to-api"]["inputs"]
    assert (rule["cidrIp"], rule["portRange"], rule["type"]) == ("100.64.0.0/10", "8000/8000", "ingress")


def test_tls_with_one_replica_uses_the_balancer_too(tmp_path):
    res = planned(tmp_path, publicAccess={**PUBLIC, "tls": {"certificateId": "987"}})
    assert len(of(res, INSTANCE)) == 1
    assert {r["name"] for r in of(res, LB)} == {"load-balancer-intranet", "load-balancer-internet"}
    assert [e for e in of(res, EIP) if "nat" not in e["name"]] == []


# --- ecs-cluster --------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3])
def test_cluster_groups_each_with_its_deployment_set_and_ray_run(tmp_path, n):
    res = planned(tmp_path, "prod", replicas=n)
    by = named(res)
    sets = {r["name"]: r["inputs"]["deploymentSetName"] for r in of(res, DSET)}
    assert sets == {"placement-set": "llm-prod-nodes"} | {
        f"replica-{i}-placement-set": f"llm-prod-replica-{i}-nodes" for i in range(1, n)
    }
    assert len(of(res, INSTANCE)) == 2 * n and len(of(res, DISK)) == 2 * n
    assert by["worker-1-instance"]["inputs"]["deploymentSetId"] == "placement-set-id"
    for i in range(1, n):
        head, worker = by[f"replica-{i}-instance"], by[f"replica-{i}-worker-1-instance"]
        assert head["inputs"]["instanceName"] == f"llm-prod-replica-{i}"
        assert (
            worker["inputs"]["deploymentSetId"] == head["inputs"]["deploymentSetId"] == f"replica-{i}-placement-set-id"
        )
        ray = by[f"replica-{i}-ray-invocation"]["inputs"]["instanceIds"]
        assert ray == [f"replica-{i}-instance-id", f"replica-{i}-worker-1-instance-id"]
        # The group's own head IP (mocks: .10 + 20 x i) is the Ray head of its serving run.
        env = P.phase_env(by, f"replica-{i}-serving")
        assert env["LLM_CLUSTER_NODE_IPS"] == f"192.168.0.{10 + 20 * i},192.168.0.{11 + 20 * i}"
        prev = "serving-invocation" if i == 1 else f"replica-{i - 1}-serving-invocation"
        assert prev in by[f"replica-{i}-serving-invocation"]["options"]["dependsOn"]
    if n > 1:  # backends: the groups' heads only (vLLM serves on the head)
        servers = of(res, BACKENDS)[0]["inputs"]["backendServers"]
        assert [s["serverId"] for s in servers] == [
            "node-instance-id",
            *(f"replica-{i}-instance-id" for i in range(1, n)),
        ]
    else:
        assert of(res, LB) == []


# --- acs ----------------------------------------------------------------------------------------


def workload(res: list[dict], kind: str) -> dict:
    return next(r for r in res if r["type"].endswith(f":{kind}"))["inputs"]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_acs_deployment_replicas_roll_with_a_surge(tmp_path, n):
    spec = workload(planned(tmp_path, "acs", replicas=n), "Deployment")["spec"]
    assert spec["replicas"] == n
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


@pytest.mark.parametrize("n", [1, 2, 3])
def test_acs_lws_replicas_roll_one_group_at_a_time(tmp_path, n):
    spec = workload(planned(tmp_path, "acs-r1", replicas=n), "LeaderWorkerSet")["spec"]
    assert spec["replicas"] == n
    if n == 1:
        assert "rolloutStrategy" not in spec  # release-1 stacks unchanged
    else:
        assert spec["rolloutStrategy"] == {
            "type": "RollingUpdate", "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": 0},
        }  # fmt: skip


def test_acs_lws_strategy_is_configurable(tmp_path):
    cfg = P.stack_config("acs-r1")
    acs = {**cfg["llm:acs"], "lwsMaxUnavailable": 0, "lwsMaxSurge": 1}
    spec = workload(planned(tmp_path, "acs-r1", replicas=2, acs=acs), "LeaderWorkerSet")["spec"]
    assert spec["rolloutStrategy"]["rollingUpdateConfiguration"] == {"maxUnavailable": 0, "maxSurge": 1}


def test_acs_https_annotations_and_certificate(tmp_path):
    result = P.run(tmp_path, P.with_changes(P.stack_config("acs"), replicas=2,
                                            publicAccess={"tls": {"certificateId": "4242"}}), stack="acs")  # fmt: skip
    res = plan.resources_json(result)
    svc = next(r for r in res if r["name"].endswith("public-service"))["inputs"]
    ann = svc["metadata"]["annotations"]
    lb = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"
    assert ann[f"{lb}protocol-port"] == "https:443"
    assert ann[f"{lb}cert-id"] == "workload-public-certificate-id"
    assert svc["spec"]["ports"] == [{"name": "https", "port": 443, "targetPort": 8000, "protocol": "TCP"}]
    assert of(res, CERT)[0]["inputs"]["alicloudCertificateId"] == "4242"
    assert plan.outputs_json(result)["publicEndpoint"].startswith("https://")


# --- bad input ----------------------------------------------------------------------------------


def problems(stack="dev", **changes) -> list[str]:
    raw = {k.removeprefix("llm:"): v for k, v in P.with_changes(P.stack_config(stack), **changes).items()
           if k.startswith("llm:")}  # fmt: skip
    with pytest.raises(ConfigError) as e:
        resolve(raw)
    return [str(p) for p in e.value.problems]


@pytest.mark.parametrize(
    "changes, key, fragment",
    [
        ({"replicas": 0}, "llm:replicas", "greater than or equal to 1"),
        ({"replicas": 9}, "llm:replicas", "less than or equal to 8"),
        ({"replicas": "two"}, "llm:replicas", "integer"),
        ({"publicAccess": {"tls": {"certificateId": "12345"}}}, "llm:publicAccess.tls.certificateId", "publicAccess.enabled"),
        ({"publicAccess": {**PUBLIC, "tls": {"certificateId": "cas-123"}}}, "llm:publicAccess.tls.certificateId", "pattern"),
    ],
)  # fmt: skip
def test_bad_replica_and_tls_input_names_its_key(changes, key, fragment):
    found = problems(**changes)
    assert any(p.startswith(key) and fragment in p for p in found), found


def test_lws_strategy_that_cannot_progress_is_refused():
    cfg = P.stack_config("acs-r1")
    found = problems("acs-r1", acs={**cfg["llm:acs"], "lwsMaxUnavailable": 0, "lwsMaxSurge": 0})
    assert any(p.startswith("llm:acs.lwsMaxUnavailable") for p in found), found


# --- changes to an existing stack ---------------------------------------------------------------


def test_serving_change_with_two_replicas_replaces_no_instance_disk_or_balancer(tmp_path):
    base = planned(tmp_path / "a", replicas=2, publicAccess=PUBLIC)
    new = planned(tmp_path / "b", replicas=2, publicAccess=PUBLIC, vllm={"maxModelLen": 16384})
    d = plan_diff.diff_resources(base, new)
    assert d["added"] == [] and d["removed"] == []
    assert {c["name"] for c in d["changed"]} == {"serving-invocation", "replica-1-serving-invocation"}


def test_one_to_two_replicas_moves_the_endpoint_from_the_eip_to_the_balancer(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    old = P.run(tmp_path / "a", P.with_changes(P.stack_config(), publicAccess=PUBLIC))
    new = P.run(tmp_path / "b", P.with_changes(P.stack_config(), replicas=2, publicAccess=PUBLIC))
    d = plan_diff.diff_resources(plan.resources_json(old), plan.resources_json(new))
    removed = {r["name"] for r in d["removed"]}
    added = {r["name"] for r in d["added"]}
    assert removed == {"public-access", "public-access-eip", "public-access-eip-assoc"}
    assert {"load-balancer-internet", "load-balancer-intranet", "replica-1-instance"} <= added
    changed = {c["name"] for c in d["changed"]}
    # Group 0's machine is untouched: only its scripts run (rolling files) and its serving run.
    assert changed == {"host-scripts-command", "host-scripts-invocation", "serving-command", "serving-invocation"}
    assert plan.outputs_json(old)["publicEndpoint"] == "http://203.0.113.10:8000/v1"
    assert plan.outputs_json(new)["publicEndpoint"] == "http://203.0.113.30:8000/v1"


def test_plan_diff_knows_what_replaces_a_balancer_or_listener(tmp_path):
    """Every property the load-balancer resources set has a provider fact (tools/provider_facts.py
    EXTRA_TYPES), and the diff marks the ForceNew ones as replacing."""
    res = planned(tmp_path, replicas=2, publicAccess={**PUBLIC, "tls": {"certificateId": "12345678"}})
    facts = plan_diff.FACTS["resources"]
    for r in res:
        if r["type"].startswith("alicloud:slb/"):
            for prop in r["inputs"]:
                assert plan_diff._tf_name(r["type"], prop) in facts[r["type"]]["properties"], (r["type"], prop)
    assert plan_diff.effect(LISTENER, "protocol") == plan_diff.REPLACES
    assert plan_diff.effect(LISTENER, "frontendPort") == plan_diff.REPLACES
    assert plan_diff.effect(LB, "addressType") == plan_diff.REPLACES
    assert plan_diff.effect(CERT, "alicloudCertificateId") == plan_diff.REPLACES
    assert plan_diff.effect(LISTENER, "healthCheckInterval") != plan_diff.REPLACES
