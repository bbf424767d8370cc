"""AcsCluster: the ACS cluster's network (node and pod vSwitches in two zones, NAT egress for all
of them), the cluster itself, the rules on the security group ACS creates for it, and the
pulumi-kubernetes provider that talks to it.

The VPC, the first node vSwitch and the security group of the jump host come from `Network`
(called with `egress="none"`, since its NAT would cover only its own vSwitch); this component
adds the other three vSwitches and one NAT gateway whose SNAT entries cover all four.

Pods: ACS places a pod in one of the *cluster's* vSwitches (`vswitch_ids`, picked at random) and
in the security group ACS creates for the cluster (docs/cloud-contracts.md). So the pod
vSwitches are the cluster's vSwitches and `pod_vswitch_ids` (Terway, ACK only) is not sent; the
node vSwitches hold the jump host, the NAT gateway and the intranet load balancer. That group is
an advanced (enterprise) group: members are isolated from each other and a rule cannot name a
group as its source, so every rule below names CIDRs: port 8000 from the VPC, from CLB health
checks (100.64.0.0/10) and, when public, from the allowlist (a CLB layer-4 listener passes the
client address through); with a LeaderWorkerSet, all traffic between the pod vSwitches (Ray,
NCCL between the pods of a group).

Create-only flags are sent explicitly, although the provider drops a `False` and the API default
then applies: `slb_internet_enabled` (API default: no public endpoint, which is what `False`
means) and `new_nat_gateway` (API default `snat_entry=true`: ACK may add SNAT or a NAT gateway
of its own next to ours; docs/acs.md says what to check).

Kubeconfig: `cs.get_cluster_credential_output` returns the public-endpoint kubeconfig in plain
text; it is wrapped as a secret at once. With `acs.apiAccess = private` its `server` is
rewritten to the intranet endpoint (operators inside the VPC). The credential is temporary
(`acs.credentialMinutes`, at most 3 days): `pulumi up` fetches a new one each run and the
provider is updated in place (`cluster_identifier`), but `pulumi destroy` uses the one in the
state, so destroy with `--run-program` or after an `up` (docs/acs.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_alicloud as alicloud
import pulumi_kubernetes as k8s
import yaml

from components.common.nat_egress import nat_egress
from components.common.network import cidr_ingress
from components.common.ports import PORT

# CLB health checks come from this range (Alibaba CLB docs; kubernetes/cloud-provider-alibaba-cloud).
CLB_HEALTH_CHECK_CIDR = "100.64.0.0/10"


def cluster_sg_rules(
    vpc_cidr: str, public_cidrs: list[str], pod_cidrs: tuple[str, str], intra_group: bool
) -> list[tuple[str, str, str, str, str]]:
    """(name suffix, protocol, port range, source CIDR, why) of each ingress rule on the cluster's group."""
    api = f"{PORT}/{PORT}"
    rules = [
        ("api-vpc", "tcp", api, vpc_cidr, "vLLM API from the VPC"),
        ("api-health-check", "tcp", api, CLB_HEALTH_CHECK_CIDR, "CLB health checks"),
    ]
    rules += [(f"api-public-{i}", "tcp", api, c, "vLLM API from llm:publicAccess.allowedCidrs")
              for i, c in enumerate(public_cidrs)]  # fmt: skip
    if intra_group:
        rules += [(f"intra-pods-{z}", "all", "-1/-1", c, "pods of a group to each other (Ray, NCCL)")
                  for z, c in zip("ab", pod_cidrs, strict=True)]  # fmt: skip
    return rules


def kubeconfig_with_server(kubeconfig: str, server: str | None) -> str:
    """The kubeconfig with every cluster's `server` set to `server` (None: unchanged)."""
    if not server:
        return kubeconfig
    doc = yaml.safe_load(kubeconfig)
    for c in doc.get("clusters") or []:
        c.setdefault("cluster", {})["server"] = server if server.startswith("https://") else f"https://{server}"
    return yaml.safe_dump(doc, sort_keys=False)


def _field(obj: Any, snake: str) -> str:
    """A field of a provider output object (attribute, or key in either spelling)."""
    if obj is None:
        return ""
    value = getattr(obj, snake, None)
    if value is None and isinstance(obj, Mapping):
        camel = re.sub(r"_([a-z])", lambda m: m[1].upper(), snake)
        value = obj.get(snake) or obj.get(camel)
    return str(value) if value else ""


def _intranet(connections: Any) -> str | None:
    conns = connections if isinstance(connections, list) else [connections]
    return next((v for v in (_field(c, "api_server_intranet") for c in conns) if v), None)


@dataclass
class AcsClusterArgs:
    prefix: str
    vpc_id: pulumi.Input[str]
    node_vswitch_a_id: pulumi.Input[str]  # from Network
    zone_ids: tuple[str, str]
    node_cidrs: tuple[str, str]
    pod_cidrs: tuple[str, str]
    service_cidr: str
    kubernetes_version: str
    api_access: str  # public | private
    credential_minutes: int
    egress: str  # nat | none
    tags: dict[str, str]
    vpc_cidr: str = "192.168.0.0/16"
    public_cidrs: list[str] = field(default_factory=list)  # may reach port 8000 (empty: private only)
    intra_group: bool = False  # a LeaderWorkerSet: pods of a group reach each other on every port
    addons: list[str] = field(default_factory=list)  # installed at creation (create-only)
    nat_bandwidth_mbps: int = 100


