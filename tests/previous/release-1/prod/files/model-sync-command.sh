#!/bin/bash
export LLM_MODEL_ROOT=/mnt/models
export LLM_STATE_DIR=/var/lib/llm
export LLM_ETC_DIR=/etc/llm
export LLM_LIB_DIR=/usr/local/lib/llm
export LLM_BIN_DIR=/usr/local/bin
export LLM_MODEL_SOURCE=oss://my-llm-weights/deepseek-ai/DeepSeek-R1/
export LLM_MODEL_REVISION=2025-01-20
export LLM_MODEL_DIR=/mnt/models/my-llm-weights-deepseek-ai-DeepSeek-R1@2025-01-20
export LLM_MODEL_MARKER=/var/lib/llm/model-my-llm-weights-deepseek-ai-DeepSeek-R1@2025-01-20.done
export LLM_OSS_REGION=cn-hangzhou
export LLM_OSS_ENDPOINT=oss-cn-hangzhou-internal.aliyuncs.com
export LLM_RAM_ROLE=llm-prod-model-reader
export LLM_EXPECTED_SHARDS=163
export LLM_EXPECTED_BYTES=688586727753
export LLM_OSSUTIL_VERSION=2.2.0
export LLM_OSSUTIL_URL=https://gosspublic.alicdn.com/ossutil/v2/2.2.0/ossutil-2.2.0-linux-amd64.zip
export LLM_OSSUTIL_SHA256=''
export LLM_SYNC_JOBS=16
export LLM_SYNC_PARALLEL=8
export LLM_SYNC_RETRIES=5
export LLM_BOOTSTRAP_WAIT_S=3600
set -Eeuo pipefail

