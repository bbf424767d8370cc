"""`python -m stackctl smoke`: one real streamed chat completion against the endpoint, timed.

Steps: list the served models (``GET /v1/models``); fail with the list if the model is not
there; send the seed request (one user message, max_tokens 1024, temperature 0, top_p 0.9,
seed 10, stream with ``include_usage``); report time to first token and output tokens/s,
and keep the reasoning text (``reasoning_content`` deltas, sent by vLLM when a reasoning
parser is on; newer vLLM calls the field ``reasoning``) apart from the answer.

Output tokens come from the server's final usage chunk when it sends one
(``token_source: "usage"``); otherwise every non-empty content/reasoning delta counts as one
token (``token_source: "chunks"``, exact for vLLM, which sends one delta per decode step).

Exit codes (one line on stderr for each failure):

====  =====================================================================
0     ok
2     configuration: bad flags, API key variable unset, ``pulumi stack output`` failed
3     connection refused / could not connect (private endpoint outside the VPC?)
4     timeout (``--timeout``: whole request, first byte to last)
5     401/403: wrong API key
6     404: model not served (the served ones are listed) or wrong URL path
7     the stream ended without any answer content
8     any other API error: HTTP 5xx, 4xx, a stream cut off mid-way
====  =====================================================================
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from stackctl.endpoint import (
    EXIT_CONFIG,
    Endpoint,
    EndpointError,
    add_arguments,
    resolve,
)

EXIT_OK = 0
EXIT_CONNECTION = 3
EXIT_TIMEOUT = 4
EXIT_AUTH = 5
EXIT_NOT_FOUND = 6
EXIT_NO_CONTENT = 7
EXIT_API = 8

EXIT_CODES = {
    EXIT_OK: "ok",
    EXIT_CONFIG: "configuration error (flags, API key variable, pulumi stack output)",
    EXIT_CONNECTION: "connection refused / could not connect",
    EXIT_TIMEOUT: "timeout",
    EXIT_AUTH: "401/403 wrong API key",
    EXIT_NOT_FOUND: "404 model not served / wrong URL path",
    EXIT_NO_CONTENT: "stream ended without content",
    EXIT_API: "other API error (5xx, stream cut off)",
}

PROMPT = "给闺女写一份来自未来2035的信，同时告诉她要好好学习科技，做科技的主人，推动科技，经济发展；她现在是3年级"
# The seed request: temperature 0, top_p 0.9, seed 10, max_tokens 1024 (overridable).
MAX_TOKENS = 1024
TEMPERATURE = 0
TOP_P = 0.9
SEED = 10


class SmokeFailure(Exception):
    def __init__(self, code: int, message: str, served: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.served = served


@dataclass
class SmokeResult:
    endpoint: str
    source: str
    model: str
    served_models: list[str]
    ttft_s: float  # request sent -> first token (reasoning or content)
    ttft_content_s: float  # request sent -> first answer (content) token
    total_s: float  # request sent -> stream end
    output_tokens: int
    token_source: str  # "usage" (server's usage chunk) or "chunks" (counted deltas)
    output_tokens_per_s: float  # output_tokens / total_s
    decode_tokens_per_s: float | None  # (output_tokens - 1) / (total_s - ttft_s)
    content_chunks: int
    reasoning_chunks: int
    prompt_tokens: int | None
    finish_reason: str | None
    reasoning: str
    answer: str
    usage: dict[str, Any] | None = field(default=None)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0]
    add_arguments(parser)
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds for the whole request (default 300)",
    )
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS, help="default 1024")
    parser.add_argument(
        "--prompt",
        default=PROMPT,
        help="user message (default: the seed's letter prompt)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    parser.add_argument("--no-text", action="store_true", help="do not print the reasoning/answer text")


def _refused(exc: BaseException) -> bool:
    seen: set[int] = set()
    x: BaseException | None = exc
    while x is not None and id(x) not in seen:
        seen.add(id(x))
        if isinstance(x, ConnectionRefusedError) or "Connection refused" in str(x):
            return True
        x = x.__cause__ or x.__context__
    return False


def _root(exc: BaseException) -> str:
    x = exc
    while x.__cause__ is not None:
        x = x.__cause__
    return f"{type(x).__name__}: {x}" if str(x) else type(x).__name__


def _reasoning_of(delta: Any) -> str | None:
    extra = getattr(delta, "model_extra", None) or {}
    value = extra.get("reasoning_content") or extra.get("reasoning")
    return value if isinstance(value, str) else None


def _status_failure(exc: Any, ep: Endpoint, what: str, served: list[str] | None) -> SmokeFailure:
    import openai

    status = getattr(exc, "status_code", "?")
    msg = getattr(exc, "message", str(exc))
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return SmokeFailure(EXIT_AUTH, f"{status} from {what}: wrong API key for {ep.base_url} ({msg})")
    if isinstance(exc, openai.NotFoundError):
        if served is None:
            return SmokeFailure(
                EXIT_NOT_FOUND,
                f"404 from {what}: is {ep.base_url} the right base URL (it ends in /v1)? ({msg})",
            )
        return SmokeFailure(
            EXIT_NOT_FOUND,
            f"404 from {what}: model {ep.model!r} not found ({msg}); served models: {', '.join(served) or '(none)'}",
            served,
        )
    return SmokeFailure(EXIT_API, f"HTTP {status} from {what}: {msg}")


def smoke(ep: Endpoint, timeout: float, max_tokens: int = 1024, prompt: str = PROMPT) -> SmokeResult:
    """Run the smoke request. Raises SmokeFailure(code, one-line message)."""
    import openai

    client = openai.OpenAI(base_url=ep.base_url, api_key=ep.api_key, timeout=timeout, max_retries=0)
    deadline = time.monotonic() + timeout
    served: list[str] | None = None
    what = "GET /models"
    chunks_seen = 0
    try:
        served = [m.id for m in client.models.list()]
        model = ep.model or (served[0] if served else None)
        if model is None:
            raise SmokeFailure(EXIT_NOT_FOUND, f"{ep.base_url} serves no models")
        if model not in served:
            raise SmokeFailure(
                EXIT_NOT_FOUND,
                f"model {model!r} is not served at {ep.base_url}; served models: {', '.join(served) or '(none)'}",
                served,
            )
        ep = Endpoint(ep.base_url, ep.api_key, model, ep.source)
        what = "POST /chat/completions"
        start = time.monotonic()
        stream = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": prompt}],
            max_tokens=max_tokens,
            temperature=TEMPERATURE,
            top_p=TOP_P,
            seed=SEED,
            stream=True,
            stream_options={"include_usage": True},
        )
        first = first_content = None
        reasoning: list[str] = []
        answer: list[str] = []
        usage = None
        finish = None
        with stream:
            for chunk in stream:
                chunks_seen += 1
                now = time.monotonic()
                if now > deadline:
                    raise SmokeFailure(
                        EXIT_TIMEOUT,
                        f"timeout: stream still running after {timeout:g} s (--timeout)",
                    )
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    finish = choice.finish_reason or finish
                    r = _reasoning_of(choice.delta)
                    if r:
                        reasoning.append(r)
                        first = first or now
                    if choice.delta.content:
                        answer.append(choice.delta.content)
                        first = first or now
                        first_content = first_content or now
        end = time.monotonic()
    except SmokeFailure:
        raise
    except openai.APITimeoutError:
        if chunks_seen:
            raise SmokeFailure(
                EXIT_TIMEOUT, f"timeout: stream stalled after {chunks_seen} chunks (--timeout {timeout:g} s)"
            ) from None
        raise SmokeFailure(
            EXIT_TIMEOUT,
            f"timeout: no response from {what} at {ep.base_url} within {timeout:g} s (--timeout)",
        ) from None
    except openai.APIConnectionError as e:
        if chunks_seen:
            raise SmokeFailure(EXIT_API, f"stream cut off after {chunks_seen} chunks: {_root(e)}") from None
        hint = " (privateEndpoint is reachable only from inside the VPC)" if "private" in ep.source else ""
        if _refused(e):
            raise SmokeFailure(EXIT_CONNECTION, f"connection refused by {ep.base_url}{hint}") from None
        raise SmokeFailure(EXIT_CONNECTION, f"could not connect to {ep.base_url}: {_root(e)}{hint}") from None
    except openai.APIStatusError as e:
        raise _status_failure(e, ep, what, served) from None
    except openai.OpenAIError as e:
        raise SmokeFailure(EXIT_API, f"{what}: {type(e).__name__}: {e}") from None

    if not answer:
        extra = f" ({len(reasoning)} reasoning chunks only)" if reasoning else ""
        raise SmokeFailure(
            EXIT_NO_CONTENT,
            f"stream ended without content{extra}; finish_reason={finish}, {chunks_seen} chunks",
        )
    assert first is not None and first_content is not None
    if usage is not None:
        tokens, source = int(usage.completion_tokens), "usage"
    else:
        tokens, source = len(answer) + len(reasoning), "chunks"
    total = end - start
    decode = end - first
    return SmokeResult(
        endpoint=ep.base_url,
        source=ep.source,
        model=model,
        served_models=served,
        ttft_s=first - start,
        ttft_content_s=first_content - start,
        total_s=total,
        output_tokens=tokens,
        token_source=source,
        output_tokens_per_s=tokens / total if total > 0 else 0.0,
        decode_tokens_per_s=(tokens - 1) / decode if tokens > 1 and decode > 0 else None,
        content_chunks=len(answer),
        reasoning_chunks=len(reasoning),
        prompt_tokens=int(usage.prompt_tokens) if usage is not None else None,
        finish_reason=finish,
        reasoning="".join(reasoning),
        answer="".join(answer),
        usage=usage.model_dump(exclude_none=True) if usage is not None else None,
    )


def smoke_with_deadline(ep: Endpoint, timeout: float, max_tokens: int = 1024, prompt: str = PROMPT) -> SmokeResult:
    """`smoke` under a wall-clock watchdog: the HTTP client's timeouts are per read, so a
    server that trickles bytes could otherwise keep the command running past --timeout."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = smoke(ep, timeout, max_tokens, prompt)
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = e

    worker = threading.Thread(target=target, name="smoke", daemon=True)
    worker.start()
    worker.join(timeout + 0.5)  # a little grace so the client's own, more precise message wins
    if worker.is_alive():
        raise SmokeFailure(
            EXIT_TIMEOUT, f"timeout: no complete answer from {ep.base_url} within {timeout:g} s (--timeout)"
        )
    if "error" in box:
        raise box["error"]
    return box["result"]


