"""Every example stack's plan matches its golden files (regenerate: `make golden`)."""

from __future__ import annotations

import pytest

from planner import run as plan
from tests.regenerate_golden import GOLDEN, example_stacks


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_example_stack_has_golden_files():
    assert example_stacks(), "no Pulumi.*.yaml"
    assert sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()) == example_stacks()


@pytest.mark.parametrize("stack", example_stacks())
def test_plan_matches_golden(tmp_path, stack):
    plan.write_plan(plan.run_program(stack), tmp_path / stack)
    got, want = _files(tmp_path / stack), _files(GOLDEN / stack)
    assert sorted(got) == sorted(want), "files differ: run `make golden` and review the diff"
    for name in want:
        assert got[name] == want[name], f"{stack}/{name} differs from its golden file: run `make golden` and review"
