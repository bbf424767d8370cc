"""A sandbox to run the host scripts in `userdata/` without a host.

Every path the scripts take (LLM_STATE_DIR, LLM_ETC_DIR, ...) points into a temp dir, and PATH
starts with a directory of stand-in commands written here: docker, systemctl, curl, ossutil,
nvidia-smi, nvidia-ctk, dnf, blkid, mkfs.ext4, mount, mountpoint, journalctl, uname, modprobe.
flock, sha256sum, python3, find and the other coreutils are the real ones.

Stand-ins record every call (argv quoted with printf %q, one line per call) in `calls.log` and keep their state in
files under `sb/`, so that tests can set faults before a run and inspect effects after it:
- `sb/pull_failures`: how many `docker pull` calls fail before one succeeds;
- `sb/never_healthy`: the fake vLLM never answers;
- `sb/unhealthy_polls`: how many /health calls fail before it answers (a model still loading);
- `sb/ossutil_die_after`: `ossutil cp` copies that many files, leaves the next one half-written
  and exits 1 (the knob is consumed, so the next call completes);
- `sb/dnf_fail`: package names for which `dnf install` fails;
- `sb/driver.installed`: `nvidia-smi` succeeds.
`systemctl restart <unit>` snapshots the installed vLLM settings into `sb/server/` (the fake
server); the fake server is unhealthy when its args hold `--max-model-len 999999`. `curl`
answers /health and /v1/chat/completions from that state, checking the bearer key it reads
from the `-H @file` header file.

Ray (ecs-cluster): `systemctl restart llm-ray.service` marks the Ray container running
(`sb/ray/active`) and copies ray.env/nccl.env into `sb/ray/`. `docker exec llm-ray ...` needs it
running and answers from `sb/ray/nodes`, one alive node per line, `<ip> <gpus> <model root>`
(see `Sandbox.ray_nodes`): the `ray-count` query prints `<nodes> <gpus>`, the `ray-nodes`
query prints `<ip> <gpus> <1|0>` (1 when `<model root>/<model>` is a directory on that node);
`sb/ray/query_fails` makes queries fail. `docker exec ... llm-ray vllm serve ...` is a fake
server process (a `sleep`, pid in `sb/ray/vllm.pid`) until `stop-vllm` kills it. `sb/pull_sleep_s`
(first pull of an image only) and `sb/ossutil_sleep_s` slow `docker pull` and `ossutil cp`
(bench/boot_path.py). `sb/vllm_restarts` and `sb/completions` get a timestamp per vLLM restart and
per answered chat completion (the rolling tests order them against a load balancer stand-in).
"""

from __future__ import annotations

import os
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from components.ecs import host_env

REPO = Path(__file__).resolve().parents[2]
USERDATA = REPO / "userdata"

API_KEY = "sk-sandbox_CANARY-7f3a9"
IMAGE = "registry.example.com/vllm/vllm-openai:v0.8.5"
SERVED_NAME = "ds-r1"
GOOD_ARGS = "--served-model-name\nds-r1\n--max-model-len\n32768\n--port\n8000"
BAD_ARGS = "--served-model-name\nds-r1\n--max-model-len\n999999\n--port\n8000"

