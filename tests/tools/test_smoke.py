"""`stackctl smoke` against the local test server (127.0.0.1 only): figures and exit codes."""

from __future__ import annotations

import argparse
import json
import os
import socket
import stat
import sys
from pathlib import Path

import pytest

from stackctl import endpoint, smoke
from stackctl.__main__ import main
from tests.fakes.testserver import ServerConfig, TestServer, content_token, reasoning_token

KEY = "sk-smoke-test"


@pytest.fixture
def server():
    with TestServer(ServerConfig(api_key=KEY, tokens=12, reasoning_tokens=3)) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _key_env(monkeypatch):
    monkeypatch.setenv("SMOKE_KEY", KEY)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def run_smoke(capsys, *argv: str) -> tuple[int, dict | None, str, str]:
    code = main(["smoke", *argv])
    out, err = capsys.readouterr()
    data = json.loads(out) if "--json" in argv and out.strip() else None
    return code, data, out, err


def url_args(srv: TestServer, model: str = "ds") -> list[str]:
    return ["--url", srv.base_url, "--api-key-env", "SMOKE_KEY", "--model", model]


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fake_pulumi(tmp_path: Path, monkeypatch, outputs: dict | None, fail: str | None = None) -> Path:
    """Put a `pulumi` on PATH that answers `stack output --json --show-secrets` from a file."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    log = tmp_path / "argv.log"
    script = bindir / "pulumi"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"open({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        + (f"sys.stderr.write({fail!r} + '\\n'); sys.exit(255)\n" if fail else "")
        + f"sys.stdout.write(open({str(tmp_path / 'outputs.json')!r}).read())\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return log


# -- success ---------------------------------------------------------------------------------


def test_success_figures_match_what_the_server_sent(server, capsys):
    code, data, _, err = run_smoke(capsys, *url_args(server), "--json")
    assert code == 0, err
    assert data["ok"] is True and data["exit_code"] == 0
    # Every token the server sent is accounted for, reasoning apart from the answer.
    assert data["content_chunks"] == 12
    assert data["reasoning_chunks"] == 3
    assert data["output_tokens"] == 15 == server.stats.tokens_sent
    assert data["token_source"] == "usage"
    assert data["usage"]["completion_tokens"] == 15
    assert data["answer"] == "".join(content_token(i) for i in range(12))
    assert data["reasoning"] == "".join(reasoning_token(i) for i in range(3))
    assert "2035" in data["answer"] and "think" not in data["answer"]
    assert "think" in data["reasoning"]
    assert data["finish_reason"] == "stop"
    assert data["served_models"] == ["ds"]
    # Timing figures are consistent with each other (no wall-clock thresholds).
    assert 0 < data["ttft_s"] <= data["ttft_content_s"] <= data["total_s"]
    assert data["output_tokens_per_s"] == pytest.approx(15 / data["total_s"])


def test_sends_the_seed_request(server, capsys):
    code, *_ = run_smoke(capsys, *url_args(server), "--json")
    assert code == 0
    req = server.stats.last_request
    assert req["messages"] == [{"role": "user", "content": smoke.PROMPT}]
    assert smoke.PROMPT.startswith("给闺女写一份来自未来2035的信") and smoke.PROMPT.endswith("她现在是3年级")
    assert (req["max_tokens"], req["temperature"], req["top_p"], req["seed"]) == (
        1024,
        0,
        0.9,
        10,
    )
    assert req["stream"] is True and req["stream_options"] == {"include_usage": True}
    assert req["model"] == "ds"
    assert server.stats.model_requests == 1  # models are listed first


def test_counts_chunks_when_the_server_sends_no_usage(server, capsys):
    server.config.send_usage = False
    code, data, *_ = run_smoke(capsys, *url_args(server), "--json")
    assert code == 0
    assert data["token_source"] == "chunks"
    assert data["output_tokens"] == 15 == server.stats.tokens_sent
    assert data["usage"] is None


def test_rich_output_names_the_figures_and_separates_reasoning(server, capsys):
    code, _, out, _ = run_smoke(capsys, *url_args(server))
    assert code == 0
    for label in (
        "time to first token",
        "output tokens/s",
        "from server usage",
        "reasoning (reasoning_content)",
    ):
        assert label in out
    assert "answer (content)" in out and "Dear daughter" in out


def test_model_defaults_to_the_only_served_one(server, capsys):
    code, data, *_ = run_smoke(capsys, "--url", server.base_url, "--api-key-env", "SMOKE_KEY", "--json")
    assert code == 0 and data["model"] == "ds"


def test_stack_outputs_private_endpoint_when_no_public(server, capsys, tmp_path, monkeypatch):
    outputs = {
        "privateEndpoint": server.base_url,
        "publicEndpoint": None,
        "servedModelName": "ds",
        "apiKey": KEY,
    }
    log = fake_pulumi(tmp_path, monkeypatch, outputs)
    code, data, _, err = run_smoke(capsys, "--stack", "dev", "--json")
    assert code == 0, err
    assert data["source"] == "stack dev (privateEndpoint)"
    assert log.read_text().split() == [
        "stack",
        "output",
        "--json",
        "--show-secrets",
        "--stack",
        "dev",
    ]


def test_public_endpoint_preferred_unless_private():
    outputs = {
        "privateEndpoint": "http://10.0.0.1:8000/v1",
        "publicEndpoint": "http://203.0.113.9:8000/v1",
    }
    outputs |= {"servedModelName": "ds", "apiKey": "k"}

    def runner(cmd, **kw):
        import subprocess

        return subprocess.CompletedProcess(cmd, 0, json.dumps(outputs), "")

    ns = argparse.Namespace(stack="prod", url=None, model=None, api_key_env=None, private=False, cwd=None)
    ep = endpoint.resolve(ns, runner=runner)
    assert (ep.base_url, ep.model, ep.api_key) == (
        "http://203.0.113.9:8000/v1",
        "ds",
        "k",
    )
    ns.private = True
    assert endpoint.resolve(ns, runner=runner).base_url == "http://10.0.0.1:8000/v1"
    ns.model = "other"
    assert endpoint.resolve(ns, runner=runner).model == "other"


def test_url_without_path_gets_v1():
    assert endpoint.normalize_url("http://127.0.0.1:8000/") == "http://127.0.0.1:8000/v1"
    assert endpoint.normalize_url("https://h/proxy/v1/") == "https://h/proxy/v1"
    with pytest.raises(endpoint.EndpointError):
        endpoint.normalize_url("127.0.0.1:8000")


# -- failures: one exit code and one clear line each ------------------------------------------


def test_connection_refused(capsys):
    url = f"http://127.0.0.1:{free_port()}/v1"
    code, _, _, err = run_smoke(capsys, "--url", url, "--api-key-env", "SMOKE_KEY", "--model", "ds")
    assert code == smoke.EXIT_CONNECTION == 3
    assert err.strip() == f"smoke: error: connection refused by {url}"


def test_timeout(server, capsys):
    server.config.first_token_delay = 2.0
    code, _, _, err = run_smoke(capsys, *url_args(server), "--timeout", "0.3")
    assert code == smoke.EXIT_TIMEOUT == 4
    assert err.count("\n") == 1 and "timeout" in err and "0.3 s" in err


def test_wrong_key(server, capsys, monkeypatch):
    monkeypatch.setenv("SMOKE_KEY", "wrong")
    code, _, _, err = run_smoke(capsys, *url_args(server))
    assert code == smoke.EXIT_AUTH == 5
    assert err.count("\n") == 1 and "401" in err and "wrong API key" in err


def test_wrong_model_lists_served_models(server, capsys):
    server.config.models = ["ds", "qwen"]
    code, data, _, err = run_smoke(capsys, *url_args(server, model="nope"), "--json")
    assert code == smoke.EXIT_NOT_FOUND == 6
    assert "'nope' is not served" in err and "served models: ds, qwen" in err
    assert data == {"ok": False, "exit_code": 6, "error": err.strip().removeprefix("smoke: error: "),
                    "served_models": ["ds", "qwen"]}  # fmt: skip
    assert server.stats.chat_requests == 0  # nothing sent to a model that is not there


def test_404_from_chat_completions_lists_served_models(server, capsys):
    server.config.listed_models = ["ds", "ghost"]  # advertised but not served
    code, _, _, err = run_smoke(capsys, *url_args(server, model="ghost"))
    assert code == smoke.EXIT_NOT_FOUND
    assert "404 from POST /chat/completions" in err and "served models: ds, ghost" in err


def test_404_from_models_means_wrong_path(server, capsys):
    url = server.base_url.removesuffix("/v1") + "/api"
    code, _, _, err = run_smoke(capsys, "--url", url, "--api-key-env", "SMOKE_KEY")
    assert code == smoke.EXIT_NOT_FOUND
    assert "404 from GET /models" in err and "right base URL" in err


def test_stream_without_content(server, capsys):
    server.config.error_rate, server.config.error_kinds = 1.0, ("empty",)
    code, _, _, err = run_smoke(capsys, *url_args(server))
    assert code == smoke.EXIT_NO_CONTENT == 7
    assert "stream ended without content" in err


def test_stream_with_reasoning_only_is_no_content(server, capsys):
    code, _, _, err = run_smoke(capsys, *url_args(server), "--max-tokens", "3")  # all 3 go to reasoning
    assert code == smoke.EXIT_NO_CONTENT
    assert "3 reasoning chunks only" in err and "finish_reason=length" in err


def test_server_error_and_dropped_stream(server, capsys):
    server.config.error_rate, server.config.error_kinds = 1.0, ("500", "drop")
    code, _, _, err = run_smoke(capsys, *url_args(server))
    assert code == smoke.EXIT_API == 8 and "HTTP 500" in err
    code, _, _, err = run_smoke(capsys, *url_args(server))
    assert code == smoke.EXIT_API and "stream cut off" in err


def test_missing_key_variable(server, capsys, monkeypatch):
    monkeypatch.delenv("SMOKE_KEY")
    code, _, _, err = run_smoke(capsys, *url_args(server))
    assert code == smoke.EXIT_CONFIG == 2
    assert (
        err.strip()
        == "smoke: error: environment variable SMOKE_KEY is not set (it holds the API key; see --api-key-env)"
    )
    assert server.stats.model_requests == 0


def test_pulumi_failure_is_a_config_error(capsys, tmp_path, monkeypatch):
    fake_pulumi(tmp_path, monkeypatch, None, fail="error: no stack named 'nope' found")
    code, _, _, err = run_smoke(capsys, "--stack", "nope")
    assert code == smoke.EXIT_CONFIG
    assert err.strip() == "smoke: error: pulumi stack output --stack nope failed: error: no stack named 'nope' found"


def test_pulumi_missing_is_a_config_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, _, err = run_smoke(capsys, "--stack", "dev")
    assert code == smoke.EXIT_CONFIG and "pulumi CLI not found" in err


def test_exit_codes_are_distinct():
    codes = [
        smoke.EXIT_OK,
        smoke.EXIT_CONFIG,
        smoke.EXIT_CONNECTION,
        smoke.EXIT_TIMEOUT,
        smoke.EXIT_AUTH,
    ]
    codes += [smoke.EXIT_NOT_FOUND, smoke.EXIT_NO_CONTENT, smoke.EXIT_API]
    assert len(set(codes)) == len(codes) == len(smoke.EXIT_CODES)


def test_stalled_stream_is_a_timeout(server, capsys):
    server.config.token_delay = 3.0  # the stream starts, then trickles: per-read timeouts alone would wait
    code, _, _, err = run_smoke(capsys, *url_args(server), "--timeout", "0.3", "--no-text")
    assert code == smoke.EXIT_TIMEOUT
    assert err.count("\n") == 1 and "timeout" in err and "0.3 s" in err
