"""AcsWorkload: vLLM in the cluster. The API key Secret, the LWS controller (only for a
LeaderWorkerSet), the workload, the load balancers, and the readiness gate.

Awaiting a 30-minute model load: the Services wait only for their load balancer address
(`pulumi.com/waitFor`), the Deployment for the whole startup bound (`pulumi.com/timeoutSeconds`),
a LeaderWorkerSet not at all (custom resources are not awaited). The readiness Job sends one
real chat completion through the private Service and Pulumi awaits it to completion, so
`pulumi up` ends only when the model answers (vLLM's /health alone stays 200 after a Ray worker
dies: vllm #16259).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_alicloud as alicloud
import pulumi_kubernetes as k8s

from components.acs import manifests
from components.acs.k8s import k8s_object

LWS_NAMESPACE = "lws-system"


def lb_ip(status: Any) -> str:
    """`status.loadBalancer.ingress[0].ip` of a Service (CLB reports an IP), or ""."""

    def get(obj: Any, snake: str, camel: str) -> Any:
        if obj is None:
            return None
        value = getattr(obj, snake, None)
        if value is None and isinstance(obj, dict):
            value = obj.get(camel, obj.get(snake))
        return value

    ingress = get(get(status, "load_balancer", "loadBalancer"), "ingress", "ingress") or []
    return str(get(ingress[0], "ip", "ip") or "") if ingress else ""


@dataclass
class LwsChart:
    chart_url: str
    image_repository: str
    controller_version: str


@dataclass
class AcsWorkloadArgs:
    manifest: manifests.ManifestArgs
    api_key: pulumi.Output[str]
    intranet_vswitch_id: pulumi.Input[str]
    lws: LwsChart | None
    storage_ready: list[pulumi.Resource]
    tags: dict[str, str]
    # The rules on the cluster's security group: the pods serve (and a group meets) only with them.
    network_ready: list[pulumi.Resource] = field(default_factory=list)


class AcsWorkload(pulumi.ComponentResource):
    """Needs the Alibaba Cloud and the Kubernetes provider in `opts.providers`."""

    private_ip: pulumi.Output[str]
    public_ip: pulumi.Output[str] | None
    acl_id: pulumi.Output[str] | None
    cert_id: pulumi.Output[str] | None

    def __init__(self, name: str, args: AcsWorkloadArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm:acs:AcsWorkload", name, None, opts)
        a = args.manifest
        kopts = pulumi.ResourceOptions(parent=self)

        def after(*deps: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, depends_on=list(deps))

        key = k8s_object(
            f"{name}-api-key",
            manifests.api_key_secret(a, pulumi.Output.secret(args.api_key)),
            after(*args.storage_ready),
        )
        deps: list[pulumi.Resource] = [key, *args.storage_ready, *args.network_ready]
        if a.lws:
            assert args.lws is not None
            release = k8s.helm.v3.Release(
                f"{name}-lws-controller",
                name="lws",
                chart=args.lws.chart_url,
                namespace=LWS_NAMESPACE,
                create_namespace=True,
                values={
                    "image": {"manager": {"repository": args.lws.image_repository, "tag": args.lws.controller_version}}
                },
                atomic=True,
                timeout=600,
                opts=kopts,
            )
            deps.append(release)
        serving = k8s_object(f"{name}-{'lws' if a.lws else 'deployment'}", manifests.workload(a), after(*deps))

        private = k8s_object(
            f"{name}-private-service",
            manifests.service(a, internet=False, vswitch_id=args.intranet_vswitch_id),
            after(*args.storage_ready),
        )
        self.private_ip = private.status.apply(lb_ip)  # type: ignore[attr-defined]
        self.public_ip = self.acl_id = self.cert_id = None
        if a.public:
            acl = alicloud.slb.Acl(
                f"{name}-public-acl",
                name=f"{a.prefix}-api-allowlist",
                ip_version="ipv4",
                entry_lists=[{"entry": c, "comment": "llm:publicAccess.allowedCidrs"} for c in a.allowed_cidrs],
                tags=args.tags,
                opts=pulumi.ResourceOptions(parent=self),
            )
            if a.tls_certificate_id is not None:
                # The cloud controller's cert-id names an SLB server certificate: made from the CAS one.
                cert = alicloud.slb.ServerCertificate(
                    f"{name}-public-certificate",
                    name=f"{a.prefix}-api",
                    alicloud_certificate_id=a.tls_certificate_id,
                    opts=pulumi.ResourceOptions(parent=self),
                )
                self.cert_id = cert.id
            public = k8s_object(
                f"{name}-public-service",
                manifests.service(a, internet=True, acl_id=acl.id, cert_id=self.cert_id),
                after(*args.storage_ready),
            )
            self.acl_id = acl.id
            self.public_ip = public.status.apply(lb_ip)  # type: ignore[attr-defined]

        k8s_object(f"{name}-readiness", manifests.readiness_job(a), after(serving, private, key))
        self.register_outputs({"privateIp": self.private_ip, "publicIp": self.public_ip, "aclId": self.acl_id})
