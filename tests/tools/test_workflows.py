"""The GitHub workflows users of this project get: schema-valid, and the rules that matter.

Offline only: the schema ships inside check-jsonschema (``vendor.github-workflows``); the
cloud steps themselves (pulumi preview/up) are checked by schema and structure, never run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))
PULUMI_ACTION = "pulumi/actions@v6"


def load(name: str) -> dict:
    return yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())


def triggers(wf: dict) -> dict:
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as True
    return {on: None} if isinstance(on, str) else dict(on)


def steps_using(job: dict, action: str) -> list[dict]:
    return [s for s in job.get("steps", []) if s.get("uses") == action]


def check_jsonschema(*paths: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]
    return subprocess.run([*cmd, *map(str, paths)], capture_output=True, text=True, timeout=120)


def test_there_are_workflows():
    assert {p.name for p in WORKFLOWS} >= {"pr.yml", "deploy.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_the_github_schema(path):
    proc = check_jsonschema(path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_can_fail(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\non: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    assert check_jsonschema(bad).returncode != 0


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_pinned_by_major_version(path):
    for job in yaml.safe_load(path.read_text())["jobs"].values():
        for step in job.get("steps", []):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+", step["uses"]), step["uses"]


# -- deploy ----------------------------------------------------------------------------------


def pulumi_jobs(wf: dict, command: str) -> dict[str, tuple[dict, str]]:
    """job id -> (job, stack) for jobs running pulumi/actions with `command`."""
    found = {}
    for name, job in wf["jobs"].items():
        for step in steps_using(job, PULUMI_ACTION):
            if step["with"]["command"] == command:
                found[name] = (job, step["with"]["stack-name"])
    return found


def test_deploy_has_one_concurrency_group_per_stack():
    ups = pulumi_jobs(load("deploy.yml"), "up")
    assert {stack for _, stack in ups.values()} == {"dev", "prod"}
    groups = {}
    for job, stack in ups.values():
        conc = job["concurrency"]
        assert stack in conc["group"]
        assert conc["cancel-in-progress"] is False  # never kill a running update
        groups[stack] = conc["group"]
    assert len(set(groups.values())) == len(groups)


def test_dev_deploys_on_push_to_main():
    wf = load("deploy.yml")
    assert triggers(wf)["push"]["branches"] == ["main"]
    [(job, stack)] = [v for v in pulumi_jobs(wf, "up").values() if v[1] == "dev"]
    assert "github.event_name == 'push'" in job["if"]


def test_prod_only_by_workflow_dispatch_through_the_protected_environment():
    wf = load("deploy.yml")
    assert "workflow_dispatch" in triggers(wf)
    [(job, _)] = [v for v in pulumi_jobs(wf, "up").values() if v[1] == "prod"]
    env = job["environment"]
    assert (env if isinstance(env, str) else env["name"]) == "prod"
    cond = job["if"]
    assert "github.event_name == 'workflow_dispatch'" in cond and "||" not in cond
    assert "push" not in cond


@pytest.mark.parametrize("name", ["pr.yml", "deploy.yml"])
def test_cloud_jobs_get_the_secrets(name):
    wf = load(name)
    for command in ("up", "preview"):
        for job, _ in pulumi_jobs(wf, command).values():
            env = job["env"]
            for var in ("PULUMI_CONFIG_PASSPHRASE", "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
                assert env[var] == f"${{{{ secrets.{var} }}}}"
            for step in steps_using(job, PULUMI_ACTION):
                assert step["with"]["cloud-url"] == "${{ secrets.PULUMI_BACKEND_URL }}"


# -- pull requests ---------------------------------------------------------------------------


def test_pr_runs_make_test_on_python_311():
    job = load("pr.yml")["jobs"]["test"]
    [setup] = steps_using(job, "actions/setup-python@v5")
    assert setup["with"]["python-version"] == "3.11"
    assert any(s.get("run", "").startswith("make test") for s in job["steps"])


def test_pr_plans_every_stack_on_head_and_base_and_comments_once():
    wf = load("pr.yml")
    assert "pull_request" in triggers(wf)
    job = wf["jobs"]["plan"]
    refs = [s.get("with", {}).get("ref") for s in steps_using(job, "actions/checkout@v4")]
    assert "${{ github.event.pull_request.base.sha }}" in refs
    script = "\n".join(s.get("run", "") for s in job["steps"])
    assert "Pulumi.*.yaml" in script
    assert 'python -m stackctl plan --stack "$stack" --out' in script
    assert '--diff "$out/base-$stack"' in script
    [comment] = steps_using(job, "marocchino/sticky-pull-request-comment@v2")
    assert comment["with"]["header"] == "offline-plan"
    assert job["permissions"]["pull-requests"] == "write"


def test_pr_preview_is_conditional_on_credentials():
    wf = load("pr.yml")
    previews = pulumi_jobs(wf, "preview")
    assert previews, "a pulumi preview job exists"
    gate = wf["jobs"]["credentials"]
    [check] = [s for s in gate["steps"] if s.get("id") == "check"]
    assert check["env"]["HAS_KEY"] == "${{ secrets.ALIBABA_CLOUD_ACCESS_KEY_ID != '' }}"
    assert gate["outputs"]["available"] == "${{ steps.check.outputs.available }}"
    for name, (job, stack) in previews.items():
        assert "credentials" in job["needs"]
        assert "needs.credentials.outputs.available == 'true'" in job["if"], name
        assert stack == "${{ matrix.stack }}"
        assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.credentials.outputs.stacks) }}"
        [step] = steps_using(job, PULUMI_ACTION)
        assert step["with"]["diff"] is True
        assert "matrix.stack" in job["concurrency"]["group"]


def test_no_other_job_touches_the_cloud_unconditionally():
    wf = load("pr.yml")
    for name, job in wf["jobs"].items():
        uses_cloud = bool(steps_using(job, PULUMI_ACTION)) or "ALIBABA_CLOUD_ACCESS_KEY_SECRET" in str(job.get("env"))
        if uses_cloud:
            assert "needs.credentials.outputs.available" in job.get("if", ""), name


@pytest.mark.skipif(shutil.which("shellcheck") is None and not (Path(sys.executable).parent / "shellcheck").exists(),
                    reason="shellcheck not installed")  # fmt: skip
@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_run_scripts_pass_shellcheck(path, tmp_path):
    exe = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    wf = yaml.safe_load(path.read_text())
    n = 0
    for job_name, job in wf["jobs"].items():
        for i, step in enumerate(job.get("steps", [])):
            if "run" not in step:
                continue
            script = re.sub(r"\$\{\{.*?\}\}", "EXPR", step["run"])
            f = tmp_path / f"{job_name}-{i}.sh"
            f.write_text("#!/usr/bin/env bash\n" + script)
            proc = subprocess.run([exe, "-S", "warning", str(f)], capture_output=True, text=True, timeout=60)
            assert proc.returncode == 0, f"{path.name} {job_name} step {i}:\n{proc.stdout}"
            n += 1
    assert n > 0


# -- e2e ---------------------------------------------------------------------------------------


def e2e_steps() -> list[dict]:
    return load("e2e.yml")["jobs"]["e2e"]["steps"]


def step_index(steps: list[dict], needle: str) -> int:
    found = [i for i, s in enumerate(steps) if needle in (s.get("run") or "") or needle == s.get("uses")]
    assert found, needle
    return found[0]


def test_e2e_is_manual_or_an_opt_in_schedule_one_at_a_time():
    wf = load("e2e.yml")
    on = triggers(wf)
    assert "workflow_dispatch" in on and on["schedule"]
    job = wf["jobs"]["e2e"]
    assert job["if"] == "github.event_name == 'workflow_dispatch' || vars.E2E_SCHEDULE == 'true'"
    assert wf["concurrency"] == {"group": "e2e", "cancel-in-progress": False}
    assert 0 < job["timeout-minutes"] <= 180


def test_e2e_step_order():
    steps = e2e_steps()
    order = [
        step_index(steps, "actions/checkout@v4"),
        step_index(steps, "actions/setup-python@v5"),
        step_index(steps, "make test"),
        step_index(steps, PULUMI_ACTION),
        step_index(steps, 'cat > "Pulumi.$STACK.yaml"'),
        step_index(steps, "python -m stackctl preflight"),
        step_index(steps, "pulumi up --yes"),
        step_index(steps, "python -m stackctl smoke"),
        step_index(steps, "pulumi stack output instanceId"),
        step_index(steps, "--path llm:vllm.maxModelLen 16384"),
    ]
    assert order == sorted(order) and len(set(order)) == len(order)
    change = order[-1]
    ups = [i for i, s in enumerate(steps) if "pulumi up --yes" in (s.get("run") or "")]
    smokes = [i for i, s in enumerate(steps) if "python -m stackctl smoke" in (s.get("run") or "")]
    assert len(ups) == 2 and len(smokes) == 2 and ups[1] > change and smokes[1] > ups[1]
    assert_same = step_index(steps, '"$after" != "$BEFORE"')
    bench = step_index(steps, "python -m stackctl bench")
    destroy = step_index(steps, "pulumi destroy --yes")
    sweep = step_index(steps, "python -m stackctl sweep")
    assert smokes[1] < assert_same < bench < destroy < sweep == len(steps) - 1
    assert "--deadline" in steps[bench]["run"] and "--duration" in steps[bench]["run"]
    assert steps[destroy]["if"] == "always()" and steps[sweep]["if"] == "always()"
    for i, s in enumerate(steps):
        if i not in (destroy, sweep):
            assert "if" not in s or "always()" not in s["if"], s


def test_e2e_stack_is_the_cheapest_shape_and_not_committed():
    script = next(s["run"] for s in e2e_steps() if 'cat > "Pulumi.$STACK.yaml"' in (s.get("run") or ""))
    assert "llm:mode: ecs-single" in script and "llm:model: deepseek-r1-distill-qwen-1.5b" in script
    env = load("e2e.yml")["jobs"]["e2e"]["env"]
    assert env["E2E_INSTANCE_TYPE"].endswith("'ecs.gn7i-c8g1.2xlarge' }}")
    assert env["E2E_WEIGHTS_URI"] == "${{ vars.E2E_WEIGHTS_URI }}"
    assert not (REPO / f"Pulumi.{env['STACK']}.yaml").exists()


def _walk(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, (*path, i))
    else:
        yield path, node


@pytest.mark.parametrize("name", ["e2e.yml"])
def test_secrets_only_in_env_and_never_echoed(name):
    wf = load(name)
    text = (REPO / ".github" / "workflows" / name).read_text()
    assert not re.search(r"echo[^\n]*\$\{\{\s*secrets\.", text)
    seen = 0
    for path, value in _walk(wf):
        if isinstance(value, str) and "secrets." in value:
            assert len(path) >= 2 and path[-2] == "env", (path, value)
            assert re.fullmatch(r"\$\{\{ secrets\.[A-Z_]+ \}\}", value), value
            seen += 1
    assert seen >= 4
    env = wf["jobs"]["e2e"]["env"]
    for var in ("PULUMI_CONFIG_PASSPHRASE", "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        assert env[var] == f"${{{{ secrets.{var} }}}}"
    assert env["PULUMI_BACKEND_URL"] == "${{ secrets.PULUMI_BACKEND_URL }}"


def test_secret_rule_can_fail():
    bad = {"jobs": {"x": {"steps": [{"run": "echo hi", "with": {"token": "${{ secrets.T }}"}}]}}}
    offending = [p for p, v in _walk(bad) if isinstance(v, str) and "secrets." in v and p[-2] != "env"]
    assert offending


def test_pr_comment_is_fitted_to_githubs_limit_and_the_full_diff_uploaded():
    job = load("pr.yml")["jobs"]["plan"]
    script = "\n".join(s.get("run", "") for s in job["steps"])
    assert 'python head/tools/fit_comment.py "$out/plan-diff.md" "$comment"' in script
    assert script.index("fit_comment.py") < script.index('cat "$comment" >> "$GITHUB_STEP_SUMMARY"')
    paths = [s["with"]["path"] for s in steps_using(job, "actions/upload-artifact@v4")]
    assert "${{ runner.temp }}/plans/plan-diff.md" in paths


def test_fit_comment_truncates_large_diffs_with_a_note():
    from tools.fit_comment import GITHUB_COMMENT_MAX, fit

    small = "### Offline plan diff\n\nNo changes.\n"
    assert fit(small) == small
    big = "<details><summary>x</summary>\n\n```diff\n" + "+a line of a large diff\n" * 5000
    out = fit(big)
    assert len(out) <= GITHUB_COMMENT_MAX and "**Truncated**" in out and "offline-plan-diff" in out
    assert out.count("```") % 2 == 0 and out.count("<details>") == out.count("</details>")
