"""Agent-online gate: wait until the Cloud Assistant agent of every instance is online.

Alibaba's DescribeCloudAssistantStatus reference: for new instances, run commands "only when
the return value is true". `ecs.EcsInvocation` does not wait for that, so a first invocation on
a fresh instance can fail while the agent is still starting. This module declares one
`pulumi.dynamic.Resource` (type `pulumi-python:dynamic:Resource`) per group of instances whose
provider polls `DescribeCloudAssistantStatus` until every instance reports
`CloudAssistantStatus == "true"`, bounded by `timeout_s`; every first invocation on those
instances `depends_on` it.

Rules the provider keeps (Pulumi serializes it with dill into the state, as a secret):
- no captured client, credential or callable: the instance has no attributes; its class is
  pickled by reference, so the dynamic provider process imports this module (the engine starts
  it in the project directory);
- credentials come from Alibaba's default credential chain at run time, never from inputs
  (Pulumi stores inputs in the state); the region is an input;
- every way to a client goes through the module-level `client_factory` (tests replace it), and
  every wait through `sleep` / `monotonic` (tests replace them too).

Inputs: `instance_ids`, `region`, `timeout_s`, `poll_s`. Outputs: those, plus `online_at`
(instance ID -> UTC time the gate saw it online) and `agent_versions`. A change of the instance
IDs (or region) replaces the gate, so a replaced instance is waited for again; a change of the
bounds only updates it (and checks again). `delete()` does nothing: the gate creates nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pulumi
import pulumi.dynamic as dyn

API = "DescribeCloudAssistantStatus"
# "You can specify up to 100 instance IDs in a single request." (DescribeCloudAssistantStatus
# API reference, https://www.alibabacloud.com/help/en/elastic-compute-service/latest/describecloudassistantstatus)
MAX_IDS_PER_REQUEST = 100
DEFAULT_TIMEOUT_S = 900
DEFAULT_POLL_S = 10
MAX_PAGES = 100  # NextToken guard: with InstanceId set one page is expected
REPLACE_ON = ("instance_ids", "region")
INPUTS = ("instance_ids", "region", "timeout_s", "poll_s")

# Replaceable by tests. Looked up at call time (module globals), never stored on the provider.
sleep: Callable[[float], None] = time.sleep
monotonic: Callable[[], float] = time.monotonic


class AgentOnlineError(Exception):
    """The agents did not come online within the bound, or the API call failed."""


def default_client_factory(region: str) -> Any:
    """The ECS SDK client with Alibaba Cloud's default credential chain, resolved now.

    The chain: ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET (+ _SECURITY_TOKEN), OIDC, the `aliyun` CLI
    profile, ~/.alibabacloud/credentials.ini, then the ECS RAM role through instance metadata
    (unless ALIBABA_CLOUD_ECS_METADATA_DISABLED=true).
    """
    from alibabacloud_credentials.client import Client as CredentialClient
    from alibabacloud_ecs20140526.client import Client
    from alibabacloud_tea_openapi.utils_models import Config

    credential = CredentialClient()
    try:
        credential.get_credential()
    except Exception as e:  # noqa: BLE001 - CredentialException and provider errors alike
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AgentOnlineError(
            f"{API}: no Alibaba Cloud credentials in the environment of `pulumi up` (set "
            f"ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or configure the "
            f"default credential chain) [{first}]"
        ) from None
    return Client(Config(credential=credential, region_id=region))


client_factory: Callable[[str], Any] = default_client_factory


def _api_error(e: Exception, region: str, ids: Sequence[str]) -> AgentOnlineError:
    code = getattr(e, "code", None) or type(e).__name__
    text = str(getattr(e, "message", None) or e)
    msg = text.splitlines()[0] if text else ""
    shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    return AgentOnlineError(f"{API} failed in {region} for {shown}: {code}: {msg}")


def chunks(ids: Sequence[str], size: int = MAX_IDS_PER_REQUEST) -> list[list[str]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def status_once(client: Any, region: str, ids: Sequence[str]) -> dict[str, tuple[bool, str | None]]:
    """instance ID -> (agent online, agent version) for the IDs the API reported on."""
    from alibabacloud_ecs20140526 import models

    seen: dict[str, tuple[bool, str | None]] = {}
    for part in chunks(ids):
        token: str | None = None
        for _ in range(MAX_PAGES):
            req = models.DescribeCloudAssistantStatusRequest(region_id=region, instance_id=part, next_token=token)
            try:
                resp = client.describe_cloud_assistant_status(req)
            except Exception as e:  # noqa: BLE001 - Tea/Dara SDK errors have no common base
                raise _api_error(e, region, part) from None
            body = resp.body if resp is not None else None
            rows = body.instance_cloud_assistant_status_set if body is not None else None
            for row in (rows.instance_cloud_assistant_status or []) if rows is not None else []:
                # A string, "true" or "false" (not a boolean) in the API and the SDK model.
                seen[row.instance_id] = (row.cloud_assistant_status == "true", row.cloud_assistant_version)
            token = body.next_token if body is not None else None
            if not token:
                break
    return seen


def wait_online(client: Any, region: str, ids: Sequence[str], timeout_s: float, poll_s: float) -> dict[str, Any]:
    """Poll until every instance's agent is online; outputs for the state, or AgentOnlineError."""
    wanted = list(dict.fromkeys(ids))
    online_at: dict[str, str] = {}
    versions: dict[str, str | None] = {}
    start = monotonic()
    while True:
        pending = [i for i in wanted if i not in online_at]
        for instance, (up, version) in status_once(client, region, pending).items():
            if up and instance in pending:
                online_at[instance] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                versions[instance] = version
        offline = [i for i in wanted if i not in online_at]
        if not offline:
            return {"online_at": online_at, "agent_versions": versions}
        waited = monotonic() - start
        if waited + poll_s > timeout_s:
            raise AgentOnlineError(
                f"Cloud Assistant agent not online after {waited:.0f} s (bound timeout_s={timeout_s:g} s) "
                f"in {region} on {len(offline)} of {len(wanted)} instances: {', '.join(offline)} "
                f"({API} never reported CloudAssistantStatus=true)"
            )
        sleep(poll_s)


