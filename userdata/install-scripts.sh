#!/bin/bash
# Host scripts (Cloud Assistant, the host-setup stage, one invocation on every node, keyed on its
# content): installs the per-run scripts (model-sync.sh, serve.sh, ray-start.sh on cluster nodes)
# in LLM_LIB_DIR and the libraries they source in LLM_LIB_DIR/lib (lib/common.sh, lib/params.sh).
# The per-run commands are static: they run these copies with the invocation's parameters
# (lib/params.sh) and check their sha256 first. Writes only files whose text differs; restarts
# nothing; needs no bootstrap (each script waits for it itself).
set -euo pipefail

archive=${LLM_FILES_TGZ_B64:?LLM_FILES_TGZ_B64 is required}
files_hash=${LLM_FILES_HASH:?LLM_FILES_HASH is required}
state_dir=${LLM_STATE_DIR:?LLM_STATE_DIR is required}
lib_dir=${LLM_LIB_DIR:?LLM_LIB_DIR is required}
lock_wait_s=${LLM_LOCK_WAIT_S:?LLM_LOCK_WAIT_S is required}

log() { printf '%s llm-install-scripts: %s\n' "$(date -u +%FT%TZ)" "$*"; }
die() {
  log "FAILED: $*" >&2
  exit 1
}

umask 022
mkdir -p "$state_dir" "$lib_dir/lib"
exec 9>"$state_dir/install-scripts.lock"
flock -w "$lock_wait_s" 9 || die "another install-scripts run held $state_dir/install-scripts.lock for ${lock_wait_s}s"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
base64 -d <<<"$archive" | tar -xzf - -C "$work" || die "cannot unpack the scripts"
changed=0
for f in "$work"/*.sh "$work"/lib/*.sh; do
  rel=${f#"$work"/}
  case "$rel" in
    */*/* | *..*) die "unexpected file $rel" ;;
  esac
  if ! cmp -s "$f" "$lib_dir/$rel"; then
    install -m 0755 "$f" "$lib_dir/$rel"
    log "installed $lib_dir/$rel"
    changed=1
  fi
done
[ "$changed" = 1 ] || log "unchanged: scripts $files_hash installed"
log "scripts $files_hash in $lib_dir"
