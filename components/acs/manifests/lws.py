"""A LeaderWorkerSet: one model copy across `group_size` pods (Ray head on the leader)."""

from __future__ import annotations

import shlex

from components.acs.manifests.args import PORT, RAY_GROUP_WAIT_S, RAY_PORT, SERVING_MARKER, ManifestArgs, metadata
from components.acs.manifests.pods import (
    api_key_env,
    cache_env,
    mounts,
    pod_labels,
    pod_spec,
    resources,
    workload_annotations,
)


def leader_probe_script() -> str:
    """LWS with `startupPolicy: LeaderReady` creates the workers only once the leader is Ready,
    and vLLM on the leader needs the workers: a plain /health probe would never pass. So the
    leader is ready when its Ray head listens until `vllm serve` starts (marker file), and from
    then on only when /health answers."""
    return (
        "import os, socket, urllib.request\n"
        f"if os.path.exists({SERVING_MARKER!r}):\n"
        f"    urllib.request.urlopen('http://127.0.0.1:{PORT}/health', timeout=5)\n"
        "else:\n"
        f"    socket.create_connection(('127.0.0.1', {RAY_PORT}), timeout=5).close()\n"
    )


def exec_probe(script: str, period_s: int, failures: int) -> dict:
    return {
        "exec": {"command": ["python3", "-c", script]},
        "periodSeconds": period_s,
        "timeoutSeconds": 10,
        "failureThreshold": failures,
    }


def leader_command(a: ManifestArgs) -> str:
    """Ray head, then wait (bounded) for the whole group, then `vllm serve`: joined with `&&` so a
    failed step stops the pod instead of serving on half a cluster."""
    wait_group = (
        "import os, sys, time, ray\n"
        'ray.init(address="auto", logging_level="ERROR")\n'
        'want = int(os.environ["LWS_GROUP_SIZE"])\n'
        f"deadline = time.time() + {RAY_GROUP_WAIT_S}\n"
        "while True:\n"
        '    alive = sum(1 for n in ray.nodes() if n["Alive"])\n'
        "    if alive >= want:\n"
        '        print(f"ray: {alive}/{want} nodes alive", flush=True)\n'
        "        sys.exit(0)\n"
        "    if time.time() > deadline:\n"
        f'        print(f"ray: only {{alive}}/{{want}} nodes joined within {RAY_GROUP_WAIT_S} s", flush=True)\n'
        "        sys.exit(1)\n"
        "    time.sleep(5)\n"
    )
    serve = shlex.join(["vllm", "serve", a.model_dir, *a.serve_args])
    return (
        f"ray start --head --port={RAY_PORT} --disable-usage-stats \\\n"
        f"&& python3 -c {shlex.quote(wait_group)} \\\n"
        f"&& touch {SERVING_MARKER} \\\n"
        f"&& exec {serve}\n"
    )


def worker_command() -> str:
    # $(LWS_LEADER_ADDRESS) is expanded by Kubernetes (LWS injects the variable), not by the shell.
    return f"ray start --address=$(LWS_LEADER_ADDRESS):{RAY_PORT} --disable-usage-stats --block"


def nccl_env() -> list[dict]:
    # Pods of compute-class gpu talk over the VPC network (eth0); HPN pods would need RDMA settings.
    return [{"name": "NCCL_SOCKET_IFNAME", "value": "eth0"}, {"name": "GLOO_SOCKET_IFNAME", "value": "eth0"}]


def leader_worker_set(a: ManifestArgs) -> dict:
    """DeepSeek-R1 671B across `group_size` pods: TP = GPUs per pod, PP = group size (in serve_args)."""
    leader = {
        "name": "vllm-leader",
        "image": a.image,
        "command": ["/bin/bash", "-c", leader_command(a)],
        "env": [api_key_env(), *nccl_env(), *cache_env()],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "resources": resources(a),
        "volumeMounts": mounts(a),
        "startupProbe": exec_probe(leader_probe_script(), 10, 60),
        "readinessProbe": exec_probe(leader_probe_script(), 10, 3),
        # Generous: the Ray head answers through the whole load, /health once serving; 10 x 30 s.
        "livenessProbe": exec_probe(leader_probe_script(), 30, 10),
    }
    leader_reachable = f"import socket, os; socket.create_connection((os.environ['LWS_LEADER_ADDRESS'], {RAY_PORT}), timeout=5).close()"
    worker = {
        "name": "vllm-worker",
        "image": a.image,
        "command": ["/bin/bash", "-c", worker_command()],
        "env": [*nccl_env(), *cache_env()],
        "resources": resources(a),
        "volumeMounts": mounts(a),
        "readinessProbe": exec_probe(leader_reachable, 30, 3),
        # A worker is useless without its head; LWS recreates the group when one pod restarts.
        "livenessProbe": exec_probe(leader_reachable, 30, 10),
    }
    spec: dict = {"replicas": a.replicas}
    if a.replicas >= 2:
        # One group at a time (the v0.5.0 CRD: maxUnavailable default 1, maxSurge default 0, and
        # maxUnavailable "can not be 0 if MaxSurge is 0"): the other groups keep serving. Spelt out
        # so that the plan shows it; configurable (llm:acs.lwsMaxUnavailable / lwsMaxSurge).
        spec["rolloutStrategy"] = {
            "type": "RollingUpdate",
            "rollingUpdateConfiguration": {"maxUnavailable": a.lws_max_unavailable, "maxSurge": a.lws_max_surge},
        }
    return {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": metadata(a, a.app, annotations=workload_annotations(a)),
        "spec": {
            **spec,
            "startupPolicy": "LeaderReady",
            "leaderWorkerTemplate": {
                "size": a.group_size,
                "restartPolicy": "RecreateGroupOnPodRestart",
                "leaderTemplate": {
                    "metadata": {"labels": pod_labels(a, "leader")},
                    "spec": pod_spec(a, leader),
                },
                "workerTemplate": {
                    "metadata": {"labels": pod_labels(a, "worker")},
                    "spec": pod_spec(a, worker),
                },
            },
        },
    }
