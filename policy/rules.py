"""The stack's policies, as pure checks over resources (type token + engine input names).

`policy/__main__.py` wraps each in a Pulumi policy (`pulumi preview --policy-pack policy`);
the tests run the same checks on the offline plan's resources (tests/unit/test_policy.py).
Every check returns the violations it found as messages; an empty list is a pass.

Config (policy config, `pulumi preview --policy-pack-config FILE`): besides Pulumi's own
`enforcementLevel` per policy (mandatory | advisory | disabled), the properties in `CONFIG`.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import ipaddress
import json
import re
import tarfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

SG_RULE = "alicloud:ecs/securityGroupRule:SecurityGroupRule"
INSTANCE = "alicloud:ecs/instance:Instance"
DISK = "alicloud:ecs/ecsDisk:EcsDisk"
COMMAND = "alicloud:ecs/command:Command"
CLUSTER = "alicloud:cs/managedKubernetes:ManagedKubernetes"
SECRET_PARAMETER = "alicloud:oos/secretParameter:SecretParameter"
K8S_SECRET = "kubernetes:core/v1:Secret"
K8S_SERVICE = "kubernetes:core/v1:Service"
SLB = "alicloud:slb/loadBalancer:LoadBalancer"
LB = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"

WORLD = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
# An AccessKey ID of Alibaba Cloud starts with LTAI (RAM user keys) or STS. (temporary);
# secrets scanners (checkov's secrets framework) use the same prefix.
ACCESS_KEY_ID = re.compile(r"\b(LTAI[A-Za-z0-9]{12,30})\b")
# A literal assignment of something named like a credential: KEY=value, "apiKey": "value".
LITERAL_SECRET = re.compile(
    r"""(?ix)\b(?:[a-z0-9_]*(?:api[_-]?key|access[_-]?key[_-]?secret|secret[_-]?key|akSecret|password|token))
        \s*[=:]\s*["']?(?P<value>[A-Za-z0-9+/_\-]{16,})"""
)
# Values that are references, not secrets: Cloud Assistant parameters, shell/K8s variables.
REFERENCE = re.compile(r"^(?:\{\{|\$)")
B64_TOKEN = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    props: Mapping[str, Any]


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    enforcement: str  # mandatory | advisory (Pulumi's default for the policy)
    check: Callable[[list[Resource], Mapping[str, Any]], list[str]]
    config: Mapping[str, Any] = field(default_factory=dict)  # JSON schema properties -> default


# --------------------------------------------------------------------------------------------
# Helpers


def _ports(port_range: str) -> tuple[int, int]:
    lo, _, hi = str(port_range).partition("/")
    return int(lo), int(hi or lo)


def _is_world(cidr: str | None) -> bool:
    if not cidr:
        return False
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return any(net.version == w.version and net.prefixlen == 0 for w in WORLD)


def _ingress_world(r: Resource) -> bool:
    p = r.props
    return (
        r.type == SG_RULE
        and p.get("type") == "ingress"
        and (_is_world(p.get("cidrIp")) or _is_world(p.get("ipv6CidrIp")))
    )


