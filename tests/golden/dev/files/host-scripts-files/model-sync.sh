#!/bin/bash
# userdata/model-sync.sh of llm-inference, comments stripped
set -Eeuo pipefail

source_url=${LLM_MODEL_SOURCE:?LLM_MODEL_SOURCE is required (oss://bucket/prefix/)}
revision=${LLM_MODEL_REVISION?LLM_MODEL_REVISION must be set (may be empty)}
model_dir=${LLM_MODEL_DIR:?LLM_MODEL_DIR is required}
marker=${LLM_MODEL_MARKER:?LLM_MODEL_MARKER is required}
region=${LLM_OSS_REGION:?LLM_OSS_REGION is required}
endpoint=${LLM_OSS_ENDPOINT:?LLM_OSS_ENDPOINT is required}
role=${LLM_RAM_ROLE:?LLM_RAM_ROLE is required}
probe_object=${LLM_PROBE_OBJECT:?LLM_PROBE_OBJECT is required (an object under the prefix)}
expected_shards=${LLM_EXPECTED_SHARDS?LLM_EXPECTED_SHARDS must be set (empty: not checked)}
expected_bytes=${LLM_EXPECTED_BYTES?LLM_EXPECTED_BYTES must be set (empty: not checked)}
ossutil_version=${LLM_OSSUTIL_VERSION:?LLM_OSSUTIL_VERSION is required}
ossutil_url=${LLM_OSSUTIL_URL:?LLM_OSSUTIL_URL is required}
ossutil_sha256=${LLM_OSSUTIL_SHA256?LLM_OSSUTIL_SHA256 must be set (empty: not checked)}
jobs=${LLM_SYNC_JOBS:?LLM_SYNC_JOBS is required}
parallel=${LLM_SYNC_PARALLEL:?LLM_SYNC_PARALLEL is required}
retries=${LLM_SYNC_RETRIES:?LLM_SYNC_RETRIES is required}
backoff_s=${LLM_SYNC_BACKOFF_S:?LLM_SYNC_BACKOFF_S is required}
bootstrap_wait_s=${LLM_BOOTSTRAP_WAIT_S:?LLM_BOOTSTRAP_WAIT_S is required}
poll_s=${LLM_POLL_S:?LLM_POLL_S is required}
state_dir=${LLM_STATE_DIR:?LLM_STATE_DIR is required}
bin_dir=${LLM_BIN_DIR:?LLM_BIN_DIR is required}

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
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

if [ -e "$marker" ] && [ -d "$model_dir" ]; then
  log "model already synced: $model_dir ($marker)"
  exit 0
fi
rm -f "$marker.failed"
trap 'die "unexpected failure (exit $?) at line $LINENO"' ERR

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

oss_flags=(--mode EcsRamRole --ecs-role-name "$role" --region "$region" -e "$endpoint")

probe() {
  local object=$source_url$probe_object out
  if ! out=$("$ossutil" stat "$object" "${oss_flags[@]}" 2>&1); then
    die "cannot read $object with the instance role $role ($(tail -n 3 <<<"$out" | tr '\n' ' ')): check the role's policy, the bucket's region ($region) and that the object exists"
  fi
  log "readable with role $role: $object"
}

copy() {
  local attempt=1
  mkdir -p "$partial" "$ckpt"
  until "$ossutil" cp -r "$source_url" "$partial/" -f -u -j "$jobs" --parallel "$parallel" \
    --checkpoint-dir "$ckpt" "${oss_flags[@]}"; do
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
probe

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
