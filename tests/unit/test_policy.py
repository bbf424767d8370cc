"""The policy pack's rules (policy/rules.py): each fires on a crafted violating resource and
stays quiet on every example stack's plan (the golden plans, which test_golden keeps equal to
the planner's output)."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

from policy import rules
from tests import planning as P
from tests.fakes.sandbox import REPO
from tests.regenerate_golden import example_stacks

GOLDEN = REPO / "tests" / "golden"


def _plan(stack: str) -> list[dict]:
    return json.loads((GOLDEN / stack / "resources.json").read_text())


def _config(stack: str) -> dict:
    """The policy config a user of this stack sets: apiAccess mirrors llm:acs.apiAccess."""
    access = (P.stack_config(stack).get("llm:acs") or {}).get("apiAccess", "public")
    return {"private-acs-api": {"apiAccess": access}}


def _r(type_: str, name: str = "bad", **inputs) -> dict:
    return {"type": type_, "name": name, "inputs": inputs}


def _rule(port: str, cidr: str = "0.0.0.0/0", proto: str = "tcp") -> dict:
    return _r(rules.SG_RULE, type="ingress", cidrIp=cidr, portRange=port, ipProtocol=proto)


def _b64gz(text: str) -> str:
    return base64.b64encode(gzip.compress(text.encode())).decode()


@pytest.mark.parametrize("stack", example_stacks())
def test_every_example_plan_passes_every_policy(stack):
    assert _config(stack)["private-acs-api"]["apiAccess"] in ("public", "private")
    assert rules.run_all(_plan(stack), _config(stack)) == {p.name: [] for p in rules.POLICIES}


def test_every_policy_has_a_level_and_a_description():
    assert {p.enforcement for p in rules.POLICIES} <= {"mandatory", "advisory"}
    assert len({p.name for p in rules.POLICIES}) == len(rules.POLICIES) == 6


VIOLATIONS = {
    "no-internet-ingress": [_rule("6379/6379")],
    "ssh-never-world-open": [_rule("22/22"), _rule("1/65535"), _rule("-1/-1", proto="all"), _rule("22/22", cidr="::/0")],
    "disks-encrypted": [_r(rules.INSTANCE, systemDiskCategory="cloud_essd"), _r(rules.DISK, encrypted=False)],
    "no-credentials-in-content": [
        _r(rules.COMMAND, commandContent=base64.b64encode(b"export OSS_AK=LTAI5tAbCdEfGhIjKlMnOp\n").decode()),
        _r(rules.INSTANCE, userData=_b64gz("VLLM_API_KEY=Zq3kT9sLmW8xYp2RvB7nC4dF\n"), systemDiskEncrypted=True),
        _r("kubernetes:apps/v1:Deployment", spec={"template": {"spec": {"containers": [
            {"name": "x", "env": [{"name": "VLLM_API_KEY", "value": "hello"}]}]}}}),
    ],
    "internet-lb-has-acl": [
        _r(rules.K8S_SERVICE, spec={"type": "LoadBalancer"}, metadata={"annotations": {}}),
        _r(rules.K8S_SERVICE, spec={"type": "LoadBalancer"}, metadata={"annotations": {
            f"{rules.LB}address-type": "internet", f"{rules.LB}acl-status": "on", f"{rules.LB}acl-type": "black",
            f"{rules.LB}acl-id": "acl-1"}}),
    ],
    "private-acs-api": [_r(rules.CLUSTER, slbInternetEnabled=True), _rule("6443/6443")],
}  # fmt: skip


@pytest.mark.parametrize("policy", sorted(VIOLATIONS))
def test_each_policy_fires_on_each_crafted_violation(policy):
    config = {"private-acs-api": {"apiAccess": "private"}}
    for bad in VIOLATIONS[policy]:
        got = rules.run_all([bad], config)[policy]
        assert got and got[0].startswith("bad:"), (policy, bad)


def test_a_known_secret_value_is_found_in_a_gzipped_command():
    key = "k3Y-0f-the-stack-9vQ"
    res = [
        _r(rules.SECRET_PARAMETER, name="api-key", value=key),
        _r(
            rules.COMMAND,
            name="serving-command",
            commandContent=base64.b64encode(f"curl -H 'x: {key}'".encode()).decode(),
        ),
    ]
    assert rules.run_all(res)["no-credentials-in-content"] == [
        "serving-command: a secret value of the stack in its content"
    ]


def test_references_and_secret_resources_are_not_credentials():
    ok = [
        _r(rules.COMMAND, commandContent=base64.b64encode(b"VLLM_API_KEY={{oos-secret:llm-dev-api-key}}\n").decode()),
        _r(rules.K8S_SECRET, stringData={"api-key": "LTAI5tAbCdEfGhIjKlMnOp"}),
        _r("kubernetes:batch/v1:Job", env=[{"name": "API_KEY_FILE", "value": "/var/run/k"}]),
    ]
    assert rules.run_all(ok)["no-credentials-in-content"] == []


def test_relaxing_by_config():
    assert (
        rules.run_all([_rule("443/443")], {"no-internet-ingress": {"allowedPorts": ["443/443"]}})["no-internet-ingress"]
        == []
    )
    assert rules.run_all([_r(rules.CLUSTER, slbInternetEnabled=True)])["private-acs-api"] == []  # apiAccess any


def test_only_policy_main_constructs_the_pack():
    texts = {p.name: p.read_text() for p in (REPO / "policy").glob("*.py")}
    assert [n for n, t in texts.items() if "PolicyPack(" in t] == ["__main__.py"]
    assert "requirements" not in texts  # pulumi-policy is pinned in requirements-dev.txt


def test_the_pack_builds_with_pulumi_policy(monkeypatch):
    """policy/__main__.py constructs one StackValidationPolicy per rule (PolicyPack is stubbed:
    the real one starts a gRPC server)."""
    import runpy

    import pulumi_policy

    seen = {}
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kw: seen.update(kw))
    runpy.run_path(str(REPO / "policy" / "__main__.py"))
    assert [p.name for p in seen["policies"]] == [p.name for p in rules.POLICIES]
    assert all(isinstance(p, pulumi_policy.StackValidationPolicy) for p in seen["policies"])


def test_private_api_passes_on_a_private_plan(tmp_path):
    from planner import run as plan

    cfg = P.with_changes(P.stack_config("acs"), acs={"apiAccess": "private"})
    res = plan.resources_json(P.run(tmp_path, cfg, stack="acs"))
    assert rules.run_all(res, {"private-acs-api": {"apiAccess": "private"}})["private-acs-api"] == []
    public = plan.resources_json(plan.run_program("acs"))
    assert rules.run_all(public, {"private-acs-api": {"apiAccess": "private"}})["private-acs-api"]
