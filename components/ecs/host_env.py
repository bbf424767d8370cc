"""The `LLM_*` environment blocks of the host phases, as pure functions of each phase's inputs.

Which phase a setting feeds decides what a change re-runs (DESIGN section 1): host setup gets
the host's own facts (disk, eRDMA, Fabric Manager) and the host files; the model feeds only the
sync; every serving setting only the serve command; Ray-level settings only the Ray run.
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
from components.ecs import observability_env, rolling, userdata
from components.sizing.timeouts import BOOTSTRAP_WAIT_S, RAY_WAIT_S, serve_timeout_for, sync_timeout_for

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
SYSTEMD_DIR = "/etc/systemd/system"
DOCKER_REPO_URL = "http://mirrors.cloud.aliyuncs.com/docker-ce/linux/centos/docker-ce.repo"
DISK_WAIT_S = 900

# Bounds and pacing every Cloud Assistant script reads from its env block (no second default
# in the scripts: they fail on a missing variable).
RAY_JOIN_WAIT_S = 1800
PULL_RETRIES = 5
PULL_BACKOFF_S = 15
POLL_S = 10
LOCK_WAIT_S = 600  # another run of the same phase holding its lock
SYNC_BACKOFF_S = 30  # ossutil retries: pause x attempt
RAY_WATCH_S = 30  # vllm-run.sh's lost-node watchdog period (ecs-cluster)
# rdma-core's provider drivers file for erdma, as Alibaba's erdma packages install it (unverified
# for the EGS image: the check makes a missing provider a named failure instead of a TCP fallback).
ERDMA_PROVIDER_PROBE = "ls /etc/libibverbs.d/ | grep -q erdma"

_COMMON = {
    "LLM_MODEL_ROOT": MODEL_ROOT,
    "LLM_STATE_DIR": STATE_DIR,
    "LLM_ETC_DIR": ETC_DIR,
    "LLM_LIB_DIR": LIB_DIR,
}
# Every phase gets these (a script may not need each).
MODEL_ROOT_KEYS = tuple(_COMMON)


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
    rolling: bool = False  # behind a load balancer: readiness responder, drain, rejoin


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
        ray=ray_inputs(p) if p.cluster else None, rolling=p.load_balanced,
    )  # fmt: skip


@dataclass(frozen=True)
class SetupInputs:
    """What host setup needs: host facts from the catalog and llm:host, nothing a user tunes often."""

    erdma: bool  # ecs-cluster nodes
    fabric_manager: bool  # NVSwitch types (or llm:host.fabricManager)
    fm_package: str
    erdma_installer_url: str
    erdma_installer_sha256: str
    observe_env: tuple[tuple[str, str], ...] = ()  # llm:observability host.env lines (observability_env.py)


def setup_inputs(p: EcsPlan) -> SetupInputs:
    h = p.settings.host
    fm = {"on": True, "off": False}.get(h.fabric_manager, p.instance.nvswitch)
    return SetupInputs(
        erdma=p.cluster, fabric_manager=fm, fm_package=h.fabric_manager_package,
        erdma_installer_url=h.erdma_installer_url, erdma_installer_sha256=h.erdma_installer_sha256,
        observe_env=observability_env.host_env(p.settings),
    )  # fmt: skip


def bootstrap_env(si: SetupInputs, disk_serial: str) -> dict[str, str | int]:
    """host.env: what host-bootstrap.sh and the units read (EnvironmentFile)."""
    return {
        **_COMMON,
        "LLM_MODEL_DISK_SERIAL": disk_serial,
        "LLM_DEV_DIR": "/dev",
        "LLM_SYS_DIR": "/sys",
        "LLM_FS_TYPE": "ext4",
        "LLM_FSTAB": "/etc/fstab",
        "LLM_DISK_WAIT_S": DISK_WAIT_S,
        "LLM_POLL_S": 2,
        "LLM_ERDMA": 1 if si.erdma else 0,
        "LLM_ERDMA_INSTALLER_URL": si.erdma_installer_url,
        "LLM_ERDMA_INSTALLER_SHA256": si.erdma_installer_sha256,
        "LLM_FABRIC_MANAGER": 1 if si.fabric_manager else 0,
        "LLM_FM_PACKAGE": si.fm_package,
        "LLM_DOCKER_REPO_URL": DOCKER_REPO_URL,
        **dict(si.observe_env),
    }


def disk_serial(disk_id: str) -> str:
    """A cloud disk's serial is its ID without `d-` (virtio and NVMe alike)."""
    return disk_id.removeprefix("d-")


# The invocation parameters of each per-run phase (issue 13): parameter name -> the LLM_*
# variables it carries, one setting group per parameter, so that `pulumi preview --diff` shows the
# setting that changed. Every other variable of the phase's env is a constant of this release and
# stays in the static command content. At most 10 parameters (scripts.PARAMETERS_MAX); names are
# case-insensitive and must not collide.
SYNC_PARAMS: dict[str, tuple[str, ...]] = {
    "model": (
        "LLM_MODEL_SOURCE", "LLM_MODEL_REVISION", "LLM_MODEL_DIR", "LLM_MODEL_MARKER",
        "LLM_EXPECTED_SHARDS", "LLM_EXPECTED_BYTES",
    ),
    "oss": ("LLM_OSS_REGION", "LLM_OSS_ENDPOINT", "LLM_RAM_ROLE"),
}  # fmt: skip
RAY_PARAMS: dict[str, tuple[str, ...]] = {
    "image": ("LLM_VLLM_IMAGE",),
    "ncclEnv": ("LLM_NCCL_ENV",),
    "ray": ("LLM_RAY_HEAD_IP", "LLM_CLUSTER_NODES"),
}
SERVE_PARAMS: dict[str, tuple[str, ...]] = {
    "image": ("LLM_VLLM_IMAGE",),
    "vllmArgs": ("LLM_VLLM_ARGS",),
    "model": ("LLM_MODEL_DIR", "LLM_MODEL_MARKER", "LLM_MODEL_WAIT_S"),
    "serving": ("LLM_SERVED_MODEL_NAME", "LLM_HEALTH_WAIT_S", "LLM_GPUS_PER_NODE"),
    "keyVersion": ("LLM_API_KEY_VERSION",),
    "cluster": ("LLM_CLUSTER_NODES", "LLM_CLUSTER_NODE_IPS", "LLM_RAY_GENERATION"),
}
PHASE_PARAMS = {"model-sync.sh": SYNC_PARAMS, "ray-start.sh": RAY_PARAMS, "serve.sh": SERVE_PARAMS}


