#!/bin/bash
# Rolling serving changes behind a load balancer (llm:replicas > 1 or TLS), called by serve.sh
# only when LLM_DRAIN_FILE is set; installed by the host-scripts run on such stacks only.
#   rolling.sh responder: write llm-ready.service (ready.sh on LLM_READY_PORT) and start it;
#                         rewritten and restarted only when its text changed.
#   rolling.sh drain:     create the drain file (the responder answers 503 from now on) and, if
#                         vLLM is running, wait LLM_DRAIN_WAIT_S (the balancer's health-check
#                         interval x unhealthy threshold + timeout, rendered from the same settings
#                         as the listener) + LLM_DRAIN_GRACE_S (requests in flight), so the group
#                         is out of the balancer before vLLM stops.
#   rolling.sh rejoin:    remove the drain file; serve.sh calls it only after a real completion.
set -euo pipefail

drain_file=${LLM_DRAIN_FILE:?LLM_DRAIN_FILE is required}
unit=${LLM_UNIT:?LLM_UNIT is required}

log() { printf '%s llm-rolling: %s\n' "$(date -u +%FT%TZ)" "$*"; }

case "${1:-}" in
  responder)
    ready_port=${LLM_READY_PORT:?LLM_READY_PORT is required}
    port=${LLM_PORT:?LLM_PORT is required}
    systemd_dir=${LLM_SYSTEMD_DIR:?LLM_SYSTEMD_DIR is required}
    lib=$(dirname "${BASH_SOURCE[0]}")
    case "$lib" in /*) ;; *) lib=$PWD/$lib ;; esac
    new=$(printf '%s\n' "[Unit]" "Description=Readiness responder for the load balancer (port $ready_port)" \
      "After=network-online.target" "" "[Service]" "ExecStart=$lib/ready.sh $ready_port $port $drain_file" \
      "Restart=always" "RestartSec=2" "" "[Install]" "WantedBy=multi-user.target")
    if [ "$new" != "$(cat "$systemd_dir/llm-ready.service" 2>/dev/null)" ]; then
      mkdir -p "$systemd_dir"
      printf '%s\n' "$new" >"$systemd_dir/llm-ready.service"
      chmod 0644 "$systemd_dir/llm-ready.service"
      systemctl daemon-reload
      systemctl enable llm-ready.service
      systemctl restart llm-ready.service
      log "readiness responder on port $ready_port (drain file $drain_file)"
    fi
    ;;
  drain)
    wait_s=$((${LLM_DRAIN_WAIT_S:?LLM_DRAIN_WAIT_S is required} + ${LLM_DRAIN_GRACE_S:?LLM_DRAIN_GRACE_S is required}))
    [ ! -e "$drain_file" ] || exit 0
    mkdir -p "$(dirname "$drain_file")"
    : >"$drain_file"
    # A node whose vLLM is not running has no traffic to lose: no wait.
    if systemctl is-active --quiet "$unit"; then
      log "draining: out of the load balancer for ${wait_s}s before $unit stops"
      sleep "$wait_s"
    fi
    ;;
  rejoin)
    [ -e "$drain_file" ] || exit 0
    rm -f "$drain_file"
    log "rejoined the load balancer: a chat completion answered"
    ;;
  *)
    echo "usage: rolling.sh responder|drain|rejoin" >&2
    exit 2
    ;;
esac