class AcsCluster(pulumi.ComponentResource):
    cluster_id: pulumi.Output[str]
    node_vswitch_ids: list[pulumi.Output[str]]
    pod_vswitch_ids: list[pulumi.Output[str]]
    rrsa_oidc_provider_arn: pulumi.Output[str]
    rrsa_oidc_issuer_url: pulumi.Output[str]
    kubeconfig_expiration: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    # Not outputs: what a pod needs before it can serve (the rules on the cluster's group).
    network_ready: list[pulumi.Resource]
    # Not an output: the components that declare Kubernetes objects take it in `providers=`.
    provider: k8s.Provider

    def __init__(self, name: str, args: AcsClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm:acs:AcsCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        p = args.prefix

        def vswitch(suffix: str, cidr: str, zone: str) -> alicloud.vpc.Switch:
            return alicloud.vpc.Switch(
                f"{name}-{suffix}",
                vswitch_name=f"{p}-{suffix}",
                vpc_id=args.vpc_id,
                cidr_block=cidr,
                zone_id=zone,
                tags=args.tags,
                opts=child,
            )

        node_b = vswitch("node-b", args.node_cidrs[1], args.zone_ids[1])
        pod_a = vswitch("pod-a", args.pod_cidrs[0], args.zone_ids[0])
        pod_b = vswitch("pod-b", args.pod_cidrs[1], args.zone_ids[1])
        self.node_vswitch_ids = [pulumi.Output.from_input(args.node_vswitch_a_id), node_b.id]
        self.pod_vswitch_ids = pod_ids = [pod_a.id, pod_b.id]

        egress: list[pulumi.Resource] = []
        if args.egress == "nat":
            sources = zip(
                ("snat-node-a", "snat-node-b", "snat-pod-a", "snat-pod-b"),
                [*self.node_vswitch_ids, *pod_ids],
                strict=True,
            )
            _, entries = nat_egress(
                name, args.prefix, args.vpc_id, args.node_vswitch_a_id, list(sources),
                args.nat_bandwidth_mbps, args.tags, child,
            )  # fmt: skip
            egress = list(entries)

        cluster = alicloud.cs.ManagedKubernetes(
            f"{name}-cluster",
            name=f"{p}-acs",
            profile="Acs",
            cluster_spec="ack.pro.small",
            version=args.kubernetes_version,
            # Pods take their addresses from the cluster's vSwitches: the pod-sized ones.
            vswitch_ids=pod_ids,
            service_cidr=args.service_cidr,
            enable_rrsa=True,
            # Create-only. False is not sent; the API default (endpoint_public_access=false) is
            # what it means.
            slb_internet_enabled=args.api_access == "public",
            # Create-only. False is not sent and the API default is snat_entry=true: our NAT
            # gateway exists first (depends_on), see docs/acs.md for what ACK may add.
            new_nat_gateway=False,
            addons=[{"name": a} for a in args.addons],
            deletion_protection=False,
            # Load balancers the cloud controller created for Services go with the cluster, so
            # they cannot keep the vSwitches from being deleted.
            delete_options=[{"delete_mode": "delete", "resource_type": "SLB"}],
            tags=args.tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=egress,
                custom_timeouts=pulumi.CustomTimeouts(create="90m", update="60m", delete="60m"),
            ),
        )
        self.cluster_id = cluster.id
        self.security_group_id = cluster.security_group_id
        self.network_ready = [
            cidr_ingress(f"{name}-{suffix}", cluster.security_group_id, port_range, cidr, f"{p} {why}", child, protocol)
            for suffix, protocol, port_range, cidr, why in cluster_sg_rules(
                args.vpc_cidr, args.public_cidrs, args.pod_cidrs, args.intra_group
            )
        ]
        rrsa = cluster.rrsa_metadata
        self.rrsa_oidc_provider_arn = rrsa.apply(lambda m: _field(m, "ram_oidc_provider_arn"))
        self.rrsa_oidc_issuer_url = rrsa.apply(lambda m: _field(m, "rrsa_oidc_issuer_url"))

        credential = alicloud.cs.get_cluster_credential_output(
            cluster_id=cluster.id,
            temporary_duration_minutes=args.credential_minutes,
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        private = args.api_access == "private"
        kubeconfig: pulumi.Output[str] = pulumi.Output.all(credential.kube_config, cluster.connections).apply(
            lambda v: kubeconfig_with_server(v[0], _intranet(v[1]) if private else None)
        )
        self.kubeconfig_expiration = credential.expiration
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=pulumi.Output.secret(kubeconfig),  # type: ignore[arg-type]
            cluster_identifier=cluster.id,
            enable_server_side_apply=True,
            opts=child,
        )
        self.register_outputs(
            {
                "clusterId": self.cluster_id,
                "securityGroupId": self.security_group_id,
                "nodeVswitchIds": self.node_vswitch_ids,
                "podVswitchIds": self.pod_vswitch_ids,
                "rrsaOidcProviderArn": self.rrsa_oidc_provider_arn,
                "rrsaOidcIssuerUrl": self.rrsa_oidc_issuer_url,
                "kubeconfigExpiration": self.kubeconfig_expiration,
            }
        )
