"""One serving group on ECS: a node (ecs-single) or a Ray group of `cluster.nodes` (ecs-cluster),
with its own host setup, host scripts, model copy, Ray run and serving run.

Group 0 keeps the names of a stack without replicas (`node`, `<prefix>-master`, `host-scripts`,
`model-sync`, `ray`, `serving`, `placement`): its URNs do not change when `llm:replicas` grows.
Group i > 0 prefixes every logical and physical name with `replica-<i>`. Each group downloads its
own copy of the model (its nodes' disks) and has its own deployment set (ecs-cluster).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pulumi

from components.common.agent_online import wait_for_agents
from components.config.plans import EcsPlan
from components.ecs import host_env
from components.ecs.gpu_node import GpuNode
from components.ecs.host_phase import HOST_SCRIPTS, HOST_SETUP, MODEL_SYNC, RAY_CLUSTER, SERVING, HostPhase, HostRun
from components.ecs.placement import Placement, PlacementArgs


def tag(group: int) -> str:
    """'' for group 0 (today's names), `replica-<i>` otherwise."""
    return f"replica-{group}" if group else ""


def _join(*parts: str) -> str:
    return "-".join(p for p in parts if p)


@dataclass
class GroupContext:
    """What every group shares: the stack's network, role, key and a node factory."""

    plan: EcsPlan
    prefix: str
    region: str
    role_name: pulumi.Output[str]
    api_key_parameter: pulumi.Output[str]
    secret_attachment: pulumi.Resource
    # (logical name, instance name, deployment set ID or None) -> GpuNode
    new_node: Callable[[str, str, pulumi.Input[str] | None], GpuNode]
    opts: pulumi.ResourceOptions


@dataclass
class ServingGroup:
    index: int
    master: GpuNode
    nodes: list[GpuNode]
    setups: dict[str, HostPhase]  # by node name
    host_scripts: HostPhase
    sync: HostPhase
    ray: HostPhase | None
    serving: HostPhase

    def phase_key(self, phase: str) -> str:
        """The key of a run in the invocationIds output (group 0: as without replicas)."""
        return _join(phase, tag(self.index))

    def invocations(self) -> dict[str, pulumi.Output[str]]:
        out = {f"hostSetup-{name}": ph.invocation_id for name, ph in self.setups.items()}
        out[self.phase_key("hostScripts")] = self.host_scripts.invocation_id
        out[self.phase_key("modelSync")] = self.sync.invocation_id
        out[self.phase_key("serving")] = self.serving.invocation_id
        if self.ray is not None:
            out[self.phase_key("ray")] = self.ray.invocation_id
        return out


def build_group(ctx: GroupContext, g: int, serve_after_group: pulumi.Resource | None) -> ServingGroup:
    """Group `g`; its serving run waits for `serve_after_group` (group g-1's serving invocation),
    so a serving change rolls one group at a time and the others keep serving."""
    p, prefix, opts = ctx.plan, ctx.prefix, ctx.opts
    t = tag(g)
    placement = Placement(_join(t, "placement"), PlacementArgs(prefix=_join(prefix, t)), opts) if p.cluster else None
    dset = placement.deployment_set_id if placement else None
    # Node 0 of group 0 keeps the single-node names (`node`, `<prefix>-master`): it is the Ray head.
    head_name = t or "node"
    head_instance = f"{prefix}-{t}" if t else f"{prefix}-master"
    node_names = [head_name, *(_join(t, f"worker-{i}") for i in range(1, p.nodes))]
    instance_names = [head_instance, *(_join(prefix, t, f"worker-{i}") for i in range(1, p.nodes))]
    nodes = [ctx.new_node(n, inst, dset) for n, inst in zip(node_names, instance_names, strict=True)]
    master = nodes[0]
    all_ids = [n.instance_id for n in nodes]

    # Phase 1 on each node, once its Cloud Assistant agent is online (DescribeCloudAssistantStatus:
    # run commands on a new instance only when it reports true): the host's files and bootstrap.
    # Every later phase waits for all of them.
    setup = host_env.setup_inputs(p)
    gates = {
        name: wait_for_agents(f"{name}-agent-online", n, [n.instance_id], ctx.region)
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
        for name, instance, n in zip(node_names, instance_names, nodes, strict=True)
    }  # fmt: skip
    # The per-run scripts, on every node at once as soon as the agents answer (no bootstrap
    # needed): the static per-run commands below run these copies (issue 13).
    host_scripts = HostPhase(
        HOST_SCRIPTS,
        _join(t, "host-scripts"),
        HostRun(
            script="install-scripts.sh", env=host_env.scripts_env(p.cluster, p.load_balanced),
            physical_name=_join(prefix, t, "host-scripts"), description=f"{prefix}: install the per-run scripts",
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
        _join(t, "model-sync"),
        HostRun(
            script="model-sync.sh", env=ctx.role_name.apply(lambda role: host_env.sync_env(copy, role)),
            physical_name=_join(prefix, t, "model-sync"),
            description=f"{prefix}: download the model (invocation parameters)",
            timeout_s=host_env.sync_timeout_s(copy), instance_ids=all_ids, wait_for=all_ready, parameters=True,
        ),
        opts,
    )  # fmt: skip
    # Serving runs at the same time as the sync (the image pull overlaps the download); in a
    # cluster it follows the Ray run, which returns without waiting for joins.
    serve_after: list[pulumi.Resource] = [*all_ready, ctx.secret_attachment]
    if serve_after_group is not None:
        serve_after.append(serve_after_group)
    ray = host_env.ray_inputs(p) if p.cluster else None
    ray_phase: HostPhase | None = None
    if ray is not None:
        ray_phase = HostPhase(
            RAY_CLUSTER,
            _join(t, "ray"),
            HostRun(
                script="ray-start.sh", env=master.private_ip.apply(lambda ip: host_env.ray_env(ray, ip)),
                physical_name=_join(prefix, t, "ray"),
                description=f"{prefix}: start Ray on every node (invocation parameters)",
                timeout_s=host_env.ray_timeout_s(), instance_ids=all_ids, wait_for=all_ready, parameters=True,
            ),
            opts,
        )  # fmt: skip
        serve_after.append(ray_phase.invocation)
    serve = host_env.serve_inputs(p)
    node_ips = [n.private_ip for n in nodes] if p.cluster else []
    serving = HostPhase(
        SERVING,
        _join(t, "serving"),
        HostRun(
            script="serve.sh",
            env=pulumi.Output.all(ctx.api_key_parameter, *node_ips).apply(
                lambda v: host_env.serve_env(serve, v[0], v[1:])
            ),
            physical_name=_join(prefix, t, "serve"),
            description=f"{prefix}: serve the model with vLLM (invocation parameters)",
            timeout_s=host_env.serve_timeout_s(serve), instance_ids=[master.instance_id], wait_for=serve_after,
            parameters=True,  # and {{oos-secret:...}} for the key
        ),
        opts,
    )  # fmt: skip
    return ServingGroup(g, master, nodes, setups, host_scripts, sync, ray_phase, serving)
