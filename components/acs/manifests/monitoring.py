"""llm:observability on ACS: the PodMonitor that Managed Service for Prometheus reads.

A prometheus-operator PodMonitor (monitoring.coreos.com/v1) selecting the serving pods (the
leader of each LeaderWorkerSet group, or the Deployment's pod) and scraping `/metrics` on the
`http` port (8000). vLLM 0.8.5 serves `/metrics` without the API key, so the PodMonitor holds
no credential. ARMS documents PodMonitor collection for container environments ("Custom
collection through PodMonitor"); that ACS clusters accept it like ACK is unverified offline
(docs/cloud-contracts.md, "Observability"). It is handed to ARMS as YAML (arms.EnvPodMonitor), not
applied with kubectl, so no CRD needs to exist before `pulumi up`.
"""

from __future__ import annotations

from components.acs.manifests.args import ManifestArgs
from components.acs.manifests.workload import serving_selector

PODMONITOR_NAME = "llm-vllm"


def pod_monitor(a: ManifestArgs, interval_s: int) -> dict:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": PODMONITOR_NAME, "namespace": a.namespace, "labels": {"app": a.app}},
        "spec": {
            "namespaceSelector": {"matchNames": [a.namespace]},
            "selector": {"matchLabels": serving_selector(a)},
            "podMetricsEndpoints": [
                {"port": "http", "path": "/metrics", "interval": f"{interval_s}s", "scheme": "http"}
            ],
        },
    }


def vllm_selector(a: ManifestArgs) -> str:
    """PromQL label matchers of the serving pods' series (prometheus-operator adds `namespace`
    and `pod` to every PodMonitor target)."""
    return f'namespace="{a.namespace}",pod=~"{a.app}.*"'
