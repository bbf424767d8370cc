"""Rendering of the host scripts: env block quoting, size budgets, no parameter syntax."""

from __future__ import annotations

import base64
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.common import scripts
from components.ecs import userdata
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


# --- user-data -------------------------------------------------------------------------------
def test_user_data_size_within_limit():
    ud = userdata.render_user_data(_host_env())
    assert len(ud.encode("utf-8")) <= userdata.USER_DATA_LIMIT


def test_user_data_shape():
    ud = userdata.render_user_data(_host_env(), ray=False)
    lines = ud.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert "set -euo pipefail" in lines[:5]
    assert "cat > \"$LLM_LIB_DIR/host-bootstrap.sh\" <<'LLM_EOF'" in lines
    assert "cat > \"$LLM_ETC_DIR/host.env\" <<'LLM_EOF'" in lines
    assert lines[-3:] == [
        "systemctl daemon-reload",
        "systemctl enable llm-vllm.service",
        "systemctl enable --now --no-block llm-bootstrap.service",
    ]
    assert "{{" not in ud


def test_user_data_ray_unit_follows_erdma_unless_told():
    cluster = userdata.render_user_data(_host_env())  # LLM_ERDMA=1: an ecs-cluster node
    single = userdata.render_user_data({**_host_env(), "LLM_ERDMA": 0})
    for name in ("ray-run.sh", "llm-ray.service"):
        assert f"/{name}\" <<'LLM_EOF'" in cluster
        assert name not in single
    assert cluster.splitlines()[-4:] == [
        "systemctl daemon-reload",
        "systemctl enable llm-ray.service",
        "systemctl enable llm-vllm.service",
        "systemctl enable --now --no-block llm-bootstrap.service",
    ]
    assert userdata.render_user_data({**_host_env(), "LLM_ERDMA": 0}, ray=True) != single


def test_user_data_never_carries_the_api_key():
    with pytest.raises(ValueError, match="never be in user-data"):
        userdata.render_user_data({**_host_env(), "LLM_API_KEY": "abc"})


@pytest.mark.parametrize("value", ["a b", "x'y", "$HOME", "{{oos-secret:k}}", "a\nb"])
def test_user_data_rejects_values_systemd_cannot_read_plainly(value):
    with pytest.raises(ValueError, match="host.env"):
        userdata.render_user_data({**_host_env(), "LLM_MODEL_ROOT": value})


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


# The contract with the Pulumi side: every variable it renders is one the script reads.
CONTRACT = {
    "host-bootstrap.sh": {
        "LLM_STATE_DIR",
        "LLM_MODEL_DISK_DEVICE",
        "LLM_MODEL_ROOT",
        "LLM_FS_TYPE",
        "LLM_FSTAB",
        "LLM_DISK_WAIT_S",
        "LLM_ERDMA",
        "LLM_ERDMA_INSTALLER_URL",
        "LLM_POLL_S",
    },
    "vllm-run.sh": {"LLM_ETC_DIR", "LLM_MODEL_ROOT"},
    "model-sync.sh": set(_sync_env()) | {"LLM_ETC_DIR", "LLM_POLL_S", "LLM_SYNC_BACKOFF_S"},
    "serve.sh": set(_serve_env()) | {"LLM_LOCK_WAIT_S"},
}


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_scripts_read_the_contracted_variables(name):
    assert CONTRACT[name] <= scripts.script_env(name)
