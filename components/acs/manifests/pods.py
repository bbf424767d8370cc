"""Pieces of every serving pod template: ACS labels, resources, volumes, probes, awaits."""

from __future__ import annotations

import math

from components.acs.manifests.args import API_KEY_FIELD, API_KEY_SECRET, PORT, SERVICE_ACCOUNT, ManifestArgs


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


def volumes(a: ManifestArgs) -> list[dict]:
    return [
        {"name": "model", "persistentVolumeClaim": {"claimName": "llm-model", "readOnly": True}},
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{a.shm_gib}Gi"}},
    ]


def mounts(a: ManifestArgs) -> list[dict]:
    return [
        {"name": "model", "mountPath": a.model_dir, "readOnly": True},
        {"name": "dshm", "mountPath": "/dev/shm"},
    ]


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
        "containers": [container],
        "volumes": volumes(a),
    }


def workload_annotations(a: ManifestArgs) -> dict[str, str]:
    """pulumi-kubernetes awaits a Deployment for 10 minutes by default: a model load takes longer.
    The Deployment is awaited for the whole startup bound (image pull included); the readiness
    Job then proves one real completion. A LeaderWorkerSet (a custom resource) is not awaited."""
    if a.lws:
        return {"pulumi.com/skipAwait": "true"}
    return {"pulumi.com/timeoutSeconds": str(a.startup_timeout_s + 900)}
