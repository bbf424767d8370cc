"""Issue 13 in the sandbox: the static per-run commands with their invocation parameters
substituted as the agent does (plain text), run against the scripts host setup installed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from components.config.problems import ConfigError
from components.config.resolve import resolve
from tests import planning as P
from tests.fakes.sandbox import Sandbox
from tests.scripts.test_upgrade_no_restart import _restarts, _settings, _synced_host, sandboxed, substitute

HOSTILE = [
    "--chat-template=$(touch /tmp/llm-pwned-1)",
    "--x=`touch /tmp/llm-pwned-2`",
    "--y='; touch /tmp/llm-pwned-3; echo '",
    '--z="double" $HOME ${PATH} \\ LLM_PARAM_EOF',
    "LLM_PARAM_EOF",
    "--w=a;b&&c|d>e<f",
]


def _serve_run(tmp_path: Path, extra: list[str], max_len: int = 32768) -> tuple[str, dict[str, str]]:
    cfg = P.with_changes(P.stack_config(), vllm={"extraArgs": extra, "maxModelLen": max_len})
    where = tmp_path / f"cfg-{max_len}-{len(extra)}"
    where.mkdir(parents=True)
    res = P.by_name(P.run(where, cfg))
    return P.phase_content(res, "serving"), res["serving-invocation"]["inputs"]["parameters"]


def _run(sb: Sandbox, content: str, params: dict[str, str]):
    return sb.run_text(bare=True, content=sandboxed(substitute(content, params), sb))


def test_hostile_values_that_pass_validation_are_delivered_literally(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    content, params = _serve_run(tmp_path / "a", HOSTILE)
    sb = _synced_host(tmp_path / "b", substitute(content, params))
    res = _run(sb, content, params)
    assert res.returncode == 0, res.stderr
    args = (sb.etc / "vllm.args").read_text().splitlines()
    assert args[-len(HOSTILE) :] == HOSTILE  # byte for byte, one argument per line
    for i in (1, 2, 3):
        assert not Path(f"/tmp/llm-pwned-{i}").exists()


def test_an_unchanged_run_restarts_nothing_and_a_change_restarts_only_vllm(tmp_path):
    for d in ("a", "b", "c"):
        (tmp_path / d).mkdir()
    content, params = _serve_run(tmp_path / "a", [])
    sb = _synced_host(tmp_path / "c", substitute(content, params))
    assert _run(sb, content, params).returncode == 0
    assert _restarts(sb) == ["systemctl restart llm-vllm.service"]
    before = _settings(sb)
    sb.reset_calls()
    again = _run(sb, content, params)
    assert again.returncode == 0, again.stderr
    assert _restarts(sb) == [] and _settings(sb) == before
    assert "unchanged: settings" in again.stdout
    content2, params2 = _serve_run(tmp_path / "b", [], max_len=16384)
    assert content2 == content and set(params2) == set(params)
    sb.reset_calls()
    changed = _run(sb, content2, params2)
    assert changed.returncode == 0, changed.stderr
    assert _restarts(sb) == ["systemctl restart llm-vllm.service"]
    assert "16384" in (sb.etc / "vllm.args").read_text()


def test_scripts_of_another_release_are_refused(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    content, params = _serve_run(tmp_path / "a", [])
    sb = _synced_host(tmp_path / "b", substitute(content, params))
    (sb.lib / "serve.sh").write_text((sb.lib / "serve.sh").read_text() + "\n# edited\n")
    res = _run(sb, content, params)
    assert res.returncode != 0
    assert "is not the version this command was rendered for" in res.stderr
    assert _restarts(sb) == []


def test_a_parameter_with_a_reference_is_refused_on_the_host_too(tmp_path):
    """Second line of defence (validation is the first): params.sh refuses `{{` in a value."""
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    content, params = _serve_run(tmp_path / "a", [])
    sb = _synced_host(tmp_path / "b", substitute(content, params))
    bad = dict(params, image='"{{oos-secret:other}}"')
    res = _run(sb, content, bad)
    assert res.returncode != 0 and "double brace" in res.stderr


BASE = {k.removeprefix("llm:"): v for k, v in P.stack_config().items() if k.startswith("llm:")}
CLUSTER = {k.removeprefix("llm:"): v for k, v in P.stack_config("prod").items() if k.startswith("llm:")}


@pytest.mark.parametrize("bad", ["{{oos-secret:x}}", "a}}b", "a\nb", "{{ACS::RegionId}}"])
@pytest.mark.parametrize(
    ("base", "changes", "key"),
    [
        (BASE, lambda v: {"vllm": {"extraArgs": ["--x=" + v]}}, "llm:vllm.extraArgs"),
        (BASE, lambda v: {"vllm": {"reasoningParser": v}}, "llm:vllm.reasoningParser"),
        (BASE, lambda v: {"vllm": {"servedModelName": v}}, "llm:vllm.servedModelName"),
        (BASE, lambda v: {"vllm": {"image": "registry.example.com/v:1" + v}}, "llm:vllm.image"),
        (BASE, lambda v: {"modelSource": {"uri": "oss://bucket-a/p" + v + "/"}}, "llm:modelSource"),
        (BASE, lambda v: {"modelSource": {"uri": "oss://bucket-a/p/", "revision": v}}, "llm:modelSource"),
        (
            CLUSTER,
            lambda v: {"cluster": {**CLUSTER["cluster"], "ncclEnv": {"NCCL_X": v}}},
            "llm:cluster.ncclEnv.NCCL_X",
        ),
    ],
    ids=["extraArgs", "reasoningParser", "servedModelName", "image", "uri", "revision", "ncclEnv"],
)
def test_every_value_that_becomes_a_parameter_rejects_references_and_line_breaks(base, changes, key, bad):
    raw = {**base, **changes(bad)}
    with pytest.raises(ConfigError) as e:
        resolve(raw)
    lines = [str(p) for p in e.value.problems]
    assert any(line.startswith(key) for line in lines), lines


# --------------------------------------------------------------------------------------------
# The host-scripts run and shellcheck of what the per-run commands became


def test_host_scripts_run_installs_what_the_static_commands_run(tmp_path):
    from components.common import scripts
    from components.ecs import host_env, userdata

    sb = Sandbox(tmp_path / "host")
    content = scripts.render_command(scripts.script_text("install-scripts.sh"), host_env.scripts_env(True))
    content = content.replace("/usr/local/lib/llm", str(sb.lib)).replace("/var/lib/llm", str(sb.state))
    first = sb.run_text(bare=True, content=content)
    assert first.returncode == 0, first.stderr
    for name, text in userdata.runner_files(True).items():
        assert (sb.lib / name).read_text() == text, name
    assert "installed" in first.stdout
    again = sb.run_text(bare=True, content=content)
    assert again.returncode == 0 and "unchanged: scripts" in again.stdout
    assert sb.calls("systemctl") == []  # restarts nothing, needs no unit
    # What llm_run checks before it runs serve.sh: the digest in the serving command.
    import hashlib

    joined = b"".join((sb.lib / n).read_bytes() for n in ("serve.sh", *userdata.RUNNER_LIBS))
    assert hashlib.sha256(joined).hexdigest() == userdata.runner_digest("serve.sh")


def test_shellcheck_params_lib_and_static_commands(tmp_path):
    from components.common import scripts
    from components.ecs import host_env
    from planner import run as plan
    from tests.scripts.test_scripts import SHELLCHECK

    def _shellcheck(path: Path) -> None:
        # SC1091: the content sources params.sh where the host-scripts run installed it.
        res = subprocess.run([str(SHELLCHECK), "-x", "-e", "SC1091", str(path)], capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr

    _shellcheck(REPO_USERDATA / "lib" / "params.sh")
    setup = tmp_path / "host-scripts.sh"
    setup.write_text(scripts.render_command(scripts.script_text("install-scripts.sh"), host_env.scripts_env(False)))
    _shellcheck(setup)
    res = P.by_name(plan.run_program("prod"))
    for phase in ("model-sync", "ray", "serving"):
        path = tmp_path / f"{phase}.sh"
        path.write_text(P.phase_content(res, phase))
        _shellcheck(path)


REPO_USERDATA = Path(__file__).resolve().parents[2] / "userdata"
