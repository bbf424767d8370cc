"""`python -m stackctl logs`: the last Cloud Assistant invocation results, per instance.

For each instance (``--instance-id``, repeatable, or the stack's ``instanceIds`` list output,
or its ``instanceId`` output) it calls ECS ``DescribeInvocationResults`` through Alibaba
Cloud's official SDK (``alibabacloud_ecs20140526``) with ``ContentEncoding=Base64`` and shows
the newest ``--count`` results: status, exit code, times, error code/info, and the last
``--tail`` lines of the output decoded from base64. Cloud Assistant itself keeps only the
last 24 KB of a command's output (``Dropped`` says how many bytes it cut).

One invocation instead (``--invoke-id ID``, repeatable, or ``--stack NAME --phase PHASE``
reading the stack's ``invocationIds`` output, a mapping phase -> invoke ID such as
``{"modelSync": "t-...", "serving": "t-..."}``): ``DescribeInvocationResults`` with that
``InvokeId`` and no instance filter, every page (``NextToken``), so every instance it ran on is
shown; each failed instance with its exit code, error code/info and output tail.
``--instances-output NAME`` names the stack output listing the instances that must have a
result (a missing one counts as failed). After a failed ``pulumi up`` the ``invocationIds``
output may still name the previous run: take the ID from the error (``Resource id：t-...``).

Region: ``--region``, else the stack's ``region`` output, else ``ALIBABA_CLOUD_REGION_ID``,
else ``pulumi config get llm:region`` (then ``alicloud:region``) for the stack.

Credentials: Alibaba Cloud's default credential chain (``alibabacloud_credentials``):
``ALIBABA_CLOUD_ACCESS_KEY_ID`` / ``ALIBABA_CLOUD_ACCESS_KEY_SECRET`` (and
``ALIBABA_CLOUD_SECURITY_TOKEN`` for STS), then OIDC, the ``aliyun`` CLI profile,
``~/.alibabacloud/credentials.ini``, the ECS RAM role (unless
``ALIBABA_CLOUD_ECS_METADATA_DISABLED=true``). They are checked before any API call.

Exit codes: 0 every shown invocation succeeded; 1 some shown invocation failed (non-zero exit
code or a failed status) or an instance has none; 2 configuration (no instance IDs, no
region, ``pulumi`` failed); 3 no credentials; 4 the ECS API call failed.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from stackctl.endpoint import EXIT_CONFIG, EndpointError, Runner, stack_outputs

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NO_CREDENTIALS = 3
EXIT_API = 4

MAX_PAGES = 200  # NextToken guard
INVOCATION_IDS_OUTPUT = "invocationIds"
FAILED_STATUSES = {"Failed", "Error", "Timeout", "Invalid", "Aborted", "Cancelled", "Terminated"}
PAGE = 50  # DescribeInvocationResults MaxResults ceiling

# (region, credential) -> an object with describe_invocation_results(request) -> response
ClientFactory = Callable[[str, Any], Any]
CredentialFactory = Callable[[], Any]


class NoCredentials(Exception):
    pass


class ApiCallError(Exception):
    """A DescribeInvocationResults call failed; `what` says for which target."""

    def __init__(self, what: str, error: Exception) -> None:
        self.what = what
        self.code = getattr(error, "code", None) or type(error).__name__
        text = str(getattr(error, "message", None) or error)
        self.msg = text.splitlines()[0] if text else ""
        super().__init__(f"{what}: {self.code}: {self.msg}")


@dataclass
class InvocationView:
    instance_id: str
    invoke_id: str | None
    command_id: str | None
    status: str | None  # InvocationStatus of this instance
    exit_code: int | None
    start_time: str | None
    finished_time: str | None
    error_code: str | None
    error_info: str | None
    dropped_bytes: int | None
    output_tail: str
    output_lines: int  # lines in the decoded output before the tail was cut

    @property
    def failed(self) -> bool:
        return (self.exit_code not in (None, 0)) or (self.status in FAILED_STATUSES)


def default_credential() -> Any:
    """The default credential chain, resolved now so a missing credential fails early."""
    from alibabacloud_credentials.client import Client as CredentialClient

    cred = CredentialClient()
    try:
        cred.get_credential()
    except Exception as e:  # noqa: BLE001 - CredentialException and provider errors alike
        raise NoCredentials(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
    return cred


def default_client_factory(region: str, credential: Any) -> Any:
    from alibabacloud_ecs20140526.client import Client
    from alibabacloud_tea_openapi.utils_models import Config

    return Client(Config(credential=credential, region_id=region))


def decode_output(output: str | None) -> str:
    if not output:
        return ""
    try:
        return base64.b64decode(output, validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return output  # already plain text


def tail(text: str, lines: int) -> tuple[str, int]:
    """The last `lines` lines of text, and how many lines it had."""
    all_lines = text.splitlines()
    return "\n".join(all_lines[-lines:] if lines > 0 else []), len(all_lines)


def fetch(client: Any, region: str, instance_id: str, count: int, tail_lines: int) -> list[InvocationView]:
    from alibabacloud_ecs20140526 import models

    req = models.DescribeInvocationResultsRequest(
        region_id=region, instance_id=instance_id, content_encoding="Base64", max_results=PAGE
    )
    resp = client.describe_invocation_results(req)
    inv = resp.body.invocation if resp and resp.body else None
    results = (inv.invocation_results.invocation_result or []) if inv and inv.invocation_results else []
    # Newest first, whatever order the page came in (ISO-8601 UTC times sort as strings).
    results = sorted(results, key=lambda r: r.start_time or "", reverse=True)[:count]
    return [_view(r, instance_id, tail_lines) for r in results]


def _view(r: Any, instance_id: str, tail_lines: int) -> InvocationView:
    text, n = tail(decode_output(r.output), tail_lines)
    return InvocationView(
        instance_id=r.instance_id or instance_id,
        invoke_id=r.invoke_id,
        command_id=r.command_id,
        status=r.invocation_status,
        exit_code=r.exit_code,
        start_time=r.start_time,
        finished_time=r.finished_time,
        error_code=r.error_code or None,
        error_info=r.error_info or None,
        dropped_bytes=r.dropped,
        output_tail=text,
        output_lines=n,
    )


def fetch_invocation(client: Any, region: str, invoke_id: str, tail_lines: int) -> list[InvocationView]:
    """Every instance's result of one invocation: all pages, no instance filter."""
    from alibabacloud_ecs20140526 import models

    views: list[InvocationView] = []
    token: str | None = None
    for page in range(1, MAX_PAGES + 1):
        req = models.DescribeInvocationResultsRequest(
            region_id=region, invoke_id=invoke_id, content_encoding="Base64", max_results=PAGE, next_token=token
        )
        try:
            resp = client.describe_invocation_results(req)
        except Exception as e:  # noqa: BLE001 - Tea/Dara SDK errors have no common base we can rely on
            raise ApiCallError(
                f"DescribeInvocationResults for invocation {invoke_id} in {region} (page {page})", e
            ) from None
        inv = resp.body.invocation if resp and resp.body else None
        rows = (inv.invocation_results.invocation_result or []) if inv and inv.invocation_results else []
        views += [_view(r, "", tail_lines) for r in rows]
        token = inv.next_token if inv else None
        if not token:
            break
    return sorted(views, key=lambda v: v.instance_id)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0]
    parser.add_argument("--stack", help="Pulumi stack whose outputs list the instances")
    parser.add_argument("--region", help="region ID, e.g. cn-hangzhou (default: from the stack)")
    parser.add_argument("--instance-id", action="append", help="instance ID (repeatable; overrides the stack)")
    parser.add_argument("--invoke-id", action="append", help="one invocation's results on every instance (repeatable)")
    parser.add_argument(
        "--phase",
        action="append",
        help=f"with --stack: the invocation of this phase in the stack's {INVOCATION_IDS_OUTPUT} output",
    )
    parser.add_argument(
        "--instances-output",
        metavar="NAME",
        help="stack output listing the instances (default instanceIds, then instanceId)",
    )
    parser.add_argument("--count", type=int, default=1, help="invocations per instance, newest first (1)")
    parser.add_argument("--tail", type=int, default=40, help="output lines to show per invocation (40)")
    parser.add_argument("--cwd", help="directory of the Pulumi project (default: current directory)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def _ids(raw: Any) -> list[str]:
    return [raw] if isinstance(raw, str) else [str(i) for i in (raw or [])]


def _region(args: argparse.Namespace, outputs: dict[str, Any], runner: Runner, environ: Any) -> str:
    region = args.region or outputs.get("region") or environ.get("ALIBABA_CLOUD_REGION_ID")
    for key in ("llm:region", "alicloud:region") if not region and args.stack else ():
        cmd = ["pulumi", "config", "get", key, "--stack", args.stack]
        try:
            proc = runner(cmd, capture_output=True, text=True, cwd=args.cwd, timeout=60, check=False)
        except (FileNotFoundError, subprocess.TimeoutExpired):
            break
        region = proc.stdout.strip() if proc.returncode == 0 else None
        if region:
            break
    if not region:
        raise EndpointError("no region: pass --region or set ALIBABA_CLOUD_REGION_ID")
    return str(region)


def _stack_instances(args: argparse.Namespace, outputs: dict[str, Any]) -> list[str]:
    names = [args.instances_output] if getattr(args, "instances_output", None) else ["instanceIds", "instanceId"]
    for name in names:
        if outputs.get(name):
            return _ids(outputs[name])
    return []


def _targets(args: argparse.Namespace, runner: Runner, environ: Any) -> tuple[str, list[str]]:
    outputs: dict[str, Any] = {}
    if args.stack and (not args.instance_id or not args.region):
        outputs = stack_outputs(args.stack, cwd=args.cwd, runner=runner)
    ids = list(args.instance_id or []) or _stack_instances(args, outputs)
    if not ids:
        which = getattr(args, "instances_output", None) or "instanceIds/instanceId"
        where = f"stack {args.stack} has no {which} output" if args.stack else "no --stack"
        raise EndpointError(f"no instance IDs: {where}; pass --instance-id")
    return _region(args, outputs, runner, environ), ids


def _invocation_targets(args: argparse.Namespace, runner: Runner, environ: Any) -> tuple[str, list[str], list[str]]:
    """(region, invoke IDs, instances that must have a result: [] = none required)."""
    phases = list(args.phase or [])
    if phases and not args.stack:
        raise EndpointError("--phase needs --stack (it reads the stack's invocationIds output)")
    outputs: dict[str, Any] = {}
    if args.stack and (phases or not args.region or args.instances_output):
        outputs = stack_outputs(args.stack, cwd=args.cwd, runner=runner)
    invoke_ids = list(args.invoke_id or [])
    if phases:
        mapping = outputs.get(INVOCATION_IDS_OUTPUT)
        if not isinstance(mapping, dict) or not mapping:
            raise EndpointError(f"stack {args.stack} has no {INVOCATION_IDS_OUTPUT} output; pass --invoke-id")
        for phase in phases:
            if not mapping.get(phase):
                known = ", ".join(sorted(mapping))
                raise EndpointError(f"stack {args.stack}: no phase {phase!r} in {INVOCATION_IDS_OUTPUT} (has {known})")
            invoke_ids.append(str(mapping[phase]))
    expected = list(args.instance_id or [])
    if not expected and args.instances_output:
        expected = _ids(outputs.get(args.instances_output))
        if not expected:
            raise EndpointError(f"stack {args.stack} has no {args.instances_output} output")
    return _region(args, outputs, runner, environ), list(dict.fromkeys(invoke_ids)), expected


def _print(views_by_instance: dict[str, list[InvocationView]], region: str) -> None:
    from rich.console import Console
    from rich.panel import Panel
    from rich.text import Text

    console = Console()
    for instance, views in views_by_instance.items():
        if not views:
            console.print(f"[bold]{instance}[/bold] ({region}): no Cloud Assistant invocations")
            continue
        for v in views:
            colour = "red" if v.failed else "green"
            head = (
                f"[bold]{instance}[/bold] invoke {v.invoke_id} command {v.command_id}: "
                f"[{colour}]{v.status}[/{colour}], exit code {v.exit_code}, "
                f"started {v.start_time}, finished {v.finished_time}"
            )
            console.print(head)
            if v.error_code or v.error_info:
                console.print(f"  [red]{v.error_code or ''}[/red] {v.error_info or ''}")
            cut = f"last {min(v.output_lines, len(v.output_tail.splitlines()))} of {v.output_lines} lines"
            if v.dropped_bytes:
                cut += f"; Cloud Assistant dropped {v.dropped_bytes} earlier bytes"
            console.print(Panel(Text(v.output_tail or "(no output)"), title=f"output ({cut})", title_align="left"))


def _print_invocations(by_invoke: dict[str, dict[str, InvocationView | None]], region: str) -> None:
    from rich.console import Console
    from rich.panel import Panel
    from rich.text import Text

    console = Console()
    for invoke_id, by_instance in by_invoke.items():
        failed = [i for i, v in by_instance.items() if v is None or v.failed]
        console.print(f"[bold]invocation {invoke_id}[/bold] ({region}): {len(by_instance)} instances, "
                      f"{len(failed)} failed or missing")  # fmt: skip
        if not by_instance:
            console.print("  no results (unknown invoke ID, or older than Cloud Assistant keeps)")
        for instance, v in by_instance.items():
            if v is None:
                console.print(f"  [bold]{instance}[/bold]: [red]no result for this invocation[/red]")
                continue
            colour = "red" if v.failed else "green"
            console.print(f"  [bold]{instance}[/bold]: [{colour}]{v.status}[/{colour}], exit code {v.exit_code}, "
                          f"started {v.start_time}, finished {v.finished_time}")  # fmt: skip
            if not v.failed:
                continue
            if v.error_code or v.error_info:
                console.print(f"    [red]{v.error_code or ''}[/red] {v.error_info or ''}")
            cut = f"last {min(v.output_lines, len(v.output_tail.splitlines()))} of {v.output_lines} lines"
            if v.dropped_bytes:
                cut += f"; Cloud Assistant dropped {v.dropped_bytes} earlier bytes"
            title = f"{instance} output ({cut})"
            console.print(Panel(Text(v.output_tail or "(no output)"), title=title, title_align="left"))


def _credential(credential_factory: CredentialFactory | None) -> Any:
    try:
        return (credential_factory or default_credential)()
    except NoCredentials as e:
        print(
            "logs: error: no Alibaba Cloud credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and "
            f"ALIBABA_CLOUD_ACCESS_KEY_SECRET (or configure the default credential chain) [{e}]",
            file=sys.stderr,
        )
        return None


def run_invocations(
    args: argparse.Namespace,
    client_factory: ClientFactory | None,
    credential_factory: CredentialFactory | None,
    runner: Runner,
    env: Any,
) -> int:
    try:
        region, invoke_ids, expected = _invocation_targets(args, runner, env)
    except EndpointError as e:
        print(f"logs: error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    credential = _credential(credential_factory)
    if credential is None:
        return EXIT_NO_CREDENTIALS
    client = (client_factory or default_client_factory)(region, credential)
    by_invoke: dict[str, dict[str, InvocationView | None]] = {}
    for invoke_id in invoke_ids:
        try:
            views = fetch_invocation(client, region, invoke_id, args.tail)
        except ApiCallError as e:
            print(f"logs: error: {e.what} failed: {e.code}: {e.msg}", file=sys.stderr)
            return EXIT_API
        found: dict[str, InvocationView | None] = {v.instance_id: v for v in views}
        for instance in expected:
            found.setdefault(instance, None)
        by_invoke[invoke_id] = found
    if args.json:
        doc = {
            "region": region,
            "invocations": {k: {i: (asdict(v) if v else None) for i, v in vs.items()} for k, vs in by_invoke.items()},
        }
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        _print_invocations(by_invoke, region)
    bad = any(not vs or any(v is None or v.failed for v in vs.values()) for vs in by_invoke.values())
    return EXIT_FAILED if bad else EXIT_OK


def run(
    args: argparse.Namespace,
    client_factory: ClientFactory | None = None,
    credential_factory: CredentialFactory | None = None,
    runner: Runner = subprocess.run,
    environ: Any = None,
) -> int:
    env = os.environ if environ is None else environ
    for flag in ("count", "tail"):
        if getattr(args, flag) < 1:
            print(f"logs: error: --{flag} must be at least 1", file=sys.stderr)
            return EXIT_CONFIG
    if getattr(args, "invoke_id", None) or getattr(args, "phase", None):
        return run_invocations(args, client_factory, credential_factory, runner, env)
    try:
        region, ids = _targets(args, runner, env)
    except EndpointError as e:
        print(f"logs: error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    credential = _credential(credential_factory)
    if credential is None:
        return EXIT_NO_CREDENTIALS
    client = (client_factory or default_client_factory)(region, credential)
    by_instance: dict[str, list[InvocationView]] = {}
    for instance in ids:
        try:
            by_instance[instance] = fetch(client, region, instance, args.count, args.tail)
        except Exception as e:  # noqa: BLE001 - Tea/Dara SDK errors have no common base we can rely on
            code = getattr(e, "code", None) or type(e).__name__
            msg = str(getattr(e, "message", None) or e).splitlines()[0] if str(e) else ""
            print(f"logs: error: DescribeInvocationResults for {instance} in {region} failed: {code}: {msg}",
                  file=sys.stderr)  # fmt: skip
            return EXIT_API
    if args.json:
        doc = {"region": region, "instances": {k: [asdict(v) for v in vs] for k, vs in by_instance.items()}}
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        _print(by_instance, region)
    bad = any(not vs or any(v.failed for v in vs) for vs in by_instance.values())
    return EXIT_FAILED if bad else EXIT_OK
