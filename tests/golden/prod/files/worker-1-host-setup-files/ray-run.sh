#!/bin/bash
# userdata/ray-run.sh of llm-inference, comments stripped
set -euo pipefail

etc_dir=${LLM_ETC_DIR:-/etc/llm}
ib_dev=${LLM_IB_DEV:-/dev/infiniband}

# shellcheck source=/dev/null
. "$etc_dir/ray.env"
: "${RAY_IMAGE:?RAY_IMAGE missing from $etc_dir/ray.env}"
: "${RAY_ROLE:?RAY_ROLE missing from $etc_dir/ray.env}"
: "${RAY_HEAD_IP:?RAY_HEAD_IP missing from $etc_dir/ray.env}"
port=${RAY_PORT:-6379}
join_wait_s=${RAY_JOIN_WAIT_S:-${LLM_RAY_JOIN_WAIT_S:-600}}
poll_s=${RAY_POLL_S:-5}
model_root=${RAY_MODEL_ROOT:-${LLM_MODEL_ROOT:-/mnt/models}}

log() { printf '%s llm-ray: %s\n' "$(date -u +%FT%TZ)" "$*"; }

run=(docker run --rm --name llm-ray --net=host --ipc=host --gpus all --ulimit memlock=-1)
if [ -d "$ib_dev" ]; then run+=("--device=$ib_dev"); fi
run+=(--env-file "$etc_dir/nccl.env")
if [ -n "${RAY_NODE_IP:-}" ]; then run+=(-e "VLLM_HOST_IP=$RAY_NODE_IP"); fi
run+=(-v "$model_root:/models:ro" --entrypoint ray "$RAY_IMAGE" start --block)
if [ -n "${RAY_NODE_IP:-}" ]; then run+=("--node-ip-address=$RAY_NODE_IP"); fi

if [ "$RAY_ROLE" = head ]; then
  log "starting the Ray head on port $port"
  exec "${run[@]}" --head "--port=$port" --dashboard-host=0.0.0.0
fi

# shellcheck disable=SC2016 # $1/$2 expand in the inner bash
head_up() { timeout 5 bash -c ': >"/dev/tcp/$1/$2"' _ "$RAY_HEAD_IP" "$port" 2>/dev/null; }
deadline=$((SECONDS + join_wait_s))
attempts=1
until head_up; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "Ray head $RAY_HEAD_IP:$port did not answer within ${join_wait_s}s ($attempts probes); systemd retries later" >&2
    exit 1
  fi
  if [ "$attempts" = 1 ]; then log "waiting up to ${join_wait_s}s for the Ray head $RAY_HEAD_IP:$port"; fi
  sleep "$poll_s"
  attempts=$((attempts + 1))
done
log "Ray head $RAY_HEAD_IP:$port answers; joining"
exec "${run[@]}" "--address=$RAY_HEAD_IP:$port"
