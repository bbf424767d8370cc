"""Mutation score per module group (`make mutation`; not part of `make test` or CI: too slow).

Each group's modules are mutated by mutmut 3 (pinned in requirements-dev.txt) and only that
group's own tests run against them. mutmut reads its settings from `[tool.mutmut]` of the
pyproject.toml in its working directory, so every group runs in its own directory
(out/mutation/<group>/, kept between runs: mutmut resumes and re-tests only changed
functions) holding symlinks to the source tree and a pyproject.toml that is the repository's
with the group's `source_paths`/`only_mutate`/test selection written into `[tool.mutmut]`.

Score = killed / (mutants - equivalent), where killed counts mutmut's "killed", "timeout" and
"caught by type check", and the equivalent mutants (ones no test can tell from the original,
reviewed by hand) are listed in tests/mutation-equivalent.txt, one `<mutant name>  <reason>`
per line (`#` comments allowed).

    python tools/mutation.py                  # every group
    python tools/mutation.py sizing rules     # some groups
    python tools/mutation.py sizing --max-children 1 --timeout 900
    python tools/mutation.py sizing --only 'components.sizing.fit.*'   # a subset (mutmut glob)
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "out" / "mutation"
EQUIVALENT = ROOT / "tests" / "mutation-equivalent.txt"
# What the tests import or read besides `components/` (symlinked into each group's directory).
TREE = ("components", "tests", "planner", "stackctl", "tools", "userdata", "docs", "bench", "__main__.py", "README.md")
KILLED = {"killed", "timeout", "caught by type check"}


@dataclass(frozen=True)
class Group:
    name: str
    modules: tuple[str, ...]  # files mutated
    tests: tuple[str, ...]  # the tests run against them
    target: float  # minimum score, percent


GROUPS = {
    g.name: g
    for g in (
        Group(
            "sizing",
            ("components/sizing/catalog.py", "components/sizing/fit.py", "components/sizing/acs_pods.py"),
            ("tests/unit/test_sizing_exact.py", "tests/unit/test_settings.py", "tests/unit/test_acs_settings.py"),
            85.0,
        ),
        Group(
            "rules",
            (
                "components/config/rules.py",
                "components/config/rules_acs.py",
                "components/config/rules_cloud.py",
                "components/config/rules_observability.py",
            ),
            (
                "tests/unit/test_rules_exact.py",
                "tests/unit/test_rules_acs_exact.py",
                "tests/unit/test_rules_edges.py",
                "tests/unit/test_settings.py",
                "tests/unit/test_acs_settings.py",
            ),
            85.0,
        ),
        Group(
            "vllm_args",
            ("components/common/vllm_args.py",),
            (
                "tests/unit/test_vllm_args_exact.py",
                "tests/unit/test_acs_manifests.py",
                "tests/program/test_cluster.py",
                "tests/program/test_plan_ecs_single.py",
            ),
            100.0,
        ),
        Group(
            "diff",
            ("planner/diff.py",),
            (
                "tests/unit/test_diff_exact.py",
                "tests/program/test_plan_diff_exact.py",
                "tests/program/test_plan_diff.py",
                "tests/program/test_reviewable.py",  # the golden diffs
            ),
            85.0,
        ),
        Group(
            "render",
            ("components/common/scripts.py", "components/ecs/userdata.py"),
            (
                "tests/unit/test_render_exact.py",
                "tests/unit/test_render.py",
                "tests/scripts/test_parameters_sandbox.py",  # the rendered runners, run on a sandboxed host
            ),
            85.0,
        ),
    )
}


def equivalent() -> dict[str, str]:
    """Mutant name -> why it is equivalent, from tests/mutation-equivalent.txt."""
    out = {}
    if EQUIVALENT.exists():
        for line in EQUIVALENT.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                name, _, reason = line.partition(" ")
                out[name] = reason.strip()
    return out


def _toml_list(items: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def prepare(group: Group) -> Path:
    """The group's working directory: symlinks to the tree, its own pyproject.toml."""
    work = WORK / group.name
    work.mkdir(parents=True, exist_ok=True)
    for name in TREE:
        link = work / name
        if not link.is_symlink() and not link.exists():
            link.symlink_to(ROOT / name)
    for stack in ROOT.glob("Pulumi*.yaml"):
        link = work / stack.name
        if not link.is_symlink():
            link.symlink_to(stack)
    # mutmut walks only `source_paths` (and copies the rest of the tree by `also_copy`), so the
    # group's top directories are its source paths: with "components" alone, planner/diff.py was
    # never looked at (0 files mutated).
    sources = tuple(sorted({m.split("/", 1)[0] for m in group.modules}))
    copied = [n for n in TREE if n not in sources] + [p.name for p in ROOT.glob("Pulumi*.yaml")]
    base = (ROOT / "pyproject.toml").read_text()
    base = re.sub(r"(?ms)^\[tool\.mutmut\].*?(?=^\[|\Z)", "", base)  # the repository's defaults are replaced
    (work / "pyproject.toml").write_text(
        base.rstrip()
        + "\n\n[tool.mutmut]\n"
        + f"source_paths = {_toml_list(sources)}\n"
        + f"only_mutate = {_toml_list(group.modules)}\n"
        + f"pytest_add_cli_args_test_selection = {_toml_list(group.tests)}\n"
        + 'pytest_add_cli_args = ["-p", "no:randomly", "-p", "no:cacheprovider", "-q"]\n'
        + f"also_copy = {_toml_list(copied)}\n"
    )
    return work


