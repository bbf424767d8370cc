#!/bin/bash
# Host setup (Cloud Assistant, one run per node, keyed on its content): installs the host's
# scripts and systemd units (host-bootstrap.sh, vllm-run.sh, their units; ray-run.sh and its
# unit on cluster nodes) and host.env, enables them so that a reboot brings serving back, and
# runs the bootstrap (driver, Fabric Manager, Docker, toolkit, eRDMA, model disk) until it has
# finished, or prints why it failed. Everything that may need fixing in the field lives here,
# not in user-data: a changed user-data reboots the instance and never runs again.
# Idempotent: unchanged files and settings on a bootstrapped host change nothing and restart
# nothing; changed ones re-run the bootstrap, whose steps each check before they act.
set -euo pipefail

archive=${LLM_FILES_TGZ_B64:?LLM_FILES_TGZ_B64 is required}
files_hash=${LLM_FILES_HASH:?LLM_FILES_HASH is required}
host_env=${LLM_HOST_ENV:?LLM_HOST_ENV is required (the KEY=value lines of host.env)}
units=${LLM_UNITS:?LLM_UNITS is required (units to enable)}
state_dir=${LLM_STATE_DIR:?LLM_STATE_DIR is required}
etc_dir=${LLM_ETC_DIR:?LLM_ETC_DIR is required}
lib_dir=${LLM_LIB_DIR:?LLM_LIB_DIR is required}
systemd_dir=${LLM_SYSTEMD_DIR:?LLM_SYSTEMD_DIR is required}
bootstrap_wait_s=${LLM_BOOTSTRAP_WAIT_S:?LLM_BOOTSTRAP_WAIT_S is required}
poll_s=${LLM_POLL_S:?LLM_POLL_S is required}
lock_wait_s=${LLM_LOCK_WAIT_S:?LLM_LOCK_WAIT_S is required}

log() { printf '%s llm-host-setup: %s\n' "$(date -u +%FT%TZ)" "$*"; }
die() {
  log "FAILED: $*" >&2
  exit 1
}
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

umask 022
mkdir -p "$state_dir" "$etc_dir" "$lib_dir" "$systemd_dir"
exec 9>"$state_dir/host-setup.lock"
flock -w "$lock_wait_s" 9 || die "another host-setup run held $state_dir/host-setup.lock for ${lock_wait_s}s"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/files"
base64 -d <<<"$archive" | tar -xzf - -C "$work/files" || die "cannot unpack the host files"
changed=0
# Writes $1 to $2 with mode $3 only when the text differs (a running unit keeps its file).
put() {
  if ! cmp -s "$1" "$2"; then
    install -m "$3" "$1" "$2"
    log "installed $2"
    changed=1
  fi
}
for f in "$work/files"/*; do
  case "$f" in
    *.service) put "$f" "$systemd_dir/$(basename "$f")" 0644 ;;
    *.sh) put "$f" "$lib_dir/$(basename "$f")" 0755 ;;
    *) die "unexpected host file $(basename "$f")" ;;
  esac
done
printf '%s\n' "$host_env" >"$work/host.env"
put "$work/host.env" "$etc_dir/host.env" 0644
systemctl daemon-reload
# shellcheck disable=SC2086 # a list of unit names
systemctl enable $units llm-bootstrap.service

generation=$(printf '%s\n%s\n' "$files_hash" "$host_env" | sha256sum | cut -d' ' -f1)
if [ -e "$state_dir/bootstrap.done" ] && [ "$(cat "$state_dir/bootstrap.generation" 2>/dev/null)" = "$generation" ]; then
  log "unchanged: host files $files_hash installed and bootstrapped"
  exit 0
fi
[ "$changed" = 1 ] || log "host files unchanged; bootstrap not done for them yet"
rm -f "$state_dir/bootstrap.done" "$state_dir/bootstrap.failed"
printf '%s\n' "$generation" >"$state_dir/bootstrap.generation"
log "running the host bootstrap (llm-bootstrap.service), at most ${bootstrap_wait_s}s"
systemctl restart --no-block llm-bootstrap.service
deadline=$((SECONDS + bootstrap_wait_s))
until [ -e "$state_dir/bootstrap.done" ]; do
  if bootstrap_failed || [ "$SECONDS" -ge "$deadline" ]; then
    log "last lines of llm-bootstrap.service:" >&2
    journalctl -u llm-bootstrap.service -n 100 --no-pager >&2 || true
    [ -e "$state_dir/bootstrap.failed" ] && die "host bootstrap failed: $(cat "$state_dir/bootstrap.failed")"
    die "host bootstrap not done within ${bootstrap_wait_s}s ($state_dir/bootstrap.done)"
  fi
  sleep "$poll_s"
done
log "host ready: $(cat "$state_dir/bootstrap.done")"
