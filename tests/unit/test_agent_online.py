"""The agent-online gate's provider against a stub ECS client (canned DescribeCloudAssistantStatus).

No network, no real sleeping: the module's `client_factory`, `sleep` and `monotonic` are
replaced; a fake clock advances by what the gate asks to sleep.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("alibabacloud_ecs20140526")
from alibabacloud_ecs20140526 import models  # noqa: E402

from components.common import agent_online as ao  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


class StubClient:
    """Answers describe_cloud_assistant_status; `online_after[id]` = polls before it says "true"."""

    def __init__(self, online_after: dict[str, int | None], fail_on_call: int | None = None, error=None) -> None:
        self.online_after = online_after
        self.polls: dict[str, int] = {}
        self.requests: list[models.DescribeCloudAssistantStatusRequest] = []
        self.fail_on_call = fail_on_call
        self.error = error

    def describe_cloud_assistant_status(self, request):
        self.requests.append(request)
        if self.fail_on_call is not None and len(self.requests) >= self.fail_on_call:
            raise self.error
        rows = []
        for i in request.instance_id:
            n = self.polls[i] = self.polls.get(i, 0) + 1
            after = self.online_after.get(i)
            up = after is not None and n > after
            rows.append({"InstanceId": i, "CloudAssistantStatus": "true" if up else "false",
                         "CloudAssistantVersion": "2.2.3.857", "OSType": "Linux"})  # fmt: skip
        body = {"RequestId": "r-1", "InstanceCloudAssistantStatusSet": {"InstanceCloudAssistantStatus": rows}}
        return models.DescribeCloudAssistantStatusResponse().from_map({"statusCode": 200, "headers": {}, "body": body})


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s


@pytest.fixture
def clock(monkeypatch):
    c = FakeClock()
    monkeypatch.setattr(ao, "monotonic", c.monotonic)
    monkeypatch.setattr(ao, "sleep", c.sleep)
    return c


def use(monkeypatch, client) -> list[str]:
    regions: list[str] = []

    def factory(region):
        regions.append(region)
        return client

    monkeypatch.setattr(ao, "client_factory", factory)
    return regions


def props(ids, timeout_s=900, poll_s=10, region="cn-hangzhou"):
    return {"instance_ids": ids, "region": region, "timeout_s": timeout_s, "poll_s": poll_s, "__provider": "x"}


def test_online_at_once(monkeypatch, clock):
    client = StubClient({"i-a": 0, "i-b": 0})
    regions = use(monkeypatch, client)
    result = ao.AgentOnlineProvider().create(props(["i-a", "i-b"]))
    assert regions == ["cn-hangzhou"]
    assert len(client.requests) == 1 and clock.sleeps == []
    [req] = client.requests
    assert (req.region_id, req.instance_id) == ("cn-hangzhou", ["i-a", "i-b"])
    assert result.id == ao.gate_id("cn-hangzhou", ["i-b", "i-a"])
    outs = result.outs
    assert outs["instance_ids"] == ["i-a", "i-b"] and set(outs["online_at"]) == {"i-a", "i-b"}
    assert outs["agent_versions"] == {"i-a": "2.2.3.857", "i-b": "2.2.3.857"}
    assert outs["online_at"]["i-a"].endswith("Z") and "__provider" not in outs


def test_online_after_n_polls_asks_only_for_the_offline_ones(monkeypatch, clock):
    client = StubClient({"i-a": 0, "i-b": 3})
    use(monkeypatch, client)
    outs = ao.AgentOnlineProvider().create(props(["i-a", "i-b"], timeout_s=60, poll_s=5)).outs
    assert set(outs["online_at"]) == {"i-a", "i-b"}
    assert clock.sleeps == [5, 5, 5]
    assert [r.instance_id for r in client.requests] == [["i-a", "i-b"], ["i-b"], ["i-b"], ["i-b"]]


def test_never_online_names_instances_and_bound(monkeypatch, clock):
    client = StubClient({"i-a": 0, "i-b": None, "i-c": None})
    use(monkeypatch, client)
    with pytest.raises(ao.AgentOnlineError) as e:
        ao.AgentOnlineProvider().create(props(["i-a", "i-b", "i-c"], timeout_s=30, poll_s=10))
    msg = str(e.value)
    assert "i-b, i-c" in msg and "i-a" not in msg.split("instances:")[1]
    assert "timeout_s=30 s" in msg and "2 of 3 instances" in msg and "cn-hangzhou" in msg
    # Checks at 0, 10, 20 and 30 s; never sleeps past the bound.
    assert clock.t == 30 and clock.sleeps == [10, 10, 10] and len(client.requests) == 4


def test_missing_from_the_answer_counts_as_offline(monkeypatch, clock):
    client = StubClient({"i-a": 0})
    real = client.describe_cloud_assistant_status

    def drop_b(request):  # the API may not list a just-created instance yet
        resp = real(request)
        rows = resp.body.instance_cloud_assistant_status_set.instance_cloud_assistant_status
        resp.body.instance_cloud_assistant_status_set.instance_cloud_assistant_status = [
            r for r in rows if r.instance_id != "i-b"
        ]
        return resp

    client.describe_cloud_assistant_status = drop_b
    use(monkeypatch, client)
    with pytest.raises(ao.AgentOnlineError, match="i-b"):
        ao.AgentOnlineProvider().create(props(["i-a", "i-b"], timeout_s=1, poll_s=1))


def test_real_sleep_is_tiny_and_bounded(monkeypatch):
    """With the real clock and sleep: a 0.05 s bound gives up within ~0.1 s."""
    import time

    use(monkeypatch, StubClient({"i-a": None}))
    start = time.monotonic()
    with pytest.raises(ao.AgentOnlineError, match="timeout_s=0.05 s"):
        ao.AgentOnlineProvider().create(props(["i-a"], timeout_s=0.05, poll_s=0.01))
    assert time.monotonic() - start < 0.5


def test_api_error_names_the_api_and_code(monkeypatch, clock):
    err = RuntimeError("Forbidden.RAM: User not authorized to operate on the specified resource.\nRequestId: x")
    err.code = "Forbidden.RAM"  # type: ignore[attr-defined]
    use(monkeypatch, StubClient({"i-a": None}, fail_on_call=2, error=err))
    with pytest.raises(ao.AgentOnlineError) as e:
        ao.AgentOnlineProvider().create(props(["i-a"], timeout_s=60, poll_s=1))
    msg = str(e.value)
    assert msg.startswith("DescribeCloudAssistantStatus failed in cn-hangzhou for i-a: Forbidden.RAM:")
    assert "\n" not in msg


def test_more_than_100_ids_are_split_into_requests_of_at_most_100(monkeypatch, clock):
    ids = [f"i-{n:03d}" for n in range(250)]
    client = StubClient(dict.fromkeys(ids, 0))
    use(monkeypatch, client)
    outs = ao.AgentOnlineProvider().create(props(ids)).outs
    assert [len(r.instance_id) for r in client.requests] == [100, 100, 50]
    assert [i for r in client.requests for i in r.instance_id] == ids
    assert len(outs["online_at"]) == 250


def test_next_token_is_followed(monkeypatch, clock):
    pages = [
        {"InstanceCloudAssistantStatusSet": {"InstanceCloudAssistantStatus": [
            {"InstanceId": "i-a", "CloudAssistantStatus": "true"}]}, "NextToken": "p2"},
        {"InstanceCloudAssistantStatusSet": {"InstanceCloudAssistantStatus": [
            {"InstanceId": "i-b", "CloudAssistantStatus": "true"}]}, "NextToken": ""},
    ]  # fmt: skip
    seen = []

    class Paged:
        def describe_cloud_assistant_status(self, request):
            seen.append(request.next_token)
            body = pages[len(seen) - 1]
            return models.DescribeCloudAssistantStatusResponse().from_map(
                {"statusCode": 200, "headers": {}, "body": body}
            )

    use(monkeypatch, Paged())
    outs = ao.AgentOnlineProvider().create(props(["i-a", "i-b"])).outs
    assert seen == [None, "p2"] and set(outs["online_at"]) == {"i-a", "i-b"}


def test_status_is_the_string_true(monkeypatch, clock):
    """CloudAssistantStatus is a string: "false" (truthy in Python) must not count as online."""
    use(monkeypatch, StubClient({"i-a": None}))
    with pytest.raises(ao.AgentOnlineError):
        ao.AgentOnlineProvider().create(props(["i-a"], timeout_s=1, poll_s=1))


def test_no_network_call_the_factory_is_the_only_way_to_a_client(monkeypatch, clock):
    def no_network(*a, **k):
        raise AssertionError(f"network call: {a}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    client = StubClient({"i-a": 1})
    use(monkeypatch, client)
    ao.AgentOnlineProvider().create(props(["i-a"]))
    assert len(client.requests) == 2
    # And the provider carries nothing: no client, credential or callable in what Pulumi pickles.
    assert vars(ao.AgentOnlineProvider()) == {}


def test_default_factory_without_credentials_fails_offline(monkeypatch, tmp_path):
    """The real default chain with an empty environment: an error naming the API, no network."""
    for k in list(os.environ):
        if k.startswith(("ALIBABA_CLOUD_", "ALICLOUD_")):
            monkeypatch.delenv(k)
    monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
    monkeypatch.setenv("HOME", str(tmp_path))

    calls: list[tuple] = []

    def no_network(*a, **k):
        calls.append(a)
        raise OSError("network call in a test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(ao.AgentOnlineError, match="DescribeCloudAssistantStatus: no Alibaba Cloud credentials"):
        ao.default_client_factory("cn-hangzhou")
    assert calls == []  # the chain gave up without reaching the metadata address (conftest disables it)


def test_diff_replaces_on_new_instances_and_updates_on_bounds():
    p = ao.AgentOnlineProvider()
    old = props(["i-a"]) | {"online_at": {"i-a": "t"}}
    assert p.diff("id", old, props(["i-a"]) | {"__provider": "new code"}).changes is False
    d = p.diff("id", old, props(["i-new"]))
    assert d.changes and d.replaces == ["instance_ids"]
    d = p.diff("id", old, props(["i-a"], timeout_s=1200))
    assert d.changes and d.replaces == []
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # an instance being replaced, at preview
    assert p.diff("id", old, props(unknown)).replaces == ["instance_ids"]


def test_update_checks_again_and_delete_does_nothing(monkeypatch, clock):
    client = StubClient({"i-a": 0})
    use(monkeypatch, client)
    p = ao.AgentOnlineProvider()
    outs = p.update("id", props(["i-a"]), props(["i-a"], timeout_s=5)).outs
    assert outs["timeout_s"] == 5 and "i-a" in outs["online_at"] and len(client.requests) == 1
    assert p.delete("id", props(["i-a"])) is None and len(client.requests) == 1


def test_check_rejects_non_positive_bounds():
    failures = ao.AgentOnlineProvider().check({}, props(["i-a"], timeout_s=0)).failures
    assert [f.property for f in failures] == ["timeout_s"]


def test_pickled_provider_is_small_and_loads_in_the_project_directory():
    """What Pulumi stores (dill, Base64) is a reference to this class; the dynamic provider
    process (`python -m pulumi.dynamic`, started in the project directory) can load it."""
    from pulumi.dynamic.dynamic import serialize_provider

    blob = serialize_provider(ao.AgentOnlineProvider())
    assert len(blob) < 200 and b"components.common.agent_online" in base64.b64decode(blob)
    code = "import base64,dill,sys; p=dill.loads(base64.b64decode(sys.argv[1])); print(type(p).__name__)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", code, blob], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert proc.stdout.strip() == "AgentOnlineProvider", proc.stderr


def test_offline_plan_diff_agrees_with_the_provider_diff():
    from planner import diff as plan_diff

    typ = "pulumi-python:dynamic:Resource"
    for key in ao.INPUTS:
        got = ao.AgentOnlineProvider().diff("id", props(["i-a"]), props(["i-a"]) | {key: "changed"})
        assert (plan_diff.effect(typ, key) == plan_diff.REPLACES) == bool(got.replaces), key
