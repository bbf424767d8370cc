"""The acs example stacks under Pulumi mocks: exact inputs and options that matter."""

from __future__ import annotations

import base64
import json

import pytest

from components.acs import manifests
from components.common import scripts
from components.ecs import userdata
from planner import run as plan
from tests import planning as P

SERVICE = "kubernetes:core/v1:Service"
SECRET = "kubernetes:core/v1:Secret"


@pytest.fixture(scope="module")
def qwq():
    return plan.run_program("acs")


@pytest.fixture(scope="module")
def r1():
    return plan.run_program("acs-r1")


@pytest.fixture(scope="module")
def oss_secret(tmp_path_factory):
    cfg = P.with_changes(
        P.stack_config("acs"),
        acs={"ossAuth": "secret"},
        ossAccessKeyId={"secure": "x"},
        ossAccessKeySecret={"secure": "y"},
        publicAccess={"enabled": False},
        ssh={"allowedCidrs": ["198.51.100.0/28"], "keyPairName": "ops"},
    )
    return P.run(tmp_path_factory.mktemp("oss"), cfg, stack="acs")


def _pod_templates(obj: dict) -> list[dict]:
    if obj["kind"] == "Deployment":
        return [obj["spec"]["template"]]
    lwt = obj["spec"]["leaderWorkerTemplate"]
    return [lwt["leaderTemplate"], lwt["workerTemplate"]]


def test_cluster_profile_rrsa_network(qwq):
    c = P.by_name(qwq)["acs-cluster"]
    i = c["inputs"]
    assert (i["profile"], i["clusterSpec"], i["enableRrsa"]) == ("Acs", "ack.pro.small", True)
    assert i["version"] == "1.30.1-aliyunacs.1"
    assert i["serviceCidr"] == "10.0.0.0/16"
    # Pods take addresses from the cluster's vSwitches; pod_vswitch_ids (Terway) is not sent.
    assert i["vswitchIds"] == ["acs-pod-a-id", "acs-pod-b-id"]
    assert "podVswitchIds" not in i
    # Create-only flags, explicit (the provider drops False; the API defaults then apply).
    assert i["slbInternetEnabled"] is True
    assert i["newNatGateway"] is False
    assert i["addons"] == [{"name": "managed-coredns"}, {"name": "managed-csiprovisioner"}]
    assert i["deleteOptions"] == [{"deleteMode": "delete", "resourceType": "SLB"}]
    assert c["options"]["customTimeouts"]["create"] == "90m"
    assert c["options"]["dependsOn"] == ["acs-snat-node-a", "acs-snat-node-b", "acs-snat-pod-a", "acs-snat-pod-b"]
    res = P.by_name(qwq)
    zones = {n: res[n]["inputs"]["zoneId"] for n in ("network-vswitch", "acs-node-b", "acs-pod-a", "acs-pod-b")}
    assert zones == {"network-vswitch": "cn-wulanchabu-a", "acs-node-b": "cn-wulanchabu-b",
                     "acs-pod-a": "cn-wulanchabu-a", "acs-pod-b": "cn-wulanchabu-b"}  # fmt: skip
    assert "network-nat" not in res  # Network's NAT covers one vSwitch; the cluster's covers four
    snat = sorted(r["inputs"]["sourceVswitchId"] for r in P.of_type(qwq, "alicloud:vpc/snatEntry:SnatEntry"))
    assert snat == sorted(["network-vswitch-id", "acs-node-b-id", "acs-pod-a-id", "acs-pod-b-id"])


def test_kubernetes_provider_uses_a_secret_kubeconfig(qwq):
    prov = P.by_name(qwq)["acs-k8s"]
    assert prov["inputs"]["kubeconfig"] == "[secret]"
    assert prov["inputs"]["clusterIdentifier"] == "acs-cluster-id"
    for r in P.resources(qwq):
        if r["type"].startswith("kubernetes:"):
            rec = next(x for x in qwq.records if x.name == r["name"])
            assert rec.provider.startswith(prov["urn"]), r["name"]


