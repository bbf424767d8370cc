"""Benchmark (not a test): offline plan time of each example stack relative to an import floor,
and of ecs-cluster plans of 2, 4, 8 and 16 nodes relative to the 2-node plan.

The floor is a subprocess that imports pulumi, pulumi_random and the provider modules/classes
the stack's plan declares; the program's own libraries (pydantic, yaml, ...) count against the
plan. Each figure is the median of N runs in this one process session, with the spread
(min-max) shown; ratios, not seconds, are what compare across machines.

    .venv/bin/python bench/plan_time.py [--runs 5] [--stack dev ...] [--nodes 2 4 8 16]
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
        if pkg == "pulumi" and rest.startswith("providers:"):  # explicit providers are declared resources
            provider = rest.removeprefix("providers:")
            if provider in ("alicloud", "kubernetes"):
                lines.append(f"import pulumi_{provider}\npulumi_{provider}.Provider")
            continue
        if pkg == "random":
            lines.append(f"pulumi_random.{rest.rpartition(':')[2]}")
            continue
        if pkg not in ("alicloud", "kubernetes") or "/" not in rest:
            continue
        module, _, cls = rest.rpartition(":")
        group, _, version = module.partition("/")
        base = "pulumi_alicloud" if pkg == "alicloud" else "pulumi_kubernetes"
        if pkg == "kubernetes":
            # pulumi_kubernetes loads classes lazily per API version: import the versioned module.
            if group == "helm.sh":
                group = f"helm.{version}"
            elif not group.isidentifier():  # a custom resource (e.g. LWS)
                group, cls = "apiextensions", "CustomResource"
            else:
                group = f"{group}.{version}"
        lines.append(f"import {base}.{group}")
        lines.append(f"getattr({base}.{group}, {cls!r})")
    return "\n".join(lines)


def stats(xs: list[float]) -> tuple[float, float, float]:
    return statistics.median(xs), min(xs), max(xs)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--stack", action="append")
    ap.add_argument("--nodes", type=int, nargs="*", default=[2, 4, 8, 16], help="cluster sizes (from Pulumi.prod.yaml)")
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
    if args.nodes:
        cluster_table(py, args.runs, args.nodes)
    return 0


def cluster_table(py: str, runs: int, sizes: list[int]) -> None:
    """Plan time of N-node clusters (the prod stack with llm:cluster.nodes = N)."""
    import yaml

    base = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    floor_cmd = [
        py,
        "-c",
        "import pulumi, pulumi_random, pulumi_alicloud.ecs, pulumi_alicloud.vpc, pulumi_alicloud.ram, pulumi_alicloud.oos",
    ]
    medians: dict[int, tuple[float, float, float]] = {}
    floor: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for n in sizes:
            cfg = dict(base["config"])
            cfg["llm:cluster"] = {**cfg.get("llm:cluster", {}), "nodes": n}
            files[n] = Path(tmp) / f"Pulumi.n{n}.yaml"
            files[n].write_text(yaml.safe_dump({"config": cfg}))
        times: dict[int, list[float]] = {n: [] for n in sizes}
        for _ in range(runs):
            floor.append(timed(floor_cmd))
            for n in sizes:
                out = str(Path(tmp) / f"out{n}")
                times[n].append(
                    timed(
                        [py, "-m", "stackctl", "plan", "--stack", "prod", "--config-file", str(files[n]), "--out", out]
                    )
                )
        medians = {n: stats(t) for n, t in times.items()}
    fm = statistics.median(floor)
    first = medians[sizes[0]][0]
    print()
    print(f"| nodes | plan median s (min-max) | / {sizes[0]}-node plan | / SDK import ({fm:.2f} s) | runs |")
    print("|---|---|---|---|---|")
    for n, (m, lo, hi) in medians.items():
        print(f"| {n} | {m:.2f} ({lo:.2f}-{hi:.2f}) | {m / first:.2f} | {m / fm:.2f} | {runs} |")


if __name__ == "__main__":
    sys.exit(main())
