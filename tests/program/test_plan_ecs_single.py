"""The dev stack and its variations under Pulumi mocks: exact inputs and options that matter."""

from __future__ import annotations

import base64
import json
import re

import pytest

from components.common import scripts
from components.ecs import userdata
from components.sizing import catalog, fit
from tests import planning as P

SG_RULE = "alicloud:ecs/securityGroupRule:SecurityGroupRule"
EIP = "alicloud:ecs/eipAddress:EipAddress"


@pytest.fixture(scope="module")
def dev():
    return P.run(None)


@pytest.fixture(scope="module")
def public(tmp_path_factory):
    cfg = P.with_changes(
        P.stack_config(),
        publicAccess={"enabled": True, "allowedCidrs": ["203.0.113.0/24", "198.51.100.7/32"], "bandwidthMbps": 20},
        ssh={"allowedCidrs": ["198.51.100.0/28"], "keyPairName": "ops"},
    )
    return P.run(tmp_path_factory.mktemp("pub"), cfg)


def _rules(result):
    return sorted(
        (r["inputs"]["portRange"], r["inputs"]["cidrIp"], r["inputs"]["type"], r["inputs"]["ipProtocol"])
        for r in P.of_type(result, SG_RULE)
    )


def test_private_stack_opens_8000_to_the_vpc_only_and_no_ssh(dev):
    assert _rules(dev) == [("8000/8000", "192.168.0.0/16", "ingress", "tcp")]
    # The only EIP is the NAT gateway's; nothing binds one to the instance.
    assert [r["name"] for r in P.of_type(dev, EIP)] == ["network-nat-eip"]
    assert json.loads(json.dumps(P.plan.outputs_json(dev)))["publicEndpoint"] is None


def test_public_stack_opens_8000_to_the_allowlist_and_ssh_to_its_list(public):
    assert _rules(public) == [
        ("22/22", "198.51.100.0/28", "ingress", "tcp"),
        ("8000/8000", "192.168.0.0/16", "ingress", "tcp"),
        ("8000/8000", "198.51.100.7/32", "ingress", "tcp"),
        ("8000/8000", "203.0.113.0/24", "ingress", "tcp"),
    ]
    res = P.by_name(public)
    assert res["public-access-eip"]["inputs"]["bandwidth"] == "20"
    assoc = res["public-access-eip-assoc"]
    assert assoc["inputs"]["instanceId"] == "node-instance-id"
    assert assoc["parent"] == "public-access"
    assert res["node-instance"]["inputs"]["keyName"] == "ops"
    assert P.plan.outputs_json(public)["publicEndpoint"] == "http://203.0.113.10:8000/v1"


def test_no_rule_is_open_to_the_world(dev, public):
    for result in (dev, public):
        assert all(r["inputs"]["cidrIp"] != "0.0.0.0/0" for r in P.of_type(result, SG_RULE))


def test_network_vpc_vswitch_and_nat_egress(dev):
    res = P.by_name(dev)
    assert res["network-vpc"]["inputs"]["cidrBlock"] == "192.168.0.0/16"
    assert res["network-vswitch"]["inputs"]["cidrBlock"] == "192.168.0.0/24"
    assert res["network-vswitch"]["inputs"]["zoneId"] == "cn-hangzhou-i"
    nat = res["network-nat"]["inputs"]
    assert (nat["natType"], nat["networkType"], nat["vswitchId"]) == ("Enhanced", "internet", "network-vswitch-id")
    snat = res["network-snat"]
    assert snat["inputs"]["snatTableId"] == "stb-network-nat"
    assert snat["inputs"]["sourceVswitchId"] == "network-vswitch-id"
    assert snat["inputs"]["snatIp"] == "203.0.113.10"
    assert snat["options"]["dependsOn"] == ["network-nat-eip-assoc"]
    assert res["network-nat-eip-assoc"]["inputs"]["instanceType"] == "Nat"


