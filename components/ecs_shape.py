"""The ECS shape: which components, in which order, with which wiring. Declares resources only
through the components; computes nothing that `settings`/`host_env` do not already."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_alicloud as alicloud

from components import host_env, naming, scripts, usage
from components.api_key import ApiKey, ApiKeyArgs
from components.gpu_node import GpuNode, GpuNodeArgs, model_disk_device
from components.model_access import ModelAccess, ModelAccessArgs
from components.model_sync import ModelSync, ModelSyncArgs
from components.network import Network, NetworkArgs
from components.placement import Placement
from components.public_access import PublicAccess, PublicAccessArgs
from components.ray_cluster import RayCluster, RayClusterArgs
from components.serving import Serving, ServingArgs
from components.settings import Resolved
from components.vllm_args import PORT


def build_ecs(r: Resolved, api_key: pulumi.Output[str] | None) -> dict[str, Any]:
    s = r.settings
    prefix = naming.physical_prefix()
    tags = naming.merge_tags(s.tags)
    provider = alicloud.Provider("alicloud", region=s.region)
    opts = pulumi.ResourceOptions(providers=[provider])

    network = Network(
        "network",
        NetworkArgs(
            prefix=prefix, zone_id=s.zone_id, vpc_cidr=r.vpc_cidr, vswitch_cidr=r.vswitch_cidr,
            egress=s.network.egress,
            public_cidrs=s.public_access.allowed_cidrs if r.public else [],
            ssh_cidrs=s.ssh.allowed_cidrs, tags=tags,
            existing_vpc_id=s.network.vpc_id, existing_vswitch_id=s.network.vswitch_id,
            intra_group=r.nodes > 1,
        ),
        opts,
    )  # fmt: skip
    access = ModelAccess(
        "model-access",
        ModelAccessArgs(prefix=prefix, bucket=s.model_source.bucket, object_prefix=s.model_source.prefix),
        opts,
    )
    key = ApiKey("api-key", ApiKeyArgs(prefix=prefix, version=s.api_key_version, value=api_key, tags=tags), opts)

    cluster = r.nodes > 1
    inst = r.instance
    assert inst is not None
    placement = Placement("placement", prefix, opts) if cluster else None
    disk = s.model_disk

    def node(name: str, instance_name: str) -> GpuNode:
        return GpuNode(
            name,
            GpuNodeArgs(
                prefix=prefix, instance_name=instance_name, instance_type=inst.name,
                zone_id=s.zone_id, vswitch_id=network.vswitch_id,
                security_group_id=network.security_group_id, role_name=access.role_name,
                disk_size_gib=r.disk_size_gib, disk_category=disk.category,
                disk_performance_level=disk.performance_level if disk.category == "cloud_essd" else None,
                disk_bursting=disk.bursting_enabled if disk.category == "cloud_auto" else None,
                charge_type=s.billing.charge_type, period=s.billing.period, spot=s.billing.spot,
                uefi=inst.uefi, tags=tags, image_id=s.image_id,
                key_pair_name=s.ssh.key_pair_name, erdma=cluster,
                deployment_set_id=placement.deployment_set_id if placement else None,
                user_data=lambda disk_id: scripts.render_user_data(
                    host_env.bootstrap_env(model_disk_device(disk_id), erdma=cluster)
                ),
            ),
            opts,
        )  # fmt: skip

    # Node 0 keeps the single-node names (`node`, `<prefix>-master`): it is the Ray head.
    master = node("node", f"{prefix}-master")
    nodes = [master] + [node(f"worker-{i}", f"{prefix}-worker-{i}") for i in range(1, r.nodes)]
    all_ids = [n.instance_id for n in nodes]
    all_ready = [res for n in nodes for res in n.ready]

    # Every node downloads a full copy: each pipeline stage loads its layers from local disk.
    sync = ModelSync(
        "model-sync",
        ModelSyncArgs(prefix=prefix, resolved=r, role_name=access.role_name, instance_ids=all_ids,
                      wait_for=all_ready),
        opts,
    )  # fmt: skip
    # Serving runs at the same time as the sync (the image pull overlaps the download); in a
    # cluster it follows the Ray run, which returns without waiting for joins.
    serve_after: list[pulumi.Resource] = list(master.ready)
    ray = None
    if cluster:
        ray = RayCluster(
            "ray",
            RayClusterArgs(prefix=prefix, resolved=r, head_ip=master.private_ip, instance_ids=all_ids,
                           wait_for=all_ready),
            opts,
        )  # fmt: skip
        serve_after.append(ray.invocation)
    Serving(
        "serving",
        ServingArgs(prefix=prefix, resolved=r, api_key_parameter=key.parameter_name,
                    api_key_version=s.api_key_version, instance_ids=[master.instance_id],
                    wait_for=serve_after, node_ips=[n.private_ip for n in nodes] if cluster else ()),
        opts,
    )  # fmt: skip

    public_ip: pulumi.Output[str] | None = None
    if r.public:
        public = PublicAccess(
            "public-access",
            PublicAccessArgs(prefix=prefix, instance_id=master.instance_id,
                             bandwidth_mbps=s.public_access.bandwidth_mbps, tags=tags),
            opts,
        )  # fmt: skip
        public_ip = public.ip_address

    outputs = endpoint_outputs(r, master.private_ip, public_ip) | {
        "apiKey": key.value,
        "instanceId": master.instance_id,
        "imageId": master.image_id,
        "modelDir": sync.model_dir,
        "tensorParallelSize": r.tensor_parallel,
    }
    if ray is not None:
        outputs |= {
            "instanceIds": all_ids,
            "masterPrivateIp": master.private_ip,
            "rayDashboard": ray.dashboard,  # private: reachable from the VPC only
            "pipelineParallelSize": r.pipeline_parallel,
        }
    return outputs


def endpoint_outputs(
    r: Resolved, private_ip: pulumi.Output[str], public_ip: pulumi.Output[str] | None
) -> dict[str, Any]:
    model = r.served_model_name
    private = private_ip.apply(lambda ip: f"http://{ip}:{PORT}/v1")
    public = public_ip.apply(lambda ip: f"http://{ip}:{PORT}/v1") if public_ip is not None else None
    preferred = public if public is not None else private
    return {
        "privateEndpoint": private,
        "publicEndpoint": public,
        "servedModelName": model,
        "curlCommand": preferred.apply(lambda u: usage.curl_command(u, model)),
        "openaiPython": preferred.apply(lambda u: usage.openai_snippet(u, model)),
        "chatboxSettings": preferred.apply(lambda u: usage.chatbox_settings(u.removesuffix("/v1"), model)),
    }
