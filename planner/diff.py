"""Compare two offline plans: added, removed and changed resources, each change classified.

Mock IDs are stable, so an offline diff cannot see what the provider would decide. Properties
known to force replacement (from the provider schema docs) are marked "replaces"; a few known
to update in place say so; everything else is "update or replace (unknown offline)".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPLACES = "replaces"
IN_PLACE = "updates in place"
REBOOTS = "updates in place (reboots the instance)"
UNKNOWN = "update or replace (unknown offline)"
RECORDED = "recorded only (the provider calls no API for it)"

_ALL = "*"
# (type, property) -> effect. `*` = every property of the type.
EFFECTS: dict[tuple[str, str], str] = {
    ("alicloud:ecs/command:Command", _ALL): REPLACES,
    ("alicloud:ecs/ecsInvocation:EcsInvocation", _ALL): REPLACES,
    ("alicloud:ecs/instance:Instance", "userData"): REBOOTS,
    ("alicloud:ecs/instance:Instance", "networkInterfaceTrafficMode"): REPLACES,
    # Top-level vswitch_id is not ForceNew: ModifyInstanceVpcAttribute with a stop and start
    # (TF @81c43b67 resource_alicloud_instance.go modifyVpcAttribute; docs/cloud-contracts.md).
    ("alicloud:ecs/instance:Instance", "vswitchId"): REBOOTS,
    ("alicloud:ecs/instance:Instance", "imageId"): IN_PLACE + " (system disk swapped; ignored by the program)",
    ("alicloud:ecs/instance:Instance", "tags"): IN_PLACE,
    ("alicloud:ecs/instance:Instance", "instanceName"): IN_PLACE,
    ("alicloud:ecs/ecsDisk:EcsDisk", "zoneId"): REPLACES,
    ("alicloud:ecs/ecsDisk:EcsDisk", "size"): IN_PLACE + " (grow only)",
    ("alicloud:ecs/ecsDisk:EcsDisk", "tags"): IN_PLACE,
    ("alicloud:ecs/ecsDiskAttachment:EcsDiskAttachment", "diskId"): REPLACES,
    ("alicloud:ecs/ecsDiskAttachment:EcsDiskAttachment", "instanceId"): REPLACES,
    ("alicloud:vpc/switch:Switch", "cidrBlock"): REPLACES,
    ("alicloud:vpc/switch:Switch", "zoneId"): REPLACES,
    ("alicloud:vpc/switch:Switch", "vpcId"): REPLACES,
    ("alicloud:vpc/natGateway:NatGateway", "vpcId"): REPLACES,
    # nat_type updates in place (UpdateNatGatewayNatType); network_type is neither ForceNew nor
    # updated (TF @81c43b67 resource_alicloud_nat_gateway.go).
    ("alicloud:vpc/natGateway:NatGateway", "natType"): IN_PLACE,
    ("alicloud:vpc/natGateway:NatGateway", "networkType"): RECORDED,
    ("alicloud:ecs/securityGroupRule:SecurityGroupRule", _ALL): REPLACES,
    ("alicloud:ram/role:Role", "roleName"): REPLACES,
    ("alicloud:ram/policy:Policy", "policyName"): REPLACES,
    ("alicloud:ram/policy:Policy", "policyDocument"): IN_PLACE + " (new policy version)",
    ("alicloud:oos/secretParameter:SecretParameter", "secretParameterName"): REPLACES,
    ("alicloud:oos/secretParameter:SecretParameter", "value"): IN_PLACE,
    ("random:index/randomPassword:RandomPassword", _ALL): REPLACES,
    ("alicloud:ecs/eipAssociation:EipAssociation", _ALL): REPLACES,
    # The only dynamic resource, the agent-online gate: its own provider's diff() decides
    # (components/common/agent_online.py REPLACE_ON; pinned by tests/unit/test_agent_online.py).
    ("pulumi-python:dynamic:Resource", "instance_ids"): REPLACES,
    ("pulumi-python:dynamic:Resource", "region"): REPLACES,
    ("pulumi-python:dynamic:Resource", "timeout_s"): IN_PLACE + " (checks the agents again)",
    ("pulumi-python:dynamic:Resource", "poll_s"): IN_PLACE + " (checks the agents again)",
}


def effect(type_: str, prop: str) -> str:
    return EFFECTS.get((type_, prop)) or EFFECTS.get((type_, _ALL)) or UNKNOWN


def _load(d: Path) -> dict[str, dict]:
    return {r["urn"]: r for r in json.loads((d / "resources.json").read_text())}


def diff_resources(old: list[dict], new: list[dict]) -> dict[str, Any]:
    o = {r["urn"]: r for r in old}
    n = {r["urn"]: r for r in new}
    changed = []
    for urn in sorted(o.keys() & n.keys()):
        a, b = o[urn], n[urn]
        props = []
        for key in sorted(a["inputs"].keys() | b["inputs"].keys()):
            if a["inputs"].get(key) != b["inputs"].get(key):
                props.append({"property": key, "effect": effect(b["type"], key),
                              "old": a["inputs"].get(key), "new": b["inputs"].get(key)})  # fmt: skip
        for key in sorted(a["options"].keys() | b["options"].keys()):
            if a["options"].get(key) != b["options"].get(key):
                props.append({"property": f"options.{key}", "effect": "option change",
                              "old": a["options"].get(key), "new": b["options"].get(key)})  # fmt: skip
        if props:
            changed.append({"urn": urn, "name": b["name"], "type": b["type"], "changes": props})
    _cascade(changed, n)
    strip = lambda r: {"urn": r["urn"], "name": r["name"], "type": r["type"]}  # noqa: E731
    return {
        "added": [strip(n[u]) for u in sorted(n.keys() - o.keys())],
        "removed": [strip(o[u]) for u in sorted(o.keys() - n.keys())],
        "changed": changed,
    }


def _mentions(value: Any, ids: set[str]) -> set[str]:
    if isinstance(value, str):
        return {value} & ids
    if isinstance(value, dict):
        return set().union(*(_mentions(v, ids) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_mentions(v, ids) for v in value)) if value else set()
    return set()


def _cascade(changed: list[dict], new: dict[str, dict]) -> None:
    """A replaced resource gets a new ID: inputs that carry its ID change too.

    Offline IDs are stable (`<name>-id`), so this is derived here: until nothing more changes,
    every resource whose inputs hold the ID of a replaced one gets that property marked.
    """
    by_urn = {c["urn"]: c for c in changed}
    while True:
        replaced = {
            f"{c['name']}-id": c["name"] for c in by_urn.values()
            if any(x["effect"] == REPLACES for x in c["changes"])
        }  # fmt: skip
        grew = False
        for urn, r in new.items():
            entry = by_urn.get(urn)
            done = {x["property"] for x in entry["changes"]} if entry else set()
            for key, value in r["inputs"].items():
                hit = _mentions(value, set(replaced))
                if not hit or key in done:
                    continue
                if entry is None:
                    entry = by_urn[urn] = {"urn": urn, "name": r["name"], "type": r["type"], "changes": []}
                    changed.append(entry)
                source = ", ".join(sorted(replaced[h] for h in hit))
                entry["changes"].append({"property": key, "effect": effect(r["type"], key),
                                         "old": value, "new": f"(new ID of {source})"})  # fmt: skip
                grew = True
        if not grew:
            changed.sort(key=lambda c: c["urn"])
            return


def diff_dirs(old_dir: Path, new_dir: Path) -> dict[str, Any]:
    return diff_resources(list(_load(old_dir).values()), list(_load(new_dir).values()))


def differs(d: dict[str, Any]) -> bool:
    return bool(d["added"] or d["removed"] or d["changed"])


def _short(v: Any, limit: int = 60) -> str:
    s = json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v
    s = s.replace("\n", "\\n").replace("|", "\\|")
    return s if len(s) <= limit else s[: limit - 3] + "..."


def markdown(d: dict[str, Any]) -> str:
    if not differs(d):
        return "### Offline plan diff\n\nNo changes.\n"
    lines = ["### Offline plan diff", ""]
    for title, key in (("Added", "added"), ("Removed", "removed")):
        if d[key]:
            lines += [f"**{title}** ({len(d[key])})", ""]
            lines += [f"- `{r['name']}` ({r['type']})" for r in d[key]]
            lines.append("")
    if d["changed"]:
        lines += [
            f"**Changed** ({len(d['changed'])})",
            "",
            "| resource | property | effect | old | new |",
            "|---|---|---|---|---|",
        ]
        for r in d["changed"]:
            for c in r["changes"]:
                lines.append(
                    f"| `{r['name']}` | {c['property']} | {c['effect']} | {_short(c['old'])} | {_short(c['new'])} |"
                )
        lines.append("")
    return "\n".join(lines)
