#!/bin/bash
# ExecStart of llm-logtail.service (llm:observability.logs = sls): installs Logtail, SLS's
# collector, once, from the region's internal installer URL. The machine group identifies this
# node by its private IP; the collection config (the llm-* units' journal) comes from SLS.
# Idempotent: an installed Logtail is left alone. Reads no secret and prints none.
set -euo pipefail

url=${LLM_LOGTAIL_INSTALLER_URL:?LLM_LOGTAIL_INSTALLER_URL is required (host.env)}
region=${LLM_REGION:?LLM_REGION is required (host.env)}
log() { printf '%s llm-logtail: %s\n' "$(date -u +%FT%TZ)" "$*"; }

if [ -x /usr/local/ilogtail/ilogtail ] || systemctl is-active --quiet ilogtaild 2>/dev/null; then
  log "Logtail already installed"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for attempt in 1 2 3 4 5; do
  if curl -fsS --max-time 120 -o "$work/logtail.sh" "$url"; then
    break
  fi
  [ "$attempt" = 5 ] && { log "FAILED: cannot download $url" >&2; exit 1; }
  sleep $((attempt * 10))
done
chmod 755 "$work/logtail.sh"
# `install <region>`: the installer's intranet endpoint for that region (SLS docs).
"$work/logtail.sh" install "$region"
log "Logtail installed"
