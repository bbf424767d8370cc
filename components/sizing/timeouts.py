"""Bounds of the ECS host phases, in one place: the commands' timeouts (host_env) and the
validation that keeps them within Cloud Assistant's maximum (config/rules_cloud) use the same sums."""

from __future__ import annotations

BOOTSTRAP_WAIT_S = 3600  # host bootstrap (driver and eRDMA builds)
RAY_WAIT_S = 1800  # the head's serve run waiting for every Ray node


def sync_timeout_for(download_timeout_s: int) -> int:
    """The model sync command's bound: the bootstrap, then the download."""
    return BOOTSTRAP_WAIT_S + download_timeout_s


def serve_timeout_for(download_timeout_s: int, startup_timeout_s: int, cluster: bool) -> int:
    """Serve waits for bootstrap, download, (cluster) Ray nodes and model load in turn (each bounded)."""
    ray = RAY_WAIT_S if cluster else 0
    return BOOTSTRAP_WAIT_S + download_timeout_s + ray + 2 * startup_timeout_s
