"""Rolling serving changes in the sandbox: the readiness responder (userdata/ready.sh, for real, on
a free port), a vLLM stand-in whose /health follows the sandbox's fake server, and a load-balancer
stand-in with real health-check lag (interval x unhealthy threshold, as the listener is set).

What must hold: the balancer sees the group unhealthy before vLLM stops; the group rejoins only
after a real completion; a failed group's run fails, so the next group's run never starts."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from components.ecs import rolling
from tests.fakes.sandbox import BAD_ARGS, GOOD_ARGS, USERDATA, Sandbox
from tests.fakes.status_server import StatusServer
from tests.scripts.test_scripts import _serve_env

INTERVAL_S = 0.1
UNHEALTHY = rolling.UNHEALTHY_THRESHOLD
HEALTHY = rolling.HEALTHY_THRESHOLD


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


class FakeVllm(StatusServer):
    """/health: 200 while the sandbox's fake server is healthy (systemctl restart recreates it)."""

    def __init__(self, sb: Sandbox):
        healthy = sb.sb / "server/healthy"
        super().__init__(lambda path: 200 if healthy.exists() else 503)


class BalancerStandIn:
    """Polls one backend's responder like a CLB health check: out after UNHEALTHY failures in a
    row, back in after HEALTHY successes in a row; records (time, 'out'|'in') transitions."""

    def __init__(self, ready_port: int):
        self.url = f"http://127.0.0.1:{ready_port}/ready"
        self.in_service = True
        self.transitions: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._ok = self._bad = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _probe(self) -> bool:
        try:
            with urllib.request.urlopen(self.url, timeout=1) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._probe():
                self._ok, self._bad = self._ok + 1, 0
                if not self.in_service and self._ok >= HEALTHY:
                    self.in_service = True
                    self.transitions.append((time.time(), "in"))
            else:
                self._ok, self._bad = 0, self._bad + 1
                if self.in_service and self._bad >= UNHEALTHY:
                    self.in_service = False
                    self.transitions.append((time.time(), "out"))
            time.sleep(INTERVAL_S)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)


def times(path: Path) -> list[float]:
    return [float(x) for x in path.read_text().split()] if path.exists() else []


@pytest.fixture
def group(tmp_path):
    """One serving group: a sandbox host with bootstrap and model done, the vLLM stand-in, the
    responder (started as llm-ready.service would be) and the balancer stand-in."""
    sb = Sandbox(tmp_path)
    (sb.state / "bootstrap.done").touch()
    (sb.models / "deepseek-r1-rev-a").mkdir(parents=True)
    (sb.state / "model-deepseek-r1-rev-a.done").write_text("source=oss://weights/deepseek-r1/rev-a/\n")
    vllm = FakeVllm(sb)
    ready_port = free_port()
    drain = tmp_path / "run/llm/drain"
    env = {
        "LLM_PORT": str(vllm.port),
        "LLM_DRAIN_FILE": str(drain),
        # Integer seconds (the script's arithmetic); covers UNHEALTHY x INTERVAL_S with margin.
        "LLM_DRAIN_WAIT_S": "1",
        "LLM_DRAIN_GRACE_S": "0",
        "LLM_READY_PORT": str(ready_port),
        "LLM_SYSTEMD_DIR": str(sb.systemd),
    }
    responder = subprocess.Popen(["bash", str(USERDATA / "ready.sh"), str(ready_port), str(vllm.port), str(drain)])
    wait_port(ready_port)
    lb = BalancerStandIn(ready_port)
    sb.rolling_env = env  # type: ignore[attr-defined]
    sb.drain = drain  # type: ignore[attr-defined]
    yield sb, lb
    lb.close()
    responder.terminate()
    responder.wait(5)
    vllm.close()


def serve(sb: Sandbox, **extra: str):
    return sb.run("serve.sh", _serve_env(sb, **sb.rolling_env, **extra))  # type: ignore[attr-defined]


def settle(lb: BalancerStandIn, state: bool, timeout: float = 5) -> None:
    deadline = time.time() + timeout
    while lb.in_service != state and time.time() < deadline:
        time.sleep(INTERVAL_S)
    assert lb.in_service == state, lb.transitions


