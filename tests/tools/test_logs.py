"""`stackctl logs` with a stub ECS client (canned DescribeInvocationResults); no network."""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("alibabacloud_ecs20140526")
from alibabacloud_ecs20140526 import models  # noqa: E402

from stackctl import logs  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUTPUT = "\n".join(f"line {i}" for i in range(1, 101)) + "\nvllm ready: 让我们开始\n"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def result(instance: str, start: str, *, output: str = OUTPUT, exit_code: int = 0, status: str = "Success",
           **extra) -> dict:  # fmt: skip
    return {
        "InstanceId": instance,
        "InvokeId": f"t-{instance}-{start[-9:-1].replace(':', '')}",
        "CommandId": "c-setup",
        "InvocationStatus": status,
        "ExitCode": exit_code,
        "StartTime": start,
        "FinishedTime": start,
        "Output": b64(output),
        "Dropped": 0,
        "ErrorCode": "",
        "ErrorInfo": "",
        **extra,
    }


class StubClient:
    """Answers describe_invocation_results from canned bodies, keyed by instance ID."""

    def __init__(self, bodies: dict[str, list[dict]], fail: Exception | None = None) -> None:
        self.bodies = bodies
        self.fail = fail
        self.requests: list[models.DescribeInvocationResultsRequest] = []

    def describe_invocation_results(self, request):
        self.requests.append(request)
        if self.fail:
            raise self.fail
        rows = self.bodies.get(request.instance_id, [])
        body = {"RequestId": "r-1", "Invocation": {"InvocationResults": {"InvocationResult": rows}, "TotalCount": 1}}
        return models.DescribeInvocationResultsResponse().from_map({"statusCode": 200, "headers": {}, "body": body})


def make_args(**kw) -> argparse.Namespace:
    base = {"stack": None, "region": "cn-hangzhou", "instance_id": None, "count": 1, "tail": 5, "cwd": None,
            "json": True, "invoke_id": None, "phase": None, "instances_output": None}  # fmt: skip
    return argparse.Namespace(**(base | kw))


def run_logs(capsys, args, client=None, outputs=None, **kw):
    calls = []

    def runner(cmd, **_):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, json.dumps(outputs or {}), "")

    seen = {}

    def factory(region, credential):
        seen["region"], seen["credential"] = region, credential
        return client

    code = logs.run(args, client_factory=factory, credential_factory=lambda: "cred", runner=runner, environ={}, **kw)
    out, err = capsys.readouterr()
    return code, out, err, calls, seen


def test_decodes_and_keeps_the_tail_newest_first(capsys):
    client = StubClient(
        {
            "i-a": [
                result("i-a", "2025-01-01T10:00:00Z", output="old run\n"),
                result("i-a", "2025-01-02T10:00:00Z"),
            ]
        }
    )
    code, out, err, _, seen = run_logs(capsys, make_args(instance_id=["i-a"]), client)
    assert code == 0, err
    doc = json.loads(out)
    [view] = doc["instances"]["i-a"]
    assert view["start_time"] == "2025-01-02T10:00:00Z"  # the newest one
    assert view["output_tail"] == "line 97\nline 98\nline 99\nline 100\nvllm ready: 让我们开始"
    assert view["output_lines"] == 101
    assert view["exit_code"] == 0 and view["status"] == "Success"
    assert seen == {"region": "cn-hangzhou", "credential": "cred"}
    [req] = client.requests
    assert (req.region_id, req.instance_id, req.content_encoding) == ("cn-hangzhou", "i-a", "Base64")


def test_instances_and_region_from_stack_outputs(capsys):
    client = StubClient(
        {"i-1": [result("i-1", "2025-01-01T00:00:00Z")], "i-2": [result("i-2", "2025-01-01T00:00:00Z")]}
    )
    outputs = {"instanceIds": ["i-1", "i-2"], "region": "cn-shanghai"}
    code, out, _, calls, seen = run_logs(capsys, make_args(stack="dev", region=None), client, outputs)
    assert code == 0
    assert calls == [["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", "dev"]]
    assert seen["region"] == "cn-shanghai"
    assert list(json.loads(out)["instances"]) == ["i-1", "i-2"]


