"""Generate the README's configuration table from the settings model (the single source of truth).

`python -m stackctl.docs` rewrites the table between the markers in README.md; a test fails when
the README and the model disagree.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticUndefined

from components.config.model import SECRET_KEYS, Settings

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- config-table:start -->", "<!-- config-table:end -->"


def _type_name(ann) -> str:
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is typing.Union or origin is types.UnionType:
        return " or ".join(_type_name(a) for a in args if a is not type(None))
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (list, dict):
        return f"{origin.__name__} of {', '.join(_type_name(a) for a in args)}"
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return "object"
    return getattr(ann, "__name__", str(ann))


def _block(ann) -> type[BaseModel] | None:
    for a in typing.get_args(ann) or (ann,):
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
    return None


def rows(model: type[BaseModel] = Settings, prefix: str = "llm:") -> list[tuple[str, str, str, str]]:
    out = []
    for name, f in model.model_fields.items():
        key = prefix + to_camel(name)
        if f.is_required():
            default = "required"
        elif f.default_factory is not None:
            default = "see below" if _block(f.annotation) else json.dumps(f.default_factory())  # type: ignore[call-arg]
        elif f.default is None or f.default is PydanticUndefined:
            default = "derived" if f.description and "default" in f.description else "unset"
        else:
            default = f"`{json.dumps(f.default)}`"
        out.append((key, _type_name(f.annotation), default, f.description or ""))
        sub = _block(f.annotation)
        if sub is not None:
            out += rows(sub, key + ".")
    return out


def table() -> str:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, typ, default, desc in rows():
        lines.append(f"| `{key}` | {typ} | {default} | {desc.replace('|', '/')} |")
    for key, desc in SECRET_KEYS.items():
        lines.append(
            f"| `llm:{key}` | secret string | generated | {desc}; set with `pulumi config set --secret llm:{key}` |"
        )
    return "\n".join(lines) + "\n"


def render_readme(text: str) -> str:
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{table()}{END}{tail}"


def main() -> int:
    README.write_text(render_readme(README.read_text()))
    print(f"updated the configuration table in {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
