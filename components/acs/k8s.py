"""One Pulumi resource per manifest dict (components/acs/manifests), typed where the SDK has a class.

The Kubernetes provider reaches these resources through the resource options of the component
that declares them (`providers=`), never as an extra argument.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

# Typed pulumi-kubernetes classes by (apiVersion, kind); anything else is a CustomResource.
_KINDS: dict[tuple[str, str], Any] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "PersistentVolume"): k8s.core.v1.PersistentVolume,
    ("v1", "PersistentVolumeClaim"): k8s.core.v1.PersistentVolumeClaim,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "Service"): k8s.core.v1.Service,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("batch/v1", "Job"): k8s.batch.v1.Job,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): k8s.rbac.v1.ClusterRole,
}


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def k8s_object(name: str, manifest: Mapping[str, Any], opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """A Pulumi resource for one manifest dict from components/manifests.py, as it is."""
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    body = {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind")}
    cls = _KINDS.get((api_version, kind))
    if cls is None:
        extra = set(body) - {"metadata", "spec"}
        if extra:
            raise ValueError(f"{kind}: only metadata and spec are supported for custom resources (got {extra})")
        return k8s.apiextensions.CustomResource(
            name, api_version=api_version, kind=kind, metadata=body.get("metadata"), spec=body.get("spec"), opts=opts
        )
    return cls(name, **{_snake(k): v for k, v in body.items()}, opts=opts)
