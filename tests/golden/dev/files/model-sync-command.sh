#!/bin/bash
# llm-inference: runs userdata/model-sync.sh as host setup installed it in /usr/local/lib/llm, with this run's
# settings: the invocation's parameters, each written below to a file as data (never evaluated).
set -euo pipefail
p=$(umask 077 && mktemp -d)
trap 'rm -rf "$p"' EXIT
cat >"$p/model.json" <<'LLM_PARAM_EOF'
{{model}}
LLM_PARAM_EOF
cat >"$p/oss.json" <<'LLM_PARAM_EOF'
{{oss}}
LLM_PARAM_EOF
export LLM_MODEL_ROOT=/mnt/models
export LLM_STATE_DIR=/var/lib/llm
export LLM_ETC_DIR=/etc/llm
export LLM_LIB_DIR=/usr/local/lib/llm
export LLM_BIN_DIR=/usr/local/bin
export LLM_PROBE_OBJECT=config.json
export LLM_OSSUTIL_VERSION=2.2.0
export LLM_OSSUTIL_URL=https://gosspublic.alicdn.com/ossutil/v2/2.2.0/ossutil-2.2.0-linux-amd64.zip
export LLM_OSSUTIL_SHA256=''
export LLM_SYNC_JOBS=16
export LLM_SYNC_PARALLEL=8
export LLM_SYNC_RETRIES=5
export LLM_SYNC_BACKOFF_S=30
export LLM_BOOTSTRAP_WAIT_S=3600
export LLM_POLL_S=10
. /usr/local/lib/llm/lib/params.sh
llm_run /usr/local/lib/llm model-sync.sh 3cf19c7a046d046b7dbeff160057e4fb7a7d8bc01249f044bb57ea819925a6b6 "$p"
