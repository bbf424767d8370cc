"""ModelSync: phase 2, the model download from OSS to the node's disk (Cloud Assistant).

Keyed on the model source and revision only: a serving change never re-downloads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from components import host_env, scripts
from components.host_command import run_on_hosts
from components.settings import Resolved


@dataclass
class ModelSyncArgs:
    prefix: str
    resolved: Resolved
    role_name: pulumi.Input[str]
    instance_ids: Sequence[pulumi.Input[str]]
    wait_for: Sequence[pulumi.Resource]  # disk and role attachments


class ModelSync(pulumi.ComponentResource):
    def __init__(self, name: str, args: ModelSyncArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm:host:ModelSync", name, None, opts)
        r = args.resolved
        script = scripts.script_text("model-sync.sh")
        content = pulumi.Output.from_input(args.role_name).apply(
            lambda role: scripts.render_command(script, host_env.sync_env(r, role))
        )
        self.invocation = run_on_hosts(
            name, self, f"{args.prefix}-model-sync",
            f"{args.prefix}: download {r.settings.model_source.uri} ({host_env.model_slug(r)})",
            content, host_env.sync_timeout_s(r), args.instance_ids, depends_on=args.wait_for,
        )  # fmt: skip
        self.model_dir = host_env.model_dir(r)
        self.register_outputs({"modelDir": self.model_dir, "invocationId": self.invocation.id})