def test_private_api_access_rewrites_the_server(tmp_path):
    from components.acs.cluster import kubeconfig_with_server

    cfg = P.with_changes(P.stack_config("acs"), acs={"apiAccess": "private"})
    result = P.run(tmp_path, cfg, stack="acs")
    prov = next(r for r in result.records if r.type == "pulumi:providers:kubernetes")
    from pulumi.runtime import rpc

    kubeconfig = rpc.unwrap_rpc_secret(prov.inputs_raw["kubeconfig"])
    assert "server: https://192.168.0.5:6443" in kubeconfig
    assert "203.0.113.5" not in kubeconfig
    assert P.by_name(result)["acs-cluster"]["inputs"]["slbInternetEnabled"] is False
    assert kubeconfig_with_server(plan.MOCK_KUBECONFIG, None) == plan.MOCK_KUBECONFIG


def test_kubeconfig_never_appears_unmasked(qwq, r1, tmp_path):
    for result in (qwq, r1):
        out = tmp_path / result.stack
        plan.write_plan(result, out)
        for path in out.rglob("*"):
            if path.is_file():
                text = path.read_text()
                assert plan.MOCK_KUBECONFIG_TOKEN not in text, path
                assert "certificate-authority-data" not in text, path


def test_workload_labels_requests_probes_and_key(qwq, r1):
    for result, kind in (
        (qwq, "kubernetes:apps/v1:Deployment"),
        (r1, "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet"),
    ):
        (w,) = P.of_type(result, kind)
        obj = w["inputs"]
        assert not any(k.startswith("alibabacloud.com/") for k in obj["metadata"]["labels"])
        for t in _pod_templates(obj):
            assert t["metadata"]["labels"]["alibabacloud.com/compute-class"] == "gpu"
            assert t["metadata"]["labels"]["alibabacloud.com/gpu-model-series"] == "GU8TF"
            assert t["metadata"]["labels"]["alibabacloud.com/compute-qos"] == "default"
            for c in t["spec"]["containers"]:
                assert c["resources"]["requests"] == c["resources"]["limits"]
                assert c["readinessProbe"]
                for e in c.get("env", []):
                    assert "value" not in e or "KEY" not in e["name"], e
                    if "KEY" in e["name"]:
                        assert e["valueFrom"] == {"secretKeyRef": {"name": "vllm-api-key", "key": "api-key"}}
                assert "--api-key" not in json.dumps(c)
    dep = P.of_type(qwq, "kubernetes:apps/v1:Deployment")[0]["inputs"]
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["resources"]["limits"] == {"cpu": "16", "memory": "128Gi", "nvidia.com/gpu": "1"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/health", "port": 8000}
    # The startup probe allows the whole load bound (vllm.startupTimeoutS, 3600 s).
    assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] >= 3600
    assert dep["metadata"]["annotations"] == {"pulumi.com/timeoutSeconds": "4500"}
    lws = P.of_type(r1, "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet")[0]["inputs"]
    assert lws["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    leader = lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]
    assert leader["resources"]["limits"] == {"cpu": "64", "memory": "512Gi", "nvidia.com/gpu": "8"}
    assert "--tensor-parallel-size 8 --pipeline-parallel-size 2" in leader["command"][2]


def test_the_api_key_secret_is_secret_and_fed_by_the_api_key(qwq):
    from pulumi.runtime import rpc

    rec = next(r for r in qwq.records if r.type == SECRET)
    assert rpc.is_rpc_secret(rec.inputs_raw["stringData"]) or rpc.is_rpc_secret(rec.inputs_raw["stringData"]["api-key"])
    # The plan keeps the Secret's keys, each value masked (a valid manifest; planner/run.py mask).
    assert P.by_name(qwq)["workload-api-key"]["inputs"]["stringData"] == {"api-key": "[secret]"}


def test_no_access_key_secret_unless_oss_auth_secret(qwq, r1, oss_secret):
    for result in (qwq, r1):
        assert [r["inputs"]["metadata"]["name"] for r in P.of_type(result, SECRET)] == ["vllm-api-key"]
        pv = P.by_name(result)["model-storage-pv"]["inputs"]["spec"]["csi"]
        assert pv["volumeAttributes"]["authType"] == "rrsa" and "nodePublishSecretRef" not in pv
        assert pv["readOnly"] is True
    names = sorted(r["inputs"]["metadata"]["name"] for r in P.of_type(oss_secret, SECRET))
    assert names == [manifests.OSS_SECRET, "vllm-api-key"]
    assert P.by_name(oss_secret)["model-storage-oss-secret"]["inputs"]["stringData"] == {
        "akId": "[secret]",
        "akSecret": "[secret]",
    }
    pv = P.by_name(oss_secret)["model-storage-pv"]["inputs"]["spec"]["csi"]
    assert pv["nodePublishSecretRef"] == {"name": manifests.OSS_SECRET, "namespace": "llm-model"}
    assert "authType" not in pv["volumeAttributes"]
    assert "model-storage-rrsa-role" not in P.by_name(oss_secret)


def test_oss_volume_and_rrsa_role(qwq):
    res = P.by_name(qwq)
    pv = res["model-storage-pv"]["inputs"]["spec"]
    assert pv["accessModes"] == ["ReadOnlyMany"]
    assert pv["csi"]["driver"] == "ossplugin.csi.alibabacloud.com"
    assert pv["csi"]["volumeAttributes"] == {
        "authType": "rrsa", "bucket": "my-llm-weights", "otherOpts": "-o ro -o allow_other",
        "path": "/Qwen/QwQ-32B", "url": "oss-cn-wulanchabu-internal.aliyuncs.com",
        # The stack's role and the cluster's OIDC provider, by ARN (resource outputs).
        "roleArn": "acs:ram::1234567890:role/llm-acs-oss-rrsa",
        "oidcProviderArn": "acs:ram::1234567890:oidc-provider/ack-rrsa-acs-cluster-id",
    }  # fmt: skip
    ns = res["model-storage-namespace"]["inputs"]["metadata"]
    assert ns["name"] == "llm-model" and "pod-identity.alibabacloud.com/injection" not in ns["labels"]
    assert "annotations" not in res["model-storage-service-account"]["inputs"]["metadata"]
    trust = json.loads(res["model-storage-rrsa-role"]["inputs"]["assumeRolePolicyDocument"])
    (stmt,) = trust["Statement"]
    assert stmt["Principal"] == {"Federated": ["acs:ram::1234567890:oidc-provider/ack-rrsa-acs-cluster-id"]}
    assert stmt["Condition"]["StringEquals"] == {
        "oidc:aud": "sts.aliyuncs.com",
        "oidc:iss": "https://oidc-ack-mock.example/acs-cluster-id",
        # Only the account the mount uses (the CSI driver's fuse account), not the pods' own.
        "oidc:sub": ["system:serviceaccount:ack-csi-fuse:csi-fuse-ossfs"],
    }
    policy = json.loads(res["model-storage-rrsa-policy"]["inputs"]["policyDocument"])
    assert {a for s in policy["Statement"] for a in s["Action"]} == {"oss:GetObject", "oss:ListObjects"}
    assert policy["Statement"][0]["Resource"] == ["acs:oss:*:*:my-llm-weights/Qwen/QwQ-32B/*"]


def test_internet_service_only_when_public_and_with_the_allowlist(qwq, r1):
    res = P.by_name(qwq)
    pub = res["workload-public-service"]["inputs"]
    ann = pub["metadata"]["annotations"]
    lb = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"
    assert ann[f"{lb}address-type"] == "internet"
    assert (ann[f"{lb}acl-status"], ann[f"{lb}acl-type"], ann[f"{lb}acl-id"]) == (
        "on",
        "white",
        "workload-public-acl-id",
    )
    acl = res["workload-public-acl"]["inputs"]
    assert [e["entry"] for e in acl["entryLists"]] == ["203.0.113.0/24"]
    assert pub["spec"]["ports"] == [{"name": "http", "port": 8000, "protocol": "TCP", "targetPort": 8000}]
    priv = res["workload-private-service"]["inputs"]
    assert priv["metadata"]["annotations"][f"{lb}address-type"] == "intranet"
    assert priv["metadata"]["annotations"][f"{lb}vswitch-id"] == "network-vswitch-id"
    assert priv["spec"]["type"] == "LoadBalancer"
    for svc in (pub, priv):
        assert svc["metadata"]["annotations"]["pulumi.com/waitFor"] == "jsonpath={.status.loadBalancer.ingress[0].ip}"
    assert [s["inputs"]["metadata"]["name"] for s in P.of_type(r1, SERVICE)] == ["vllm-private"]
    assert not P.of_type(r1, "alicloud:slb/acl:Acl")
    assert P.by_name(r1)["workload-private-service"]["inputs"]["spec"]["selector"] == {
        "app": "deepseek-r1", "llm/role": "leader"}  # fmt: skip
    out = P.plan.outputs_json(qwq)
    assert (out["privateEndpoint"], out["publicEndpoint"]) == (
        "http://192.168.0.20:8000/v1",
        "http://203.0.113.20:8000/v1",
    )
    assert P.plan.outputs_json(r1)["publicEndpoint"] is None


def test_readiness_job_gates_the_update(qwq, r1):
    for result, wl in ((qwq, "workload-deployment"), (r1, "workload-lws")):
        job = P.by_name(result)["workload-readiness"]
        assert job["options"]["dependsOn"] == [wl, "workload-private-service", "workload-api-key"]
        spec = job["inputs"]["spec"]
        timeout = int(job["inputs"]["metadata"]["annotations"]["pulumi.com/timeoutSeconds"])
        assert timeout > spec["activeDeadlineSeconds"] >= 3600
        c = spec["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in c["env"]}
        # The key arrives as a mounted file of the Secret, not as an env variable.
        assert env["API_KEY_FILE"]["value"] == "/var/run/llm-api-key/api-key" and "API_KEY" not in env
        vols = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
        assert vols["api-key"]["secret"]["secretName"] == "vllm-api-key"
        assert env["LLM_URL"]["value"] == "http://vllm-private.llm-model.svc.cluster.local:8000/v1/chat/completions"
        # No small in-region image has a source: the Job runs the vLLM image by default.
        assert "/egs/vllm:" in c["image"]


def test_lws_controller_release(r1, qwq):
    rel = P.by_name(r1)["workload-lws-controller"]["inputs"]
    assert rel["chart"].endswith("/lws-0.1.0.tgz")
    assert rel["namespace"] == "lws-system"
    assert rel["values"] == {
        "image": {"manager": {"repository": "registry-cn-wulanchabu-vpc.ack.aliyuncs.com/acs/lws", "tag": "v0.5.0"}}
    }
    assert "workload-lws-controller" in P.by_name(r1)["workload-lws"]["options"]["dependsOn"]
    assert "workload-lws-controller" not in P.by_name(qwq)


def test_jump_host_role_reads_only_the_kubeconfig_and_rbac_is_namespaced(qwq):
    res = P.by_name(qwq)
    policy = json.loads(res["jump-host-policy"]["inputs"]["policyDocument"])
    assert policy["Statement"] == [
        {"Action": ["cs:Describe*"], "Effect": "Allow", "Resource": ["acs:cs:*:*:cluster/acs-cluster-id"]}
    ]
    trust = json.loads(res["jump-host-role"]["inputs"]["assumeRolePolicyDocument"])
    assert trust["Statement"][0]["Principal"] == {"Service": ["ecs.aliyuncs.com"]}
    rbac = res["jump-host-rbac"]["inputs"]
    assert rbac["uid"] == res["jump-host-role"]["inputs"].get("roleId", rbac["uid"])
    assert rbac["permissions"] == [
        {"cluster": "acs-cluster-id", "isCustom": True, "isRamRole": True, "namespace": "llm-model",
         "roleName": "llm-acs-jump-host", "roleType": "namespace"}
    ]  # fmt: skip
    role = res["jump-host-cluster-role"]
    assert role["type"] == "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
    assert role["inputs"]["metadata"]["name"] == "llm-acs-jump-host"
    assert any("leaderworkersets" in r["resources"] for r in role["inputs"]["rules"])
    # Granted only once the role may read the cluster (ACS's prerequisite) and the ClusterRole exists.
    assert res["jump-host-rbac"]["options"]["dependsOn"] == ["jump-host-policy-attach", "jump-host-cluster-role"]
    inst = res["jump-host-instance"]["inputs"]
    assert inst["internetMaxBandwidthOut"] == 0
    assert res["jump-host-role-attach"]["inputs"]["ramRoleName"] == "llm-acs-jump-host"


def test_jump_host_public_ip_only_with_ssh(oss_secret):
    res = P.by_name(oss_secret)
    assert res["jump-host-instance"]["inputs"]["internetMaxBandwidthOut"] == 5
    assert res["jump-host-instance"]["inputs"]["keyName"] == "ops"
    rules = [
        (r["inputs"]["portRange"], r["inputs"]["cidrIp"])
        for r in P.of_type(oss_secret, "alicloud:ecs/securityGroupRule:SecurityGroupRule")
    ]
    assert ("22/22", "198.51.100.0/28") in rules
    assert all(c != "0.0.0.0/0" for _, c in rules)


def test_jump_host_command_carries_every_manifest_and_fits(qwq, r1):
    for result in (qwq, r1):
        res = P.by_name(result)
        for cmd in P.of_type(result, "alicloud:ecs/command:Command"):
            assert len(cmd["inputs"]["commandContent"]) <= scripts.COMMAND_B64_LIMIT, cmd["name"]
        assert len(res["jump-host-instance"]["inputs"]["userData"].encode()) <= userdata.USER_DATA_LIMIT
        script = base64.b64decode(res["jump-host-manifests-command"]["inputs"]["commandContent"]).decode()
        assert "export LLM_MANIFEST_DIR=/root/llm-k8s-resource\n" in script
        assert "{{" not in script
        inv = res["jump-host-manifests-invocation"]
        assert inv["inputs"]["instanceIds"] == ["jump-host-instance-id"]
        assert inv["options"]["dependsOn"] == ["jump-host-role-attach", "jump-host-policy-attach"]


def test_manifests_change_reruns_the_command(tmp_path, qwq):
    cfg = P.with_changes(P.stack_config("acs"), vllm={"maxModelLen": 16384})
    other = P.by_name(P.run(tmp_path, cfg, stack="acs"))
    base = P.by_name(qwq)
    assert (
        other["jump-host-manifests-command"]["inputs"]["commandContent"]
        != base["jump-host-manifests-command"]["inputs"]["commandContent"]
    )
    assert (
        other["workload-readiness"]["inputs"]["metadata"]["name"]
        != base["workload-readiness"]["inputs"]["metadata"]["name"]
    )
    # The user-data does not follow the manifests (a change would reboot the jump host).
    assert other["jump-host-instance"]["inputs"]["userData"] == base["jump-host-instance"]["inputs"]["userData"]


def test_every_child_has_its_component_as_parent(qwq):
    res = P.resources(qwq)
    components = {r["name"] for r in res if r["type"].startswith("llm:")}
    for r in res:
        if r["type"].startswith(("llm:", "pulumi:providers:alicloud")):
            assert r["parent"] is None
        else:
            assert r["parent"] in components, r["name"]
            assert r["name"].startswith(r["parent"] + "-"), r["name"]


def test_physical_names_carry_the_stack(qwq):
    res = P.by_name(qwq)
    for name, key in (("model-storage-rrsa-role", "roleName"), ("model-storage-rrsa-policy", "policyName"),
                      ("jump-host-role", "roleName"), ("jump-host-policy", "policyName"),
                      ("acs-cluster", "name"), ("jump-host-manifests-command", "name"),
                      ("workload-public-acl", "name")):  # fmt: skip
        assert res[name]["inputs"][key].startswith("llm-acs-"), name


RULE = "alicloud:ecs/securityGroupRule:SecurityGroupRule"


def _cluster_rules(result) -> dict[str, dict]:
    """The ingress rules on the group ACS creates for the cluster (the pods' group), by name."""
    return {r["name"]: r["inputs"] for r in P.of_type(result, RULE)
            if r["inputs"]["securityGroupId"] == "acs-cluster-sg-id"}  # fmt: skip


def test_port_8000_is_open_on_the_pods_group_from_the_vpc_health_checks_and_the_allowlist(qwq):
    rules = _cluster_rules(qwq)
    got = {n: (i["ipProtocol"], i["portRange"], i["cidrIp"]) for n, i in rules.items()}
    assert got == {
        "acs-api-vpc": ("tcp", "8000/8000", "192.168.0.0/16"),
        "acs-api-health-check": ("tcp", "8000/8000", "100.64.0.0/10"),
        "acs-api-public-0": ("tcp", "8000/8000", "203.0.113.0/24"),
    }
    for i in rules.values():
        assert (i["type"], i["policy"], i["nicType"]) == ("ingress", "accept", "intranet")
        # An advanced (enterprise) group takes no group as a source: CIDRs only.
        assert "sourceSecurityGroupId" not in i
    assert P.plan.outputs_json(qwq)["clusterSecurityGroupId"] == "acs-cluster-sg-id"
    # The pods serve only once the rules exist.
    deps = P.by_name(qwq)["workload-deployment"]["options"]["dependsOn"]
    assert {"acs-api-vpc", "acs-api-health-check", "acs-api-public-0"} <= set(deps)


def test_lws_pods_of_a_group_reach_each_other_through_the_pod_vswitches(r1, qwq):
    rules = _cluster_rules(r1)
    assert "acs-api-public-0" not in rules  # private stack: no allowlist rule
    intra = {n: (i["ipProtocol"], i["portRange"], i["cidrIp"]) for n, i in rules.items() if "intra" in n}
    res = P.by_name(r1)
    assert intra == {
        "acs-intra-pods-a": ("all", "-1/-1", res["acs-pod-a"]["inputs"]["cidrBlock"]),
        "acs-intra-pods-b": ("all", "-1/-1", res["acs-pod-b"]["inputs"]["cidrBlock"]),
    }
    assert not any("intra" in n for n in _cluster_rules(qwq)), "one pod: no traffic between pods"
    assert {"acs-intra-pods-a", "acs-intra-pods-b"} <= set(res["workload-lws"]["options"]["dependsOn"])


def test_pod_address_space_is_what_the_readme_says(qwq):
    """The README states the pods' address space; the plan's cluster vSwitches are exactly it."""
    import re

    readme = (P.ROOT / "README.md").read_text()
    m = re.search(r"\*\*Pod address space\*\*: .*?`([\d./]+)` \(zone A\) and `([\d./]+)` \(zone B\)", readme, re.S)
    assert m, "README: the acs section names the pod address space"
    res = P.by_name(qwq)
    cidr_of = {f"{r['name']}-id": r["inputs"]["cidrBlock"] for r in P.of_type(qwq, "alicloud:vpc/switch:Switch")}
    cluster = res["acs-cluster"]["inputs"]
    assert [cidr_of[v] for v in cluster["vswitchIds"]] == [m[1], m[2]]
    zones = [res[n]["inputs"]["zoneId"] for n in ("acs-pod-a", "acs-pod-b")]
    assert zones == P.stack_config("acs")["llm:acs"]["zoneIds"]
    docs = (P.ROOT / "docs" / "acs.md").read_text()
    assert m[1] in docs and m[2] in docs


def test_create_only_flags_stay_explicit_with_private_api_and_no_egress(tmp_path):
    cfg = P.with_changes(
        P.stack_config("acs"),
        acs={"apiAccess": "private", "dnsAddon": "", "ossFuseType": "ossfs2"},
        network={"egress": "none"},
        vllm={"image": "egs-registry-vpc.cn-wulanchabu.cr.aliyuncs.com/egs/vllm:0.8.5-pytorch2.6-cu124-20250429"},
    )
    result = P.run(tmp_path, cfg, stack="acs")
    res = P.by_name(result)
    c = res["acs-cluster"]["inputs"]
    assert (c["slbInternetEnabled"], c["newNatGateway"]) == (False, False)
    assert c["addons"] == [{"name": "managed-csiprovisioner"}]
    assert not P.of_type(result, "alicloud:vpc/natGateway:NatGateway")
    attrs = res["model-storage-pv"]["inputs"]["spec"]["csi"]["volumeAttributes"]
    assert attrs["fuseType"] == "ossfs2" and "otherOpts" not in attrs
