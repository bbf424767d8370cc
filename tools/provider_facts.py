"""Which properties force replacement, read from terraform-provider-alicloud's own source.

`python -m tools.provider_facts --repo DIR [--commit SHA] [--out planner/provider_facts.json]`

Reads `alicloud/resource_alicloud_<x>.go` at the pinned commit (the nearest available to what
pulumi-alicloud 4.0.0 bridges) for every alicloud resource type the example plans declare
(tests/golden/*/resources.json), parses the top-level `Schema: map[string]*schema.Schema{...}`
and records, per property, whether it is `ForceNew: true`, settable (Optional/Required) or
computed only, and the properties whose change makes the provider reboot the instance (a
`d.HasChange("<prop>")` block that sets `reboot = true` in resource_alicloud_instance.go).
Fetch the repository first (e.g. a mirror under /work/.mirror/aliyun+terraform-provider-alicloud/repo).
The output is checked in (planner/provider_facts.json) and read by planner/diff.py.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMIT = "81c43b6727a09e9da37b3d88818c3ba5fa17fa14"
OUT = ROOT / "planner" / "provider_facts.json"

# Pulumi type token -> Terraform resource name (pulumi-alicloud provider/resources.go maps each
# TF resource to a token; the pairs used by this program, checked against the file list at COMMIT).
TF_NAMES: dict[str, str] = {
    "alicloud:cs/kubernetesPermission:KubernetesPermission": "alicloud_cs_kubernetes_permissions",
    "alicloud:cs/managedKubernetes:ManagedKubernetes": "alicloud_cs_managed_kubernetes",
    "alicloud:ecs/command:Command": "alicloud_ecs_command",
    "alicloud:ecs/ecsDeploymentSet:EcsDeploymentSet": "alicloud_ecs_deployment_set",
    "alicloud:ecs/ecsDisk:EcsDisk": "alicloud_ecs_disk",
    "alicloud:ecs/ecsDiskAttachment:EcsDiskAttachment": "alicloud_ecs_disk_attachment",
    "alicloud:ecs/ecsInvocation:EcsInvocation": "alicloud_ecs_invocation",
    "alicloud:ecs/eipAddress:EipAddress": "alicloud_eip_address",
    "alicloud:ecs/eipAssociation:EipAssociation": "alicloud_eip_association",
    "alicloud:ecs/instance:Instance": "alicloud_instance",
    # alicloud.ecs.RamRoleAttachment (instance_id, ram_role_name), not alicloud_ram_role_attachment.
    "alicloud:ecs/ramRoleAttachment:RamRoleAttachment": "alicloud_ecs_ram_role_attachment",
    "alicloud:ecs/securityGroup:SecurityGroup": "alicloud_security_group",
    "alicloud:ecs/securityGroupRule:SecurityGroupRule": "alicloud_security_group_rule",
    "alicloud:oos/secretParameter:SecretParameter": "alicloud_oos_secret_parameter",
    "alicloud:ram/policy:Policy": "alicloud_ram_policy",
    "alicloud:ram/role:Role": "alicloud_ram_role",
    "alicloud:ram/rolePolicyAttachment:RolePolicyAttachment": "alicloud_ram_role_policy_attachment",
    "alicloud:slb/acl:Acl": "alicloud_slb_acl",
    # llm:replicas > 1 or TLS (pulumi-alicloud provider/resources.go: alicloud_slb_load_balancer is
    # ApplicationLoadBalancer, and so on).
    "alicloud:slb/aclEntryAttachment:AclEntryAttachment": "alicloud_slb_acl_entry_attachment",
    "alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer": "alicloud_slb_load_balancer",
    "alicloud:slb/backendServer:BackendServer": "alicloud_slb_backend_server",
    "alicloud:slb/listener:Listener": "alicloud_slb_listener",
    "alicloud:slb/serverCertificate:ServerCertificate": "alicloud_slb_server_certificate",
    "alicloud:vpc/natGateway:NatGateway": "alicloud_nat_gateway",
    "alicloud:vpc/network:Network": "alicloud_vpc",
    "alicloud:vpc/snatEntry:SnatEntry": "alicloud_snat_entry",
    "alicloud:vpc/switch:Switch": "alicloud_vswitch",
}
# Pulumi property names that are not the camelCase of the TF name (pulumi-alicloud renames a
# list-valued `*_id` to plural on these resources).
RENAMES: dict[tuple[str, str], str] = {
    ("alicloud:ecs/ecsInvocation:EcsInvocation", "instanceIds"): "instance_id",
    ("alicloud:slb/acl:Acl", "entryLists"): "entry_list",
}


def tf_property(token: str, prop: str) -> str:
    return RENAMES.get((token, prop)) or re.sub(r"([A-Z])", r"_\1", prop).lower()


def sanitize(go: str) -> str:
    """The source with every brace inside a string, rune or comment turned into a space (same
    length), so that plain brace counting follows the code."""
    out, i, n = list(go), 0, len(go)

    def blank(a: int, b: int) -> None:
        for k in range(a, b):
            if out[k] in "{}":
                out[k] = " "

    while i < n:
        c = go[i]
        if go.startswith("//", i):
            j = go.find("\n", i)
            j = n if j < 0 else j
        elif go.startswith("/*", i):
            j = go.index("*/", i) + 2
        elif c == '"':
            j = i + 1
            while go[j] != '"':
                j += 2 if go[j] == "\\" else 1
            j += 1
        elif c == "`":
            j = go.index("`", i + 1) + 1
        elif c == "'":
            j = go.index("'", i + (3 if go[i + 1] == "\\" else 2)) + 1
        else:
            i += 1
            continue
        blank(i, j)
        i = j
    return "".join(out)


def _block(text: str, start: int) -> int:
    """Index just past the `}` matching the `{` at `start` (in sanitized text)."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    raise ValueError("unbalanced braces")


