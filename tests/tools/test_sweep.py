"""`stackctl sweep` with a stub RPC caller: what is left is listed and fails; listings are read-only."""

from __future__ import annotations

import argparse

from stackctl import sweep


def caller(bodies: dict[str, dict], calls: list, fail: set[str] = frozenset()):  # type: ignore[assignment]
    def call(endpoint, action, version, query):
        calls.append((endpoint, action, version, dict(query)))
        if action in fail:
            raise RuntimeError("Forbidden.RAM")
        return bodies.get(action, {})

    return call


CLEAN = {"ListTagResources": {"TagResources": []}, "DescribeCommands": {"Commands": {"Command": [
    {"Name": "llm-other-serving", "CommandId": "c-1"}]}}}  # fmt: skip


def run(capsys, bodies, fail=frozenset()):
    calls: list = []
    code = sweep.run(argparse.Namespace(stack="e2e", region="cn-hangzhou"), caller=caller(bodies, calls, fail))
    out, err = capsys.readouterr()
    return code, out, err, calls


def test_nothing_left(capsys):
    code, out, _, calls = run(capsys, CLEAN)
    assert code == 0 and "nothing left of stack e2e" in out
    assert all(a.startswith(("List", "Describe")) for _, a, _, _ in calls)
    [tag] = [q for _, a, _, q in calls if a == "ListTagResources"]
    assert tag["Tags"] == '{"llm-stack": "e2e"}' and tag["RegionId"] == "cn-hangzhou"


def test_leftovers_fail_the_job(capsys):
    bodies = {
        "ListTagResources": {"TagResources": [{"ResourceARN": "acs:ecs:cn-hangzhou:1:instance/i-1"}]},
        "DescribeCommands": {"Commands": {"Command": [{"Name": "llm-e2e-serving", "CommandId": "c-2"}]}},
        "ListRoles": {"Roles": {"Role": [{"RoleName": "llm-e2e-model-reader"}, {"RoleName": "llm-e2ex-r"}]}},
        "ListSecretParameters": {"Parameters": [{"Name": "llm-e2e-api-key"}]},
    }
    code, out, _, _ = run(capsys, bodies)
    assert code == 1
    assert out.splitlines() == [
        "left: tagged llm-stack=e2e: acs:ecs:cn-hangzhou:1:instance/i-1",
        "left: Cloud Assistant command llm-e2e-serving (c-2)",
        "left: RAM role llm-e2e-model-reader",  # llm-e2ex-r is another stack's
        "left: OOS secret parameter llm-e2e-api-key",
    ]


def test_a_failed_listing_is_not_a_clean_sweep(capsys):
    code, _, err, _ = run(capsys, CLEAN, fail={"ListRoles"})
    assert code == 2 and "could not list RAM ListRoles/ListPolicies" in err
