#!/bin/bash
# Host installer (runs once at first boot): writes the bootstrap and serving units,
# then starts the bootstrap unit, which resumes after a reboot until it has finished.
set -euo pipefail
export LLM_MODEL_ROOT=/mnt/models
export LLM_STATE_DIR=/var/lib/llm
export LLM_ETC_DIR=/etc/llm
export LLM_LIB_DIR=/usr/local/lib/llm
export LLM_MODEL_DISK_DEVICE=/dev/disk/by-id/virtio-node-model-disk-id
export LLM_DISK_WAIT_S=900
export LLM_FS_TYPE=ext4
export LLM_ERDMA=0
export LLM_ERDMA_INSTALLER_URL=http://mirrors.cloud.aliyuncs.com/erdma/erdma_installer-latest.tar.gz
: "${LLM_LIB_DIR:=/usr/local/lib/llm}"
: "${LLM_ETC_DIR:=/etc/llm}"
: "${LLM_STATE_DIR:=/var/lib/llm}"
: "${LLM_SYSTEMD_DIR:=/etc/systemd/system}"
umask 022
mkdir -p "$LLM_LIB_DIR" "$LLM_ETC_DIR" "$LLM_STATE_DIR" "$LLM_SYSTEMD_DIR"
cat > "$LLM_ETC_DIR/host.env" <<'LLM_EOF'
LLM_MODEL_ROOT=/mnt/models
LLM_STATE_DIR=/var/lib/llm
LLM_ETC_DIR=/etc/llm
LLM_LIB_DIR=/usr/local/lib/llm
LLM_MODEL_DISK_DEVICE=/dev/disk/by-id/virtio-node-model-disk-id
LLM_DISK_WAIT_S=900
LLM_FS_TYPE=ext4
LLM_ERDMA=0
LLM_ERDMA_INSTALLER_URL=http://mirrors.cloud.aliyuncs.com/erdma/erdma_installer-latest.tar.gz
LLM_EOF
chmod 0644 "$LLM_ETC_DIR/host.env"
cat > "$LLM_LIB_DIR/host-bootstrap.sh" <<'LLM_EOF'
#!/bin/bash
# Host bootstrap, run by llm-bootstrap.service (EnvironmentFile=/etc/llm/host.env) until it has
# finished once: GPU driver, Docker, NVIDIA container toolkit, optional eRDMA stack, model disk.
# Idempotent: every step checks before it acts, so a run interrupted by a reboot resumes.
# On failure it writes $LLM_STATE_DIR/bootstrap.failed naming the step; the other phases read it.
set -Eeuo pipefail