source_url=${LLM_MODEL_SOURCE:?LLM_MODEL_SOURCE is required (oss://bucket/prefix/)}
revision=${LLM_MODEL_REVISION:-}
model_dir=${LLM_MODEL_DIR:?LLM_MODEL_DIR is required}
marker=${LLM_MODEL_MARKER:?LLM_MODEL_MARKER is required}
region=${LLM_OSS_REGION:?LLM_OSS_REGION is required}
endpoint=${LLM_OSS_ENDPOINT:-oss-$region-internal.aliyuncs.com}
role=${LLM_RAM_ROLE:?LLM_RAM_ROLE is required}
expected_shards=${LLM_EXPECTED_SHARDS:-}
expected_bytes=${LLM_EXPECTED_BYTES:-}
ossutil_version=${LLM_OSSUTIL_VERSION:-2.2.0}
ossutil_url=${LLM_OSSUTIL_URL:-https://gosspublic.alicdn.com/ossutil/v2/$ossutil_version/ossutil-$ossutil_version-linux-amd64.zip}
ossutil_sha256=${LLM_OSSUTIL_SHA256:-}
jobs=${LLM_SYNC_JOBS:-8}
parallel=${LLM_SYNC_PARALLEL:-8}
retries=${LLM_SYNC_RETRIES:-3}
backoff_s=${LLM_SYNC_BACKOFF_S:-30}
bootstrap_wait_s=${LLM_BOOTSTRAP_WAIT_S:-3600}
poll_s=${LLM_POLL_S:-5}
state_dir=${LLM_STATE_DIR:-/var/lib/llm}
etc_dir=${LLM_ETC_DIR:-/etc/llm}
bin_dir=${LLM_BIN_DIR:-/usr/local/bin}

partial=$model_dir.partial
ckpt=$model_dir.ckpt
ossutil=$bin_dir/ossutil
log() { printf '%s llm-model-sync: %s\n' "$(date -u +%FT%TZ)" "$*"; }
die() {
  log "FAILED: $*" >&2
  mkdir -p "$(dirname "$marker")"
  printf '%s\n' "$*" >"$marker.failed"
  exit 1
}

if [ -e "$marker" ] && [ -d "$model_dir" ]; then
  log "model already synced: $model_dir ($marker)"
  exit 0
fi
rm -f "$marker.failed"
trap 'die "unexpected failure (exit $?) at line $LINENO"' ERR

wait_bootstrap() {
  local deadline=$((SECONDS + bootstrap_wait_s))
  until [ -e "$state_dir/bootstrap.done" ]; do
    if [ -e "$state_dir/bootstrap.failed" ]; then
      die "host bootstrap failed: $(cat "$state_dir/bootstrap.failed")"
    fi
    [ "$SECONDS" -lt "$deadline" ] || die "host bootstrap not done within ${bootstrap_wait_s}s ($state_dir/bootstrap.done)"
    sleep "$poll_s"
  done
}

install_ossutil() {
  [ -x "$ossutil" ] && return
  log "installing ossutil $ossutil_version from $ossutil_url"
  local work
  work=$(mktemp -d)
  curl -fsSL --retry 5 --max-time 300 -o "$work/ossutil.zip" "$ossutil_url"
  if [ -n "$ossutil_sha256" ]; then
    echo "$ossutil_sha256  $work/ossutil.zip" | sha256sum -c --quiet - ||
      die "ossutil zip checksum mismatch (expected $ossutil_sha256)"
  fi
  if command -v unzip >/dev/null 2>&1; then
    unzip -q -o "$work/ossutil.zip" -d "$work/x"
  else
    python3 -m zipfile -e "$work/ossutil.zip" "$work/x"
  fi
  local found
  found=$(find "$work/x" -type f -name ossutil -print -quit)
  [ -n "$found" ] || die "no ossutil binary in $ossutil_url"
  mkdir -p "$bin_dir"
  install -m 0755 "$found" "$ossutil"
  rm -rf "$work"
}

write_config() {
  mkdir -p "$etc_dir"
  cat >"$etc_dir/ossutil.conf" <<EOF
[default]
mode=EcsRamRole
ecsRoleName=$role
region=$region
endpoint=$endpoint
EOF
}

copy() {
  local attempt=1
  mkdir -p "$partial" "$ckpt"
  until "$ossutil" cp -r "$source_url" "$partial/" -f -u -j "$jobs" --parallel "$parallel" \
    --checkpoint-dir "$ckpt" -c "$etc_dir/ossutil.conf" --region "$region" -e "$endpoint"; do
    [ "$attempt" -lt "$retries" ] || die "ossutil cp failed $attempt times; $partial is kept for the next run to resume"
    log "ossutil cp attempt $attempt failed; retrying in $((backoff_s * attempt))s"
    sleep "$((backoff_s * attempt))"
    attempt=$((attempt + 1))
  done
}

safetensors_bytes() {
  find "$1" -type f -name '*.safetensors' -printf '%s\n' | awk '{s += $1} END {printf "%d", s}'
}

check_dir() {
  local dir=$1 shards bytes
  shards=$(find "$dir" -type f -name '*.safetensors' | wc -l)
  bytes=$(safetensors_bytes "$dir")
  if [ -n "$expected_shards" ] && [ "$shards" -ne "$expected_shards" ]; then
    echo "safetensors shards: found $shards, expected $expected_shards"
  fi
  if [ -n "$expected_bytes" ] && [ "$bytes" -ne "$expected_bytes" ]; then
    echo "safetensors bytes: found $bytes, expected $expected_bytes"
  fi
  if [ -f "$dir/model.safetensors.index.json" ]; then
    python3 - "$dir" <<'PY'
import json, os, sys
d = sys.argv[1]
with open(os.path.join(d, "model.safetensors.index.json")) as f:
    names = sorted(set(json.load(f).get("weight_map", {}).values()))
missing = [n for n in names if not os.path.isfile(os.path.join(d, n))]
if missing:
    print(f"index names {len(missing)} missing shard(s): {' '.join(missing[:10])}")
PY
  fi
}

wait_bootstrap
install_ossutil
write_config

if [ -d "$model_dir" ] && [ ! -d "$partial" ]; then
  candidate=$model_dir
else
  log "copying $source_url to $partial"
  copy
  candidate=$partial
fi

problems=$(check_dir "$candidate")
if [ -n "$problems" ]; then
  die "model check failed ($(echo "$problems" | paste -sd ';' -)); $candidate is kept for the next run to resume"
fi

bytes=$(safetensors_bytes "$candidate")
if [ "$candidate" = "$partial" ]; then
  mv -T "$partial" "$model_dir"
fi
rm -rf "$ckpt"
mkdir -p "$(dirname "$marker")"
printf 'source=%s\nrevision=%s\nbytes=%s\ndir=%s\ntime=%s\n' \
  "$source_url" "$revision" "$bytes" "$model_dir" "$(date -u +%FT%TZ)" >"$marker.tmp"
mv -f "$marker.tmp" "$marker"
log "model ready in $model_dir ($bytes bytes of safetensors)"
