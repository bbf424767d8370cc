"""Rendering of the host scripts: env block quoting, size budgets, no parameter syntax."""

from __future__ import annotations

import base64
import re
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.common import scripts
from components.ecs import host_env, userdata
from tests.fakes.sandbox import USERDATA

SECRET_REF = "{{oos-secret:llm-prod-deepseek-r1-api-key}}"
# Realistic worst cases: a long vLLM argument list and long OSS/registry names.
LONG_ARGS = scripts.join_args(
    [
        "--served-model-name",
        "deepseek-r1",
        "--tensor-parallel-size",
        "8",
        "--pipeline-parallel-size",
        "2",
        "--max-model-len",
        "32768",
        "--gpu-memory-utilization",
        "0.92",
        "--max-num-seqs",
        "256",
        "--enable-chunked-prefill",
        "--trust-remote-code",
        "--port",
        "8000",
        "--distributed-executor-backend",
        "ray",
        "--enable-reasoning",
        "--reasoning-parser",
        "deepseek_r1",
        "--chat-template",
        "/models/templates/deepseek-r1-tool-calling-with-a-long-name.jinja",
        "--override-generation-config",
        '{"temperature": 0.6, "top_p": 0.95}',
    ]
    * 3
)
MODEL = "deepseek-r1-0528-a-rather-long-revision-name-0123456789abcdef"


def _host_env() -> dict[str, str | int]:
    return {
        "LLM_MODEL_DISK_DEVICE": "/dev/disk/by-id/virtio-bp1a2b3c4d5e6f7g8h9i0j",
        "LLM_MODEL_ROOT": "/mnt/models",
        "LLM_FS_TYPE": "ext4",
        "LLM_DISK_WAIT_S": 600,
        "LLM_ERDMA": 1,
        "LLM_ERDMA_INSTALLER_URL": "http://mirrors.cloud.aliyuncs.com/erdma/erdma_installer-1.4.3.tar.gz",
        "LLM_STATE_DIR": "/var/lib/llm",
        "LLM_ETC_DIR": "/etc/llm",
        "LLM_LIB_DIR": "/usr/local/lib/llm",
    }


def _sync_env() -> dict[str, str | int]:
    return {
        "LLM_MODEL_SOURCE": f"oss://my-company-llm-weights-cn-wulanchabu/deepseek-ai/{MODEL}/",
        "LLM_MODEL_REVISION": "0123456789abcdef0123456789abcdef01234567",
        "LLM_MODEL_DIR": f"/mnt/models/{MODEL}",
        "LLM_MODEL_MARKER": f"/var/lib/llm/model-{MODEL}.done",
        "LLM_OSS_REGION": "cn-wulanchabu",
        "LLM_OSS_ENDPOINT": "oss-cn-wulanchabu-internal.aliyuncs.com",
        "LLM_RAM_ROLE": "llm-production-stack-node-role",
        "LLM_EXPECTED_SHARDS": 163,
        "LLM_EXPECTED_BYTES": 688586727753,
        "LLM_OSSUTIL_VERSION": "2.2.0",
        "LLM_OSSUTIL_URL": "https://gosspublic.alicdn.com/ossutil/v2/2.2.0/ossutil-2.2.0-linux-amd64.zip",
        "LLM_OSSUTIL_SHA256": "a" * 64,
        "LLM_SYNC_JOBS": 16,
        "LLM_SYNC_PARALLEL": 8,
        "LLM_SYNC_RETRIES": 5,
        "LLM_BOOTSTRAP_WAIT_S": 3600,
        "LLM_STATE_DIR": "/var/lib/llm",
        "LLM_LIB_DIR": "/usr/local/lib/llm",
        "LLM_BIN_DIR": "/usr/local/bin",
    }


def _serve_env() -> dict[str, str | int]:
    return {
        "LLM_VLLM_IMAGE": "egslingjun-registry-vpc.cn-wulanchabu.cr.aliyuncs.com/egslingjun/inference-nv-pytorch:25.04-vllm0.8.5-pytorch2.6-cu124-20250430-serverless",
        "LLM_MODEL_DIR": f"/mnt/models/{MODEL}",
        "LLM_MODEL_MARKER": f"/var/lib/llm/model-{MODEL}.done",
        "LLM_MODEL_ROOT": "/mnt/models",
        "LLM_VLLM_ARGS": LONG_ARGS,
        "LLM_SERVED_MODEL_NAME": "deepseek-r1",
        "LLM_API_KEY": SECRET_REF,
        "LLM_API_KEY_VERSION": 3,
        "LLM_PORT": 8000,
        "LLM_BOOTSTRAP_WAIT_S": 3600,
        "LLM_MODEL_WAIT_S": 14400,
        "LLM_HEALTH_WAIT_S": 3600,
        "LLM_PULL_RETRIES": 5,
        "LLM_PULL_BACKOFF_S": 15,
        "LLM_ETC_DIR": "/etc/llm",
        "LLM_STATE_DIR": "/var/lib/llm",
        "LLM_UNIT": "llm-vllm.service",
        "LLM_POLL_S": 5,
    }


