"""Issue 13: reviewable changes. Static per-run commands, settings as invocation parameters, a
`plan --diff` for people (golden outputs), and effects taken from the provider's own source."""

from __future__ import annotations

import base64
import json

import pytest

from components.common import scripts
from components.ecs import host_env
from planner import diff as plan_diff
from planner import run as plan
from tests import golden_diff
from tests import planning as P
from tests.regenerate_golden import GOLDEN

PHASES = ("model-sync", "serving")


@pytest.fixture(scope="module")
def base():
    return P.by_name(P.run(None))


def _after(tmp_path, stack="dev", **changes):
    return P.by_name(P.run(tmp_path, P.with_changes(P.stack_config(stack), **changes), stack=stack))


@pytest.mark.parametrize(
    ("changes", "phase", "groups"),
    [
        ({"vllm": {"maxModelLen": 16384}}, "serving", {"vllmArgs"}),
        ({"vllm": {"gpuMemoryUtilization": 0.85}}, "serving", {"vllmArgs"}),
        ({"vllm": {"image": golden_diff.CASES["image"][1]["vllm"]["image"]}}, "serving", {"image", "vllmArgs"}),
        ({"vllm": {"startupTimeoutS": 1800}}, "serving", {"serving"}),
        ({"apiKeyVersion": 2}, "serving", {"keyVersion"}),
        ({"modelSource": {"revision": "2025-02-01"}}, "model-sync", {"model"}),
    ],
    ids=["max-model-len", "gpu-memory", "image", "startup-timeout", "key-version", "revision"],
)
def test_content_is_static_and_parameters_differ_by_the_changed_group(tmp_path, base, changes, phase, groups):
    new = _after(tmp_path, **changes)
    for ph in PHASES:
        assert P.phase_content(new, ph) == P.phase_content(base, ph), ph
        assert new[f"{ph}-command"]["inputs"]["commandContent"] == base[f"{ph}-command"]["inputs"]["commandContent"]
    a, b = base[f"{phase}-invocation"]["inputs"]["parameters"], new[f"{phase}-invocation"]["inputs"]["parameters"]
    assert set(a) == set(b)
    assert {k for k in a if a[k] != b[k]} == groups


def test_image_tag_change_also_moves_the_reasoning_flag():
    """(why `image` above also changes vllmArgs: vLLM 0.9 drops --enable-reasoning)"""
    old = json.loads(P.by_name(P.run(None))["serving-invocation"]["inputs"]["parameters"]["vllmArgs"])
    assert "--enable-reasoning" in old or "--reasoning-parser" not in old


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_parameters_round_trip_to_the_scripts_env(stack):
    """Content constants + decoded parameters are exactly the env the script used to get."""
    res = P.by_name(plan.run_program(stack))
    for phase in ("model-sync", "serving") + (("ray",) if stack == "prod" else ()):
        env = P.phase_env(res, phase)
        content = P.phase_content(res, phase)
        params = res[f"{phase}-invocation"]["inputs"]["parameters"]
        assert scripts.parameter_names(content) == set(params)
        assert len(params) <= scripts.PARAMETERS_MAX and all(len(k) <= scripts.PARAMETER_KEY_MAX for k in params)
        assert res[f"{phase}-command"]["inputs"]["enableParameter"] is True
        assert all("{{" not in v and "}}" not in v and "\n" not in v for v in params.values())
        assert all(k.startswith("LLM_") for k in env)
        script = {"model-sync": "model-sync.sh", "serving": "serve.sh", "ray": "ray-start.sh"}[phase]
        assert set(env) - set(host_env.MODEL_ROOT_KEYS) <= scripts.script_env(script) | {
            "LLM_API_KEY",
            "LLM_RAY_GENERATION",
        }


def test_the_api_key_reaches_the_host_only_by_its_reference(base):
    content = P.phase_content(base, "serving")
    assert "export LLM_API_KEY='{{oos-secret:llm-dev-api-key}}'\n" in content
    assert "oos-secret" not in json.dumps(base["serving-invocation"]["inputs"]["parameters"])


def test_split_rejects_what_the_agent_would_read():
    env = {"LLM_LIB_DIR": "/l", "LLM_VLLM_ARGS": "--x\n{{oos-secret:other}}"}
    with pytest.raises(ValueError, match="Cloud Assistant would read it"):
        scripts.split_params(env, {"vllmArgs": ("LLM_VLLM_ARGS",)})
    with pytest.raises(ValueError, match="at most 10"):
        scripts.split_params({f"LLM_X{i}": "1" for i in range(11)}, {f"p{i}": (f"LLM_X{i}",) for i in range(11)})
    with pytest.raises(ValueError, match="case-insensitive"):
        scripts.split_params({"LLM_A": "1", "LLM_B": "2"}, {"model": ("LLM_A",), "Model": ("LLM_B",)})


