"""JumpHost: a small ECS instance in the VPC that holds the stack's manifests for `kubectl`.

- no public IP unless `llm:ssh.allowedCidrs` is set (Cloud Assistant and Workbench need none);
- a RAM role with read-only access to this cluster only (`cs:Describe*` on it: ACS asks for at
  least that before RBAC can be granted; it includes `cs:DescribeClusterUserKubeconfig`); the
  host fetches its kubeconfig itself (`llm-kubeconfig`), so no credential passes through
  user-data or a command;
- in the cluster that role may act in the namespace llm-model only, through the stack's own
  ClusterRole (ACK's `dev` plus LeaderWorkerSets: `dev` does not cover
  `leaderworkerset.x-k8s.io`, and ACS binds only custom ClusterRoles besides the predefined ones)
  bound namespace-scoped by `cs.KubernetesPermission(is_custom=True)`, after the role's policy is
  attached and after the ClusterRole exists;
- kubectl for the cluster's minor version (user-data);
- every manifest the stack applies, in `/root/llm-k8s-resource/` under the seed's names, written
  by a Cloud Assistant command whose content (and so whose run) follows the manifests' hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_alicloud as alicloud

from components.acs.k8s import k8s_object
from components.common import scripts
from components.common.encryption import system_disk_encryption
from components.common.host_command import run_on_hosts
from components.common.images import os_image_id
from components.common.ram import ECS_TRUST
from components.common.ram_grant import grant
from components.common.scripts import pack_files

MANIFEST_DIR = "/root/llm-k8s-resource"
# Cloud Assistant's own bound for writing a few files.
MANIFESTS_TIMEOUT_S = 300


def kubeconfig_policy(cluster_id: str) -> dict:
    """Read-only on this cluster (ACS's documented minimum before RBAC; includes the user
    kubeconfig); what the role may do inside is RBAC's business."""
    return {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["cs:Describe*"],
                "Resource": [f"acs:cs:*:*:cluster/{cluster_id}"],
            }
        ],
    }


def files_hash(files: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(dict(files), sort_keys=True).encode()).hexdigest()[:16]


def manifests_command(files: Mapping[str, str], cluster_id: str, region: str, role_name: str, namespace: str) -> str:
    env = {
        "LLM_MANIFESTS_HASH": files_hash(files),
        "LLM_CLUSTER_ID": cluster_id,
        "LLM_REGION": region,
        "LLM_ROLE_NAME": role_name,
        "LLM_NAMESPACE": namespace,
        "LLM_MANIFEST_DIR": MANIFEST_DIR,
        "LLM_ETC_DIR": "/etc/llm",
        "LLM_MANIFESTS_TGZ_B64": pack_files(files),
    }
    return scripts.render_command(scripts.script_text("jump-host-manifests.sh"), env)


def bootstrap_user_data(k8s_minor: str) -> str:
    return scripts.render_command(scripts.script_text("jump-host-bootstrap.sh"), {"LLM_K8S_MINOR": k8s_minor})


@dataclass
class JumpHostArgs:
    prefix: str
    region: str
    zone_id: str
    vswitch_id: pulumi.Input[str]
    security_group_id: pulumi.Input[str]
    instance_type: str
    k8s_minor: str
    cluster_id: pulumi.Output[str]
    namespace: str
    files: pulumi.Output[dict[str, str]]  # name -> text (components/manifests.jump_host_files)
    ssh_public: bool
    key_pair_name: str | None
    tags: dict[str, str]
    cluster_role: dict  # the ClusterRole manifest the role is bound to (components/acs/manifests/rbac.py)
    image_id: str | None = None
    encrypted: bool = True  # system disk (llm:encryption; forces replacement)
    kms_key_id: str | None = None


class JumpHost(pulumi.ComponentResource):
    """Needs the Alibaba Cloud and the Kubernetes provider in `opts.providers`."""

    instance_id: pulumi.Output[str]
    private_ip: pulumi.Output[str]
    public_ip: pulumi.Output[str] | None

    def __init__(self, name: str, args: JumpHostArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm:acs:JumpHost", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        named = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        role_name = f"{args.prefix}-jump-host"
        role = alicloud.ram.Role(
            f"{name}-role",
            role_name=role_name,
            assume_role_policy_document=json.dumps(ECS_TRUST, sort_keys=True),
            description=f"{args.prefix}: the jump host fetches the cluster's kubeconfig",
            force=True,
            opts=named,
        )
        attach = grant(
            self, f"{name}-policy", f"{name}-policy-attach", role, f"{args.prefix}-jump-kubeconfig",
            args.cluster_id.apply(lambda c: json.dumps(kubeconfig_policy(c), sort_keys=True)),
            f"{args.prefix}: read-only (cs:Describe*) on the stack's cluster only",
        ).attachment  # fmt: skip
        cluster_role = k8s_object(f"{name}-cluster-role", args.cluster_role, child)
        alicloud.cs.KubernetesPermission(
            f"{name}-rbac",
            uid=role.role_id,
            permissions=[
                {
                    "cluster": args.cluster_id,
                    "role_type": "namespace",
                    "namespace": args.namespace,
                    "role_name": args.cluster_role["metadata"]["name"],
                    "is_ram_role": True,
                    "is_custom": True,
                }
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[attach, cluster_role]),
        )

        image_id = os_image_id(self, args.instance_type, args.image_id)
        instance = alicloud.ecs.Instance(
            f"{name}-instance",
            instance_name=f"{args.prefix}-jump",
            host_name=f"{args.prefix}-jump",
            instance_type=args.instance_type,
            image_id=image_id,
            vswitch_id=args.vswitch_id,
            security_groups=[args.security_group_id],
            system_disk_category="cloud_essd",
            system_disk_size=40,
            **system_disk_encryption(args.encrypted, args.kms_key_id),
            # A public IP only for SSH from llm:ssh.allowedCidrs (the security group's rules).
            internet_max_bandwidth_out=5 if args.ssh_public else 0,
            instance_charge_type="PostPaid",
            key_name=args.key_pair_name,
            user_data=bootstrap_user_data(args.k8s_minor),
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["image_id"]),
        )
        role_attach = alicloud.ecs.RamRoleAttachment(
            f"{name}-role-attach", instance_id=instance.id, ram_role_name=role.role_name, opts=child
        )
        content = pulumi.Output.all(args.files, args.cluster_id).apply(
            lambda v: manifests_command(v[0], v[1], args.region, role_name, args.namespace)
        )
        run_on_hosts(
            f"{name}-manifests",
            self,
            f"{args.prefix}-jump-manifests",
            args.files.apply(
                lambda f: f"{args.prefix}: manifests {files_hash(f)} to {MANIFEST_DIR} (managed by Pulumi)"
            ),  # type: ignore[arg-type]
            content,
            MANIFESTS_TIMEOUT_S,
            [instance.id],
            depends_on=[role_attach, attach],
        )
        self.instance_id = instance.id
        self.private_ip = instance.private_ip
        self.public_ip = instance.public_ip if args.ssh_public else None
        self.register_outputs(
            {"instanceId": self.instance_id, "privateIp": self.private_ip, "publicIp": self.public_ip}
        )
