"""`plan --diff` on planted plans: added and removed resources, option changes, the Markdown."""

from __future__ import annotations

from planner import diff as plan_diff
from tests import planning as P

DISK = "alicloud:ecs/ecsDisk:EcsDisk"
SG_RULE = "alicloud:ecs/securityGroupRule:SecurityGroupRule"

_r = P.planted

OLD = [
    _r("disk", DISK, {"size": 100, "zoneId": "cn-hangzhou-k"}, options={"customTimeouts": {"create": "10m"}}),
    _r("gone", SG_RULE, {"portRange": "22/22"}),
    _r(
        "attach",
        "alicloud:ecs/ecsDiskAttachment:EcsDiskAttachment",
        {"diskId": "disk-id"},
        options={"dependsOn": ["a"]},
    ),
]
NEW = [
    _r("disk", DISK, {"size": 200, "zoneId": "cn-hangzhou-k"}, options={"customTimeouts": {"create": "20m"}}),
    _r(
        "attach",
        "alicloud:ecs/ecsDiskAttachment:EcsDiskAttachment",
        {"diskId": "disk-id"},
        options={"dependsOn": ["a", "b"], "deleteBeforeReplace": True},
    ),  # fmt: skip
    _r("fresh", SG_RULE, {"portRange": "8000/8000"}),
]


def test_added_removed_and_option_changes():
    d = plan_diff.diff_resources(OLD, NEW)
    assert [a["name"] for a in d["added"]] == ["fresh"]
    assert [r["name"] for r in d["removed"]] == ["gone"]
    changes = {
        (c["name"], x["property"]): (x["effect"], x["old"], x["new"]) for c in d["changed"] for x in c["changes"]
    }
    assert changes == {
        ("disk", "size"): (plan_diff.effect(DISK, "size"), 100, 200),
        ("disk", "options.customTimeouts"): ("option change", {"create": "10m"}, {"create": "20m"}),
        ("attach", "options.dependsOn"): ("option change", ["a"], ["a", "b"]),
        ("attach", "options.deleteBeforeReplace"): ("option change", None, True),
    }
    assert plan_diff.differs(d)


def test_markdown_names_each_added_removed_and_changed_line():
    md = plan_diff.markdown(plan_diff.diff_resources(OLD, NEW))
    assert "**Added** (1)\n\n- `fresh` (alicloud:ecs/securityGroupRule:SecurityGroupRule)" in md
    assert "**Removed** (1)\n\n- `gone` (alicloud:ecs/securityGroupRule:SecurityGroupRule)" in md
    assert "**Changed** (2)" in md
    assert "| `attach` | options.deleteBeforeReplace | option change | null | true |" in md
    assert '| `attach` | options.dependsOn | option change | ["a"] | ["a", "b"] |' in md
    assert f"| `disk` | size | {plan_diff.effect(DISK, 'size')} | 100 | 200 |" in md


def test_no_change_says_so():
    d = plan_diff.diff_resources(OLD, OLD)
    assert not plan_diff.differs(d)
    assert plan_diff.markdown(d) == "### Offline plan diff\n\nNo changes.\n"


def test_a_replaced_resource_marks_what_holds_its_id_but_not_what_is_new():
    old = [
        _r("disk", DISK, {"zoneId": "a"}),
        _r("attach", "alicloud:ecs/ecsDiskAttachment:EcsDiskAttachment", {"diskId": "disk-id"}),
    ]
    new = [_r("disk", DISK, {"zoneId": "b"}), _r("attach", "alicloud:ecs/ecsDiskAttachment:EcsDiskAttachment", {"diskId": "disk-id"}),
           _r("extra", "alicloud:ecs/ecsDiskAttachment:EcsDiskAttachment", {"diskId": "disk-id"})]  # fmt: skip
    d = plan_diff.diff_resources(old, new)
    changed = {(c["name"], x["property"]): x["effect"] for c in d["changed"] for x in c["changes"]}
    assert changed[("disk", "zoneId")] == plan_diff.REPLACES
    assert changed[("attach", "diskId")] == plan_diff.REPLACES  # cascade: the disk gets a new ID
    assert not any(n == "extra" for n, _ in changed)  # added anyway
