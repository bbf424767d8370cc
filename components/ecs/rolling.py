"""Replicas behind one load balancer: the health-check settings and the drain they imply.

One source for both ends: the listeners' health checks (components/ecs/load_balancer.py) and the
serving run's drain wait (host_env.serve_env, LLM_DRAIN_WAIT_S), so the wait always covers the
time the balancer needs to see a drained node. Ranges are the provider's validations
(terraform-provider-alicloud @81c43b67 alicloud/resource_alicloud_slb_listener.go:
health_check_interval 1-50 s, healthy/unhealthy_threshold 1-10, health_check_timeout 1-300 s).
"""

from __future__ import annotations

from components.common.ports import READY_PORT

HEALTH_INTERVAL_S = 2  # provider default 2
HEALTH_TIMEOUT_S = 5  # provider default 5
HEALTHY_THRESHOLD = 3  # provider default 3
UNHEALTHY_THRESHOLD = 3  # provider default 3
HEALTH_URI = "/ready"
# Requests in flight on a drained node finish within this (a streaming answer of 1024 tokens);
# longer ones are cut when vLLM restarts (README, "Replicas and HTTPS").
DRAIN_GRACE_S = 30
DRAIN_FILE = "/run/llm/drain"  # tmpfs: a reboot clears it, and the responder follows /health
# HTTPS listener (layer 7): the provider caps request_timeout at 180 s and idle_timeout at 60 s;
# a non-streaming completion that takes longer is cut by the balancer (streaming is not).
HTTPS_REQUEST_TIMEOUT_S = 180
HTTPS_IDLE_TIMEOUT_S = 60
# CLB's own addresses (health checks; a layer-7 listener's forwarded requests come from them too,
# unverified for Alibaba: the security group admits them to port 8000 when HTTPS is on).
CLB_SOURCE_CIDR = "100.64.0.0/10"
# TCP listeners (plain HTTP): established_timeout 10-900 s, provider default 900.
TCP_ESTABLISHED_TIMEOUT_S = 900


def drain_wait_s() -> int:
    """How long the balancer may keep sending to a node after its responder turned 503."""
    return HEALTH_INTERVAL_S * UNHEALTHY_THRESHOLD + HEALTH_TIMEOUT_S


def serve_env() -> dict[str, str | int]:
    """The serving run's rolling settings (constants of the static content; only with an LB)."""
    return {
        "LLM_DRAIN_FILE": DRAIN_FILE,
        "LLM_DRAIN_WAIT_S": drain_wait_s(),
        "LLM_DRAIN_GRACE_S": DRAIN_GRACE_S,
        "LLM_READY_PORT": READY_PORT,
        "LLM_SYSTEMD_DIR": "/etc/systemd/system",
    }
