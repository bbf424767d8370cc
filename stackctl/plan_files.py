"""Readable artefacts and the reviewer's summary of a plan (pure functions of plan data)."""

from __future__ import annotations

import base64
import json
from collections import Counter
from typing import Any

import yaml


def _decode(text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except Exception:
        return text


def artefacts(resources: list[dict]) -> dict[str, str]:
    """files/<name>...: user-data per node, each Cloud Assistant script decoded, manifests."""
    out: dict[str, str] = {}
    for r in resources:
        t, name, inputs = r["type"], r["name"], r["inputs"]
        if t == "alicloud:ecs/instance:Instance" and isinstance(inputs.get("userData"), str):
            out[f"{name}.user-data.sh"] = _decode(inputs["userData"])
        elif t == "alicloud:ecs/command:Command" and isinstance(inputs.get("commandContent"), str):
            out[f"{name}.sh"] = _decode(inputs["commandContent"])
        elif t.startswith("kubernetes:") and not t.startswith("kubernetes:helm") and t != "pulumi:providers:kubernetes":
            manifest = {k: v for k, v in inputs.items() if k not in ("__defaults",)}
            out[f"{name}.yaml"] = yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True)
    return out


def _find(resources: list[dict], type_: str) -> list[dict]:
    return [r for r in resources if r["type"] == type_]


def summary(stack: str, resources: list[dict], outputs: dict[str, Any]) -> str:
    by_parent = Counter(r["parent"] or "(stack)" for r in resources)
    types = {r["name"]: r["type"] for r in resources}
    lines = [f"# Offline plan: stack `{stack}`", "", f"{len(resources)} resources.", ""]
    lines += ["## Resources by component", "", "| component | type | children |", "|---|---|---|"]
    for parent, n in sorted(by_parent.items()):
        lines.append(f"| {parent} | {types.get(parent, '')} | {n} |")

    lines += ["", "## Key settings", ""]
    for inst in _find(resources, "alicloud:ecs/instance:Instance"):
        i = inst["inputs"]
        lines.append(f"- instance `{i.get('instanceName')}`: {i.get('instanceType')}, {i.get('instanceChargeType')}, "
                     f"traffic mode {i.get('networkInterfaceTrafficMode', 'Standard')}")  # fmt: skip
    for disk in _find(resources, "alicloud:ecs/ecsDisk:EcsDisk"):
        i = disk["inputs"]
        lines.append(f"- model disk `{i.get('diskName')}`: {i.get('size')} GiB {i.get('category')}"
                     f" (bursting {i.get('burstingEnabled', '-')}, level {i.get('performanceLevel', '-')})")  # fmt: skip
    for k in ("servedModelName", "tensorParallelSize", "pipelineParallelSize", "modelDir", "rayDashboard"):
        if k in outputs:
            note = (
                " (derived: largest divisor of the attention heads that fits the GPUs)"
                if k == "tensorParallelSize"
                else ""
            )
            lines.append(f"- {k}: `{outputs[k]}`{note}")
    for cmd in _find(resources, "alicloud:ecs/command:Command"):
        i = cmd["inputs"]
        script = _decode(i.get("commandContent", ""))
        image = next(
            (ln.split("=", 1)[1] for ln in script.splitlines() if ln.startswith("export LLM_VLLM_IMAGE=")), None
        )
        extra = f", image {image}" if image else ""
        lines.append(f"- command `{i.get('name')}`: timeout {i.get('timeout')} s{extra}")
    for inv in _find(resources, "alicloud:ecs/ecsInvocation:EcsInvocation"):
        opts = inv["options"]
        lines.append(f"- invocation `{inv['name']}`: create timeout {opts.get('customTimeouts', {}).get('create', 'default (1m)')}"
                     f", waits for {', '.join(opts.get('dependsOn', [])) or 'nothing explicit'}")  # fmt: skip

    lines += ["", "## What is reachable from outside the VPC", ""]
    public = False
    for rule in _find(resources, "alicloud:ecs/securityGroupRule:SecurityGroupRule"):
        i = rule["inputs"]
        lines.append(f"- ingress {i.get('ipProtocol')} {i.get('portRange')} from {i.get('cidrIp')}")
    eips = [e for e in _find(resources, "alicloud:ecs/eipAddress:EipAddress") if "nat" not in e["name"]]
    if eips:
        public = True
        lines.append(f"- public endpoint: EIP {', '.join(e['inputs'].get('addressName', e['name']) for e in eips)}"
                     " (plain HTTP with a bearer key; only the allowlisted CIDRs above reach port 8000)")  # fmt: skip
    if not public:
        lines.append("- no public endpoint (private only)")
    lines += ["", "## Outputs", "", "```json", json.dumps(outputs, indent=2, ensure_ascii=False), "```", ""]
    return "\n".join(lines)
