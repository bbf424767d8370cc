"""userdata/dcgm-run.sh in the sandbox (tests/fakes/sandbox.py): the exporter's docker flags."""

from __future__ import annotations

from tests.fakes.sandbox import Sandbox

DCGM = "nvcr.io/nvidia/k8s/dcgm-exporter:2.3.5-2.6.5-ubuntu20.04"


def test_dcgm_run_removes_the_old_container_and_runs_the_exporter_with_sys_admin(tmp_path):
    sb = Sandbox(tmp_path)
    res = sb.run("dcgm-run.sh", {"LLM_DCGM_IMAGE": DCGM, "LLM_DCGM_PORT": "9400"})
    assert res.returncode == 0, res.stderr
    assert sb.calls("docker") == [
        "docker rm -f llm-dcgm",
        f"docker run --rm --name llm-dcgm --net=host --gpus all --cap-add SYS_ADMIN {DCGM} -a :9400",
    ]


def test_dcgm_run_refuses_to_start_without_its_settings(tmp_path):
    sb = Sandbox(tmp_path)
    res = sb.run("dcgm-run.sh", {"LLM_DCGM_PORT": "9400"})
    assert res.returncode != 0 and "LLM_DCGM_IMAGE is required" in res.stderr
    assert sb.calls("docker") == []
