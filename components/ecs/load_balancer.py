"""ServingLoadBalancer: one endpoint in front of the serving groups (llm:replicas > 1, or TLS).

Classic Load Balancers (`slb.ApplicationLoadBalancer`, the provider's alicloud_slb_load_balancer):
- intranet, always: in the stack's vSwitch, a TCP listener on 8000;
- internet, only with `publicAccess.enabled`: a TCP listener on 8000, or with
  `publicAccess.tls.certificateId` an HTTPS listener on 443 (certificate from Certificate
  Management Service via `slb.ServerCertificate(alicloud_certificate_id=...)`) and no plain-HTTP
  listener; the listener admits only `allowedCidrs` (an ACL white list: `acl_status`/`acl_type`/
  `acl_ids`, entries by `slb.AclEntryAttachment`; the inline `entry_lists` and `acl_id` are
  deprecated).
TCP for plain HTTP: an HTTP listener's request_timeout (<= 180 s) and idle_timeout (<= 60 s)
would cut a long non-streaming completion; a TCP listener keeps a connection 900 s
(established_timeout). Every listener's health check is HTTP GET /ready on the readiness
responder's port (8001), which answers 503 while the group drains (userdata/ready.sh).
Backends: each group's serving node (the node, or the Ray head).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_alicloud as alicloud

from components.common.network import cidr_ingress
from components.common.ports import PORT, READY_PORT
from components.ecs import rolling

HTTPS_PORT = 443


@dataclass
class LoadBalancerArgs:
    prefix: str
    vswitch_id: pulumi.Input[str]
    security_group_id: pulumi.Input[str]
    backend_ids: Sequence[pulumi.Input[str]]  # each group's serving instance
    tags: dict[str, str]
    public: bool = False
    allowed_cidrs: list[str] = field(default_factory=list)
    certificate_id: str | None = None  # CAS certificate ID (digits): HTTPS on 443


def _health(http_listener: bool) -> dict[str, Any]:
    """The health check on the responder: the same settings rolling.drain_wait_s() covers."""
    check: dict[str, Any] = {
        "health_check_connect_port": READY_PORT,
        "health_check_uri": rolling.HEALTH_URI,
        "health_check_http_code": "http_2xx",
        "health_check_interval": rolling.HEALTH_INTERVAL_S,
        "health_check_timeout": rolling.HEALTH_TIMEOUT_S,
        "healthy_threshold": rolling.HEALTHY_THRESHOLD,
        "unhealthy_threshold": rolling.UNHEALTHY_THRESHOLD,
    }
    if http_listener:
        check["health_check"] = "on"
    else:
        check["health_check_type"] = "http"  # a TCP listener checks over HTTP on request
    return check


class ServingLoadBalancer(pulumi.ComponentResource):
    private_address: pulumi.Output[str]
    public_address: pulumi.Output[str] | None

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm:network:ServingLoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        servers = [
            alicloud.slb.BackendServerBackendServerArgs(server_id=i, weight=100, type="ecs") for i in args.backend_ids
        ]

        def balancer(kind: str, **address: Any) -> alicloud.slb.ApplicationLoadBalancer:
            """A pay-as-you-go CLB (`kind`: intranet or internet) with every group's backend."""
            lb = alicloud.slb.ApplicationLoadBalancer(
                f"{name}-{kind}", load_balancer_name=f"{args.prefix}-{kind}", address_type=kind,
                payment_type="PayAsYouGo", instance_charge_type="PayByCLCU", tags=args.tags, opts=child, **address,
            )  # fmt: skip
            alicloud.slb.BackendServer(f"{name}-{kind}-backends", load_balancer_id=lb.id, backend_servers=servers,
                                       opts=child)  # fmt: skip
            return lb

        def tcp_listener(lb: alicloud.slb.ApplicationLoadBalancer, kind: str, what: str,
                         opts: pulumi.ResourceOptions, **acl: Any) -> None:  # fmt: skip
            """Plain HTTP on 8000 as TCP (a TCP listener keeps a connection 900 s)."""
            alicloud.slb.Listener(
                f"{name}-{kind}-tcp", load_balancer_id=lb.id, protocol="tcp", frontend_port=PORT, backend_port=PORT,
                bandwidth=-1, established_timeout=rolling.TCP_ESTABLISHED_TIMEOUT_S,
                description=f"{args.prefix}: vLLM API ({what})", **acl, **_health(False), opts=opts,
            )  # fmt: skip

        intranet = balancer("intranet", vswitch_id=args.vswitch_id)
        tcp_listener(intranet, "intranet", "VPC", child)
        self.private_address = intranet.address
        self.public_address = None

        if args.public:
            internet = balancer("internet", internet_charge_type="PayByTraffic")
            # A white list with no entry forwards everything (Alibaba's CLB ACL docs): the entries
            # are declared with it, and validation requires at least one allowed CIDR.
            acl = alicloud.slb.Acl(f"{name}-acl", name=f"{args.prefix}-allow", ip_version="ipv4", tags=args.tags,
                                   opts=child)  # fmt: skip
            entries = [
                alicloud.slb.AclEntryAttachment(
                    f"{name}-acl-{i}", acl_id=acl.id, entry=cidr, comment="llm:publicAccess.allowedCidrs", opts=child
                )
                for i, cidr in enumerate(args.allowed_cidrs)
            ]
            allow: dict[str, Any] = {"acl_status": "on", "acl_type": "white", "acl_ids": [acl.id]}
            after = pulumi.ResourceOptions(parent=self, depends_on=entries)
            if args.certificate_id is not None:
                # An HTTPS (layer-7) listener forwards from the balancer's own addresses, not the
                # client's: admit them to 8000 (CLB health-check docs name 100.64.0.0/10; whether
                # the group needs the rule is unverified, and it only widens to Alibaba's range).
                cidr_ingress(
                    f"{name}-clb-to-api", args.security_group_id, f"{PORT}/{PORT}", rolling.CLB_SOURCE_CIDR,
                    f"{args.prefix} HTTPS listener to the vLLM API", child,
                )  # fmt: skip
                cert = alicloud.slb.ServerCertificate(
                    f"{name}-certificate",
                    name=f"{args.prefix}-api",
                    alicloud_certificate_id=args.certificate_id,
                    opts=child,
                )
                alicloud.slb.Listener(
                    f"{name}-internet-https",
                    load_balancer_id=internet.id,
                    protocol="https",
                    frontend_port=HTTPS_PORT,
                    backend_port=PORT,
                    bandwidth=-1,
                    server_certificate_id=cert.id,
                    sticky_session="off",
                    request_timeout=rolling.HTTPS_REQUEST_TIMEOUT_S,
                    idle_timeout=rolling.HTTPS_IDLE_TIMEOUT_S,
                    description=f"{args.prefix}: vLLM API (HTTPS, allowlist)",
                    **allow,
                    **_health(True),
                    opts=after,
                )
            else:
                tcp_listener(internet, "internet", "allowlist", after, **allow)
            self.public_address = internet.address
        self.register_outputs({"privateAddress": self.private_address})
