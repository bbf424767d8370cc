"""checkov (kubernetes + secrets frameworks) on every example stack's rendered manifests: every
failing check must be listed, with its reason, in docs/security.md; at most 8 per workload; the
secrets scanner finds nothing. checkov lives in its own venv (`make checkov-venv`: its pins
conflict with pulumi's); CI (`make test`) builds it first, a local run without it skips."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import defaultdict

import pytest

from tests.fakes.sandbox import REPO
from tests.regenerate_golden import example_stacks

CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
MAX_PER_WORKLOAD = 8

if not CHECKOV.exists():
    if os.environ.get("CI"):
        raise RuntimeError("checkov venv missing: run `make checkov-venv` (make test does)")
    pytest.skip("checkov venv missing (make checkov-venv)", allow_module_level=True)


def justified() -> set[str]:
    text = (REPO / "docs" / "security.md").read_text()
    return set(re.findall(r"^\| (CKV2?_[A-Z0-9_]+) \|", text, re.M))


def scan(directory) -> list[dict]:
    proc = subprocess.run(
        [str(CHECKOV), "-d", str(directory), "--framework", "kubernetes", "secrets", "-o", "json", "--quiet",
         "--skip-download"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    out = json.loads(proc.stdout or "[]")
    return out if isinstance(out, list) else [out]


def failed(reports: list[dict]) -> dict[str, dict[str, set[str]]]:
    """framework -> file -> failed check IDs."""
    out: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for rep in reports:
        for c in rep.get("results", {}).get("failed_checks", []):
            out[rep.get("check_type", "?")][c["file_path"].rsplit("/", 1)[-1]].add(c["check_id"])
    return out


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = {}
    for stack in example_stacks():
        files = sorted((REPO / "tests" / "golden" / stack / "files").glob("*.yaml"))
        if not files:
            continue
        d = tmp_path_factory.mktemp(stack)
        for f in files:
            shutil.copy(f, d / f.name)
        out[stack] = failed(scan(d))
    return out


def test_the_justified_table_is_parsed():
    assert {"CKV2_K8S_6", "CKV_K8S_43"} <= justified()


def test_every_failing_check_is_justified_in_docs(results):
    assert results, "no stack with manifests"
    for stack, by_fw in results.items():
        for name, checks in by_fw.get("kubernetes", {}).items():
            assert checks <= justified(), (stack, name, sorted(checks - justified()))


def test_at_most_eight_failing_checks_per_workload(results):
    for stack, by_fw in results.items():
        for name, checks in by_fw.get("kubernetes", {}).items():
            assert len(checks) <= MAX_PER_WORKLOAD, (stack, name, sorted(checks))


def test_no_secret_scanner_finding(results):
    for stack, by_fw in results.items():
        assert not by_fw.get("secrets"), (stack, dict(by_fw.get("secrets", {})))


def test_positive_controls_the_scanners_do_fire(tmp_path):
    """A privileged pod and a planted AWS-style key are reported: a green run above means something."""
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: bad, namespace: x}\n"
        "spec:\n  containers:\n  - name: c\n    image: nginx\n    securityContext: {privileged: true}\n"
    )
    (tmp_path / "leak.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: x}\ndata:\n  key: AKIAZ7Q3M4N5P6R8T2VW\n"
    )
    got = failed(scan(tmp_path))
    assert "CKV_K8S_16" in got["kubernetes"]["bad.yaml"]  # privileged container
    assert got["secrets"], "the secrets framework found nothing in a planted key"
