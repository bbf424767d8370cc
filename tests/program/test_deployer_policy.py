"""The shipped deployer policy covers every resource type any example plan declares."""

from __future__ import annotations

import json

import pytest

from planner import run as plan
from tests import planning as P
from tests.regenerate_golden import example_stacks

POLICY = P.ROOT / "docs" / "deployer-policy.json"

# What the provider calls for each resource type: create, read, update, delete, tag.
ACTIONS: dict[str, set[str]] = {
    "alicloud:vpc/network:Network": {"vpc:CreateVpc", "vpc:DeleteVpc", "vpc:DescribeVpcs", "vpc:DescribeVpcAttribute", "vpc:ModifyVpcAttribute", "vpc:TagResources", "vpc:UnTagResources", "vpc:ListTagResources"},
    "alicloud:vpc/switch:Switch": {"vpc:CreateVSwitch", "vpc:DeleteVSwitch", "vpc:DescribeVSwitches", "vpc:DescribeVSwitchAttributes", "vpc:ModifyVSwitchAttribute"},
    "alicloud:vpc/natGateway:NatGateway": {"vpc:CreateNatGateway", "vpc:DeleteNatGateway", "vpc:DescribeNatGateways", "vpc:ModifyNatGatewayAttribute", "vpc:GetNatGatewayAttribute"},
    "alicloud:vpc/snatEntry:SnatEntry": {"vpc:CreateSnatEntry", "vpc:DeleteSnatEntry", "vpc:DescribeSnatTableEntries", "vpc:ModifySnatEntry"},
    "alicloud:ecs/eipAddress:EipAddress": {"vpc:AllocateEipAddress", "vpc:ReleaseEipAddress", "vpc:DescribeEipAddresses", "vpc:ModifyEipAddressAttribute"},
    "alicloud:ecs/eipAssociation:EipAssociation": {"vpc:AssociateEipAddress", "vpc:UnassociateEipAddress", "vpc:DescribeEipAddresses"},
    "alicloud:ecs/securityGroup:SecurityGroup": {"ecs:CreateSecurityGroup", "ecs:DeleteSecurityGroup", "ecs:DescribeSecurityGroups", "ecs:DescribeSecurityGroupAttribute", "ecs:ModifySecurityGroupAttribute", "ecs:ModifySecurityGroupPolicy"},
    "alicloud:ecs/securityGroupRule:SecurityGroupRule": {"ecs:AuthorizeSecurityGroup", "ecs:RevokeSecurityGroup", "ecs:DescribeSecurityGroupAttribute", "ecs:ModifySecurityGroupRule"},
    "alicloud:ecs/instance:Instance": {"ecs:RunInstances", "ecs:DeleteInstance", "ecs:DescribeInstances", "ecs:DescribeInstanceAttribute", "ecs:ModifyInstanceAttribute", "ecs:StartInstance", "ecs:StopInstance", "ecs:RebootInstance", "ecs:DescribeUserData", "ecs:DescribeImages", "ecs:DescribeInstanceTypes", "ecs:DescribeAvailableResource", "ecs:ModifyInstanceChargeType", "ecs:DescribeDisks", "ecs:DescribeNetworkInterfaces", "ecs:TagResources", "ecs:UntagResources", "ecs:ListTagResources"},
    "alicloud:ecs/ecsDisk:EcsDisk": {"ecs:CreateDisk", "ecs:DeleteDisk", "ecs:DescribeDisks", "ecs:ResizeDisk", "ecs:ModifyDiskAttribute", "ecs:ModifyDiskSpec"},
    "alicloud:ecs/ecsDiskAttachment:EcsDiskAttachment": {"ecs:AttachDisk", "ecs:DetachDisk", "ecs:DescribeDisks"},
    "alicloud:ecs/ramRoleAttachment:RamRoleAttachment": {"ecs:AttachInstanceRamRole", "ecs:DetachInstanceRamRole", "ecs:DescribeInstanceRamRole", "ram:PassRole"},
    "alicloud:ecs/command:Command": {"ecs:CreateCommand", "ecs:DeleteCommand", "ecs:DescribeCommands"},
    # The serving command resolves {{oos-secret:...}} with the caller's rights.
    "alicloud:ecs/ecsInvocation:EcsInvocation": {"ecs:InvokeCommand", "ecs:DescribeInvocations", "ecs:DescribeInvocationResults", "ecs:StopInvocation", "oos:GetSecretParameter", "kms:GetSecretValue"},
    "alicloud:ram/role:Role": {"ram:CreateRole", "ram:DeleteRole", "ram:GetRole", "ram:UpdateRole", "ram:ListPoliciesForRole", "ram:DetachPolicyFromRole"},
    "alicloud:ram/policy:Policy": {"ram:CreatePolicy", "ram:DeletePolicy", "ram:GetPolicy", "ram:CreatePolicyVersion", "ram:DeletePolicyVersion", "ram:ListPolicyVersions", "ram:GetPolicyVersion", "ram:ListEntitiesForPolicy"},
    "alicloud:ram/rolePolicyAttachment:RolePolicyAttachment": {"ram:AttachPolicyToRole", "ram:DetachPolicyFromRole", "ram:ListPoliciesForRole"},
    "alicloud:oos/secretParameter:SecretParameter": {"oos:CreateSecretParameter", "oos:GetSecretParameter", "oos:GetSecretParameters", "oos:UpdateSecretParameter", "oos:DeleteSecretParameter", "kms:GetSecretValue"},
    "alicloud:ecs/ecsDeploymentSet:EcsDeploymentSet": {"ecs:CreateDeploymentSet", "ecs:DeleteDeploymentSet", "ecs:DescribeDeploymentSets", "ecs:ModifyDeploymentSetAttribute"},
    "random:index/randomPassword:RandomPassword": set(),  # local to the engine
    # The only dynamic resource: the agent-online gate (components/common/agent_online.py).
    "pulumi-python:dynamic:Resource": {"ecs:DescribeCloudAssistantStatus"},
    # acs. The cluster entry includes the kubeconfig invoke (cs.get_cluster_credential) and what
    # the provider reads while it waits for the cluster (task and resource listings).
    "alicloud:cs/managedKubernetes:ManagedKubernetes": {"cs:CreateCluster", "cs:DeleteCluster", "cs:DescribeClusterDetail", "cs:DescribeClustersV1", "cs:ModifyCluster", "cs:UpgradeCluster", "cs:DescribeClusterResources", "cs:DescribeTaskInfo", "cs:DescribeClusterUserKubeconfig", "cs:DescribeClusterAddonsVersion", "cs:TagResources", "cs:UntagResources", "cs:ListTagResources", "vpc:DescribeVSwitches", "vpc:DescribeVpcs", "ram:PassRole"},
    "alicloud:cs/kubernetesPermission:KubernetesPermission": {"cs:GrantPermissions", "cs:DescribeUserPermission", "cs:UpdateUserPermissions"},
    "alicloud:slb/acl:Acl": {"slb:CreateAccessControlList", "slb:DeleteAccessControlList", "slb:DescribeAccessControlLists", "slb:DescribeAccessControlListAttribute", "slb:SetAccessControlListAttribute", "slb:AddAccessControlListEntry", "slb:RemoveAccessControlListEntry", "slb:TagResources", "slb:UntagResources", "slb:ListTagResources"},
    # llm:replicas > 1 or TLS (components/ecs/load_balancer.py; TF resource_alicloud_slb_*.go requests).
    "alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer": {"slb:CreateLoadBalancer", "slb:DeleteLoadBalancer", "slb:DescribeLoadBalancerAttribute", "slb:DescribeLoadBalancers", "slb:SetLoadBalancerName", "slb:SetLoadBalancerStatus", "slb:SetLoadBalancerDeleteProtection", "slb:SetLoadBalancerModificationProtection", "slb:ModifyLoadBalancerInstanceChargeType", "slb:ModifyLoadBalancerInstanceSpec", "slb:ModifyLoadBalancerInternetSpec", "slb:ModifyLoadBalancerPayType", "slb:TagResources", "slb:UntagResources", "slb:ListTagResources"},
    "alicloud:slb/listener:Listener": {"slb:CreateLoadBalancerTCPListener", "slb:CreateLoadBalancerHTTPSListener", "slb:SetLoadBalancerTCPListenerAttribute", "slb:SetLoadBalancerHTTPSListenerAttribute", "slb:DescribeLoadBalancerTCPListenerAttribute", "slb:DescribeLoadBalancerHTTPSListenerAttribute", "slb:StartLoadBalancerListener", "slb:StopLoadBalancerListener", "slb:DeleteLoadBalancerListener", "slb:DescribeLoadBalancerAttribute"},
    "alicloud:slb/backendServer:BackendServer": {"slb:AddBackendServers", "slb:RemoveBackendServers", "slb:SetBackendServers", "slb:DescribeLoadBalancerAttribute"},
    "alicloud:slb/aclEntryAttachment:AclEntryAttachment": {"slb:AddAccessControlListEntry", "slb:RemoveAccessControlListEntry", "slb:DescribeAccessControlListAttribute"},
    "alicloud:slb/serverCertificate:ServerCertificate": {"slb:UploadServerCertificate", "slb:DeleteServerCertificate", "slb:SetServerCertificateName", "slb:DescribeServerCertificates", "cas:DescribeUserCertificateDetail"},
    # Kubernetes objects go through the cluster's API with the kubeconfig (RBAC, not RAM).
    **{t: set() for t in (
        "kubernetes:core/v1:Namespace", "kubernetes:core/v1:ServiceAccount", "kubernetes:core/v1:PersistentVolume",
        "kubernetes:core/v1:PersistentVolumeClaim", "kubernetes:core/v1:Secret", "kubernetes:core/v1:Service",
        "kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:Job", "kubernetes:helm.sh/v3:Release",
        "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
    )},
}  # fmt: skip


