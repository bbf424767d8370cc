"""The host-script renderer pinned to exact output (issue 17): packing, hashing, host.env, args."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import tarfile

import pytest

from components.common import scripts
from components.ecs import userdata


def test_join_args_one_per_line_and_refuses_newlines():
    assert scripts.join_args(["--a", "b c", ""]) == "--a\nb c\n"
    with pytest.raises(ValueError, match="contains a newline or NUL"):
        scripts.join_args(["ok", "a\nb"])
    with pytest.raises(ValueError, match="contains a newline or NUL"):
        scripts.join_args(["a\0b"])


def test_pack_files_is_a_reproducible_root_owned_tar():
    packed = scripts.pack_files({"b.sh": "echo b\n", "a.txt": "é"})
    assert packed == scripts.pack_files({"a.txt": "é", "b.sh": "echo b\n"})  # order of the mapping is irrelevant
    raw = gzip.decompress(base64.b64decode(packed))
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["a.txt", "b.sh"]
        assert [(m.mode, m.mtime, m.uname, m.gname, m.size) for m in members] == [
            (0o644, 0, "root", "root", 2),  # é is 2 bytes in UTF-8
            (0o644, 0, "root", "root", 7),
        ]
        assert tar.extractfile(members[1]).read() == b"echo b\n"  # type: ignore[union-attr]
    assert base64.b64decode(packed)[4:8] == b"\0\0\0\0"  # gzip mtime 0


def test_files_hash_exact():
    files = {"b": "2", "a": "1"}
    expected = hashlib.sha256(b"a\x001\x00b\x002\x00").hexdigest()[:16]
    assert userdata.files_hash(files) == expected
    assert userdata.files_hash({"a": "12"}) != userdata.files_hash({"a1": "2"})


def test_host_env_text_exact_and_refusals():
    assert userdata.host_env_text({"LLM_A": "x", "LLM_B": 3}) == "LLM_A=x\nLLM_B=3"
    with pytest.raises(ValueError, match="must never be in host.env"):
        userdata.host_env_text({"LLM_API_KEY": "k"})
    with pytest.raises(ValueError, match=r"host.env values must match .* \(got 'a b'\)"):
        userdata.host_env_text({"LLM_A": "a b"})


def test_strip_comments_keeps_shellcheck_and_heredoc_bodies():
    body = "# gone\n  # gone too\n# shellcheck disable=SC2034\ncat <<'EOF'\n# kept\nEOF\n# gone\necho x # kept\n"
    assert scripts.strip_comments(body) == "# shellcheck disable=SC2034\ncat <<'EOF'\n# kept\nEOF\necho x # kept\n"
    assert scripts.strip_comments("cat <<< '# x'\n# gone\n") == "cat <<< '# x'\n"  # a here-string is no heredoc


def test_render_command_exact():
    content = scripts.render_command("#!/bin/sh\n# c\necho hi\n", {"LLM_A": "a b"}, source="x.sh")
    assert content == "#!/bin/bash\n# userdata/x.sh, comments stripped\nexport LLM_A='a b'\necho hi\n"
    assert scripts.render_command("echo\n", {}) == "#!/bin/bash\necho\n"
    assert scripts.render_command("#!/bin/sh", {}) == "#!/bin/bash\n"
    assert scripts.encode_command("é") == "w6k="


def test_installed_text_strips_comments_of_scripts_only():
    text = userdata.installed_text("host-bootstrap.sh")
    first, second, _ = text.split("\n", 2)
    assert first.startswith("#!") and second == "# userdata/host-bootstrap.sh of llm-inference, comments stripped"
    assert userdata.installed_text("llm-vllm.service") == scripts.script_text("llm-vllm.service")
    assert set(userdata.host_files(ray=False)) == set(userdata.HOST_FILES)
    assert set(userdata.host_files(ray=True)) == set(userdata.HOST_FILES + userdata.RAY_FILES)


# --- env checks and script files --------------------------------------------------------------


def test_check_env_exact_errors():
    assert scripts.check_env({"LLM_A": 1, "LLM_B9_C": "x"}) == {"LLM_A": "1", "LLM_B9_C": "x"}
    with pytest.raises(ValueError, match=r"^env key 'LLM_a' must match \^LLM_\[A-Z0-9_\]\+\$$"):
        scripts.check_env({"LLM_a": "x"})
    with pytest.raises(ValueError, match=r"^env key 3 must match"):
        scripts.check_env({3: "x"})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match=r"^env LLM_A: value must be str or int \(got bool\)$"):
        scripts.check_env({"LLM_A": True})
    with pytest.raises(TypeError, match=r"\(got float\)$"):
        scripts.check_env({"LLM_A": 1.5})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match=r"^env LLM_A: value contains a NUL byte$"):
        scripts.check_env({"LLM_A": "a\0"})


def test_env_block_exact():
    assert scripts.env_block({"LLM_B": "a b", "LLM_A": 2, "LLM_C": ""}) == (
        "export LLM_B='a b'\nexport LLM_A=2\nexport LLM_C=''\n"
    )
    assert scripts.env_block({}) == ""


def test_library_and_script_paths():
    assert scripts.library_text("lib/params.sh") == (scripts.USERDATA_DIR / "lib" / "params.sh").read_text()
    for bad in ("lib/../serve.sh", "serve.sh", "lib/x/../../lib/../serve.sh"):
        with pytest.raises(ValueError, match=r"is not a file in userdata/lib/$"):
            scripts.library_text(bad)
    with pytest.raises(ValueError, match=r"^'lib/common.sh' is not a file name in userdata/$"):
        scripts.script_text("lib/common.sh")


def test_inline_libraries_replaces_only_the_exact_source_line():
    line = '. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"'
    lib = scripts.library_text("lib/common.sh").rstrip("\n")
    assert scripts.inline_libraries(f"a\n{line}\nb\n") == f"a\n{lib}\nb\n"
    assert scripts.inline_libraries(f"  {line}\n") == f"  {line}\n"  # indented: not the form scripts use
    assert scripts.inline_libraries(f"{line} x\n") == f"{line} x\n"
    assert scripts.inline_libraries("no source\n") == "no source\n"


def test_script_env_names_the_variables():
    env = scripts.script_env("serve.sh")
    assert {"LLM_API_KEY", "LLM_API_KEY_VERSION", "LLM_CLUSTER_NODES", "LLM_DRAIN_FILE"} <= env
    assert all(v.startswith("LLM_") and not v.endswith("_") for v in env)
    assert "LLM_" not in env  # a bare prefix is no variable


def test_body_drops_only_a_shebang():
    assert scripts._body("#!/bin/sh\necho\n") == "echo\n"
    assert scripts._body("#!/bin/sh") == ""
    assert scripts._body("echo\n#!/x\n") == "echo\n#!/x\n"
    assert scripts.render_command("#!/bin/sh\nx\n", {"LLM_A": "{{oos-secret:llm/k}}"}) == (
        "#!/bin/bash\nexport LLM_A='{{oos-secret:llm/k}}'\nx\n"
    )
    with pytest.raises(ValueError, match=r"^env LLM_A: '\{\{' is allowed only as a whole \{\{oos-secret:NAME\}\}$"):
        scripts.render_command("x\n", {"LLM_A": "a{{oos-secret:k}}"})
    with pytest.raises(ValueError, match=r"^script body contains '\{\{'"):
        scripts.render_command("echo {{x}}\n", {})


# --- invocation parameters ------------------------------------------------------------------


@pytest.mark.parametrize(
    "key,camel",
    [("LLM_MODEL_WAIT_S", "modelWaitS"), ("LLM_A", "a"), ("LLM_VLLM_ARGS", "vllmArgs"), ("LLM_X2_Y", "x2Y")],
)
def test_camel_and_env_name_are_inverse(key, camel):
    assert scripts.camel(key) == camel
    assert scripts.env_name(camel) == key


def test_json_values():
    assert scripts._json_value("LLM_VLLM_ARGS", "--a\n1") == ["--a", "1"]
    assert scripts._json_value("LLM_VLLM_ARGS", "") == []
    assert scripts._json_value("LLM_NCCL_ENV", "A=1\nB=x=y") == {"A": "1", "B": "x=y"}
    assert scripts._json_value("LLM_NCCL_ENV", "") == {}
    # integers as JSON numbers, only in canonical form (no leading zero, no sign but -, <= 18 digits)
    for text, value in (("0", 0), ("7", 7), ("-3", -3), ("123456789012345678", 123456789012345678)):
        assert scripts._json_value("LLM_N", text) == value
    for text in ("007", "1234567890123456789", "+1", "1.5", "-0", "", " 1", "1e3", "0x1"):
        assert scripts._json_value("LLM_N", text) == text
    assert scripts._one_line({"a": ["é", 1]}) == '{"a": ["é", 1]}'


def test_split_params_exact():
    env = {"LLM_LIB_DIR": "/opt/llm", "LLM_MAX_LEN": "32768", "LLM_IMAGE": "img", "LLM_VLLM_ARGS": "--a\n1",
           "LLM_NCCL_ENV": "NCCL_X=1", "LLM_REV": "r1"}  # fmt: skip
    groups = {"serve": ("LLM_MAX_LEN", "LLM_IMAGE", "LLM_MISSING"), "vllmArgs": ("LLM_VLLM_ARGS",),
              "nccl": ("LLM_NCCL_ENV",), "rev": ("LLM_REV", "LLM_ABSENT")}  # fmt: skip
    constants, targets, params = scripts.split_params(env, groups)
    assert constants == {"LLM_LIB_DIR": "/opt/llm"}
    assert targets == {"serve": "serve.json", "vllmArgs": "LLM_VLLM_ARGS", "nccl": "LLM_NCCL_ENV", "rev": "LLM_REV"}
    assert params == {
        "serve": '{"maxLen": 32768, "image": "img"}',
        "vllmArgs": '["--a", "1"]',
        "nccl": '{"NCCL_X": "1"}',
        "rev": '"r1"',
    }
    # decode_params mirrors params.sh: the same variables as the env
    assert scripts.decode_params(targets, params) == {k: v for k, v in env.items() if k != "LLM_LIB_DIR"}


def test_split_params_refusals():
    env = {"LLM_A": "1", "LLM_B": "2"}
    with pytest.raises(ValueError, match=r"^11 parameters; Cloud Assistant takes at most 10$"):
        scripts.split_params(env, {f"p{i}": ("LLM_A",) for i in range(11)})
    assert scripts.split_params(env, {f"p{i}": ("LLM_A",) for i in range(10)})[2]["p9"] == "1"
    with pytest.raises(ValueError, match=r"^parameter names are case-insensitive: two differ only in case$"):
        scripts.split_params(env, {"run": ("LLM_A",), "Run": ("LLM_B",)})
    for bad in ("a b", "", "x" * 65, "ACS::x", "acs::y", "a.b"):
        with pytest.raises(ValueError, match=r"^parameter name .* must match"):
            scripts.split_params(env, {bad: ("LLM_A",)})
    assert scripts.split_params(env, {"x" * 64: ("LLM_A",), "a-b_C9": ("LLM_B",)})[0] == {}
    with pytest.raises(ValueError, match=r"^parameter p: none of \['LLM_X'\] is in the env$"):
        scripts.split_params(env, {"p": ("LLM_X",)})
    with pytest.raises(ValueError, match=r"^parameter p: '\{\{' in '\"a\{\{b\"' \(Cloud Assistant would read it\)$"):
        scripts.split_params({"LLM_A": "a{{b"}, {"p": ("LLM_A",)})
    with pytest.raises(ValueError) as e:
        scripts.split_params({"LLM_A": "}}", "LLM_B": "1"}, {"p": ("LLM_A", "LLM_B", "LLM_C")})
    assert str(e.value) == """parameter p: '}}' in '{"a": "}}", "b": 1}' (Cloud Assistant would read it)"""
    with pytest.raises(ValueError) as e:
        scripts.split_params({"LLM_A": "x" * 100 + "{{"}, {"p": ("LLM_A",)})
    assert str(e.value) == f"parameter p: '{{{{' in '\"{'x' * 79}' (Cloud Assistant would read it)"
    # line breaks and NUL never reach the one-line JSON unescaped
    _, _, params = scripts.split_params({"LLM_A": "a\rb\nc", "LLM_B": "x"}, {"p": ("LLM_A", "LLM_B")})
    assert params["p"] == '{"a": "a\\rb\\nc", "b": "x"}'


def test_decode_params_nested_values():
    targets = {"g": "g.json", "LLM_X": "LLM_X"}
    params = {"g": '{"modelDir": "/m", "nccl": {"A": 1}, "args": ["a", 2]}', "LLM_X": "5"}
    assert scripts.decode_params(targets, params) == {
        "LLM_MODEL_DIR": "/m",
        "LLM_NCCL": "A=1",
        "LLM_ARGS": "a\n2",
        "LLM_X": "5",
    }


RUNNER = """#!/bin/bash
# llm-inference: runs userdata/serve.sh as host setup installed it in /opt/llm, with this run's
# settings: the invocation's parameters, each written below to a file as data (never evaluated).
set -euo pipefail
p=$(umask 077 && mktemp -d)
trap 'rm -rf "$p"' EXIT
cat >"$p/serve.json" <<'LLM_PARAM_EOF'
{{serve}}
LLM_PARAM_EOF
cat >"$p/LLM_REV" <<'LLM_PARAM_EOF'
{{rev}}
LLM_PARAM_EOF
export LLM_LIB_DIR=/opt/llm
export LLM_API_KEY='{{oos-secret:llm/key}}'
. /opt/llm/lib/params.sh
llm_run /opt/llm serve.sh 0123abcd "$p"
"""


def test_render_runner_exact():
    content = scripts.render_runner(
        "serve.sh",
        {"LLM_LIB_DIR": "/opt/llm", "LLM_API_KEY": "{{oos-secret:llm/key}}"},
        {"serve": "serve.json", "rev": "LLM_REV"},
        "0123abcd",
    )
    assert content == RUNNER
    assert scripts.parameter_names(content) == {"serve", "rev"}
    # a library directory with a space is quoted everywhere
    spaced = scripts.render_runner("serve.sh", {"LLM_LIB_DIR": "/opt/my llm"}, {}, "d")
    assert ". '/opt/my llm'/lib/params.sh\nllm_run '/opt/my llm' serve.sh d \"$p\"\n" in spaced
    with pytest.raises(ValueError, match=r"^env LLM_X: '\{\{' is allowed only as a whole"):
        scripts.render_runner("serve.sh", {"LLM_LIB_DIR": "/l", "LLM_X": "{{serve}}"}, {}, "d")
    for bad in ("../x.json", "x.sh", "LLM_a", "a b.json"):
        with pytest.raises(ValueError, match=r"^parameter file "):
            scripts.render_runner("serve.sh", {"LLM_LIB_DIR": "/l"}, {"p": bad}, "d")
    with pytest.raises(KeyError):
        scripts.render_runner("serve.sh", {}, {}, "d")  # LLM_LIB_DIR is required


def test_parameter_names_leave_out_references():
    content = "{{a}} {{ b }} {{oos-secret:x}} {{OOS:y}} {{ACS::RegionId}} {{acs::InstanceId}} {{c}}{{a}}"
    assert scripts.parameter_names(content) == {"a", "b", "c"}
    assert scripts.parameter_names("{ {x} } {{}}") == {""}


def test_invoke_b64_size_exact():
    content, params = "echo\n", {"a": "1", "b": "é"}
    encoded_params = base64.b64encode('{"a": "1", "b": "é"}'.encode())
    assert scripts.invoke_b64_size(content, params) == len(base64.b64encode(b"echo\n")) + len(encoded_params)
    assert scripts.invoke_b64_size("", {}) == len(base64.b64encode(b"{}"))


# --- what install-scripts.sh and host setup install -----------------------------------------


def test_runner_files_and_digest():
    assert list(userdata.runner_files(ray=False)) == ["model-sync.sh", "serve.sh", "lib/common.sh", "lib/params.sh"]
    assert list(userdata.runner_files(ray=True)) == [*userdata.RUNNER_FILES, "ray-start.sh"]
    assert list(userdata.runner_files(ray=False, rolling=True)) == [*userdata.RUNNER_FILES, "rolling.sh", "ready.sh"]
    files = userdata.runner_files(ray=True, rolling=True)
    assert files["lib/params.sh"] == scripts.strip_comments(scripts.library_text("lib/params.sh"))
    assert files["serve.sh"] == userdata.installed_text("serve.sh")
    expected = hashlib.sha256(
        (files["serve.sh"] + files["lib/common.sh"] + files["lib/params.sh"]).encode()
    ).hexdigest()
    assert userdata.runner_digest("serve.sh") == expected
    assert userdata.runner_digest("model-sync.sh") != expected
    packed, digest = userdata.packed_runner_files(ray=True, rolling=True)
    assert packed == scripts.pack_files(files) and digest == userdata.files_hash(files)
    assert userdata.packed_runner_files(ray=False) != userdata.packed_runner_files(ray=True)
    assert userdata.packed_runner_files(ray=False) != userdata.packed_runner_files(ray=False, rolling=True)


def test_host_files_with_observability():
    base = list(userdata.HOST_FILES)
    assert list(userdata.host_files(ray=False)) == base
    assert list(userdata.host_files(ray=True)) == base + ["ray-run.sh", "llm-ray.service"]
    assert list(userdata.host_files(ray=False, metrics=True)) == base + ["dcgm-run.sh", "llm-dcgm.service"]
    assert list(userdata.host_files(ray=False, logs=True)) == base + ["logtail-install.sh", "llm-logtail.service"]
    assert list(userdata.host_files(ray=True, metrics=True, logs=True)) == base + [
        "ray-run.sh", "llm-ray.service", "dcgm-run.sh", "llm-dcgm.service", "logtail-install.sh", "llm-logtail.service"
    ]  # fmt: skip
    files = userdata.host_files(ray=True, metrics=True, logs=True)
    packed, digest = userdata.packed_host_files(ray=True, metrics=True, logs=True)
    assert packed == scripts.pack_files(files) and digest == userdata.files_hash(files)
    assert userdata.packed_host_files(ray=False) != userdata.packed_host_files(ray=False, metrics=True)
    assert userdata.packed_host_files(ray=False, metrics=True) != userdata.packed_host_files(ray=False, logs=True)


def test_installed_text_of_a_library_and_a_unit():
    assert userdata.installed_text("lib/common.sh") == scripts.strip_comments(scripts.library_text("lib/common.sh"))
    assert "# userdata/" not in userdata.installed_text("lib/common.sh").split("\n", 1)[0]  # no header line
    unit = userdata.installed_text("llm-ray.service")
    assert unit == scripts.script_text("llm-ray.service")
    text = userdata.installed_text("serve.sh")
    assert text.split("\n", 2)[1] == "# userdata/serve.sh of llm-inference, comments stripped"
    assert text.split("\n", 2)[2] == scripts.strip_comments(scripts.script_text("serve.sh").partition("\n")[2])


def test_user_data_is_the_static_text():
    assert userdata.render_user_data() == userdata.USER_DATA
    assert len(userdata.USER_DATA.encode()) == 340


# --- edges the first mutation run found unpinned -----------------------------------------------


def test_body_keeps_everything_after_a_shebang_with_arguments():
    assert scripts._body("#!/usr/bin/env bash\necho x\n") == "echo x\n"


def test_map_values_keep_spaces_and_group_values_keep_their_shape():
    assert scripts._json_value("LLM_NCCL_ENV", "A=x y\nB=2") == {"A": "x y", "B": "2"}
    _, targets, params = scripts.split_params(
        {"LLM_VLLM_ARGS": "--a\n1", "LLM_NCCL_ENV": "A=1", "LLM_B": "x"},
        {"p": ("LLM_VLLM_ARGS", "LLM_NCCL_ENV", "LLM_B")},
    )
    assert params == {"p": '{"vllmArgs": ["--a", "1"], "ncclEnv": {"A": "1"}, "b": "x"}'}
    assert scripts.decode_params(targets, params) == {"LLM_VLLM_ARGS": "--a\n1", "LLM_NCCL_ENV": "A=1", "LLM_B": "x"}
    two = scripts.decode_params({"g": "g.json"}, {"g": '{"ncclEnv": {"A": "1", "B": "2"}}'})
    assert two == {"LLM_NCCL_ENV": "A=1\nB=2"}


def test_pack_files_is_plain_ustar():
    # no PAX headers (tarfile's default format would add one for a long name): USTAR refuses instead
    with pytest.raises(ValueError, match="name is too long"):
        scripts.pack_files({"n" * 101: ""})
    assert userdata.packed_host_files(ray=False) == (
        scripts.pack_files(userdata.host_files(ray=False)),
        userdata.files_hash(userdata.host_files(ray=False)),
    )


def test_strip_comments_keeps_indented_directives_and_every_heredoc_line():
    body = "  # shellcheck disable=SC2034\n  # gone\ncat <<EOF\n# one\n# two\nEOF\n# gone\n"
    assert scripts.strip_comments(body) == "  # shellcheck disable=SC2034\ncat <<EOF\n# one\n# two\nEOF\n"


def test_render_command_refusal_text():
    with pytest.raises(ValueError) as e:
        scripts.render_command("echo {{x}}\n", {})
    assert str(e.value) == "script body contains '{{', which Cloud Assistant parses as a parameter"


def test_host_files_are_ascii_and_libraries_end_in_a_closing_brace():
    # What the renderer may assume (tests/mutation-equivalent.txt): any locale reads them alike, and
    # inlining a library strips exactly its last newline.
    for path in sorted(scripts.USERDATA_DIR.rglob("*")):
        if path.is_file():
            assert path.read_bytes().isascii(), path
    for path in sorted((scripts.USERDATA_DIR / "lib").glob("*.sh")):
        assert path.read_text().endswith("\n}\n"), path
