#!/bin/bash
# llm-inference: runs userdata/serve.sh as host setup installed it in /usr/local/lib/llm, with this run's
# settings: the invocation's parameters, each written below to a file as data (never evaluated).
set -euo pipefail
p=$(umask 077 && mktemp -d)
trap 'rm -rf "$p"' EXIT
cat >"$p/LLM_VLLM_IMAGE" <<'LLM_PARAM_EOF'
{{image}}
LLM_PARAM_EOF
cat >"$p/LLM_VLLM_ARGS" <<'LLM_PARAM_EOF'
{{vllmArgs}}
LLM_PARAM_EOF
cat >"$p/model.json" <<'LLM_PARAM_EOF'
{{model}}
LLM_PARAM_EOF
cat >"$p/serving.json" <<'LLM_PARAM_EOF'
{{serving}}
LLM_PARAM_EOF
cat >"$p/LLM_API_KEY_VERSION" <<'LLM_PARAM_EOF'
{{keyVersion}}
LLM_PARAM_EOF
cat >"$p/cluster.json" <<'LLM_PARAM_EOF'
{{cluster}}
LLM_PARAM_EOF
export LLM_MODEL_ROOT=/mnt/models
export LLM_STATE_DIR=/var/lib/llm
export LLM_ETC_DIR=/etc/llm
export LLM_LIB_DIR=/usr/local/lib/llm
export LLM_API_KEY='{{oos-secret:llm-prod-api-key}}'
export LLM_PORT=8000
export LLM_UNIT=llm-vllm.service
export LLM_BOOTSTRAP_WAIT_S=3600
export LLM_PULL_RETRIES=5
export LLM_PULL_BACKOFF_S=15
export LLM_POLL_S=10
export LLM_LOCK_WAIT_S=600
export LLM_RAY_WAIT_S=1800
export LLM_RAY_WATCH_S=30
. /usr/local/lib/llm/lib/params.sh
llm_run /usr/local/lib/llm serve.sh a4394f5cf7ed8cbb6e7168e2170f10b78126a74f8aa35c9edbcfa0a2e06decfe "$p"
