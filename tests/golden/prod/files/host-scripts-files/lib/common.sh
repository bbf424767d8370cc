# shellcheck shell=bash

# shellcheck disable=SC2154,SC2329 # variables set by the caller; not every caller uses every helper
bootstrap_failed() {
  [ -e "$state_dir/bootstrap.failed" ] || return 1
  log "host bootstrap failed: $(cat "$state_dir/bootstrap.failed")" >&2
}

# shellcheck disable=SC2154,SC2329 # variables set by the caller; not every caller uses every helper
wait_bootstrap() {
  local deadline=$((SECONDS + bootstrap_wait_s))
  until [ -e "$state_dir/bootstrap.done" ]; do
    bootstrap_failed && die "stopped waiting for the host bootstrap"
    [ "$SECONDS" -lt "$deadline" ] || die "host bootstrap not done within ${bootstrap_wait_s}s ($state_dir/bootstrap.done)"
    sleep "$poll_s"
  done
}

# shellcheck disable=SC2154,SC2329 # variables set by the caller; not every caller uses every helper
pull_image() {
  local deadline=$((SECONDS + bootstrap_wait_s)) attempt=1
  until docker info >/dev/null 2>&1; do
    bootstrap_failed && die "stopped waiting for Docker"
    [ "$SECONDS" -lt "$deadline" ] || die "Docker not answering within ${bootstrap_wait_s}s"
    sleep "$poll_s"
  done
  until docker pull -q "$image"; do
    [ "$attempt" -lt "$pull_retries" ] || die "docker pull $image failed $attempt times"
    log "docker pull attempt $attempt failed; retrying in $((pull_backoff_s * attempt))s"
    sleep "$((pull_backoff_s * attempt))"
    attempt=$((attempt + 1))
  done
  log "image $image present"
}
