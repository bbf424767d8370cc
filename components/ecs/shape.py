"""The ECS shapes (ecs-single, ecs-cluster): which components, in which order, with which wiring.

Declares resources only through the components; computes nothing that the plan or `host_env`
do not already.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_alicloud as alicloud

from components.common import naming
from components.common.api_key import ApiKey, ApiKeyArgs
from components.common.endpoints import endpoint_outputs
from components.common.network import Network, NetworkArgs
from components.common.ports import RAY_DASHBOARD_PORT
from components.common.run_logs import announce
from components.config.plans import EcsPlan
from components.ecs import host_env, userdata
from components.ecs.gpu_node import GpuNode, GpuNodeArgs
from components.ecs.load_balancer import LoadBalancerArgs, ServingLoadBalancer
from components.ecs.model_access import ModelAccess, ModelAccessArgs
from components.ecs.observability import Observability, ObservabilityArgs
from components.ecs.public_access import PublicAccess, PublicAccessArgs
from components.ecs.serving_group import GroupContext, ServingGroup, build_group


def build_ecs(p: EcsPlan, api_key: pulumi.Output[str] | None) -> dict[str, Any]:
    s = p.settings
    prefix = naming.physical_prefix()
    tags = naming.merge_tags(s.tags)
    provider = alicloud.Provider("alicloud", region=s.region)
    opts = pulumi.ResourceOptions(providers=[provider])

    network = Network(
        "network",
        NetworkArgs(
            prefix=prefix, zone_id=s.zone_id, vpc_cidr=p.vpc_cidr, vswitch_cidr=p.vswitch_cidr or "",
            egress=s.network.egress,
            public_cidrs=s.public_access.allowed_cidrs if p.public else [],
            ssh_cidrs=s.ssh.allowed_cidrs, tags=tags,
            existing_vpc_id=s.network.vpc_id, existing_vswitch_id=s.network.vswitch_id,
            intra_group=p.cluster,
        ),
        opts,
    )  # fmt: skip
    key = ApiKey("api-key", ApiKeyArgs(prefix=prefix, version=s.api_key_version, value=api_key, tags=tags), opts)
    access = ModelAccess(
        "model-access",
        ModelAccessArgs(
            prefix=prefix, bucket=s.model_source.bucket, object_prefix=s.model_source.prefix,
            region=s.region, api_key_parameter=key.parameter_name,
        ),
        opts,
    )  # fmt: skip

    inst = p.instance
    disk = s.model_disk

    def node(name: str, instance_name: str, deployment_set_id: pulumi.Input[str] | None) -> GpuNode:
        return GpuNode(
            name,
            GpuNodeArgs(
                prefix=prefix, instance_name=instance_name, instance_type=inst.name,
                zone_id=s.zone_id, vswitch_id=network.vswitch_id,
                security_group_id=network.security_group_id, role_name=access.role_name,
                disk_size_gib=p.disk_size_gib, disk_category=disk.category,
                disk_performance_level=disk.performance_level if disk.category == "cloud_essd" else None,
                disk_bursting=disk.bursting_enabled if disk.category == "cloud_auto" else None,
                charge_type=s.billing.charge_type, period=s.billing.period, spot=s.billing.spot,
                uefi=inst.uefi, tags=tags, image_id=s.image_id,
                key_pair_name=s.ssh.key_pair_name, erdma=p.cluster,
                deployment_set_id=deployment_set_id,
                user_data=userdata.render_user_data(),
                encrypted=s.encryption.enabled, kms_key_id=s.encryption.kms_key_id,
            ),
            opts,
        )  # fmt: skip

    # llm:replicas groups; group i's serving run follows group i-1's (a serving change rolls).
    ctx = GroupContext(
        plan=p, prefix=prefix, region=s.region, role_name=access.role_name,
        api_key_parameter=key.parameter_name, secret_attachment=access.secret_attachment, new_node=node, opts=opts,
    )  # fmt: skip
    groups: list[ServingGroup] = []
    for g in range(p.replicas):
        groups.append(build_group(ctx, g, groups[-1].serving.invocation if groups else None))
    master = groups[0].master
    all_ids = [n.instance_id for n in groups[0].nodes]
    copy = host_env.model_copy(p)

    public_ip: pulumi.Output[str] | None = None
    private_ip: pulumi.Output[str] = master.private_ip
    lb: ServingLoadBalancer | None = None
    if p.load_balanced:
        # One endpoint for every group (README, "Replicas and HTTPS"); no EIP then.
        lb = ServingLoadBalancer(
            "load-balancer",
            LoadBalancerArgs(
                prefix=prefix, vswitch_id=network.vswitch_id, security_group_id=network.security_group_id,
                backend_ids=[gr.master.instance_id for gr in groups],
                tags=tags, public=p.public, allowed_cidrs=list(s.public_access.allowed_cidrs),
                certificate_id=p.tls_certificate_id,
            ),
            opts,
        )  # fmt: skip
        private_ip, public_ip = lb.private_address, lb.public_address
    elif p.public:
        public = PublicAccess(
            "public-access",
            PublicAccessArgs(prefix=prefix, instance_id=master.instance_id,
                             bandwidth_mbps=s.public_access.bandwidth_mbps, tags=tags),
            opts,
        )  # fmt: skip
        public_ip = public.ip_address

    observe = None
    if s.observability.enabled:  # llm:observability; nothing at all with metrics and logs `none`
        observe = Observability("observability", ObservabilityArgs(
            prefix=prefix, settings=s.observability, vpc_id=network.vpc_id, vswitch_id=network.vswitch_id,
            security_group_id=network.security_group_id, vpc_cidr=p.vpc_cidr,
            serving_ips=[gr.master.private_ip for gr in groups],
            node_ips=[n.private_ip for gr in groups for n in gr.nodes], tags=tags), opts)  # fmt: skip

    invocations: dict[str, pulumi.Output[str]] = {}
    # Each run's status is all Pulumi keeps: say, per run, which command shows its output.
    stack = pulumi.get_stack()
    for gr in groups:
        invocations |= gr.invocations()
        for name, ph in gr.setups.items():
            announce(ph.invocation, stack, f"hostSetup-{name}")
        announce(gr.host_scripts.invocation, stack, gr.phase_key("hostScripts"))
        announce(gr.sync.invocation, stack, gr.phase_key("modelSync"))
        announce(gr.serving.invocation, stack, gr.phase_key("serving"))
        if gr.ray is not None:
            announce(gr.ray.invocation, stack, gr.phase_key("ray"))
    https = p.tls_certificate_id is not None
    outputs = endpoint_outputs(p.served_model_name, private_ip, public_ip, public_https=https) | {
        # `python -m stackctl logs --stack <stack> --phase <name>` shows a run's output.
        "invocationIds": invocations,
        "apiKey": key.value,
        "instanceId": master.instance_id,
        "imageId": master.image_id,
        "modelDir": copy.dir,
        "tensorParallelSize": p.tensor_parallel,
    }
    if observe is not None:
        outputs |= {"observability": observe.outputs}
    if p.replicas > 1:
        outputs["replicaInstanceIds"] = [gr.master.instance_id for gr in groups]
    if p.cluster:
        outputs |= {
            "instanceIds": all_ids,
            "masterPrivateIp": master.private_ip,
            # private: reachable from the VPC only
            "rayDashboard": master.private_ip.apply(lambda ip: f"http://{ip}:{RAY_DASHBOARD_PORT}"),
            "pipelineParallelSize": p.pipeline_parallel,
        }
    return outputs
