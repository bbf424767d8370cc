"""CIDR planning and checks shared by the settings model and the rules. Pure functions."""

from __future__ import annotations

import ipaddress


def private_ipv4(value: str) -> str:
    """`value` if it is a strict, private IPv4 CIDR; ValueError naming what is wrong otherwise."""
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as e:
        raise ValueError(f"not a valid IPv4 CIDR ({e})") from None
    if net.version != 4 or not net.is_private:
        raise ValueError("must be a private IPv4 CIDR (10/8, 172.16/12, 192.168/16)")
    return value


def first_24(vpc_cidr: str) -> str:
    """The default vSwitch of an ECS stack: the VPC's first /24."""
    return str(next(ipaddress.IPv4Network(vpc_cidr).subnets(new_prefix=24)))


def plan_acs_cidrs(vpc_cidr: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """Node and pod vSwitch CIDRs: the VPC in four quarters; nodes get the first /24 of the first
    two (few IPs: the jump host and load balancers), pods the last two whole (one IP per pod)."""
    vpc = ipaddress.IPv4Network(vpc_cidr)
    quarters = list(vpc.subnets(prefixlen_diff=2))
    node_prefix = max(24, quarters[0].prefixlen)
    nodes = tuple(str(next(q.subnets(new_prefix=node_prefix))) for q in quarters[:2])
    pods = (str(quarters[2]), str(quarters[3]))
    return nodes, pods  # type: ignore[return-value]
