"""The OS image of every ECS instance the stack creates: Alibaba Cloud Linux 3, looked up once.

`get_images(most_recent)` changes whenever Alibaba publishes an image, and the provider would
then swap the system disk: the instances ignore `image_id` changes and export the resolved ID.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_alicloud as alicloud

ALINUX3_FAMILY = "acs:alibaba_cloud_linux_3_2104_lts_x64"
# UEFI images for ebmgn8* (FACTS.md); the name pattern is unverified: override with llm:imageId.
ALINUX3_UEFI_REGEX = r"^aliyun_3_.*uefi.*"


def os_image_id(
    parent: pulumi.Resource, instance_type: str, image_id: str | None = None, uefi: bool = False
) -> pulumi.Output[str]:
    """The given image, or the newest Alibaba Cloud Linux 3 (UEFI where the type needs it)."""
    if image_id:
        return pulumi.Output.from_input(image_id)
    lookup: dict[str, Any] = {"name_regex": ALINUX3_UEFI_REGEX} if uefi else {"image_family": ALINUX3_FAMILY}
    images = alicloud.ecs.get_images_output(
        owners="system", most_recent=True, instance_type=instance_type,
        opts=pulumi.InvokeOutputOptions(parent=parent), **lookup,
    )  # fmt: skip
    return images.images.apply(lambda imgs: imgs[0].id)