def mutmut(work: Path, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("mutmut")
    env = {**os.environ, "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}
    return subprocess.run(
        [str(exe), *args], cwd=work, env=env, text=True, capture_output=True, timeout=timeout, check=False
    )


def results(work: Path) -> dict[str, str]:
    """Mutant name -> status, from `mutmut results --all true`."""
    proc = mutmut(work, "results", "--all", "true")
    out = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"^\s+(\S+): (.+)$", line)
        if m:
            out[m[1]] = m[2].strip()
    return out


def score(statuses: dict[str, str], equiv: dict[str, str], only: str | None) -> tuple[int, int, int, list[str]]:
    """(killed, total counted, equivalent left out, survivors)."""
    names = [n for n in statuses if only is None or fnmatch.fnmatch(n, only)]
    eq = [n for n in names if n in equiv]
    counted = [n for n in names if n not in equiv and statuses[n] != "not checked"]
    killed = [n for n in counted if statuses[n] in KILLED]
    survivors = sorted(n for n in counted if statuses[n] not in KILLED)
    return len(killed), len(counted), len(eq), survivors


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("groups", nargs="*", help=f"default: all of {', '.join(GROUPS)}")
    ap.add_argument("--max-children", type=int, default=1, help="mutmut workers (default 1: shared machine)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per group before the run is stopped")
    ap.add_argument("--only", help="mutmut mutant-name glob, e.g. 'components.sizing.fit.*' (a subset)")
    ap.add_argument("--fresh", action="store_true", help="forget the previous run's results")
    ap.add_argument("--survivors", action="store_true", help="list the surviving mutants")
    args = ap.parse_args(argv)
    unknown = [g for g in args.groups if g not in GROUPS]
    if unknown:
        ap.error(f"unknown group(s) {', '.join(unknown)}; groups: {', '.join(GROUPS)}")
    equiv = equivalent()
    rows = []
    failed = False
    for name in args.groups or list(GROUPS):
        group = GROUPS[name]
        work = prepare(group)
        if args.fresh:
            shutil.rmtree(work / "mutants", ignore_errors=True)
        started = time.monotonic()
        run_args = ["run", "--max-children", str(args.max_children)]
        if args.only:
            run_args.append(args.only)
        try:
            proc = mutmut(work, *run_args, timeout=args.timeout)
            note = "" if proc.returncode == 0 else f"mutmut exit {proc.returncode}"
            if proc.returncode != 0:
                sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        except subprocess.TimeoutExpired:
            note = f"stopped after {args.timeout:.0f} s (partial)"
        elapsed = time.monotonic() - started
        killed, counted, eq, survivors = score(results(work), equiv, args.only)
        pct = 100.0 * killed / counted if counted else 0.0
        ok = counted > 0 and pct >= group.target
        failed |= not ok
        rows.append((name, killed, counted, eq, pct, group.target, elapsed, note or ("ok" if ok else "below target")))
        if args.survivors and survivors:
            print(f"# {name}: survivors")
            for s in survivors:
                print(f"    {s}")
    print(f"{'group':<10} {'killed':>6} {'of':>5} {'equiv':>5} {'score':>7} {'target':>6} {'time s':>7}  note")
    for name, killed, counted, eq, pct, target, elapsed, note in rows:
        print(f"{name:<10} {killed:>6} {counted:>5} {eq:>5} {pct:>6.1f}% {target:>5.0f}% {elapsed:>7.0f}  {note}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
