"""Pieces of every serving pod template: ACS labels, resources, volumes, probes, awaits."""

from __future__ import annotations

import math

from components.acs.manifests.args import (
    API_KEY_FIELD,
    API_KEY_SECRET,
    CACHE_DIR,
    PORT,
    SERVICE_ACCOUNT,
    TMP_DIR,
    ManifestArgs,
)

# The scratch volumes' bounds: Ray's session logs and compile caches stay well below these; a
# runaway writer gets the pod evicted instead of filling the sandbox's disk.
TMP_GIB = 20
CACHE_GIB = 20

# Where vLLM, PyTorch, Triton, Hugging Face and friends write when HOME is not writable: every
# one pointed into CACHE_DIR (an emptyDir), so the root filesystem can be read-only.
CACHE_ENV = {
    "HOME": CACHE_DIR,
    "XDG_CACHE_HOME": f"{CACHE_DIR}/.cache",
    "XDG_CONFIG_HOME": f"{CACHE_DIR}/.config",
    "HF_HOME": f"{CACHE_DIR}/huggingface",
    "VLLM_CACHE_ROOT": f"{CACHE_DIR}/vllm",
    "VLLM_CONFIG_ROOT": f"{CACHE_DIR}/vllm-config",
    "TRITON_CACHE_DIR": f"{CACHE_DIR}/triton",
    "TORCHINDUCTOR_CACHE_DIR": f"{CACHE_DIR}/torchinductor",
    "NUMBA_CACHE_DIR": f"{CACHE_DIR}/numba",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
}


def pod_labels(a: ManifestArgs, role: str) -> dict[str, str]:
    """ACS reads these from the POD template (not the workload's metadata)."""
    return {
        "app": a.app,
        "llm/role": role,
        "alibabacloud.com/compute-class": a.compute_class,
        "alibabacloud.com/gpu-model-series": a.gpu_series,
        "alibabacloud.com/compute-qos": a.compute_qos,
    }


def resources(a: ManifestArgs) -> dict:
    amount = {"cpu": str(a.cpu), "memory": f"{a.memory_gib}Gi", "nvidia.com/gpu": str(a.gpus)}
    return {"requests": dict(amount), "limits": dict(amount)}


def api_key_env() -> dict:
    return {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": API_KEY_SECRET, "key": API_KEY_FIELD}}}


def cache_env() -> list[dict]:
    return [{"name": k, "value": v} for k, v in CACHE_ENV.items()]


def volumes(a: ManifestArgs) -> list[dict]:
    return [
        {"name": "model", "persistentVolumeClaim": {"claimName": "llm-model", "readOnly": True}},
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{a.shm_gib}Gi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": f"{TMP_GIB}Gi"}},
        {"name": "cache", "emptyDir": {"sizeLimit": f"{CACHE_GIB}Gi"}},
    ]


def mounts(a: ManifestArgs) -> list[dict]:
    return [
        {"name": "model", "mountPath": a.model_dir, "readOnly": True},
        {"name": "dshm", "mountPath": "/dev/shm"},
        {"name": "tmp", "mountPath": TMP_DIR},
        {"name": "cache", "mountPath": CACHE_DIR},
    ]


def added_capabilities(a: ManifestArgs) -> list[str]:
    """None, except IPC_LOCK on gpu-hpn: RDMA registers (pins) memory, which needs CAP_IPC_LOCK
    or a large RLIMIT_MEMLOCK (rdma-core's libibverbs docs). Pods of class gpu use TCP (eth0)."""
    return ["IPC_LOCK"] if a.compute_class == "gpu-hpn" else []


def container_security(a: ManifestArgs, read_only_root: bool | None = None) -> dict:
    """No privilege escalation, every capability dropped (vLLM, Ray and NCCL over TCP need none),
    read-only root where allowed. Root stays: the EGS vLLM image runs as root (docs/security.md)."""
    caps: dict = {"drop": ["ALL"]}
    if added := added_capabilities(a):
        caps["add"] = added
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": caps,
        "readOnlyRootFilesystem": a.read_only_root if read_only_root is None else read_only_root,
    }


def pod_security(a: ManifestArgs, **extra: object) -> dict:
    out: dict = {"seccompProfile": {"type": "RuntimeDefault"}} if a.seccomp else {}
    return out | extra


def http_probe(period_s: int, failures: int) -> dict:
    return {
        "httpGet": {"path": "/health", "port": PORT},
        "periodSeconds": period_s,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def startup_failures(a: ManifestArgs, period_s: int = 10) -> int:
    """The startup probe allows the whole load (`vllm.startupTimeoutS`) before a restart."""
    return max(1, math.ceil(a.startup_timeout_s / period_s))


def pod_spec(a: ManifestArgs, container: dict) -> dict:
    return {
        "serviceAccountName": SERVICE_ACCOUNT,
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 30,
        "securityContext": pod_security(a),
        "containers": [container | {"securityContext": container_security(a)}],
        "volumes": volumes(a),
    }


def workload_annotations(a: ManifestArgs) -> dict[str, str]:
    """pulumi-kubernetes awaits a Deployment for 10 minutes by default: a model load takes longer.
    The Deployment is awaited for the whole startup bound (image pull included); the readiness
    Job then proves one real completion. A LeaderWorkerSet (a custom resource) is not awaited."""
    if a.lws:
        return {"pulumi.com/skipAwait": "true"}
    return {"pulumi.com/timeoutSeconds": str(a.startup_timeout_s + 900)}