def test_single_instance_id_output(capsys):
    client = StubClient({"i-9": [result("i-9", "2025-01-01T00:00:00Z")]})
    code, out, *_ = run_logs(capsys, make_args(stack="dev"), client, {"instanceId": "i-9"})
    assert code == 0 and list(json.loads(out)["instances"]) == ["i-9"]


def test_failed_invocation_and_missing_results_exit_1(capsys):
    client = StubClient(
        {
            "i-a": [
                result(
                    "i-a",
                    "2025-01-01T00:00:00Z",
                    exit_code=3,
                    status="Failed",
                    ErrorCode="ExitCodeNonzero",
                    ErrorInfo="the command exited with 3",
                )
            ]
        }  # fmt: skip
    )
    code, out, *_ = run_logs(capsys, make_args(instance_id=["i-a", "i-b"], json=False), client)
    assert code == logs.EXIT_FAILED == 1
    assert "Failed" in out and "exit code 3" in out and "ExitCodeNonzero" in out
    assert "last 5 of 101 lines" in out and "vllm ready" in out
    assert "i-b (cn-hangzhou): no Cloud Assistant invocations" in out


def test_plain_text_output_and_count(capsys):
    rows = [result("i-a", f"2025-01-0{d}T00:00:00Z") for d in (1, 2, 3)]
    rows[2]["Output"] = "not base64 at all!"
    code, out, *_ = run_logs(capsys, make_args(instance_id=["i-a"], count=2, tail=1), StubClient({"i-a": rows}))
    views = json.loads(out)["instances"]["i-a"]
    assert code == 0 and [v["start_time"][:10] for v in views] == ["2025-01-03", "2025-01-02"]
    assert views[0]["output_tail"] == "not base64 at all!"


def test_api_error_is_one_line(capsys):
    err_obj = RuntimeError("Forbidden.RAM: User not authorized to operate on the specified resource.\nmore")
    err_obj.code = "Forbidden.RAM"
    code, _, err, *_ = run_logs(capsys, make_args(instance_id=["i-a"]), StubClient({}, fail=err_obj))
    assert code == logs.EXIT_API == 4
    assert err.count("\n") == 1 and "Forbidden.RAM" in err and "i-a" in err


def test_no_instances_or_region_is_config_error(capsys):
    code, _, err, *_ = run_logs(capsys, make_args(stack="dev"), StubClient({}), {"privateEndpoint": "x"})
    assert code == 2 and "no instance IDs" in err
    code, _, err, calls, _ = run_logs(capsys, make_args(instance_id=["i-a"], region=None), StubClient({}))
    assert code == 2 and "no region" in err


def test_region_from_stack_config(capsys):
    def runner(cmd, **_):
        if cmd[:3] == ["pulumi", "config", "get"]:
            ok = cmd[3] == "llm:region"
            return subprocess.CompletedProcess(cmd, 0 if ok else 1, "cn-beijing\n" if ok else "", "")
        return subprocess.CompletedProcess(cmd, 0, json.dumps({"instanceId": "i-a"}), "")

    seen = {}
    client = StubClient({"i-a": [result("i-a", "2025-01-01T00:00:00Z")]})
    factory = lambda region, cred: seen.setdefault("region", region) and client  # noqa: E731
    code = logs.run(make_args(stack="dev", region=None), client_factory=factory, credential_factory=lambda: "c",
                    runner=runner, environ={})  # fmt: skip
    capsys.readouterr()
    assert code == 0 and seen["region"] == "cn-beijing"


def test_missing_credentials_via_factory(capsys):
    def none():
        raise logs.NoCredentials("unable to load credentials from any of the providers in the chain")

    code = logs.run(make_args(instance_id=["i-a"]), client_factory=lambda *a: pytest.fail("no client"),
                    credential_factory=none, environ={})  # fmt: skip
    err = capsys.readouterr().err
    assert code == logs.EXIT_NO_CREDENTIALS == 3
    assert err.count("\n") == 1 and "no Alibaba Cloud credentials" in err and "ALIBABA_CLOUD_ACCESS_KEY_ID" in err


