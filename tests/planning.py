"""Helpers to run the offline plan in-process on the example stacks or on variations of them."""

from __future__ import annotations

import base64
import copy
import functools
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from planner import run as plan

ROOT = Path(__file__).resolve().parent.parent


def stack_config(stack: str = "dev") -> dict[str, Any]:
    return yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]


def with_changes(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Copy of a stack config with `llm:` keys replaced; nested dicts merged one level deep."""
    cfg = copy.deepcopy(base)
    for key, value in changes.items():
        full = f"llm:{key}"
        if isinstance(value, dict) and isinstance(cfg.get(full), dict):
            cfg[full] = {**cfg[full], **value}
        elif value is None:
            cfg.pop(full, None)
        else:
            cfg[full] = value
    return cfg


def write_stack(tmp: Path, config: dict[str, Any], name: str = "test") -> Path:
    path = tmp / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": config}, allow_unicode=True))
    return path


def run(tmp: Path, config: dict[str, Any] | None = None, stack: str = "dev") -> plan.PlanResult:
    cfg_file = write_stack(tmp, config) if config is not None else None
    return plan.run_program(stack, cfg_file)


@functools.cache
def _example_resources(stack: str) -> tuple[dict, ...]:
    return tuple(plan.resources_json(plan.run_program(stack)))


def example_resources(stack: str) -> list[dict]:
    """resources.json of an example stack's plan, planned once per test process (a copy)."""
    return copy.deepcopy(list(_example_resources(stack)))


def resources(result: plan.PlanResult) -> list[dict]:
    return plan.resources_json(result)


def by_name(result: plan.PlanResult) -> dict[str, dict]:
    return {r["name"]: r for r in plan.resources_json(result)}


def of_type(result: plan.PlanResult, type_: str) -> list[dict]:
    return [r for r in plan.resources_json(result) if r["type"] == type_]


_PARAM_FILE = re.compile(r"^cat >\"\$p/([^\"]+)\" <<'LLM_PARAM_EOF'\n\{\{([A-Za-z0-9_-]+)\}\}\nLLM_PARAM_EOF$", re.M)


def phase_content(res: dict[str, dict], phase: str) -> str:
    """The decoded (static) command content of a phase (`serving`, `model-sync`, `ray`, ...)."""
    return base64.b64decode(res[f"{phase}-command"]["inputs"]["commandContent"]).decode()


def phase_env(res: dict[str, dict], phase: str) -> dict[str, str]:
    """Every LLM_* variable a phase's script sees: the content's constants and its invocation's
    parameters as userdata/lib/params.sh exports them."""
    from components.common import scripts

    content = phase_content(res, phase)
    env: dict[str, str] = {}
    for line in content.splitlines():
        if line.startswith("export LLM_"):
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    targets = {name: target for target, name in _PARAM_FILE.findall(content)}
    params = res[f"{phase}-invocation"]["inputs"].get("parameters") or {}
    assert set(targets) == set(params), (targets, params)
    return env | scripts.decode_params(targets, params)


def phase_text(res: dict[str, dict], phase: str) -> str:
    """The phase as one text to search: its env as `export` lines (release 1's form), then the content."""
    from components.common import scripts

    return scripts.env_block(phase_env(res, phase)) + phase_content(res, phase)


def planted(
    name: str, type_: str, inputs: dict | None = None, parent: str | None = None, options: dict | None = None
) -> dict[str, Any]:
    """One resource as resources.json lists it, for a plan diff built by hand."""
    return {"urn": f"urn:pulumi:s::p::{type_}::{name}", "name": name, "type": type_, "parent": parent,
            "inputs": inputs or {}, "options": options or {}}  # fmt: skip
