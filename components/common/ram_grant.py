"""A custom RAM policy attached to a role: the pair every shape declares for its roles.

The policy's physical name is global in the account and fixed, so a replacement deletes the old
policy first (`delete_before_replace`); `force` detaches it from its roles on delete.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_alicloud as alicloud


@dataclass
class Grant:
    policy: alicloud.ram.Policy
    attachment: alicloud.ram.RolePolicyAttachment


def grant(
    parent: pulumi.Resource,
    policy_resource_name: str,
    attachment_resource_name: str,
    role: alicloud.ram.Role,
    policy_name: str,
    document: pulumi.Input[str],
    description: pulumi.Input[str],
) -> Grant:
    """Declare `policy_resource_name` (a custom policy) and `attachment_resource_name` (on `role`)."""
    policy = alicloud.ram.Policy(
        policy_resource_name,
        policy_name=policy_name,
        policy_document=document,
        description=description,
        force=True,
        opts=pulumi.ResourceOptions(parent=parent, delete_before_replace=True),
    )
    attachment = alicloud.ram.RolePolicyAttachment(
        attachment_resource_name,
        policy_name=policy.policy_name,
        policy_type="Custom",
        role_name=role.role_name,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return Grant(policy, attachment)
