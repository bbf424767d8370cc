"""What an existing release-1 stack sees on its next `pulumi up`, per example stack.

The plan of each example stack is diffed against release 1's (tests/previous/release-1); the
set of (resource, property, effect) changes must be exactly the one the README's upgrade notes
describe. A new difference fails here until it is listed (and documented) on purpose.
"""

from __future__ import annotations

import json

import pytest

from planner import diff as plan_diff
from planner import run as plan
from tests import planning as P
from tests.fakes.sandbox import REPO
from tests.regenerate_golden import example_stacks

RELEASE_1 = REPO / "tests" / "previous" / "release-1"

R, REBOOT, OPT = plan_diff.REPLACES, plan_diff.REBOOTS, "option change"
# Disk encryption (llm:encryption, on by default) is ForceNew in the provider (@81c43b67:
# resource_alicloud_instance.go system_disk_encrypted, resource_alicloud_ecs_disk.go encrypted):
# a release-1 stack that keeps the default replaces its instances and model disks; the upgrade
# notes tell it to set `llm:encryption.enabled: false` (test_encryption_off_changes_no_disk).
# The effects are whatever planner/diff.py's table says for these properties (rows to add there).
SYS_ENC = plan_diff.effect("alicloud:ecs/instance:Instance", "systemDiskEncrypted")
DISK_ENC = plan_diff.effect("alicloud:ecs/ecsDisk:EcsDisk", "encrypted")


def _encryption(nodes: list[str]) -> dict[tuple[str, str], str]:
    return {(f"{n}-instance", "systemDiskEncrypted"): SYS_ENC for n in nodes} | {
        (f"{n}-model-disk", "encrypted"): DISK_ENC for n in nodes
    }


def _new_instance_ids(nodes: list[str], ray: bool, public: bool) -> dict[tuple[str, str], str]:
    """With encryption on, every instance and model disk is replaced: whatever holds their IDs
    changes too (planner/diff.py derives it, since offline IDs are stable)."""
    if SYS_ENC != R:
        return {}
    out = {
        (f"{n}-{res}", prop): R
        for n in nodes
        for res, prop in (
            ("model-disk-attach", "instanceId"),
            ("model-disk-attach", "diskId"),
            ("role-attach", "instanceId"),
        )
    }
    phases = ["model-sync", "serving"] + (["ray"] if ray else [])
    out |= {(f"{ph}-invocation", "instanceIds"): R for ph in phases}
    if public:
        out[("public-access-eip-assoc", "instanceId")] = R
    return out  # fmt: skip


def _ecs(nodes: list[str], ray: bool, public: bool) -> dict[tuple[str, str], str]:
    """Release 2 on an ECS stack: user-data shrinks (one reboot per instance: host setup moved to
    a Cloud Assistant phase), every command re-runs once (no-ops on a set-up host:
    tests/scripts/test_upgrade_no_restart.py), the runs wait for host setup, and the disk
    attachment and EIP association delete before they replace."""
    out = {(f"{n}-instance", "userData"): REBOOT for n in nodes}
    out |= {(f"{n}-model-disk-attach", "options.deleteBeforeReplace"): OPT for n in nodes}
    for phase in ("model-sync", "serving") + (("ray",) if ray else ()):
        out |= {
            (f"{phase}-command", "commandContent"): R,
            # Issue 13: the content becomes static (once), the description no longer names a
            # setting, and the settings move to the invocation's parameters.
            (f"{phase}-command", "description"): R,
            (f"{phase}-invocation", "parameters"): R,
            (f"{phase}-invocation", "commandId"): R,
            (f"{phase}-invocation", "options.dependsOn"): OPT,
        }
        if phase != "serving":  # serving had parameters on already ({{oos-secret:...}})
            out[(f"{phase}-command", "enableParameter")] = R
    if public:
        out[("public-access-eip-assoc", "options.deleteBeforeReplace")] = OPT
    return out | _new_instance_ids(nodes, ray, public)


