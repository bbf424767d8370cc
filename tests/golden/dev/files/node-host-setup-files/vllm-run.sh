#!/bin/bash
# userdata/vllm-run.sh of llm-inference, comments stripped
set -euo pipefail

etc_dir=${LLM_ETC_DIR:-/etc/llm}
model_root=${LLM_MODEL_ROOT:-/mnt/models}

# shellcheck source=/dev/null
. "$etc_dir/vllm.env"
: "${VLLM_IMAGE:?VLLM_IMAGE missing from $etc_dir/vllm.env}"
: "${VLLM_MODEL_PATH:?VLLM_MODEL_PATH missing from $etc_dir/vllm.env}"
mapfile -t args <"$etc_dir/vllm.args"

if [ "${VLLM_RAY:-0}" != 1 ]; then
  exec docker run --rm --name llm-vllm --net=host --ipc=host --gpus all \
    --env-file "$etc_dir/api-key.env" \
    -v "$model_root:/models:ro" \
    --entrypoint vllm "$VLLM_IMAGE" serve "$VLLM_MODEL_PATH" "${args[@]}"
fi

nodes=${VLLM_RAY_NODES:?VLLM_RAY_NODES missing from $etc_dir/vllm.env}
gpus=${VLLM_RAY_GPUS:?VLLM_RAY_GPUS missing from $etc_dir/vllm.env}
wait_s=${VLLM_RAY_WAIT_S:-600}
watch_s=${VLLM_RAY_WATCH_S:-30}
log() { printf '%s llm-vllm: %s\n' "$(date -u +%FT%TZ)" "$*"; }

ray_count() {
  docker exec llm-ray python3 -c '
import ray
ray.init(address="auto", logging_level="ERROR", log_to_driver=False)
alive = [n for n in ray.nodes() if n["Alive"]]
print(len(alive), int(sum(n["Resources"].get("GPU", 0) for n in alive)))' ray-count 2>/dev/null
}

stop_vllm() {
  docker exec llm-ray python3 -c '
import os, signal, time
def pids():
    found = []
    for p in os.listdir("/proc"):
        try:
            argv = open("/proc/" + p + "/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if p.isdigit() and int(p) != os.getpid() and b"serve" in argv and any(os.path.basename(a) == b"vllm" for a in argv[:2]):
            found.append(int(p))
    return found
for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 5)):
    for pid in pids():
        try:
            os.kill(pid, sig)
        except OSError:
            pass
    end = time.time() + grace
    while pids() and time.time() < end:
        time.sleep(0.5)' stop-vllm || true
}

count=
deadline=$((SECONDS + wait_s))
until count=$(ray_count) && [ "${count% *}" -ge "$nodes" ] && [ "${count#* }" -ge "$gpus" ]; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "Ray reports '${count:-no answer}' (nodes GPUs), need $nodes $gpus after ${wait_s}s; systemd retries" >&2
    exit 1
  fi
  sleep "$watch_s"
done
stop_vllm # a server left behind by a killed run would hold the port and the GPUs
log "Ray has $count (nodes GPUs); starting vLLM in llm-ray"
docker exec --env-file "$etc_dir/api-key.env" llm-ray vllm serve "$VLLM_MODEL_PATH" "${args[@]}" &
server=$!
trap 'stop_vllm; kill "$server" 2>/dev/null; exit 143' TERM INT

misses=0
while kill -0 "$server" 2>/dev/null; do
  sleep "$watch_s" &
  wait $! || true
  kill -0 "$server" 2>/dev/null || break
  if count=$(ray_count); then
    misses=0
    [ "${count% *}" -ge "$nodes" ] && continue
    log "Ray lost a node: $count (nodes GPUs), need $nodes; stopping vLLM" >&2
  else
    misses=$((misses + 1))
    [ "$misses" -ge 3 ] || continue
    log "Ray did not answer $misses times in a row; stopping vLLM" >&2
  fi
  stop_vllm
  kill "$server" 2>/dev/null || true
  exit 1
done
rc=0
wait "$server" || rc=$?
log "vLLM exited with status $rc" >&2
exit "$((rc == 0 ? 1 : rc))"