# Settings every Cloud Assistant script requires, as the program renders them (host_env), except
# the waits, which are short here.
SCRIPT_DEFAULTS: dict[str, str | int] = {
    "LLM_PORT": host_env.PORT,
    "LLM_UNIT": "llm-vllm.service",
    "LLM_BOOTSTRAP_WAIT_S": 2,
    "LLM_LOCK_WAIT_S": 1,
    "LLM_PULL_RETRIES": host_env.PULL_RETRIES,
    "LLM_PULL_BACKOFF_S": 0,
    "LLM_RAY_PORT": host_env.RAY_PORT,
    "LLM_RAY_JOIN_WAIT_S": 20,
    "LLM_RAY_WAIT_S": 1,
    "LLM_RAY_WATCH_S": 0.2,
    "LLM_CLUSTER_NODES": 1,
    "LLM_CLUSTER_NODE_IPS": "",
    "LLM_GPUS_PER_NODE": 1,
    "LLM_NCCL_ENV": "",
    "LLM_ERDMA_PROVIDER_PROBE": host_env.ERDMA_PROVIDER_PROBE,
    "LLM_MODEL_WAIT_S": 2,
    "LLM_HEALTH_WAIT_S": 1,
    "LLM_OSSUTIL_VERSION": host_env.OSSUTIL_VERSION,
    "LLM_OSSUTIL_URL": host_env.OSSUTIL_URL,
    "LLM_OSSUTIL_SHA256": host_env.OSSUTIL_SHA256,
    "LLM_SYNC_JOBS": 16,
    "LLM_SYNC_PARALLEL": 8,
    "LLM_SYNC_RETRIES": 3,
    "LLM_SYNC_BACKOFF_S": 0,
    "LLM_EXPECTED_SHARDS": "",
    "LLM_EXPECTED_BYTES": "",
    "LLM_MODEL_REVISION": "",
    "LLM_PROBE_OBJECT": "config.json",
    # host-bootstrap.sh (host.env on a real host)
    "LLM_FS_TYPE": "ext4",
    "LLM_DISK_WAIT_S": 2,
    "LLM_ERDMA": 0,
    "LLM_FABRIC_MANAGER": 0,
    "LLM_FM_PACKAGE": "nvidia-fabric-manager",
    "LLM_DOCKER_REPO_URL": host_env.DOCKER_REPO_URL,
    "LLM_ERDMA_INSTALLER_URL": "http://mirrors.cloud.aliyuncs.com/erdma/env_setup.sh",
    "LLM_ERDMA_INSTALLER_SHA256": "",
}

_PRELUDE = """#!/bin/bash
set -u
SB={sb}
{{ printf '%s' "$(basename "$0")"; printf ' %q' "$@"; printf '\\n'; }} >>"$SB/../calls.log"
"""

