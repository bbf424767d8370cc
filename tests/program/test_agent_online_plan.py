"""The agent-online gate plans under the planner's mocks: a tiny program, the real mock runtime.

It shows what the ECS shape will get once wired: a `pulumi-python:dynamic:Resource` under the
node, its inputs readable (the pickled provider named, not dumped), and the first invocation
ordered after it. Also `run_logs.announce` logging the `stackctl logs` line for the invocation.
"""

from __future__ import annotations

import json
import logging
import textwrap

from planner import run as plan
from planner.mocks import run_under_mocks

PROGRAM = textwrap.dedent(
    """
    import pulumi
    import pulumi_alicloud as alicloud

    from components.common.agent_online import wait_for_agents
    from components.common.host_command import run_on_hosts
    from components.common.run_logs import announce

    class Node(pulumi.ComponentResource):
        def __init__(self, name):
            super().__init__("llm:compute:GpuNode", name, None, None)
            self.instance = alicloud.ecs.Instance(
                f"{name}-instance", instance_type="ecs.gn7i-c8g1.2xlarge", image_id="m-1",
                opts=pulumi.ResourceOptions(parent=self),
            )

    node = Node("node")
    gate = wait_for_agents("node-agent-online", node, [node.instance.id], "cn-hangzhou")
    phase = pulumi.ComponentResource("llm:host:Serving", "serving")
    inv = run_on_hosts("serving", phase, "llm-dev-serve", "serve", "echo hi", 600, [node.instance.id],
                       depends_on=[gate])
    announce(inv, "dev", "serving")
    pulumi.export("onlineIds", gate.instance_ids)
    """
)


def test_gate_plans_under_mocks(tmp_path, caplog):
    (tmp_path / "__main__.py").write_text(PROGRAM)
    result = plan.PlanResult(stack="dev", project="p")

    def on_register(typ, name, urn, parent, custom, inputs, opts, provider):
        result.records.append(plan.Record(typ, name, urn, parent, custom, inputs, opts, provider))

    with caplog.at_level(logging.INFO):
        result.outputs, depends_on = run_under_mocks(tmp_path, "p", "dev", {}, [], on_register)
    for rec in result.records:
        if rec.name in depends_on:
            rec.options["dependsOn"] = depends_on[rec.name]
    res = {r["name"]: r for r in plan.resources_json(result)}

    gate = res["node-agent-online"]
    assert gate["type"] == "pulumi-python:dynamic:Resource"
    assert gate["parent"] == "node"
    assert gate["inputs"]["__provider"] == plan.DYNAMIC_PROVIDER_MASK
    assert {k: v for k, v in gate["inputs"].items() if k in ("instance_ids", "region", "timeout_s", "poll_s")} == {
        "instance_ids": ["node-instance-id"], "region": "cn-hangzhou", "timeout_s": 900, "poll_s": 10,
    }  # fmt: skip
    assert len(json.dumps(gate)) < 1000  # readable in a golden file
    assert res["serving-invocation"]["options"]["dependsOn"] == ["node-agent-online"]
    assert result.outputs["onlineIds"][0] == ["node-instance-id"]
    assert "run `python -m stackctl logs --stack dev --invoke-id serving-invocation-id` to see its output" in (
        caplog.text
    )


def test_provider_blob_would_be_masked_even_if_not_secret():
    rec = plan.Record("pulumi-python:dynamic:Resource", "g", "urn:g", "", True, {"__provider": "QUJD" * 500}, {})
    [doc] = plan.resources_json(plan.PlanResult(stack="s", project="p", records=[rec]))
    assert doc["inputs"] == {"__provider": plan.DYNAMIC_PROVIDER_MASK}
