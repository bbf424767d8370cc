"""The ECS shapes (ecs-single, ecs-cluster): which components, in which order, with which wiring.

Declares resources only through the components; computes nothing that the plan or `host_env`
do not already.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_alicloud as alicloud

from components.common import naming
from components.common.agent_online import wait_for_agents
from components.common.api_key import ApiKey, ApiKeyArgs
from components.common.endpoints import endpoint_outputs
from components.common.network import Network, NetworkArgs
from components.common.ports import RAY_DASHBOARD_PORT
from components.common.run_logs import announce
from components.config.plans import EcsPlan
from components.ecs import host_env, userdata
from components.ecs.gpu_node import GpuNode, GpuNodeArgs
from components.ecs.host_phase import HOST_SCRIPTS, HOST_SETUP, MODEL_SYNC, RAY_CLUSTER, SERVING, HostPhase, HostRun
from components.ecs.model_access import ModelAccess, ModelAccessArgs
from components.ecs.observability import Observability, ObservabilityArgs
from components.ecs.placement import Placement, PlacementArgs
from components.ecs.public_access import PublicAccess, PublicAccessArgs


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
    placement = Placement("placement", PlacementArgs(prefix=prefix), opts) if p.cluster else None
    disk = s.model_disk

    def node(name: str, instance_name: str) -> GpuNode:
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
                deployment_set_id=placement.deployment_set_id if placement else None,
                user_data=userdata.render_user_data(),
                encrypted=s.encryption.enabled, kms_key_id=s.encryption.kms_key_id,
            ),
            opts,
        )  # fmt: skip

    # Node 0 keeps the single-node names (`node`, `<prefix>-master`): it is the Ray head.
    master = node("node", f"{prefix}-master")
    nodes = [master] + [node(f"worker-{i}", f"{prefix}-worker-{i}") for i in range(1, p.nodes)]
    all_ids = [n.instance_id for n in nodes]

    # Phase 1 on each node, once its Cloud Assistant agent is online (DescribeCloudAssistantStatus:
    # run commands on a new instance only when it reports true): the host's files and bootstrap.
    # Every later phase waits for all of them.
    setup = host_env.setup_inputs(p)
    node_names = ["node", *(f"worker-{i}" for i in range(1, p.nodes))]
    gates = {
        name: wait_for_agents(f"{name}-agent-online", n, [n.instance_id], s.region)
        for name, n in zip(node_names, nodes, strict=True)
    }
    setups = {
        name: HostPhase(
            HOST_SETUP,
            f"{name}-host-setup",
            HostRun(
                script="host-setup.sh",
                env=n.disk_id.apply(lambda d: host_env.setup_env(setup, host_env.disk_serial(d))),
                physical_name=f"{instance}-setup", description=f"{prefix}: host setup of {instance}",
                timeout_s=host_env.setup_timeout_s(), instance_ids=[n.instance_id], wait_for=[*n.ready, gates[name]],
            ),
            opts,
        )
        for name, instance, n in zip(
            node_names,
            [f"{prefix}-master", *(f"{prefix}-worker-{i}" for i in range(1, p.nodes))],
            nodes,
            strict=True,
        )
    }  # fmt: skip
    # The per-run scripts, on every node at once as soon as the agents answer (no bootstrap
    # needed): the static per-run commands below run these copies (issue 13).
    host_scripts = HostPhase(
        HOST_SCRIPTS,
        "host-scripts",
        HostRun(
            script="install-scripts.sh", env=host_env.scripts_env(p.cluster),
            physical_name=f"{prefix}-host-scripts", description=f"{prefix}: install the per-run scripts",
            timeout_s=host_env.SCRIPTS_TIMEOUT_S, instance_ids=all_ids,
            wait_for=[*(x for n in nodes for x in n.ready), *gates.values()],
        ),
        opts,
    )  # fmt: skip
    all_ready: list[pulumi.Resource] = [ph.invocation for ph in setups.values()] + [host_scripts.invocation]

    # Every node downloads a full copy: each pipeline stage loads its layers from local disk.
    copy = host_env.model_copy(p)
    sync = HostPhase(
        MODEL_SYNC,
        "model-sync",
        HostRun(
            script="model-sync.sh", env=access.role_name.apply(lambda role: host_env.sync_env(copy, role)),
            physical_name=f"{prefix}-model-sync", description=f"{prefix}: download the model (invocation parameters)",
            timeout_s=host_env.sync_timeout_s(copy), instance_ids=all_ids, wait_for=all_ready, parameters=True,
        ),
        opts,
    )  # fmt: skip
    # Serving runs at the same time as the sync (the image pull overlaps the download); in a
    # cluster it follows the Ray run, which returns without waiting for joins.
    serve_after: list[pulumi.Resource] = [*all_ready, access.secret_attachment]
    ray = host_env.ray_inputs(p) if p.cluster else None
    if ray is not None:
        ray_phase = HostPhase(
            RAY_CLUSTER,
            "ray",
            HostRun(
                script="ray-start.sh", env=master.private_ip.apply(lambda ip: host_env.ray_env(ray, ip)),
                physical_name=f"{prefix}-ray", description=f"{prefix}: start Ray on every node (invocation parameters)",
                timeout_s=host_env.ray_timeout_s(), instance_ids=all_ids, wait_for=all_ready, parameters=True,
            ),
            opts,
        )  # fmt: skip
        serve_after.append(ray_phase.invocation)
    invocations = {f"hostSetup-{name}": ph.invocation_id for name, ph in setups.items()}
    serve = host_env.serve_inputs(p)
    node_ips = [n.private_ip for n in nodes] if p.cluster else []
    serving = HostPhase(
        SERVING,
        "serving",
        HostRun(
            script="serve.sh",
            env=pulumi.Output.all(key.parameter_name, *node_ips).apply(
                lambda v: host_env.serve_env(serve, v[0], v[1:])
            ),
            physical_name=f"{prefix}-serve", description=f"{prefix}: serve the model with vLLM (invocation parameters)",
            timeout_s=host_env.serve_timeout_s(serve), instance_ids=[master.instance_id], wait_for=serve_after,
            parameters=True,  # and {{oos-secret:...}} for the key
        ),
        opts,
    )  # fmt: skip

    public_ip: pulumi.Output[str] | None = None
    if p.public:
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
            serving_ips=[master.private_ip], node_ips=[n.private_ip for n in nodes], tags=tags), opts)  # fmt: skip

    invocations |= {
        "hostScripts": host_scripts.invocation_id, "modelSync": sync.invocation_id, "serving": serving.invocation_id,
    }  # fmt: skip
    if ray is not None:
        invocations["ray"] = ray_phase.invocation_id
    # Each run's status is all Pulumi keeps: say, per run, which command shows its output.
    stack = pulumi.get_stack()
    for name, ph in setups.items():
        announce(ph.invocation, stack, f"hostSetup-{name}")
    announce(host_scripts.invocation, stack, "hostScripts")
    announce(sync.invocation, stack, "modelSync")
    announce(serving.invocation, stack, "serving")
    if ray is not None:
        announce(ray_phase.invocation, stack, "ray")
    outputs = endpoint_outputs(p.served_model_name, master.private_ip, public_ip) | {
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
    if p.cluster:
        outputs |= {
            "instanceIds": all_ids,
            "masterPrivateIp": master.private_ip,
            # private: reachable from the VPC only
            "rayDashboard": master.private_ip.apply(lambda ip: f"http://{ip}:{RAY_DASHBOARD_PORT}"),
            "pipelineParallelSize": p.pipeline_parallel,
        }
    return outputs
