"""Secrets: the API key for pods and, with `acs.ossAuth = secret`, the OSS reader's key.

Values are Pulumi secrets passed in, never literals; neither reaches the jump host's files."""

from __future__ import annotations

from typing import Any

from components.acs.manifests.args import API_KEY_FIELD, API_KEY_SECRET, OSS_SECRET, ManifestArgs, metadata


def api_key_secret(a: ManifestArgs, value: Any) -> dict:
    """The API key for pods (read only through secretKeyRef). `value` is a Pulumi secret."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(a, API_KEY_SECRET, annotations={"llm/api-key-version": str(a.api_key_version)}),
        "type": "Opaque",
        "stringData": {API_KEY_FIELD: value},
    }


def oss_secret(a: ManifestArgs, access_key_id: Any, access_key_secret: Any) -> dict:
    """Only with `acs.ossAuth = secret`: values from Pulumi secret config, never literals."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(a, OSS_SECRET),
        "type": "Opaque",
        "stringData": {"akId": access_key_id, "akSecret": access_key_secret},
    }