def test_egress_none_declares_no_nat(tmp_path):
    cfg = P.with_changes(
        P.stack_config(),
        network={"egress": "none"},
        vllm={"image": "egs-registry-vpc.cn-hangzhou.cr.aliyuncs.com/egs/vllm:0.8.5-pytorch2.6-cu124-20250429"},
    )
    types = {r["type"] for r in P.resources(P.run(tmp_path, cfg))}
    assert "alicloud:vpc/natGateway:NatGateway" not in types
    assert "alicloud:vpc/snatEntry:SnatEntry" not in types
    assert EIP not in types


def test_role_reads_only_the_model_prefix(dev):
    res = P.by_name(dev)
    trust = json.loads(res["model-access-role"]["inputs"]["assumeRolePolicyDocument"])
    assert trust["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": ["ecs.aliyuncs.com"]}}
    ]
    policy = json.loads(res["model-access-policy"]["inputs"]["policyDocument"])
    assert policy["Statement"] == [
        {
            "Action": ["oss:GetObject"],
            "Effect": "Allow",
            "Resource": ["acs:oss:*:*:my-llm-weights/deepseek-ai/DeepSeek-R1-Distill-Qwen-7B/*"],
        },
        {
            "Action": ["oss:ListObjects"],
            "Condition": {"StringLike": {"oss:Prefix": ["deepseek-ai/DeepSeek-R1-Distill-Qwen-7B/*"]}},
            "Effect": "Allow",
            "Resource": ["acs:oss:*:*:my-llm-weights"],
        },
    ]
    assert res["model-access-role"]["inputs"]["roleName"] == "llm-dev-model-reader"
    assert res["model-access-role"]["options"]["deleteBeforeReplace"] is True
    attach = res["model-access-attach"]["inputs"]
    assert (attach["policyType"], attach["roleName"]) == ("Custom", "llm-dev-model-reader")
    assert res["node-role-attach"]["inputs"] == {
        "instanceId": "node-instance-id",
        "ramRoleName": "llm-dev-model-reader",
    }


def test_instance_disk_and_image(dev):
    res = P.by_name(dev)
    inst = res["node-instance"]
    assert inst["options"]["ignoreChanges"] == ["imageId"]
    i = inst["inputs"]
    assert i["instanceType"] == "ecs.gn7i-c8g1.2xlarge"
    assert i["imageId"] == "m-mock-alinux3-latest"
    assert i["instanceName"] == "llm-dev-master"
    assert i["internetMaxBandwidthOut"] == 0
    assert i["securityGroups"] == ["network-sg-id"]
    assert "networkInterfaceTrafficMode" not in i
    assert "roleName" not in i  # attached by RamRoleAttachment, not the deprecated field
    disk = res["node-model-disk"]["inputs"]
    assert (disk["category"], disk["size"], disk["burstingEnabled"]) == ("cloud_auto", 100, True)
    assert disk["zoneId"] == "cn-hangzhou-i"
    assert res["node-model-disk-attach"]["inputs"]["deleteWithInstance"] is False
    assert P.plan.outputs_json(dev)["imageId"] == "m-mock-alinux3-latest"


def test_r1_sized_disk_and_download_bounds(tmp_path):
    cfg = P.with_changes(P.stack_config(), model="deepseek-r1", instanceType="ecs.gn8v-8x.48xlarge",
                         vllm={"maxModelLen": 16384, "gpuMemoryUtilization": 0.95},
                         modelDisk={"category": "cloud_essd", "performanceLevel": "PL2"})  # fmt: skip
    res = P.by_name(P.run(tmp_path, cfg))
    disk = res["node-model-disk"]["inputs"]
    assert disk["size"] == fit.disk_size_gib(catalog.MODELS["deepseek-r1"]) == 852
    assert (disk["category"], disk["performanceLevel"]) == ("cloud_essd", "PL2")
    assert "burstingEnabled" not in disk
    sync = P.phase_text(res, "model-sync")
    assert "export LLM_EXPECTED_SHARDS=163\n" in sync
    assert "export LLM_EXPECTED_BYTES=688586727753\n" in sync
    # 688.6 GB at 100 MB/s, twice, plus 30 minutes: 15571 s; the command adds an hour for boot.
    assert res["model-sync-command"]["inputs"]["timeout"] == 3600 + 15571
    assert res["model-sync-invocation"]["options"]["customTimeouts"] == {"create": f"{-(-(3600 + 15571) // 60) + 10}m"}
    serve = P.phase_text(res, "serving")
    assert "--tensor-parallel-size\n8\n" in serve and "--served-model-name\nds\n" in serve


