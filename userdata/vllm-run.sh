#!/bin/bash
# ExecStart of llm-vllm.service: runs vLLM in the foreground so systemd supervises it.
# Settings come from files that serve.sh writes (root-only): vllm.env (image, model path),
# vllm.args (one argument per line) and api-key.env (VLLM_API_KEY, read by vLLM itself, so
# the key never appears on a command line).
set -euo pipefail

etc_dir=${LLM_ETC_DIR:-/etc/llm}
model_root=${LLM_MODEL_ROOT:-/mnt/models}

# shellcheck source=/dev/null
. "$etc_dir/vllm.env"
: "${VLLM_IMAGE:?VLLM_IMAGE missing from $etc_dir/vllm.env}"
: "${VLLM_MODEL_PATH:?VLLM_MODEL_PATH missing from $etc_dir/vllm.env}"
mapfile -t args <"$etc_dir/vllm.args"

# --ipc=host gives the container the host's /dev/shm (what NCCL and vLLM's workers need);
# Docker ignores --shm-size in that mode and Podman rejects the pair, so it is not passed.
exec docker run --rm --name llm-vllm --net=host --ipc=host --gpus all \
  --env-file "$etc_dir/api-key.env" \
  -v "$model_root:/models:ro" \
  --entrypoint vllm "$VLLM_IMAGE" serve "$VLLM_MODEL_PATH" "${args[@]}"
