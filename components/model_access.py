"""ModelAccess: the instance RAM role that reads the model prefix, and nothing else."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_alicloud as alicloud

ECS_TRUST = {
    "Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": ["ecs.aliyuncs.com"]}}],
    "Version": "1",
}


def oss_read_policy(bucket: str, prefix: str, kms: bool = False) -> dict:
    """GetObject on the prefix; ListObjects on the bucket only under that prefix (FACTS.md)."""
    statements: list[dict] = [
        {"Effect": "Allow", "Action": ["oss:GetObject"], "Resource": [f"acs:oss:*:*:{bucket}/{prefix}*"]},
        {
            "Effect": "Allow",
            "Action": ["oss:ListObjects"],
            "Resource": [f"acs:oss:*:*:{bucket}"],
            "Condition": {"StringLike": {"oss:Prefix": [f"{prefix}*"]}},
        },
    ]
    if kms:
        statements.append({"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": ["*"]})
    return {"Version": "1", "Statement": statements}


@dataclass
class ModelAccessArgs:
    prefix: str
    bucket: str
    object_prefix: str
    kms: bool = False


class ModelAccess(pulumi.ComponentResource):
    role_name: pulumi.Output[str]

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
        self.register_outputs({"roleName": self.role_name, "policyName": policy.policy_name})
