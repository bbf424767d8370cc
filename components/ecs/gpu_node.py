"""GpuNode: one GPU ECS instance with its model disk and instance RAM role.

The OS image is looked up once and then ignored (`components/common/images.py`); the resolved
ID is exported. The model disk is a separate `EcsDisk` + attachment so resizing it
never replaces the instance; its category and bursting are explicit so a 700 GB download is not
throttled by a default `cloud_efficiency` disk.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_alicloud as alicloud

from components.common.encryption import disk_encryption, system_disk_encryption
from components.common.images import os_image_id


@dataclass
class GpuNodeArgs:
    prefix: str
    instance_name: str  # physical name, e.g. llm-dev-master
    instance_type: str
    zone_id: str
    vswitch_id: pulumi.Input[str]
    security_group_id: pulumi.Input[str]
    role_name: pulumi.Input[str]
    disk_size_gib: int
    disk_category: str
    disk_performance_level: str | None
    disk_bursting: bool | None
    charge_type: str
    period: int | None
    spot: bool
    uefi: bool
    tags: dict[str, str]
    user_data: str  # static: host setup is a Cloud Assistant phase (components/ecs/userdata.py)
    image_id: str | None = None
    key_pair_name: str | None = None
    erdma: bool = False
    deployment_set_id: pulumi.Input[str] | None = None
    encrypted: bool = True  # system and model disk (llm:encryption; both force replacement)
    kms_key_id: str | None = None


class GpuNode(pulumi.ComponentResource):
    instance_id: pulumi.Output[str]
    private_ip: pulumi.Output[str]
    image_id: pulumi.Output[str]
    disk_id: pulumi.Output[str]
    # Not an output: what a Cloud Assistant run on this node must wait for.
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: GpuNodeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm:compute:GpuNode", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        image_id = os_image_id(self, args.instance_type, args.image_id, args.uefi)

        disk = alicloud.ecs.EcsDisk(
            f"{name}-model-disk",
            disk_name=f"{args.instance_name}-models",
            zone_id=args.zone_id,
            size=args.disk_size_gib,
            category=args.disk_category,
            performance_level=args.disk_performance_level,
            bursting_enabled=args.disk_bursting,
            payment_type="PayAsYouGo",
            delete_auto_snapshot=True,
            **disk_encryption(args.encrypted, args.kms_key_id),
            description=f"{args.prefix}: model weights (kept across instance settings changes)",
            tags=args.tags,
            opts=child,
        )
        prepaid = args.charge_type == "PrePaid"
        instance = alicloud.ecs.Instance(
            f"{name}-instance",
            instance_name=args.instance_name,
            host_name=args.instance_name,
            instance_type=args.instance_type,
            image_id=image_id,
            vswitch_id=args.vswitch_id,
            security_groups=[args.security_group_id],
            system_disk_category="cloud_essd",
            system_disk_size=100,
            **system_disk_encryption(args.encrypted, args.kms_key_id),
            internet_max_bandwidth_out=0,  # no public IP; PublicAccess binds an EIP when asked
            instance_charge_type=args.charge_type,
            period=args.period if prepaid else None,
            period_unit="Month" if prepaid else None,
            force_delete=True if prepaid else None,
            spot_strategy="SpotAsPriceGo" if args.spot else None,
            key_name=args.key_pair_name,
            network_interface_traffic_mode="HighPerformance" if args.erdma else None,
            deployment_set_id=args.deployment_set_id,
            user_data=args.user_data,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["image_id"]),
        )
        # A replaced instance (traffic mode, spot, system disk category force it) must get the
        # disk only after the old attachment is gone: the disk can be attached once.
        attachment = alicloud.ecs.EcsDiskAttachment(
            f"{name}-model-disk-attach",
            disk_id=disk.id,
            instance_id=instance.id,
            delete_with_instance=False,
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        role = alicloud.ecs.RamRoleAttachment(
            f"{name}-role-attach",
            instance_id=instance.id,
            ram_role_name=args.role_name,
            opts=child,
        )
        self.instance_id = instance.id
        self.private_ip = instance.private_ip
        self.image_id = image_id
        self.disk_id = disk.id
        self.ready = [attachment, role]
        self.register_outputs(
            {"instanceId": self.instance_id, "privateIp": self.private_ip, "imageId": image_id, "diskId": self.disk_id}
        )