# --------------------------------------------------------------------------------------------
# plan --diff golden outputs


@pytest.mark.parametrize("case", sorted(golden_diff.CASES))
def test_plan_diff_matches_golden(case):
    md, js = golden_diff.render(case)
    assert md == (golden_diff.GOLDEN_DIFF / f"{case}.md").read_text(), (
        f"`make golden`, then review tests/golden-diff/{case}.md"
    )
    assert js == (golden_diff.GOLDEN_DIFF / f"{case}.json").read_text()


def test_golden_diffs_say_what_happens_on_the_hosts():
    text = {c: (golden_diff.GOLDEN_DIFF / f"{c}.md").read_text() for c in golden_diff.CASES}
    assert "| `serving-invocation` | vllmArgs | maxModelLen | 32768 | 16384 |" in text["max-model-len"]
    assert "vLLM reload on one group" in text["max-model-len"]
    assert "none replaced or rebooted" in text["max-model-len"]
    assert "replaced: node-model-disk-attach, node-instance" in text["instance-replaced"]
    assert "serving down while node-instance" in text["instance-replaced"]
    assert "| Ray | restarts on every node |" in text["cluster-nodes"]
    assert "added: worker-2-model-disk" in text["cluster-nodes"]
    assert text["no-change"] == "### Offline plan diff\n\nNo changes.\n"
    for case, md in text.items():
        # Never an encoded prefix: no long Base64 run in any golden diff.
        assert not any(len(w) > 100 and w.isascii() and w.replace("+", "").replace("/", "").rstrip("=").isalnum()
                       for w in md.split()), case  # fmt: skip


def test_changed_script_reads_as_a_unified_diff_of_decoded_text():
    old = {"urn": "u", "name": "c", "type": "alicloud:ecs/command:Command", "options": {},
           "inputs": {"commandContent": scripts.encode_command("#!/bin/bash\necho one\n")}}  # fmt: skip
    new = {**old, "inputs": {"commandContent": scripts.encode_command("#!/bin/bash\necho two\n")}}
    d = plan_diff.diff_resources([old], [new])
    change = d["changed"][0]["changes"][0]
    assert "-echo one\n+echo two\n" in change["diff"]
    md = plan_diff.markdown(d)
    assert "```diff" in md and "IyEv" not in md  # the Base64 of "#!/"


def test_packed_host_files_are_diffed_unpacked():
    a = "export LLM_FILES_TGZ_B64=" + scripts.pack_files({"serve.sh": "echo a\n" * 40}) + "\n"
    b = "export LLM_FILES_TGZ_B64=" + scripts.pack_files({"serve.sh": "echo a\n" * 39 + "echo b\n"}) + "\n"
    td = plan_diff.text_diff(scripts.encode_command(a), scripts.encode_command(b), "x")
    assert td is not None and "LLM_FILES_TGZ_B64/serve.sh" in td and "+echo b" in td and "H4sI" not in td


# --------------------------------------------------------------------------------------------
# Effects from the provider's facts


def _declared() -> set[tuple[str, str]]:
    out = set()
    for stack in ("dev", "prod", "acs", "acs-r1"):
        for r in json.loads((GOLDEN / stack / "resources.json").read_text()):
            out |= {(r["type"], k) for k in r["inputs"] if not k.startswith("__")}
    return out


def test_effects_agree_with_the_provider_facts_for_every_property_the_plans_set():
    facts = plan_diff.FACTS
    assert facts["commit"] == "81c43b6727a09e9da37b3d88818c3ba5fa17fa14"
    alicloud = {(t, p) for t, p in _declared() if t.startswith("alicloud:")}
    from tools.provider_facts import EXTRA_TYPES  # llm:replicas > 1 / TLS only (tests/program/test_replicas.py)

    assert {t for t, _ in alicloud} | set(EXTRA_TYPES) == set(facts["resources"])
    for t, p in sorted(alicloud):
        fact = facts["resources"][t]["properties"].get(plan_diff._tf_name(t, p))
        assert fact is not None, (t, p)  # every property the plans set is covered
        got = plan_diff.effect(t, p)
        assert (got == plan_diff.REPLACES) == fact["forceNew"], (t, p, got)


