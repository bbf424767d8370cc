"""`stackctl bench` against the local test server (127.0.0.1 only): bounds, figures, errors."""

from __future__ import annotations

import json
import math
import socket

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackctl import loadtest
from stackctl.__main__ import main
from stackctl.loadtest import JSON_SCHEMA, percentile, summarize
from tests.fakes.testserver import ServerConfig, TestServer

KEY = "sk-bench-test"


@pytest.fixture
def server():
    with TestServer(ServerConfig(api_key=KEY, tokens=5)) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _key_env(monkeypatch):
    monkeypatch.setenv("BENCH_KEY", KEY)


def bench(capsys, srv: TestServer, *argv: str) -> tuple[int, dict]:
    code = main(
        [
            "bench",
            "--url",
            srv.base_url,
            "--api-key-env",
            "BENCH_KEY",
            "--model",
            "ds",
            "--json",
            *argv,
        ]
    )
    out = capsys.readouterr().out
    report = json.loads(out)
    jsonschema.validate(report, JSON_SCHEMA)  # every report in these tests matches the documented schema
    return code, report


# -- percentiles (nearest rank) ---------------------------------------------------------------


def test_percentile_nearest_rank_known_values():
    data = [15, 20, 35, 40, 50]  # the textbook nearest-rank example
    assert [percentile(data, p) for p in (5, 30, 40, 50, 100)] == [15, 20, 20, 35, 50]
    assert percentile(data, 0) == 15
    assert percentile(list(range(1, 101)), 90) == 90
    assert percentile(list(range(1, 101)), 99) == 99
    assert percentile(list(range(1, 11)), 99) == 10
    assert percentile([3.5], 50) == 3.5
    assert percentile([5, 1, 4, 2, 3], 50) == 3  # input order does not matter


def test_percentile_rejects_bad_input():
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


@given(
    st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=50),
    st.floats(0, 100),
)
def test_percentile_properties(values, p):
    v = percentile(values, p)
    assert v in values
    assert sum(x <= v for x in values) >= math.ceil(p / 100 * len(values) - 1e-9)
    assert percentile(values, p) <= percentile(values, min(100.0, p + 10))


def test_summarize():
    s = summarize([0.1, 0.2, 0.3, 0.4])
    assert s == pytest.approx(
        {
            "mean": 0.25,
            "p50": 0.2,
            "p90": 0.4,
            "p99": 0.4,
            "min": 0.1,
            "max": 0.4,
            "count": 4,
        }
    )
    assert summarize([]) is None


# -- bounds ----------------------------------------------------------------------------------


def test_stops_at_request_bound_with_consistent_figures(server, capsys):
    code, rep = bench(capsys, server, "--requests", "7", "--concurrency", "3", "--prompt-tokens", "16")
    assert code == 0
    assert rep["stopped_by"] == "requests"
    assert rep["requests"] == {"sent": 7, "completed": 7, "failed": 0}
    assert server.stats.chat_requests == 7
    assert rep["total_output_tokens"] == 35 == server.stats.tokens_sent
    assert rep["token_source"] == "usage"
    assert rep["total_prompt_tokens"] == 7 * 16  # the synthetic prompt is 16 words
    assert rep["errors"] == {}
    for key in ("ttft_s", "tpot_s", "e2e_latency_s"):
        assert rep[key]["count"] == 7
        assert rep[key]["min"] <= rep[key]["p50"] <= rep[key]["p90"] <= rep[key]["p99"] <= rep[key]["max"]
    assert rep["ttft_s"]["max"] <= rep["e2e_latency_s"]["max"]
    assert rep["request_throughput_rps"] == pytest.approx(7 / rep["wall_time_s"])
    assert rep["output_token_throughput_tps"] == pytest.approx(35 / rep["wall_time_s"])


def test_default_request_bound_is_50(server, capsys):
    code, rep = bench(capsys, server, "--concurrency", "8")
    assert code == 0
    assert rep["config"]["requests"] == 50 and rep["requests"]["sent"] == 50 == server.stats.chat_requests


def test_stops_at_duration_bound(server, capsys):
    server.config.token_delay = 0.01
    code, rep = bench(capsys, server, "--duration", "0.3", "--concurrency", "2")
    assert code == 0
    assert rep["stopped_by"] == "duration"
    assert rep["config"]["requests"] is None and rep["config"]["duration_s"] == 0.3
    assert rep["requests"]["sent"] >= 1
    assert rep["requests"]["sent"] == rep["requests"]["completed"] == server.stats.chat_requests
    assert rep["total_output_tokens"] == server.stats.tokens_sent


def test_both_bounds_the_request_bound_wins_when_reached_first(server, capsys):
    code, rep = bench(capsys, server, "--duration", "60", "--requests", "3")
    assert code == 0 and rep["stopped_by"] == "requests" and server.stats.chat_requests == 3


def test_hard_deadline_cancels_what_is_in_flight(server, capsys):
    server.config.first_token_delay = 3.0
    code, rep = bench(capsys, server, "--requests", "4", "--concurrency", "2", "--deadline", "0.3")
    assert code == 1
    assert rep["stopped_by"] == "deadline"
    assert rep["requests"] == {"sent": 2, "completed": 0, "failed": 2}
    assert rep["errors"] == {"cancelled": 2}
    assert rep["ttft_s"] is None and rep["e2e_latency_s"] is None


