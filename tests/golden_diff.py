"""`plan --diff` golden outputs (tests/golden-diff/<case>.md and .json): `make golden`.

Each case changes one example stack's config and diffs the plan against the unchanged stack's,
as a reviewer would see it in the pull request comment.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from planner import diff as plan_diff
from planner import run as plan
from tests import planning as P

GOLDEN_DIFF = Path(__file__).resolve().parent / "golden-diff"

# case -> (stack, llm: changes)
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "max-model-len": ("dev", {"vllm": {"maxModelLen": 16384}}),
    "image": ("dev", {"vllm": {"image": "egs-registry.cn-hangzhou.cr.aliyuncs.com/egs/vllm:0.9.1-pytorch2.7-cu128-20250612"}}),
    "model": ("dev", {
        "model": "deepseek-r1-distill-qwen-1.5b",
        "modelSource": {"uri": "oss://my-llm-weights/deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B/"},
    }),
    "cluster-nodes": ("prod", {"cluster": {"nodes": 3}}),
    "instance-replaced": ("dev", {"billing": {"spot": True}}),
    "no-change": ("dev", {}),
}  # fmt: skip

_BASE: dict[str, list[dict]] = {}


def diff_of(case: str) -> dict[str, Any]:
    stack, changes = CASES[case]
    if stack not in _BASE:
        _BASE[stack] = plan.resources_json(plan.run_program(stack))
    with tempfile.TemporaryDirectory() as tmp:
        new = plan.resources_json(P.run(Path(tmp), P.with_changes(P.stack_config(stack), **changes), stack=stack))
    return plan_diff.diff_resources(_BASE[stack], new)


def render(case: str) -> tuple[str, str]:
    d = diff_of(case)
    return plan_diff.markdown(d), json.dumps(d, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write_all() -> None:
    GOLDEN_DIFF.mkdir(exist_ok=True)
    for case in CASES:
        md, js = render(case)
        (GOLDEN_DIFF / f"{case}.md").write_text(md)
        (GOLDEN_DIFF / f"{case}.json").write_text(js)
        print(f"wrote {GOLDEN_DIFF / case}.md/.json")
