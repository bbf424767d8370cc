#!/bin/bash
# userdata/ray-start.sh of llm-inference, comments stripped
set -euo pipefail

image=${LLM_VLLM_IMAGE:?LLM_VLLM_IMAGE is required}
head_ip=${LLM_RAY_HEAD_IP:?LLM_RAY_HEAD_IP is required}
ray_port=${LLM_RAY_PORT:?LLM_RAY_PORT is required}
nccl_env=${LLM_NCCL_ENV?LLM_NCCL_ENV must be set (one VAR=value per line)}
nodes=${LLM_CLUSTER_NODES:?LLM_CLUSTER_NODES is required}
join_wait_s=${LLM_RAY_JOIN_WAIT_S:?LLM_RAY_JOIN_WAIT_S is required}
bootstrap_wait_s=${LLM_BOOTSTRAP_WAIT_S:?LLM_BOOTSTRAP_WAIT_S is required}
pull_retries=${LLM_PULL_RETRIES:?LLM_PULL_RETRIES is required}
pull_backoff_s=${LLM_PULL_BACKOFF_S:?LLM_PULL_BACKOFF_S is required}
poll_s=${LLM_POLL_S:?LLM_POLL_S is required}
lock_wait_s=${LLM_LOCK_WAIT_S:?LLM_LOCK_WAIT_S is required}
etc_dir=${LLM_ETC_DIR:?LLM_ETC_DIR is required}
state_dir=${LLM_STATE_DIR:?LLM_STATE_DIR is required}
model_root=${LLM_MODEL_ROOT:?LLM_MODEL_ROOT is required}
provider_probe=${LLM_ERDMA_PROVIDER_PROBE:?LLM_ERDMA_PROVIDER_PROBE is required (a shell test run in the image)}
ray_unit=llm-ray.service
vllm_unit=llm-vllm.service

log() { printf '%s llm-ray-start: %s\n' "$(date -u +%FT%TZ)" "$*"; }
die() {
  log "FAILED: $*" >&2
  exit 1
}
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[[ $ray_port =~ ^[0-9]+$ ]] || die "LLM_RAY_PORT $ray_port is not a port number"
[[ $nodes =~ ^[0-9]+$ ]] || die "LLM_CLUSTER_NODES $nodes is not a number"

mkdir -p "$state_dir" "$etc_dir"
exec 9>"$state_dir/ray.lock"
flock -w "$lock_wait_s" 9 || die "another ray-start run held $state_dir/ray.lock for ${lock_wait_s}s"

work=$(umask 077 && mktemp -d "$state_dir/ray-start.XXXXXX")
trap 'rm -rf "$work"' EXIT

node_ip() { # role, local IPs...
  local role=$1 src
  shift
  if [ "$role" = head ]; then
    echo "$head_ip"
    return
  fi
  src=$(ip -4 -o route get "$head_ip" 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p') || true
  if [ -n "$src" ] && [[ " $* " == *" $src "* ]]; then echo "$src"; else echo "${1:-}"; fi
}

wait_bootstrap
pull_image

if ! grep -qx 'NCCL_IB_DISABLE=1' <<<"$nccl_env"; then
  if ! docker run --rm --entrypoint /bin/sh "$image" -c "$provider_probe" >/dev/null 2>&1; then
    die "image $image has no eRDMA verbs provider ($provider_probe failed): NCCL would fall back to TCP sockets; use an image with Alibaba's rdma-core erdma provider, or set llm:cluster.ncclEnv.NCCL_IB_DISABLE to 1 to accept TCP"
  fi
  log "image $image has the eRDMA verbs provider"
fi

read -r -a local_ips <<<"${LLM_LOCAL_IPS:-$(hostname -I)}"
role=worker
for ip in "${local_ips[@]}"; do
  if [ "$ip" = "$head_ip" ]; then role="head"; fi
done
my_ip=$(node_ip "$role" "${local_ips[@]}")

: >"$work/nccl.env"
while IFS= read -r line; do
  [ -n "$line" ] || continue
  [[ $line =~ ^(NCCL|GLOO)_[A-Z0-9_]+=[^[:space:]]*$ ]] || die "LLM_NCCL_ENV line '$line' is not NCCL_*=value or GLOO_*=value"
  printf '%s\n' "$line" >>"$work/nccl.env"
done <<<"$nccl_env"
printf 'RAY_IMAGE=%q\nRAY_ROLE=%s\nRAY_HEAD_IP=%q\nRAY_PORT=%s\nRAY_NODE_IP=%q\nRAY_JOIN_WAIT_S=%q\nRAY_POLL_S=%q\nRAY_MODEL_ROOT=%q\n' \
  "$image" "$role" "$head_ip" "$ray_port" "$my_ip" "$join_wait_s" "$poll_s" "$model_root" >"$work/ray.env"

settings_hash() { # dir; prints nothing if a file is missing
  [ -f "$1/ray.env" ] && [ -f "$1/nccl.env" ] || return 0
  cat "$1/ray.env" "$1/nccl.env" | sha256sum | cut -d' ' -f1
}
new_hash=$(settings_hash "$work")
installed_hash=$(settings_hash "$etc_dir")

if [ "$new_hash" = "$installed_hash" ] && [ "$(cat "$state_dir/ray.hash" 2>/dev/null)" = "$new_hash" ] &&
  systemctl is-active --quiet "$ray_unit"; then
  log "unchanged: Ray $role settings $new_hash already running"
  exit 0
fi

chmod 0644 "$work/ray.env" "$work/nccl.env"
mv -f "$work/nccl.env" "$etc_dir/nccl.env"
mv -f "$work/ray.env" "$etc_dir/ray.env"
log "Ray $role settings $new_hash installed (node $my_ip, head $head_ip:$ray_port, $nodes nodes); restarting $ray_unit"
systemctl restart "$ray_unit"
printf '%s\n' "$new_hash" >"$state_dir/ray.hash"
if [ "$role" = head ] && systemctl is-active --quiet "$vllm_unit"; then
  log "restarting $vllm_unit on the new Ray head"
  systemctl restart "$vllm_unit"
fi
log "started; workers join by themselves within ${join_wait_s}s per attempt (llm-ray.service retries)"
