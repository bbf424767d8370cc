"""HostPhase: one Cloud Assistant phase on a set of nodes (model sync, Ray, serving).

Each phase is a component of its own type (`llm:host:HostSetup`, `llm:host:ModelSync`, `llm:host:RayCluster`,
`llm:host:Serving`: the type tokens are part of the children's URNs) holding one command and one
invocation declared by `run_on_hosts`. What a phase runs is a `HostRun`: a script from
`userdata/` and the env block that only its own inputs render (`host_env.py`), so a setting
reaches exactly the phases it feeds, and a change re-runs only those.

- HostSetup (phase 1, one per node): installs the host's scripts and units and runs the host
  bootstrap (driver, Fabric Manager, Docker, eRDMA, model disk) until it has finished; keyed on
  the host files and the node's facts. Every other phase waits for it.
- HostScripts (host-setup stage, one run on every node): installs the per-run scripts
  (model-sync.sh, serve.sh, ray-start.sh, lib/) that the static per-run commands run with their
  invocation's parameters; keyed on those files. Every later phase waits for it.
- ModelSync (phase 2): the download from OSS to every node's disk, keyed on the model source
  and revision only: a serving change never re-downloads.
- RayCluster (ecs-cluster): a long-lived Ray container under systemd on every node; returns
  without waiting for joins (workers retry the head, bounded). Keyed on Ray-level settings.
- Serving (phase 3): vLLM under systemd on the head, (re)started only when its settings change;
  runs at the same time as the sync (the pull overlaps the download) and returns when the model
  answers a real chat completion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi

from components.common import scripts
from components.common.host_command import run_on_hosts
from components.ecs import host_env

HOST_SETUP = "llm:host:HostSetup"
HOST_SCRIPTS = "llm:host:HostScripts"
MODEL_SYNC = "llm:host:ModelSync"
RAY_CLUSTER = "llm:host:RayCluster"
SERVING = "llm:host:Serving"


@dataclass
class HostRun:
    script: str  # file name in userdata/
    env: pulumi.Input[Mapping[str, str | int]]
    physical_name: str
    description: str
    timeout_s: int
    instance_ids: Sequence[pulumi.Input[str]]
    wait_for: Sequence[pulumi.Resource] = field(default_factory=list)
    enable_parameter: bool = False  # for {{oos-secret:...}} (host setup: never)
    # Per-run phases (model-sync.sh, ray-start.sh, serve.sh): static content that runs the script
    # as host setup installed it; the settings travel as the invocation's parameters.
    parameters: bool = False


class HostPhase(pulumi.ComponentResource):
    invocation_id: pulumi.Output[str]
    # Not an output: what a later phase orders itself after.
    invocation: pulumi.Resource

    def __init__(self, type_token: str, name: str, run: HostRun, opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token, name, None, opts)
        env = pulumi.Output.from_input(run.env)
        parameters: pulumi.Output[dict[str, str]] | None = None
        if run.parameters:
            rendered = env.apply(lambda e: host_env.run_command(run.script, dict(e)))
            content: pulumi.Output[str] = rendered.apply(lambda r: r[0])
            parameters = rendered.apply(lambda r: r[1])
        else:
            script = scripts.script_text(run.script)
            content = env.apply(lambda e: scripts.render_command(script, e))
        invocation = run_on_hosts(
            name, self, run.physical_name, run.description, content, run.timeout_s, run.instance_ids,
            enable_parameter=run.enable_parameter or run.parameters, depends_on=run.wait_for,
            parameters=parameters,
        )  # fmt: skip
        self.invocation = invocation
        self.invocation_id = invocation.id
        self.register_outputs({"invocationId": self.invocation_id})
