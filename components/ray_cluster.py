"""RayCluster: a long-lived Ray container under systemd on every node (ecs-cluster only).

One Cloud Assistant run on all nodes starts (or keeps) `llm-ray.service` and returns without
waiting for joins: workers retry the master by themselves, bounded, and rejoin after a reboot.
Keyed on Ray-level settings only (image, NCCL environment, master address): a vLLM-only change
never restarts Ray.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from components import host_env, scripts
from components.host_command import run_on_hosts
from components.settings import Resolved


@dataclass
class RayClusterArgs:
    prefix: str
    resolved: Resolved
    head_ip: pulumi.Input[str]
    instance_ids: Sequence[pulumi.Input[str]]
    wait_for: Sequence[pulumi.Resource]


class RayCluster(pulumi.ComponentResource):
    def __init__(self, name: str, args: RayClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm:host:RayCluster", name, None, opts)
        r = args.resolved
        script = scripts.script_text("ray-start.sh")
        content = pulumi.Output.from_input(args.head_ip).apply(
            lambda ip: scripts.render_command(script, host_env.ray_env(r, ip))
        )
        self.invocation = run_on_hosts(
            name,
            self,
            f"{args.prefix}-ray",
            f"{args.prefix}: start Ray on {r.nodes} nodes",
            content,
            host_env.ray_timeout_s(),
            args.instance_ids,
            depends_on=args.wait_for,
        )
        self.dashboard = pulumi.Output.from_input(args.head_ip).apply(
            lambda ip: f"http://{ip}:{host_env.RAY_DASHBOARD_PORT}"
        )
        self.register_outputs({"invocationId": self.invocation.id, "dashboard": self.dashboard})