# -- errors by kind --------------------------------------------------------------------------


def test_errors_counted_by_kind(server, capsys):
    server.config.error_rate, server.config.error_kinds = 0.5, ("500", "drop", "empty")
    code, rep = bench(capsys, server, "--requests", "12", "--concurrency", "4")
    assert code == 1
    assert rep["requests"] == {"sent": 12, "completed": 6, "failed": 6}
    assert rep["errors"] == {"http_500": 2, "no_content": 2, "stream_dropped": 2}
    assert server.stats.errors_injected == {"500": 2, "drop": 2, "empty": 2}
    assert rep["total_output_tokens"] == 6 * 5
    assert "incomplete chunked read" in rep["error_examples"]["stream_dropped"]


def test_wrong_key_and_timeout_and_refused(server, capsys, monkeypatch):
    monkeypatch.setenv("BENCH_KEY", "wrong")
    code, rep = bench(capsys, server, "--requests", "3")
    assert code == 1 and rep["errors"] == {"http_401": 3}

    monkeypatch.setenv("BENCH_KEY", KEY)
    server.config.first_token_delay = 2.0
    code, rep = bench(capsys, server, "--requests", "2", "--timeout", "0.2")
    assert code == 1 and rep["errors"] == {"timeout": 2}

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    code = main(["bench", "--url", f"http://127.0.0.1:{port}/v1", "--api-key-env", "BENCH_KEY", "--model", "ds"]
                + ["--json", "--requests", "2"])  # fmt: skip
    rep = json.loads(capsys.readouterr().out)
    assert code == 1 and rep["errors"] == {"connection": 2}


def test_chunk_counting_without_usage(server, capsys):
    server.config.send_usage = False
    server.config.reasoning_tokens = 2
    code, rep = bench(capsys, server, "--requests", "4")
    assert code == 0
    assert rep["token_source"] == "chunks"
    assert rep["total_output_tokens"] == 4 * 7 == server.stats.tokens_sent
    assert rep["total_prompt_tokens"] is None


# -- prompts ---------------------------------------------------------------------------------


def test_dataset_jsonl_and_text(server, capsys, tmp_path):
    jl = tmp_path / "p.jsonl"
    jl.write_text('{"prompt": "first"}\n\n{"prompt": "second", "id": 2}\n', encoding="utf-8")
    code, rep = bench(capsys, server, "--dataset", str(jl), "--requests", "3", "--concurrency", "1")
    assert code == 0 and list(server.stats.prompts) == ["first", "second", "first"]
    assert rep["config"]["dataset"] == str(jl) and rep["config"]["prompt_tokens"] is None

    server.stats.prompts.clear()
    txt = tmp_path / "p.txt"
    txt.write_text("写一首诗\nsay hi\n", encoding="utf-8")
    code, rep = bench(capsys, server, "--dataset", str(txt), "--requests", "2", "--concurrency", "1")
    assert code == 0 and list(server.stats.prompts) == ["写一首诗", "say hi"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "has no prompts"),
        ("not json\n", "p.jsonl:1: not JSON"),
        ('{"text": "x"}\n', 'no string "prompt"'),
    ],
)
def test_bad_dataset_is_a_config_error(server, capsys, tmp_path, content, message):
    f = tmp_path / "p.jsonl"
    f.write_text(content)
    code = main(
        [
            "bench",
            "--url",
            server.base_url,
            "--api-key-env",
            "BENCH_KEY",
            "--dataset",
            str(f),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert server.stats.chat_requests == 0


def test_bad_bounds_are_config_errors(server, capsys):
    for flags in (["--requests", "0"], ["--duration", "-1"], ["--concurrency", "0"]):
        assert (
            main(
                [
                    "bench",
                    "--url",
                    server.base_url,
                    "--api-key-env",
                    "BENCH_KEY",
                    *flags,
                ]
            )
            == 2
        )
    assert "must be" in capsys.readouterr().err


# -- output ----------------------------------------------------------------------------------


def test_schema_is_valid_and_rejects_wrong_reports(server, capsys):
    jsonschema.Draft202012Validator.check_schema(JSON_SCHEMA)
    _, rep = bench(capsys, server, "--requests", "2")
    for broken in (
        {**rep, "stopped_by": "boredom"},
        {**rep, "errors": {"weird kind": 1}},
        {k: v for k, v in rep.items() if k != "ttft_s"},
        {**rep, "ttft_s": {"mean": 1}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, JSON_SCHEMA)


def test_human_report(server, capsys):
    server.config.error_rate, server.config.error_kinds = 0.5, ("500",)
    code = main(
        [
            "bench",
            "--url",
            server.base_url,
            "--api-key-env",
            "BENCH_KEY",
            "--requests",
            "4",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    for text in (
        "request throughput",
        "output token throughput",
        "TTFT",
        "TPOT",
        "end-to-end",
        "http_500: 2",
    ):
        assert text in out
    assert "nearest rank" in out


def test_error_kinds_documented():
    assert set(loadtest.ERROR_KINDS) >= {
        "connection",
        "timeout",
        "stream_dropped",
        "no_content",
        "cancelled",
    }
