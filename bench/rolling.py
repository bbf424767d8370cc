"""Rolling serving change benchmark (a benchmark, not a test): failed requests during a serving
change across N = 1, 2, 3 groups behind a load balancer, in the sandbox (tests/fakes/sandbox.py).

Each group: the real userdata/serve.sh, the real readiness responder (userdata/ready.sh), and a
vLLM stand-in that is down for LOAD_S after every restart and whose requests take REQUEST_S (a
request fails when its server restarts under it or is not loaded). A load-balancer stand-in polls
each responder every INTERVAL_S (out after 3 failures, in after 3 successes: the listener's
thresholds) and routes a client's requests round-robin over the groups in service. The roll runs
group 0 then group 1, the second only if the first succeeded (Pulumi's dependsOn).

Two runs: with the drain (what the program renders behind a load balancer) and without it (the
responder follows /health only, as a plain health check on vLLM would): the figure is the failed
requests of each.

    .venv/bin/python bench/rolling.py   # a Markdown table: groups, drain on/off, failed, longest gap, roll time
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from components.ecs import rolling  # noqa: E402
from tests.fakes.sandbox import GOOD_ARGS, USERDATA, Sandbox  # noqa: E402
from tests.fakes.status_server import StatusServer  # noqa: E402
from tests.scripts.test_scripts import _serve_env  # noqa: E402

GROUPS = 2
INTERVAL_S = 0.1
LOAD_S = 1.0  # the stand-in vLLM is down this long after a restart
REQUEST_S = 0.2  # one request's duration
CLIENT_GAP_S = 0.02
SERVE_WAIT_POLLS = 15  # serve.sh's own /health polls fail this often (x 0.1 s) after a restart


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Vllm(StatusServer):
    """/health and /generate: 503 until LOAD_S after each restart; a /generate request takes
    REQUEST_S and fails when the stand-in restarts meanwhile."""

    def __init__(self, sb: Sandbox):
        restarts = sb.sb / "vllm_restarts"

        def state() -> tuple[int, bool]:
            lines = restarts.read_text().split() if restarts.exists() else []
            loaded = bool(lines) and time.time() - float(lines[-1]) >= LOAD_S
            return len(lines), loaded and (sb.sb / "server/healthy").exists()

        def status(path: str) -> int:
            n, up = state()
            if path.startswith("/generate") and up:
                time.sleep(REQUEST_S)
                n2, up = state()
                up = up and n2 == n
            return 200 if up else 503

        super().__init__(status)


def ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


class Balancer:
    def __init__(self, ready_urls: list[str], vllm_urls: list[str]):
        self.ready, self.vllm = ready_urls, vllm_urls
        self.in_service = [True] * len(ready_urls)
        self.sent = self.failed = 0
        self.longest_gap_s = 0.0  # the longest time no backend was in service
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._check, args=(i,), daemon=True) for i in range(len(ready_urls))]
        self.threads.append(threading.Thread(target=self._client, daemon=True))
        for t in self.threads:
            t.start()

    def _check(self, i: int) -> None:
        good = bad = 0
        while not self.stop.is_set():
            if ok(self.ready[i]):
                good, bad = good + 1, 0
                if good >= rolling.HEALTHY_THRESHOLD:
                    self.in_service[i] = True
            else:
                good, bad = 0, bad + 1
                if bad >= rolling.UNHEALTHY_THRESHOLD:
                    self.in_service[i] = False
            time.sleep(INTERVAL_S)

    def _client(self) -> None:
        turn = 0
        lock = threading.Lock()

        def one(i: int | None) -> None:
            good = i is not None and ok(self.vllm[i] + "/generate")
            with lock:
                self.sent += 1
                self.failed += 0 if good else 1

        gap_start: float | None = None
        while not self.stop.is_set():
            live = [i for i, up in enumerate(self.in_service) if up]
            now = time.monotonic()
            if live:
                gap_start = None
            else:
                gap_start = now if gap_start is None else gap_start
                self.longest_gap_s = max(self.longest_gap_s, now - gap_start)
            target = live[turn % len(live)] if live else None
            turn += 1
            threading.Thread(target=one, args=(target,), daemon=True).start()
            time.sleep(CLIENT_GAP_S)

    def close(self) -> None:
        self.stop.set()
        time.sleep(REQUEST_S * 3)


def run(drain: bool, n: int = GROUPS) -> tuple[int, int, float, float]:
    root = Path(tempfile.mkdtemp(prefix="bench-rolling-"))
    groups = []
    for g in range(n):
        sb = Sandbox(root / f"group-{g}")
        (sb.state / "bootstrap.done").touch()
        (sb.models / "deepseek-r1-rev-a").mkdir(parents=True)
        (sb.state / "model-deepseek-r1-rev-a.done").write_text("x\n")
        vllm = Vllm(sb)
        port, drain_file = free_port(), root / f"group-{g}/run/llm/drain"
        env = {"LLM_PORT": str(vllm.port), "LLM_POLL_S": "0.1", "LLM_HEALTH_WAIT_S": "20"}
        if drain:
            env |= {
                "LLM_DRAIN_FILE": str(drain_file), "LLM_DRAIN_WAIT_S": "1", "LLM_DRAIN_GRACE_S": "1",
                "LLM_READY_PORT": str(port), "LLM_SYSTEMD_DIR": str(sb.systemd),
            }  # fmt: skip
        responder = subprocess.Popen(["bash", str(USERDATA / "ready.sh"), str(port), str(vllm.port), str(drain_file)])
        assert sb.run("serve.sh", _serve_env(sb, **env)).returncode == 0
        groups.append((sb, env, port, vllm, responder))
    time.sleep(LOAD_S + 1)  # first start loaded, every group in service
    lb = Balancer([f"http://127.0.0.1:{p}/ready" for _, _, p, _, _ in groups],
                  [f"http://127.0.0.1:{v.port}" for _, _, _, v, _ in groups])  # fmt: skip
    time.sleep(1)
    start = time.time()
    change = GOOD_ARGS.replace("32768", "16384")
    for sb, env, *_ in groups:  # group i only after group i-1 succeeded
        sb.knob("unhealthy_polls", str(SERVE_WAIT_POLLS))
        if sb.run("serve.sh", _serve_env(sb, **env, LLM_VLLM_ARGS=change)).returncode != 0:
            break
    elapsed = time.time() - start
    time.sleep(LOAD_S + 1)
    lb.close()
    for *_, responder in groups:
        responder.terminate()
    return lb.sent, lb.failed, elapsed, lb.longest_gap_s


def main() -> None:
    print(f"health check every {INTERVAL_S}s (out after {rolling.UNHEALTHY_THRESHOLD}), "
          f"vLLM load {LOAD_S}s, requests {REQUEST_S}s every {CLIENT_GAP_S}s")  # fmt: skip
    print("| groups | drain | failed / sent | longest time with no backend in service | roll time |")
    print("|---|---|---|---|---|")
    for n in (1, 2, 3):
        for drain in (True, False):
            sent, failed, elapsed, gap = run(drain, n)
            print(
                f"| {n} | {'on' if drain else 'off'} | {failed} / {sent} | {gap:.1f} s | {elapsed:.1f} s |", flush=True
            )


if __name__ == "__main__":
    main()