# Names the stack gives RAM and OOS objects start with `llm-` (components/naming.py).
SCOPED = {
    "ram": ["acs:ram:*:*:role/llm-*", "acs:ram:*:*:policy/llm-*"],
    "oos": ["acs:oos:*:*:secretparameter/llm-*"],
}


def policy_actions() -> set[str]:
    doc = json.loads(POLICY.read_text())
    assert doc["Version"] == "1"
    return {a for s in doc["Statement"] if s["Effect"] == "Allow" for a in s["Action"]}


@pytest.fixture(scope="module")
def types(tmp_path_factory):
    """Every example stack, plus the dev stack with public access and SSH (optional resources)."""
    full = P.with_changes(P.stack_config(), publicAccess={"enabled": True, "allowedCidrs": ["203.0.113.0/24"]},
                          ssh={"allowedCidrs": ["198.51.100.0/28"]})  # fmt: skip
    lb = P.with_changes(full, replicas=2, publicAccess={"tls": {"certificateId": "12345678"}})
    results = [plan.run_program(s) for s in example_stacks()] + [
        P.run(tmp_path_factory.mktemp("full"), full),
        P.run(tmp_path_factory.mktemp("lb"), lb),
        P.run(tmp_path_factory.mktemp("lb-tcp"), P.with_changes(full, replicas=2)),
    ]
    return {r.type for res in results for r in res.records if not r.type.startswith(("llm:", "pulumi:"))}


def test_every_declared_type_has_known_actions(types):
    assert types - set(ACTIONS) == set(), "map the new resource types' API actions here and in the policy"


def test_policy_covers_every_declared_type(types):
    have = policy_actions()
    missing = {t: sorted(ACTIONS[t] - have) for t in types if ACTIONS[t] - have}
    assert missing == {}


def test_policy_is_not_a_wildcard_and_scopes_names():
    assert not [a for a in policy_actions() if a.endswith(":*") or a == "*"]
    doc = json.loads(POLICY.read_text())
    for s in doc["Statement"]:
        service = s["Action"][0].split(":")[0]
        if service in SCOPED:
            assert s["Resource"] == SCOPED[service]


def write_policy() -> None:  # pragma: no cover - used once to seed docs/deployer-policy.json
    by_service: dict[str, set[str]] = {}
    for actions in ACTIONS.values():
        for a in actions:
            by_service.setdefault(a.split(":")[0], set()).add(a)
    statements = [
        {"Effect": "Allow", "Action": sorted(v), "Resource": SCOPED.get(k, "*")} for k, v in sorted(by_service.items())
    ]
    POLICY.write_text(json.dumps({"Version": "1", "Statement": statements}, indent=2) + "\n")
