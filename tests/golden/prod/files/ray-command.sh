#!/bin/bash
# llm-inference: runs userdata/ray-start.sh as host setup installed it in /usr/local/lib/llm, with this run's
# settings: the invocation's parameters, each written below to a file as data (never evaluated).
set -euo pipefail
p=$(umask 077 && mktemp -d)
trap 'rm -rf "$p"' EXIT
cat >"$p/LLM_VLLM_IMAGE" <<'LLM_PARAM_EOF'
{{image}}
LLM_PARAM_EOF
cat >"$p/LLM_NCCL_ENV" <<'LLM_PARAM_EOF'
{{ncclEnv}}
LLM_PARAM_EOF
cat >"$p/ray.json" <<'LLM_PARAM_EOF'
{{ray}}
LLM_PARAM_EOF
export LLM_MODEL_ROOT=/mnt/models
export LLM_STATE_DIR=/var/lib/llm
export LLM_ETC_DIR=/etc/llm
export LLM_LIB_DIR=/usr/local/lib/llm
export LLM_RAY_PORT=6379
export LLM_RAY_JOIN_WAIT_S=1800
export LLM_BOOTSTRAP_WAIT_S=3600
export LLM_PULL_RETRIES=5
export LLM_PULL_BACKOFF_S=15
export LLM_POLL_S=10
export LLM_LOCK_WAIT_S=600
export LLM_ERDMA_PROVIDER_PROBE='ls /etc/libibverbs.d/ | grep -q erdma'
. /usr/local/lib/llm/lib/params.sh
llm_run /usr/local/lib/llm ray-start.sh f69c60151e67f9dc1504aa4dbeb8e706013425c5746498b52524b675903eb114 "$p"