def decoded_texts(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string in `value`, and what Base64 / gzip / tar.gz inside it decodes to."""
    if isinstance(value, Mapping):
        for v in value.values():
            yield from decoded_texts(v, depth)
        return
    if isinstance(value, list | tuple):
        for v in value:
            yield from decoded_texts(v, depth)
        return
    if not isinstance(value, str):
        return
    yield value
    if depth >= 4:
        return
    candidates = [value] if len(value) >= 16 else []
    candidates += [m[0] for m in B64_TOKEN.finditer(value) if m[0] != value]
    for c in candidates:
        try:
            raw = base64.b64decode(c, validate=True)
        except (binascii.Error, ValueError):
            continue
        for text in _unpack(raw):
            yield from decoded_texts(text, depth + 1)


def _unpack(raw: bytes) -> Iterator[str]:
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError):
            return
        try:
            with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
                for m in tar.getmembers():
                    f = tar.extractfile(m)
                    if f is not None:
                        yield f.read().decode("utf-8", "replace")
            return
        except tarfile.TarError:
            pass
    try:
        yield raw.decode("utf-8")
    except UnicodeDecodeError:
        return


def _content(r: Resource) -> Any:
    """What a resource carries to a host or a cluster in the clear."""
    if r.type == INSTANCE:
        return r.props.get("userData")
    if r.type == COMMAND:
        return r.props.get("commandContent")
    if r.type.startswith("kubernetes:") and r.type != K8S_SECRET and not r.type.startswith("pulumi:providers"):
        return {k: v for k, v in r.props.items() if k != "__defaults"}
    return None


def _known_secrets(resources: Iterable[Resource]) -> set[str]:
    """Secret values the stack holds (the API key parameter, Kubernetes Secrets): each must
    appear nowhere else. Masked or unknown values ("[secret]", computed) are skipped."""
    out: set[str] = set()
    for r in resources:
        vals: list[Any] = []
        if r.type == SECRET_PARAMETER:
            vals.append(r.props.get("value"))
        elif r.type == K8S_SECRET:
            vals += (
                list((r.props.get("stringData") or {}).values())
                if isinstance(r.props.get("stringData"), Mapping)
                else []
            )
            for v in (r.props.get("data") or {}).values() if isinstance(r.props.get("data"), Mapping) else []:
                try:
                    vals.append(base64.b64decode(v).decode())
                except (binascii.Error, ValueError, UnicodeDecodeError):
                    pass
        out |= {v for v in vals if isinstance(v, str) and len(v) >= 8 and v != "[secret]"}
    return out


# --------------------------------------------------------------------------------------------
# The checks


def no_internet_ingress(resources: list[Resource], config: Mapping[str, Any]) -> list[str]:
    allowed = [_ports(p) for p in config.get("allowedPorts", ["8000/8000"])]
    out = []
    for r in resources:
        if _ingress_world(r) and _ports(r.props.get("portRange", "-1/-1")) not in allowed:
            out.append(f"{r.name}: ingress from the internet on {r.props.get('portRange')} (allowed: {allowed})")
    return out


def ssh_never_world_open(resources: list[Resource], config: Mapping[str, Any]) -> list[str]:
    out = []
    for r in resources:
        if not _ingress_world(r) or r.props.get("ipProtocol", "tcp") not in ("tcp", "all"):
            continue
        lo, hi = _ports(r.props.get("portRange", "-1/-1"))
        if r.props.get("ipProtocol") == "all" or lo <= 22 <= hi or (lo, hi) == (-1, -1):
            out.append(f"{r.name}: SSH (22) open to the internet")
    return out


def disks_encrypted(resources: list[Resource], config: Mapping[str, Any]) -> list[str]:
    out = []
    for r in resources:
        if r.type == INSTANCE and r.props.get("systemDiskEncrypted") is not True:
            out.append(f"{r.name}: system disk not encrypted (llm:encryption.enabled)")
        if r.type == DISK and r.props.get("encrypted") is not True:
            out.append(f"{r.name}: disk not encrypted (llm:encryption.enabled)")
    return out


def no_credentials_in_content(resources: list[Resource], config: Mapping[str, Any]) -> list[str]:
    known = _known_secrets(resources)
    out = []
    for r in resources:
        content = _content(r)
        if content is None:
            continue
        for text in decoded_texts(content):
            if m := ACCESS_KEY_ID.search(text):
                out.append(f"{r.name}: an AccessKey ID ({m[1][:6]}...) in its content")
                break
            if any(k in text for k in known):
                out.append(f"{r.name}: a secret value of the stack in its content")
                break
            if (m := LITERAL_SECRET.search(text)) and not REFERENCE.match(m["value"]):
                out.append(f"{r.name}: a literal credential assignment in its content ({m[0][:24]}...)")
                break
        if r.type.startswith("kubernetes:"):
            out += [f"{r.name}: env {e} holds a literal value" for e in _literal_secret_env(r.props)]
    return out


def _literal_secret_env(props: Any) -> Iterator[str]:
    if isinstance(props, Mapping):
        env = props.get("env")
        if isinstance(env, list):
            for e in env:
                if (
                    isinstance(e, Mapping)
                    and re.search(r"(?i)key|secret|token|password", str(e.get("name", "")))
                    and "value" in e
                    and not str(e.get("name", "")).endswith("_FILE")
                ):
                    yield str(e.get("name"))
        for v in props.values():
            yield from _literal_secret_env(v)
    elif isinstance(props, list):
        for v in props:
            yield from _literal_secret_env(v)


def internet_lb_has_acl(resources: list[Resource], config: Mapping[str, Any]) -> list[str]:
    out = []
    for r in resources:
        if r.type == K8S_SERVICE and (r.props.get("spec") or {}).get("type") == "LoadBalancer":
            ann = (r.props.get("metadata") or {}).get("annotations") or {}
            # The cloud controller's default address type is internet (its docs/usage.md).
            if ann.get(f"{LB}address-type", "internet") != "internet":
                continue
            if not (
                ann.get(f"{LB}acl-status") == "on" and ann.get(f"{LB}acl-id") and ann.get(f"{LB}acl-type") == "white"
            ):
                out.append(f"{r.name}: internet load balancer without an allowlist ACL (acl-status on, type white, id)")
        elif r.type == SLB and r.props.get("addressType", "internet") == "internet":
            out.append(f"{r.name}: internet SLB: its listeners need an allowlist ACL")
    return out


def private_acs_api(resources: list[Resource], config: Mapping[str, Any]) -> list[str]:
    if config.get("apiAccess", "any") != "private":
        return []
    out = []
    for r in resources:
        if r.type == CLUSTER and r.props.get("slbInternetEnabled") is not False:
            out.append(f"{r.name}: API server endpoint public (slbInternetEnabled) while apiAccess is private")
        if (
            _ingress_world(r)
            and _ports(r.props.get("portRange", "-1/-1"))[0] <= 6443 <= _ports(r.props.get("portRange", "-1/-1"))[1]
        ):
            out.append(f"{r.name}: API server port 6443 open to the internet while apiAccess is private")
    return out


POLICIES: tuple[Policy, ...] = (
    Policy("no-internet-ingress", "No security-group ingress from 0.0.0.0/0 or ::/0 except the allowlisted serving port.",
           "mandatory", no_internet_ingress,
           {"allowedPorts": {"type": "array", "items": {"type": "string"}, "default": ["8000/8000"]}}),
    Policy("ssh-never-world-open", "SSH (port 22) is never open to the internet.", "mandatory", ssh_never_world_open),
    Policy("disks-encrypted", "System disks and model disks are encrypted at rest (llm:encryption).", "mandatory",
           disks_encrypted),
    Policy("no-credentials-in-content", "No AccessKey, API key or literal credential in user-data, Cloud Assistant "
           "command content or Kubernetes manifests (Base64/gzip/tar decoded).", "mandatory", no_credentials_in_content),
    Policy("internet-lb-has-acl", "Every internet-facing load balancer has an allowlist ACL.", "mandatory",
           internet_lb_has_acl),
    Policy("private-acs-api", "With apiAccess private, the ACS API server has no public endpoint.", "advisory",
           private_acs_api,
           {"apiAccess": {"type": "string", "enum": ["any", "public", "private"], "default": "any"}}),
)  # fmt: skip


def defaults(policy: Policy) -> dict[str, Any]:
    return {k: v.get("default") for k, v in policy.config.items()}


def run_all(
    resources: Iterable[Mapping[str, Any]], config: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, list[str]]:
    """Every policy over plan resources (`resources.json` rows): name -> violations."""
    rs = [Resource(r["type"], r["name"], r.get("inputs") or {}) for r in resources]
    config = config or {}
    return {p.name: p.check(rs, defaults(p) | dict(config.get(p.name, {}))) for p in POLICIES}


def _main() -> None:  # pragma: no cover - a reviewer's helper: python -m policy.rules resources.json
    import sys

    print(json.dumps(run_all(json.load(open(sys.argv[1]))), indent=2))


if __name__ == "__main__":  # pragma: no cover
    _main()
