"""The `LLM_*` environment blocks of the three host phases, as pure functions of the settings.

Which phase a setting feeds decides what a change re-runs (DESIGN section 1): the bootstrap
(user-data) gets nothing a user changes; the model feeds only the sync; every serving setting
only the serve command.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from components.common import scripts
from components.common.ports import PORT, RAY_PORT
from components.common.vllm_args import serve_args
from components.config.plans import EcsPlan

MODEL_ROOT = "/mnt/models"
STATE_DIR = "/var/lib/llm"
ETC_DIR = "/etc/llm"
LIB_DIR = "/usr/local/lib/llm"
BIN_DIR = "/usr/local/bin"
OSSUTIL_VERSION = "2.2.0"
OSSUTIL_URL = f"https://gosspublic.alicdn.com/ossutil/v2/{OSSUTIL_VERSION}/ossutil-{OSSUTIL_VERSION}-linux-amd64.zip"
# FACTS.md lists 2.2.0 with a SHA256 on the download page; it could not be read offline here, so
# the check is off by default (empty) until a verified value is filled in.
OSSUTIL_SHA256 = ""
# Used only on eRDMA nodes (ecs-cluster). FACTS.md gives the pattern erdma_installer-<ver>.tar.gz;
# the "latest" alias is unverified.
ERDMA_INSTALLER_URL = "http://mirrors.cloud.aliyuncs.com/erdma/erdma_installer-latest.tar.gz"

# Bounds and pacing every Cloud Assistant script reads from its env block (no second default
# in the scripts: they fail on a missing variable).
BOOTSTRAP_WAIT_S = 3600
RAY_JOIN_WAIT_S = 1800
RAY_WAIT_S = 1800
PULL_RETRIES = 5
PULL_BACKOFF_S = 15
POLL_S = 10

_COMMON = {
    "LLM_MODEL_ROOT": MODEL_ROOT,
    "LLM_STATE_DIR": STATE_DIR,
    "LLM_ETC_DIR": ETC_DIR,
    "LLM_LIB_DIR": LIB_DIR,
}


@dataclass(frozen=True)
class ModelCopy:
    """One model source + revision on a node's disk: what the sync writes and serving reads."""

    uri: str
    bucket: str
    prefix: str
    revision: str
    region: str
    expected_shards: int | None  # exact figures only: a computed size would fail a download
    expected_bytes: int | None
    download_timeout_s: int

    @property
    def slug(self) -> str:
        """Directory name: a new model or revision is a new directory."""
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{self.bucket}/{self.prefix}").strip("-")
        return f"{base}@{self.revision}" if self.revision else base

    @property
    def dir(self) -> str:
        return f"{MODEL_ROOT}/{self.slug}"

    @property
    def marker(self) -> str:
        return f"{STATE_DIR}/model-{self.slug}.done"


@dataclass(frozen=True)
class RayInputs:
    """Ray-level settings only (image, NCCL, node count): a change restarts Ray on every node."""

    image: str
    nccl_env: dict[str, str]
    nodes: int


@dataclass(frozen=True)
class ServeInputs:
    image: str
    model: ModelCopy
    vllm_args: tuple[str, ...]
    served_model_name: str
    api_key_version: int
    startup_timeout_s: int
    gpus_per_node: int
    ray: RayInputs | None  # ecs-cluster only


def model_copy(p: EcsPlan) -> ModelCopy:
    src, m = p.settings.model_source, p.model
    return ModelCopy(
        uri=src.uri, bucket=src.bucket, prefix=src.prefix, revision=src.revision, region=p.settings.region,
        expected_shards=m.shards or None, expected_bytes=m.weight_bytes if m.exact_bytes else None,
        download_timeout_s=p.download_timeout_s,
    )  # fmt: skip


def ray_inputs(p: EcsPlan) -> RayInputs:
    return RayInputs(image=p.vllm_image, nccl_env=dict(p.nccl_env), nodes=p.nodes)


def serve_inputs(p: EcsPlan) -> ServeInputs:
    return ServeInputs(
        image=p.vllm_image, model=model_copy(p), vllm_args=tuple(serve_args(p)),
        served_model_name=p.served_model_name, api_key_version=p.settings.api_key_version,
        startup_timeout_s=p.settings.vllm.startup_timeout_s, gpus_per_node=p.instance.gpus,
        ray=ray_inputs(p) if p.cluster else None,
    )  # fmt: skip


def bootstrap_env(disk_device: str, erdma: bool = False) -> dict[str, str | int]:
    return {
        **_COMMON,
        "LLM_MODEL_DISK_DEVICE": disk_device,
        "LLM_DISK_WAIT_S": 900,
        "LLM_FS_TYPE": "ext4",
        "LLM_ERDMA": 1 if erdma else 0,
        "LLM_ERDMA_INSTALLER_URL": ERDMA_INSTALLER_URL,
    }


