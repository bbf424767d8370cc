"""`python -m stackctl sweep --stack NAME --region R`: what a destroyed stack left behind.

Lists, read-only, everything that still carries the stack's tag (`llm-stack=<stack>`, the Tag
service's ListTagResources: every tagged kind of every product, by ARN) and, for kinds that take
no tag, everything named with the stack's prefix (`llm-<stack>`, components/common/naming.py):
Cloud Assistant commands (ECS DescribeCommands), RAM roles and custom policies (ListRoles,
ListPolicies), OOS parameters and secret parameters (ListParameters, ListSecretParameters).
Calls go through the generic OpenAPI client of `alibabacloud_tea_openapi` (RPC style), so no
product SDK beyond the ones preflight pins is needed.

Exit codes: 0 nothing left; 1 something is left (listed); 2 a listing failed (so nothing can be
said: the e2e job fails too); 3 no credentials.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

EXIT_OK, EXIT_LEFT, EXIT_API, EXIT_NO_CREDENTIALS = 0, 1, 2, 3
MAX_PAGES = 50

# (endpoint, action, version, query) -> response body (dict)
Caller = Callable[[str, str, str, dict[str, str]], dict]


def default_caller(credential: Any) -> Caller:
    from alibabacloud_tea_openapi.client import Client
    from alibabacloud_tea_openapi.utils_models import Config, OpenApiRequest, Params
    from darabonba.runtime import RuntimeOptions

    clients: dict[str, Any] = {}

    def call(endpoint: str, action: str, version: str, query: dict[str, str]) -> dict:
        if endpoint not in clients:
            clients[endpoint] = Client(Config(credential=credential, endpoint=endpoint))
        params = Params(action=action, version=version, protocol="HTTPS", method="POST", auth_type="AK",
                        style="RPC", pathname="/", req_body_type="json", body_type="json")  # fmt: skip
        out = clients[endpoint].call_api(params, OpenApiRequest(query=query), RuntimeOptions())
        return dict(out.get("body") or {})

    return call


def prefix_of(stack: str) -> str:
    from components.common.naming import physical_prefix

    return physical_prefix(stack)


def _named(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + "-")


def tagged(call: Caller, region: str, stack: str) -> Iterator[str]:
    token = None
    for _ in range(MAX_PAGES):
        q = {"RegionId": region, "Tags": json.dumps({"llm-stack": stack}), "PageSize": "1000"}
        body = call(
            f"tag.{region}.aliyuncs.com", "ListTagResources", "2018-08-28", q | ({"NextToken": token} if token else {})
        )
        for r in body.get("TagResources") or []:
            yield f"tagged llm-stack={stack}: {r.get('ResourceARN')}"
        token = body.get("NextToken")
        if not token:
            return


def commands(call: Caller, region: str, prefix: str) -> Iterator[str]:
    for page in range(1, MAX_PAGES + 1):
        q = {"RegionId": region, "PageSize": "50", "PageNumber": str(page)}
        body = call(f"ecs.{region}.aliyuncs.com", "DescribeCommands", "2014-05-26", q)
        rows = (body.get("Commands") or {}).get("Command") or []
        for c in rows:
            if _named(c.get("Name") or "", prefix):
                yield f"Cloud Assistant command {c.get('Name')} ({c.get('CommandId')})"
        if len(rows) < 50:
            return


def ram(call: Caller, prefix: str) -> Iterator[str]:
    for action, outer, inner, key, extra in (
        ("ListRoles", "Roles", "Role", "RoleName", {}),
        ("ListPolicies", "Policies", "Policy", "PolicyName", {"PolicyType": "Custom"}),
    ):
        marker = None
        for _ in range(MAX_PAGES):
            q = {"MaxItems": "1000", **extra} | ({"Marker": marker} if marker else {})
            body = call("ram.aliyuncs.com", action, "2015-05-01", q)
            for r in (body.get(outer) or {}).get(inner) or []:
                if _named(r.get(key) or "", prefix):
                    yield f"RAM {inner.lower()} {r.get(key)}"
            marker = body.get("Marker") if body.get("IsTruncated") else None
            if not marker:
                break


def oos(call: Caller, region: str, prefix: str) -> Iterator[str]:
    for action, what in (("ListParameters", "parameter"), ("ListSecretParameters", "secret parameter")):
        token = None
        for _ in range(MAX_PAGES):
            q = {"RegionId": region, "MaxResults": "100"} | ({"NextToken": token} if token else {})
            body = call(f"oos.{region}.aliyuncs.com", action, "2019-06-01", q)
            for p in body.get("Parameters") or []:
                if _named(p.get("Name") or "", prefix):
                    yield f"OOS {what} {p.get('Name')}"
            token = body.get("NextToken")
            if not token:
                break


def sweep(call: Caller, region: str, stack: str) -> tuple[list[str], list[str]]:
    """(what is left, listings that failed)."""
    prefix = prefix_of(stack)
    left: list[str] = []
    failed: list[str] = []
    listings: list[tuple[str, Callable[[], Iterator[str]]]] = [
        ("Tag ListTagResources", lambda: tagged(call, region, stack)),
        ("ECS DescribeCommands", lambda: commands(call, region, prefix)),
        ("RAM ListRoles/ListPolicies", lambda: ram(call, prefix)),
        ("OOS ListParameters/ListSecretParameters", lambda: oos(call, region, prefix)),
    ]
    for what, listing in listings:
        try:
            left += list(listing())
        except Exception as e:  # noqa: BLE001 - Tea/Dara errors share no base we rely on
            code = getattr(e, "code", None) or type(e).__name__
            failed.append(f"{what}: {code}: {str(getattr(e, 'message', None) or e).splitlines()[0]}")
    return left, failed


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0]
    parser.add_argument("--stack", required=True, help="stack name (tag llm-stack=<stack>, names llm-<stack>)")
    parser.add_argument("--region", required=True, help="region ID")


def run(
    args: argparse.Namespace, caller: Caller | None = None, credential_factory: Callable[[], Any] | None = None
) -> int:
    if not re.fullmatch(r"[a-z]{2}-[a-z0-9-]+", args.region):
        print(f"sweep: error: --region {args.region!r} is not a region ID", file=sys.stderr)
        return EXIT_API
    if caller is None:
        from stackctl.logs import NoCredentials, default_credential

        try:
            credential = (credential_factory or default_credential)()
        except NoCredentials as e:
            print(
                f"sweep: error: no Alibaba Cloud credentials (ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET) [{e}]",
                file=sys.stderr,
            )
            return EXIT_NO_CREDENTIALS
        caller = default_caller(credential)
    left, failed = sweep(caller, args.region, args.stack)
    for line in left:
        print(f"left: {line}")
    for line in failed:
        print(f"sweep: error: could not list {line}", file=sys.stderr)
    if not left and not failed:
        print(f"sweep: nothing left of stack {args.stack} in {args.region}")
    return EXIT_API if failed else (EXIT_LEFT if left else EXIT_OK)
