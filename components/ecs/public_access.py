"""PublicAccess: an EIP bound to the serving instance. Port 8000 is opened only to the allowlist
(by the security group in Network), and the traffic is plain HTTP carrying a bearer key."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_alicloud as alicloud


@dataclass
class PublicAccessArgs:
    prefix: str
    instance_id: pulumi.Input[str]
    bandwidth_mbps: int
    tags: dict[str, str]


class PublicAccess(pulumi.ComponentResource):
    ip_address: pulumi.Output[str]

    def __init__(self, name: str, args: PublicAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm:network:PublicAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        eip = alicloud.ecs.EipAddress(
            f"{name}-eip",
            address_name=f"{args.prefix}-api-eip",
            bandwidth=str(args.bandwidth_mbps),
            internet_charge_type="PayByBandwidth",
            isp="BGP",
            payment_type="PayAsYouGo",
            tags=args.tags,
            opts=child,
        )
        # A replaced instance gets the EIP only after the old association is gone.
        alicloud.ecs.EipAssociation(
            f"{name}-eip-assoc",
            allocation_id=eip.id,
            instance_id=args.instance_id,
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        self.ip_address = eip.ip_address
        self.register_outputs({"ipAddress": self.ip_address})
