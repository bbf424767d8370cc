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
from tests.fakes.sandbox import REPO
from tests.regenerate_golden import example_stacks

RELEASE_1 = REPO / "tests" / "previous" / "release-1"

R, C = plan_diff.REPLACES, "(new ID of {})"
# stack -> {(resource name, property): effect}
EXPECTED: dict[str, dict[tuple[str, str], str]] = {
    # The Cloud Assistant scripts changed (shared helpers, no defaults of their own): every
    # command re-runs once; the scripts are no-ops on a host they already set up
    # (tests/scripts/test_upgrade_no_restart.py).
    "dev": {
        ("model-sync-command", "commandContent"): R,
        ("model-sync-invocation", "commandId"): R,
        ("serving-command", "commandContent"): R,
        ("serving-invocation", "commandId"): R,
    },
    "prod": {
        ("model-sync-command", "commandContent"): R,
        ("model-sync-invocation", "commandId"): R,
        ("ray-command", "commandContent"): R,
        ("ray-invocation", "commandId"): R,
        ("serving-command", "commandContent"): R,
        ("serving-invocation", "commandId"): R,
    },
    "acs": {
        ("jump-host-manifests-command", "commandContent"): R,
        ("jump-host-manifests-invocation", "commandId"): R,
    },
    "acs-r1": {
        ("jump-host-manifests-command", "commandContent"): R,
        ("jump-host-manifests-invocation", "commandId"): R,
    },
}
ADDED: dict[str, set[str]] = {s: set() for s in EXPECTED}
REMOVED: dict[str, set[str]] = {s: set() for s in EXPECTED}


def upgrade_diff(stack: str) -> dict:
    old = json.loads((RELEASE_1 / stack / "resources.json").read_text())
    new = plan.resources_json(plan.run_program(stack))
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
def test_user_data_is_frozen(stack):
    """User-data runs once and a change reboots the instance: it must not change by accident."""
    old = json.loads((RELEASE_1 / stack / "resources.json").read_text())
    new = plan.resources_json(plan.run_program(stack))

    def user_data(rs):
        return {r["name"]: r["inputs"].get("userData") for r in rs if r["type"] == "alicloud:ecs/instance:Instance"}

    assert user_data(new) == user_data(old)
