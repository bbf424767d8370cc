"""Benchmark (not a test): offline plan time of each example stack relative to an import floor.

The floor is a subprocess that imports pulumi, pulumi_random and the provider modules/classes
the stack's plan declares; the program's own libraries (pydantic, yaml, ...) count against the
plan. Each figure is the median of N runs in this one process session, with the spread
(min-max) shown; ratios, not seconds, are what compare across machines.

    .venv/bin/python bench/plan_time.py [--runs 5] [--stack dev ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def floor_script(resources: list[dict]) -> str:
    lines = ["import pulumi", "import pulumi_random"]
    for t in sorted({r["type"] for r in resources}):
        pkg, _, rest = t.partition(":")
        if pkg not in ("alicloud", "kubernetes") or "/" not in rest:
            continue
        module, _, cls = rest.rpartition(":")
        group = module.split("/")[0].replace(".", "_")
        base = "pulumi_alicloud" if pkg == "alicloud" else "pulumi_kubernetes"
        lines.append(f"import {base}.{group}")
        lines.append(f"getattr({base}.{group}, {cls!r}, None)")
    return "\n".join(lines)


def stats(xs: list[float]) -> tuple[float, float, float]:
    return statistics.median(xs), min(xs), max(xs)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--stack", action="append")
    args = ap.parse_args()
    stacks = args.stack or sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))
    py = sys.executable
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for stack in stacks:
            out = Path(tmp) / stack
            subprocess.run([py, "-m", "stackctl", "plan", "--stack", stack, "--out", str(out)], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
            script = floor_script(json.loads((out / "resources.json").read_text()))
            floor, plan = [], []
            for _ in range(args.runs):  # interleaved, so drift hits both alike
                floor.append(timed([py, "-c", script]))
                plan.append(timed([py, "-m", "stackctl", "plan", "--stack", stack, "--out", str(out)]))
            fm, fmin, fmax = stats(floor)
            pm, pmin, pmax = stats(plan)
            rows.append((stack, fm, fmin, fmax, pm, pmin, pmax, pm / fm))
    print("| stack | import floor median s (min-max) | plan median s (min-max) | plan / floor | runs |")
    print("|---|---|---|---|---|")
    for stack, fm, fmin, fmax, pm, pmin, pmax, ratio in rows:
        print(
            f"| {stack} | {fm:.2f} ({fmin:.2f}-{fmax:.2f}) | {pm:.2f} ({pmin:.2f}-{pmax:.2f}) | {ratio:.2f} | {args.runs} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
