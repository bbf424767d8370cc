"""A problem with the stack config, as one line: `llm:<key>: <what> (got X; allowed Y)`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

NAMESPACE = "llm"


@dataclass(frozen=True)
class Problem:
    key: str
    what: str
    got: Any = None
    allowed: Any = None

    def __str__(self) -> str:
        extra = []
        if self.got is not None:
            extra.append(f"got {_short(self.got)}")
        if self.allowed is not None:
            extra.append(f"allowed {self.allowed}")
        tail = f" ({'; '.join(extra)})" if extra else ""
        return f"{NAMESPACE}:{self.key}: {self.what}{tail}"


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _short(v: Any) -> str:
    s = json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else repr(v)
    return s if len(s) <= 80 else s[:77] + "..."