def test_known_special_effects_come_from_the_provider():
    inst = plan_diff.FACTS["resources"]["alicloud:ecs/instance:Instance"]
    assert "user_data" in inst["reboots"]  # resource_alicloud_instance.go: `reboot = true` on user_data
    assert plan_diff.effect("alicloud:ecs/instance:Instance", "userData") == plan_diff.REBOOTS
    assert plan_diff.effect("alicloud:ecs/instance:Instance", "networkInterfaceTrafficMode") == plan_diff.REPLACES
    assert plan_diff.effect("alicloud:ecs/instance:Instance", "spotStrategy") == plan_diff.REPLACES
    assert inst["conditionalForceNew"] == ["image_id"]
    assert plan_diff.effect("alicloud:ecs/ecsInvocation:EcsInvocation", "parameters") == plan_diff.REPLACES
    for prop in ("commandContent", "enableParameter", "timeout", "description"):
        assert plan_diff.effect("alicloud:ecs/command:Command", prop) == plan_diff.REPLACES


def test_provider_facts_parser_on_a_schema_snippet():
    from tools.provider_facts import reboot_props, schema_facts

    go = """
    Schema: map[string]*schema.Schema{
        "a": {
            Type: schema.TypeString, Optional: true, ForceNew: true,
            ValidateFunc: validation.StringMatch(regexp.MustCompile(`^[{}]+$`), "braces { in strings"),
        },
        "b": {
            Type: schema.TypeList, Optional: true,
            Elem: &schema.Resource{Schema: map[string]*schema.Schema{"c": {Type: schema.TypeString, ForceNew: true}}},
        },
        "d": {Type: schema.TypeString, Computed: true},
        "tags": tagsSchema(),
    },
    }
    func u() { if d.HasChange("b") { reboot = true } ; if d.HasChange("a") { x = 1 } }
    """
    facts = schema_facts(go)
    assert facts["a"]["forceNew"] and not facts["b"]["forceNew"] and "c" not in facts
    assert facts["d"] == {"forceNew": False, "settable": False, "computedOnly": True}
    assert facts["tags"]["settable"] and not facts["tags"]["forceNew"]
    assert reboot_props(go) == ["b"]


# --------------------------------------------------------------------------------------------
# Sizes: content + parameters under the budget with the longest values validation allows


def _longest_serving(tmp_path, hostile: str) -> dict[str, dict]:
    from components.config import rules_cloud as R

    per = R.EXTRA_ARGS_CHARS_MAX // R.EXTRA_ARGS_MAX
    args = [("--x" + hostile * per)[:per] for _ in range(R.EXTRA_ARGS_MAX)]
    return _after(tmp_path, vllm={"extraArgs": args, "servedModelName": "m" * 64}, modelSource={
        "uri": "oss://" + "b" * 63 + "/" + "p/" * ((R.OSS_URI_MAX - 70) // 2), "revision": "r" * 64,
    })  # fmt: skip


@pytest.mark.parametrize("hostile", ['"', "\u4e2d", "\\"], ids=["quotes", "cjk", "backslash"])
def test_sizes_with_the_longest_settings(tmp_path, hostile):
    res = _longest_serving(tmp_path, hostile)
    for phase in PHASES:
        content = P.phase_content(res, phase)
        size = scripts.invoke_b64_size(content, res[f"{phase}-invocation"]["inputs"]["parameters"])
        assert size <= scripts.INVOKE_B64_LIMIT, (phase, size)
        assert len(res[f"{phase}-command"]["inputs"]["commandContent"]) <= scripts.COMMAND_B64_LIMIT


def test_cluster_sizes_with_the_longest_nccl_env(tmp_path):
    from components.config import rules_cloud as R

    env = {f"NCCL_X{i:02d}": "\\" * R.NCCL_VALUE_MAX for i in range(R.NCCL_ENV_MAX)}
    res = _after(tmp_path, stack="prod", cluster={"ncclEnv": env, "nodes": 16})
    for phase in ("ray", "serving", "model-sync"):
        size = scripts.invoke_b64_size(P.phase_content(res, phase), res[f"{phase}-invocation"]["inputs"]["parameters"])
        assert size <= scripts.INVOKE_B64_LIMIT, (phase, size)


def test_host_scripts_command_fits():
    content = scripts.render_command(scripts.script_text("install-scripts.sh"), host_env.scripts_env(True))
    assert len(base64.b64encode(content.encode())) <= scripts.COMMAND_B64_LIMIT
