"""Readable artefacts and the reviewer's summary of a plan (pure functions of plan data)."""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import tarfile
from collections import Counter
from typing import Any

import yaml


def _decode(text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except Exception:
        return text


# The jump host's manifests command carries its files as a tar.gz (components/acs_jump_host.py).
_MANIFESTS_TGZ = re.compile(r"^export LLM_MANIFESTS_TGZ_B64=(\S+)$", re.M)
_MANIFEST_FIRST = ("apiVersion", "kind", "metadata")


def _manifest_yaml(inputs: dict) -> str:
    """A Kubernetes resource's inputs as a manifest: apiVersion, kind, metadata first, then sorted."""
    manifest = {k: v for k, v in inputs.items() if k != "__defaults"}
    head = {k: manifest[k] for k in _MANIFEST_FIRST if k in manifest}
    tail = {k: manifest[k] for k in sorted(manifest) if k not in head}
    return "".join(_dump({k: v}) for k, v in (head | tail).items())


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    str,
    lambda d, s: d.represent_scalar(
        "tag:yaml.org,2002:str", s, style="|" if "\n" in s and all(ln == ln.rstrip() for ln in s.splitlines()) else None
    ),
)


def _dump(obj: dict) -> str:
    """Sorted keys; multi-line strings (scripts) as literal blocks."""
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=True, allow_unicode=True, width=120)


def _jump_host_folder(script: str) -> dict[str, str]:
    m = _MANIFESTS_TGZ.search(script)
    if not m:
        return {}
    raw = gzip.decompress(base64.b64decode(m[1].strip("'")))
    out = {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for member in tar.getmembers():
            f = tar.extractfile(member)
            if f is not None:
                out[f"jump-host/llm-k8s-resource/{member.name}"] = f.read().decode("utf-8")
    return out


def artefacts(resources: list[dict]) -> dict[str, str]:
    """files/<name>...: user-data per node, each Cloud Assistant script decoded, manifests."""
    out: dict[str, str] = {}
    for r in resources:
        t, name, inputs = r["type"], r["name"], r["inputs"]
        if t == "alicloud:ecs/instance:Instance" and isinstance(inputs.get("userData"), str):
            out[f"{name}.user-data.sh"] = _decode(inputs["userData"])
        elif t == "alicloud:ecs/command:Command" and isinstance(inputs.get("commandContent"), str):
            out[f"{name}.sh"] = _decode(inputs["commandContent"])
            out |= _jump_host_folder(out[f"{name}.sh"])
        elif t.startswith("kubernetes:") and not t.startswith("kubernetes:helm") and t != "pulumi:providers:kubernetes":
            out[f"{name}.yaml"] = _manifest_yaml(inputs)
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
        source = i.get("cidrIp") or f"members of the group itself ({i.get('sourceSecurityGroupId')}), not outside"
        lines.append(f"- ingress {i.get('ipProtocol')} {i.get('portRange')} from {source}")
    eips = [e for e in _find(resources, "alicloud:ecs/eipAddress:EipAddress") if "nat" not in e["name"]]
    if eips:
        public = True
        lines.append(f"- public endpoint: EIP {', '.join(e['inputs'].get('addressName', e['name']) for e in eips)}"
                     " (plain HTTP with a bearer key; only the allowlisted CIDRs above reach port 8000)")  # fmt: skip
    # acs: internet load balancers (a Service's annotations) and the ACL entries they carry.
    acls = {a["name"]: [e.get("entry") for e in a["inputs"].get("entryLists", [])]
            for a in _find(resources, "alicloud:slb/acl:Acl")}  # fmt: skip
    for svc in _find(resources, "kubernetes:core/v1:Service"):
        ann = svc["inputs"].get("metadata", {}).get("annotations", {})
        if ann.get("service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type") == "internet":
            public = True
            acl = ann.get("service.beta.kubernetes.io/alibaba-cloud-loadbalancer-acl-id", "")
            allowed = next((v for k, v in acls.items() if acl.startswith(k)), [])
            lines.append(f"- public endpoint: internet CLB `{svc['inputs']['metadata'].get('name')}` port 8000, ACL "
                         f"{ann.get('service.beta.kubernetes.io/alibaba-cloud-loadbalancer-acl-type')} list "
                         f"{', '.join(allowed) or acl} (plain HTTP with a bearer key)")  # fmt: skip
    if not public:
        lines.append("- no public endpoint (private only)")
    lines += ["", "## Outputs", "", "```json", json.dumps(outputs, indent=2, ensure_ascii=False), "```", ""]
    return "\n".join(lines)