def test_missing_credentials_real_chain(tmp_path):
    """The real default credential chain with an empty environment: one line, exit 3, no network.

    HOME points at an empty directory (no CLI/profile files) and the ECS metadata provider is
    disabled, so the chain fails on its own without reaching any address.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "ALICLOUD_"))}
    env |= {"HOME": str(tmp_path), "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "stackctl", "logs", "--instance-id", "i-a", "--region", "cn-hangzhou"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("logs: error: no Alibaba Cloud credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID")


def test_default_client_factory_builds_the_sdk_client():
    c = logs.default_client_factory("cn-hangzhou", None)  # no call is made
    assert type(c).__module__ == "alibabacloud_ecs20140526.client"


def test_tail_and_decode_helpers():
    assert logs.tail("a\nb\nc\n", 2) == ("b\nc", 3)
    assert logs.tail("", 3) == ("", 0)
    assert logs.decode_output(b64("héllo")) == "héllo"
    assert logs.decode_output(None) == ""


# --------------------------------------------------------------------------------------------
# One invocation on every instance it ran on (--invoke-id, --phase)


class InvocationStub:
    """Answers describe_invocation_results by invoke ID, in pages of canned rows (NextToken)."""

    def __init__(self, pages: dict[str, list[list[dict]]], fail_on_call: int | None = None, error=None) -> None:
        self.pages = pages
        self.requests: list[models.DescribeInvocationResultsRequest] = []
        self.fail_on_call, self.error = fail_on_call, error

    def describe_invocation_results(self, request):
        self.requests.append(request)
        if self.fail_on_call is not None and len(self.requests) >= self.fail_on_call:
            raise self.error
        assert request.instance_id is None, "no instance filter in --invoke-id mode"
        pages = self.pages.get(request.invoke_id, [[]])
        n = int(request.next_token or 0)
        token = str(n + 1) if n + 1 < len(pages) else ""
        body = {"RequestId": "r", "Invocation": {"InvocationResults": {"InvocationResult": pages[n]},
                                                 "NextToken": token}}  # fmt: skip
        return models.DescribeInvocationResultsResponse().from_map({"statusCode": 200, "headers": {}, "body": body})


def inv_result(instance: str, invoke_id: str = "t-serve1", ok: bool = True, output: str = OUTPUT) -> dict:
    row = result(instance, "2025-01-01T00:00:00Z", output=output, exit_code=0 if ok else 7,
                 status="Success" if ok else "Failed")  # fmt: skip
    row["InvokeId"] = invoke_id
    if not ok:
        row |= {"ErrorCode": "CommandFailed", "ErrorInfo": "the command exited with 7"}
    return row


def test_invoke_id_failed_on_two_of_three_prints_both_outputs(capsys):
    rows = [
        inv_result("i-1"),
        inv_result("i-2", ok=False, output="pulling image\nerror: model marker missing on i-2\n"),
        inv_result("i-3", ok=False, output="health never came on i-3\n"),
    ]
    client = InvocationStub({"t-serve1": [rows]})
    code, out, err, *_ = run_logs(capsys, make_args(invoke_id=["t-serve1"], json=False), client)
    assert code == logs.EXIT_FAILED == 1, err
    assert "invocation t-serve1 (cn-hangzhou): 3 instances, 2 failed" in out
    assert "error: model marker missing on i-2" in out and "health never came on i-3" in out
    assert out.count("exit code 7") == 2 and out.count("CommandFailed") == 2
    assert "i-1: Success, exit code 0" in out and "line 100" not in out  # success: one line, no output
    [req] = client.requests
    assert (req.invoke_id, req.instance_id, req.content_encoding, req.max_results) == (
        "t-serve1", None, "Base64", 50,
    )  # fmt: skip


def test_invoke_id_follows_every_page(capsys):
    pages = [[inv_result(f"i-{p}{n}") for n in range(2)] for p in range(3)]
    client = InvocationStub({"t-serve1": pages})
    code, out, *_ = run_logs(capsys, make_args(invoke_id=["t-serve1"]), client)
    assert code == 0
    assert [r.next_token for r in client.requests] == [None, "1", "2"]
    assert sorted(json.loads(out)["invocations"]["t-serve1"]) == ["i-00", "i-01", "i-10", "i-11", "i-20", "i-21"]


def test_phase_reads_invocation_ids_output_and_expected_instances(capsys):
    client = InvocationStub({"t-sync9": [[inv_result("i-1", "t-sync9")]]})
    outputs = {"invocationIds": {"modelSync": "t-sync9", "serving": "t-serve1"}, "instanceIds": ["i-1", "i-2"],
               "region": "cn-beijing"}  # fmt: skip
    args = make_args(stack="dev", region=None, phase=["modelSync"], instances_output="instanceIds")
    code, out, _, calls, seen = run_logs(capsys, args, client, outputs)
    assert seen["region"] == "cn-beijing" and [r.invoke_id for r in client.requests] == ["t-sync9"]
    doc = json.loads(out)["invocations"]["t-sync9"]
    assert doc["i-2"] is None and doc["i-1"]["status"] == "Success"
    assert code == logs.EXIT_FAILED  # i-2 has no result


def test_phase_errors_are_config_errors(capsys):
    code, _, err, *_ = run_logs(capsys, make_args(phase=["serving"]), InvocationStub({}))
    assert code == 2 and "--phase needs --stack" in err
    out = {"invocationIds": {"serving": "t-1"}}
    code, _, err, *_ = run_logs(capsys, make_args(stack="dev", phase=["ray"]), InvocationStub({}), out)
    assert code == 2 and "no phase 'ray'" in err and "(has serving)" in err
    code, _, err, *_ = run_logs(capsys, make_args(stack="dev", phase=["ray"]), InvocationStub({}), {})
    assert code == 2 and "no invocationIds output" in err


def test_unknown_invoke_id_has_no_results_exit_1(capsys):
    code, out, *_ = run_logs(capsys, make_args(invoke_id=["t-gone"], json=False), InvocationStub({}))
    assert code == 1 and "no results" in out


def test_api_error_mid_way_is_one_line_exit_4(capsys):
    err_obj = RuntimeError("Throttling.User: Request was denied due to user flow control.\nRequestId: r")
    err_obj.code = "Throttling.User"
    pages = [[inv_result("i-1")], [inv_result("i-2")]]
    client = InvocationStub({"t-serve1": pages}, fail_on_call=2, error=err_obj)
    code, out, err, *_ = run_logs(capsys, make_args(invoke_id=["t-serve1"]), client)
    assert code == logs.EXIT_API == 4 and out == ""
    assert err.count("\n") == 1 and "t-serve1" in err and "page 2" in err and "Throttling.User" in err


def test_invoke_id_without_credentials_exit_3_one_line(tmp_path):
    """The real chain, empty environment, metadata disabled (as tests/conftest.py sets)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "ALICLOUD_"))}
    env |= {"HOME": str(tmp_path), "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "stackctl", "logs", "--invoke-id", "t-1", "--region", "cn-hangzhou"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.count("\n") == 1 and "no Alibaba Cloud credentials" in proc.stderr


def test_run_logs_command_lines_parse_as_stackctl_logs():
    """The lines the program prints are ones `stackctl logs` accepts, meaning what they say."""
    import shlex

    from components.common import run_logs
    from stackctl.__main__ import COMMANDS  # noqa: F401 - the command exists

    line = run_logs.logs_command("dev", "instanceIds", "t-abc")
    assert line == "python -m stackctl logs --stack dev --invoke-id t-abc --instances-output instanceIds"
    assert (
        run_logs.phase_command("my stack", None, "serving")
        == "python -m stackctl logs --stack 'my stack' --phase serving"
    )
    parser = argparse.ArgumentParser()
    logs.configure(parser)
    args = parser.parse_args(shlex.split(line)[4:])
    assert (args.stack, args.invoke_id, args.instances_output) == ("dev", ["t-abc"], "instanceIds")
