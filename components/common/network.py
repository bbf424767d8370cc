"""Network: VPC and vSwitch (or existing ones), NAT egress, and the security group."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_alicloud as alicloud

from components.common.nat_egress import nat_egress
from components.common.ports import PORT


def cidr_ingress(
    resource_name: str,
    security_group_id: pulumi.Input[str],
    port_range: str,
    cidr: pulumi.Input[str],
    description: str,
    opts: pulumi.ResourceOptions,
    protocol: str = "tcp",
) -> alicloud.ecs.SecurityGroupRule:
    """One ingress rule from a CIDR on the intranet NIC (every shape's rules have this form)."""
    return alicloud.ecs.SecurityGroupRule(
        resource_name,
        security_group_id=security_group_id,
        type="ingress",
        ip_protocol=protocol,
        port_range=port_range,
        cidr_ip=cidr,
        nic_type="intranet",
        policy="accept",
        priority=1,
        description=description,
        opts=opts,
    )


@dataclass
class NetworkArgs:
    prefix: str  # physical name prefix, e.g. llm-dev
    zone_id: str
    vpc_cidr: str
    vswitch_cidr: str  # unused with an existing vSwitch
    egress: str  # "nat" | "none"
    public_cidrs: list[str]  # may reach port 8000 from the internet (empty: private only)
    ssh_cidrs: list[str]  # may reach port 22 (empty: closed)
    tags: dict[str, str]
    existing_vpc_id: str | None = None
    existing_vswitch_id: str | None = None
    nat_bandwidth_mbps: int = 100
    extra_ingress: list[tuple[str, str]] = field(default_factory=list)  # (port range, cidr)
    # Nodes of one cluster reach each other on every port (Ray 6379, dashboard, object manager,
    # NCCL), through a rule whose source is the group itself: nothing of that reaches outside.
    intra_group: bool = False


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    vswitch_id: pulumi.Output[str]
    security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        p = args.prefix

        if args.existing_vpc_id:
            self.vpc_id = pulumi.Output.from_input(args.existing_vpc_id)
            self.vswitch_id = pulumi.Output.from_input(args.existing_vswitch_id or "")
        else:
            vpc = alicloud.vpc.Network(
                f"{name}-vpc", vpc_name=f"{p}-vpc", cidr_block=args.vpc_cidr, tags=args.tags, opts=child
            )
            vsw = alicloud.vpc.Switch(
                f"{name}-vswitch",
                vswitch_name=f"{p}-vsw",
                vpc_id=vpc.id,
                cidr_block=args.vswitch_cidr,
                zone_id=args.zone_id,
                tags=args.tags,
                opts=child,
            )
            self.vpc_id, self.vswitch_id = vpc.id, vsw.id

        self.nat_gateway_id: pulumi.Output[str] | None = None
        if args.egress == "nat":
            nat, _ = nat_egress(
                name, args.prefix, self.vpc_id, self.vswitch_id, [("snat", self.vswitch_id)],
                args.nat_bandwidth_mbps, args.tags, child,
            )  # fmt: skip
            self.nat_gateway_id = nat.id

        sg = alicloud.ecs.SecurityGroup(
            f"{name}-sg",
            security_group_name=f"{p}-sg",
            description=f"{p}: vLLM API from the VPC and the allowlist; SSH only from ssh.allowedCidrs",
            vpc_id=self.vpc_id,
            tags=args.tags,
            opts=child,
        )
        self.security_group_id = sg.id
        rules = [("api-vpc", f"{PORT}/{PORT}", args.vpc_cidr)]
        rules += [(f"api-public-{i}", f"{PORT}/{PORT}", c) for i, c in enumerate(args.public_cidrs)]
        rules += [(f"ssh-{i}", "22/22", c) for i, c in enumerate(args.ssh_cidrs)]
        rules += [(f"extra-{i}", pr, c) for i, (pr, c) in enumerate(args.extra_ingress)]
        for rule_name, port_range, cidr in rules:
            cidr_ingress(f"{name}-{rule_name}", sg.id, port_range, cidr, f"{p} {rule_name}", child)
        if args.intra_group:
            alicloud.ecs.SecurityGroupRule(
                f"{name}-intra-group",
                security_group_id=sg.id,
                type="ingress",
                ip_protocol="all",
                port_range="-1/-1",
                source_security_group_id=sg.id,
                nic_type="intranet",
                policy="accept",
                priority=1,
                description=f"{p} cluster nodes to each other (Ray, NCCL)",
                opts=child,
            )
        self.register_outputs(
            {"vpcId": self.vpc_id, "vswitchId": self.vswitch_id, "securityGroupId": self.security_group_id}
        )