def test_responder_follows_health_and_the_drain_file(group):
    sb, lb = group
    url = lb.url
    assert serve(sb).returncode == 0

    def status() -> int:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    assert status() == 200
    sb.drain.touch()  # type: ignore[attr-defined]
    assert status() == 503
    sb.drain.unlink()  # type: ignore[attr-defined]
    assert status() == 200
    (sb.sb / "server/healthy").unlink()  # vLLM down: /health fails
    assert status() == 503
    # The unit serve.sh wrote runs this responder with the same port, vLLM port and drain file.
    unit = (sb.systemd / "llm-ready.service").read_text()
    assert f"ready.sh {sb.rolling_env['LLM_READY_PORT']} {sb.rolling_env['LLM_PORT']} {sb.drain}" in unit  # type: ignore[attr-defined]


def test_change_drains_before_vllm_stops_and_rejoins_after_a_completion(group):
    sb, lb = group
    assert serve(sb).returncode == 0
    settle(lb, True)
    lb.transitions.clear()
    first_restarts = len(times(sb.sb / "vllm_restarts"))
    # serve.sh's own /health polls fail 8 times after the restart (~0.8 s) while the vLLM
    # stand-in's /health is already 200: a rejoin before the completion would show as an
    # "in" transition before it (the balancer needs HEALTHY x INTERVAL_S = 0.3 s).
    sb.knob("unhealthy_polls", "8")
    res = serve(sb, LLM_VLLM_ARGS=GOOD_ARGS.replace("32768", "16384"), LLM_HEALTH_WAIT_S="10")
    assert res.returncode == 0, res.stderr
    assert "draining" in res.stdout and "rejoined" in res.stdout
    settle(lb, True)
    restart = times(sb.sb / "vllm_restarts")[first_restarts]
    completion = min(t for t in times(sb.sb / "completions") if t > restart)
    (out_t, out), (in_t, back) = lb.transitions
    assert (out, back) == ("out", "in")
    assert out_t < restart, "the balancer still sent traffic when vLLM stopped"
    assert in_t > completion, "the group rejoined before a real completion answered"
    assert not sb.drain.exists()  # type: ignore[attr-defined]


def test_unchanged_run_does_not_drain(group):
    sb, lb = group
    assert serve(sb).returncode == 0
    settle(lb, True)
    lb.transitions.clear()
    res = serve(sb)
    assert res.returncode == 0 and "unchanged" in res.stdout
    assert "draining" not in res.stdout
    time.sleep(UNHEALTHY * INTERVAL_S * 3)
    assert lb.transitions == []


def test_no_rejoin_without_a_completion_and_the_roll_stops(group, tmp_path):
    sb, lb = group
    assert serve(sb).returncode == 0
    settle(lb, True)
    # The new settings never answer, nor does the rollback: the group stays out.
    sb.knob("never_healthy")
    res = serve(sb, LLM_VLLM_ARGS=BAD_ARGS)
    assert res.returncode == 1
    assert sb.drain.exists(), "rejoined without a completion"  # type: ignore[attr-defined]
    settle(lb, False)
    # Pulumi runs group i+1's serving only after group i's succeeded (dependsOn): with this
    # group failed, a second group's host is never touched.
    second = Sandbox(tmp_path / "group-1")
    ran = [res.returncode == 0 and second.run("serve.sh", _serve_env(second)).returncode == 0]
    assert ran == [False] and second.calls() == []


def test_rolling_steps_are_off_without_a_balancer(tmp_path):
    sb = Sandbox(tmp_path)
    (sb.state / "bootstrap.done").touch()
    (sb.models / "deepseek-r1-rev-a").mkdir(parents=True)
    (sb.state / "model-deepseek-r1-rev-a.done").write_text("x\n")
    res = sb.run("serve.sh", _serve_env(sb))
    assert res.returncode == 0, res.stderr
    assert "draining" not in res.stdout and not (sb.systemd / "llm-ready.service").exists()
