"""`make mutation` (tools/mutation.py): each group's mutmut configuration and the score arithmetic.

mutmut itself is too slow for the suite; these pin what made a group measure nothing once (its
modules outside mutmut's `source_paths`: "0 files mutated") and how the score is counted.
"""

from __future__ import annotations

import tomllib

import pytest

from tools import mutation

ROOT = mutation.ROOT


@pytest.mark.parametrize("name", sorted(mutation.GROUPS))
def test_every_group_names_files_that_exist(name):
    g = mutation.GROUPS[name]
    assert g.modules and g.tests
    for path in g.modules + g.tests:
        assert (ROOT / path).is_file(), path
    assert g.target >= 85.0
    assert mutation.GROUPS["vllm_args"].target == 100.0


@pytest.mark.parametrize("name", sorted(mutation.GROUPS))
def test_the_groups_modules_are_inside_mutmuts_source_paths(tmp_path, monkeypatch, name):
    monkeypatch.setattr(mutation, "WORK", tmp_path)
    work = mutation.prepare(mutation.GROUPS[name])
    cfg = tomllib.loads((work / "pyproject.toml").read_text())["tool"]["mutmut"]
    for module in mutation.GROUPS[name].modules:
        assert any(module.startswith(f"{src}/") for src in cfg["source_paths"]), (module, cfg["source_paths"])
    assert cfg["only_mutate"] == list(mutation.GROUPS[name].modules)
    assert cfg["pytest_add_cli_args_test_selection"] == list(mutation.GROUPS[name].tests)
    # everything else the tests read is copied, and no source path is copied over itself
    assert not set(cfg["source_paths"]) & set(cfg["also_copy"])
    assert set(cfg["source_paths"]) | set(cfg["also_copy"]) >= set(mutation.TREE)
    assert (work / "components").resolve() == ROOT / "components"


def test_the_diff_group_mutates_the_planner():
    # the regression: with source_paths = ["components"], planner/diff.py was never walked
    assert mutation.GROUPS["diff"].modules == ("planner/diff.py",)


def test_score_counts_timeouts_as_killed_and_leaves_out_equivalents():
    statuses = {
        "m.a__mutmut_1": "killed",
        "m.a__mutmut_2": "timeout",
        "m.a__mutmut_3": "survived",
        "m.a__mutmut_4": "no tests",
        "m.a__mutmut_5": "survived",
        "m.a__mutmut_6": "not checked",
        "m.b__mutmut_1": "caught by type check",
    }
    killed, counted, eq, survivors = mutation.score(statuses, {"m.a__mutmut_5": "why"}, None)
    assert (killed, counted, eq) == (3, 5, 1)
    assert survivors == ["m.a__mutmut_3", "m.a__mutmut_4"]  # "no tests" is a survivor, not left out
    assert mutation.score(statuses, {}, "m.b*") == (1, 1, 0, [])


def test_every_equivalent_mutant_has_a_reason_and_a_group():
    equiv = mutation.equivalent()
    assert equiv, "tests/mutation-equivalent.txt lists none"
    modules = {m.removesuffix(".py").replace("/", ".") for g in mutation.GROUPS.values() for m in g.modules}
    for name, reason in equiv.items():
        assert len(reason) >= 20, name
        module = name.split(".x_", 1)[0]
        assert module in modules, name
