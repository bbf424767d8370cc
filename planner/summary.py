"""The reviewer's summary of a plan (`summary.md`): a pure function of plan data."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from components.sizing.catalog import INSTANCE_TYPES
from planner.files import decode


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
    instances = _find(resources, "alicloud:ecs/instance:Instance")
    groups = {(re.match(r"replica-\d+", i["name"]) or [""])[0] for i in instances if i["name"] != "jump-host-instance"}
    if len(groups) > 1:
        # llm:replicas: each group downloads its own copy, one per node's disk.
        gpus = sum(
            getattr(INSTANCE_TYPES.get(i["inputs"].get("instanceType", "")), "gpus", 0)
            for i in instances if i["name"] != "jump-host-instance"
        )  # fmt: skip
        copies = len(_find(resources, "alicloud:ecs/ecsDisk:EcsDisk"))
        lines.append(f"- serving groups: {len(groups)} (llm:replicas) behind one load balancer; model copies "
                     f"downloaded: {copies} (one per node); GPUs: {gpus}")  # fmt: skip
    for w in _find(resources, "kubernetes:apps/v1:Deployment") + _find(
        resources, "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet"
    ):
        spec = w["inputs"].get("spec", {})
        if spec.get("replicas", 1) > 1:
            size = spec.get("leaderWorkerTemplate", {}).get("size", 1)
            lines.append(f"- serving groups: {spec['replicas']} (llm:replicas) x {size} pod(s); each mounts the "
                         "OSS volume (no local copy)")  # fmt: skip
    for disk in _find(resources, "alicloud:ecs/ecsDisk:EcsDisk"):
        i = disk["inputs"]
        lines.append(f"- model disk `{i.get('diskName')}`: {i.get('size')} GiB {i.get('category')}"
                     f" (bursting {i.get('burstingEnabled', '-')}, level {i.get('performanceLevel', '-')})")  # fmt: skip
    for c in _find(resources, "alicloud:cs/managedKubernetes:ManagedKubernetes"):
        i = c["inputs"]
        addons = ", ".join(a.get("name", "") for a in i.get("addons", [])) or "none"
        cidrs = {
            f"{r['name']}-id": r["inputs"].get("cidrBlock") for r in _find(resources, "alicloud:vpc/switch:Switch")
        }
        pods = ", ".join(cidrs.get(v) or v for v in i.get("vswitchIds", []))
        lines.append(f"- ACS cluster `{i.get('name')}`: Kubernetes `{i.get('version')}` (pinned), API endpoint "
                     f"{'public' if i.get('slbInternetEnabled') else 'private only'}, add-ons at creation {addons}, "
                     f"pods in the cluster vSwitches {pods}")  # fmt: skip
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
        script = decode(i.get("commandContent", ""))
        image = next(
            (ln.split("=", 1)[1] for ln in script.splitlines() if ln.startswith("export LLM_VLLM_IMAGE=")), None
        )
        extra = f", image {image}" if image else ""
        lines.append(f"- command `{i.get('name')}`: timeout {i.get('timeout')} s{extra}")
    for inv in _find(resources, "alicloud:ecs/ecsInvocation:EcsInvocation"):
        opts = inv["options"]
        lines.append(f"- invocation `{inv['name']}`: create timeout {opts.get('customTimeouts', {}).get('create', 'default (1m)')}"
                     f", waits for {', '.join(opts.get('dependsOn', [])) or 'nothing explicit'}")  # fmt: skip

    lines += _observability(resources)
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
    # ecs with replicas or TLS: the load balancers' listeners (ACL white list on the internet one).
    entries = {e["inputs"].get("entry") for e in _find(resources, "alicloud:slb/aclEntryAttachment:AclEntryAttachment")}
    lbs = {
        f"{b['name']}-id": b["inputs"]
        for b in _find(resources, "alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer")
    }
    for lst in _find(resources, "alicloud:slb/listener:Listener"):
        i = lst["inputs"]
        lb = lbs.get(i.get("loadBalancerId", ""), {})
        where = lb.get("addressType", "?")
        if where == "internet":
            public = True
        acl = f", ACL white list {', '.join(sorted(e for e in entries if e))}" if i.get("aclStatus") == "on" else ""
        lines.append(f"- {where} load balancer `{lb.get('loadBalancerName')}`: {i.get('protocol')} {i.get('frontendPort')}"
                     f" -> {i.get('backendPort')}, health check port {i.get('healthCheckConnectPort')}{acl}")  # fmt: skip
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


# llm:observability: what each setting adds, and who bills it (ARMS by metric samples, SLS by
# ingested and stored volume; docs/cloud-contracts.md, "Observability").
_OBSERVE = {
    "alicloud:arms/prometheus:Prometheus": "ARMS Prometheus instance (billed by ingested samples)",
    "alicloud:arms/environment:Environment": "ARMS Prometheus environment for the cluster (billed by samples)",
    "alicloud:arms/prometheusMonitoring:PrometheusMonitoring": "scrape job",
    "alicloud:arms/envPodMonitor:EnvPodMonitor": "PodMonitor",
    "alicloud:arms/prometheusAlertRule:PrometheusAlertRule": "alert rule",
    "alicloud:arms/dispatchRule:DispatchRule": "alert dispatch to the contact group",
    "alicloud:log/project:Project": "SLS project",
    "alicloud:log/store:Store": "SLS logstore (billed by ingest, index and storage)",
    "alicloud:log/logTailConfig:LogTailConfig": "Logtail collection config",
}


def _observability(resources: list[dict]) -> list[str]:
    found = [r for r in resources if r["type"] in _OBSERVE]
    if not found:
        return []
    lines = ["", "## Observability (what it adds and costs)", ""]
    counts = Counter(r["type"] for r in found)
    for typ, n in counts.items():
        lines.append(f"- {n} x {_OBSERVE[typ]}")
    for r in found:
        i = r["inputs"]
        if r["type"] == "alicloud:log/store:Store":
            lines.append(f"- logstore `{i.get('logstoreName')}` keeps logs {i.get('retentionPeriod')} days")
        if r["type"] == "alicloud:arms/prometheusAlertRule:PrometheusAlertRule":
            lines.append(
                f"- alert `{i.get('prometheusAlertRuleName')}` for {i.get('duration')} min: `{i.get('expression')}`"
            )
    if any(r["type"] == "alicloud:arms/prometheus:Prometheus" for r in found):
        lines.append(
            "- on every GPU node: the DCGM exporter container (llm-dcgm.service), port 9400 open to the VPC only"
        )
    return lines
