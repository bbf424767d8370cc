"""Boot path benchmark: do the model download and the image pull overlap?

Runs the real host scripts from `userdata/` in the test sandbox (tests/sandbox.py) with injected
delays: the stand-in `ossutil cp` sleeps DOWNLOAD_S, the first `docker pull` of the image
sleeps PULL_S, everything else is ~0. The phases start as Cloud Assistant and the boot would
start them:

- ecs-single: the bootstrap unit, model-sync.sh and serve.sh all at once (serve.sh pulls while
  the model downloads, then waits for the marker).
- ecs-cluster head: the bootstrap, model-sync.sh and ray-start.sh at once (ray-start pulls);
  serve.sh after ray-start.sh has returned (the serve invocation depends on the Ray one). The
  other nodes are stand-ins that have already joined.

ratio = total / (longest of the overlapping steps + serial overhead), where the serial overhead
is the same path measured with no injected delays (process starts, polls, health check).
Target: <= 1.15. "no overlap" is what running download and pull one after the other would take.

    .venv/bin/python bench/boot_path.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.sandbox import API_KEY, GOOD_ARGS, IMAGE, SERVED_NAME, USERDATA, Sandbox  # noqa: E402

DOWNLOAD_S = 6.0
PULL_S = 4.0
TARGET = 1.15
MODEL = "deepseek-r1-rev-a"
HEAD = "10.0.0.11"
POLL_S = "0.1"


def _setup(root: Path, download_s: float, pull_s: float) -> tuple[Sandbox, dict[str, str]]:
    sb = Sandbox(root, fresh_host=True)
    sb.disk.parent.mkdir(parents=True, exist_ok=True)
    sb.disk.write_text("")
    sb.add_bucket("weights/ds/rev-a", {"config.json": b"{}", "model-00001-of-00001.safetensors": b"x" * 4096})
    sb.install_ossutil()
    sb.knob("ossutil_sleep_s", str(download_s))
    sb.knob("pull_sleep_s", str(pull_s))
    common = {
        "LLM_POLL_S": POLL_S,
        "LLM_BOOTSTRAP_WAIT_S": "60",
        "LLM_MODEL_DIR": str(sb.models / MODEL),
        "LLM_MODEL_MARKER": str(sb.state / f"model-{MODEL}.done"),
        "LLM_VLLM_IMAGE": IMAGE,
    }
    return sb, common


def _envs(sb: Sandbox, common: dict[str, str], cluster: bool) -> dict[str, dict[str, str]]:
    boot = {"LLM_MODEL_DISK_DEVICE": str(sb.disk), "LLM_DISK_WAIT_S": "5"}
    sync = {
        **common,
        "LLM_MODEL_SOURCE": "oss://weights/ds/rev-a/",
        "LLM_OSS_REGION": "cn-wulanchabu",
        "LLM_RAM_ROLE": "llm-bench-node",
        "LLM_EXPECTED_SHARDS": "1",
    }
    serve = {
        **common,
        "LLM_VLLM_ARGS": GOOD_ARGS,
        "LLM_SERVED_MODEL_NAME": SERVED_NAME,
        "LLM_API_KEY": API_KEY,
        "LLM_MODEL_WAIT_S": "60",
        "LLM_HEALTH_WAIT_S": "10",
    }
    ray = {
        **common,
        "LLM_RAY_HEAD_IP": HEAD,
        "LLM_LOCAL_IPS": HEAD,
        "LLM_CLUSTER_NODES": "2",
        "LLM_NCCL_ENV": "NCCL_SOCKET_IFNAME=eth0",
    }
    if cluster:
        serve |= {"LLM_CLUSTER_NODES": "2", "LLM_CLUSTER_NODE_IPS": f"{HEAD},10.0.0.12", "LLM_GPUS_PER_NODE": "8"}
    return {"bootstrap": boot, "model-sync": sync, "serve": serve, "ray-start": ray}


class _Step:
    """One script started now; a thread records when it ends."""

    def __init__(self, sb: Sandbox, name: str, script: str, env: dict[str, str], t0: float) -> None:
        self.name, self.t0 = name, t0
        self.start = time.monotonic() - t0
        self.end = 0.0
        self.out = ""
        self.proc = subprocess.Popen(
            ["bash", str(USERDATA / script)],
            env={**sb.env, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        self.out, _ = self.proc.communicate(timeout=120)
        self.end = time.monotonic() - self.t0

    def wait(self) -> _Step:
        self._thread.join(timeout=130)
        if self.proc.returncode != 0:
            raise SystemExit(f"{self.name} failed ({self.proc.returncode}):\n{self.out}")
        return self


def run_path(cluster: bool, download_s: float, pull_s: float) -> tuple[float, list[_Step]]:
    with tempfile.TemporaryDirectory(prefix="boot-path-") as tmp:
        sb, common = _setup(Path(tmp), download_s, pull_s)
        envs = _envs(sb, common, cluster)
        if cluster:  # the worker has joined and holds its own model copy
            worker_models = Path(tmp) / "worker/models"
            (worker_models / MODEL).mkdir(parents=True)
            sb.ray_nodes({HEAD: (8, sb.models), "10.0.0.12": (8, worker_models)})
        t0 = time.monotonic()
        boot = _Step(sb, "bootstrap", "host-bootstrap.sh", envs["bootstrap"], t0)
        sync = _Step(sb, "model-sync (download)", "model-sync.sh", envs["model-sync"], t0)
        if cluster:
            ray = _Step(sb, "ray-start (pull)", "ray-start.sh", envs["ray-start"], t0).wait()
            serve = _Step(sb, "serve (after ray-start)", "serve.sh", envs["serve"], t0)
            steps = [boot, sync, ray, serve]
        else:
            serve = _Step(sb, "serve (pull, wait, start)", "serve.sh", envs["serve"], t0)
            steps = [boot, sync, serve]
        for step in steps:
            step.wait()
        return max(s.end for s in steps), steps


def main() -> None:
    rows = []
    for cluster in (False, True):
        shape = "ecs-cluster head" if cluster else "ecs-single"
        baseline, _ = run_path(cluster, 0.0, 0.0)
        total, steps = run_path(cluster, DOWNLOAD_S, PULL_S)
        ideal = max(DOWNLOAD_S, PULL_S) + baseline
        serial = DOWNLOAD_S + PULL_S + baseline
        rows.append((shape, total, baseline, ideal, serial, total / ideal, steps))

    print(f"Injected delays: download {DOWNLOAD_S:.0f} s, image pull {PULL_S:.0f} s, rest ~0 (poll {POLL_S} s).\n")
    print("| shape | total s | serial overhead s | ideal s (max + overhead) | no overlap s | ratio | target |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for shape, total, baseline, ideal, serial, ratio, _ in rows:
        ok = "ok" if ratio <= TARGET else "MISSED"
        print(
            f"| {shape} | {total:.2f} | {baseline:.2f} | {ideal:.2f} | {serial:.2f} | {ratio:.3f} | <= {TARGET} {ok} |"
        )
    print("\n| shape | step | start s | end s |")
    print("|---|---|---:|---:|")
    for shape, *_, steps in rows:
        for s in steps:
            print(f"| {shape} | {s.name} | {s.start:.2f} | {s.end:.2f} |")


if __name__ == "__main__":
    main()
