"""ModelAccess: the instance RAM role. It reads the model prefix and this stack's API-key secret
parameter (the Cloud Assistant agent resolves `{{oos-secret:...}}` with it), nothing else."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_alicloud as alicloud

from components.common.ram import ECS_TRUST, oss_read_policy, secret_parameter_read_policy
from components.common.ram_grant import grant


@dataclass
class ModelAccessArgs:
    prefix: str
    bucket: str
    object_prefix: str
    region: str
    api_key_parameter: pulumi.Input[str]  # the OOS secret parameter's name
    kms: bool = False


class ModelAccess(pulumi.ComponentResource):
    role_name: pulumi.Output[str]
    policy_name: pulumi.Output[str]
    # Not an output: the serving run waits for it (the key is resolved with this grant).
    secret_attachment: pulumi.Resource

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
        read = grant(
            self, f"{name}-policy", f"{name}-attach", role, f"{args.prefix}-model-read",
            json.dumps(oss_read_policy(args.bucket, args.object_prefix, args.kms), sort_keys=True),
            f"read-only on oss://{args.bucket}/{args.object_prefix}",
        )  # fmt: skip
        account = alicloud.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        secret = grant(
            self, f"{name}-api-key-policy", f"{name}-api-key-attach", role, f"{args.prefix}-api-key-read",
            pulumi.Output.all(account, args.api_key_parameter).apply(
                lambda v: json.dumps(secret_parameter_read_policy(args.region, v[0], v[1]), sort_keys=True)
            ),
            f"{args.prefix}: Cloud Assistant on the GPU instances reads the API key parameter",
        )  # fmt: skip
        self.secret_attachment = secret.attachment
        policy = read.policy
        self.role_name = role.role_name
        self.policy_name = policy.policy_name
        self.register_outputs({"roleName": self.role_name, "policyName": self.policy_name})
