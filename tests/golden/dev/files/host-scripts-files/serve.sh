#!/bin/bash
# userdata/serve.sh of llm-inference, comments stripped
set -euo pipefail

image=${LLM_VLLM_IMAGE:?LLM_VLLM_IMAGE is required}
model_dir=${LLM_MODEL_DIR:?LLM_MODEL_DIR is required}
marker=${LLM_MODEL_MARKER:?LLM_MODEL_MARKER is required}
model_root=${LLM_MODEL_ROOT:?LLM_MODEL_ROOT is required}
vllm_args=${LLM_VLLM_ARGS?LLM_VLLM_ARGS must be set (one argument per line)}
served_name=${LLM_SERVED_MODEL_NAME:?LLM_SERVED_MODEL_NAME is required}
key_version=${LLM_API_KEY_VERSION:?LLM_API_KEY_VERSION is required}
port=${LLM_PORT:?LLM_PORT is required}
bootstrap_wait_s=${LLM_BOOTSTRAP_WAIT_S:?LLM_BOOTSTRAP_WAIT_S is required}
model_wait_s=${LLM_MODEL_WAIT_S:?LLM_MODEL_WAIT_S is required}
health_wait_s=${LLM_HEALTH_WAIT_S:?LLM_HEALTH_WAIT_S is required}
lock_wait_s=${LLM_LOCK_WAIT_S:?LLM_LOCK_WAIT_S is required}
pull_retries=${LLM_PULL_RETRIES:?LLM_PULL_RETRIES is required}
pull_backoff_s=${LLM_PULL_BACKOFF_S:?LLM_PULL_BACKOFF_S is required}
poll_s=${LLM_POLL_S:?LLM_POLL_S is required}
etc_dir=${LLM_ETC_DIR:?LLM_ETC_DIR is required}
state_dir=${LLM_STATE_DIR:?LLM_STATE_DIR is required}
unit=${LLM_UNIT:?LLM_UNIT is required}
container=llm-vllm
nodes=${LLM_CLUSTER_NODES:?LLM_CLUSTER_NODES is required}
IFS=', ' read -r -a node_ips <<<"${LLM_CLUSTER_NODE_IPS?LLM_CLUSTER_NODE_IPS must be set (empty on one node)}"
gpus_per_node=${LLM_GPUS_PER_NODE:?LLM_GPUS_PER_NODE is required}
ray_wait_s=${LLM_RAY_WAIT_S:?LLM_RAY_WAIT_S is required}
ray_watch_s=${LLM_RAY_WATCH_S:?LLM_RAY_WATCH_S is required}
drain_file=${LLM_DRAIN_FILE-}
files=(vllm.env vllm.args api-key.env)
rollback_files=(vllm.env vllm.args)

log() { printf '%s llm-serve: %s\n' "$(date -u +%FT%TZ)" "$*"; }
die() {
  log "FAILED: $*" >&2
  exit 1
}
rolling() { [ -z "$drain_file" ] || "$(dirname "${BASH_SOURCE[0]}")/rolling.sh" "$1"; }
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

api_key=${LLM_API_KEY?LLM_API_KEY must be set}
export -n LLM_API_KEY 2>/dev/null || true
if ! [[ $api_key =~ ^[A-Za-z0-9_-]+$ ]]; then
  die "LLM_API_KEY is empty, unresolved or has characters outside [A-Za-z0-9_-]"
