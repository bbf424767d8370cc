"""llm:observability settings (metrics, logs, alarms): structure and single-key rules.

Cross-key rules: rules_observability.py. Sources: docs/cloud-contracts.md ("Observability").
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

_IMAGE = re.compile(
    r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$"
)


from components.config.base import _Model  # noqa: E402

# Nothing is created with `metrics: none` and `logs: none` (the default).
# NVIDIA's DCGM exporter, pinned: the tag NVIDIA/dcgm-exporter README @00d6d344 runs. It predates
# Hopper (H20/H800): set a newer tag. No in-region mirror of it could
# be sourced: the default pulls from nvcr.io through the NAT gateway (unverified that every
# region reaches it; set `observability.dcgmImage` to a copy in your ACR).
DEFAULT_DCGM_IMAGE = "nvcr.io/nvidia/k8s/dcgm-exporter:2.3.5-2.6.5-ubuntu20.04"
DCGM_PORT = 9400  # dcgm-exporter's default listen address :9400
# SLS: Logtail installer for Linux servers, from the region's internal OSS bucket (SLS docs,
# "Install Logtail on a Linux server"; unverified offline). {region} is filled in.
DEFAULT_LOGTAIL_INSTALLER_URL = "http://logtail-release-{region}.oss-{region}-internal.aliyuncs.com/linux64/logtail.sh"
# SLS logstore TTL: 1-3650 days, 3650 = permanent (pulumi_alicloud log.Store retention_period).
LOG_RETENTION_MAX_DAYS = 3650


class AlarmSettings(_Model):
    contact_group: str = Field(description="existing ARMS alert contact group (name) that gets the alerts")
    waiting_requests: int = Field(8, ge=1, description="alert when vLLM's waiting queue stays above this")
    waiting_minutes: int = Field(5, ge=1, le=1440, description="... for this many minutes")
    kv_cache_usage: float = Field(0.95, description="alert when KV-cache usage (0-1) stays above this")
    kv_cache_minutes: int = Field(5, ge=1, le=1440, description="... for this many minutes")
    down_minutes: int = Field(2, ge=1, le=1440, description="alert when /metrics has not answered this long")

    @field_validator("kv_cache_usage")
    @classmethod
    def _share(cls, v: float) -> float:
        if not 0 < v <= 1:
            raise ValueError("must be in (0, 1]")
        return v

    @field_validator("contact_group")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[^\s{}\\\"'][^{}\\\"']{0,63}", v) or v != v.strip():
            raise ValueError("a contact group name: 1-64 characters, no quotes, braces or backslashes")
        return v


class ObservabilitySettings(_Model):
    metrics: Literal["arms", "none"] = Field(
        "none", description="`arms`: Managed Service for Prometheus scrapes vLLM and DCGM (billed by ARMS)"
    )
    logs: Literal["sls", "none"] = Field("none", description="`sls`: an SLS project + logstore per stack")
    log_retention_days: int = Field(
        30, ge=1, le=LOG_RETENTION_MAX_DAYS, description="logstore retention (3650: permanent)"
    )
    alarms: AlarmSettings | None = Field(None, description="Prometheus alert rules (needs `metrics: arms`)")
    scrape_interval_s: int = Field(15, ge=5, le=300, description="Prometheus scrape interval")
    dcgm_image: str = Field(DEFAULT_DCGM_IMAGE, description="DCGM exporter image on ECS (pinned; unverified)")
    logtail_installer_url: str = Field(
        DEFAULT_LOGTAIL_INSTALLER_URL, description="Logtail installer on ECS ({region} filled in; unverified)"
    )

    @field_validator("dcgm_image")
    @classmethod
    def _image(cls, v: str) -> str:
        if "@sha256:" not in v and (":" not in v.rsplit("/", 1)[-1] or v.endswith(":latest")):
            raise ValueError("pin a tag or digest (no `latest`)")
        # A narrower form of model.py's image-reference grammar (this module imports nothing of
        # model.py, which imports it): registry/path:tag or @sha256 digest, at most 255.
        if not _IMAGE.match(v) or len(v) > 255:
            raise ValueError("not an image reference")
        return v

    @field_validator("logtail_installer_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.fullmatch(r"https?://[A-Za-z0-9.{}-]+(:[0-9]+)?/[A-Za-z0-9._/~%+-]*", v):
            raise ValueError("must be an http:// or https:// URL")
        if re.sub(r"\{region\}", "", v).count("{") or re.sub(r"\{region\}", "", v).count("}"):
            raise ValueError("only `{region}` may appear in braces")
        return v

    @property
    def enabled(self) -> bool:
        return self.metrics != "none" or self.logs != "none"