def run_command(script: str, env: dict[str, str | int]) -> tuple[str, dict[str, str]]:
    """(static command content, invocation parameters) of a per-run phase."""
    constants, targets, params = scripts.split_params(env, PHASE_PARAMS[script])
    content = scripts.render_runner(script, constants, targets, userdata.runner_digest(script))
    return content, params


def setup_env(si: SetupInputs, serial: str) -> dict[str, str | int]:
    metrics, logs, more_units = observability_env.host_files(si.observe_env)
    archive, digest = userdata.packed_host_files(ray=si.erdma, metrics=metrics, logs=logs)
    return {
        **_COMMON,
        "LLM_SYSTEMD_DIR": SYSTEMD_DIR,
        "LLM_FILES_HASH": digest,
        "LLM_HOST_ENV": userdata.host_env_text(bootstrap_env(si, serial)),
        "LLM_UNITS": ("llm-vllm.service llm-ray.service" if si.erdma else "llm-vllm.service") + more_units,
        "LLM_BOOTSTRAP_WAIT_S": BOOTSTRAP_WAIT_S,
        "LLM_POLL_S": POLL_S,
        "LLM_LOCK_WAIT_S": LOCK_WAIT_S,
        # Last: a long line that the plan files show unpacked (files/).
        "LLM_FILES_TGZ_B64": archive,
    }


def scripts_env(ray: bool, rolling: bool = False) -> dict[str, str | int]:
    """install-scripts.sh: the per-run scripts, packed (userdata.runner_files)."""
    archive, digest = userdata.packed_runner_files(ray, rolling)
    return {
        "LLM_STATE_DIR": STATE_DIR,
        "LLM_LIB_DIR": LIB_DIR,
        "LLM_FILES_HASH": digest,
        "LLM_LOCK_WAIT_S": LOCK_WAIT_S,
        # Last: a long line that the plan files show unpacked (files/).
        "LLM_FILES_TGZ_B64": archive,
    }


SCRIPTS_TIMEOUT_S = 600


def setup_timeout_s() -> int:
    """Bootstrap (driver and eRDMA builds) plus unpacking and a margin."""
    return BOOTSTRAP_WAIT_S + 600


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
        # Read before the download: every Hugging Face model directory has config.json (a
        # single-file model has no safetensors index to probe).
        "LLM_PROBE_OBJECT": "config.json",
        "LLM_EXPECTED_SHARDS": m.expected_shards or "",
        "LLM_EXPECTED_BYTES": m.expected_bytes or "",
        "LLM_OSSUTIL_VERSION": OSSUTIL_VERSION,
        "LLM_OSSUTIL_URL": OSSUTIL_URL,
        "LLM_OSSUTIL_SHA256": OSSUTIL_SHA256,
        "LLM_SYNC_JOBS": 16,
        "LLM_SYNC_PARALLEL": 8,
        "LLM_SYNC_RETRIES": 5,
        "LLM_SYNC_BACKOFF_S": SYNC_BACKOFF_S,
        "LLM_BOOTSTRAP_WAIT_S": BOOTSTRAP_WAIT_S,
        "LLM_POLL_S": POLL_S,
    }


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
        "LLM_LOCK_WAIT_S": LOCK_WAIT_S,
        "LLM_ERDMA_PROVIDER_PROBE": ERDMA_PROVIDER_PROBE,
    }


def ray_generation(ray: RayInputs, head_ip: str) -> str:
    text = "\n".join(f"{k}={v}" for k, v in ray_env(ray, head_ip).items())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ray_timeout_s() -> int:
    """Bootstrap wait + image pull; Ray itself is started, not waited for."""
    return BOOTSTRAP_WAIT_S + 1800


def serve_env(sv: ServeInputs, api_key_parameter: str, node_ips: Sequence[str] = ()) -> dict[str, str | int]:
    cluster: dict[str, str | int] = {
        "LLM_CLUSTER_NODES": 1,
        "LLM_CLUSTER_NODE_IPS": "",
        "LLM_GPUS_PER_NODE": sv.gpus_per_node,
        "LLM_RAY_WAIT_S": RAY_WAIT_S,
        "LLM_RAY_WATCH_S": RAY_WATCH_S,
    }
    if sv.ray is not None:
        cluster |= {
            "LLM_CLUSTER_NODES": sv.ray.nodes,
            "LLM_CLUSTER_NODE_IPS": ",".join(node_ips),
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
        "LLM_LOCK_WAIT_S": LOCK_WAIT_S,
        **cluster,
        **(rolling.serve_env() if sv.rolling else {}),
    }


def serve_timeout_s(sv: ServeInputs) -> int:
    drain = rolling.drain_wait_s() + rolling.DRAIN_GRACE_S if sv.rolling else 0
    return serve_timeout_for(sv.model.download_timeout_s, sv.startup_timeout_s, sv.ray is not None) + drain