# --- env block -------------------------------------------------------------------------------
_VALUES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
    max_size=40,
) | st.text(alphabet="'\"$`\\\n\t !{}*?;&|<>()#~", max_size=20)


@settings(max_examples=60, deadline=None)
@given(value=_VALUES)
def test_env_block_round_trips_through_bash(value):
    block = scripts.env_block({"LLM_X": value, "LLM_Y": 7})
    res = subprocess.run(["bash", "-c", block + 'printf %s "$LLM_X"'], capture_output=True, check=True)
    assert res.stdout.decode("utf-8", "surrogateescape") == value


def test_env_block_order_and_ints():
    assert scripts.env_block({"LLM_B": 2, "LLM_A": "a b"}) == "export LLM_B=2\nexport LLM_A='a b'\n"


@pytest.mark.parametrize("key", ["LLM_", "llm_x", "PATH", "LLM_X-Y", "LLM_X Y", "XLLM_A", "LLM_a"])
def test_env_block_rejects_bad_keys(key):
    with pytest.raises(ValueError, match="must match"):
        scripts.env_block({key: "v"})


def test_env_block_rejects_nul_and_other_types():
    with pytest.raises(ValueError, match="NUL"):
        scripts.env_block({"LLM_X": "a\0b"})
    with pytest.raises(TypeError):
        scripts.env_block({"LLM_X": 1.5})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        scripts.env_block({"LLM_X": True})


def test_join_args_rejects_newlines():
    assert scripts.join_args(["--a", "b c"]) == "--a\nb c"
    with pytest.raises(ValueError):
        scripts.join_args(["--a", "b\nc"])


# --- command content -------------------------------------------------------------------------
def test_render_command_shape():
    content = scripts.render_command("#!/bin/bash\nset -euo pipefail\necho hi\n", {"LLM_A": "x"})
    assert content == "#!/bin/bash\nexport LLM_A=x\nset -euo pipefail\necho hi\n"
    assert base64.b64decode(scripts.encode_command(content)).decode() == content


def test_render_command_allows_only_the_secret_reference():
    content = scripts.render_command(scripts.script_text("serve.sh"), _serve_env())
    assert content.count("{{") == 1
    assert f"export LLM_API_KEY='{SECRET_REF}'\n" in content
    with pytest.raises(ValueError, match="oos-secret"):
        scripts.render_command("echo\n", {"LLM_X": "{{other}}"})
    with pytest.raises(ValueError, match="oos-secret"):
        scripts.render_command("echo\n", {"LLM_X": f"pre-{SECRET_REF}"})
    with pytest.raises(ValueError, match="parameter"):
        scripts.render_command("docker inspect -f '{{.State}}' x\n", {})


@pytest.mark.parametrize(("script", "env"), [("model-sync.sh", _sync_env), ("serve.sh", _serve_env)])
def test_command_size_within_limit(script, env):
    content = scripts.render_command(scripts.script_text(script), env())
    assert len(scripts.encode_command(content)) <= scripts.COMMAND_B64_LIMIT


# --- user-data and host setup ------------------------------------------------------------------
def test_user_data_is_small_and_static():
    ud = userdata.render_user_data()
    assert len(ud.encode("utf-8")) <= 12 * 1024
    assert ud.startswith("#!/bin/bash\n") and "{{" not in ud and "LLM_" not in ud


SETUP = host_env.SetupInputs(
    erdma=True, fabric_manager=True, fm_package="nvidia-fabric-manager",
    erdma_installer_url="http://mirrors.cloud.aliyuncs.com/erdma/env_setup.sh", erdma_installer_sha256="a" * 64,
)  # fmt: skip


