"""ModelAccess: the instance RAM role that reads the model prefix, and nothing else."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_alicloud as alicloud

from components.common.ram import ECS_TRUST, oss_read_policy


@dataclass
class ModelAccessArgs:
    prefix: str
    bucket: str
    object_prefix: str
    kms: bool = False


class ModelAccess(pulumi.ComponentResource):
    role_name: pulumi.Output[str]
    policy_name: pulumi.Output[str]

    def __init__(self, name: str, args: ModelAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm:access:ModelAccess", name, None, opts)
        # Fixed physical names collide on replacement: delete the old one first.
        child = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        role = alicloud.ram.Role(
            f"{name}-role",
            role_name=f"{args.prefix}-model-reader",
            assume_role_policy_document=json.dumps(ECS_TRUST, sort_keys=True),
            description=f"{args.prefix}: GPU instances read model weights from OSS",
            force=True,
            opts=child,
        )
        policy = alicloud.ram.Policy(
            f"{name}-policy",
            policy_name=f"{args.prefix}-model-read",
            policy_document=json.dumps(oss_read_policy(args.bucket, args.object_prefix, args.kms), sort_keys=True),
            description=f"read-only on oss://{args.bucket}/{args.object_prefix}",
            force=True,
            opts=child,
        )
        alicloud.ram.RolePolicyAttachment(
            f"{name}-attach",
            policy_name=policy.policy_name,
            policy_type="Custom",
            role_name=role.role_name,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.role_name = role.role_name
        self.policy_name = policy.policy_name
        self.register_outputs({"roleName": self.role_name, "policyName": self.policy_name})
