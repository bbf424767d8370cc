"""Parse the `llm:` keys into `Settings`, turning pydantic's errors into problem lines.

On errors, the offending keys (the innermost ones, so their valid siblings stay) are dropped and
the rest parsed again, so that the cross-key rules still run on what is valid and every problem
is reported in one pass.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from components.config.model import SECRET_KEYS, Settings
from components.config.problems import Problem


def _camel_path(loc: tuple) -> str:
    return ".".join(to_camel(p) if isinstance(p, str) else str(p) for p in loc)


def _allowed_for(model: type[BaseModel], loc: tuple) -> str | None:
    """Names the allowed keys of the block an unknown key was found in."""
    cls: Any = model
    for part in loc[:-1]:
        if not isinstance(part, str):
            continue
        field = cls.model_fields.get(part) if hasattr(cls, "model_fields") else None
        if field is None:
            return None
        ann = field.annotation
        for cand in getattr(ann, "__args__", (ann,)):
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                cls = cand
                break
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        return ", ".join(sorted(to_camel(n) for n in cls.model_fields))
    return None


def _problems_from(err: ValidationError) -> list[Problem]:
    out = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if p not in ("function-after",))
        key = _camel_path(loc) if loc else "(top)"
        kind = e["type"]
        if kind == "extra_forbidden":
            out.append(Problem(key, "unknown key", e.get("input"), _allowed_for(Settings, loc)))
        elif kind == "missing":
            out.append(Problem(key, "required key is missing"))
        elif kind == "literal_error":
            out.append(Problem(key, "not an allowed value", e.get("input"), e["ctx"]["expected"]))
        else:
            msg = e["msg"].removeprefix("Value error, ")
            out.append(Problem(key, msg, e.get("input")))
    return out


def _drop(data: dict[str, Any], loc: tuple) -> str | None:
    """Remove the innermost mapping key on `loc` from `data` (in place); return its camel path."""
    node: Any = data
    path: list[str] = []
    target: tuple[dict, str] | None = None
    for part in loc:
        if not isinstance(node, dict):
            break
        key = next((k for k in (part, to_camel(str(part))) if k in node), None)
        if key is None:
            break
        target = (node, key)
        path.append(key)
        node = node[key]
    if target is None:
        return None
    del target[0][target[1]]
    return ".".join(path)


def parse_raw(raw: Mapping[str, Any]) -> tuple[Settings | None, list[Problem]]:
    """Structural parse of the `llm:` keys (namespace stripped, values already JSON-decoded)."""
    data = copy.deepcopy({k: v for k, v in raw.items() if k not in SECRET_KEYS})
    problems: list[Problem] = []
    dropped: set[str] = set()
    while True:
        try:
            return Settings.model_validate(data), problems
        except ValidationError as e:
            # A key dropped for being invalid is then "missing": that is not a second problem.
            problems += [p for p in _problems_from(e) if p.key not in dropped]
            removed = {path for err in e.errors() if (path := _drop(data, tuple(err["loc"])))}
            if not removed:
                return None, problems
            dropped |= removed
