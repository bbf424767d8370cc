"""llm:encryption and llm:host: disk encryption and ECS host setup facts (structure and
single-key rules; sources in docs/cloud-contracts.md)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from components.config.base import _Model

# A KMS key ID: a UUID (keys of the default KMS instance) or `key-<alphanumerics>` (keys of a KMS
# instance). The exact grammar has no primary source (unverified; docs/cloud-contracts.md, section "Hardening").
KMS_KEY_ID = re.compile(r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|key-[a-z0-9]{4,64})$")


class EncryptionSettings(_Model):
    """Encryption at rest of the system disks (GPU nodes, jump host) and the model disks.

    Both flags force a new instance and a new disk in the provider: a stack created before
    release 2 keeps its disks only with `enabled: false` (README, upgrade notes)."""

    enabled: bool = Field(
        True, description="encrypt system and model disks (false for stacks created before release 2)"
    )
    kms_key_id: str | None = Field(None, description="KMS key ID for the disks (default: the account's service key)")

    @field_validator("kms_key_id")
    @classmethod
    def _kms(cls, v: str | None) -> str | None:
        if v is not None and not KMS_KEY_ID.fullmatch(v):
            raise ValueError("a KMS key ID: a UUID (8-4-4-4-12 lower-case hex) or key-<4-64 of a-z 0-9>")
        return v

    @model_validator(mode="after")
    def _key_needs_encryption(self) -> EncryptionSettings:
        if self.kms_key_id and not self.enabled:
            raise ValueError("kmsKeyId is set but enabled is false: a key encrypts nothing here")
        return self


class HostSettings(_Model):
    """Host setup facts no primary source settles for every type (DESIGN section 6: unverified
    facts are config values with a default)."""

    fabric_manager: Literal["auto", "on", "off"] = Field(
        "auto",
        description="NVIDIA Fabric Manager: auto = on for the catalog's NVSwitch types (unverified for VM types)",
    )
    fabric_manager_package: str = Field(
        "nvidia-fabric-manager", description="Fabric Manager RPM (NVIDIA's name; installed as <name>-<driver version>)"
    )
    erdma_installer_url: str = Field(
        "http://mirrors.cloud.aliyuncs.com/erdma/env_setup.sh",
        description="eRDMA installer for GPU instances, run with --egs (Alibaba's erdma-controller)",
    )
    erdma_installer_sha256: str = Field(
        "", description="SHA-256 of the eRDMA installer (unset: not checked, a warning is logged; unverified)"
    )

    @field_validator("erdma_installer_sha256")
    @classmethod
    def _sha(cls, v: str) -> str:
        if v and not re.fullmatch(r"[0-9a-f]{64}", v):
            raise ValueError("must be 64 lower-case hex digits")
        return v

    @field_validator("erdma_installer_url")
    @classmethod
    def _url(cls, v: str) -> str:
        # http: Alibaba's in-VPC mirror (mirrors.cloud.aliyuncs.com) is served over plain HTTP;
        # integrity comes from erdmaInstallerSha256.
        if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9._/~%+-]*", v):
            raise ValueError("must be an http:// or https:// URL")
        return v

    @field_validator("fabric_manager_package")
    @classmethod
    def _pkg(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}", v):
            raise ValueError("not an RPM package name")
        return v
