#!/bin/bash
# userdata/host-bootstrap.sh of llm-inference, comments stripped
set -Eeuo pipefail

state_dir=${LLM_STATE_DIR:?LLM_STATE_DIR is required}
serial=${LLM_MODEL_DISK_SERIAL:?LLM_MODEL_DISK_SERIAL is required (the disk ID without d-)}
dev_dir=${LLM_DEV_DIR:?LLM_DEV_DIR is required}
sys_dir=${LLM_SYS_DIR:?LLM_SYS_DIR is required}
model_root=${LLM_MODEL_ROOT:?LLM_MODEL_ROOT is required}
fs_type=${LLM_FS_TYPE:?LLM_FS_TYPE is required}
fstab=${LLM_FSTAB:?LLM_FSTAB is required}
disk_wait_s=${LLM_DISK_WAIT_S:?LLM_DISK_WAIT_S is required}
poll_s=${LLM_POLL_S:?LLM_POLL_S is required}
erdma=${LLM_ERDMA:?LLM_ERDMA is required (0 or 1)}
fabric_manager=${LLM_FABRIC_MANAGER:?LLM_FABRIC_MANAGER is required (0 or 1)}
fm_package=${LLM_FM_PACKAGE:?LLM_FM_PACKAGE is required}
docker_repo=${LLM_DOCKER_REPO_URL:?LLM_DOCKER_REPO_URL is required}

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
}

setup_fabric_manager() {
  step=fabric-manager
  local version have
  version=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -n 1) ||
    fail "nvidia-smi cannot report the driver version"
  have=$(rpm -q --qf '%{VERSION}' "$fm_package" 2>/dev/null) || have=""
  if [ "$have" != "$version" ]; then
    log "installing $fm_package-$version (driver $version)"
    dnf install -y "$fm_package-$version" || fail "dnf could not install $fm_package-$version for driver $version"
    have=$(rpm -q --qf '%{VERSION}' "$fm_package" 2>/dev/null) || have=""
  fi
  [ "$have" = "$version" ] || fail "$fm_package is ${have:-not installed}, the driver is $version: they must match"
  systemctl enable --now nvidia-fabricmanager.service
  systemctl is-active --quiet nvidia-fabricmanager.service ||
    fail "nvidia-fabricmanager.service is not active (journalctl -u nvidia-fabricmanager)"
  log "Fabric Manager $have running"
}

check_driver() {
  step=nvidia-driver-check
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

setup_erdma() {
  step=erdma
  local url=${LLM_ERDMA_INSTALLER_URL:?LLM_ERDMA_INSTALLER_URL is required when LLM_ERDMA=1}
  local sha=${LLM_ERDMA_INSTALLER_SHA256?LLM_ERDMA_INSTALLER_SHA256 must be set (empty: not checked)}
  local compat=$sys_dir/module/erdma/parameters/compat_mode work info
  if [ ! -e "$sys_dir/module/erdma" ] || ! command -v ibv_devinfo >/dev/null 2>&1; then
    work=$(mktemp -d)
    log "installing the eRDMA stack with $url --egs"
    curl -fsSL --retry 5 -o "$work/env_setup.sh" "$url"
    if [ -n "$sha" ]; then
      echo "$sha  $work/env_setup.sh" | sha256sum -c --quiet - || fail "eRDMA installer checksum mismatch (expected $sha)"
    else
      log "WARNING: $url is not checksummed (llm:host.erdmaInstallerSha256 is unset)"
    fi
    (cd "$work" && bash env_setup.sh --egs) || fail "env_setup.sh --egs failed"
    rm -rf "$work"
  fi
  if [ "$(cat "$compat" 2>/dev/null)" != Y ]; then
    log "loading erdma with compat_mode=Y"
    rmmod erdma 2>/dev/null || true
    modprobe erdma compat_mode=Y || fail "modprobe erdma compat_mode=Y failed"
  fi
  [ "$(cat "$compat" 2>/dev/null)" = Y ] || fail "eRDMA compat mode is off ($compat is '$(cat "$compat" 2>/dev/null)', GPU instances need Y)"
  info=$(ibv_devinfo 2>&1) || fail "ibv_devinfo failed: $(head -c 300 <<<"$info")"
  grep -q 'hca_id:[[:space:]]*erdma' <<<"$info" || fail "no eRDMA device in ibv_devinfo"
  grep -q 'PORT_ACTIVE' <<<"$info" || fail "no active eRDMA port (ibv_devinfo shows no PORT_ACTIVE)"
  modprobe nvidia_peermem || fail "modprobe nvidia_peermem failed (GPUDirect RDMA)"
  awk '$1 == "hca_id:" {print $2}' <<<"$info" >"$state_dir/erdma.devices"
  log "eRDMA ready: $(tr '\n' ' ' <"$state_dir/erdma.devices")(compat mode, port active)"
}

find_disk() {
  local p name s
  for p in "$dev_dir/disk/by-id/virtio-$serial" "$dev_dir/disk/by-id/nvme-Alibaba_Cloud_Elastic_Block_Storage_$serial"; do
    if [ -e "$p" ]; then
      echo "$p"
      return
    fi
  done
  while read -r name s; do
    if [ "$s" = "$serial" ]; then
      echo "$dev_dir/$name"
      return
    fi
  done < <(lsblk -dn -o NAME,SERIAL 2>/dev/null || true)
}

setup_disk() {
  step=wait-disk
  local deadline=$((SECONDS + disk_wait_s)) device
  until device=$(find_disk) && [ -n "$device" ]; do
    [ "$SECONDS" -lt "$deadline" ] ||
      fail "model disk with serial $serial did not appear within ${disk_wait_s}s ($dev_dir/disk/by-id/virtio-$serial, $dev_dir/disk/by-id/nvme-Alibaba_Cloud_Elastic_Block_Storage_$serial, lsblk SERIAL)"
    sleep "$poll_s"
  done
  log "model disk $serial is $device"

  step=format-disk
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
    systemctl daemon-reload
  fi
  mkdir -p "$model_root"
  if ! mountpoint -q "$model_root"; then
    mount -t "$type" -o defaults,nofail "UUID=$uuid" "$model_root"
  fi
  log "model disk UUID=$uuid mounted at $model_root"
}

install_driver
if [ "$fabric_manager" = 1 ]; then
  setup_fabric_manager
fi
check_driver
install_docker
install_container_toolkit
if [ "$erdma" = 1 ]; then
  setup_erdma
fi
setup_disk

step=finish
date -u +%FT%TZ >"$state_dir/bootstrap.done"
log "done"
