"""`python -m stackctl top`: a live view of one endpoint's vLLM `/metrics`.

Running and waiting requests, KV-cache usage (latest values), prompt/generation tokens per second,
requests and errors per second, and TTFT/TPOT p50/p99 over the last window, computed from the
histograms' bucket deltas between two scrapes (as Prometheus' `histogram_quantile` over
`rate(...)` does). vLLM 0.8.5 serves `/metrics` on the API port without the API key, so `top`
sends none.

    python -m stackctl top --stack dev                 # live, until --duration or Ctrl-C
    python -m stackctl top --url http://10.0.0.5:8000 --once --json

The text format is parsed with `prometheus_client.parser`, not by hand.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

from stackctl.endpoint import EndpointError, stack_outputs

EXIT_UNREACHABLE = 1
EXIT_CONFIG = 2
TTFT = "vllm:time_to_first_token_seconds"
TPOT = "vllm:time_per_output_token_seconds"
HISTOGRAMS = (TTFT, TPOT)


@dataclass
class Sample:
    """One scrape, summed over label sets (nodes, engines); histograms as {le: cumulative}."""

    at: float
    gauges: dict[str, float] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)
    buckets: dict[str, dict[float, float]] = field(default_factory=dict)


def parse(text: str, at: float) -> Sample:
    s = Sample(at)
    for fam in text_string_to_metric_families(text):
        for smp in fam.samples:
            name, labels, value = smp.name, smp.labels, smp.value
            if fam.type == "histogram" and name.endswith("_bucket"):
                le = float(labels["le"])
                b = s.buckets.setdefault(fam.name, {})
                b[le] = b.get(le, 0.0) + value
            elif fam.type == "counter" and name.endswith("_total"):
                key = name
                if name == "http_requests_total":
                    key = f"http_requests_total:{labels.get('status', '')}"
                s.counters[key] = s.counters.get(key, 0.0) + value
            elif fam.type == "gauge":
                if name == "vllm:gpu_cache_usage_perc":
                    s.gauges[name] = max(s.gauges.get(name, 0.0), value)
                else:
                    s.gauges[name] = s.gauges.get(name, 0.0) + value
    return s


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus' histogram_quantile over cumulative bucket counts (linear in a bucket)."""
    les = sorted(buckets)
    if not les or buckets[les[-1]] <= 0:
        return None
    total = buckets[les[-1]]
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le in les:
        count = buckets[le]
        if count >= rank:
            if math.isinf(le):
                return prev_le  # the highest finite bound, as Prometheus does
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return None


def _delta(new: dict[float, float], old: dict[float, float]) -> dict[float, float]:
    # A counter reset (vLLM restarted) makes a negative delta: use the new values alone.
    d = {le: new[le] - old.get(le, 0.0) for le in new}
    return new if any(v < 0 for v in d.values()) else d


@dataclass
class View:
    url: str
    window_s: float
    running: float
    waiting: float
    kv_cache_usage: float
    prompt_tokens_per_s: float | None
    generation_tokens_per_s: float | None
    requests_per_s: float | None
    errors_per_s: float | None
    ttft_p50_s: float | None
    ttft_p99_s: float | None
    tpot_p50_s: float | None
    tpot_p99_s: float | None


def view(url: str, new: Sample, old: Sample | None) -> View:
    dt = new.at - old.at if old else 0.0

    def rate(name: str) -> float | None:
        if old is None or dt <= 0:
            return None
        d = new.counters.get(name, 0.0) - old.counters.get(name, 0.0)
        return max(d, 0.0) / dt

    def errors() -> float | None:
        if old is None or dt <= 0:
            return None
        keys = [k for k in new.counters if k.startswith("http_requests_total:") and k[-3:] in ("4xx", "5xx")]
        return sum(max(new.counters[k] - old.counters.get(k, 0.0), 0.0) for k in keys) / dt

    q: dict[str, float | None] = {}
    for h, short in ((TTFT, "ttft"), (TPOT, "tpot")):
        b = new.buckets.get(h, {})
        window = _delta(b, old.buckets.get(h, {})) if old else b
        q[f"{short}_p50_s"] = quantile(0.5, window)
        q[f"{short}_p99_s"] = quantile(0.99, window)
    return View(
        url=url,
        window_s=round(dt, 3),
        running=new.gauges.get("vllm:num_requests_running", 0.0),
        waiting=new.gauges.get("vllm:num_requests_waiting", 0.0),
        kv_cache_usage=new.gauges.get("vllm:gpu_cache_usage_perc", 0.0),
        prompt_tokens_per_s=rate("vllm:prompt_tokens_total"),
        generation_tokens_per_s=rate("vllm:generation_tokens_total"),
        requests_per_s=rate("vllm:request_success_total"),
        errors_per_s=errors(),
        **q,
    )


class TopError(Exception):
    """The endpoint cannot be read; one line for the operator."""


Fetch = Callable[[str, float], str]


