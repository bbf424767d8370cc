"""A local OpenAI-compatible streaming test server, for tests and sample output.

It speaks the subset of vLLM's OpenAI API that `stackctl smoke` and `stackctl bench` use:

* ``GET /v1/models`` - the served model names;
* ``POST /v1/chat/completions`` - streaming (SSE, chunked) and non-streaming; bearer API-key
  check (401), unknown model (404, OpenAI-style error JSON); a deterministic token sequence,
  optional ``reasoning_content`` deltas before the content (as vLLM sends with a reasoning
  parser on), a final usage chunk when ``stream_options.include_usage`` is set;
* ``GET /health`` - 200 with an empty body, like vLLM;
* ``GET /metrics`` - Prometheus text, without the API key (vLLM 0.8.5 guards only ``/v1``):
  the vLLM 0.8.5 V1 names and histogram buckets (``vllm/v1/metrics/loggers.py``) and
  ``http_requests_total``, moving with the traffic served (see ``_Metrics``).

Every output token is one SSE chunk, so a client that counts content chunks counts exactly
what the server sent, and ``usage.completion_tokens`` is reasoning + content tokens.

Delays (first token, per token) and errors are injectable. Errors are deterministic, not
random: with ``error_rate=r`` request number ``i`` (0-based) fails when
``floor((i+1)*r) > floor(i*r)``, so ``N`` requests see exactly ``floor(N*r)`` failures; the
kind cycles through ``error_kinds``: ``"500"`` (HTTP 500 JSON error), ``"drop"`` (stream
starts, then the connection is closed mid-body), ``"empty"`` (a well-formed stream with no
content at all).

It binds 127.0.0.1 only. Use it as a context manager::

    with TestServer(ServerConfig(api_key="k", tokens=8)) as srv:
        srv.base_url  # "http://127.0.0.1:PORT/v1"

or from a shell: ``python -m stackctl.testserver --port 8000 --api-key K``.
"""

from __future__ import annotations

import argparse
import json
import math
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

HOST = "127.0.0.1"
ERROR_KINDS = ("500", "drop", "empty")

# A fixed vocabulary so the output is deterministic and readable in sample output.
_WORDS = (
    "Dear daughter, greetings from the year 2035. Study science and technology with joy, "
    "be the master of technology, and help it drive the economy forward."
).split()
_REASONING_WORDS = "Let me think about what a third grader would enjoy reading .".split()


def content_token(i: int) -> str:
    """The i-th content token the server emits (each one SSE chunk)."""
    return _WORDS[i % len(_WORDS)] + " "


def reasoning_token(i: int) -> str:
    """The i-th reasoning token the server emits before the content."""
    return _REASONING_WORDS[i % len(_REASONING_WORDS)] + " "


@dataclass
class ServerConfig:
    """What the test server does; tests may change fields while it runs."""

    api_key: str | None = "test-key"  # None: no auth check (vLLM without --api-key)
    models: list[str] = field(default_factory=lambda: ["ds"])
    # Names /v1/models advertises; None means `models`. Lets a test reach the 404 path.
    listed_models: list[str] | None = None
    tokens: int = 16  # content tokens per completion (capped by max_tokens)
    reasoning_tokens: int = 0  # reasoning_content tokens sent before the content
    first_token_delay: float = 0.0  # seconds before the first token
    token_delay: float = 0.0  # seconds between tokens
    error_rate: float = 0.0  # fraction of chat requests that fail, deterministic
    error_kinds: tuple[str, ...] = ("500",)
    send_usage: bool = True  # honour stream_options.include_usage


@dataclass
class ServerStats:
    chat_requests: int = 0
    model_requests: int = 0
    errors_injected: dict[str, int] = field(default_factory=dict)
    tokens_sent: int = 0  # reasoning + content tokens over all completions
    last_request: dict[str, Any] | None = None  # body of the last chat request
    # The last user messages received (bounded, so a long-running server does not grow).
    prompts: deque[str] = field(default_factory=lambda: deque(maxlen=1000))
    # Access log lines as an HTTP server writes them (request line and status, no headers):
    # what tests search for a leaked API key.
    access_log: deque[str] = field(default_factory=lambda: deque(maxlen=1000))