def test_host_setup_command_size_within_limit():
    content = scripts.render_command(scripts.script_text("host-setup.sh"), host_env.setup_env(SETUP, "bp1" + "x" * 20))
    assert len(scripts.encode_command(content)) <= scripts.COMMAND_B64_LIMIT


def test_host_files_follow_erdma():
    cluster = userdata.host_files(ray=True)
    single = userdata.host_files(ray=False)
    assert set(cluster) - set(single) == {"ray-run.sh", "llm-ray.service"}
    assert host_env.setup_env(SETUP, "s")["LLM_UNITS"] == "llm-vllm.service llm-ray.service"


def test_host_env_never_carries_the_api_key():
    with pytest.raises(ValueError, match="never be in host.env"):
        userdata.host_env_text({"LLM_API_KEY": "abc"})


@pytest.mark.parametrize("value", ["a b", "x'y", "$HOME", "{{oos-secret:k}}", "a\nb"])
def test_host_env_rejects_values_systemd_cannot_read_plainly(value):
    with pytest.raises(ValueError, match="host.env"):
        userdata.host_env_text({"LLM_MODEL_ROOT": value})


def test_installed_scripts_keep_their_shebang_and_lose_comments():
    text = userdata.installed_text("host-bootstrap.sh")
    assert text.startswith("#!/bin/bash\n# userdata/host-bootstrap.sh of llm-inference, comments stripped\n")
    assert "# Host bootstrap, run by" not in text and "set -Eeuo pipefail" in text


# --- script files ----------------------------------------------------------------------------
def test_no_parameter_syntax_in_any_script_file():
    files = sorted(p for p in USERDATA.iterdir() if p.is_file())
    assert files, "no files in userdata/"
    for path in files:
        assert "{{" not in path.read_text(), f"{path.name} contains '{{{{'"


@pytest.mark.parametrize("name", sorted(p.name for p in USERDATA.glob("*.sh")))
def test_scripts_are_strict_and_quiet(name):
    text = (USERDATA / name).read_text()
    assert text.startswith("#!/bin/bash\n")
    assert "set -euo pipefail" in text or "set -Eeuo pipefail" in text
    assert "set -x" not in text and "set -o xtrace" not in text


def test_script_text_refuses_paths():
    with pytest.raises(ValueError):
        scripts.script_text("../components/scripts.py")


# The contract with the Pulumi side, both ways: every variable a script requires (`${LLM_X:?...}`
# or `${LLM_X?...}`) is rendered by the program, and every variable rendered is one the script reads.
_REQUIRED = re.compile(r"\$\{(LLM_[A-Z0-9_]+):?\?")
_COMMON_DIRS = {"LLM_MODEL_ROOT", "LLM_STATE_DIR", "LLM_ETC_DIR", "LLM_LIB_DIR"}


def _rendered() -> dict[str, dict[str, str | int]]:
    copy = host_env.ModelCopy("oss://b/p/", "b", "p/", "r1", "cn-hangzhou", 163, 1, 3600)
    ray = host_env.RayInputs("img:1", {"NCCL_IB_DISABLE": "0"}, 2)
    serve = host_env.ServeInputs("img:1", copy, ("--x",), "m", 1, 600, 8, ray)
    return {
        "host-bootstrap.sh": dict(
            line.split("=", 1) for line in str(host_env.setup_env(SETUP, "s")["LLM_HOST_ENV"]).splitlines()
        ),
        "host-setup.sh": host_env.setup_env(SETUP, "s"),
        "model-sync.sh": host_env.sync_env(copy, "role"),
        "ray-start.sh": host_env.ray_env(ray, "10.0.0.1"),
        "serve.sh": host_env.serve_env(serve, "param", ["10.0.0.1", "10.0.0.2"]),
        "single-serve.sh": host_env.serve_env(host_env.ServeInputs("img:1", copy, ("--x",), "m", 1, 600, 8, None), "p"),
    }


@pytest.mark.parametrize(
    "name", ["host-bootstrap.sh", "host-setup.sh", "model-sync.sh", "ray-start.sh", "serve.sh", "single-serve.sh"]
)
def test_scripts_require_only_what_the_program_renders(name):
    env = _rendered()[name]
    script = name.removeprefix("single-")
    text = scripts.inline_libraries(scripts.script_text(script))
    required = set(_REQUIRED.findall(text))
    assert required <= set(env), required - set(env)
    assert set(env) - _COMMON_DIRS - {"LLM_RAY_GENERATION", "LLM_BIN_DIR"} <= scripts.script_env(script)