def gate_id(region: str, ids: Sequence[str]) -> str:
    digest = hashlib.sha256("\n".join([region, *sorted(ids)]).encode()).hexdigest()[:16]
    return f"agent-online-{digest}"


def _inputs(props: dict[str, Any]) -> dict[str, Any]:
    return {k: props[k] for k in INPUTS if k in props}


class AgentOnlineProvider(dyn.ResourceProvider):
    """Waits for Cloud Assistant agents; holds no state of its own (it is pickled into the state)."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        failures = []
        for key in ("timeout_s", "poll_s"):
            v = news.get(key)
            if isinstance(v, int | float) and v <= 0:
                failures.append(dyn.CheckFailure(key, f"must be positive (got {v})"))
        return dyn.CheckResult(news, failures)

    def _run(self, props: dict[str, Any]) -> dict[str, Any]:
        ids = [str(i) for i in props["instance_ids"]]
        region = str(props["region"])
        client = client_factory(region)
        outs = wait_online(client, region, ids, float(props["timeout_s"]), float(props["poll_s"]))
        return _inputs(props) | outs

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        return dyn.CreateResult(
            gate_id(str(props["region"]), [str(i) for i in props["instance_ids"]]), self._run(props)
        )

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        # `__provider` is left out: a new version of this code alone re-checks nothing.
        changed = [k for k in INPUTS if olds.get(k) != news.get(k)]
        replaces = [k for k in changed if k in REPLACE_ON]
        return dyn.DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        return dyn.UpdateResult(self._run(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # nothing was created in the cloud


class AgentOnline(dyn.Resource):
    instance_ids: pulumi.Output[list[str]]
    online_at: pulumi.Output[dict[str, str]]
    agent_versions: pulumi.Output[dict[str, str]]

    def __init__(
        self,
        name: str,
        instance_ids: pulumi.Input[Sequence[pulumi.Input[str]]],
        region: str,
        timeout_s: int = DEFAULT_TIMEOUT_S,
        poll_s: int = DEFAULT_POLL_S,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "instance_ids": instance_ids,
            "region": region,
            "timeout_s": timeout_s,
            "poll_s": poll_s,
            "online_at": None,
            "agent_versions": None,
        }
        super().__init__(AgentOnlineProvider(), name, props, opts)


def wait_for_agents(
    name: str,
    parent: pulumi.Resource,
    instance_ids: Sequence[pulumi.Input[str]],
    region: str,
    timeout_s: int = DEFAULT_TIMEOUT_S,
    poll_s: int = DEFAULT_POLL_S,
    depends_on: Sequence[pulumi.Resource] | None = None,
) -> AgentOnline:
    """The gate `name` (e.g. `<node name>-agent-online`) under `parent`, for `instance_ids`.

    Make every first Cloud Assistant invocation on these instances `depends_on` the result.
    """
    return AgentOnline(
        name,
        list(instance_ids),
        region,
        timeout_s=timeout_s,
        poll_s=poll_s,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on or [])),
    )
