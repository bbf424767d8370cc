"""The stack config as the Pulumi CLI would hand it to the program, merged offline.

`Pulumi.<stack>.yaml` over the defaults declared in `Pulumi.yaml` (the CLI merges them, not the
SDK); `secure:` values cannot be decrypted offline and become a placeholder that satisfies the
API-key rules, so the program runs as it would with a real key (files show "[secret]").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

SECRET_PLACEHOLDER = "PlanPlaceholderSecretValue0000"


class PlanConfigError(Exception):
    pass


def load_project(project_dir: Path) -> dict:
    return yaml.safe_load((project_dir / "Pulumi.yaml").read_text())


def merged_config(project_dir: Path, stack_file: Path) -> tuple[dict[str, str], list[str]]:
    """Engine-shaped config: `ns:key` -> string (objects as JSON), plus the secret keys."""
    project = load_project(project_dir)
    name = project["name"]
    values: dict[str, Any] = {}
    for key, decl in (project.get("config") or {}).items():
        full = key if ":" in key else f"{name}:{key}"
        if isinstance(decl, dict) and "default" in decl:
            values[full] = decl["default"]
        elif not isinstance(decl, dict):
            values[full] = decl
    if not stack_file.exists():
        raise PlanConfigError(f"stack file not found: {stack_file}")
    stack = yaml.safe_load(stack_file.read_text()) or {}
    secret_keys = []
    for key, value in (stack.get("config") or {}).items():
        full = key if ":" in key else f"{name}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            value = SECRET_PLACEHOLDER
            secret_keys.append(full)
        values[full] = value
    return {k: _engine_value(v) for k, v in values.items()}, secret_keys


def _engine_value(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(v)


def check_config(cfg: dict[str, str], secret_keys: list[str]) -> None:
    """The same check the program makes, so a bad config stops before anything is declared."""
    from pulumi.runtime.config import set_all_config

    from components.config.load import resolve_engine_config
    from components.config.problems import ConfigError

    set_all_config(cfg, secret_keys)
    try:
        resolve_engine_config()
    except ConfigError as e:
        raise PlanConfigError(str(e)) from None