def _ecs_added(nodes: list[str]) -> set[str]:
    setup = {f"{n}-host-setup{suffix}" for n in nodes for suffix in ("", "-command", "-invocation")}
    scripts = {"host-scripts", "host-scripts-command", "host-scripts-invocation"}  # issue 13
    return (
        setup
        | scripts
        | {f"{n}-agent-online" for n in nodes}
        | {"model-access-api-key-policy", "model-access-api-key-attach"}
    )


# An acs stack of release 1 could not have been created (its cluster version was in ACK's
# format): the notes advise destroy + up. What a diff shows all the same (docs/acs.md, upgrade):
# Effects from planner/provider_facts.json (terraform-provider-alicloud's own source, issue 13):
# IP where the provider's update code reads the property, U where the facts cannot say.
U, NPV, IP = plan_diff.UNKNOWN, plan_diff.IN_PLACE + " (new policy version)", plan_diff.IN_PLACE
_ACS = {
    ("acs-cluster", "addons"): U,
    ("acs-cluster", "newNatGateway"): U,
    ("acs-cluster", "podVswitchIds"): U,
    ("acs-cluster", "version"): IP,
    ("acs-cluster", "vswitchIds"): IP,
    ("workload-private-service", "spec"): U,
    ("jump-host-rbac", "permissions"): IP,
    ("jump-host-rbac", "options.dependsOn"): OPT,
    ("jump-host-manifests-command", "commandContent"): R,
    ("jump-host-manifests-command", "description"): R,
    ("jump-host-manifests-invocation", "commandId"): R,
    ("jump-host-instance", "userData"): REBOOT,  # kubectl for the default version's minor
    ("jump-host-policy", "description"): IP,
    ("jump-host-policy", "policyDocument"): NPV,
    ("model-storage-rrsa-role", "assumeRolePolicyDocument"): IP,
    ("model-storage-namespace", "metadata"): U,
    ("model-storage-pv", "spec"): U,
    ("model-storage-service-account", "metadata"): U,
    # Hardening: the jump host's system disk encrypted (replaces it; it holds only files Pulumi
    # rewrites), pod security on the workload (a rolling update), and the plan's Secret manifest
    # now lists its keys with masked values: a change of the plan's format only, the cluster
    # sees the same Secret.
    ("jump-host-instance", "systemDiskEncrypted"): SYS_ENC,
    # ... so what holds the jump host's ID changes with it.
    **(
        {("jump-host-role-attach", "instanceId"): R, ("jump-host-manifests-invocation", "instanceIds"): R}
        if SYS_ENC == R
        else {}
    ),
    ("workload-api-key", "stringData"): U,
    # The readiness Job follows the workload (a new name, a new Job that proves the new pods).
    ("workload-readiness", "metadata"): U,
    ("workload-readiness", "spec"): U,
}

# stack -> {(resource name, property): effect}
EXPECTED: dict[str, dict[tuple[str, str], str]] = {
    "dev": _ecs(["node"], ray=False, public=False) | _encryption(["node"]),
    "prod": _ecs(["node", "worker-1"], ray=True, public=True) | _encryption(["node", "worker-1"]),
    "acs": _ACS
    | {
        ("workload-deployment", "options.dependsOn"): OPT,
        ("workload-deployment", "spec"): U,
        ("workload-public-service", "spec"): U,
    },
    "acs-r1": _ACS | {("workload-lws", "options.dependsOn"): OPT, ("workload-lws", "spec"): U},
}
ADDED: dict[str, set[str]] = {
    "dev": _ecs_added(["node"]),
    "prod": _ecs_added(["node", "worker-1"]),
    "acs": {"acs-api-health-check", "acs-api-public-0", "acs-api-vpc", "jump-host-cluster-role"},
    "acs-r1": {"acs-api-health-check", "acs-api-vpc", "acs-intra-pods-a", "acs-intra-pods-b", "jump-host-cluster-role"},
}
REMOVED: dict[str, set[str]] = {s: set() for s in EXPECTED}


def upgrade_diff(stack: str) -> dict:
    old = json.loads((RELEASE_1 / stack / "resources.json").read_text())
    new = P.example_resources(stack)
    return plan_diff.diff_resources(old, new)


