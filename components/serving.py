"""Serving: phase 3, vLLM under systemd, (re)started only when its settings change.

Runs at the same time as ModelSync (the image pull overlaps the download) and waits on the
host for the model marker; `pulumi up` returns when the model answers a real chat completion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from components import host_env, scripts
from components.host_command import run_on_hosts
from components.settings import Resolved


@dataclass
class ServingArgs:
    prefix: str
    resolved: Resolved
    api_key_parameter: pulumi.Input[str]
    api_key_version: int
    instance_ids: Sequence[pulumi.Input[str]]  # the master only, in ecs-cluster
    wait_for: Sequence[pulumi.Resource]
    node_ips: Sequence[pulumi.Input[str]] = ()  # ecs-cluster: every node, master first


class Serving(pulumi.ComponentResource):
    def __init__(self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm:host:Serving", name, None, opts)
        r = args.resolved
        script = scripts.script_text("serve.sh")
        content = pulumi.Output.all(args.api_key_parameter, *args.node_ips).apply(
            lambda vals: scripts.render_command(
                script, host_env.serve_env(r, vals[0], args.api_key_version, list(vals[1:]) or None)
            )
        )
        self.invocation = run_on_hosts(
            name, self, f"{args.prefix}-serve",
            f"{args.prefix}: serve {r.served_model_name} with vLLM",
            content, host_env.serve_timeout_s(r), args.instance_ids,
            enable_parameter=True,  # for {{oos-secret:...}}
            depends_on=args.wait_for,
        )  # fmt: skip
        self.register_outputs({"invocationId": self.invocation.id})
