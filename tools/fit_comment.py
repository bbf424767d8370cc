"""Fit a Markdown PR comment into GitHub's limit: `python tools/fit_comment.py FULL OUT`.

GitHub refuses an issue or PR comment body over 65,536 characters. The whole text stays in FULL
(uploaded as a workflow artifact); OUT gets it unchanged when it fits, else cut at a line
boundary with any open code fence and <details> closed and a note saying where the rest is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

GITHUB_COMMENT_MAX = 65_536
# Room for the sticky-comment action's hidden header marker and the note.
MARGIN = 1_536
NOTE = (
    "\n\n---\n**Truncated** to fit GitHub's comment limit ({limit:,} characters): the full diff "
    "({total:,} characters) is the `offline-plan-diff` artifact of this workflow run.\n"
)


def fit(text: str, limit: int = GITHUB_COMMENT_MAX) -> str:
    if len(text) <= limit - MARGIN:
        return text
    budget = limit - MARGIN
    cut = text.rfind("\n", 0, budget)
    head = text[: cut if cut > 0 else budget]
    closing = ""
    if head.count("```") % 2:
        closing += "\n```"
    opened = head.count("<details>") - head.count("</details>")
    closing += "\n\n</details>" * max(opened, 0)
    out = head + closing + NOTE.format(limit=limit, total=len(text))
    assert len(out) <= limit
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("full", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--limit", type=int, default=GITHUB_COMMENT_MAX)
    args = p.parse_args(argv)
    text = args.full.read_text(encoding="utf-8")
    fitted = fit(text, args.limit)
    args.out.write_text(fitted, encoding="utf-8")
    if fitted != text:
        print(f"comment truncated: {len(text)} -> {len(fitted)} characters", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