def test_release_1_plans_cover_the_example_stacks():
    assert sorted(p.name for p in RELEASE_1.iterdir() if p.is_dir()) == sorted(EXPECTED) == example_stacks()


@pytest.mark.parametrize("stack", sorted(EXPECTED))
def test_upgrade_changes_exactly_what_the_notes_say(stack):
    d = upgrade_diff(stack)
    got = {(c["name"], x["property"]): x["effect"] for c in d["changed"] for x in c["changes"]}
    assert got == EXPECTED[stack]
    assert {a["name"] for a in d["added"]} == ADDED[stack]
    assert {r["name"] for r in d["removed"]} == REMOVED[stack]


@pytest.mark.parametrize("stack", sorted(EXPECTED))
def test_user_data_changes_once_to_the_static_release_2_text(stack):
    """User-data runs once and a change reboots: release 2 changes it once, to a text that no
    setting feeds (so no later change of settings reboots a node)."""
    from components.ecs import userdata

    new = P.example_resources(stack)
    for r in new:
        if r["type"] == "alicloud:ecs/instance:Instance" and r["name"] != "jump-host-instance":
            assert r["inputs"]["userData"] == userdata.render_user_data()


@pytest.mark.parametrize("stack", sorted(EXPECTED))
def test_every_instances_user_data_is_under_12_kb(stack):
    for r in P.example_resources(stack):
        if r["type"] == "alicloud:ecs/instance:Instance":
            assert len(r["inputs"]["userData"].encode()) < 12 * 1024, r["name"]


def test_eip_association_deletes_before_it_replaces():
    """prod is public: a replaced master would otherwise wait for an EIP the old one still holds."""
    res = {r["name"]: r for r in P.example_resources("prod")}
    assert res["public-access-eip-assoc"]["options"].get("deleteBeforeReplace") is True
    for n in ("node", "worker-1"):
        assert res[f"{n}-model-disk-attach"]["options"].get("deleteBeforeReplace") is True


ENCRYPTION_PROPS = {"systemDiskEncrypted", "systemDiskKmsKeyId", "encrypted", "kmsKeyId"}


def _with_encryption(tmp_path, stack: str, enabled: bool) -> dict:
    import yaml

    cfg = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())
    cfg.setdefault("config", {})["llm:encryption"] = {"enabled": enabled}
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    old = json.loads((RELEASE_1 / stack / "resources.json").read_text())
    return plan_diff.diff_resources(old, plan.resources_json(plan.run_program(stack, config_file=path)))


def _disk_changes(d: dict) -> set[tuple[str, str]]:
    return {(c["name"], x["property"]) for c in d["changed"] for x in c["changes"] if x["property"] in ENCRYPTION_PROPS}


def test_encryption_on_replaces_every_instance_and_disk_of_release_1(tmp_path):
    """`enabled: true` against a release-1 plan: every instance's system disk and every model
    disk gets the flag, each a ForceNew property of the provider (so: replaced)."""
    assert _disk_changes(_with_encryption(tmp_path, "prod", True)) == {
        ("node-instance", "systemDiskEncrypted"), ("node-model-disk", "encrypted"),
        ("worker-1-instance", "systemDiskEncrypted"), ("worker-1-model-disk", "encrypted"),
    }  # fmt: skip


@pytest.mark.parametrize("stack", ["dev", "acs"])
def test_encryption_off_changes_no_disk(tmp_path, stack):
    """`enabled: false` (what the upgrade notes ask of a release-1 stack): no encryption input is
    sent at all, so neither the instance nor the disk sees a change."""
    d = _with_encryption(tmp_path, stack, False)
    assert _disk_changes(d) == set()
    got = {(c["name"], x["property"]) for c in d["changed"] for x in c["changes"]}
    # Without the replacements, nothing holding an instance or disk ID changes either.
    follows = ENCRYPTION_PROPS | {"instanceId", "instanceIds", "diskId"}
    assert got == set(EXPECTED[stack]) - {k for k in EXPECTED[stack] if k[1] in follows}
