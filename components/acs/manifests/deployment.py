"""One pod, one model copy: the vLLM Deployment."""

from __future__ import annotations

from components.acs.manifests.args import PORT, ManifestArgs, metadata
from components.acs.manifests.pods import (
    api_key_env,
    cache_env,
    http_probe,
    mounts,
    pod_labels,
    pod_spec,
    resources,
    startup_failures,
    workload_annotations,
)


def deployment(a: ManifestArgs) -> dict:
    """One pod, one model copy: `vllm serve` on the mounted weights."""
    container = {
        "name": "vllm",
        "image": a.image,
        "command": ["vllm", "serve", a.model_dir],
        "args": list(a.serve_args),
        "env": [api_key_env(), *cache_env()],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "resources": resources(a),
        "volumeMounts": mounts(a),
        "startupProbe": http_probe(10, startup_failures(a)),
        "readinessProbe": http_probe(10, 3),
        "livenessProbe": http_probe(30, 5),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(a, a.app, annotations=workload_annotations(a)),
        "spec": {
            "replicas": a.replicas,
            "selector": {"matchLabels": {"app": a.app}},
            # A new pod comes up before the old one goes: no gap while the model loads (ACS
            # schedules the extra GPU pod on demand; it costs the load time's GPU hours).
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "progressDeadlineSeconds": a.startup_timeout_s + 600,
            "template": {
                "metadata": {"labels": pod_labels(a, "serve")},
                "spec": pod_spec(a, container),
            },
        },
    }
