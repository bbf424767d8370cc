#!/bin/bash
export LLM_MODEL_ROOT=/mnt/models
export LLM_STATE_DIR=/var/lib/llm
export LLM_ETC_DIR=/etc/llm
export LLM_LIB_DIR=/usr/local/lib/llm
export LLM_SYSTEMD_DIR=/etc/systemd/system
export LLM_FILES_HASH=064a592014b2866a
export LLM_HOST_ENV='LLM_MODEL_ROOT=/mnt/models
LLM_STATE_DIR=/var/lib/llm
LLM_ETC_DIR=/etc/llm
LLM_LIB_DIR=/usr/local/lib/llm
LLM_MODEL_DISK_SERIAL=node-model-disk-id
LLM_DEV_DIR=/dev
LLM_SYS_DIR=/sys
LLM_FS_TYPE=ext4
LLM_FSTAB=/etc/fstab
LLM_DISK_WAIT_S=900
LLM_POLL_S=2
LLM_ERDMA=0
LLM_ERDMA_INSTALLER_URL=http://mirrors.cloud.aliyuncs.com/erdma/env_setup.sh
LLM_ERDMA_INSTALLER_SHA256=
LLM_FABRIC_MANAGER=0
LLM_FM_PACKAGE=nvidia-fabric-manager
LLM_DOCKER_REPO_URL=http://mirrors.cloud.aliyuncs.com/docker-ce/linux/centos/docker-ce.repo'
export LLM_UNITS=llm-vllm.service
export LLM_BOOTSTRAP_WAIT_S=3600
export LLM_POLL_S=10
export LLM_LOCK_WAIT_S=600
export LLM_FILES_TGZ_B64=H4sIAAAAAAACA+07+2/bRtL9mX/FhFFiKhEl2c4DUKLkU22lNepHIDkpcq4rUOTK4meKZPmwK7i+v/1mZpfkUpad3F2vhwPEFom4nJ2dnffMbuZRmtnTKMrSLHHidjr/7s9/uvi8evGC/8Zn5e/tV693yzE5vr27vd39Drrf/QVPnmZOgssnyIOH4L72/X/0efyoM/XDztRJ58ZjyFOReE7mdOaragHRDIJgYfvhTCQidEUL3GixEGGWAsL4cSw8IxUZ2EORRxD7sZg5fmAYyN5MTDw/6TduDg+PJuPTwelwsn8w6r2vvYKfQiJ+y/1EeLeIKfGdQE05OtkfHiLM+KfJeDg6GBzKqXeGdRRgZXMBnp9ewsE+XPvZPMoz8OzmreGJK42e/eHnihr1skLLMtXp/zLWqJcvdfhF5IlgQvpSo390cnKqE07v9YmzdJItY6FmfRhPTr98HMop6mUVPnOmJfTp4PsCFn/WIYkPk2vHzyZpsW1i28+Dg9PJWG29GqjPjaMgKKd9PDk8LGbI33VgVJ+Fo2CHo/2jgQTln3XxdCFKYBvFMXOmie9OFk7oXIiCyx8G348O9iZHg+PBD0PF7PrYfdgWk9hxLxFVgQkJHez9hFMUlvJ9hUWReymSSSLiqGDRyd5Pw9FkNPx4Mvk0Ukq3MljHgcou4j45lMwIogurCTcQJ36YzWDrScr2U9pUD56kv4RbYDYstDgBdg7Pn3w4fXL6t6aJg8/MN3BrROFEJEmUECYDIIhcJ4DE7Te2IfBD3OIOjhYr8OK4jPjdz+hvhigWoY+EN3HpT/pkwjsaVtbZqYyd7FZ4Jq93AeaHwcHhcB+cDAgHbDGqLbBoGUB8LV4IGCeS/u4p0cQfeTWDJOwHagertCbCSaPwDpXP/j3iesAYKkq2kQpjcYmowI5Bw2wa/gzOwBawfjkvIkadvwH0JmGxqBMg2d4S6CNY985rmsXyXWPmG8kC7Bk8vCt6ga1C6tB4D43Dg+Ph8ckWDEcjw/BDnI3m6CX+lSi0gnkZXvme79jyAw7ittRQuvDhXQedXifMgwB23j3dLrejNnT8+WD/YAByMspIpOjXTf6eiCxPCBR3oKAVEX54QWigNpkmeeEMFAzYS3DCKPBTW8ROZCciQIGLu0Am2l4oAhvJxD8bVh46C7SJBBWqtrP6m+3mnoPI0OPGSTQV6ivusdrvH39AluSCFADDUx5P6v5G56H8Yqsvpb3hQqkfhTB3rohy9dpvWBqDbfu3XCRL+yLO+5K2STHNtmdRsnCyvptetcJojqqD+/gD6AfYIXotpJF5TVoApobVdcIwyoB8UpIxsxUXFG7iNlGFtCQxqtdvRAf5mpvPw9H44OT4loyqcommzhlaVs42TakwZwhMAyY86uPPYhFN/e9qgIbdLmaApcgsBppSl1Zlvm6uSVRJRhC4G+WBB8SEYuLaBZHDsLKmXPLP4g5rf8WfOnsqkjVsFBkaNwTeszX6MUy0dEkSlMLUo/ElLDAjBdQXd04LY/KRiYWbBSBCZxqgTSC268IMpMYqhW1j0nTlu6I2Cy3PcTNcilXUxwTtoalrNXE9JBJO21LIrf+P0E04AS2JkWzdzGbltHkYjuQ4ME8hycMQFYriheHOhXv5NSdnMxR+ut/PabqkuF0IAaZ5pk8kqBQsB22NvDLyfwnkT4TwhNdkokrfy4mCTpYckTb0iNNiJ0TTvgL54WveV7OmfTlhb7jWYPDVjoP8wg8LR0pscDwnznCSbZOfAAcR5b/vEmBaInGjcOZfFJ4NQR3Pk+BmQ0t81q/K320UefnLdgOfcGYOxvzEa/tRYSL3qKucWSqoxs0SyySLouDSz9bIu4SxFYxktcboAjC7/MZQV6IEhfJfjHp38KwJgA/sQqMb9T/zMeZJUeUJsU6NVQpWsReppTRzDWdllONEXOclD5QxLU8CPUufHBxj0XB4iJltmemu+VDLua+Rr1AC9rdvS+Tp3LkH+fjHwc7LV+/v/yS9H1oelZKWWMTZssd+ho0dTbFaBcUfY1RtqPKsg0lAHogO77MTOwkmEGgWaUfCTagqg+souUTRzKIi4D1Sqd8aHMqx1wzan2LpKK4IwwOKRqtg0FlcoqxisL3mWlsnLRJcF+GQe8k1KjRQMCh4cZFKRXT5fZaOD9m+s2QJL8Ems6VFOiK8mrC8sUKnvBmh5TyZ1Ya0tblTj+CYk7rzSH4BWIfnD5IgCiPNMWq6ZeCwK3cq6S68aSKlQ+ALP+XQReVBLNwM9YTWUQmACDj3K7nx82B0fHD8Q09uW0WUAteC6josmXrUi2izSA6KBcdMH83IQ6RboWdjBbBcT/HHhKdPgVoboG9Q8rep7ebOR6jKDHQGyIVkVqAsnILKlyzXoUJHKlk9g+A06svd7CmIHI8UgLckxa7paP9LsSq+KZh1+SzBlHmvBKthqbb3IFS10TLFeXBLvKNVRZCgwCaGMolmMyyL1CC+bz2EcqsFP3z8JHUpdEXKMRe+sEjJztCQdKsjU9NEp3+SW0FlsmRq7cJutwtv3741G/TdZJQXGOcoFdyau87E93pnZ70UMzbROz9/xvzZ0mZU64SRslVajLKfUPcFNcQfT0ank8He6cHn4b24VNYkUXJyX9tkOo+uyRhAw8XUrxQ6k1iIZCEWa2S9AiB5Axayeh+9t5sBLc04netLlNA29DGpVUwx4YYLdWjs3Nb2UCvKmV1tyZC0TO7knrhAJlFkCWxRbU//vb1/dtPSdKglWSKZJJOvmR96E+pi1TohMXCZSHkOVQAxiQUTGtnf6xB4Z7q0fa9z5SeZH9kN2VY01wOFVwthDwJ/6kydyV4Q5d5kGDhphsXi97je5WScRQnmT5MCzRuMvpq3pUAS3+NrY1O9l5mFMjhqFOBf13OUD3MNfY3aVR098k7WHcUe1q5TbKtBKB5aE97CWytIp8ElBqiQQsrx4GjYUo3UNQ6nWeUWmhw4taDGok2DpWA83IhsUFnWeLh3crw/huegdSGbTWVJOIWSnEC94oRS1E3y3iqKya+8acUU4ohCbYIdZAwkV5WRW22+tAsRyHYwO1zJRFDMxA+yyHTiWDgJg6AqNW40im+xPPi6arXgz9CsFkjJSGmo6JYGQlDvSvZjzUp32Oy0DRabotJS8c0oWxzciqgLSzqMxO13uUGHLygFXB55YsekGRjKyR5LKbD/pS7k+yoOUl/RFr/Bzt14J9fMOORRQqeoVJ7UQSpV41vu01xcztJ2OQb2ITdOeYNpRQT11gJ9cdTpbm1xKflyI8WC1JGjtIR6kwrHo8p7/0pt9r5yeswM8w7KAtM8Cjx20zM0Xpmac12pEhm5WWvFB1Z4m803DKfxR9YPZZrE7CsZpbqOc+SYoy25ikTF8kLiiwjtqy7wPEeOEHPJ+PD3irivnCDH6iOFT58O9jWpI7Q8nlgPzecTNWhlu7RErUuCHGPUUQiaNLMox7zRbPCphupIFWIxf6UJWFQQrlstZpvlhDtaR6M1pkkUTE0heIp9mNYv+majOrUxORw++jt0fn3cIR/U2KHguICbGfLSw0oHhsf7cMOt3Uc8JjtJq3QUPaEaJSyPlLqiCJcU+QRGPp0CXQmKljmT/yQF+b8nZk4eZGkrjHiZLuzIFrrkdn0/ZkOa0rt3Gnv1atJzxCLirgLmpkUuqPXL66SxxfA+4oiyBBKQDqKxgKHAzkoSUGNWSTc1wdxZqyrANQ9XTZALoDmvMvB2tVluKF9Rb/9SSN3WvMa6FjE17/WO1Eon6P5WRrGkKifXrSSrclygiqzqFAnDoJ/OjZWzofuORficwmA+yZ/fev5bO5Mq2gh/6fl/t/t6d2f1/P/1i835/1/ynH0K/ezc2Bepm/hxRgcbh4dHQDU3lHrBdYPqWLdUk7IFlUE2jZ8ddGr9UGRUI9tRSGlYGxl7ITJjMMtEcs+3x3AScmcxxKz/7qUDcrEp2XaEUNwfx2wRva7rhNQ1Waouo8fpP3VDl0x02zDOxlKVz41TilmIH4uqzBiJBZooUzSkY9KlSI0h1kpJFNJdhg8YVfsdkbkdtIuObDyEV8bwd+GOqd3W7+Rp0uEo2sF0roSqUY2b2pftZuoayXpomvuUK2TOpYCFH+aZwPTegXmOQZ/ahdz2ojg+pXyQtkO7aRun/kJEecaLj4Xb333V7eLmVCPknPkuvO+X/QV6VN+m+xsFa7/d/q/wj/+Q6X+L/W/v3rn/s/Pq9cb+/1v2f0UOoLznQ6US6bJVtboLnWmiOXEzOO2vtKGlydcHYW2oQWNRacAlljeU2S78NKVcmCP9LIkW0iZoiGZzAC2IQu8gAmU9VKaxH/DR/gvCjjjb+hAl/c4izDqyiMA1f078LBMhTJeMbuYniIGRUiOeW85zWpGb7ClMBVmkWpmzbL5mge7B2ItCzye+fXSy+ZDG0sqDsGWRB9H80T/hbj4mom+zy6E7Wuo0Sd4jKGTwsG8iCDpFkF7JtM0etUiEm9pugDyjk2QSNkKk1IHzPSmlBD2rpc1FNkQoG5/8MIwPfjgdjo64eCnJqA5C2oqiKL5LOqGhZHC3W9E/kgcZfSe4dpZp8Uq+brt71/39yd5v82hS/o+t8RX//2r7xesV/7/96vXLjf//L97/1I3/m29+1i9+olvTrk0OT/f42qRduLuH70namrvGUu4xpHMRBFyFQRrliYt+s+hQGm2qseRqpcc1jR6O3nwmvAdHfPuv+l3GGA4vd+be6pMlUR8Hpz8qDNXA19EsnJgaNeTz0C2l1AGvQdGgaRR1olxwNPjSs7u3fHqkF4wC3WpxowAlQ+eBCzpep15x6YbxXWR9zt5t24/d4udFnGNsDQL4hcty20b6bCatosiJfftSLJl7BdxVrSDvKYn0ksjUMGXJUjYCmASzUTHaVDFVjVWso0L/hnZ/9n/nyCfqV4WImq6ZFkyYHCP0WDG9fP8azw3aqY4FKxcdCb1+FUd5U7acpm7K2ph+0+fMna9+P937kQB28fs9Vz8J/zfd+jQw/k5cylxUl11JnTWgiM/xMptH4S4dc20Z/oI7tDhOc9s+5nSW43mYAKV908mzyGxRE+UCNz0J6Ipd3xyORicjOTzJItXa6H9wglQ0DSeg46k+nMmrVSFlDYSYZYRE0e3CM3NAUOb5ucEbtQIRWjyx2QJ6T/OFhVAY0dlgU/O8jZHZMlEEuG63WaGWs5rNLVrE5p3rRxB88oCpw4Q4+E+yJEpbkPoXITXV6S6F4YkZOikPd9GTTTrq39FWz9WrOkeK0naAyRwqhmV24iRyTTWBHtT46oUeVOUrRBLFyAMJ3jHhOWJ6DmbHXchjiRaYydRstqkRaDXbaRygmKbmL12zWSITv7sizuBkPKQboPVFKMfC2lGUgyiGuO2nnn/B92ao3CTGx03yHbgBZDduVX2ZmmyLJjOcyKVBJ1xaCBhj7trGGCDIm1hOk/qdU5PYbTJHnGLSWW/nvFmnihnYppOT0LPk8k3tEo38bhAWlEMLLhJHnp9alpRLWyWULUwLUXO00Z8ODg9b8LJZSiohydFcXYBr5YF7uvSDwEJAlv+3MTh2UnlnSrBKkL606Q/k4HNJuLzfwYd1kgbmog74liZrlNEnPrqxuu2XqOGkyNJXazdTWeX7xvpjs+LEzJAHZRK2YZVOQp2ToUPl1yfwDIOHfUFel+2Veu81iMfPoIQgd1kdq6lAVJ2rMYx2rrbaZR+h2cnrqXTML9HTfUdkS3otktstsJgGOuNPUbp8uC/JgoYMSlQqQuOmOGV7o9rSHulP4hP58iJ3eZW7uGqmzsOUNzYNPg4r/QQ8Rq1VZWIgZnSpCCs6jyo+B0g3kBAKo9d8w5SOcri8kyfPoXwhoo1yn3SG0JDOSd/UG1kkUjxRlXPhkExD91Jfj7mFH2PyvylwwlNDbrHfeKQuj5cMeMO7lAfGdDNb96hvFC9f7G4B2R4cHJ8aBoVFDMFdQyo4T7e792FghVkVAhIEshJvPNKuqjyIiuCm6BMvi2t9q/qtnycUJBZHwA/rfM1jloIMKCdygAB76yRaU9M3bLFxId7ynxUUxzOKIrRY+QsNdls5QKJPDkraduUh2HqiyiNoNhxQE9l/pOx9IYmu7yFG2kMh+ILf9zJbCUWZE5sNn/6y3KpZ5SEv08i6rc5O5RF65mRov3z4SmSof/JhWYlL4aML7zF97SGKZtPclOObZ/Nsns2zeTbP5tk8m2fzbJ7Ns3k2z+bZPJtn82yezbN5Ns9f+fwDApKrewBQAAA=
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

umask 022
mkdir -p "$state_dir" "$etc_dir" "$lib_dir" "$systemd_dir"
exec 9>"$state_dir/host-setup.lock"
flock -w "$lock_wait_s" 9 || die "another host-setup run held $state_dir/host-setup.lock for ${lock_wait_s}s"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/files"
base64 -d <<<"$archive" | tar -xzf - -C "$work/files" || die "cannot unpack the host files"
changed=0
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
