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
from components.public_access import PublicAccess, PublicAccessArgs
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
        ),
        opts,
    )  # fmt: skip
    access = ModelAccess(
        "model-access",
        ModelAccessArgs(prefix=prefix, bucket=s.model_source.bucket, object_prefix=s.model_source.prefix),
        opts,
    )
    key = ApiKey("api-key", ApiKeyArgs(prefix=prefix, version=s.api_key_version, value=api_key, tags=tags), opts)

    disk = s.model_disk
    node = GpuNode(
        "node",
        GpuNodeArgs(
            prefix=prefix, instance_name=f"{prefix}-master", instance_type=r.instance.name,
            zone_id=s.zone_id, vswitch_id=network.vswitch_id,
            security_group_id=network.security_group_id, role_name=access.role_name,
            disk_size_gib=r.disk_size_gib, disk_category=disk.category,
            disk_performance_level=disk.performance_level if disk.category == "cloud_essd" else None,
            disk_bursting=disk.bursting_enabled if disk.category == "cloud_auto" else None,
            charge_type=s.billing.charge_type, period=s.billing.period, spot=s.billing.spot,
            uefi=r.instance.uefi, tags=tags, image_id=s.image_id,
            key_pair_name=s.ssh.key_pair_name,
            user_data=lambda disk_id: scripts.render_user_data(
                host_env.bootstrap_env(model_disk_device(disk_id))
            ),
        ),
        opts,
    )  # fmt: skip
    # ModelSync and Serving run at the same time: the image pull overlaps the download.
    sync = ModelSync(
        "model-sync",
        ModelSyncArgs(prefix=prefix, resolved=r, role_name=access.role_name,
                      instance_ids=[node.instance_id], wait_for=node.ready),
        opts,
    )  # fmt: skip
    Serving(
        "serving",
        ServingArgs(prefix=prefix, resolved=r, api_key_parameter=key.parameter_name,
                    api_key_version=s.api_key_version, instance_ids=[node.instance_id],
                    wait_for=node.ready),
        opts,
    )  # fmt: skip

    public_ip: pulumi.Output[str] | None = None
    if r.public:
        public = PublicAccess(
            "public-access",
            PublicAccessArgs(prefix=prefix, instance_id=node.instance_id,
                             bandwidth_mbps=s.public_access.bandwidth_mbps, tags=tags),
            opts,
        )  # fmt: skip
        public_ip = public.ip_address

    return endpoint_outputs(r, node.private_ip, public_ip) | {
        "apiKey": key.value,
        "instanceId": node.instance_id,
        "imageId": node.image_id,
        "modelDir": sync.model_dir,
        "tensorParallelSize": r.tensor_parallel,
    }


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
