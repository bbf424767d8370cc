"""A canary API key set in config must reach the secret parameter and nothing else (DESIGN 5)."""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re

import pytest
from pulumi.runtime import rpc

from planner import run as plan
from tests import planning as P

CANARY = "CanaryKey_7f3a9c2e_do-not-leak_0042"
B64_TOKEN = re.compile(r"[A-Za-z0-9+/=]{16,}")


def decodings(text: str) -> list[str]:
    """The text itself plus every Base64 token in it decoded, and gunzipped where it is gzip."""
    out = [text]
    for token in B64_TOKEN.findall(text):
        try:
            raw = base64.b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            continue
        if raw[:2] == b"\x1f\x8b":
            try:
                raw = gzip.decompress(raw)
            except OSError:
                continue
        out.append(raw.decode("utf-8", "replace"))
    return out


def leaks(value, path="") -> list[str]:
    """Paths where the canary appears outside a secret-wrapped value."""
    if rpc.is_rpc_secret(value):
        return []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in leaks(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in leaks(v, f"{path}[{i}]")]
    if isinstance(value, str) and any(CANARY in d for d in decodings(value)):
        return [path]
    return []


def secret_values(value) -> list:
    if rpc.is_rpc_secret(value):
        return [rpc.unwrap_rpc_secret(value)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in secret_values(v)]
    return []


@pytest.mark.parametrize(
    "extra",
    [{}, {"replicas": 3, "publicAccess": {"tls": {"certificateId": "12345678"}}}],
    ids=["one-replica", "replicas-3-tls"],
)
def test_canary_reaches_only_the_secret_parameter(tmp_path, extra):
    public = {"enabled": True, "allowedCidrs": ["203.0.113.0/24"], **extra.get("publicAccess", {})}
    cfg = P.with_changes(P.stack_config(), apiKey=CANARY, publicAccess=public,
                         **{k: v for k, v in extra.items() if k != "publicAccess"})  # fmt: skip
    result = P.run(tmp_path, cfg)
    if extra:  # the variant did declare its groups and its HTTPS listener
        names = {r.name for r in result.records}
        assert {"replica-2-serving-invocation", "load-balancer-internet-https"} <= names

    # Positive control: the canary did reach the program and the OOS secret parameter.
    param = next(r for r in result.records if r.type == "alicloud:oos/secretParameter:SecretParameter")
    assert secret_values(param.inputs_raw) == [CANARY]
    assert result.outputs["apiKey"] == (CANARY, True)

    # Every input of every resource, Base64- and gzip-decoded: only inside secret wrappers.
    for rec in result.records:
        assert leaks(rec.inputs_raw) == [], rec.name

    # Every plan file.
    out = tmp_path / "plan"
    plan.write_plan(result, out)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) >= 6
    for path in files:
        for text in decodings(path.read_text()):
            assert CANARY not in text, path
    outputs = json.loads((out / "outputs.json").read_text())
    assert outputs["apiKey"] == "[secret]"


def test_decoder_would_find_an_encoded_canary():
    """The search is able to fail: a Base64'd or gzipped canary is found."""
    plain = f"export KEY={CANARY}"
    assert leaks(base64.b64encode(plain.encode()).decode())
    assert leaks("x " + base64.b64encode(gzip.compress(plain.encode())).decode() + " y")
    assert leaks({"a": [plain]}) == [".a[0]"]