def fetch(url: str, timeout_s: float) -> str:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 (http(s) checked)
            return resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        raise TopError(f"{url} answered HTTP {e.code}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise TopError(f"cannot reach {url}: {reason} (is the endpoint up, and are you in its VPC?)") from None


def metrics_url(base: str) -> str:
    base = base.strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise TopError(f"--url must be http(s)://host[:port], got {base!r}")
    return f"{parts.scheme}://{parts.netloc}/metrics"


def scrape(url: str, timeout_s: float, get: Fetch = fetch) -> Sample:
    text = get(url, timeout_s)
    try:
        s = parse(text, time.monotonic())
    except ValueError as e:
        raise TopError(f"{url} is not Prometheus text: {e}") from None
    if "vllm:num_requests_running" not in s.gauges:
        raise TopError(f"{url} has no vllm:* metrics (not a vLLM server?)")
    return s


def _fmt(v: float | None, unit: str = "", scale: float = 1.0, digits: int = 1) -> str:
    return "-" if v is None else f"{v * scale:.{digits}f}{unit}"


def render(v: View):  # -> rich Table
    from rich.table import Table

    t = Table(title=f"vLLM {v.url} (window {v.window_s:.1f} s)", show_header=True)
    t.add_column("metric")
    t.add_column("value", justify="right")
    rows = [
        ("running requests", f"{v.running:.0f}"),
        ("waiting requests", f"{v.waiting:.0f}"),
        ("KV cache usage", _fmt(v.kv_cache_usage, " %", 100)),
        ("requests/s", _fmt(v.requests_per_s, digits=2)),
        ("errors/s (HTTP 4xx+5xx)", _fmt(v.errors_per_s, digits=2)),
        ("prompt tokens/s", _fmt(v.prompt_tokens_per_s)),
        ("generation tokens/s", _fmt(v.generation_tokens_per_s)),
        ("TTFT p50 / p99", f"{_fmt(v.ttft_p50_s, ' ms', 1000)} / {_fmt(v.ttft_p99_s, ' ms', 1000)}"),
        ("TPOT p50 / p99", f"{_fmt(v.tpot_p50_s, ' ms', 1000)} / {_fmt(v.tpot_p99_s, ' ms', 1000)}"),
    ]
    for name, value in rows:
        t.add_row(name, value)
    return t


def configure(p: argparse.ArgumentParser) -> None:
    x = p.add_mutually_exclusive_group(required=True)
    x.add_argument("--stack", help="Pulumi stack whose privateEndpoint/publicEndpoint to watch")
    x.add_argument("--url", help="the server, e.g. http://10.0.0.5:8000 (its /metrics is read)")
    p.add_argument("--private", action="store_true", help="with --stack: use privateEndpoint even if public is set")
    p.add_argument("--cwd", help="directory of the Pulumi project (with --stack)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between scrapes (window), default 2")
    p.add_argument("--duration", type=float, default=600.0, help="stop after this many seconds (default 600)")
    p.add_argument("--once", action="store_true", help="two scrapes one --interval apart, print, exit")
    p.add_argument("--json", action="store_true", help="with --once: print JSON")
    p.add_argument("--timeout", type=float, default=5.0, help="per-scrape timeout, seconds")


def _base(args: argparse.Namespace) -> str:
    if args.url:
        return args.url
    outputs = stack_outputs(args.stack, cwd=args.cwd)
    public, private = outputs.get("publicEndpoint"), outputs.get("privateEndpoint")
    url = public if public and not args.private else private
    if not url:
        raise TopError(f"stack {args.stack} has no publicEndpoint/privateEndpoint output (was it deployed?)")
    return str(url)


def run(args: argparse.Namespace, get: Fetch = fetch, out=None) -> int:
    out = out or sys.stdout
    if args.interval <= 0 or args.duration <= 0:
        print("--interval and --duration must be > 0", file=sys.stderr)
        return EXIT_CONFIG
    try:
        url = metrics_url(_base(args))
    except (TopError, EndpointError) as e:
        print(f"stackctl top: {e}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        first = scrape(url, args.timeout, get)
        if args.once:
            time.sleep(args.interval)
            v = view(url, scrape(url, args.timeout, get), first)
            if args.json:
                print(json.dumps(asdict(v), indent=2), file=out)
            else:
                from rich.console import Console

                Console(file=out).print(render(v))
            return 0
        from rich.console import Console
        from rich.live import Live

        deadline = time.monotonic() + args.duration
        prev = first
        with Live(render(view(url, first, None)), console=Console(file=out), refresh_per_second=4) as live:
            while time.monotonic() < deadline:
                time.sleep(min(args.interval, max(deadline - time.monotonic(), 0)))
                cur = scrape(url, args.timeout, get)
                live.update(render(view(url, cur, prev)))
                prev = cur
        return 0
    except TopError as e:
        print(f"stackctl top: {e}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        return 0
