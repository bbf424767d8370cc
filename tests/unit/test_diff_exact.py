"""planner/diff.py pinned to exact output on planted plans (issue 17): each effect branch, the
readable values (vLLM flags, grouped parameters, decoded and unpacked texts), the ID cascade,
every line of "what this change does on the hosts", and the Markdown cells.

The golden diffs (tests/golden-diff/, tests/program/test_reviewable.py) pin whole example-stack
diffs; these cases pin the branches the example stacks do not reach.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from components.common import scripts
from planner import diff as D
from tests import planning as P

INSTANCE = "alicloud:ecs/instance:Instance"
DISK = "alicloud:ecs/ecsDisk:EcsDisk"
ATTACH = "alicloud:ecs/ecsDiskAttachment:EcsDiskAttachment"
INV = "alicloud:ecs/ecsInvocation:EcsInvocation"
LB = "alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer"
SERVICE = "kubernetes:core/v1:Service"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
LWS = "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet"
DYNAMIC = "pulumi-python:dynamic:Resource"
RELOAD_TAIL = "requests fail until the model has loaded and answered (at most llm:vllm.startupTimeoutS)"


r = P.planted


# --- effects ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "type_,prop,expected",
    [
        ("random:index/randomPassword:RandomPassword", "length", D.REPLACES),  # every argument
        ("random:index/randomPassword:RandomPassword", "special", D.REPLACES),
        (DYNAMIC, "instance_ids", D.REPLACES),
        (DYNAMIC, "region", D.REPLACES),
        (DYNAMIC, "timeout_s", "updates in place (checks the agents again)"),
        (DYNAMIC, "poll_s", "updates in place (checks the agents again)"),
        (DYNAMIC, "other", D.UNKNOWN),  # a type the facts do not cover
        (INSTANCE, "vswitchId", D.REBOOTS),  # stop/start flag of the update helper
        (INSTANCE, "instanceType", D.REBOOTS),
        (INSTANCE, "userData", D.REBOOTS),  # reboot = true in the provider
        (INSTANCE, "hostName", D.REBOOTS),
        (INSTANCE, "spotStrategy", D.REPLACES),  # ForceNew
        (INSTANCE, "systemDiskEncrypted", D.REPLACES),
        (INSTANCE, "instanceName", D.IN_PLACE),
        (INSTANCE, "imageId", "updates in place (system disk swapped; ignored by the program)"),
        (INSTANCE, "tags", D.UNKNOWN),  # settable, no d.HasChange of it in the update code
        (INSTANCE, "cpu", D.UNKNOWN),  # computed only
        (INSTANCE, "noSuchProperty", D.UNKNOWN),
        (DISK, "size", "updates in place (grow only)"),
        (DISK, "zoneId", D.REPLACES),
        (DISK, "description", D.IN_PLACE),
        ("alicloud:ram/policy:Policy", "policyDocument", "updates in place (new policy version)"),
        ("alicloud:vpc/natGateway:NatGateway", "networkType", D.RECORDED),
        (INV, "instanceIds", D.REPLACES),  # pulumiNames: instanceIds -> instance_id
        (SERVICE, "spec", D.UNKNOWN),
    ],
)
def test_effect_of_each_branch(type_, prop, expected):
    assert D.effect(type_, prop) == expected


def test_terraform_names():
    assert D._tf_name("x", "fooBarBaz") == "foo_bar_baz"
    assert D._tf_name("x", "plain") == "plain"
    assert D._tf_name(INV, "instanceIds") == "instance_id"  # the bridge's own mapping wins
    assert D._tf_name("alicloud:slb/acl:Acl", "entryLists") == "entry_list"


# --- readable values -------------------------------------------------------------------------


def test_vllm_args_as_flags():
    args = ["--model", "/m", "--enable-reasoning", "--max-model-len=32768", "--kv-cache-dtype", "fp8", "pos",
            "--x", "1", "--x", "2", "--x", 3, "--tp-2", "--last"]  # fmt: skip
    assert D._args_map(args) == {
        "model": "/m",
        "enableReasoning": "on",  # a flag followed by a flag
        "maxModelLen": "32768",
        "kvCacheDtype": "fp8",
        "arg6": "pos",  # a positional argument, by its index
        "x": "1",
        "x#2": "2",  # repeated flags keep every value
        "x#3": "3",
        "tp2": "on",
        "last": "on",  # a flag at the end
    }
    assert D._args_map(["--a=", "--b", ""]) == {"a": "", "b": ""}
    assert D._args_map([]) == {}


def test_scalars_and_parsing():
    assert D._scalar("é") == "é"
    assert D._scalar(True) == "true" and D._scalar(None) == "null" and D._scalar(3) == "3"
    assert D._scalar(["é"]) == '["é"]'
    assert D._parse('{"a": 1}') == {"a": 1}
    assert D._parse("not json") == "not json"
    assert D._parse(5) == 5


def test_flatten_nested_groups():
    assert D._flatten("serve", {"a": 1, "b": {"c": "x", "d": {"e": True}}}) == {"a": "1", "b.c": "x", "b.d.e": "true"}
    assert D._flatten("vllmArgs", ["--a", "1"]) == {"a": "1"}
    assert D._flatten("other", ["--a", "1"]) == {"": '["--a", "1"]'}  # only vllmArgs reads as flags
    assert D._flatten("rev", "r1") == {"": "r1"}
    assert D._flatten("g", {}) == {}


def test_parameter_settings_one_row_per_changed_setting():
    old = {
        "serve": json.dumps({"maxModelLen": 32768, "image": "a", "p": {"a": 1, "b": 2}}),
        "rev": '"r1"',
        "same": '"x"',
        "gone": '"g"',
        "vllmArgs": json.dumps(["--max-model-len", "32768", "--enforce-eager"]),
    }
    new = {
        "serve": json.dumps({"maxModelLen": 16384, "image": "a", "p": {"b": 3, "c": 4}}),
        "rev": '"r2"',
        "same": '"x"',
        "fresh": "7",
        "vllmArgs": json.dumps(["--max-model-len", "16384"]),
    }
    assert D.parameter_settings(old, new) == [
        {"parameter": "fresh", "setting": "fresh", "old": "(unset)", "new": "7"},
        {"parameter": "gone", "setting": "gone", "old": "g", "new": "(unset)"},
        {"parameter": "rev", "setting": "rev", "old": "r1", "new": "r2"},
        # the new value's order first, then what only the old one had
        {"parameter": "serve", "setting": "maxModelLen", "old": "32768", "new": "16384"},
        {"parameter": "serve", "setting": "p.b", "old": "2", "new": "3"},
        {"parameter": "serve", "setting": "p.c", "old": "(unset)", "new": "4"},
        {"parameter": "serve", "setting": "p.a", "old": "1", "new": "(unset)"},
        {"parameter": "vllmArgs", "setting": "maxModelLen", "old": "32768", "new": "16384"},
        {"parameter": "vllmArgs", "setting": "enforceEager", "old": "on", "new": "(unset)"},
    ]
    assert D.parameter_settings(None, None) == []
    assert D.parameter_settings(None, {"a": "1"}) == [{"parameter": "a", "setting": "a", "old": "(unset)", "new": "1"}]


# --- decoded texts ---------------------------------------------------------------------------


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_short_single_line_values_are_no_text_diff():
    assert D.text_diff("a", "b", "x") is None
    assert D.text_diff(1, 2, "x") is None
    assert D.text_diff("a" * 120, "b" * 120, "x") is None  # 120 characters read fine in a cell
    assert D._texts(None) is None and D._texts(3) is None
    assert D._texts("short") is None
    assert D._texts("x" * 121) == {"": "x" * 121 + "\n"}


def test_multi_line_text_diff_exact():
    old = "l1\nl2\nl3\nl4\nl5\nl6\n"
    new = "l1\nl2\nl3\nL4\nl5\nl6\n"
    assert D.text_diff(old, new, "cmd.commandContent") == (
        "--- old/cmd.commandContent\n+++ new/cmd.commandContent\n@@ -2,5 +2,5 @@\n l2\n l3\n-l4\n+L4\n l5\n l6\n"
    )
    # one side missing: the whole text is added; a text without a last newline gets one
    assert D.text_diff(None, "a\nb", "x") == "--- old/x\n+++ new/x\n@@ -0,0 +1,2 @@\n+a\n+b\n"
    assert D.text_diff("a\nb\n", None, "x") == "--- old/x\n+++ new/x\n@@ -1,2 +0,0 @@\n-a\n-b\n"
    assert D.text_diff("a\nb\n", "a\nb\n", "x") is None
    # a short value against a text: the value is one line of the diff
    assert D.text_diff("a", "a\nb\n", "x") == "--- old/x\n+++ new/x\n@@ -1 +1,2 @@\n a\n+b\n"
    assert D.text_diff("a\nb\n", "z", "x") == "--- old/x\n+++ new/x\n@@ -1,2 +1 @@\n-a\n-b\n+z\n"


def test_base64_is_decoded_and_json_pretty_printed():
    assert D._b64_text(b64("écho\n")) == "écho\n"
    assert D._b64_text("not base64 at all!!") is None
    assert D._b64_text(base64.b64encode(b"\xff\xfe\xfd").decode()) is None  # not UTF-8
    assert D.text_diff(b64("#!/bin/bash\necho one\n"), b64("#!/bin/bash\necho two\n"), "c") == (
        "--- old/c\n+++ new/c\n@@ -1,2 +1,2 @@\n #!/bin/bash\n-echo one\n+echo two\n"
    )
    # at least 16 characters, or a short word would be taken for Base64
    assert D._texts("aGk=") is None  # "hi" in Base64
    assert D._texts("aGVsbG8gd29ybGQh") == {"": "hello world!\n"}  # 16 characters
    assert D._b64_text("aGVsbG8gd29ybGQh!!") is None  # strict: no character outside the alphabet is dropped
    # decoded text is shown as it is, even when it looks like JSON
    assert D._texts(b64('{"a": 1, "b": 2}')) == {"": '{"a": 1, "b": 2}\n'}
    assert D._texts('{"a": "é", "b": 1}') == {"": '{\n  "a": "é",\n  "b": 1\n}\n'}
    assert D._texts('{"b": 1, "a": [2]}') == {"": '{\n  "a": [\n    2\n  ],\n  "b": 1\n}\n'}
    assert D._texts(" [1]") == {"": "[\n  1\n]\n"}
    assert D._texts("{not json") is None
    assert D._texts({"b": 1, "a": "é"}) == {"": '{\n  "a": "é",\n  "b": 1\n}\n'}
    assert D._texts([1]) == {"": "[\n  1\n]\n"}


def test_packed_files_are_unpacked_and_only_changed_files_shown():
    def content(files):
        return f"#!/bin/bash\nexport LLM_HOST_FILES_TGZ_B64={scripts.pack_files(files)}\nrun\n"

    old = content({"a.sh": "echo a\n", "b.sh": "echo b\n"})
    new = content({"a.sh": "echo a\n", "b.sh": "echo B\n"})
    texts = D._texts(new)
    assert texts == {
        "": "#!/bin/bash\nexport LLM_HOST_FILES_TGZ_B64=<packed files, shown unpacked>\nrun\n",
        "LLM_HOST_FILES_TGZ_B64/a.sh": "echo a\n",
        "LLM_HOST_FILES_TGZ_B64/b.sh": "echo B\n",
    }
    assert D.text_diff(old, new, "setup") == (
        "--- old/setup/LLM_HOST_FILES_TGZ_B64/b.sh\n+++ new/setup/LLM_HOST_FILES_TGZ_B64/b.sh\n"
        "@@ -1 +1 @@\n-echo b\n+echo B\n"
    )
    # quoted, as the env block renders it
    quoted = f"x\nexport LLM_X_TGZ_B64='{scripts.pack_files({'f': 'y'})}'\n"
    assert D._texts(quoted) == {"": "x\nexport LLM_X_TGZ_B64=<packed files, shown unpacked>\n", "LLM_X_TGZ_B64/f": "y"}
    # Base64 that is no tar.gz: not unpacked, still not shown encoded
    junk = "x\nexport LLM_X_TGZ_B64=" + "A" * 40 + "\n"
    assert D._texts(junk) == {"": "x\nexport LLM_X_TGZ_B64=<packed files, shown unpacked>\n"}


# --- the resource diff and the ID cascade ----------------------------------------------------


def test_the_id_cascade_follows_replacements_only():
    old = [
        r("d1", DISK, {"zoneId": "a"}),
        r("d2", DISK, {"zoneId": "d1-id"}),
        r("d3", DISK, {"zoneId": "b", "description": {"x": ["d2-id"]}}),
        r("att", ATTACH, {"diskId": "d1-id", "instanceId": "i-id"}),
        r("grow", DISK, {"size": 100}),
        r("att2", ATTACH, {"diskId": "grow-id"}),
    ]
    new = [
        r("d1", DISK, {"zoneId": "z"}),  # replaced
        r("d2", DISK, {"zoneId": "d1-id"}),  # holds d1's ID in a ForceNew property: replaced too
        r("d3", DISK, {"zoneId": "b", "description": {"x": ["d2-id"]}}),  # holds d2's, deep inside
        r("att", ATTACH, {"diskId": "d1-id", "instanceId": "i-id"}),
        r("grow", DISK, {"size": 200}),  # in place: no new ID
        r("att2", ATTACH, {"diskId": "grow-id"}),
    ]
    d = D.diff_resources(old, new)
    rows = [(c["name"], x["property"], x["effect"], x["new"]) for c in d["changed"] for x in c["changes"]]
    assert rows == [  # sorted by URN (type, then name)
        ("d1", "zoneId", D.REPLACES, "z"),
        ("d2", "zoneId", D.REPLACES, "(new ID of d1)"),
        ("d3", "description", D.IN_PLACE, "(new ID of d2)"),
        ("grow", "size", "updates in place (grow only)", 200),
        ("att", "diskId", D.REPLACES, "(new ID of d1)"),
    ]
    assert d["changed"][-1]["changes"][0]["old"] == "d1-id"


def test_a_changed_property_is_not_marked_again_and_sources_are_joined():
    old = [r("a", DISK, {"zoneId": "1"}), r("b", DISK, {"zoneId": "2"}), r("c", ATTACH, {"diskId": ["a-id", "b-id"]})]
    new = [r("a", DISK, {"zoneId": "3"}), r("b", DISK, {"zoneId": "4"}), r("c", ATTACH, {"diskId": ["a-id", "b-id"]})]
    d = D.diff_resources(old, new)
    c = next(c for c in d["changed"] if c["name"] == "c")
    assert c["changes"] == [
        {"property": "diskId", "effect": D.REPLACES, "old": ["a-id", "b-id"], "new": "(new ID of a, b)"}
    ]
    # the ID is in a property that itself changed: the change is the one shown
    old = [r("a", DISK, {"zoneId": "1"}), r("c", ATTACH, {"diskId": "x"})]
    new = [r("a", DISK, {"zoneId": "3"}), r("c", ATTACH, {"diskId": "a-id"})]
    c = next(c for c in D.diff_resources(old, new)["changed"] if c["name"] == "c")
    assert c["changes"] == [{"property": "diskId", "effect": D.REPLACES, "old": "x", "new": "a-id"}]


def test_mentions():
    ids = {"a-id", "b-id"}
    assert D._mentions("a-id", ids) == {"a-id"}
    assert D._mentions({"k": ["x", {"j": "b-id"}], "l": "a-id"}, ids) == ids
    assert D._mentions({}, ids) == set() and D._mentions([], ids) == set() and D._mentions(3, ids) == set()


def test_invocation_parameters_read_as_settings_and_scripts_as_diffs():
    params = lambda n: {"serve": json.dumps({"maxModelLen": n})}  # noqa: E731
    old = [r("cmd", "alicloud:ecs/command:Command", {"commandContent": b64("echo 1\necho 2\n")}),
           r("inv", INV, {"parameters": params(1)})]  # fmt: skip
    new = [r("cmd", "alicloud:ecs/command:Command", {"commandContent": b64("echo 1\necho 3\n")}),
           r("inv", INV, {"parameters": params(2)})]  # fmt: skip
    d = D.diff_resources(old, new)
    by = {c["name"]: c["changes"][0] for c in d["changed"]}
    assert by["inv"]["settings"] == [{"parameter": "serve", "setting": "maxModelLen", "old": "1", "new": "2"}]
    assert "diff" not in by["inv"]
    assert by["cmd"]["diff"] == (
        "--- old/cmd.commandContent\n+++ new/cmd.commandContent\n@@ -1,2 +1,2 @@\n echo 1\n-echo 2\n+echo 3\n"
    )
    # parameters of another type are not read as settings
    d = D.diff_resources([r("x", DISK, {"parameters": params(1)})], [r("x", DISK, {"parameters": params(2)})])
    assert "settings" not in d["changed"][0]["changes"][0]


def test_differs_and_diff_dirs(tmp_path: Path):
    a, b = [r("x", DISK, {"size": 1})], [r("x", DISK, {"size": 2})]
    empty = {"added": [], "removed": [], "changed": []}
    assert not D.differs(empty)
    assert D.differs({**empty, "added": [1]}) and D.differs({**empty, "removed": [1]})
    assert D.differs({**empty, "changed": [1]})
    for name, res in (("old", a), ("new", b)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "resources.json").write_text(json.dumps(res))
    assert D.diff_dirs(tmp_path / "old", tmp_path / "new") == D.diff_resources(a, b)


# --- what the change does on the hosts -------------------------------------------------------

NODE = r("node-instance", INSTANCE, {"instanceType": "t", "userData": "u"})


def hosts(serve=1, ray=None, sync=1, serve_cmd="c", extra=()):
    """A planted ECS plan: phases with their invocations on node-instance."""
    out = [NODE, r("serving", "llm:host:Serving"), r("model-sync", "llm:host:ModelSync")]
    out.append(r("serving-invocation", INV, {"commandId": serve_cmd, "instanceIds": ["node-instance-id"],
                                             "parameters": {"s": str(serve)}}, parent="serving"))  # fmt: skip
    out.append(r("model-sync-invocation", INV, {"instanceIds": ["node-instance-id"], "parameters": {"m": str(sync)}},
                 parent="model-sync"))  # fmt: skip
    if ray is not None:
        out += [r("ray", "llm:host:RayCluster"),
                r("ray-invocation", INV, {"instanceIds": ["node-instance-id", "w-instance-id"],
                                          "parameters": {"r": str(ray)}}, parent="ray")]  # fmt: skip
    return out + list(extra)


def im(old, new):
    return D.diff_resources(old, new)["impact"]


NOTHING = {"replaced": [], "rebooted": [], "mayBeReplaced": [], "added": [], "removed": []}


def test_a_serving_setting_restarts_vllm_only():
    assert im(hosts(), hosts(serve=2)) == {
        "reruns": [{"phase": "serving (vLLM)", "run": "serving-invocation", "nodes": ["node"], "newRun": False}],
        "vllm": "restarts (new settings)",
        "ray": "not restarted",
        "modelDownload": "none",
        "machines": NOTHING,
        "interruption": D.RELOAD,
    }
    assert D.RELOAD == "vLLM reload on one group: " + RELOAD_TAIL


def test_a_rerun_without_new_settings_restarts_nothing():
    got = im(hosts(), hosts(serve_cmd="c2"))
    assert got["vllm"] == "re-runs; restarts only if its settings changed (none did)"
    assert got["interruption"] == "none" and got["modelDownload"] == "none"
    assert got["reruns"] == [
        {"phase": "serving (vLLM)", "run": "serving-invocation", "nodes": ["node"], "newRun": False}
    ]


def test_ray_settings_restart_ray_and_vllm():
    got = im(hosts(ray=1), hosts(ray=2))
    assert got["vllm"] == "restarts (Ray restarts)"
    assert got["ray"] == "restarts on every node"
    assert got["interruption"] == "Ray and vLLM restart on one group: " + RELOAD_TAIL
    assert got["reruns"] == [{"phase": "Ray", "run": "ray-invocation", "nodes": ["node", "w"], "newRun": False}]
    # Ray re-run without new settings (its instance list is the same, its command changed)
    old, new = hosts(ray=1), hosts(ray=1)
    new[-1] = {**new[-1], "inputs": {**new[-1]["inputs"], "commandId": "new"}}
    got = im(old, new)
    assert got["ray"] == "re-runs; restarts only if its settings changed (none did)"
    assert got["vllm"] == "not restarted" and got["interruption"] == "none"


def test_model_sync_download_lines():
    got = im(hosts(), hosts(sync=2))
    assert got["modelDownload"] == (
        "new model or nodes: downloads where it is missing (a new directory; the serving copy is kept)"
    )
    assert got["vllm"] == "not restarted" and got["interruption"] == "none"
    old, new = hosts(), hosts()
    new[4] = {**new[4], "inputs": {**new[4]["inputs"], "commandId": "other"}}
    assert im(old, new)["modelDownload"] == "re-runs; nothing to download"


def test_new_nodes_are_new_runs():
    old = hosts()
    new = hosts(extra=[r("serving-invocation-2", INV, {"instanceIds": ["n2-instance-id"]}, parent="serving"),
                       r("n2-instance", INSTANCE, {"instanceType": "t"})])  # fmt: skip
    got = im(old, new)
    assert got["reruns"] == [
        {"phase": "serving (vLLM)", "run": "serving-invocation-2", "nodes": ["n2"], "newRun": True}
    ]
    assert got["vllm"] == "restarts (new settings)"
    assert got["machines"] == {**NOTHING, "added": ["n2-instance"]}


def test_instance_replaced_or_rebooted_takes_serving_down():
    old, new = hosts(), hosts()
    new[0] = r("node-instance", INSTANCE, {"instanceType": "t", "userData": "u2"})
    got = im(old, new)
    assert got["machines"] == {**NOTHING, "rebooted": ["node-instance"]}
    assert got["interruption"] == (
        "serving down while node-instance is replaced or rebooted, until host setup, the model and vLLM are back"
    )
    new[0] = r("node-instance", INSTANCE, {"instanceType": "t", "userData": "u", "spotStrategy": "SpotAsPriceGo"})
    got = im(old, new)
    assert got["machines"]["replaced"] == ["node-instance"]
    # the cascade re-runs every phase on the new instance
    assert [x["phase"] for x in got["reruns"]] == ["serving (vLLM)", "model sync"]
    assert got["interruption"].startswith("serving down while node-instance is replaced")


def test_machines_and_unknown_effects():
    base = [r("disk", DISK, {"zoneId": "a", "size": 1}), r("lb", LB, {"addressType": "intranet"}),
            r("svc", SERVICE, {"spec": {"a": 1}}), r("old-disk", DISK, {}), r("x-instance", INSTANCE, {})]  # fmt: skip
    new = [r("disk", DISK, {"zoneId": "a", "size": 1, "noSuchProperty": "x"}), r("lb", LB, {"addressType": "internet"}),
           r("svc", SERVICE, {"spec": {"a": 2}}), r("new-disk", DISK, {})]  # fmt: skip
    got = im(base, new)
    assert got["machines"] == {
        "replaced": ["lb"],
        "rebooted": [],
        "mayBeReplaced": ["disk"],  # a property the facts do not cover; a Service never counts
        "added": ["new-disk"],
        "removed": ["old-disk", "x-instance"],
    }
    # a removed instance takes serving down; a removed disk alone does not count as an instance
    assert got["interruption"] == (
        "serving down while x-instance is replaced or rebooted, until host setup, the model and vLLM are back"
    )
    got = im(base[:4], new)
    assert got["machines"]["removed"] == ["old-disk"]
    assert got["interruption"] == (
        "endpoint down while lb is replaced or removed; a new load balancer or public address may have a new "
        "address (clients follow the stack outputs)"
    )
    got = im(base[:1] + base[2:4], new[:1] + new[2:])  # no load balancer change
    assert got["interruption"] == "unknown offline: disk may be replaced"
    # option changes alone never replace a machine
    got = im([r("disk", DISK, {}, options={"protect": False})], [r("disk", DISK, {}, options={"protect": True})])
    assert got["machines"] == NOTHING and got["interruption"] == "none" and got["reruns"] == []


@pytest.mark.parametrize("kind", [DEPLOYMENT, LWS])
def test_a_workload_spec_rolls_out(kind):
    got = im([r("vllm", kind, {"spec": {"r": 1}})], [r("vllm", kind, {"spec": {"r": 2}})])
    assert got["vllm"] == "restarts (workload rollout: vllm)"
    assert got["interruption"] == D.RELOAD
    got = im([r("vllm", kind, {"metadata": {"a": 1}})], [r("vllm", kind, {"metadata": {"a": 2}})])
    assert got["vllm"] == "not restarted" and got["interruption"] == "none"


def test_phase_names_of_unknown_parents_and_missing_nodes():
    new = [r("comp", "llm:other:Thing"), r("inv", INV, {"parameters": {"a": "2"}}, parent="comp"),
           r("orphan", INV, {"parameters": {"a": "2"}}, parent="not-in-plan")]  # fmt: skip
    old = [r("comp", "llm:other:Thing"), r("inv", INV, {"parameters": {"a": "1"}}, parent="comp"),
           r("orphan", INV, {"parameters": {"a": "1"}}, parent="not-in-plan")]  # fmt: skip
    got = im(old, new)
    assert got["reruns"] == [
        {"phase": "comp", "run": "inv", "nodes": [], "newRun": False},
        {"phase": "orphan", "run": "orphan", "nodes": [], "newRun": False},
    ]
    assert D._nodes({"inputs": {"instanceIds": ["a-instance-id", "b"]}}) == ["a", "b"]
    assert D._nodes({"inputs": {"instanceIds": None}}) == [] and D._nodes({"inputs": {}}) == []


# --- Markdown --------------------------------------------------------------------------------


def test_cells_are_short_and_escaped():
    assert D._short("a" * 60) == "a" * 60
    assert D._short("a" * 61) == "a" * 57 + "..."
    assert D._short("x|y\nz") == "x\\|y\\nz"
    assert D._short({"a": "é"}) == '{"a": "é"}'
    assert D._short(None) == "null"
    assert D._cell("a`b") == "a'b"
    assert D._cell("a" * 200) == "a" * 200 and D._cell("a" * 201) == "a" * 197 + "..."


def test_markdown_exact():
    old = [r("node-instance", INSTANCE, {"userData": "u"}),
           r("serving", "llm:host:Serving"),
           r("serving-invocation", INV, {"instanceIds": ["node-instance-id"],
                                         "parameters": {"serve": json.dumps({"image": "a`b", "n": 1})}},
             parent="serving"),
           r("cmd", "alicloud:ecs/command:Command", {"commandContent": "one\ntwo\n", "name": "c"}),
           r("gone", DISK, {})]  # fmt: skip
    new = [r("node-instance", INSTANCE, {"userData": "u2"}),
           r("serving", "llm:host:Serving"),
           r("serving-invocation", INV, {"instanceIds": ["node-instance-id"],
                                         "parameters": {"serve": json.dumps({"image": "c|d", "n": 1})}},
             parent="serving"),
           r("cmd", "alicloud:ecs/command:Command", {"commandContent": "one\nthree\n", "name": "c"}),
           r("fresh", DISK, {})]  # fmt: skip
    md = D.markdown(D.diff_resources(old, new))
    assert md == "\n".join(
        [
            "### Offline plan diff",
            "",
            "**What this change does on the hosts**",
            "",
            "| | |",
            "|---|---|",
            "| re-runs | serving (vLLM) on node |",
            "| vLLM | restarts (new settings) |",
            "| Ray | not restarted |",
            "| model download | none |",
            "| instances, disks, load balancers | rebooted: node-instance; added: fresh; removed: gone |",
            "| serving interruption | serving down while node-instance is replaced or rebooted, until host setup, "
            "the model and vLLM are back |",
            "",
            "**Settings** (Cloud Assistant parameters of each run)",
            "",
            "| run | parameter | setting | old | new |",
            "|---|---|---|---|---|",
            "| `serving-invocation` | serve | image | a'b | c\\|d |",
            "",
            "**Added** (1)",
            "",
            f"- `fresh` ({DISK})",
            "",
            "**Removed** (1)",
            "",
            f"- `gone` ({DISK})",
            "",
            "**Changed** (3)",
            "",
            "| resource | property | effect | old | new |",
            "|---|---|---|---|---|",
            f"| `cmd` | commandContent | {D.effect('alicloud:ecs/command:Command', 'commandContent')} | (diff below) |  |",
            f"| `serving-invocation` | parameters | {D.REPLACES} | (settings above) |  |",
            f"| `node-instance` | userData | {D.REBOOTS} | u | u2 |",
            "",
            "<details><summary>cmd: commandContent (decoded)</summary>",
            "",
            "```diff",
            "--- old/cmd.commandContent\n+++ new/cmd.commandContent\n@@ -1,2 +1,2 @@\n one\n-two\n+three",
            "```",
            "",
            "</details>",
            "",
        ]
    )


def test_markdown_without_an_impact_computes_one():
    d = D.diff_resources([r("disk", DISK, {"size": 1})], [r("disk", DISK, {"size": 2})])
    del d["impact"]
    md = D.markdown(d)
    assert "| instances, disks, load balancers | none replaced or rebooted |" in md
    assert "| re-runs | nothing |" in md
    assert "| serving interruption | none |" in md
    assert "**Settings**" not in md and "**Added**" not in md and "<details>" not in md


def _tgz(files: dict[str, bytes]) -> str:
    import gzip
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return base64.b64encode(gzip.compress(raw.getvalue(), mtime=0)).decode()


def test_packed_files_added_removed_and_in_two_groups():
    def content(host, runner):
        return (
            f"export LLM_HOST_TGZ_B64={scripts.pack_files(host)}\nexport LLM_RUN_TGZ_B64={scripts.pack_files(runner)}\n"
        )

    old = content({"a": "1\n", "gone": "g\n"}, {"r": "x\n"})
    new = content({"a": "1\n", "c": "3\n"}, {"r": "y\n"})
    assert set(D._texts(new)) == {"", "LLM_HOST_TGZ_B64/a", "LLM_HOST_TGZ_B64/c", "LLM_RUN_TGZ_B64/r"}
    assert D.text_diff(old, new, "s") == (
        "--- old/s/LLM_HOST_TGZ_B64/c\n+++ new/s/LLM_HOST_TGZ_B64/c\n@@ -0,0 +1 @@\n+3\n"
        "--- old/s/LLM_HOST_TGZ_B64/gone\n+++ new/s/LLM_HOST_TGZ_B64/gone\n@@ -1 +0,0 @@\n-g\n"
        "--- old/s/LLM_RUN_TGZ_B64/r\n+++ new/s/LLM_RUN_TGZ_B64/r\n@@ -1 +1 @@\n-x\n+y\n"
    )
    # a junk group before a good one: the good one is still unpacked
    junk = "export LLM_A_TGZ_B64=" + "A" * 40 + "\n" + f"export LLM_B_TGZ_B64={scripts.pack_files({'f': 'y'})}\n"
    assert set(D._texts(junk)) == {"", "LLM_B_TGZ_B64/f"}


def test_packed_file_that_is_not_utf8_is_shown_with_replacement_characters():
    packed = _tgz({"bin": b"a\xffb"})
    text = f"x\nexport LLM_X_TGZ_B64={packed}\n"
    assert D._texts(text)["LLM_X_TGZ_B64/bin"] == "a\ufffdb"


def test_lists_of_names_are_joined():
    two = [r("a-instance", INSTANCE, {"userData": "1"}), r("b-instance", INSTANCE, {"userData": "1"})]
    got = im(two, [{**x, "inputs": {"userData": "2"}} for x in two])
    assert got["interruption"] == (
        "serving down while a-instance, b-instance is replaced or rebooted, until host setup, the model and vLLM are back"
    )
    disks = [r("d1", DISK, {}), r("d2", DISK, {})]
    got = im(disks, [{**x, "inputs": {"noSuchProperty": 1}} for x in disks])
    assert got["interruption"] == "unknown offline: d1, d2 may be replaced"
    work = [r("v1", DEPLOYMENT, {"spec": 1}), r("v2", LWS, {"spec": 1})]
    got = im(work, [{**x, "inputs": {"spec": 2}} for x in work])
    assert got["vllm"] == "restarts (workload rollout: v1, v2)"


def test_impact_lines_exact():
    im_ = {
        "reruns": [{"phase": "comp", "run": "inv", "nodes": [], "newRun": True},
                   {"phase": "Ray", "run": "ray", "nodes": ["a", "b"], "newRun": False}],
        "vllm": "V", "ray": "R", "modelDownload": "M", "interruption": "I",
        "machines": {"replaced": ["x"], "rebooted": ["y", "z"], "mayBeReplaced": ["u"], "added": ["n"], "removed": ["o"]},
    }  # fmt: skip
    assert D._impact_lines(im_) == [
        "**What this change does on the hosts**",
        "",
        "| | |",
        "|---|---|",
        "| re-runs | comp on - (new run); Ray on a, b |",
        "| vLLM | V |",
        "| Ray | R |",
        "| model download | M |",
        "| instances, disks, load balancers | replaced: x; rebooted: y, z; may be replaced (unknown offline): u; "
        "added: n; removed: o |",
        "| serving interruption | I |",
        "",
    ]


def test_markdown_keeps_the_diff_text_to_its_last_character():
    old = [r("c1", "alicloud:ecs/command:Command", {"commandContent": "a\nb\n"}),
           r("c2", "alicloud:ecs/command:Command", {"commandContent": "a\nb\n"})]  # fmt: skip
    new = [r("c1", "alicloud:ecs/command:Command", {"commandContent": "a\nbX\n"}),
           r("c2", "alicloud:ecs/command:Command", {"commandContent": "a\nb \n"})]  # fmt: skip
    md = D.markdown(D.diff_resources(old, new))
    assert "-b\n+bX\n```" in md
    assert "-b\n+b \n```" in md


def test_a_removed_or_replaced_endpoint_is_an_interruption():
    eip, svc = "alicloud:ecs/eipAddress:EipAddress", SERVICE
    got = im([r("ip", eip, {}), r("svc", svc, {}), r("d", DISK, {})], [r("d", DISK, {})])
    assert got["machines"]["removed"] == ["ip", "svc"]
    assert got["interruption"].startswith("endpoint down while ip, svc is replaced or removed;")
    got = im([r("d", DISK, {})], [r("d", DISK, {}), r("ip", eip, {})])  # added: no interruption
    assert got["interruption"] == "none"
    got = im([r("d", DISK, {})], [])  # a removed disk is no endpoint
    assert got["interruption"] == "none"