def sync_env(m: ModelCopy, role_name: str) -> dict[str, str | int]:
    return {
        **_COMMON,
        "LLM_BIN_DIR": BIN_DIR,
        "LLM_MODEL_SOURCE": m.uri,
        "LLM_MODEL_REVISION": m.revision,
        "LLM_MODEL_DIR": m.dir,
        "LLM_MODEL_MARKER": m.marker,
        "LLM_OSS_REGION": m.region,
        "LLM_OSS_ENDPOINT": f"oss-{m.region}-internal.aliyuncs.com",
        "LLM_RAM_ROLE": role_name,
        "LLM_EXPECTED_SHARDS": m.expected_shards or "",
        "LLM_EXPECTED_BYTES": m.expected_bytes or "",
        "LLM_OSSUTIL_VERSION": OSSUTIL_VERSION,
        "LLM_OSSUTIL_URL": OSSUTIL_URL,
        "LLM_OSSUTIL_SHA256": OSSUTIL_SHA256,
        "LLM_SYNC_JOBS": 16,
        "LLM_SYNC_PARALLEL": 8,
        "LLM_SYNC_RETRIES": 5,
        "LLM_BOOTSTRAP_WAIT_S": BOOTSTRAP_WAIT_S,
    }


def sync_timeout_for(download_timeout_s: int) -> int:
    """The model sync command's bound; validation checks it against Cloud Assistant's maximum."""
    return BOOTSTRAP_WAIT_S + download_timeout_s


def sync_timeout_s(m: ModelCopy) -> int:
    return sync_timeout_for(m.download_timeout_s)


def ray_env(ray: RayInputs, head_ip: str) -> dict[str, str | int]:
    return {
        **_COMMON,
        "LLM_RAY_HEAD_IP": head_ip,
        "LLM_RAY_PORT": RAY_PORT,
        "LLM_VLLM_IMAGE": ray.image,
        "LLM_NCCL_ENV": "\n".join(f"{k}={v}" for k, v in sorted(ray.nccl_env.items())),
        "LLM_CLUSTER_NODES": ray.nodes,
        "LLM_RAY_JOIN_WAIT_S": RAY_JOIN_WAIT_S,
        "LLM_BOOTSTRAP_WAIT_S": BOOTSTRAP_WAIT_S,
        "LLM_PULL_RETRIES": PULL_RETRIES,
        "LLM_PULL_BACKOFF_S": PULL_BACKOFF_S,
        "LLM_POLL_S": POLL_S,
    }


def ray_generation(ray: RayInputs, head_ip: str) -> str:
    text = "\n".join(f"{k}={v}" for k, v in ray_env(ray, head_ip).items())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ray_timeout_s() -> int:
    """Bootstrap wait + image pull; Ray itself is started, not waited for."""
    return BOOTSTRAP_WAIT_S + 1800


def serve_env(sv: ServeInputs, api_key_parameter: str, node_ips: Sequence[str] = ()) -> dict[str, str | int]:
    cluster: dict[str, str | int] = {}
    if sv.ray is not None:
        cluster = {
            "LLM_CLUSTER_NODES": sv.ray.nodes,
            "LLM_CLUSTER_NODE_IPS": ",".join(node_ips),
            "LLM_GPUS_PER_NODE": sv.gpus_per_node,
            "LLM_RAY_WAIT_S": RAY_WAIT_S,
            # Ties this run to the Ray settings: when Ray restarts (image, NCCL), serving re-runs
            # too, so `pulumi up` again ends only when the model answers.
            "LLM_RAY_GENERATION": ray_generation(sv.ray, node_ips[0]),
        }
    return {
        **_COMMON,
        "LLM_VLLM_IMAGE": sv.image,
        "LLM_MODEL_DIR": sv.model.dir,
        "LLM_MODEL_MARKER": sv.model.marker,
        "LLM_VLLM_ARGS": scripts.join_args(sv.vllm_args),
        "LLM_SERVED_MODEL_NAME": sv.served_model_name,
        # Resolved by Cloud Assistant at run time; the key itself is never in the content.
        "LLM_API_KEY": "{{oos-secret:" + api_key_parameter + "}}",
        "LLM_API_KEY_VERSION": sv.api_key_version,
        "LLM_PORT": PORT,
        "LLM_UNIT": "llm-vllm.service",
        "LLM_BOOTSTRAP_WAIT_S": BOOTSTRAP_WAIT_S,
        # The download runs at the same time: wait for it as long as it may take.
        "LLM_MODEL_WAIT_S": sv.model.download_timeout_s,
        "LLM_HEALTH_WAIT_S": sv.startup_timeout_s,
        "LLM_PULL_RETRIES": PULL_RETRIES,
        "LLM_PULL_BACKOFF_S": PULL_BACKOFF_S,
        "LLM_POLL_S": POLL_S,
        **cluster,
    }


def serve_timeout_for(download_timeout_s: int, startup_timeout_s: int, cluster: bool) -> int:
    """Serve waits for bootstrap, download, (cluster) Ray nodes and model load in turn (each bounded).

    Validation checks this sum against Cloud Assistant's maximum before any resource exists.
    """
    ray = RAY_WAIT_S if cluster else 0
    return BOOTSTRAP_WAIT_S + download_timeout_s + ray + 2 * startup_timeout_s


def serve_timeout_s(sv: ServeInputs) -> int:
    return serve_timeout_for(sv.model.download_timeout_s, sv.startup_timeout_s, sv.ray is not None)