fi
[[ $model_dir == "$model_root"/* ]] || die "LLM_MODEL_DIR $model_dir is not under LLM_MODEL_ROOT $model_root"
model_path=/models/${model_dir#"$model_root"/}
if [ "$nodes" != 1 ]; then
  [ "${#node_ips[@]}" = "$nodes" ] || die "LLM_CLUSTER_NODE_IPS has ${#node_ips[@]} IPs for $nodes nodes"
  [[ $gpus_per_node =~ ^[1-9][0-9]*$ ]] || die "LLM_GPUS_PER_NODE must be a positive number in a cluster"
  container=llm-ray
fi

mkdir -p "$state_dir" "$etc_dir"
exec 9>"$state_dir/serve.lock"
flock -w "$lock_wait_s" 9 || die "another serve run held $state_dir/serve.lock for ${lock_wait_s}s"

work=$(umask 077 && mktemp -d "$state_dir/serve.XXXXXX")
trap 'rm -rf "$work"' EXIT

sync_failed() {
  [ "$marker.failed" -nt "$work" ] || return 1
  log "model sync failed: $(cat "$marker.failed")" >&2
}

wait_for() { # what, path, timeout_s
  local what=$1 path=$2 wait_s=$3 deadline=$((SECONDS + $3))
  [ -e "$path" ] || log "waiting up to ${wait_s}s for $what ($path)"
  until [ -e "$path" ]; do
    bootstrap_failed && die "stopped waiting for $what"
    sync_failed && die "stopped waiting for $what"
    [ "$SECONDS" -lt "$deadline" ] || die "$what not ready within ${wait_s}s ($path)"
    sleep "$poll_s"
  done
}

render_settings() { # dir
  local dir=$1
  (
    umask 077
    printf 'VLLM_IMAGE=%q\nVLLM_MODEL_PATH=%q\nLLM_API_KEY_VERSION=%q\n' \
      "$image" "$model_path" "$key_version" >"$dir/vllm.env"
    if [ "$nodes" != 1 ]; then
      printf 'VLLM_RAY=1\nVLLM_RAY_NODES=%q\nVLLM_RAY_GPUS=%q\nVLLM_RAY_WAIT_S=%q\nVLLM_RAY_WATCH_S=%q\n' \
        "$nodes" "$((nodes * gpus_per_node))" "$ray_wait_s" "$ray_watch_s" >>"$dir/vllm.env"
    fi
    if [ -n "$vllm_args" ]; then printf '%s\n' "$vllm_args"; fi >"$dir/vllm.args"
    printf 'VLLM_API_KEY=%s\n' "$api_key" >"$dir/api-key.env"
  )
}

settings_hash() { # dir; prints nothing if a file is missing
  local f
  for f in "${files[@]}"; do [ -f "$1/$f" ] || return 0; done
  for f in "${files[@]}"; do sha256sum <"$1/$f"; done | sha256sum | cut -d' ' -f1
}

healthy() {
  local rc=0
  curl -fs --max-time 10 -o /dev/null "http://127.0.0.1:$port/health" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "GET /health: curl exit $rc" >"$work/why"
    return 1
  fi
  curl -fs --max-time 120 -o "$work/completion.json" -H @"$work/auth.header" \
    -H 'Content-Type: application/json' --data-binary @"$work/request.json" \
    "http://127.0.0.1:$port/v1/chat/completions" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "POST /v1/chat/completions: curl exit $rc" >"$work/why"
    return 1
  fi
  if ! python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1])).get("choices") else 1)' \
    "$work/completion.json" 2>/dev/null; then
    echo "POST /v1/chat/completions: no choices in $(head -c 300 "$work/completion.json")" >"$work/why"
    return 1
  fi
}

wait_healthy() {
  local deadline=$((SECONDS + health_wait_s))
  log "waiting up to ${health_wait_s}s for /health and one chat completion on port $port"
  until healthy; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$unit did not answer within ${health_wait_s}s; last check: $(cat "$work/why")" >&2
      return 1
    fi
    sleep "$poll_s"
  done
}

log_tail() {
  local u
  for u in "$unit" ${node_ips[1]:+llm-ray.service}; do
    log "last lines of $u:" >&2
    journalctl -u "$u" -n 100 --no-pager >&2 || true
  done
  log "last lines of container $container:" >&2
  docker logs --tail 100 "$container" >&2 || true
}

install_new() {
  local f
  for f in vllm.args api-key.env vllm.env; do mv -f "$work/$f" "$etc_dir/$f"; done
}

restore_prev() {
  local f
  for f in vllm.args vllm.env; do cp -p "$etc_dir/$f.prev" "$etc_dir/$f"; done
}

ray_nodes() {
  docker exec llm-ray python3 -c '
import os, sys, ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy as On
ray.init(address="auto", logging_level="ERROR", log_to_driver=False)
alive = [n for n in ray.nodes() if n["Alive"]]
isdir = ray.remote(num_cpus=0)(lambda p: os.path.isdir(p))
refs = [isdir.options(scheduling_strategy=On(n["NodeID"], soft=False)).remote(sys.argv[2]) for n in alive]
for n, ok in zip(alive, ray.get(refs, timeout=120)):
    print(n["NodeManagerAddress"], int(n["Resources"].get("GPU", 0)), int(ok))' ray-nodes "$model_path"
}

cluster_missing() {
  local out ip have
  if ! out=$(ray_nodes 2>"$work/ray.err"); then
    echo "Ray does not answer: $(tail -n 2 "$work/ray.err" | tr '\n' ' ')"
    return
  fi
  for ip in "${node_ips[@]}"; do
    have=$(awk -v ip="$ip" '$1 == ip {print $3}' <<<"$out")
    if [ -z "$have" ]; then echo "node $ip has not joined"; elif [ "$have" != 1 ]; then echo "node $ip has no $model_path yet"; fi
  done
  have=$(awk '{s += $2} END {print s + 0}' <<<"$out")
  [ "$have" -ge "$((nodes * gpus_per_node))" ] || echo "GPUs: Ray has $have of $((nodes * gpus_per_node))"
}

wait_cluster() {
  local start=$SECONDS missing
  log "waiting up to ${ray_wait_s}s for $nodes Ray nodes (${node_ips[*]}) with $gpus_per_node GPUs each"
  while missing=$(cluster_missing) && [ -n "$missing" ]; do
    if [ "$((SECONDS - start))" -ge "$ray_wait_s" ] && grep -qv 'yet$' <<<"$missing" ||
      [ "$((SECONDS - start))" -ge "$model_wait_s" ]; then
      log_tail
      die "Ray cluster incomplete after $((SECONDS - start))s: $(paste -sd ';' <<<"$missing")"
    fi
    sleep "$poll_s"
  done
  log "Ray has all $nodes nodes, $((nodes * gpus_per_node)) GPUs and the model on each"
}

rolling responder
pull_image
wait_for "host bootstrap" "$state_dir/bootstrap.done" "$bootstrap_wait_s"
wait_for "model $model_dir" "$marker" "$model_wait_s"
[ -d "$model_dir" ] || die "model marker $marker exists but $model_dir does not"

render_settings "$work"
(
  umask 077
  printf 'Authorization: Bearer %s\n' "$api_key" >"$work/auth.header"
  python3 -c 'import json,sys; print(json.dumps({"model": sys.argv[1], "max_tokens": 8,
    "messages": [{"role": "user", "content": "Reply with the word OK."}]}))' \
    "$served_name" >"$work/request.json"
)
new_hash=$(settings_hash "$work")
installed_hash=$(settings_hash "$etc_dir")

if [ "$new_hash" = "$installed_hash" ] && [ "$(cat "$state_dir/serve.hash" 2>/dev/null)" = "$new_hash" ] &&
  systemctl is-active --quiet "$unit"; then
  if wait_healthy; then
    rolling rejoin
    log "unchanged: settings $new_hash already serving and answering"
    exit 0
  fi
  log "settings unchanged but $unit does not answer; restarting it"
fi

changed=0 had_prev=1
if [ -n "$installed_hash" ] && [ "$installed_hash" != "$new_hash" ]; then
  for f in "${rollback_files[@]}"; do cp -p "$etc_dir/$f" "$etc_dir/$f.prev"; done
fi
[ "$installed_hash" = "$new_hash" ] || changed=1
for f in "${rollback_files[@]}"; do [ -f "$etc_dir/$f.prev" ] || had_prev=0; done
if [ "$nodes" != 1 ]; then wait_cluster; fi
rolling drain
install_new
log "settings $new_hash installed; restarting $unit"
systemctl restart "$unit"

if wait_healthy; then
  printf '%s\n' "$new_hash" >"$state_dir/serve.hash"
  rolling rejoin
  log "serving $served_name on port $port: /health and one chat completion answered"
  exit 0
fi

log_tail
rm -f "$state_dir/serve.hash"
if [ "$changed" = 0 ]; then
  die "settings unchanged and $unit does not answer after a restart"
fi
if [ "$had_prev" = 0 ]; then
  die "new settings failed; no previous settings to roll back to ($unit keeps the new settings)"
fi
restore_prev
log "restored previous settings; restarting $unit" >&2
systemctl restart "$unit"
if wait_healthy; then
  printf '%s\n' "$(settings_hash "$etc_dir")" >"$state_dir/serve.hash"
  rolling rejoin
  die "new settings failed; rolled back to previous settings"
fi
log_tail
die "new settings failed, and the previous settings did not answer either after the rollback"
