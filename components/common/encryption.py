"""Encryption at rest of ECS system disks and model disks (`llm:encryption`).

Both provider flags are ForceNew (terraform-provider-alicloud @81c43b67:
`resource_alicloud_instance.go` `system_disk_encrypted`/`system_disk_kms_key_id`,
`resource_alicloud_ecs_disk.go` `encrypted`/`kms_key_id`): turning them on for a stack that
exists replaces its instances and disks. So with `enabled: false` nothing is sent at all, and a
stack created before release 2 sees no change (the flags are Optional+Computed: the state holds
the cloud's `false`). Without a key ID ECS uses the account's service key (`alias/acs/ecs`).
"""

from __future__ import annotations

from typing import Any


def system_disk_encryption(enabled: bool, kms_key_id: str | None) -> dict[str, Any]:
    """`ecs.Instance` keyword arguments: nothing when off (no diff for an existing stack)."""
    if not enabled:
        return {}
    return {"system_disk_encrypted": True} | ({"system_disk_kms_key_id": kms_key_id} if kms_key_id else {})


def disk_encryption(enabled: bool, kms_key_id: str | None) -> dict[str, Any]:
    """`ecs.EcsDisk` keyword arguments: nothing when off."""
    if not enabled:
        return {}
    return {"encrypted": True} | ({"kms_key_id": kms_key_id} if kms_key_id else {})
