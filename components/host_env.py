"""The `LLM_*` environment blocks of the three host phases, as pure functions of the settings.

Which phase a setting feeds decides what a change re-runs (DESIGN section 1): the bootstrap
(user-data) gets nothing a user changes; the model feeds only the sync; every serving setting
only the serve command.
"""

from __future__ import annotations

import hashlib
import re

from components import scripts
from components.settings import Resolved
from components.vllm_args import PORT, serve_args

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

_COMMON = {
    "LLM_MODEL_ROOT": MODEL_ROOT,
    "LLM_STATE_DIR": STATE_DIR,
    "LLM_ETC_DIR": ETC_DIR,
    "LLM_LIB_DIR": LIB_DIR,
}


def model_slug(r: Resolved) -> str:
    """Directory name for one source + revision: a new model or revision is a new directory."""
    src = r.settings.model_source
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{src.bucket}/{src.prefix}").strip("-")
    return f"{base}@{src.revision}" if src.revision else base


def model_dir(r: Resolved) -> str:
    return f"{MODEL_ROOT}/{model_slug(r)}"


def model_marker(r: Resolved) -> str:
    return f"{STATE_DIR}/model-{model_slug(r)}.done"


def bootstrap_env(disk_device: str, erdma: bool = False) -> dict[str, str | int]:
    return {
        **_COMMON,
        "LLM_MODEL_DISK_DEVICE": disk_device,
        "LLM_DISK_WAIT_S": 900,
        "LLM_FS_TYPE": "ext4",
        "LLM_ERDMA": 1 if erdma else 0,
        "LLM_ERDMA_INSTALLER_URL": ERDMA_INSTALLER_URL,
    }


def sync_env(r: Resolved, role_name: str) -> dict[str, str | int]:
    src = r.settings.model_source
    m = r.model
    return {
        **_COMMON,
        "LLM_BIN_DIR": BIN_DIR,
        "LLM_MODEL_SOURCE": src.uri,
        "LLM_MODEL_REVISION": src.revision,
        "LLM_MODEL_DIR": model_dir(r),
        "LLM_MODEL_MARKER": model_marker(r),
        "LLM_OSS_REGION": r.settings.region,
        "LLM_OSS_ENDPOINT": f"oss-{r.settings.region}-internal.aliyuncs.com",
        "LLM_RAM_ROLE": role_name,
        # Exact figures only: a computed size would fail a correct download.
        "LLM_EXPECTED_SHARDS": m.shards if m.shards else "",
        "LLM_EXPECTED_BYTES": m.weight_bytes if m.exact_bytes else "",
        "LLM_OSSUTIL_VERSION": OSSUTIL_VERSION,
        "LLM_OSSUTIL_URL": OSSUTIL_URL,
        "LLM_OSSUTIL_SHA256": OSSUTIL_SHA256,
        "LLM_SYNC_JOBS": 16,
        "LLM_SYNC_PARALLEL": 8,
        "LLM_SYNC_RETRIES": 5,
        "LLM_BOOTSTRAP_WAIT_S": 3600,
    }


RAY_PORT = 6379
RAY_DASHBOARD_PORT = 8265
RAY_JOIN_WAIT_S = 1800
RAY_WAIT_S = 1800


def ray_env(r: Resolved, head_ip: str) -> dict[str, str | int]:
    """Ray-level settings only (image, NCCL, head): a change here restarts Ray on every node."""
    return {
        **_COMMON,
        "LLM_RAY_HEAD_IP": head_ip,
        "LLM_RAY_PORT": RAY_PORT,
        "LLM_VLLM_IMAGE": r.vllm_image,
        "LLM_NCCL_ENV": "\n".join(f"{k}={v}" for k, v in sorted((r.nccl_env or {}).items())),
        "LLM_CLUSTER_NODES": r.nodes,
        "LLM_RAY_JOIN_WAIT_S": RAY_JOIN_WAIT_S,
        "LLM_BOOTSTRAP_WAIT_S": 3600,
        "LLM_PULL_RETRIES": 5,
        "LLM_PULL_BACKOFF_S": 15,
        "LLM_POLL_S": 10,
    }


def ray_generation(r: Resolved, head_ip: str) -> str:
    text = "\n".join(f"{k}={v}" for k, v in ray_env(r, head_ip).items())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ray_timeout_s() -> int:
    """Bootstrap wait + image pull; Ray itself is started, not waited for."""
    return 3600 + 1800


def serve_env(
    r: Resolved, api_key_parameter: str, api_key_version: int, node_ips: list[str] | None = None
) -> dict[str, str | int]:
    cluster: dict[str, str | int] = {}
    if r.nodes > 1:
        assert r.instance is not None and node_ips is not None
        cluster = {
            "LLM_CLUSTER_NODES": r.nodes,
            "LLM_CLUSTER_NODE_IPS": ",".join(node_ips),
            "LLM_GPUS_PER_NODE": r.instance.gpus,
            "LLM_RAY_WAIT_S": RAY_WAIT_S,
            # Ties this run to the Ray settings: when Ray restarts (image, NCCL), serving re-runs
            # too, so `pulumi up` again ends only when the model answers.
            "LLM_RAY_GENERATION": ray_generation(r, node_ips[0]),
        }
    return {
        **_COMMON,
        "LLM_VLLM_IMAGE": r.vllm_image,
        "LLM_MODEL_DIR": model_dir(r),
        "LLM_MODEL_MARKER": model_marker(r),
        "LLM_VLLM_ARGS": scripts.join_args(serve_args(r)),
        "LLM_SERVED_MODEL_NAME": r.served_model_name,
        # Resolved by Cloud Assistant at run time; the key itself is never in the content.
        "LLM_API_KEY": "{{oos-secret:" + api_key_parameter + "}}",
        "LLM_API_KEY_VERSION": api_key_version,
        "LLM_PORT": PORT,
        "LLM_UNIT": "llm-vllm.service",
        "LLM_BOOTSTRAP_WAIT_S": 3600,
        # The download runs at the same time: wait for it as long as it may take.
        "LLM_MODEL_WAIT_S": r.download_timeout_s,
        "LLM_HEALTH_WAIT_S": r.settings.vllm.startup_timeout_s,
        "LLM_PULL_RETRIES": 5,
        "LLM_PULL_BACKOFF_S": 15,
        "LLM_POLL_S": 10,
        **cluster,
    }


def serve_timeout_s(r: Resolved) -> int:
    """Serve waits for bootstrap, download, (cluster) Ray nodes and model load in turn (each bounded)."""
    ray = RAY_WAIT_S if r.nodes > 1 else 0
    return 3600 + r.download_timeout_s + ray + 2 * r.settings.vllm.startup_timeout_s


def sync_timeout_s(r: Resolved) -> int:
    return 3600 + r.download_timeout_s
