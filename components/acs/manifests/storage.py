"""Namespace, the pods' service account, and the read-only OSS volume (static PV + PVC)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.acs.manifests.args import OSS_SECRET, SERVICE_ACCOUNT, ManifestArgs, metadata


def namespace(a: ManifestArgs) -> dict:
    """The seed's namespace. No RRSA injection label: the pods hold no cloud credentials; the
    OSS volume's mount authenticates on its own (model_pv)."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata(a, a.namespace, namespaced=False)}


def service_account(a: ManifestArgs) -> dict:
    """The pods' account: no token mounted, no RAM role (vLLM reads the mounted files only)."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(a, SERVICE_ACCOUNT),
        "automountServiceAccountToken": False,
    }


def model_pv_name(a: ManifestArgs) -> str:
    return f"{a.prefix}-model"


# ossfs 1.0 options; ossfs 2.0 takes none here: read-only comes from ReadOnlyMany (the driver adds
# `ro=true`), and option names differ between the clients (alibaba-cloud-csi-driver docs/oss.md).
OSSFS1_OPTS = "-o ro -o allow_other"


def model_pv(a: ManifestArgs, rrsa: Mapping[str, Any] | None = None) -> dict:
    """A static, read-only OSS volume on the model prefix (ACS documents OSS as static PVs only).

    With RRSA, `rrsa` holds `roleArn` and `oidcProviderArn` (deploy-time values, placed as they
    are): given both, the CSI driver does not derive them from node metadata. No
    `serviceAccountName`: the mount then assumes the role as the driver's fuse account
    (`csi-fuse-ossfs`), the one subject the role trusts."""
    attrs: dict[str, Any] = {
        "bucket": a.bucket,
        "url": a.oss_endpoint,
        "path": "/" + a.object_prefix.rstrip("/"),
    }
    if a.oss_fuse_type == "ossfs2":
        attrs["fuseType"] = "ossfs2"
    else:
        attrs["otherOpts"] = OSSFS1_OPTS
    csi: dict[str, Any] = {
        "driver": "ossplugin.csi.alibabacloud.com",
        "volumeHandle": model_pv_name(a),
        "readOnly": True,
        "volumeAttributes": attrs,
    }
    if a.oss_auth == "rrsa":
        if not rrsa or set(rrsa) != {"roleArn", "oidcProviderArn"}:
            raise ValueError("an RRSA volume needs roleArn and oidcProviderArn")
        attrs["authType"] = "rrsa"
        attrs["roleArn"] = rrsa["roleArn"]
        attrs["oidcProviderArn"] = rrsa["oidcProviderArn"]
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