state_dir=${LLM_STATE_DIR:-/var/lib/llm}
device=${LLM_MODEL_DISK_DEVICE:?LLM_MODEL_DISK_DEVICE is required}
model_root=${LLM_MODEL_ROOT:-/mnt/models}
fs_type=${LLM_FS_TYPE:-ext4}
fstab=${LLM_FSTAB:-/etc/fstab}
disk_wait_s=${LLM_DISK_WAIT_S:-300}
poll_s=${LLM_POLL_S:-2}
erdma=${LLM_ERDMA:-0}
ib_sysfs=${LLM_IB_SYSFS:-/sys/class/infiniband}
docker_repo=${LLM_DOCKER_REPO_URL:-http://mirrors.cloud.aliyuncs.com/docker-ce/linux/centos/docker-ce.repo}

step=start
log() { printf '%s llm-bootstrap: %s\n' "$(date -u +%FT%TZ)" "$*"; }
on_error() {
  local rc=$1 line=$2
  printf 'step=%s exit=%s line=%s\n' "$step" "$rc" "$line" >"$state_dir/bootstrap.failed"
  log "FAILED at step '$step' (exit $rc, line $line)" >&2
  exit "$rc"
}
fail() {
  printf 'step=%s reason=%s\n' "$step" "$*" >"$state_dir/bootstrap.failed"
  log "FAILED at step '$step': $*" >&2
  exit 1
}

mkdir -p "$state_dir"
if [ -e "$state_dir/bootstrap.done" ]; then
  log "already done ($state_dir/bootstrap.done)"
  exit 0
fi
rm -f "$state_dir/bootstrap.failed"
trap 'on_error $? $LINENO' ERR

install_driver() {
  step=nvidia-driver
  if nvidia-smi >/dev/null 2>&1; then
    log "NVIDIA driver present"
    return
  fi
  log "installing the NVIDIA driver"
  dnf install -y anolis-epao-release
  dnf install -y "kernel-devel-$(uname -r)" nvidia-driver nvidia-driver-cuda
  modprobe nvidia 2>/dev/null || true
  nvidia-smi >/dev/null 2>&1 || fail "driver installed but nvidia-smi fails (a reboot may be needed)"
}

install_docker() {
  step=docker
  if ! command -v docker >/dev/null 2>&1; then
    log "installing Docker CE"
    dnf install -y dnf-plugin-releasever-adapter --repo alinux3-plus
    dnf config-manager --add-repo "$docker_repo"
    dnf install -y docker-ce docker-ce-cli containerd.io
  fi
  systemctl enable --now docker.service
}

install_container_toolkit() {
  step=nvidia-container-toolkit
  if command -v nvidia-ctk >/dev/null 2>&1; then
    log "NVIDIA container toolkit present"
    return
  fi
  log "installing the NVIDIA container toolkit"
  dnf install -y nvidia-container-toolkit
  nvidia-ctk runtime configure --runtime=docker
  systemctl restart docker.service
}

erdma_devices() {
  if command -v ibv_devices >/dev/null 2>&1; then
    ibv_devices 2>/dev/null | awk '$1 ~ /^erdma/ {print $1}'
  fi
  local d
  for d in "$ib_sysfs"/erdma_*; do
    [ -e "$d" ] && basename "$d"
  done
  return 0
}

# Cluster nodes only (LLM_ERDMA=1): NCCL over eRDMA needs the driver and verbs stack.
setup_erdma() {
  step=erdma
  local found
  found=$(erdma_devices | sort -u)
  if [ -z "$found" ]; then
    local url=${LLM_ERDMA_INSTALLER_URL:?LLM_ERDMA_INSTALLER_URL is required when LLM_ERDMA=1}
    local work
    work=$(mktemp -d)
    log "installing the eRDMA stack from $url"
    dnf install -y "kernel-devel-$(uname -r)" gcc-c++ dkms cmake
    curl -fsSL --retry 5 -o "$work/erdma.tar.gz" "$url"
    tar -xzf "$work/erdma.tar.gz" -C "$work"
    (cd "$(dirname "$(find "$work" -name install.sh -print -quit)")" && ./install.sh --batch)
    rm -rf "$work"
    found=$(erdma_devices | sort -u)
  fi
  [ -n "$found" ] || fail "no eRDMA device found (ibv_devices, $ib_sysfs/erdma_*)"
  printf '%s\n' "$found" >"$state_dir/erdma.devices"
  log "eRDMA devices: $(echo "$found" | tr '\n' ' ')"
}

setup_disk() {
  step=wait-disk
  local deadline=$((SECONDS + disk_wait_s))
  until [ -e "$device" ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "model disk $device did not appear within ${disk_wait_s}s"
    sleep "$poll_s"
  done

  step=format-disk
  # blkid exits 2 when it finds nothing on the device: the only case in which we format.
  local probe rc=0
  probe=$(blkid -p -o export "$device") || rc=$?
  if [ "$rc" -eq 2 ]; then
    log "formatting empty disk $device as $fs_type"
    "mkfs.$fs_type" -L llm-models "$device"
  elif [ "$rc" -ne 0 ]; then
    fail "blkid -p $device exited $rc"
  elif ! grep -q '^TYPE=' <<<"$probe"; then
    fail "$device holds no filesystem but is not empty ($(tr '\n' ' ' <<<"$probe")); not formatting it"
  else
    log "$device already has a filesystem; not formatting"
  fi

  step=mount-disk
  local uuid type
  uuid=$(blkid -p -o value -s UUID "$device")
  type=$(blkid -p -o value -s TYPE "$device")
  [ -n "$uuid" ] || fail "no UUID on $device"
  touch "$fstab"
  if grep -q "^UUID=${uuid}[[:space:]]" "$fstab"; then
    log "fstab already has UUID=$uuid"
  elif awk -v m="$model_root" '$1 !~ /^#/ && $2 == m {found=1} END {exit !found}' "$fstab"; then
    fail "$fstab already mounts another device at $model_root"
  else
    printf 'UUID=%s %s %s defaults,nofail 0 2\n' "$uuid" "$model_root" "$type" >>"$fstab"
    # So that systemd has a mount unit for it (llm-vllm.service: RequiresMountsFor).
    systemctl daemon-reload
  fi
  mkdir -p "$model_root"
  if ! mountpoint -q "$model_root"; then
    mount -t "$type" -o defaults,nofail "UUID=$uuid" "$model_root"
  fi
  log "model disk UUID=$uuid mounted at $model_root"
}

install_driver
install_docker
install_container_toolkit
if [ "$erdma" = 1 ]; then
  setup_erdma
fi
setup_disk

step=finish
date -u +%FT%TZ >"$state_dir/bootstrap.done"
log "done"
LLM_EOF
chmod 0755 "$LLM_LIB_DIR/host-bootstrap.sh"
cat > "$LLM_LIB_DIR/vllm-run.sh" <<'LLM_EOF'
#!/bin/bash
# ExecStart of llm-vllm.service: runs vLLM in the foreground so systemd supervises it.
# Settings come from files that serve.sh writes (root-only): vllm.env (image, model path),
# vllm.args (one argument per line) and api-key.env (VLLM_API_KEY, read by vLLM itself, so
# the key never appears on a command line).
# ecs-cluster (VLLM_RAY=1 in vllm.env): vLLM runs inside the head's Ray container (llm-ray);
# it waits for every node, then a watchdog ends it (exit 1, systemd restarts it) when Ray
# loses a node: multi-node vLLM keeps answering /health after a worker died (vllm #16259).
set -euo pipefail

etc_dir=${LLM_ETC_DIR:-/etc/llm}
model_root=${LLM_MODEL_ROOT:-/mnt/models}

# shellcheck source=/dev/null
. "$etc_dir/vllm.env"
: "${VLLM_IMAGE:?VLLM_IMAGE missing from $etc_dir/vllm.env}"
: "${VLLM_MODEL_PATH:?VLLM_MODEL_PATH missing from $etc_dir/vllm.env}"
mapfile -t args <"$etc_dir/vllm.args"

if [ "${VLLM_RAY:-0}" != 1 ]; then
  # --ipc=host gives the container the host's /dev/shm (what NCCL and vLLM's workers need);
  # Docker ignores --shm-size in that mode and Podman rejects the pair, so it is not passed.
  exec docker run --rm --name llm-vllm --net=host --ipc=host --gpus all \
    --env-file "$etc_dir/api-key.env" \
    -v "$model_root:/models:ro" \
    --entrypoint vllm "$VLLM_IMAGE" serve "$VLLM_MODEL_PATH" "${args[@]}"
fi

nodes=${VLLM_RAY_NODES:?VLLM_RAY_NODES missing from $etc_dir/vllm.env}
gpus=${VLLM_RAY_GPUS:?VLLM_RAY_GPUS missing from $etc_dir/vllm.env}
wait_s=${VLLM_RAY_WAIT_S:-600}
watch_s=${VLLM_RAY_WATCH_S:-30}
log() { printf '%s llm-vllm: %s\n' "$(date -u +%FT%TZ)" "$*"; }

# Prints "<alive nodes> <GPUs>" as Ray reports them; fails when Ray does not answer.
ray_count() {
  docker exec llm-ray python3 -c '
import ray
ray.init(address="auto", logging_level="ERROR", log_to_driver=False)
alive = [n for n in ray.nodes() if n["Alive"]]
print(len(alive), int(sum(n["Resources"].get("GPU", 0) for n in alive)))' ray-count 2>/dev/null
}

# Stops the vLLM server inside the container (killing the `docker exec` client would not).
stop_vllm() {
  docker exec llm-ray python3 -c '
import os, signal, time
def pids():
    found = []
    for p in os.listdir("/proc"):
        try:
            argv = open("/proc/" + p + "/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if p.isdigit() and int(p) != os.getpid() and b"serve" in argv and any(os.path.basename(a) == b"vllm" for a in argv[:2]):
            found.append(int(p))
    return found
for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 5)):
    for pid in pids():
        try:
            os.kill(pid, sig)
        except OSError:
            pass
    end = time.time() + grace
    while pids() and time.time() < end:
        time.sleep(0.5)' stop-vllm || true
}

count=
deadline=$((SECONDS + wait_s))
until count=$(ray_count) && [ "${count% *}" -ge "$nodes" ] && [ "${count#* }" -ge "$gpus" ]; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "Ray reports '${count:-no answer}' (nodes GPUs), need $nodes $gpus after ${wait_s}s; systemd retries" >&2
    exit 1
  fi
  sleep "$watch_s"
done
stop_vllm # a server left behind by a killed run would hold the port and the GPUs
log "Ray has $count (nodes GPUs); starting vLLM in llm-ray"
docker exec --env-file "$etc_dir/api-key.env" llm-ray vllm serve "$VLLM_MODEL_PATH" "${args[@]}" &
server=$!
trap 'stop_vllm; kill "$server" 2>/dev/null; exit 143' TERM INT

misses=0
while kill -0 "$server" 2>/dev/null; do
  sleep "$watch_s" &
  wait $! || true
  kill -0 "$server" 2>/dev/null || break
  if count=$(ray_count); then
    misses=0
    [ "${count% *}" -ge "$nodes" ] && continue
    log "Ray lost a node: $count (nodes GPUs), need $nodes; stopping vLLM" >&2
  else
    misses=$((misses + 1))
    [ "$misses" -ge 3 ] || continue
    log "Ray did not answer $misses times in a row; stopping vLLM" >&2
  fi
  stop_vllm
  kill "$server" 2>/dev/null || true
  exit 1
done
rc=0
wait "$server" || rc=$?
log "vLLM exited with status $rc" >&2
exit "$((rc == 0 ? 1 : rc))"
LLM_EOF
chmod 0755 "$LLM_LIB_DIR/vllm-run.sh"
cat > "$LLM_SYSTEMD_DIR/llm-bootstrap.service" <<'LLM_EOF'
[Unit]
Description=LLM host bootstrap (GPU driver, Docker, model disk)
Wants=network-online.target
After=network-online.target
# Once done, host-bootstrap.sh exits at once: the unit can stay enabled for every boot.

[Service]
Type=oneshot
RemainAfterExit=yes
EnvironmentFile=/etc/llm/host.env
ExecStart=/usr/local/lib/llm/host-bootstrap.sh
# Driver and eRDMA builds take minutes; a hung dnf must not block forever.
TimeoutStartSec=3600

[Install]
WantedBy=multi-user.target
LLM_EOF
chmod 0644 "$LLM_SYSTEMD_DIR/llm-bootstrap.service"
cat > "$LLM_SYSTEMD_DIR/llm-vllm.service" <<'LLM_EOF'
[Unit]
Description=vLLM inference server (container llm-vllm)
Requires=docker.service
After=docker.service llm-bootstrap.service
# nofail keeps a missing disk from blocking boot; the server itself must wait for it.
RequiresMountsFor=/mnt/models
# Written by the first serve run: nothing starts before the settings exist.
ConditionPathExists=/etc/llm/vllm.env

[Service]
EnvironmentFile=/etc/llm/host.env
ExecStartPre=-/usr/bin/docker rm -f llm-vllm
ExecStart=/usr/local/lib/llm/vllm-run.sh
# "-": in ecs-cluster vLLM runs inside llm-ray (vllm-run.sh stops it on SIGTERM); no llm-vllm container.
ExecStop=-/usr/bin/docker stop -t 30 llm-vllm
Restart=always
RestartSec=10
TimeoutStartSec=300

[Install]
WantedBy=multi-user.target
LLM_EOF
chmod 0644 "$LLM_SYSTEMD_DIR/llm-vllm.service"
systemctl daemon-reload
systemctl enable llm-vllm.service
systemctl enable --now --no-block llm-bootstrap.service