_ENTRY = re.compile(r'"([a-z0-9_]+)":\s*\{')
# A property whose schema a helper builds: `"tags": tagsSchema(),` (tagsSchemaForceNew() forces new).
_FUNC_ENTRY = re.compile(r'"([a-z0-9_]+)":\s*([A-Za-z]+Schema[A-Za-z]*)\(\),')


def _flag(fields: str, name: str) -> bool:
    return re.search(rf"\b{name}:\s*true\b", fields) is not None


def schema_facts(go: str) -> dict[str, dict[str, bool]]:
    """Top-level schema properties -> {forceNew, settable, computedOnly} (first Schema map)."""
    go = sanitize(go)
    m = re.search(r"Schema:\s*map\[string\]\*schema\.Schema\{", go)
    if not m:
        raise ValueError("no Schema map")
    end = _block(go, m.end() - 1)
    body_start, i = m.end(), m.end()
    out: dict[str, dict[str, bool]] = {}
    while True:
        e = _ENTRY.search(go, i, end)
        if not e:
            break
        close = _block(go, e.end() - 1)
        # Only the entry's own fields: drop nested blocks (Elem: &schema.Resource{...}).
        own, inner = "", go[e.end() : close - 1]
        depth = 0
        for ch in inner:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif depth == 0:
                own += ch
        settable = _flag(own, "Optional") or _flag(own, "Required")
        out[e[1]] = {
            "forceNew": _flag(own, "ForceNew"), "settable": settable,
            "computedOnly": _flag(own, "Computed") and not settable,
        }  # fmt: skip
        i = close
    # Helper-built entries at the top level only (inside no entry's block).
    depth, top = 0, []
    for k in range(body_start, end - 1):
        ch = go[k]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 0 and ch == '"':
            f = _FUNC_ENTRY.match(go, k)
            if f:
                top.append(f)
    for f in top:
        out[f[1]] = {"forceNew": "ForceNew" in f[2], "settable": True, "computedOnly": False, "schemaFunc": f[2]}
    assert body_start <= end
    return out


def reboot_props(go: str) -> list[str]:
    """Properties whose `if d.HasChange("<p>") {...}` block sets `reboot = true`."""
    go = sanitize(go)
    out = []
    for m in re.finditer(r'if d\.HasChange\("([a-z0-9_]+)"\)[^{\n]*\{', go):
        block = go[m.end() - 1 : _block(go, m.end() - 1)]
        if re.search(r"\breboot = true\b", block):
            out.append(m[1])
    return sorted(set(out))


def updated_props(go: str) -> set[str]:
    """Properties named in a `HasChange("p")` / `HasChanges("p", ...)` call anywhere in the file."""
    out: set[str] = set()
    for m in re.finditer(r"HasChanges?\(([^()]*)\)", go):
        out |= set(re.findall(r'"([a-z0-9_]+)"', m[1]))
    return out


def git_show(repo: Path, commit: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "show", f"{commit}:{path}"], check=True, capture_output=True, text=True
    ).stdout


# Declared only by stacks with llm:replicas > 1 or TLS, which no example plan is.
EXTRA_TYPES = (
    "alicloud:slb/aclEntryAttachment:AclEntryAttachment",
    "alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer",
    "alicloud:slb/backendServer:BackendServer",
    "alicloud:slb/listener:Listener",
    "alicloud:slb/serverCertificate:ServerCertificate",
)


def declared_types(golden: Path = ROOT / "tests" / "golden") -> list[str]:
    types = {r["type"] for f in sorted(golden.glob("*/resources.json")) for r in json.loads(f.read_text())}
    return sorted({t for t in types if t.startswith("alicloud:")} | set(EXTRA_TYPES))


def build(repo: Path, commit: str = COMMIT) -> dict:
    describe = subprocess.run(
        ["git", "-C", str(repo), "describe", "--tags", commit], capture_output=True, text=True
    ).stdout.strip()
    resources = {}
    for token in declared_types():
        tf = TF_NAMES[token]
        path = f"alicloud/resource_{tf}.go"
        go = git_show(repo, commit, path)
        entry: dict = {"terraform": tf, "file": path, "properties": schema_facts(go)}
        # A settable, non-ForceNew property is updated in place only if the Update code asks
        # `d.HasChange("<p>")` (or HasChanges); otherwise the facts leave it unknown.
        changed = updated_props(go)
        for name, fact in entry["properties"].items():
            fact["updated"] = name in changed
        reboots = reboot_props(go)
        if reboots:
            entry["reboots"] = reboots
        # CustomizeDiff may force a replacement under conditions the schema does not show.
        conditional = sorted(set(re.findall(r'diff\.ForceNew\("([a-z0-9_]+)"\)', go)))
        if conditional:
            entry["conditionalForceNew"] = conditional
        resources[token] = entry
    return {
        "source": "https://github.com/aliyun/terraform-provider-alicloud",
        "commit": commit,
        "describe": describe,
        "generatedBy": "python -m tools.provider_facts --repo <terraform-provider-alicloud clone>",
        "resources": resources,
        # Pulumi property -> TF property where it is not the snake_case of the camelCase name.
        "pulumiNames": {f"{t}.{prop}": tf for (t, prop), tf in sorted(RENAMES.items())},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", type=Path, required=True, help="a git clone of aliyun/terraform-provider-alicloud")
    p.add_argument("--commit", default=COMMIT)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    facts = build(args.repo, args.commit)
    args.out.write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")
    n = sum(len(r["properties"]) for r in facts["resources"].values())
    print(f"{len(facts['resources'])} resource types, {n} properties -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
