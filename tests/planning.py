"""Helpers to run the offline plan in-process on the example stacks or on variations of them."""

from __future__ import annotations

import copy
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


def resources(result: plan.PlanResult) -> list[dict]:
    return plan.resources_json(result)


def by_name(result: plan.PlanResult) -> dict[str, dict]:
    return {r["name"]: r for r in plan.resources_json(result)}


def of_type(result: plan.PlanResult, type_: str) -> list[dict]:
    return [r for r in plan.resources_json(result) if r["type"] == type_]
