"""Pulumi's mock runtime, set up for one offline run of the program, and what the mocks answer.

Everything that touches the SDK's internals (the event loop, the root stack, running the
program function, the monitor's wire requests) is here and nowhere else in the planner.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import runpy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from planner.config import SECRET_PLACEHOLDER

MOCK_ACCOUNT_ID = "1234567890"
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


def _unwrap(v: Any) -> Any:
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(v):
        return _unwrap(rpc.unwrap_rpc_secret(v))
    if isinstance(v, dict):
        return {k: _unwrap(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_unwrap(x) for x in v]
    return v


def _mock_state(typ: str, name: str, inputs: dict) -> dict:
    """Computed outputs a real provider would return, with documentation-range addresses."""
    state = dict(inputs)
    if typ == "alicloud:ecs/instance:Instance":
        # Distinct per node: worker-<i> gets .10+i, everything else .10; replica-<r> adds 20 x r.
        worker = re.search(r"worker-(\d+)-instance$", name)
        replica = re.match(r"replica-(\d+)", name)
        n = 10 + (int(worker[1]) if worker else 0) + (20 * int(replica[1]) if replica else 0)
        state.setdefault("privateIp", f"192.168.0.{n}")
    elif typ == "alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer":
        state.setdefault("address", "203.0.113.30" if inputs.get("addressType") == "internet" else "192.168.0.30")
    elif typ == "alicloud:ecs/eipAddress:EipAddress":
        state.setdefault("ipAddress", "203.0.113.10")
    elif typ == "alicloud:vpc/natGateway:NatGateway":
        state.setdefault("snatTableIds", f"stb-{name}")
        state.setdefault("forwardTableIds", f"ftb-{name}")
    elif typ == "random:index/randomPassword:RandomPassword":
        state.setdefault("result", SECRET_PLACEHOLDER)
    elif typ == "alicloud:cs/managedKubernetes:ManagedKubernetes":
        # The security group ACS creates for the cluster (its pods' group).
        state.setdefault("securityGroupId", f"{name}-sg-id")
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
    elif typ == "alicloud:arms/prometheus:Prometheus":
        state.setdefault("clusterId", f"{name}-cluster-id")  # what alert rules and scrape jobs reference
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


# One callback per registered resource: (type, name, urn, parent urn, custom, inputs, options, provider ref).
OnRegister = Callable[[str, str, str, str, bool, dict, dict, str], None]


def run_under_mocks(
    project_dir: Path, project: str, stack: str, cfg: dict[str, str], secret_keys: list[str], on_register: OnRegister
) -> tuple[dict[str, tuple[Any, bool]], dict[str, list[str]]]:
    """Run `project_dir/__main__.py` under mocks; (stack outputs as (value, secret), explicit dependsOn by name)."""
    import pulumi
    from pulumi.runtime import mocks as pmocks
    from pulumi.runtime import rpc
    from pulumi.runtime import settings as psettings
    from pulumi.runtime.config import set_all_config
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    depends_on: dict[str, list[str]] = {}  # name -> explicit depends_on names (by transformation)

    class Mocks(pmocks.Mocks):
        def new_resource(self, args: pmocks.MockResourceArgs):
            return f"{args.name}-id", _mock_state(args.typ, args.name, _unwrap(args.inputs))

        def call(self, args: pmocks.MockCallArgs):
            if args.token == "alicloud:index/getCallerIdentity:getCallerIdentity":
                return {"accountId": MOCK_ACCOUNT_ID, "arn": f"acs:ram::{MOCK_ACCOUNT_ID}:root", "id": "caller",
                        "identityType": "Account"}, []  # fmt: skip
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
            if args.token == "alicloud:arms/getAlertContactGroups:getAlertContactGroups":
                # llm:observability.alarms names an existing contact group; offline it resolves to one ID.
                name = args.args.get("alertContactGroupName", "")
                return {"id": "groups", "ids": [f"mock-contact-group-{name}"], "names": [name], "groups": []}, []
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
            on_register(
                request.type, request.name, resp.urn, request.parent, request.custom,
                rpc.deserialize_properties(request.object), opts, request.provider,
            )  # fmt: skip
            return resp

    def capture_depends_on(args: pulumi.ResourceTransformationArgs):
        names = [d._name for d in (args.opts.depends_on or []) if isinstance(d, pulumi.Resource)]  # type: ignore[union-attr]
        if names:
            depends_on[args.name] = names
        return None

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
        outputs: dict[str, tuple[Any, bool]] = {}
        for name, value in (root.outputs if root is not None else {}).items():  # type: ignore[attr-defined]
            out = pulumi.Output.from_input(value)
            outputs[name] = (_sync_await(out.future(with_unknowns=True)), bool(_sync_await(out.is_secret())))
    finally:
        os.chdir(old_cwd)
        sys.path.remove(str(project_dir))
    return outputs, depends_on


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
