"""`stackctl top` against the test server: bounded runs, --once --json, unreachable endpoints."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import pytest
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families

from stackctl import top
from tests.fakes.testserver import ServerConfig, TestServer
from tests.program.test_secrets import CANARY


def _traffic(srv: TestServer, n: int) -> threading.Thread:
    client = OpenAI(base_url=srv.base_url, api_key=CANARY, max_retries=0)

    def go() -> None:
        for _ in range(n):
            list(
                client.chat.completions.create(model="ds", messages=[{"role": "user", "content": "a b c"}], stream=True)
            )

    th = threading.Thread(target=go)
    th.start()
    return th


def _server() -> TestServer:
    return TestServer(ServerConfig(api_key=CANARY, tokens=6, first_token_delay=0.03, token_delay=0.005))


def test_quantile_matches_prometheus_interpolation():
    b = {0.1: 50.0, 0.5: 90.0, 1.0: 100.0, float("inf"): 100.0}
    assert top.quantile(0.5, b) == pytest.approx(0.1)
    assert top.quantile(0.7, b) == pytest.approx(0.3)
    assert top.quantile(0.99, b) == pytest.approx(0.95)
    assert top.quantile(0.5, {float("inf"): 0.0}) is None


def test_metrics_move_with_traffic_and_need_no_key():
    with _server() as srv:
        url = f"http://127.0.0.1:{srv.port}/metrics"
        before = top.scrape(url, 5)
        _traffic(srv, 5).join()
        # The server records a request's metrics just after its last byte (as vLLM does after
        # the response): wait, bounded, for the fifth.
        deadline = time.monotonic() + 5
        while True:
            after = top.scrape(url, 5)
            if after.buckets[top.TTFT][float("inf")] == 5 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        generated = after.counters["vllm:generation_tokens_total"] - before.counters.get(
            "vllm:generation_tokens_total", 0
        )
        assert generated == 30
        assert after.buckets[top.TTFT][float("inf")] == 5
        fams = {f.name for f in text_string_to_metric_families(top.fetch(url, 5))}
        assert {"vllm:num_requests_running", "vllm:time_per_output_token_seconds", "http_requests"} <= fams
        # Positive control, then the check: the key reached the server, never its log.
        assert srv.stats.chat_requests == 5
        assert srv.stats.access_log and not any(CANARY in line for line in srv.stats.access_log)


def test_once_json_against_the_test_server():
    with _server() as srv:
        th = _traffic(srv, 40)
        proc = subprocess.run(
            [sys.executable, "-m", "stackctl", "top", "--url", f"http://127.0.0.1:{srv.port}", "--once", "--json",
             "--interval", "0.5"], capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        th.join()
    assert proc.returncode == 0, proc.stderr
    v = json.loads(proc.stdout)
    assert v["generation_tokens_per_s"] > 0 and v["requests_per_s"] > 0
    assert 0.02 < v["ttft_p50_s"] < 0.25 and v["tpot_p99_s"] < 0.1
    assert v["errors_per_s"] == 0 and 0 <= v["kv_cache_usage"] <= 1
    assert CANARY not in proc.stdout + proc.stderr


def test_live_run_is_bounded(capsys):
    with _server() as srv:
        th = _traffic(srv, 10)
        args = top_args(f"http://127.0.0.1:{srv.port}", "--duration", "1.2", "--interval", "0.3")
        import io

        out = io.StringIO()
        assert top.run(args, out=out) == 0
        th.join()
    assert "TTFT p50 / p99" in out.getvalue()


def top_args(url: str, *extra: str):
    import argparse

    p = argparse.ArgumentParser()
    top.configure(p)
    return p.parse_args(["--url", url, *extra])


def test_unreachable_endpoint_is_a_clear_error(capsys):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    assert top.run(top_args(f"http://127.0.0.1:{port}", "--once", "--timeout", "1")) == top.EXIT_UNREACHABLE
    err = capsys.readouterr().err
    assert f"cannot reach http://127.0.0.1:{port}/metrics" in err


def test_not_a_vllm_server(capsys):
    assert top.run(top_args("http://x:1", "--once"), get=lambda u, t: "# HELP a b\n# TYPE a gauge\na 1\n") == 1
    assert "no vllm:* metrics" in capsys.readouterr().err
    assert top.run(top_args("not-a-url", "--once")) == top.EXIT_CONFIG