def _print(result: SmokeResult, show_text: bool) -> None:
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table

    console = Console()
    t = Table(
        title=f"smoke: {result.model} @ {result.endpoint}",
        show_header=False,
        title_justify="left",
    )
    t.add_column(style="bold")
    t.add_column()
    t.add_row("endpoint from", result.source)
    t.add_row("served models", ", ".join(result.served_models))
    t.add_row("time to first token", f"{result.ttft_s * 1000:.0f} ms")
    if result.reasoning_chunks:
        t.add_row("time to first answer token", f"{result.ttft_content_s * 1000:.0f} ms")
    t.add_row("total time", f"{result.total_s:.2f} s")
    src = "server usage" if result.token_source == "usage" else "counted content+reasoning chunks (no usage sent)"
    t.add_row("output tokens", f"{result.output_tokens} (from {src})")
    t.add_row(
        "output tokens/s",
        f"{result.output_tokens_per_s:.1f} (output tokens / total time)",
    )
    if result.decode_tokens_per_s is not None:
        t.add_row(
            "decode tokens/s",
            f"{result.decode_tokens_per_s:.1f} (after the first token)",
        )
    t.add_row("chunks", f"{result.content_chunks} answer, {result.reasoning_chunks} reasoning")
    t.add_row("finish reason", str(result.finish_reason))
    console.print(t)
    if show_text:
        if result.reasoning:
            console.print(Panel(result.reasoning, title="reasoning (reasoning_content)", style="dim"))
        console.print(Panel(result.answer, title="answer (content)"))


def run(args: argparse.Namespace) -> int:
    try:
        ep = resolve(args)
    except EndpointError as e:
        print(f"smoke: error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        result = smoke_with_deadline(ep, timeout=args.timeout, max_tokens=args.max_tokens, prompt=args.prompt)
    except SmokeFailure as f:
        print(f"smoke: error: {f.message}", file=sys.stderr)
        if args.json:
            print(
                json.dumps(
                    {
                        "ok": False,
                        "exit_code": f.code,
                        "error": f.message,
                        "served_models": f.served,
                    }
                )
            )
        return f.code
    if args.json:
        print(
            json.dumps(
                {"ok": True, "exit_code": 0, **asdict(result)},
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        _print(result, show_text=not args.no_text)
    return EXIT_OK
