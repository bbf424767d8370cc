"""The tree shows the architecture: shapes apart, no import circles, small modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ROOT / "components"
MAX_LINES = 450
MAX_TOP_LEVEL_MODULES = 8


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """`components.*` modules this file imports (absolute imports; `from pkg import mod` counts mod)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("components")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("components"):
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def import_graph(root: Path = COMPONENTS) -> dict[str, set[str]]:
    files = {module_name(p): p for p in root.rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in files and m != name} for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle found by a depth-first walk (each reported once, as a path)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                found.append(stack[stack.index(m) :] + [m])
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    return found


def crossings(graph: dict[str, set[str]], a: str, b: str) -> list[tuple[str, str]]:
    return sorted((n, m) for n, ms in graph.items() if n.startswith(a) for m in ms if m.startswith(b))


def test_ecs_and_acs_never_import_each_other():
    g = import_graph()
    assert crossings(g, "components.ecs", "components.acs") == []
    assert crossings(g, "components.acs", "components.ecs") == []


def test_no_import_circle_in_components():
    assert cycles(import_graph()) == []


def test_checks_catch_planted_violations():
    """The two checks above would fail on a circle or a crossing (so they can fail at all)."""
    planted = {"components.ecs.a": {"components.acs.b"}, "components.acs.b": {"components.ecs.a"}}
    assert crossings(planted, "components.ecs", "components.acs") == [("components.ecs.a", "components.acs.b")]
    assert cycles(planted) == [["components.acs.b", "components.ecs.a", "components.acs.b"]]


def test_module_sizes_and_top_level():
    too_long = {
        str(p.relative_to(ROOT)): n
        for p in COMPONENTS.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert too_long == {}
    top = [p.name for p in COMPONENTS.glob("*.py")]
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


@pytest.mark.parametrize("package", ["config", "sizing", "common", "ecs", "acs"])
def test_packages_exist(package):
    assert (COMPONENTS / package / "__init__.py").is_file()


def test_pure_modules_do_not_import_pulumi():
    """Settings, sizing and manifest builders are pure: tests and tools use them without a runtime."""
    pure = [*COMPONENTS.glob("config/*.py"), *COMPONENTS.glob("sizing/*.py"), *COMPONENTS.glob("acs/manifests/*.py")]
    pure = [p for p in pure if p.name != "load.py"]  # load.py reads the engine's config
    offenders = []
    for p in pure:
        tree = ast.parse(p.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [f"{p.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0].startswith("pulumi")]
    assert offenders == []


def test_config_and_sizing_do_not_depend_on_a_shape():
    """The settings are read before a shape is chosen: they import neither shape package."""
    g = import_graph()
    for pkg in ("components.config", "components.sizing"):
        assert crossings(g, pkg, "components.ecs") == [] and crossings(g, pkg, "components.acs") == []
