"""NAT egress: an internet NAT gateway, its EIP and one SNAT entry per source vSwitch.

Outbound only (driver, Docker, ossutil, image pulls), no inbound. Shared by the ECS network and
the ACS cluster, which differ only in which vSwitches they route.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_alicloud as alicloud


def nat_egress(
    name: str,
    prefix: str,
    vpc_id: pulumi.Input[str],
    gateway_vswitch_id: pulumi.Input[str],
    sources: Sequence[tuple[str, pulumi.Input[str]]],  # (name suffix, vSwitch ID) per SNAT entry
    bandwidth_mbps: int,
    tags: dict[str, str],
    child: pulumi.ResourceOptions,
) -> tuple[alicloud.vpc.NatGateway, list[alicloud.vpc.SnatEntry]]:
    """Declare the gateway as `<name>-nat` etc. under `child`'s parent; SNAT entries `<name>-<suffix>`."""
    nat = alicloud.vpc.NatGateway(
        f"{name}-nat",
        nat_gateway_name=f"{prefix}-nat",
        vpc_id=vpc_id,
        vswitch_id=gateway_vswitch_id,
        nat_type="Enhanced",
        network_type="internet",
        payment_type="PayAsYouGo",
        internet_charge_type="PayByLcu",
        tags=tags,
        opts=child,
    )
    eip = alicloud.ecs.EipAddress(
        f"{name}-nat-eip",
        address_name=f"{prefix}-nat-eip",
        bandwidth=str(bandwidth_mbps),
        internet_charge_type="PayByTraffic",
        isp="BGP",
        payment_type="PayAsYouGo",
        tags=tags,
        opts=child,
    )
    assoc = alicloud.ecs.EipAssociation(
        f"{name}-nat-eip-assoc", allocation_id=eip.id, instance_id=nat.id, instance_type="Nat", opts=child
    )
    entries = [
        alicloud.vpc.SnatEntry(
            f"{name}-{suffix}",
            snat_table_id=nat.snat_table_ids,
            source_vswitch_id=vswitch_id,
            snat_ip=eip.ip_address,
            snat_entry_name=f"{prefix}-{suffix}",
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[assoc])),
        )
        for suffix, vswitch_id in sources
    ]
    return nat, entries
