"""Physical names: global in the account, so they carry the stack name (DESIGN section 2)."""

from __future__ import annotations

import re

import pulumi


def physical_prefix(stack: str | None = None) -> str:
    """`llm-<stack>`, as the seed names its instances; lower-case, [a-z0-9-] only."""
    stack = stack if stack is not None else pulumi.get_stack()
    return "llm-" + re.sub(r"[^a-z0-9-]+", "-", stack.lower()).strip("-")


def merge_tags(base: dict[str, str], stack: str | None = None) -> dict[str, str]:
    stack = stack if stack is not None else pulumi.get_stack()
    return {"managed-by": "pulumi", "llm-stack": stack, **base}
