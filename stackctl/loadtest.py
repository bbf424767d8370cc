"""`python -m stackctl bench`: a bounded load test of the OpenAI-compatible endpoint.

``--concurrency`` workers (asyncio + ``openai.AsyncOpenAI``) send streamed chat completions
until a bound is reached: ``--requests N`` (default 50 when no ``--duration`` is given) and/or
``--duration S`` (no new request starts after S seconds; those in flight finish). A hard
deadline (``--deadline``, default duration + timeout, or 900 s with only a request bound)
cancels whatever is still running, so the command always stops by itself.

Per request: TTFT (request sent -> first reasoning/content token), TPOT (time per output
token after the first: ``(e2e - ttft) / (output_tokens - 1)``), end-to-end latency, output
tokens (the server's usage chunk when sent, else one per non-empty delta). Reported: request
and output-token throughput over the wall time, mean/p50/p90/p99 of each latency, errors by
kind. Percentiles use the nearest-rank method (see :func:`percentile`).

Prompts: ``--dataset FILE`` (``.jsonl``: one JSON object per line with a ``"prompt"`` field;
anything else: one prompt per non-empty line), used in order and cycled; otherwise a
synthetic prompt of ``--prompt-tokens`` space-separated words (about that many tokens; the
server's ``usage.prompt_tokens`` is reported as the real figure).

``--json`` prints one JSON document matching :data:`JSON_SCHEMA` (schema_version 1).
Exit code: 0 when every request succeeded, 1 when some failed, 2 for configuration errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackctl.endpoint import (
    EXIT_CONFIG,
    Endpoint,
    EndpointError,
    add_arguments,
    resolve,
)

EXIT_OK = 0
EXIT_SOME_FAILED = 1
DEFAULT_REQUESTS = 50
PERCENTILES = (50, 90, 99)

ERROR_KINDS = {
    "connection": "could not connect (refused, DNS, reset before the response)",
    "timeout": "no response within --timeout",
    "http_<status>": "HTTP error status, e.g. http_401, http_404, http_500",
    "stream_dropped": "the stream broke after it had started",
    "no_content": "the stream ended without any output token",
    "cancelled": "still running at the hard --deadline",
    "other": "any other exception (its class name is kept in error_examples)",
}

_STATS = {
    "type": ["object", "null"],
    "description": "seconds; null when no request succeeded (tpot: none had 2+ tokens)",
    "required": ["mean", "p50", "p90", "p99", "min", "max", "count"],
    "properties": {
        **{k: {"type": "number", "minimum": 0} for k in ("mean", "p50", "p90", "p99", "min", "max")},
        "count": {"type": "integer", "minimum": 1},
    },
    "additionalProperties": False,
}

JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "stackctl bench --json output",
    "type": "object",
    "required": [
        "schema_version",
        "endpoint",
        "model",
        "config",
        "stopped_by",
        "wall_time_s",
        "requests",
        "errors",
        "request_throughput_rps",
        "output_token_throughput_tps",
        "total_output_tokens",
        "total_prompt_tokens",
        "token_source",
        "ttft_s",
        "tpot_s",
        "e2e_latency_s",
        "percentile_method",
    ],
    "properties": {
        "schema_version": {"const": 1},
        "endpoint": {"type": "string"},
        "source": {"type": "string"},
        "model": {"type": "string"},
        "config": {
            "type": "object",
            "required": [
                "concurrency",
                "requests",
                "duration_s",
                "deadline_s",
                "max_tokens",
                "timeout_s",
            ],
            "properties": {
                "concurrency": {"type": "integer", "minimum": 1},
                "requests": {"type": ["integer", "null"], "minimum": 1},
                "duration_s": {"type": ["number", "null"], "exclusiveMinimum": 0},
                "deadline_s": {"type": "number", "exclusiveMinimum": 0},
                "prompt_tokens": {"type": ["integer", "null"]},
                "max_tokens": {"type": "integer", "minimum": 1},
                "dataset": {"type": ["string", "null"]},
                "timeout_s": {"type": "number", "exclusiveMinimum": 0},
            },
        },
        "stopped_by": {"enum": ["requests", "duration", "deadline"]},
        "wall_time_s": {"type": "number", "minimum": 0},
        "requests": {
            "type": "object",
            "required": ["sent", "completed", "failed"],
            "properties": {k: {"type": "integer", "minimum": 0} for k in ("sent", "completed", "failed")},
            "additionalProperties": False,
        },
        "errors": {
            "type": "object",
            "description": "failed requests by kind",
            "propertyNames": {
                "pattern": "^(connection|timeout|http_[0-9]{3}|stream_dropped|no_content|cancelled|other)$"
            },
            "additionalProperties": {"type": "integer", "minimum": 1},
        },
        "error_examples": {
            "type": "object",
            "additionalProperties": {"type": "string"},
        },
        "request_throughput_rps": {"type": "number", "minimum": 0},
        "output_token_throughput_tps": {"type": "number", "minimum": 0},
        "total_output_tokens": {"type": "integer", "minimum": 0},
        "total_prompt_tokens": {"type": ["integer", "null"], "minimum": 0},
        "token_source": {"enum": ["usage", "chunks", "mixed", "none"]},
        "ttft_s": _STATS,
        "tpot_s": _STATS,
        "e2e_latency_s": _STATS,
        "percentile_method": {"const": "nearest-rank"},
    },
}


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: the smallest value with at least p% of the values <= it.

    ``sorted(values)[ceil(p/100 * n) - 1]`` for 0 < p <= 100; p == 0 gives the minimum.
    Always one of the values (no interpolation). Raises ValueError on an empty sequence.
    """
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {p}")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered) - 1e-9))
    return ordered[rank - 1]