_STUBS: dict[str, str] = {
    "docker": r"""
case "${1:-}" in
  info) exit 0 ;;
  pull)
    # Only the first pull of an image takes time (later ones find the layers present).
    grep -qxF -- "${*: -1}" "$SB/pulled" 2>/dev/null || sleep "$(cat "$SB/pull_sleep_s" 2>/dev/null || echo 0)"
    n=$(cat "$SB/pull_failures" 2>/dev/null || echo 0)
    if [ "$n" -gt 0 ]; then
      echo $((n - 1)) >"$SB/pull_failures"
      echo "Error response from daemon: sandbox pull failure" >&2
      exit 1
    fi
    echo "${*: -1}" >>"$SB/pulled"
    ;;
  logs) echo "FAKE-CONTAINER-LOG: ValueError: max_model_len too large" ;;
  run)
    # `docker run --rm --entrypoint /bin/sh IMAGE -c PROBE`: sb/image_no_erdma fails the probe.
    case "$*" in *"--entrypoint /bin/sh"*) [ -e "$SB/image_no_erdma" ] && exit 1 ;; esac
    ;;
  exec)
    shift
    while [ "${1:-llm-ray}" != llm-ray ]; do
      case "$1" in --env-file|-e|-u|-w) shift ;; esac
      shift
    done
    shift
    [ -e "$SB/ray/active" ] || { echo "Error response from daemon: No such container: llm-ray" >&2; exit 1; }
    if [ "${1:-}" = vllm ]; then
      echo $$ >"$SB/ray/vllm.pid"
      exec sleep 30
    fi
    [ ! -e "$SB/ray/query_fails" ] || { echo "ConnectionError: GCS not reachable" >&2; exit 1; }
    case "${4:-}" in
      ray-count) awk '{n++; g += $2} END {print n + 0, g + 0}' "$SB/ray/nodes" 2>/dev/null || echo "0 0" ;;
      ray-nodes)
        rel=${5#/models/}
        while read -r ip gpus root; do
          if [ -d "$root/$rel" ]; then echo "$ip $gpus 1"; else echo "$ip $gpus 0"; fi
        done < <(cat "$SB/ray/nodes" 2>/dev/null)
        ;;
      stop-vllm)
        if [ -f "$SB/ray/vllm.pid" ]; then
          kill "$(cat "$SB/ray/vllm.pid")" 2>/dev/null
          rm -f "$SB/ray/vllm.pid"
        fi
        ;;
      *) echo "sandbox docker: unknown exec $*" >&2; exit 2 ;;
    esac
    ;;
esac
exit 0
""",
    "systemctl": r"""
[ "${1:-}" = --quiet ] && shift
cmd=${1:-}
unit=${*: -1}
case "$cmd" in
  enable)
    if [ "${2:-}" = --now ] && [ "$unit" = nvidia-fabricmanager.service ] && [ ! -e "$SB/fm_broken" ]; then
      touch "$SB/fm.active"
    fi
    ;;
  restart|start)
    # The bootstrap unit runs host-bootstrap.sh with host.env (EnvironmentFile), synchronously.
    if [ "$unit" = llm-bootstrap.service ]; then
      ( set -a; . "$ETC/host.env"; set +a; export PATH="$BIN:/usr/bin:/bin"; bash "$LIB/host-bootstrap.sh" ) >>"$SB/bootstrap.log" 2>&1 || true
    fi
    if [ "$unit" = llm-ray.service ]; then
      mkdir -p "$SB/ray"
      touch "$SB/ray/active"
      cp "$ETC/ray.env" "$ETC/nccl.env" "$SB/ray/"
    fi
    if [ "$unit" = llm-vllm.service ]; then
      date +%s.%N >>"$SB/vllm_restarts"
      rm -rf "$SB/server"; mkdir -p "$SB/server"
      touch "$SB/server/active"
      cp "$ETC/vllm.env" "$ETC/vllm.args" "$ETC/api-key.env" "$SB/server/"
      sed -n 's/^VLLM_API_KEY=//p' "$ETC/api-key.env" >"$SB/server/key"
      grep -A1 -x -- --served-model-name "$ETC/vllm.args" | tail -n 1 >"$SB/server/name"
      if [ -e "$SB/never_healthy" ] || grep -qx 999999 "$ETC/vllm.args"; then
        :
      else
        touch "$SB/server/healthy"
      fi
    fi
    ;;
  is-active)
    case "$unit" in
      llm-vllm.service) [ -e "$SB/server/active" ] || exit 3 ;;
      llm-ray.service) [ -e "$SB/ray/active" ] || exit 3 ;;
      nvidia-fabricmanager.service) [ -e "$SB/fm.active" ] || exit 3 ;;
      *) exit 3 ;;
    esac
    ;;
esac
exit 0
""",
    "curl": r"""
out=/dev/stdout header= data= url=
while [ $# -gt 0 ]; do
  case "$1" in
    -o) out=$2; shift ;;
    -H) case "$2" in @*) header=$(cat "${2#@}") ;; esac; shift ;;
    --data-binary|-d) case "$2" in @*) data=$(cat "${2#@}") ;; *) data=$2 ;; esac; shift ;;
    --max-time|--retry|-w) shift ;;
    http*) url=$1 ;;
  esac
  shift
done
case "$url" in
  */health)
    [ -e "$SB/server/healthy" ] || exit 7
    n=$(cat "$SB/unhealthy_polls" 2>/dev/null || echo 0)
    if [ "$n" -gt 0 ]; then echo $((n - 1)) >"$SB/unhealthy_polls"; exit 22; fi
    : >"$out" ;;
  */v1/chat/completions)
    [ -e "$SB/server/healthy" ] || exit 7
    [ "$header" = "Authorization: Bearer $(cat "$SB/server/key")" ] || exit 22
    grep -q "\"model\": \"$(cat "$SB/server/name")\"" <<<"$data" || exit 22
    date +%s.%N >>"$SB/completions"
    echo '{"choices":[{"index":0,"message":{"role":"assistant","content":"OK"}}]}' >"$out" ;;
  *)
    f="$SB/downloads/${url##*/}"
    [ -f "$f" ] || exit 22
    cp "$f" "$out" ;;
esac
""",
    "journalctl": 'echo "FAKE-JOURNAL: llm-vllm.service: Main process exited, status=1"\n',
    "nvidia-smi": r"""
[ -e "$SB/driver.installed" ] || exit 9
case "$*" in *driver_version*) echo "550.90.07" ;; esac
exit 0
""",
    "nvidia-ctk": "exit 0\n",
    # `modprobe erdma compat_mode=Y` sets the module parameter unless sb/compat_stuck exists.
    "modprobe": r"""
case "${1:-}" in
  erdma)
    [ -e "$SB/compat_stuck" ] && exit 0
    mkdir -p "$SYS/module/erdma/parameters"
    echo "${2#compat_mode=}" >"$SYS/module/erdma/parameters/compat_mode" ;;
  nvidia_peermem) [ -e "$SB/peermem_fail" ] && exit 1 ;;
esac
exit 0
""",
    "rmmod": "exit 0\n",
    # Installed RPM versions: sb/rpm/<package> holds the version (`rpm -q --qf %{VERSION} <pkg>`).
    "rpm": r"""
pkg=${*: -1}
[ -f "$SB/rpm/$pkg" ] || { echo "package $pkg is not installed"; exit 1; }
cat "$SB/rpm/$pkg"
""",
    # sb/ibv_devinfo: what `ibv_devinfo` prints (missing: the command is not installed).
    "ibv_devinfo": r"""
[ -f "$SB/ibv_devinfo" ] || exit 127
cat "$SB/ibv_devinfo"
""",
    # sb/lsblk: `NAME SERIAL` lines.
    "lsblk": 'cat "$SB/lsblk" 2>/dev/null || true\n',
    "uname": 'echo "5.10.134-sandbox.al8.x86_64"\n',
    "dnf": r"""
[ "${1:-}" = install ] || exit 0
shift
skip=0
for p in "$@"; do
  if [ "$skip" = 1 ]; then skip=0; continue; fi
  case "$p" in
    --repo) skip=1; continue ;;
    -*) continue ;;
  esac
  if grep -qx -- "$p" "$SB/dnf_fail" 2>/dev/null; then
    echo "Error: Unable to find a match: $p" >&2
    exit 1
  fi
  case "$p" in
    nvidia-fabric-manager-*) mkdir -p "$SB/rpm"; echo "${p#nvidia-fabric-manager-}" >"$SB/rpm/nvidia-fabric-manager" ;;
    nvidia-driver) touch "$SB/driver.installed" ;;
    docker-ce) cp "$SB/pkgs/docker" "$BIN/docker" ;;
    nvidia-container-toolkit) cp "$SB/pkgs/nvidia-ctk" "$BIN/nvidia-ctk" ;;
  esac
done
""",
    "blkid": r"""
key= dev=
while [ $# -gt 0 ]; do
  case "$1" in
    -s) key=$2; shift ;;
    -o) shift ;;
    -p) ;;
    *) dev=$1 ;;
  esac
  shift
done
[ -s "$dev" ] || exit 2
if [ -n "$key" ]; then
  v=$(sed -n "s/^$key=//p" "$dev")
  [ -n "$v" ] || exit 2
  echo "$v"
else
  cat "$dev"
fi
""",
    "mkfs.ext4": r"""
dev=${*: -1}
printf 'UUID=5a1d-b0x-ext4\nTYPE=ext4\nLABEL=llm-models\n' >"$dev"
""",
    "mount": 'echo "${*: -1}" >>"$SB/mounts"\n',
    "mountpoint": 'grep -qxF -- "${*: -1}" "$SB/mounts" 2>/dev/null\n',
    # Copies oss://bucket/prefix/ from $SB/bucket/bucket/prefix/ to the destination. With -u a
    # file whose copy already has the same size is skipped (ossutil compares size and time).
    "ossutil": r"""
if [ "${1:-}" = stat ]; then
  [ -e "$SB/ossutil_denied" ] && { echo "Error: oss: service returned error: StatusCode=403, ErrorCode=AccessDenied" >&2; exit 1; }
  [ -f "$SB/bucket/${2#oss://}" ] || { echo "Error: oss: service returned error: StatusCode=404, ErrorCode=NoSuchKey" >&2; exit 1; }
  echo "Content-Length: $(stat -c %s "$SB/bucket/${2#oss://}")"
  exit 0
fi
[ "${1:-}" = cp ] || exit 0
shift
sleep "$(cat "$SB/ossutil_sleep_s" 2>/dev/null || echo 0)"
src= dst= update=0
while [ $# -gt 0 ]; do
  case "$1" in
    -u) update=1 ;;
    -r|-f) ;;
    -j|--parallel|--checkpoint-dir|-c|--region|-e|--mode|--ecs-role-name) shift ;;
    oss://*) src=$1 ;;
    *) dst=$1 ;;
  esac
  shift
done
root="$SB/bucket/${src#oss://}"
[ -d "$root" ] || { echo "NoSuchKey: $src" >&2; exit 1; }
die_after=$(cat "$SB/ossutil_die_after" 2>/dev/null || echo -1)
n=0
while IFS= read -r rel; do
  mkdir -p "$(dirname "$dst/$rel")"
  if [ "$update" = 1 ] && [ -f "$dst/$rel" ] &&
    [ "$(stat -c %s "$dst/$rel")" = "$(stat -c %s "$root/$rel")" ]; then
    continue
  fi
  if [ "$n" = "$die_after" ]; then
    head -c 3 "$root/$rel" >"$dst/$rel"
    rm -f "$SB/ossutil_die_after"
    echo "sandbox: connection reset while copying $rel" >&2
    exit 1
  fi
  cp "$root/$rel" "$dst/$rel"
  echo "$rel" >>"$SB/ossutil.copied"
  n=$((n + 1))
done < <(cd "$root" && find . -type f | sed 's|^\./||' | sort)
""",
}


