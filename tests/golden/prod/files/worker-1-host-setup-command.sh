#!/bin/bash
export LLM_MODEL_ROOT=/mnt/models
export LLM_STATE_DIR=/var/lib/llm
export LLM_ETC_DIR=/etc/llm
export LLM_LIB_DIR=/usr/local/lib/llm
export LLM_SYSTEMD_DIR=/etc/systemd/system
export LLM_FILES_HASH=1b2df0e1c5bccc9c
export LLM_HOST_ENV='LLM_MODEL_ROOT=/mnt/models
LLM_STATE_DIR=/var/lib/llm
LLM_ETC_DIR=/etc/llm
LLM_LIB_DIR=/usr/local/lib/llm
LLM_MODEL_DISK_SERIAL=worker-1-model-disk-id
LLM_DEV_DIR=/dev
LLM_SYS_DIR=/sys
LLM_FS_TYPE=ext4
LLM_FSTAB=/etc/fstab
LLM_DISK_WAIT_S=900
LLM_POLL_S=2
LLM_ERDMA=1
LLM_ERDMA_INSTALLER_URL=http://mirrors.cloud.aliyuncs.com/erdma/env_setup.sh
LLM_ERDMA_INSTALLER_SHA256=
LLM_FABRIC_MANAGER=1
LLM_FM_PACKAGE=nvidia-fabric-manager
LLM_DOCKER_REPO_URL=http://mirrors.cloud.aliyuncs.com/docker-ce/linux/centos/docker-ce.repo'
export LLM_UNITS='llm-vllm.service llm-ray.service'
export LLM_BOOTSTRAP_WAIT_S=3600
export LLM_POLL_S=10
export LLM_LOCK_WAIT_S=600
export LLM_FILES_TGZ_B64=H4sIAAAAAAACA+08e3PbtpP9m59iwyi11JqSbOcxJ0fJqbbS6urYGdlpJ5e6GoqELP5MkSwfdj2p77Pf7gIgQUl+tJc2dzdm20QEFovFvrEAO4+z3JnGcZ7lqZu0s/lXn//p4vP86VP+G5+lv7eev9gp22T71s7WVvcr6H71DzxFlrspTp8iD26Du6v//+jz+FFnGkSdqZvNrcdQZCL13dztzJfVAuIZhOHCCaKZSEXkiU3w4sVCRHkGCBMkifCtTOTgDEURQxIkYuYGoWUhe3Mx8YO03/h0cPB2cnwyOBlO9kfj3uvaKwQZpOK3IkiFf42Y0sAN1ZC3R/vDA4Q5/nFyPByPBgdy6EqziQKa+VyAH2TnMNqHyyCfx0UOvtO6tnxxYdCzP/ypoka9LNFylZn0fzg2qJcvdfhF7ItwQvpSo398dHRiEk7v9YGzbJJfJUKNenM8OfnwbiiHqJdl+NydltAng+80LP6sQxIfJpdukE8yvWxi28+D0cnkWC29aqiPTeIwLIe9Ozo40CPk7zowqs/CVbDD8f7bgQTln3XxdCFOYQvFMXOnaeBNFm7kngnN5TeD78ajvcnbweHg+6Fidr3tJmyLSeJ654hKY0JCB3s/4hCFpXxfYlHsnYt0kook1iw62vtxOJ6Mh++OJu/HSumWGus4UNlF0ieHklthfNZswSdI0iDKZ7DxJGP7KW2qB0+yX6INsBtNtDgBTgHfPnlz8uTkP1s2Nn5j78K1FUcTkaZxSpgsgDD23BBSr9/YgjCIcInb2Kpn4MlxGvF7kNPfDKEnoU7Cm3r0J3XZ8IqalXV2KmMnuxW+zfOdgf1mMDoY7oObA+GADUa1AU2aBhDfJk8EjBNJf/U10cSdPJtFEg5CtYJlWlPhZnG0QuU3/zPiesAYKkq2kAprcY6owEnAwGxbwQw+giNg/XR+TIw63QX0JpGe1A2RbP8KqBOaN45r2Xr6rjULrHQBzgxuXxW9wIaWOjReQ+NgdDg8PNqA4XhsWUGEo9Ec/TS4EFormJfRReAHriM7sBGXpZqyRQCvOuj0OlERhrD96uutcjlqQYc/jfZHA5CDUUYiQ79uc38q8iIlUFyBglZEBNEZoYHaYBrkRzNQMOBcgRvFYZA5InFjJxUhClysAtloe5EIHSQT/2w0i8hdoE2kqFC1ldXfHK/wXUSGHjdJ46lQvbjGar1//AF5WghSAAxPRTKp+xuTh7LHUT2lveFEWRBHMHcviHL12m80DQY7zm+FSK+cs6ToS9omepjjzOJ04eZ9L7vYjOI5qg6u4w+gH+BE6LWQRuY1aQHYBlbPjaI4B/JJac7MVlxQuInbRBXSkiaoXr8RHeRrPv00HB+Pjg6vyagql2ibnKFp5WjblgrzEYGpwYZHffypJzHUf1UDDOyOHgFNRaZuaEldWpb5urE2USUZQeBeXIQ+EBP0wLUTIodhaU455efiDmt/xZ86eyqSDWwUGRqfCLznGPRjmNg0JUlQClOP2q9ggRkpoL54c5oYk49cLLw8BBG50xBtArFdajOQGqsUto1J00XgidootDzXy3EqVtEAE7Tbhq7VxPWQSDgtSyFv/itGN+GGNCVGsnUjW5XT5mZ4K9uBeQppEUWoUBQvLG8uvPO7nJzDUNh1s58zdElxWwsBpkVuDiSoDJou2hp5ZeT/FZA/EcIXfouJKn0vJwomWbJF2tAjTovdCE37AmTHXd7XsKZ9OWBvuNZg8NVJwuIsiLQjJTa4vpvkOMhxyE+Ai4iK33cIMCuReHE0C860Z0NQ1/cluN0wEp/1s3K/gyIvfzleGBDO3MWYn/rtINYmcoO6ypGlghrcLLFM8jgOz4N8jbxLGEfBSFYbjNaA+fk9Q12JEhTKvxj1VvCsCYC3rMKgG/U/DzDmSVEVKbFOtVUKVrEXqaU0cw1nZZTjRNzkJTeUMa1IQzNLn4wOcdNwcICZbZnprumo5dyXyFcoAftb1yXybO7egPz4h8H2s+evb+6S3g8tj7aSTbFI8qse+xk2djTFahYUf4JRtaG2Zx1MAopQdHidncRNMYFAs8g6Em5CuzK4jNNzFM0s1gHvkUr91uBQjr1m0MEUt47igjDcomg0CwadxTnKKgHHb621ddIiwfsibPLOeY8KDRQMCl6cZVIRPX6fZccHbN95egXPwCGzpUk6IrqYsLxxh055M0LLcTKrjWhpc7cewTEn9eax7AFYh+cPkiAKIyswanpl4HAqdyrp1t40ldIh8EWQceii7UEivBz1hOZRCYAIOfcrufHzYHw4Ovy+J5etIorGtaB9HW6ZelSLaLNIRnrCY6aPRhQR0q3Qs7ECND1f8ceGr78GKm2AuUDJ35axmpVOqLYZ6AyQC+lMo9ROQeVLTc+ljY5UsnoGwWnUh9XsKYxdnxSAlyTFbuho/4OeFd8UzLp8lmDKvFeC1bBUy7sVqlpomeLcuiRe0bIiSFBgE0OZxLMZbotUI75v3IZyYxO+f/de6lLkiYxjLnxgkZKdoSGZVkemZojO7JJLQWVqytTag51uF16+fGk3qN9mlGcY5ygV3Jh77iTwex8/9jLM2ETv9PQb5s+GMaKaJ4qVrdJklP1Epi+oIX53ND6ZDPZORj8Nb8SlsiaJkpP72iKzeXxJxgAGLqZ+aaMzSYRIF2KxRtZLAJI30ERW76P39nKgqRmne3mOEtqCPia1iik2fOKNOjS2r2trqG3KmV1tyZCsTO7kmniDTKLIU9igvT398/Lm0a2moUObkiWSSTL5mgWRP6EqVq0SkgBvEynPoR1AQmLBhEbW9zoE3pleOYHfuQjSPIidhiwr2uuBoouFcAZhMHWn7mQvjAt/MgzdLMfN4nc43/nkOI9TzJ8mGs0uRl/D21IgSW7wtYmt3svMQhkcFQrwr8s5yoe5hr5GraqOHnkn9x16DWvn0ctqEIrb5oSX8LIZZtPwHANURCHlcPB2uKkKqWscTqvKLQw5cGpBhUWHGkvB+LgQWaBqNo+He0eH+8fwLRhVyFZLWRIOoSQnVK84oBR1i7y3imKylxetmEIcUahtcMKcgeSsMnKrxZd2IUJZDmaHK5kIipnYITeZbpIIN2UQVKXGJ4Pia9we3K1am/A5NGsTpGSkNFR0y0IhqHYl67F2pTtsdsYC9aJoa6n4ZpUlDi5F1IUlHUbq9btcoMMXlAJOjzxxEtIMDOVkj6UU2P9SFfJ1FQepruiI32B7Nd7JOXMOeZTQKSqVJ3WRSlX4luu0F+ezrF22gXPAhVNeYFYRQbW10Jwcdbpbm1xKvlyInpAqcpSWUG1S4XhUee9fqczeV06PmWGvoNSY5nHos5ueofHK1Jz3lSqRkYttLvnACm+rtctwBn/k/qFMk5h9JaNU1XGOHHONKZeRqFiuJb6I0b7qAi8K5Agxl4wPfy+J+8INC9x9ZPD+/WjfkDpCy+OJ9dB8PlGDVrZLU9SqJMgxRh1HYEgzjwvMG+0Gn2qoipQWi/0rDcBNBeG6NmK2XQ5Y0TpqrTFNomBqtOAp9mFav+jbjerUxuZw+Oi/oPPr4w75oMY2BccFfJohL33c6cDwcB8+cWn3EbfJStIyHbomVKOE5ZFRVRThUp1PYOQzKTCVQJfMmfwnGch/fTFzizDPNqOYp+nCtiyhS27X12M3pCm9emWw19xN+q5YxFxVwNxU54JGvbxOGlsMryOJKUsgAZkgBgsYCpy8JAE1Zpl02xDMylzVBtzwcNUAOQGa8zIDr5eL5ZbyFfXyL4XULcNrrCsRU/HerEgtVYJuLmXoKdV2ct1McleOE1SRVZ0iYRgMsrm1dDZ007EIn1NYzCf5877nv7UzKV1G+EfP/7vdFzvby+f/L54+nP//I8/H91GQn1r7IvPSIMnpYOPg4C3QnhtKveB9g6pYb6oi5SZUBtmyfnbRqfUjkdMe2YkjSsPayNgzkVuDWS7SG/oew1HElcUIs/7VSwfkYjOy7RihuD6O2SJ6Xc+NqGpypaqMPqf/VA29YqLblvXxWKryqXVCMQvx46Yqt8ZigSbKFA3pmPRKZNYQ90ppHNFdhjcYVfsdkXsdtIuOLDxEF9bwd+EdU7mt3ymytMNRtIPpXAlVoxoXtS/LzVQ1kvuhaRFQrpC75wIWQVTkAtN7F+YFBn0qF3LZi+L4lPJBWg6tpm2dBAsRFzlPfiy8/s7zbhcXpwohp8x34X931V+gRw0cur+hWXt/+0/dq7/J8u9l/1vbT3eW7H/72dbTB/v/QvY/RruKqJRDRiX1il8vyDE0q4q3Up1deZKJsGTfdH6M/5U2RLqFJtRCy+O6cdZfqlhL71BvhLVRqUTxllOoN3Ha7yyivCN3Bmh1P6dBnosIplfsKWZBikaFBDiyVJ4WEdeS55Rpc1MGU0GmxuAYgSl95vsTaPfWXhz5ATHknZvPh9SW9ZeXhZMO9LJpm0iYiWvktZgryoGhH+DSOc9KNaqIzBvOqAhUJG2L7fsgWAT5CO05xZyajL1rurE/4aXepaLvsKeiq13qEEpeP1Ayu92jEcuQWeTKJFycrOLLsJUSu51uiXQs19d3w0v3KtOvtJKt7qon+8yO7OH5Sw/J7gL/+DsDwF3+f2fl/uf28xcP+d+X8v/s58t7nlQqI1+15PhJZz6LU38Maht4LkRClY1FkGXkR3mnN0vjhcyJqIlG7ypnzUShcxWhyp7I/yrn2/5roYKRftYwwZZFvvlvceSE/XZPfsGuWbryx2A7do9K5MLLHC9EntFNIhI2QmR0AhP4QjtzaBpj2dkjBOXhcDz6/mQ4fsvFq5KM6iC8ff+YwfQ/BI0v+lSx/u+b4w7/v/P0+XL+v/WQ/3/Z+/+VWtz/4n/93j96NePW/PBkj2/NO9rbXVvBlM47Vf/oO7p7j9107IRTBVEwxaz52kKisrkIQy7AQRYXqYcuUx9OWW0qr8mZdE5uWz1s/DQefJiM3vK17/JnGVs4rCwPvDZGjo8O1ED6df9xPwwH+5PROzlUvdw5mk5X+nI8Hfj2nOc7L/7t2vpXHETVpX3q/Y+j0aG+tO9Ixq00P+92r41L+xIpX9p3ni19m0B9xrcJzsrXCo4RNBHpTXfacSX3us1uoUb1mzqMFXQ1loKZw8edOu7gq8j7XH9ynCDx9M+zpMDsgG5UOUVIOyVYiAUlBn1nq6VucdO9D6lW5fEozfNtv2k7jj5gVAAYv+hSNvc6DgrCoSMVQ50izwtZnzT2SAv5EDlEQnaul6ehM+CfiIk/HB2fIEi/YcDXp7yolbp7isu9NLbpCkqUp1eyuE48sRulCtsyJUEYzor+BG22w9t45Cnd/sPcKFtHna5Za9WnsjXvZJfuwDMV+hoTVQxkESCSR/cN+lNefxcekYYkfPz302taGwMiMVLrGRBbfXRA09hNfYfk3e+2+R+qjNc9AGaFVPHrH+9td7eew2NobHUa23REyZvsiOkJIkpT2afRbJMiYbXNZTYBz+SdIMeDjR68stmb5F7SYVT2BkzU+pX92nzomtbvrZA+rz/lNsy21bLcnC6BYU64ZclzbkWQOsdW3K4Oss9E/SB7+VirZLVJYY/pq06xo+xSGKfYBkV8iq1pkoe9GQpengT5dFMgDQRaNdpwqr+gKL+hqN980lhqBxuSSF0KKRLI4xUCKEevac3qUuxddZ105cy75CfyvFzHt7CFrObj8DuZJJmT7bKc+Lh0RUdtp24hddL+f6WWRpb/pfK/51tPXyznf89fPHvI/75g/mdu/v6uBPC27yRrmcefSQL1jlvlZByMVRpY/b4hI9Njr83Bkqh3g5MfFIaq4W40CzfhrAL3vLgtzegGXA2KGu0y5soJ0eP0nO413x41D4zZTd2SPPE2/M7s6Rd26GsTHjcJnHMhc2gNd0uWUmEqcxUmwW5UjLZVTUW1VayjmPqJVs8el8M8JSeUsWomcGJyrJhevt/Fc4tWamL5/t17Ewm93omjTLrLYWZ2jd25N1/uP9n7gQB2sP+GNJnw3zNPdq8mHlWu1C07JXXWAJ0nJ1f5PI52OIuxggXHNirC07YCA1ve1CHMdos8tjcpMp/hoichfWLXt4fj8dFYNk/yWF1t6L9xw0xg1hLSyUQfPspPqyJKrAgxywiJoq8LP9oDgrJPTy1eaDMUUZMHtjaB3rNi0USosZAGm9mn7TORN20UAc7bbVWo5ahWa4NPa3jlZq7FNw/zOJkQB/8kS+JsE7LgLKJLdZT/YdI2Qyfl4yp68pIO3d+hpZ6qV3WPNM7aYZDlqBhNu4OJkmerAfSgxlcv9KAqXyCSOEEeSPCOjWlJgv/ZHW8hs7lNsNOp3WrTRaBmq50lIYppav/StVslMvG7J5Icjo6H9AVofRKqsQVRIcpGFEPSDjI/OOPvZmQGnDeTFvkOXACyG5eqeqY226LNDCdyqdGNrpoImLj5vI0xQJA3abotuu80tYndNnPE1YM+9rZPW3WqmIFtujkZ+U05fcv4iEb2W4QF5bAJZ6kr7083m1IubVVQ3ISdLmqO0frj6OBgE561SkmlJDkaawpwrTxwTedBGDYRkOV/PwYnbia/mRKsEqQvbfoDOfitJFx+38GXdSUNzEUT8CUNNiijLk5jm932M9RwUmTpq40vU1nl+zdsKMq9hNxASNhGs3QS6p4sOlR+fQLfXOuNBNsr3b2rQTz+BkoIcpfVtdq/tB2Rn6fSNX+Jnr53VGn29QY0mQa645+hdPlyvyQLGjIo0VEB7hH09mBlM3LTNkTvDZQ3tmX+X/oJ3Bq6+pggFDP6qAh3Qz5V/F0g3UBCKIxe8hemdJWTNyVqjyBfiGhjR0FXVaVzMhe1C+VeWJ2caIdkW6aXujvmaj/G5N8rcMLXllxiv/FIfTxeMmCXVykvjNOX2fXdq+Tl050NINuD0eGJZVFYxBDctaSC83CnexMGVphlISBBIE9iGo+MT1VuRUVwU/SJ5/qzvmX9Nu8TahL1FfDbdb7mMUtBhpQTuXzHobdOojU13WWLTbR4y/+tgL6eqShCi5W/1GZU0ycbJW078hLseqKWNu9qIPuPjL0vpPHlDcRIe9CC1/y+kdlKKMqc2Gz49jfLrRpVXvJmGlm31d1peYU+d3O0X758TWSo/+VDs5l6FD668BrT1x6iaLXsh+OYh+fheXgenofn4fnf9Pw3KcXOJABQAAA=
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