def test_commands_timeouts_and_concurrency(dev):
    res = P.by_name(dev)
    sync, serve = res["model-sync-command"]["inputs"], res["serving-command"]["inputs"]
    assert (sync["timeout"], sync["enableParameter"], sync["type"]) == (7200, True, "RunShellScript")
    assert (serve["timeout"], serve["enableParameter"]) == (3600 + 3600 + 2 * 3600, True)
    # Both wait for the host setup, not for each other: they run concurrently. Serving also waits
    # for the grant that lets the agent resolve the key.
    for inv, minutes, after in (
        ("model-sync-invocation", 130, ["node-host-setup-invocation", "host-scripts-invocation"]),
        (
            "serving-invocation",
            250,
            ["node-host-setup-invocation", "host-scripts-invocation", "model-access-api-key-attach"],
        ),
    ):
        opts = res[inv]["options"]
        assert opts["customTimeouts"] == {"create": f"{minutes}m"}
        assert opts["dependsOn"] == after
        assert res[inv]["inputs"]["instanceIds"] == ["node-instance-id"]
    setup = res["node-host-setup-invocation"]
    assert setup["options"]["customTimeouts"] == {"create": f"{(3600 + 600) // 60 + 10}m"}
    assert setup["options"]["dependsOn"][:2] == ["node-model-disk-attach", "node-role-attach"]
    assert res["node-host-setup-command"]["inputs"]["name"] == "llm-dev-master-setup"


def test_host_setup_finds_the_disk_by_serial_and_skips_what_a_single_a10_needs_not(dev):
    text = base64.b64decode(P.by_name(dev)["node-host-setup-command"]["inputs"]["commandContent"]).decode()
    # The mock disk ID is node-model-disk-id: the serial is the ID without a `d-` prefix.
    assert "LLM_MODEL_DISK_SERIAL=node-model-disk-id\n" in text
    assert "LLM_FABRIC_MANAGER=0\n" in text and "LLM_ERDMA=0\n" in text
    assert "export LLM_UNITS=llm-vllm.service\n" in text
    assert "{{" not in text


def test_instance_role_may_read_exactly_this_stacks_api_key_parameter(dev):
    res = P.by_name(dev)
    doc = json.loads(res["model-access-api-key-policy"]["inputs"]["policyDocument"])
    assert doc["Statement"][0] == {
        "Effect": "Allow",
        "Action": ["oos:GetSecretParameter"],
        "Resource": ["acs:oos:cn-hangzhou:1234567890:secretparameter/llm-dev-api-key"],
    }
    assert doc["Statement"][1]["Action"] == ["kms:GetSecretValue"]
    attach = res["model-access-api-key-attach"]["inputs"]
    assert attach == {"policyName": "llm-dev-api-key-read", "policyType": "Custom", "roleName": "llm-dev-model-reader"}


def test_disk_attachment_deletes_before_it_replaces(dev):
    """A replaced instance would otherwise wait for a disk the old instance still holds."""
    assert P.by_name(dev)["node-model-disk-attach"]["options"].get("deleteBeforeReplace") is True


def test_serving_command_carries_only_a_reference_to_the_key(dev):
    res = P.by_name(dev)
    serve = P.phase_content(res, "serving")
    assert "export LLM_API_KEY='{{oos-secret:llm-dev-api-key}}'\n" in serve
    # The key's reference and the invocation's parameters, nothing else Cloud Assistant would read.
    refs = re.findall(r"\{\{([^{}]*)\}\}", serve)
    assert sorted(refs) == sorted(["oos-secret:llm-dev-api-key", *res["serving-invocation"]["inputs"]["parameters"]])
    assert not any("{{" in v or "}}" in v for v in res["serving-invocation"]["inputs"]["parameters"].values())
    assert res["api-key-param"]["inputs"]["secretParameterName"] == "llm-dev-api-key"
    assert res["api-key-param"]["inputs"]["value"] == "[secret]"
    assert res["api-key-generated"]["inputs"]["overrideSpecial"] == "_-"
    assert res["api-key-generated"]["inputs"]["keepers"] == {"version": "1"}


