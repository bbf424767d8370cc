"""The canary of tests/test_secrets.py on the acs stacks: the API key (and the OSS AccessKey with
`ossAuth = secret`) reaches only secret-wrapped inputs, never a manifest file or a command."""

from __future__ import annotations

import pytest

from planner import run as plan
from tests import planning as P
from tests.program.test_secrets import CANARY, decodings, leaks, secret_values

OSS_CANARY = "OssCanarySecret_5b1d_do-not-leak"


@pytest.mark.parametrize("stack", ["acs", "acs-r1"])
def test_canary_reaches_only_secret_inputs(tmp_path, stack, monkeypatch):
    changes = {"apiKey": CANARY}
    if stack == "acs":
        changes |= {
            "acs": {"ossAuth": "secret"},
            "ossAccessKeyId": "OssCanaryId_do-not-leak",
            "ossAccessKeySecret": OSS_CANARY,
        }
    result = P.run(tmp_path, P.with_changes(P.stack_config(stack), **changes), stack=stack)

    # Positive control: the canary reached the Kubernetes Secret and the OOS parameter.
    k8s_secret = next(
        r for r in result.records if r.type == "kubernetes:core/v1:Secret" and r.name == "workload-api-key"
    )
    assert CANARY in repr(secret_values(k8s_secret.inputs_raw) or k8s_secret.inputs_raw)
    assert result.outputs["apiKey"] == (CANARY, True)
    if stack == "acs":
        oss = next(r for r in result.records if r.name == "model-storage-oss-secret")
        assert OSS_CANARY in repr(oss.inputs_raw)

    for rec in result.records:
        assert leaks(rec.inputs_raw) == [], rec.name
        assert not _plain(rec.inputs_raw, OSS_CANARY), rec.name

    out = tmp_path / "plan"
    plan.write_plan(result, out)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any("llm-k8s-resource" in str(p) for p in files)
    for path in files:
        for text in decodings(path.read_text()):
            assert CANARY not in text and OSS_CANARY not in text, path


def _plain(value, needle) -> bool:
    """The needle outside secret wrappers (decoded like the API key canary)."""
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(value):
        return False
    if isinstance(value, dict):
        return any(_plain(v, needle) for v in value.values())
    if isinstance(value, list):
        return any(_plain(v, needle) for v in value)
    return isinstance(value, str) and any(needle in d for d in decodings(value))
