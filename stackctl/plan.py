"""`python -m stackctl plan`: run the real program offline under Pulumi's mock runtime.

No CLI, credentials or network. The config of `Pulumi.<stack>.yaml` is merged over the defaults
declared in `Pulumi.yaml` (as the CLI does); `secure:` values cannot be decrypted offline and
become placeholders. Writes resources.json, outputs.json, files/ and summary.md (DESIGN
section 4). A config error exits 2 and writes nothing.

Options are captured from the wire: the mock monitor sees the same RegisterResourceRequest the
engine would (parent, custom timeouts, ignoreChanges, protect, deleteBeforeReplace); explicit
`depends_on` is taken from a stack transformation, since the request mixes it with the
dependencies implied by inputs.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import runpy
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stackctl import plan_diff, plan_files

PROJECT_DIR = Path(__file__).resolve().parent.parent
SECRET_MASK = "[secret]"
# Stands in for `secure:` config values, which only the CLI can decrypt. It satisfies the
# API-key rules so the program runs as it would with a real key; files show "[secret]".
SECRET_PLACEHOLDER = "PlanPlaceholderSecretValue0000"
# What `cs.get_cluster_credential` returns offline: a kubeconfig whose token tests look for in
# the plan files (it must appear nowhere: the program wraps it as a secret).
MOCK_KUBECONFIG_TOKEN = "mock-kubeconfig-token-0f1e2d3c"
MOCK_KUBECONFIG = f"""apiVersion: v1
kind: Config
clusters:
- name: kubernetes
  cluster:
    server: https://203.0.113.5:6443
    certificate-authority-data: bW9jaw==
contexts:
- name: mock
  context: {{cluster: kubernetes, user: mock}}
current-context: mock
users:
- name: mock
  user: {{token: {MOCK_KUBECONFIG_TOKEN}}}