def summarize(values: Sequence[float]) -> dict[str, float | int] | None:
    if not values:
        return None
    out: dict[str, float | int] = {"mean": sum(values) / len(values)}
    for p in PERCENTILES:
        out[f"p{p}"] = percentile(values, p)
    out |= {"min": min(values), "max": max(values), "count": len(values)}
    return out


@dataclass
class RequestResult:
    ok: bool
    error: str | None = None  # kind, see ERROR_KINDS
    detail: str = ""
    ttft: float | None = None
    e2e: float | None = None
    output_tokens: int = 0
    prompt_tokens: int | None = None
    token_source: str = "none"

    @property
    def tpot(self) -> float | None:
        if self.ok and self.ttft is not None and self.e2e is not None and self.output_tokens > 1:
            return (self.e2e - self.ttft) / (self.output_tokens - 1)
        return None


def load_prompts(path: str | None, prompt_tokens: int) -> list[str]:
    if path is None:
        words = (
            "alpha",
            "bravo",
            "charlie",
            "delta",
            "echo",
            "foxtrot",
            "golf",
            "hotel",
        )
        return [" ".join(words[i % len(words)] for i in range(prompt_tokens))]
    p = Path(path)
    try:
        lines = [ln for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except OSError as e:
        raise EndpointError(f"cannot read --dataset {path}: {e.strerror or e}") from None
    if p.suffix == ".jsonl":
        prompts = []
        for n, ln in enumerate(lines, 1):
            try:
                obj = json.loads(ln)
            except json.JSONDecodeError as e:
                raise EndpointError(f"{path}:{n}: not JSON ({e.msg})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("prompt"), str):
                raise EndpointError(f'{path}:{n}: no string "prompt" field')
            prompts.append(obj["prompt"])
    else:
        prompts = lines
    if not prompts:
        raise EndpointError(f"--dataset {path} has no prompts")
    return prompts


def _classify(exc: BaseException, started: bool) -> tuple[str, str]:
    import openai

    if isinstance(exc, openai.APITimeoutError | asyncio.TimeoutError):
        return "timeout", "timeout"
    if isinstance(exc, openai.APIConnectionError):
        root: BaseException = exc
        while root.__cause__ is not None:
            root = root.__cause__
        return ("stream_dropped" if started else "connection"), f"{type(root).__name__}: {root}"
    if isinstance(exc, openai.APIStatusError):
        return f"http_{exc.status_code}", str(getattr(exc, "message", exc))[:200]
    return "other", f"{type(exc).__name__}: {exc}"[:200]


async def one_request(
    client: Any,
    model: str,
    prompt: str,
    max_tokens: int,
    timeout: float,
    extra_body: dict | None,
) -> RequestResult:
    start = time.monotonic()
    first: float | None = None
    tokens_counted = 0
    usage = None
    started = False
    try:
        async with asyncio.timeout(timeout):
            stream = await client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": prompt}],
                max_tokens=max_tokens,
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
                extra_body=extra_body,
            )
            async with stream:
                async for chunk in stream:
                    started = True
                    if chunk.usage is not None:
                        usage = chunk.usage
                    for choice in chunk.choices:
                        extra = choice.delta.model_extra or {}
                        if choice.delta.content or extra.get("reasoning_content") or extra.get("reasoning"):
                            tokens_counted += 1
                            first = first or time.monotonic()
    except Exception as e:  # noqa: BLE001 - every failure is counted by kind
        kind, detail = _classify(e, started)
        return RequestResult(False, kind, detail)
    end = time.monotonic()
    if first is None:
        return RequestResult(False, "no_content", "stream ended without any output token")
    if usage is not None:
        return RequestResult(
            True,
            ttft=first - start,
            e2e=end - start,
            output_tokens=int(usage.completion_tokens),
            prompt_tokens=int(usage.prompt_tokens),
            token_source="usage",
        )
    return RequestResult(
        True,
        ttft=first - start,
        e2e=end - start,
        output_tokens=tokens_counted,
        token_source="chunks",
    )


@dataclass
class BenchConfig:
    concurrency: int
    requests: int | None
    duration: float | None
    deadline: float
    max_tokens: int
    timeout: float
    prompt_tokens: int | None
    dataset: str | None
    ignore_eos: bool = False


async def bench(
    ep: Endpoint,
    cfg: BenchConfig,
    prompts: list[str],
    on_done: Callable[[RequestResult, float], None] | None = None,
) -> dict[str, Any]:
    import openai

    assert ep.model, "model must be resolved before the bench"
    model: str = ep.model
    client = openai.AsyncOpenAI(base_url=ep.base_url, api_key=ep.api_key, timeout=cfg.timeout, max_retries=0)
    results: list[RequestResult] = []
    next_index = 0
    in_flight = 0
    t0 = time.monotonic()
    stop_at = t0 + cfg.duration if cfg.duration is not None else math.inf
    extra_body = {"ignore_eos": True} if cfg.ignore_eos else None

    async def worker() -> None:
        nonlocal next_index, in_flight
        while True:
            if cfg.requests is not None and next_index >= cfg.requests:
                return
            if time.monotonic() >= stop_at:
                return
            i = next_index
            next_index += 1
            in_flight += 1
            try:
                r = await one_request(
                    client,
                    model,
                    prompts[i % len(prompts)],
                    cfg.max_tokens,
                    cfg.timeout,
                    extra_body,
                )
            finally:
                in_flight -= 1
            results.append(r)
            if on_done:
                on_done(r, time.monotonic() - t0)

    tasks = [asyncio.create_task(worker()) for _ in range(cfg.concurrency)]
    _, pending = await asyncio.wait(tasks, timeout=cfg.deadline)
    cancelled = in_flight if pending else 0
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    wall = time.monotonic() - t0
    await client.close()
    results.extend(RequestResult(False, "cancelled", "still running at the hard deadline") for _ in range(cancelled))

    if pending:
        stopped_by = "deadline"
    elif cfg.requests is not None and next_index >= cfg.requests:
        stopped_by = "requests"
    else:
        stopped_by = "duration"
    ok = [r for r in results if r.ok]
    errors = Counter(r.error for r in results if not r.ok)
    examples: dict[str, str] = {}
    for r in results:
        if not r.ok and r.error and r.error not in examples:
            examples[r.error] = r.detail
    sources = {r.token_source for r in ok}
    out_tokens = sum(r.output_tokens for r in ok)
    prompt_tok = [r.prompt_tokens for r in ok if r.prompt_tokens is not None]
    return {
        "schema_version": 1,
        "endpoint": ep.base_url,
        "source": ep.source,
        "model": ep.model,
        "config": {
            "concurrency": cfg.concurrency,
            "requests": cfg.requests,
            "duration_s": cfg.duration,
            "deadline_s": cfg.deadline,
            "prompt_tokens": cfg.prompt_tokens,
            "max_tokens": cfg.max_tokens,
            "dataset": cfg.dataset,
            "timeout_s": cfg.timeout,
        },
        "stopped_by": stopped_by,
        "wall_time_s": wall,
        "requests": {
            "sent": next_index,
            "completed": len(ok),
            "failed": len(results) - len(ok),
        },
        "errors": dict(sorted(errors.items())),
        "error_examples": examples,
        "request_throughput_rps": len(ok) / wall if wall > 0 else 0.0,
        "output_token_throughput_tps": out_tokens / wall if wall > 0 else 0.0,
        "total_output_tokens": out_tokens,
        "total_prompt_tokens": sum(prompt_tok) if prompt_tok else None,
        "token_source": sources.pop() if len(sources) == 1 else ("mixed" if sources else "none"),
        "ttft_s": summarize([r.ttft for r in ok if r.ttft is not None]),
        "tpot_s": summarize([tp for r in ok if (tp := r.tpot) is not None]),
        "e2e_latency_s": summarize([r.e2e for r in ok if r.e2e is not None]),
        "percentile_method": "nearest-rank",
    }


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0]
    add_arguments(parser)
    parser.add_argument("--concurrency", type=int, default=8, help="parallel requests (default 8)")
    parser.add_argument(
        "--requests",
        type=int,
        help=f"total requests (default {DEFAULT_REQUESTS} without --duration)",
    )
    parser.add_argument("--duration", type=float, help="seconds after which no new request starts")
    parser.add_argument(
        "--deadline",
        type=float,
        help="hard stop in seconds (default duration+timeout, or 900)",
    )
    parser.add_argument(
        "--prompt-tokens",
        type=int,
        default=128,
        help="synthetic prompt length in words (128)",
    )
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=128,
        help="max_tokens per request (default 128)",
    )
    parser.add_argument(
        "--dataset",
        help="JSONL with a 'prompt' field per line, or text: one prompt per line",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request (default 120)")
    parser.add_argument(
        "--ignore-eos",
        action="store_true",
        help="vLLM extra: always generate max_tokens",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the report as JSON (schema in the docs)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")


def _config(args: argparse.Namespace) -> BenchConfig:
    for name in ("concurrency", "requests", "prompt_tokens", "max_tokens"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise EndpointError(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("duration", "deadline", "timeout"):
        v = getattr(args, name)
        if v is not None and v <= 0:
            raise EndpointError(f"--{name} must be positive")
    requests = args.requests
    if requests is None and args.duration is None:
        requests = DEFAULT_REQUESTS
    deadline = args.deadline or ((args.duration + args.timeout) if args.duration else 900.0)
    return BenchConfig(
        concurrency=args.concurrency,
        requests=requests,
        duration=args.duration,
        deadline=deadline,
        max_tokens=args.max_tokens,
        timeout=args.timeout,
        prompt_tokens=None if args.dataset else args.prompt_tokens,
        dataset=args.dataset,
        ignore_eos=args.ignore_eos,
    )


def _fmt_ms(stats: dict | None) -> list[str]:
    if not stats:
        return ["-"] * 4
    return [f"{stats[k] * 1000:.1f}" for k in ("mean", "p50", "p90", "p99")]


def _print_report(rep: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    r = rep["requests"]
    head = Table(
        title=f"bench: {rep['model']} @ {rep['endpoint']}",
        show_header=False,
        title_justify="left",
    )
    head.add_column(style="bold")
    head.add_column()
    c = rep["config"]
    bounds = ", ".join(
        x
        for x in (
            f"{c['requests']} requests" if c["requests"] else "",
            f"{c['duration_s']:g} s" if c["duration_s"] else "",
            f"deadline {c['deadline_s']:g} s",
        )
        if x
    )
    head.add_row(
        "bounds",
        f"{bounds}; concurrency {c['concurrency']}; stopped by {rep['stopped_by']}",
    )
    head.add_row(
        "requests",
        f"{r['sent']} sent, {r['completed']} completed, {r['failed']} failed",
    )
    head.add_row("wall time", f"{rep['wall_time_s']:.2f} s")
    head.add_row("request throughput", f"{rep['request_throughput_rps']:.2f} req/s")
    src = {"usage": "server usage", "chunks": "counted chunks"}.get(rep["token_source"], rep["token_source"])
    head.add_row(
        "output token throughput",
        f"{rep['output_token_throughput_tps']:.1f} tok/s ({rep['total_output_tokens']} tokens, from {src})",
    )
    if rep["errors"]:
        head.add_row("errors", ", ".join(f"{k}: {v}" for k, v in rep["errors"].items()))
    console.print(head)
    lat = Table(title="latency (ms; percentiles by nearest rank)", title_justify="left")
    for col in ("metric", "mean", "p50", "p90", "p99"):
        lat.add_column(col, justify="left" if col == "metric" else "right")
    lat.add_row("TTFT", *_fmt_ms(rep["ttft_s"]))
    lat.add_row("TPOT", *_fmt_ms(rep["tpot_s"]))
    lat.add_row("end-to-end", *_fmt_ms(rep["e2e_latency_s"]))
    console.print(lat)
    for kind, detail in rep.get("error_examples", {}).items():
        console.print(f"[dim]{kind}: {detail}[/dim]")


async def _main(ep: Endpoint, cfg: BenchConfig, prompts: list[str], progress: bool) -> dict[str, Any]:
    import openai

    if not ep.model:  # --url without --model: the only/first served model
        client = openai.AsyncOpenAI(base_url=ep.base_url, api_key=ep.api_key, timeout=cfg.timeout, max_retries=0)
        try:
            served = [m.id async for m in client.models.list()]
        finally:
            await client.close()
        if not served:
            raise EndpointError(f"{ep.base_url} serves no models")
        ep = Endpoint(ep.base_url, ep.api_key, served[0], ep.source)
    if not progress:
        return await bench(ep, cfg, prompts)

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    total = cfg.requests if cfg.requests is not None else cfg.duration
    unit = "requests" if cfg.requests is not None else "seconds"
    with Progress(
        TextColumn("[bold]bench[/bold]"),
        BarColumn(),
        MofNCompleteColumn() if unit == "requests" else TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(unit, total=total, status="")
        counts: Counter[str] = Counter()

        def on_done(r: RequestResult, elapsed: float) -> None:
            counts["ok" if r.ok else "failed"] += 1
            status = f"{counts['ok']} ok, {counts['failed']} failed"
            if unit == "requests":
                bar.update(task, advance=1, status=status)
            else:
                bar.update(task, completed=min(elapsed, total or 0), status=status)

        return await bench(ep, cfg, prompts, on_done)


def run(args: argparse.Namespace) -> int:
    try:
        cfg = _config(args)
        prompts = load_prompts(args.dataset, args.prompt_tokens)
        ep = resolve(args)
    except EndpointError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    progress = sys.stderr.isatty() and not args.no_progress
    try:
        rep = asyncio.run(_main(ep, cfg, prompts, progress))
    except EndpointError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except Exception as e:  # noqa: BLE001 - listing models failed: say why in one line
        kind, detail = _classify(e, started=False)
        print(
            f"bench: error: GET /models at {ep.base_url} failed ({kind}): {detail}",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        _print_report(rep)
    return EXIT_OK if rep["requests"]["failed"] == 0 else EXIT_SOME_FAILED
