"""Namespace, the pods' service account, and the read-only OSS volume (static PV + PVC)."""

from __future__ import annotations

from typing import Any

from components.acs.manifests.args import OSS_SECRET, SERVICE_ACCOUNT, ManifestArgs, metadata


def namespace(a: ManifestArgs) -> dict:
    """The seed's namespace; RRSA's webhook injects OIDC tokens into pods of labelled namespaces."""
    meta = metadata(a, a.namespace, namespaced=False)
    if a.oss_auth == "rrsa":
        meta["labels"]["pod-identity.alibabacloud.com/injection"] = "on"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def service_account(a: ManifestArgs) -> dict:
    annotations = {"pod-identity.alibabacloud.com/role-name": a.oss_role_name} if a.oss_auth == "rrsa" else None
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(a, SERVICE_ACCOUNT, annotations=annotations),
        "automountServiceAccountToken": False,
    }


def model_pv_name(a: ManifestArgs) -> str:
    return f"{a.prefix}-model"


def model_pv(a: ManifestArgs) -> dict:
    """A static, read-only OSS volume on the model prefix (ACS documents OSS as static PVs only)."""
    attrs: dict[str, Any] = {
        "bucket": a.bucket,
        "url": a.oss_endpoint,
        "path": "/" + a.object_prefix.rstrip("/"),
        "otherOpts": "-o ro -o allow_other",
    }
    csi: dict[str, Any] = {
        "driver": "ossplugin.csi.alibabacloud.com",
        "volumeHandle": model_pv_name(a),
        "readOnly": True,
        "volumeAttributes": attrs,
    }
    if a.oss_auth == "rrsa":
        attrs["authType"] = "rrsa"
        attrs["roleName"] = a.oss_role_name
    else:
        csi["nodePublishSecretRef"] = {"name": OSS_SECRET, "namespace": a.namespace}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": metadata(a, model_pv_name(a), namespaced=False) | {"labels": {"llm/volume": model_pv_name(a)}},
        "spec": {
            "capacity": {"storage": f"{a.pv_size_gib}Gi"},
            "accessModes": ["ReadOnlyMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "csi": csi,
        },
    }


def model_pvc(a: ManifestArgs) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata(a, "llm-model"),
        "spec": {
            "accessModes": ["ReadOnlyMany"],
            "storageClassName": "",
            "volumeName": model_pv_name(a),
            "resources": {"requests": {"storage": f"{a.pv_size_gib}Gi"}},
        },
    }
