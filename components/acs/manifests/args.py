"""What every manifest is built from (`ManifestArgs`), the shared names, and the metadata helper."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.common.ports import PORT, RAY_PORT  # noqa: F401  (re-exported for the manifests)

API_KEY_SECRET = "vllm-api-key"
API_KEY_FIELD = "api-key"
OSS_SECRET = "oss-model-reader"
SERVICE_ACCOUNT = "vllm"
MODEL_MOUNT = "/llm-model"
PRIVATE_SERVICE = "vllm-private"
PUBLIC_SERVICE = "vllm-public"
# Marks "vllm serve started" for the LWS leader's probe (see leader_probe_script).
SERVING_MARKER = "/tmp/llm-serving"
# Writable paths of a read-only serving container: /tmp (Ray's session dir, the serving marker,
# TorchInductor) and one cache dir that HOME and every cache variable point into.
TMP_DIR = "/tmp"
CACHE_DIR = "/var/cache/llm"
# How long the LWS leader waits for the group's Ray nodes before it fails (and LWS restarts it).
RAY_GROUP_WAIT_S = 1800

LB = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"
ACS_LABELS = ("alibabacloud.com/compute-class", "alibabacloud.com/gpu-model-series", "alibabacloud.com/compute-qos")


@dataclass(frozen=True)
class ManifestArgs:
    """What the manifests need, in the terms of intent. All plain, non-secret values."""

    stack: str
    prefix: str  # physical prefix, llm-<stack>: names cluster-scoped objects (PV)
    namespace: str
    app: str  # label value and workload name, e.g. qwq-32b
    image: str
    serve_args: list[str]  # `vllm serve <model dir>` arguments (vllm_args.serve_args)
    served_model_name: str
    gpus: int
    cpu: int
    memory_gib: int
    shm_gib: int
    gpu_series: str
    compute_class: str
    compute_qos: str
    group_size: int  # > 1: a LeaderWorkerSet
    startup_timeout_s: int
    bucket: str
    object_prefix: str
    oss_endpoint: str
    oss_auth: str  # rrsa | secret
    oss_role_name: str  # RAM role the OSS volume assumes (rrsa)
    oss_fuse_type: str  # ossfs | ossfs2
    pv_size_gib: int
    readiness_image: str
    api_key_version: int
    public: bool
    allowed_cidrs: list[str] = field(default_factory=list)
    read_only_root: bool = True  # serving containers' root filesystem (caches on emptyDirs)
    seccomp: bool = True  # seccompProfile RuntimeDefault on every pod
    replicas: int = 1  # serving groups (llm:replicas): pods, or LWS groups
    lws_max_unavailable: int = 1  # LWS rolling update (replicas >= 2); v0.5.0 CRD defaults 1 / 0
    lws_max_surge: int = 0
    tls_certificate_id: str | None = None  # CAS ID: the internet Service listens HTTPS on 443

    @property
    def lws(self) -> bool:
        return self.group_size > 1

    @property
    def model_dir(self) -> str:
        return f"{MODEL_MOUNT}/{self.app}"


def metadata(a: ManifestArgs, name: str, namespaced: bool = True, **extra: Any) -> dict:
    meta: dict[str, Any] = {"name": name}
    if namespaced:
        meta["namespace"] = a.namespace
    meta["labels"] = {"app.kubernetes.io/part-of": "llm-inference", "llm/stack": a.stack}
    for k, v in extra.items():
        if v:
            meta[k] = v
    return meta


def content_hash(objs: Sequence[Mapping[str, Any]], length: int = 10) -> str:
    text = json.dumps(list(objs), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]
