"""`python -m stackctl plan`: run the real program offline under Pulumi's mock runtime.

No CLI, credentials or network. The config of `Pulumi.<stack>.yaml` is merged over the defaults
declared in `Pulumi.yaml` (as the CLI does; `planner/config.py`). Writes resources.json,
outputs.json, files/ and summary.md (DESIGN section 4). A config error exits 2 and writes nothing.

Options are captured from the wire (`planner/mocks.py`): the mock monitor sees the same
RegisterResourceRequest the engine would (parent, custom timeouts, ignoreChanges, protect,
deleteBeforeReplace); explicit `depends_on` is taken from a stack transformation, since the
request mixes it with the dependencies implied by inputs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner import diff as plan_diff
from planner import files as plan_files
from planner import summary as plan_summary
from planner.config import SECRET_PLACEHOLDER, PlanConfigError, check_config, load_project, merged_config
from planner.mocks import MOCK_KUBECONFIG, MOCK_KUBECONFIG_TOKEN, run_under_mocks

__all__ = ["MOCK_KUBECONFIG", "MOCK_KUBECONFIG_TOKEN", "SECRET_PLACEHOLDER", "PlanConfigError", "run_program"]

PROJECT_DIR = Path(__file__).resolve().parent.parent
SECRET_MASK = "[secret]"
# A dynamic resource's `__provider` input is its provider pickled (dill, Base64) and sent as a
# secret: neither readable nor a user secret, so the plan names it instead of masking it.
DYNAMIC_PROVIDER_KEY = "__provider"
DYNAMIC_PROVIDER_MASK = "[pickled dynamic provider]"


@dataclass
class Record:
    type: str
    name: str
    urn: str
    parent_urn: str
    custom: bool
    inputs_raw: dict  # with secret wrappers, as the monitor received them
    options: dict
    provider: str = ""


@dataclass
class PlanResult:
    stack: str
    project: str
    records: list[Record] = field(default_factory=list)
    outputs: dict[str, tuple[Any, bool]] = field(default_factory=dict)  # name -> (value, secret)
    config: dict[str, str] = field(default_factory=dict)
    secret_keys: list[str] = field(default_factory=list)

    def by_urn(self) -> dict[str, Record]:
        return {r.urn: r for r in self.records}


def run_program(stack: str, config_file: Path | None = None, project_dir: Path = PROJECT_DIR) -> PlanResult:
    """Run `__main__.py` under mocks; raise PlanConfigError with the settings' lines on bad config."""
    project = load_project(project_dir)["name"]
    cfg, secret_keys = merged_config(project_dir, config_file or project_dir / f"Pulumi.{stack}.yaml")
    result = PlanResult(stack=stack, project=project, config=cfg, secret_keys=secret_keys)
    # The config check runs before the mock runtime is set up: a bad config stops here, leaving
    # no half-configured runtime behind for the next plan in the same process.
    check_config(cfg, secret_keys)

    def on_register(
        typ: str, name: str, urn: str, parent: str, custom: bool, inputs: dict, opts: dict, provider: str
    ) -> None:
        result.records.append(Record(typ, name, urn, parent, custom, inputs, opts, provider))

    result.outputs, depends_on = run_under_mocks(project_dir, project, stack, cfg, secret_keys, on_register)
    # Registration order depends on when each input resolves: sort for stable files.
    result.records.sort(key=lambda r: r.urn)
    for rec in result.records:
        if rec.name in depends_on:
            rec.options["dependsOn"] = depends_on[rec.name]
    return result


def mask(v: Any) -> Any:
    """Secrets as "[secret]", integral floats as integers (the engine sends numbers as floats).

    A secret map (a Kubernetes Secret's `stringData`: pulumi-kubernetes marks the whole map
    secret) keeps its keys, each value masked: the plan's manifest stays a valid object whose
    shape a reviewer can read; the keys are names, never the secret."""
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(v):
        inner = rpc.unwrap_rpc_secret(v)
        if isinstance(inner, dict) and inner and all(isinstance(k, str) for k in inner):
            return {k: SECRET_MASK for k in inner}
        return SECRET_MASK
    if isinstance(v, dict):
        return {k: mask(x) for k, x in v.items()}
    if isinstance(v, list):
        return [mask(x) for x in v]
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


# --------------------------------------------------------------------------------------------
# Writing the plan


def resources_json(result: PlanResult) -> list[dict]:
    names = {r.urn: r.name for r in result.records}
    out = []
    for r in result.records:
        inputs = mask(r.inputs_raw)
        if r.type.startswith("pulumi-python:dynamic") and DYNAMIC_PROVIDER_KEY in inputs:
            inputs[DYNAMIC_PROVIDER_KEY] = DYNAMIC_PROVIDER_MASK
        out.append(
            {
                "type": r.type,
                "name": r.name,
                "urn": r.urn,
                "parent": names.get(r.parent_urn),
                "inputs": inputs,
                "options": r.options,
            }
        )
    return out


def outputs_json(result: PlanResult) -> dict:
    return {k: (SECRET_MASK if secret else mask(v)) for k, (v, secret) in sorted(result.outputs.items())}


def write_plan(result: PlanResult, out_dir: Path) -> None:
    if out_dir.exists():
        shutil.rmtree(out_dir)
    (out_dir / "files").mkdir(parents=True)
    resources = resources_json(result)
    (out_dir / "resources.json").write_text(json.dumps(resources, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    outputs = outputs_json(result)
    (out_dir / "outputs.json").write_text(json.dumps(outputs, indent=2, ensure_ascii=False) + "\n")
    for rel, text in plan_files.artefacts(resources).items():
        path = out_dir / "files" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (out_dir / "summary.md").write_text(plan_summary.summary(result.stack, resources, outputs))


# --------------------------------------------------------------------------------------------
# CLI


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", required=True, help="stack name (reads Pulumi.<stack>.yaml)")
    p.add_argument("--out", required=True, type=Path, help="directory to write the plan into")
    p.add_argument("--config-file", type=Path, help="another stack file instead of Pulumi.<stack>.yaml")
    p.add_argument("--diff", type=Path, metavar="OLD_DIR", help="compare with an earlier plan")
    p.add_argument("--json", action="store_true", help="with --diff: JSON instead of Markdown")
    p.add_argument("--exit-code", action="store_true", help="with --diff: exit 1 when plans differ")


def run(args: argparse.Namespace) -> int:
    if args.diff is not None and not (args.diff / "resources.json").exists():
        print(f"--diff: no plan at {args.diff} (resources.json missing)", file=sys.stderr)
        return 2
    try:
        result = run_program(args.stack, args.config_file)
    except PlanConfigError as e:
        print(str(e), file=sys.stderr)
        return 2
    write_plan(result, args.out)
    asyncio.get_event_loop_policy().get_event_loop().close()  # done with the mock runtime
    if args.diff is None:
        print(f"plan of stack '{args.stack}': {len(result.records)} resources -> {args.out}")
        return 0
    d = plan_diff.diff_dirs(args.diff, args.out)
    print(json.dumps(d, indent=2) if args.json else plan_diff.markdown(d))
    return 1 if (args.exit_code and plan_diff.differs(d)) else 0
