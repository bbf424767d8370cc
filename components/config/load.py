"""Read the `llm:` stack config once and turn it into the plan, or a RunError."""

from __future__ import annotations

import json
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from components.config.plans import Plan
from components.config.problems import NAMESPACE, ConfigError
from components.config.resolve import resolve


def raw_namespace() -> dict[str, Any]:
    """Every `llm:` key the engine passed (including unknown ones, which are errors)."""
    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    out: dict[str, Any] = {}
    for full in sorted(keys):
        ns, _, key = full.partition(":")
        if ns != NAMESPACE or not key:
            continue
        value = runtime_config.get_config(full)
        # The engine passes objects and arrays as JSON text; scalars as plain strings, which the
        # settings model coerces ("32768" -> 32768, "true" -> True).
        if isinstance(value, str) and value[:1] in "{[":
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        out[key] = value
    return out


def resolve_engine_config() -> Plan:
    """The settings the engine's config resolves to; ConfigError lists every problem."""
    raw = raw_namespace()
    plain_key = raw.get("apiKey")
    return resolve(raw, api_key=plain_key if isinstance(plain_key, str) else None)


def load() -> tuple[Plan, pulumi.Output[str] | None]:
    """Plan settings and the API key (a secret Output, or None to generate one)."""
    try:
        resolved = resolve_engine_config()
    except ConfigError as e:
        # Same lines as `stackctl plan` prints; raised before any resource is declared.
        raise pulumi.RunError("invalid stack configuration:\n" + str(e)) from None
    return resolved, pulumi.Config(NAMESPACE).get_secret("apiKey")
