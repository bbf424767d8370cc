"""Pod security of every pod the acs mode renders: Deployment, LWS leader and worker, readiness Job.

Each field the hardening relies on has its own assertion, so that dropping one fails here."""

from __future__ import annotations

import pytest

from components.acs import manifests
from components.acs.manifests import pods
from tests.fakes import k8s_schemas as H

LWS = dict(group_size=2, gpus=8, cpu=64, memory_gib=512, shm_gib=32)


def _pod_specs(a: manifests.ManifestArgs) -> dict[str, dict]:
    w = manifests.workload(a)
    out = {"readiness": manifests.readiness_job(a)["spec"]["template"]["spec"]}
    if a.lws:
        t = w["spec"]["leaderWorkerTemplate"]
        out |= {"leader": t["leaderTemplate"]["spec"], "worker": t["workerTemplate"]["spec"]}
    else:
        out["deployment"] = w["spec"]["template"]["spec"]
    return out


VARIANTS = {
    "deployment": H.sample_args(),
    "lws": H.sample_args(**LWS),
    "lws-hpn": H.sample_args(compute_class="gpu-hpn", **LWS),
}


@pytest.fixture(params=sorted(VARIANTS))
def specs(request) -> tuple[str, dict[str, dict]]:
    return request.param, _pod_specs(VARIANTS[request.param])


def test_no_privilege_escalation_and_not_privileged(specs):
    for name, spec in specs[1].items():
        for c in spec["containers"]:
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert c["securityContext"]["privileged"] is False, name


def test_every_capability_dropped_and_only_ipc_lock_added_on_gpu_hpn(specs):
    variant, by_pod = specs
    for name, spec in by_pod.items():
        caps = spec["containers"][0]["securityContext"]["capabilities"]
        assert caps["drop"] == ["ALL"], name
        want = ["IPC_LOCK"] if variant == "lws-hpn" and name != "readiness" else None
        assert caps.get("add") == want, name


def test_seccomp_runtime_default_on_every_pod_and_switchable(specs):
    for name, spec in specs[1].items():
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
    off = _pod_specs(H.sample_args(seccomp=False))
    assert all("seccompProfile" not in s["securityContext"] for s in off.values())


def test_no_service_account_token_in_any_pod(specs):
    for name, spec in specs[1].items():
        assert spec["automountServiceAccountToken"] is False, name
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), name


def test_read_only_root_with_every_cache_on_an_emptydir(specs):
    for name, spec in specs[1].items():
        c = spec["containers"][0]
        assert c["securityContext"]["readOnlyRootFilesystem"] is True, name
        if name == "readiness":
            continue
        vols = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        assert "emptyDir" in vols[mounts["/tmp"]] and "emptyDir" in vols[mounts[pods.CACHE_DIR]], name
        assert all(v["emptyDir"].get("sizeLimit") for v in vols.values() if "emptyDir" in v), name
        env = {e["name"]: e.get("value") for e in c["env"]}
        for var in (
            "HOME",
            "XDG_CACHE_HOME",
            "HF_HOME",
            "VLLM_CACHE_ROOT",
            "TRITON_CACHE_DIR",
            "TORCHINDUCTOR_CACHE_DIR",
        ):
            assert env[var].startswith(pods.CACHE_DIR), (name, var)


def test_read_only_root_can_be_turned_off_for_serving_but_not_for_the_job():
    by_pod = _pod_specs(H.sample_args(read_only_root=False))
    assert by_pod["deployment"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is False
    assert by_pod["readiness"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_serving_containers_have_liveness_and_readiness_and_survive_a_30_minute_load(specs):
    for name, spec in specs[1].items():
        if name == "readiness":
            continue
        c = spec["containers"][0]
        assert "readinessProbe" in c and "livenessProbe" in c, name
        live = c["livenessProbe"]
        start = c.get("startupProbe")
        if start and "httpGet" in start:
            # /health answers only after the load: the startup probe holds liveness off for it.
            assert start["periodSeconds"] * start["failureThreshold"] >= 1800, name
        else:
            # Ray pods: what liveness checks (the Ray head's port) answers during the load, and
            # /health only once the serving marker exists; 5 minutes of grace all the same.
            assert str(manifests.RAY_PORT) in live["exec"]["command"][-1], name
            assert live["periodSeconds"] * live["failureThreshold"] >= 300, name


def test_readiness_job_runs_as_nobody_and_reads_the_key_from_a_file():
    spec = _pod_specs(H.sample_args())["readiness"]
    sc = spec["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65534 and sc["fsGroup"] == 65534
    c = spec["containers"][0]
    assert not [e for e in c["env"] if "valueFrom" in e]  # no secret in the environment
    vol = {v["name"]: v for v in spec["volumes"]}["api-key"]["secret"]
    assert vol["secretName"] == manifests.API_KEY_SECRET and vol["defaultMode"] == 0o440
    assert "API_KEY_FILE" in manifests.READINESS_SCRIPT


def test_hardened_pods_still_validate_strictly():
    for a in VARIANTS.values():
        H.validate(manifests.workload(a))
        H.validate(manifests.readiness_job(a))


def test_the_plans_secret_manifest_is_a_valid_secret():
    """The plan file of the API key Secret: a map of its keys with masked values (not the string
    "[secret]"), valid in strict mode."""
    import yaml

    from tests.fakes.sandbox import REPO

    for stack in ("acs", "acs-r1"):
        obj = yaml.safe_load((REPO / "tests" / "golden" / stack / "files" / "workload-api-key.yaml").read_text())
        assert obj["stringData"] == {manifests.API_KEY_FIELD: "[secret]"}
        H.validate(obj)
