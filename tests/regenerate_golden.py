"""Regenerate the golden plans under tests/golden/<stack>/ and the `plan --diff` outputs under
tests/golden-diff/ (tests/golden_diff.py): `make golden`.

Run after an intended change, then review `git diff tests/golden` like any other change.
"""

from __future__ import annotations

import sys
from pathlib import Path

from planner import run as plan

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"


def example_stacks() -> list[str]:
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in ROOT.glob("Pulumi.*.yaml"))


def main() -> int:
    for stack in example_stacks():
        plan.write_plan(plan.run_program(stack), GOLDEN / stack)
        print(f"wrote {GOLDEN / stack}")
    from tests import golden_diff

    golden_diff.write_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
