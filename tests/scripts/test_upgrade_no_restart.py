"""A changed Cloud Assistant script re-runs on the next `pulumi up`: on a host that release 1
set up, the new scripts must restart nothing and rewrite no settings file.

Each test runs release 1's command (decoded from tests/previous/release-1/<stack>) and then
today's (from a fresh offline plan) on the same sandboxed host root, with the production paths
mapped into the sandbox and the waits shortened. Today's per-run commands are static and run the
scripts host setup installed (issue 13): the sandbox gets those files, and the invocation's
parameters are substituted into the content as plain text, as the Cloud Assistant agent does.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from tests import planning as P
from tests.fakes.sandbox import API_KEY, REPO, Sandbox

RELEASE_1 = REPO / "tests" / "previous" / "release-1"
_WAITS = re.compile(r"^export (LLM_[A-Z_]*_WAIT_S)=\d+$", re.M)
_JSON_WAITS = re.compile(r'("[a-z][A-Za-z]*WaitS"): \d+')


def substitute(content: str, parameters: dict[str, str]) -> str:
    """The agent's substitution of custom parameters: plain text replacement of `{{name}}`."""
    for name, value in parameters.items():
        content = content.replace("{{" + name + "}}", value)
    return content


def _decode(resources: list[dict], name: str) -> str:
    (res,) = [r for r in resources if r["name"] == name]
    content = base64.b64decode(res["inputs"]["commandContent"]).decode()
    invocation = [r for r in resources if r["name"] == name.removesuffix("-command") + "-invocation"]
    return substitute(content, invocation[0]["inputs"].get("parameters") or {}) if invocation else content


def release_1(stack: str, name: str) -> str:
    return _decode(json.loads((RELEASE_1 / stack / "resources.json").read_text()), name)


def current(stack: str, name: str) -> str:
    return _decode(P.example_resources(stack), name)


def sandboxed(content: str, sb: Sandbox) -> str:
    """The command as it would run on the host, with host paths inside the sandbox."""
    for host, local in (
        ("/mnt/models", sb.models),
        ("/var/lib/llm", sb.state),
        ("/etc/llm", sb.etc),
        ("/usr/local/lib/llm", sb.lib),
        ("/usr/local/bin", sb.bindir),
    ):
        content = content.replace(host, str(local))
    content = re.sub(r"'\{\{oos-secret:[A-Za-z0-9_.-]+\}\}'", API_KEY, content)
    content = _WAITS.sub(lambda m: f"export {m[1]}=2", content)
    content = _JSON_WAITS.sub(lambda m: f"{m[1]}: 2", content)
    content = re.sub(r"^export LLM_POLL_S=\d+$", "export LLM_POLL_S=0.1", content, flags=re.M)
    return re.sub(r"^export LLM_PULL_BACKOFF_S=\d+$", "export LLM_PULL_BACKOFF_S=0", content, flags=re.M)


def _settings(sb: Sandbox) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(sb.etc.iterdir()) if p.suffix == ".env" or p.name == "vllm.args"}


def _model_dir(content: str) -> Path:
    m = re.search(r"^export LLM_MODEL_DIR=(\S+)$", content, re.M) or re.search(r'"modelDir": "([^"]+)"', content)
    return Path(m[1].strip("'"))  # type: ignore[index]


def _synced_host(tmp_path: Path, serve_content: str, ray: bool = False) -> Sandbox:
    sb = Sandbox(tmp_path)
    sb.install_host_files(ray)  # today's host setup, which runs before any of today's commands
    (sb.state / "bootstrap.done").touch()
    model = _model_dir(sandboxed(serve_content, sb))
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    marker = sb.state / f"model-{model.name}.done"
    marker.write_text("source=release-1\n")
    return sb


def _restarts(sb: Sandbox) -> list[str]:
    return [c for c in sb.calls("systemctl") if c.startswith(("systemctl restart", "systemctl stop"))]


def test_single_node_serve_restarts_nothing(tmp_path):
    old, new = release_1("dev", "serving-command"), current("dev", "serving-command")
    assert old != new  # the scripts did change: this is the case under test
    sb = _synced_host(tmp_path, old)
    first = sb.run_text(bare=True, content=sandboxed(old, sb))
    assert first.returncode == 0, first.stderr
    assert _restarts(sb) == ["systemctl restart llm-vllm.service"]  # release 1's first start
    before = _settings(sb)
    sb.reset_calls()
    second = sb.run_text(bare=True, content=sandboxed(new, sb))
    assert second.returncode == 0, second.stderr
    assert _restarts(sb) == []
    assert _settings(sb) == before
    assert "unchanged: settings" in second.stdout


def test_model_sync_downloads_nothing_again(tmp_path):
    old, new = release_1("dev", "model-sync-command"), current("dev", "model-sync-command")
    assert old != new
    sb = _synced_host(tmp_path, release_1("dev", "serving-command"))
    sb.install_ossutil()
    for content in (old, new):
        res = sb.run_text(bare=True, content=sandboxed(content, sb))
        assert res.returncode == 0, res.stderr
        assert "model already synced" in res.stdout
    assert sb.calls("ossutil") == []


HEAD, WORKER = "192.168.0.10", "192.168.0.11"  # the offline plan's node addresses


@pytest.mark.parametrize("role_ip", [HEAD, WORKER])
def test_cluster_ray_start_restarts_nothing(tmp_path, role_ip):
    old, new = release_1("prod", "ray-command"), current("prod", "ray-command")
    assert old != new
    sb = _synced_host(tmp_path, release_1("prod", "serving-command"), ray=True)
    env = {"LLM_LOCAL_IPS": role_ip, "LLM_RAY_JOIN_WAIT_S": "2"}
    first = sb.run_text(bare=True, content=sandboxed(old, sb), env=env)
    assert first.returncode == 0, first.stderr
    before = _settings(sb)
    assert {"ray.env", "nccl.env"} <= set(before)
    sb.reset_calls()
    second = sb.run_text(bare=True, content=sandboxed(new, sb), env=env)
    assert second.returncode == 0, second.stderr
    assert _restarts(sb) == []
    assert _settings(sb) == before


def test_cluster_serve_restarts_nothing(tmp_path):
    old, new = release_1("prod", "serving-command"), current("prod", "serving-command")
    assert old != new
    sb = _synced_host(tmp_path, old, ray=True)
    ray = sb.run_text(bare=True, content=sandboxed(release_1("prod", "ray-command"), sb), env={"LLM_LOCAL_IPS": HEAD})
    assert ray.returncode == 0, ray.stderr
    sb.ray_nodes({HEAD: (8, sb.models), WORKER: (8, sb.models)})
    first = sb.run_text(bare=True, content=sandboxed(old, sb))
    assert first.returncode == 0, first.stderr
    before = _settings(sb)
    sb.reset_calls()
    second = sb.run_text(bare=True, content=sandboxed(new, sb))
    assert second.returncode == 0, second.stderr
    assert _restarts(sb) == []
    assert _settings(sb) == before
