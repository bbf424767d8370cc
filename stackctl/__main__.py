"""`python -m stackctl <command>`: the operator's entry point.

Each command lives in its own module exposing `configure(parser)` and `run(args) -> int`;
modules are imported only when their command runs, so `plan` never pays for `openai`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "plan": ("planner.run", "run the program offline under Pulumi mocks and write a plan"),
    "smoke": ("stackctl.smoke", "send one real chat completion to the endpoint and time it"),
    "bench": ("stackctl.loadtest", "bounded load test of the endpoint"),
    "logs": ("stackctl.logs", "show the last Cloud Assistant invocation results per node"),
    "preflight": ("stackctl.preflight", "read-only checks of the stack against the real account"),
    "sweep": ("stackctl.sweep", "list what a destroyed stack left behind (tag llm-stack, name llm-<stack>)"),
    "top": ("stackctl.top", "live view of the endpoint's vLLM /metrics (requests, tokens/s, TTFT/TPOT, KV cache)"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m stackctl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    # Only the chosen command's module is imported.
    chosen = argv[0] if argv and argv[0] in COMMANDS else None
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        if name == chosen:
            importlib.import_module(module).configure(p)
    args = parser.parse_args(argv)
    if chosen is None:  # pragma: no cover - argparse exits before this
        return 2
    return int(importlib.import_module(COMMANDS[chosen][0]).run(args))


if __name__ == "__main__":
    sys.exit(main())