@dataclass
class Sandbox:
    root: Path
    fresh_host: bool = False
    env: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        r = self.root
        self.bin = r / "bin"
        self.sb = r / "sb"
        self.state = r / "var/lib/llm"
        self.etc = r / "etc/llm"
        self.lib = r / "usr/local/lib/llm"
        self.models = r / "mnt/models"
        self.bindir = r / "usr/local/bin"
        self.systemd = r / "etc/systemd/system"
        self.fstab = r / "etc/fstab"
        self.dev = r / "dev"
        self.sys = r / "sys"
        self.serial = "bp1sandbox"
        self.disk = self.dev / f"disk/by-id/virtio-{self.serial}"
        self.calls_log = r / "calls.log"
        for d in (
            self.bin,
            self.sb / "pkgs",
            self.sb / "downloads",
            self.state,
            self.etc,
        ):
            d.mkdir(parents=True, exist_ok=True)
        stubs = dict(_STUBS)
        for name, body in stubs.items():
            target = self.sb / "pkgs" if name in ("docker", "nvidia-ctk") else self.bin
            self._write_stub(target / name, body)
        # On a fresh host, dnf "installs" docker and nvidia-ctk by copying them into bin/.
        if not self.fresh_host:
            for name in ("docker", "nvidia-ctk"):
                self._write_stub(self.bin / name, stubs[name])
            (self.sb / "driver.installed").touch()
        self.env = {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "HOME": str(r),
            "LANG": "C.UTF-8",
            "LLM_STATE_DIR": str(self.state),
            "LLM_ETC_DIR": str(self.etc),
            "LLM_LIB_DIR": str(self.lib),
            "LLM_BIN_DIR": str(self.bindir),
            "LLM_SYSTEMD_DIR": str(self.systemd),
            "LLM_MODEL_ROOT": str(self.models),
            "LLM_FSTAB": str(self.fstab),
            "LLM_DEV_DIR": str(self.dev),
            "LLM_SYS_DIR": str(self.sys),
            "LLM_MODEL_DISK_SERIAL": self.serial,
            # The scripts carry no defaults of their own: what the program renders (host_env)
            # is the base, with waits shortened for the sandbox; tests override per case.
            **{k: str(v) for k, v in SCRIPT_DEFAULTS.items()},
            "LLM_POLL_S": "0.1",
        }

    def _write_stub(self, path: Path, body: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        prelude = _PRELUDE.format(sb=self.sb)
        extra = f"BIN={self.bin}\nETC={self.etc}\nLIB={self.lib}\nSYS={self.sys}\n"
        path.write_text(prelude + extra + body.lstrip("\n"))
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    # --- faults and fixtures -------------------------------------------------------------
    def knob(self, name: str, value: str = "") -> None:
        (self.sb / name).write_text(value)

    def ray_nodes(self, nodes: dict[str, tuple[int, Path]]) -> None:
        """The alive Ray nodes the stand-in `docker exec llm-ray` reports: ip -> (GPUs, model root)."""
        (self.sb / "ray").mkdir(exist_ok=True)
        lines = "".join(f"{ip} {gpus} {root}\n" for ip, (gpus, root) in nodes.items())
        (self.sb / "ray/nodes").write_text(lines)

    def add_bucket(self, bucket_prefix: str, files: dict[str, bytes]) -> Path:
        base = self.sb / "bucket" / bucket_prefix
        for rel, data in files.items():
            p = base / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        return base

    def install_host_files(self, ray: bool = False) -> None:
        """What install-scripts.sh installs in LLM_LIB_DIR (the scripts the static per-run
        commands run, with lib/common.sh and lib/params.sh under lib/), without running it."""
        from components.ecs import userdata

        for name, text in userdata.runner_files(ray).items():
            if name.endswith(".sh"):
                path = self.lib / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                path.chmod(0o755)

    def install_ossutil(self) -> None:
        self._write_stub(self.bindir / "ossutil", _STUBS["ossutil"])

    def ossutil_stub(self) -> str:
        return _PRELUDE.format(sb=self.sb) + _STUBS["ossutil"].lstrip("\n")

    # --- running ---------------------------------------------------------------------------
    def run(self, script: str | Path, env: dict[str, str] | None = None, timeout: float = 60, bare: bool = False):
        """Run a script; `bare`: without SCRIPT_DEFAULTS, as on a host where only the command's
        own exports set anything (the command content must carry every setting)."""
        path = USERDATA / script if isinstance(script, str) else script
        base = {k: v for k, v in self.env.items() if not bare or k not in SCRIPT_DEFAULTS}
        full = {**base, **(env or {})}
        return subprocess.run(
            ["bash", str(path)],
            check=False,
            env=full,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def run_text(self, content: str, env: dict[str, str] | None = None, timeout: float = 60, bare: bool = False):
        path = self.root / "script.sh"
        path.write_text(content)
        return self.run(path, env, timeout, bare=bare)

    # --- inspection ------------------------------------------------------------------------
    def calls(self, name: str | None = None) -> list[str]:
        if not self.calls_log.exists():
            return []
        lines = self.calls_log.read_text().splitlines()
        return [ln for ln in lines if name is None or ln.split(" ", 1)[0] == name]

    def reset_calls(self) -> None:
        self.calls_log.unlink(missing_ok=True)
        (self.sb / "ossutil.copied").unlink(missing_ok=True)

    def copied(self) -> list[str]:
        p = self.sb / "ossutil.copied"
        return p.read_text().splitlines() if p.exists() else []

    def mode(self, path: Path) -> int:
        return stat.S_IMODE(os.stat(path).st_mode)
