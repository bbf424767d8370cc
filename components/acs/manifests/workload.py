"""The serving workload of the stack: a Deployment or a LeaderWorkerSet, and its selector."""

from __future__ import annotations

from components.acs.manifests.args import ManifestArgs
from components.acs.manifests.deployment import deployment
from components.acs.manifests.lws import leader_worker_set


def workload(a: ManifestArgs) -> dict:
    return leader_worker_set(a) if a.lws else deployment(a)


def serving_selector(a: ManifestArgs) -> dict[str, str]:
    return {"app": a.app, "llm/role": "leader" if a.lws else "serve"}