def test_sizes_fit_the_limits(dev):
    res = P.by_name(dev)
    assert len(res["node-instance"]["inputs"]["userData"].encode()) <= userdata.USER_DATA_LIMIT
    for name in ("model-sync-command", "serving-command", "host-scripts-command", "node-host-setup-command"):
        assert len(res[name]["inputs"]["commandContent"]) <= scripts.COMMAND_B64_LIMIT
    for phase in ("model-sync", "serving"):
        params = res[f"{phase}-invocation"]["inputs"]["parameters"]
        assert scripts.invoke_b64_size(P.phase_content(res, phase), params) <= scripts.INVOKE_B64_LIMIT


def test_every_child_has_its_component_as_parent(dev):
    res = P.resources(dev)
    components = {r["name"] for r in res if r["type"].startswith("llm:")}
    for r in res:
        if r["type"].startswith(("llm:", "pulumi:providers:")):
            assert r["parent"] is None
        else:
            assert r["parent"] in components, r["name"]
            assert r["name"].startswith(r["parent"] + "-"), r["name"]


def test_physical_names_carry_the_stack(dev):
    res = P.by_name(dev)
    for name, key in (("model-access-role", "roleName"), ("model-access-policy", "policyName"),
                      ("api-key-param", "secretParameterName"), ("network-sg", "securityGroupName"),
                      ("model-sync-command", "name"), ("serving-command", "name")):  # fmt: skip
        assert res[name]["inputs"][key].startswith("llm-dev-"), name


def test_outputs_tell_how_to_call_it(dev):
    out = P.plan.outputs_json(dev)
    assert out["apiKey"] == "[secret]"
    assert out["privateEndpoint"] == "http://192.168.0.10:8000/v1"
    assert out["servedModelName"] == "DeepSeek-R1-Distill-Qwen-7B"
    assert "Bearer ${API_KEY}" in out["curlCommand"] and '"max_tokens": 1024' in out["curlCommand"]
    assert 'os.environ["API_KEY"]' in out["openaiPython"]
    assert out["chatboxSettings"]["apiHost"] == "http://192.168.0.10:8000"
    assert out["chatboxSettings"]["apiPath"] == "/v1/chat/completions"
    assert out["tensorParallelSize"] == 1


def test_existing_vpc_is_used_not_created(tmp_path):
    cfg = P.with_changes(
        P.stack_config(),
        network={"vpcId": "vpc-existing", "vswitchId": "vsw-existing", "existingVpcCidr": "10.10.0.0/16"},
    )
    result = P.run(tmp_path, cfg)
    res = P.by_name(result)
    assert "network-vpc" not in res and "network-vswitch" not in res
    assert res["network-sg"]["inputs"]["vpcId"] == "vpc-existing"
    assert res["node-instance"]["inputs"]["vswitchId"] == "vsw-existing"
    assert res["network-snat"]["inputs"]["sourceVswitchId"] == "vsw-existing"
    assert _rules(result) == [("8000/8000", "10.10.0.0/16", "ingress", "tcp")]


def test_every_invocation_waits_for_its_nodes_agent(dev):
    """The first run on a node (host setup) waits for the agent gate; every other run follows it."""
    res = P.by_name(dev)
    gate = res["node-agent-online"]
    assert gate["type"] == "pulumi-python:dynamic:Resource" and gate["parent"] == "node"
    assert gate["inputs"]["instance_ids"] == ["node-instance-id"] and gate["inputs"]["region"] == "cn-hangzhou"
    invocations = [r for r in res.values() if r["type"] == "alicloud:ecs/ecsInvocation:EcsInvocation"]
    assert len(invocations) == 4  # host setup, host scripts, model sync, serving

    def waits_for(name: str, target: str) -> bool:
        deps = res[name]["options"].get("dependsOn", [])
        return target in deps or any(waits_for(d, target) for d in deps if d in res)

    for inv in invocations:
        assert waits_for(inv["name"], "node-agent-online"), inv["name"]