class _Metrics:
    """vLLM 0.8.5's metrics (names, types, buckets, labels of vllm/v1/metrics/loggers.py), fed by
    the requests this server serves: running/waiting gauges, TTFT and TPOT histograms, token and
    success counters; KV-cache usage follows the running requests (10 % each, at most 1)."""

    TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)  # fmt: skip
    TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                    20.0, 40.0, 80.0)  # fmt: skip

    def __init__(self, model: str) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        names, values = ["model_name", "engine"], [model, "0"]

        def labelled(m: Any) -> Any:
            return m.labels(*values)

        r = self.registry
        self.running = labelled(
            Gauge("vllm:num_requests_running", "Number of requests in model execution batches.", names, registry=r)
        )
        self.waiting = labelled(
            Gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", names, registry=r)
        )
        self.kv = labelled(
            Gauge("vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage.", names, registry=r)
        )
        self.prompt = labelled(
            Counter("vllm:prompt_tokens_total", "Number of prefill tokens processed.", names, registry=r)
        )
        self.generation = labelled(
            Counter("vllm:generation_tokens_total", "Number of generation tokens processed.", names, registry=r)
        )
        self.success = Counter(
            "vllm:request_success_total",
            "Count of successfully processed requests.",
            [*names, "finished_reason"],
            registry=r,
        )
        self.ttft = labelled(
            Histogram(
                "vllm:time_to_first_token_seconds",
                "Histogram of time to first token in seconds.",
                names,
                buckets=self.TTFT_BUCKETS,
                registry=r,
            )
        )
        self.tpot = labelled(
            Histogram(
                "vllm:time_per_output_token_seconds",
                "Histogram of time per output token in seconds.",
                names,
                buckets=self.TPOT_BUCKETS,
                registry=r,
            )
        )
        self.e2e = labelled(
            Histogram(
                "vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", names, registry=r
            )
        )
        self.http = Counter("http_requests_total", "Total number of requests by method, status and handler.",
                            ["method", "status", "handler"], registry=r)  # fmt: skip
        self._values = values
        self._running = 0

    def started(self, prompt_tokens: int) -> None:
        self._running += 1
        self.running.set(self._running)
        self.kv.set(min(1.0, 0.1 * self._running))
        self.prompt.inc(prompt_tokens)

    def finished(self, reason: str | None) -> None:
        self._running = max(0, self._running - 1)
        self.running.set(self._running)
        self.kv.set(min(1.0, 0.1 * self._running))
        if reason:
            self.success.labels(*self._values, reason).inc()

    def text(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], cfg: ServerConfig) -> None:
        super().__init__(addr, _Handler)
        self.cfg = cfg
        self.stats = ServerStats()
        self.lock = threading.Lock()
        self.metrics = _Metrics(cfg.models[0] if cfg.models else "")

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that hung up (its timeout, a dropped stream): not news
        super().handle_error(request, client_address)