"""
LB_ANNOTATION = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"


class PlanConfigError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# Config, as the CLI merges it


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


# --------------------------------------------------------------------------------------------
# Running the program under mocks


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


def _mock_state(typ: str, name: str, inputs: dict) -> dict:
    """Computed outputs a real provider would return, with documentation-range addresses."""
    state = dict(inputs)
    if typ == "alicloud:ecs/instance:Instance":
        # Distinct per node: worker-<i> gets .10+i, everything else .10.
        worker = re.search(r"-(\d+)-instance$", name)
        state.setdefault("privateIp", f"192.168.0.{10 + (int(worker[1]) if worker else 0)}")
    elif typ == "alicloud:ecs/eipAddress:EipAddress":
        state.setdefault("ipAddress", "203.0.113.10")
    elif typ == "alicloud:vpc/natGateway:NatGateway":
        state.setdefault("snatTableIds", f"stb-{name}")
        state.setdefault("forwardTableIds", f"ftb-{name}")
    elif typ == "random:index/randomPassword:RandomPassword":
        state.setdefault("result", SECRET_PLACEHOLDER)
    elif typ == "alicloud:cs/managedKubernetes:ManagedKubernetes":
        state.setdefault(
            "connections",
            [{"apiServerIntranet": "https://192.168.0.5:6443", "apiServerInternet": "https://203.0.113.5:6443"}],
        )
        state.setdefault(
            "rrsaMetadata",
            {
                "enabled": True,
                "ramOidcProviderArn": f"acs:ram::1234567890:oidc-provider/ack-rrsa-{name}-id",
                "ramOidcProviderName": f"ack-rrsa-{name}-id",
                "rrsaOidcIssuerUrl": f"https://oidc-ack-mock.example/{name}-id",
            },
        )
    elif typ == "alicloud:ram/role:Role":
        state.setdefault("roleId", f"3{int(hashlib.sha256(name.encode()).hexdigest(), 16) % 10**17:017d}")
        state.setdefault("arn", f"acs:ram::1234567890:role/{inputs.get('roleName', name)}")
    elif typ == "kubernetes:core/v1:Service":
        annotations = (inputs.get("metadata") or {}).get("annotations") or {}
        internet = annotations.get(f"{LB_ANNOTATION}address-type") == "internet"
        state.setdefault(
            "status", {"loadBalancer": {"ingress": [{"ip": "203.0.113.20" if internet else "192.168.0.20"}]}}
        )
    return state


def run_program(stack: str, config_file: Path | None = None, project_dir: Path = PROJECT_DIR) -> PlanResult:
    """Run `__main__.py` under mocks; raise PlanConfigError with the settings' lines on bad config."""
    import pulumi
    from pulumi.runtime import mocks as pmocks
    from pulumi.runtime import rpc
    from pulumi.runtime import settings as psettings
    from pulumi.runtime.config import set_all_config
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    project = load_project(project_dir)["name"]
    cfg, secret_keys = merged_config(project_dir, config_file or project_dir / f"Pulumi.{stack}.yaml")
    result = PlanResult(stack=stack, project=project, config=cfg, secret_keys=secret_keys)

    depends_on: dict[str, list[str]] = {}  # name -> explicit depends_on names (by transformation)

    class Mocks(pmocks.Mocks):
        def new_resource(self, args: pmocks.MockResourceArgs):
            return f"{args.name}-id", _mock_state(args.typ, args.name, _unwrap(args.inputs))

        def call(self, args: pmocks.MockCallArgs):
            if args.token == "alicloud:ecs/getImages:getImages":
                img = {"id": "m-mock-alinux3-latest", "name": "aliyun_3_x64_20G_alibase_mock.vhd"}
                return {"images": [img], "ids": [img["id"]], "id": "images"}, []
            if args.token == "alicloud:cs/getClusterCredential:getClusterCredential":
                cluster_id = args.args.get("clusterId", "")
                return {
                    "id": cluster_id, "clusterId": cluster_id, "clusterName": "mock", "kubeConfig": MOCK_KUBECONFIG,
                    "expiration": "2030-01-01T00:00:00Z", "certificateAuthorities": [],
                    "temporaryDurationMinutes": args.args.get("temporaryDurationMinutes"),
                }, []  # fmt: skip
            return {}, []

    class Monitor(pmocks.MockMonitor):
        def RegisterResource(self, request):
            resp = super().RegisterResource(request)
            if request.type == "pulumi:pulumi:Stack":
                return resp
            opts: dict[str, Any] = {}
            ct = request.customTimeouts
            timeouts = {k: getattr(ct, k) for k in ("create", "update", "delete") if getattr(ct, k)}
            if timeouts:
                opts["customTimeouts"] = timeouts
            if list(request.ignoreChanges):
                opts["ignoreChanges"] = list(request.ignoreChanges)
            if request.HasField("protect") and request.protect:
                opts["protect"] = True
            if request.deleteBeforeReplace:
                opts["deleteBeforeReplace"] = True
            result.records.append(
                Record(
                    type=request.type,
                    name=request.name,
                    urn=resp.urn,
                    parent_urn=request.parent,
                    custom=request.custom,
                    inputs_raw=rpc.deserialize_properties(request.object),
                    options=opts,
                    provider=request.provider,
                )
            )
            return resp

    def capture_depends_on(args: pulumi.ResourceTransformationArgs):
        names = [d._name for d in (args.opts.depends_on or []) if isinstance(d, pulumi.Resource)]  # type: ignore[union-attr]
        if names:
            depends_on[args.name] = names
        return None

    # The config check runs before the mock runtime is set up: a bad config stops here, leaving
    # no half-configured runtime behind for the next plan in the same process.
    set_all_config(cfg, secret_keys)
    _check_config_first()

    mocks = Mocks()
    # A fresh event loop and root stack per run, so that plans can run one after another in one
    # process (tests), even after code that closed the current loop (asyncio.run does).
    _fresh_event_loop()
    psettings.ROOT.set(None)
    pmocks.set_mocks(mocks, project=project, stack=stack, preview=True, monitor=Monitor(mocks))
    set_all_config(cfg, secret_keys)
    pulumi.runtime.register_stack_transformation(capture_depends_on)

    sys.path.insert(0, str(project_dir))
    old_cwd = os.getcwd()
    os.chdir(project_dir)
    try:

        def program() -> None:
            runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")

        _sync_await(run_pulumi_func(program))
        root = psettings.get_root_resource()
        for name, value in (root.outputs if root is not None else {}).items():  # type: ignore[attr-defined]
            out = pulumi.Output.from_input(value)
            result.outputs[name] = (
                _sync_await(out.future(with_unknowns=True)),
                bool(_sync_await(out.is_secret())),
            )
    finally:
        os.chdir(old_cwd)
        sys.path.remove(str(project_dir))
    # Registration order depends on when each input resolves: sort for stable files.
    result.records.sort(key=lambda r: r.urn)
    for rec in result.records:
        if rec.name in depends_on:
            rec.options["dependsOn"] = depends_on[rec.name]
    return result


def _fresh_event_loop() -> None:
    """Install a new event loop and close the one it replaces (unclosed loops left for the
    interpreter's shutdown can print "Exception ignored in BaseEventLoop.__del__")."""
    try:
        old: asyncio.AbstractEventLoop | None = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:  # set to None by asyncio.run()
        old = None
    asyncio.set_event_loop(asyncio.new_event_loop())
    if old is not None and not old.is_running() and not old.is_closed():
        old.close()


def _check_config_first() -> None:
    """The same check the program makes, so a bad config stops before anything is declared."""
    from components.config import resolve_engine_config
    from components.settings import ConfigError

    try:
        resolve_engine_config()
    except ConfigError as e:
        raise PlanConfigError(str(e)) from None


def _unwrap(v: Any) -> Any:
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(v):
        return _unwrap(rpc.unwrap_rpc_secret(v))
    if isinstance(v, dict):
        return {k: _unwrap(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_unwrap(x) for x in v]
    return v


def mask(v: Any) -> Any:
    """Secrets as "[secret]", integral floats as integers (the engine sends numbers as floats)."""
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(v):
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
        out.append(
            {
                "type": r.type,
                "name": r.name,
                "urn": r.urn,
                "parent": names.get(r.parent_urn),
                "inputs": mask(r.inputs_raw),
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
    (out_dir / "summary.md").write_text(plan_files.summary(result.stack, resources, outputs))


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