def _error_body(message: str, typ: str, code: str | int | None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": typ, "param": param, "code": code}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Small SSE writes must leave at once (Nagle + delayed ACK would add ~40 ms to TTFT).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet (tests and sample output show no access logs), but kept for the secrets test.
        self.server.stats.access_log.append(f"{self.address_string()} {format % args}")

    def send_response(self, code: int, message: str | None = None) -> None:
        handler = self.path.split("?", 1)[0].rstrip("/") or "/"
        if handler not in ("/metrics", "/health"):  # vLLM's Instrumentator excludes these
            self.server.metrics.http.labels(self.command, f"{code // 100}xx", handler).inc()
        super().send_response(code, message)

    # -- helpers ---------------------------------------------------------------------------
    def _send_json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, payload: dict | str) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        data = f"data: {text}\n\n".encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _authorized(self) -> bool:
        key = self.server.cfg.api_key
        if key is None:
            return True
        if self.headers.get("Authorization", "") == f"Bearer {key}":
            return True
        self._send_json(
            401,
            _error_body("Unauthorized: invalid API key", "invalid_request_error", 401),
        )
        return False

    # -- routes ----------------------------------------------------------------------------
    def do_GET(self) -> None:
        if self.path.split("?", 1)[0].rstrip("/") == "/metrics":
            with self.server.lock:
                body = self.server.metrics.text()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path == "/health":
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.rstrip("/") == "/v1/models":
            if not self._authorized():
                return
            with self.server.lock:
                self.server.stats.model_requests += 1
            cfg = self.server.cfg
            names = cfg.models if cfg.listed_models is None else cfg.listed_models
            data = [
                {
                    "id": n,
                    "object": "model",
                    "created": 0,
                    "owned_by": "vllm",
                    "root": n,
                    "max_model_len": 4096,
                }
                for n in names
            ]
            self._send_json(200, {"object": "list", "data": data})
            return
        self._send_json(404, _error_body(f"Not Found: {self.path}", "NotFoundError", 404))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_json(404, _error_body(f"Not Found: {self.path}", "NotFoundError", 404))
            return
        if not self._authorized():
            return
        try:
            req = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._send_json(400, _error_body("invalid JSON body", "BadRequestError", 400))
            return
        cfg = self.server.cfg
        model = req.get("model")
        if model not in cfg.models:
            msg = f"The model `{model}` does not exist."
            self._send_json(404, _error_body(msg, "NotFoundError", 404, "model"))
            return
        with self.server.lock:
            index = self.server.stats.chat_requests
            self.server.stats.chat_requests += 1
            self.server.stats.last_request = req
            msgs = req.get("messages") or [{}]
            self.server.stats.prompts.append(str(msgs[-1].get("content", "")))
            kind = _injected_error(cfg, index)
            if kind:
                self.server.stats.errors_injected[kind] = self.server.stats.errors_injected.get(kind, 0) + 1
        if kind == "500":
            self._send_json(500, _error_body("injected server error", "InternalServerError", 500))
            return
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in req.get("messages", []))
        m = self.server.metrics
        with self.server.lock:
            m.started(prompt_tokens)
        start = time.monotonic()
        self._first_token_at: float | None = None
        self._tokens_out = 0
        reason: str | None = None
        try:
            reason = self._complete(req, kind)
        finally:
            end = time.monotonic()
            with self.server.lock:
                m.finished(reason)
                m.e2e.observe(end - start)
                m.generation.inc(self._tokens_out)
                if self._first_token_at is not None:
                    m.ttft.observe(self._first_token_at - start)
                    if self._tokens_out > 1:
                        m.tpot.observe((end - self._first_token_at) / (self._tokens_out - 1))

    def _complete(self, req: dict, kind: str | None) -> str | None:
        """Serves one completion; returns vLLM's finished_reason, None when it did not finish."""
        cfg = self.server.cfg
        max_tokens = req.get("max_tokens") or req.get("max_completion_tokens") or 1 << 30
        n_reason = min(cfg.reasoning_tokens, max_tokens)
        n_content = min(cfg.tokens, max_tokens - n_reason)
        if kind == "empty":
            n_reason, n_content = 0, 0
        finish = "length" if cfg.reasoning_tokens + cfg.tokens > max_tokens else "stop"
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in req.get("messages", []))
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": n_reason + n_content,
            "total_tokens": prompt_tokens + n_reason + n_content,
        }
        rid = f"chatcmpl-test-{threading.get_ident():x}-{time.monotonic_ns():x}"
        created = int(time.time())
        model = req["model"]
        tokens = [("reasoning_content", reasoning_token(i)) for i in range(n_reason)]
        tokens += [("content", content_token(i)) for i in range(n_content)]

        if not req.get("stream"):
            time.sleep(cfg.first_token_delay + cfg.token_delay * max(len(tokens) - 1, 0))
            message: dict[str, Any] = {
                "role": "assistant",
                "content": "".join(t for f, t in tokens if f == "content"),
            }
            if n_reason:
                message["reasoning_content"] = "".join(t for f, t in tokens if f == "reasoning_content")
            with self.server.lock:
                self.server.stats.tokens_sent += len(tokens)
            self._first_token_at = time.monotonic() if tokens else None
            self._tokens_out = len(tokens)
            body = {
                "id": rid,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": usage,
            }
            self._send_json(200, body)
            return finish

        include_usage = bool((req.get("stream_options") or {}).get("include_usage")) and cfg.send_usage
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(delta: dict, finish_reason: str | None = None) -> dict:
            return {
                "id": rid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "delta": delta,
                        "logprobs": None,
                        "finish_reason": finish_reason,
                    }
                ],
            }

        try:
            self._chunk(chunk({"role": "assistant", "content": ""}))
            time.sleep(cfg.first_token_delay)
            for i, (fld, text) in enumerate(tokens):
                if i:
                    time.sleep(cfg.token_delay)
                if kind == "drop" and i >= max(len(tokens) // 2, 1):
                    self.close_connection = True
                    # Half a chunk, then close: the client sees an incomplete chunked body.
                    self.wfile.write(b"ff\r\ndata: {")
                    self.wfile.flush()
                    return "abort"
                self._chunk(chunk({fld: text}))
                if not i:
                    self._first_token_at = time.monotonic()
                self._tokens_out += 1
                with self.server.lock:
                    self.server.stats.tokens_sent += 1
            if kind == "drop":  # too short to drop halfway: drop right here
                self.close_connection = True
                self.wfile.write(b"ff\r\ndata: {")
                return "abort"
            self._chunk(chunk({}, finish))
            if include_usage:
                self._chunk(
                    {
                        "id": rid,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "choices": [],
                        "usage": usage,
                    }
                )
            self._chunk("[DONE]")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return finish
        except (
            BrokenPipeError,
            ConnectionResetError,
        ):  # the client went away (its timeout)
            self.close_connection = True
            return "abort"


def _injected_error(cfg: ServerConfig, index: int) -> str | None:
    """Deterministic error schedule: floor(N*rate) failures in the first N requests."""
    rate = cfg.error_rate
    if rate <= 0 or not cfg.error_kinds:
        return None
    before = math.floor(index * rate + 1e-9)
    if math.floor((index + 1) * rate + 1e-9) > before:
        return cfg.error_kinds[before % len(cfg.error_kinds)]
    return None


class TestServer:
    """The server in a background thread on 127.0.0.1 (port 0: an ephemeral port)."""

    __test__ = False  # not a pytest test class

    def __init__(self, config: ServerConfig | None = None, port: int = 0) -> None:
        self.config = config or ServerConfig()
        self._httpd = _Server((HOST, port), self.config)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    @property
    def stats(self) -> ServerStats:
        return self._httpd.stats

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.fakes.testserver", description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (0: ephemeral)")
    p.add_argument("--api-key", default="test-key", help="bearer key to require ('' for none)")
    p.add_argument("--model", action="append", help="served model name (repeatable; default: ds)")
    p.add_argument("--tokens", type=int, default=64, help="content tokens per completion")
    p.add_argument("--reasoning-tokens", type=int, default=0, help="reasoning_content tokens first")
    p.add_argument("--first-token-delay", type=float, default=0.05, help="seconds")
    p.add_argument("--token-delay", type=float, default=0.01, help="seconds between tokens")
    p.add_argument("--error-rate", type=float, default=0.0, help="fraction of requests that fail")
    p.add_argument("--error-kinds", default="500", help=f"comma list of {','.join(ERROR_KINDS)}")
    a = p.parse_args(argv)
    kinds = tuple(k for k in a.error_kinds.split(",") if k)
    bad = [k for k in kinds if k not in ERROR_KINDS]
    if bad:
        p.error(f"unknown error kinds {bad}; choose from {list(ERROR_KINDS)}")
    cfg = ServerConfig(
        api_key=a.api_key or None,
        models=a.model or ["ds"],
        tokens=a.tokens,
        reasoning_tokens=a.reasoning_tokens,
        first_token_delay=a.first_token_delay,
        token_delay=a.token_delay,
        error_rate=a.error_rate,
        error_kinds=kinds,
    )
    srv = TestServer(cfg, port=a.port)
    print(
        f"test server on {srv.base_url} (models {cfg.models}); Ctrl-C stops it",
        flush=True,
    )
    try:
        srv._httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv._httpd.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
