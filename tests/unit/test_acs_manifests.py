"""Every manifest the acs stacks render validates (strict, at the pinned cluster version); the
LeaderWorkerSet against its CRD with unknown fields forbidden; a misspelt field fails."""

from __future__ import annotations

import copy

import jsonschema
import kubernetes_validate
import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.acs import manifests
from components.common.scripts import pack_files
from planner import run as plan
from tests import planning as P
from tests.fakes import k8s_schemas as H


@pytest.fixture(scope="module", params=["acs", "acs-r1"])
def plan_dir(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    plan.write_plan(plan.run_program(request.param), out)
    return out


def test_kubernetes_validate_has_the_pinned_version():
    assert H.K8S_VERSION == "1.30.0"
    kubernetes_validate.validate(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}, H.K8S_VERSION, strict=True
    )


def test_every_jump_host_file_validates(plan_dir):
    objs = H.folder_objects(plan_dir)
    assert {"model.yaml", "pre-deploy-application.yaml", "private-service.yaml"} <= set(objs)
    kinds = []
    for docs in objs.values():
        for obj in docs:
            H.validate(obj)
            kinds.append(obj["kind"])
    assert {"Namespace", "PersistentVolume", "ServiceAccount", "PersistentVolumeClaim", "Job", "Service"} <= set(kinds)
    assert ("LeaderWorkerSet" in kinds) != ("Deployment" in kinds)


def test_every_kubernetes_resource_in_the_plan_validates(plan_dir):
    """The Pulumi resources' inputs (as the plan files show them) are the same valid objects;
    secrets are masked there, so Secrets are checked from the builders instead."""
    import yaml

    checked = 0
    for path in sorted((plan_dir / "files").glob("*.yaml")):
        obj = yaml.safe_load(path.read_text())
        if obj["kind"] == "Secret":
            continue
        H.validate(obj)
        checked += 1
    assert checked >= 7
    a = H.sample_args()
    H.validate(manifests.api_key_secret(a, "x" * 32))
    H.validate(manifests.oss_secret(a, "id", "secret"))


def test_plan_manifests_and_jump_host_files_are_the_same_objects(plan_dir):
    import yaml

    folder = {(o["kind"], o["metadata"]["name"]): o for docs in H.folder_objects(plan_dir).values() for o in docs}
    for path in sorted((plan_dir / "files").glob("*.yaml")):
        obj = yaml.safe_load(path.read_text())
        if obj["kind"] == "Secret":
            assert (obj["kind"], obj["metadata"]["name"]) not in folder
            continue
        assert folder[(obj["kind"], obj["metadata"]["name"])] == obj, path.name


def _deployment() -> dict:
    return manifests.deployment(H.sample_args())


def _lws() -> dict:
    return manifests.leader_worker_set(H.sample_args(group_size=2, gpus=8, cpu=64, memory_gib=512))


def test_builders_validate_in_every_variant():
    for a in (
        H.sample_args(),
        H.sample_args(oss_auth="secret", public=False),
        H.sample_args(oss_fuse_type="ossfs2"),
        H.sample_args(group_size=2, gpus=8, cpu=64, memory_gib=512, shm_gib=32),
    ):
        for obj in (
            manifests.namespace(a), manifests.service_account(a), manifests.model_pv(a, H.SAMPLE_RRSA),
            manifests.model_pvc(a), manifests.workload(a), manifests.readiness_job(a), manifests.jump_host_cluster_role(a),
            manifests.service(a, internet=False, vswitch_id="vsw-1"), manifests.service(a, internet=True, acl_id="acl-1"),
        ):  # fmt: skip
            H.validate(obj)


@pytest.mark.parametrize(
    "path",
    [
        ("spec", "template", "spec", "containers", 0, "startupProbe"),
        ("spec", "template", "spec", "containers", 0, "resources"),
        ("spec", "template", "metadata", "labels"),
        ("spec", "strategy"),
    ],
)
def test_a_misspelt_deployment_field_fails(path):
    obj = _misspell(_deployment(), path)
    with pytest.raises(kubernetes_validate.ValidationError):
        H.validate(obj)


@pytest.mark.parametrize(
    "path",
    [
        ("spec", "startupPolicy"),
        ("spec", "leaderWorkerTemplate", "size"),
        ("spec", "leaderWorkerTemplate", "leaderTemplate"),
        ("spec", "leaderWorkerTemplate", "restartPolicy"),
    ],
)
def test_a_misspelt_lws_field_fails(path):
    obj = _misspell(_lws(), path)
    with pytest.raises(jsonschema.ValidationError):
        H.validate(obj)


def test_a_misspelt_field_inside_an_lws_pod_template_fails():
    obj = _misspell(_lws(), ("spec", "leaderWorkerTemplate", "workerTemplate", "spec", "containers", 0, "volumeMounts"))
    with pytest.raises((jsonschema.ValidationError, kubernetes_validate.ValidationError)):
        H.validate(obj)


def test_the_crd_alone_would_not_catch_a_typo():
    """Why the strict copy exists: the CRD as shipped allows unknown fields."""
    jsonschema.validate(_misspell(_lws(), ("spec", "startupPolicy")), H.lws_crd_schema())


def _misspell(obj: dict, path: tuple) -> dict:
    obj = copy.deepcopy(obj)
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1] + "x"] = parent.pop(path[-1])
    return obj


def test_pod_templates_carry_the_acs_labels_and_equal_requests_and_limits():
    for obj in (_deployment(), _lws()):
        templates = (
            [obj["spec"]["template"]]
            if obj["kind"] == "Deployment"
            else [obj["spec"]["leaderWorkerTemplate"][k] for k in ("leaderTemplate", "workerTemplate")]
        )
        for t in templates:
            labels = t["metadata"]["labels"]
            assert labels["alibabacloud.com/compute-class"] == "gpu"
            assert labels["alibabacloud.com/gpu-model-series"] == "GU8TF"
            assert labels["alibabacloud.com/compute-qos"] == "default"
            for c in t["spec"]["containers"]:
                assert c["resources"]["requests"] == c["resources"]["limits"]
                assert "nvidia.com/gpu" in c["resources"]["limits"]
            shm = [v for v in t["spec"]["volumes"] if v["name"] == "dshm"]
            assert shm[0]["emptyDir"]["medium"] == "Memory"
        # Never on the workload's own metadata (the seed's mistake) nor in the selector.
        assert not any(k.startswith("alibabacloud.com/") for k in obj["metadata"].get("labels", {}))
    assert _deployment()["spec"]["selector"] == {"matchLabels": {"app": "qwq-32b"}}


def test_leader_command_stops_on_a_failed_step_and_workers_join_the_leader():
    a = H.sample_args(group_size=2, gpus=8, serve_args=["--tensor-parallel-size", "8", "--pipeline-parallel-size", "2"])
    cmd = manifests.leader_command(a)
    steps = [s.strip() for s in cmd.split("&&")]
    assert steps[0].startswith("ray start --head --port=6379")
    assert "LWS_GROUP_SIZE" in steps[1]
    assert steps[-1].startswith("exec vllm serve /llm-model/qwq-32b")
    assert ";" not in cmd.replace("ray.init(", "").split("python3 -c")[0]
    assert "--tensor-parallel-size 8 --pipeline-parallel-size 2" in steps[-1]
    assert manifests.worker_command() == "ray start --address=$(LWS_LEADER_ADDRESS):6379 --disable-usage-stats --block"
    lws = manifests.leader_worker_set(a)
    assert lws["spec"]["startupPolicy"] == "LeaderReady"
    assert lws["spec"]["leaderWorkerTemplate"]["size"] == 2
    leader = lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]
    assert leader["readinessProbe"] and leader["startupProbe"]


def test_leader_probe_is_ray_then_health():
    script = manifests.leader_probe_script()
    assert manifests.SERVING_MARKER in script and "/health" in script and "6379" in script
    compile(script, "probe", "exec")
    compile(manifests.READINESS_SCRIPT, "readiness", "exec")


def test_readiness_job_name_follows_the_workload():
    a, b = H.sample_args(), H.sample_args(image="reg/vllm:0.9.0")
    assert (
        manifests.readiness_job(a)["metadata"]["name"] == manifests.readiness_job(H.sample_args())["metadata"]["name"]
    )
    assert manifests.readiness_job(a)["metadata"]["name"] != manifests.readiness_job(b)["metadata"]["name"]


@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9-]{0,20}\.yaml", fullmatch=True), st.text(max_size=200), max_size=6))
def test_pack_files_is_reproducible_and_round_trips(files):
    import base64
    import gzip
    import io
    import tarfile

    packed = pack_files(files)
    assert packed == pack_files(dict(reversed(list(files.items()))))
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(base64.b64decode(packed)))) as tar:
        got = {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()}  # type: ignore[union-attr]
    assert got == files


def test_files_name_no_secret_and_say_they_are_managed():
    a = H.sample_args()
    files = manifests.jump_host_files(a, "vsw-1", "acl-1", H.SAMPLE_RRSA)
    assert set(files) == {"pre-deploy-application.yaml", "qwq-32b-application.yaml", "model.yaml",
                          "private-service.yaml", "public-service.yaml"}  # fmt: skip
    for name, text in files.items():
        assert text.startswith(f"# {name}: managed by the Pulumi stack 't'"), name
        assert "next `pulumi up`" in text
        assert "kind: Secret" not in text
    assert "public-service.yaml" not in manifests.jump_host_files(
        H.sample_args(public=False), "vsw-1", None, H.SAMPLE_RRSA
    )


def test_stack_config_helpers_see_the_acs_examples():
    assert P.stack_config("acs")["llm:mode"] == "acs"


def test_oss_volume_names_both_rrsa_arns_and_no_pod_identity():
    a = H.sample_args()
    attrs = manifests.model_pv(a, H.SAMPLE_RRSA)["spec"]["csi"]["volumeAttributes"]
    assert (attrs["authType"], attrs["roleArn"], attrs["oidcProviderArn"]) == (
        "rrsa", H.SAMPLE_RRSA["roleArn"], H.SAMPLE_RRSA["oidcProviderArn"])  # fmt: skip
    # No roleName (the driver would derive the ARNs from node metadata) and no serviceAccountName
    # (the mount then uses the driver's fuse account, the one subject the role trusts).
    assert not {"roleName", "serviceAccountName"} & set(attrs)
    # The pods get no RAM credentials: no injection label, no role annotation.
    assert "pod-identity.alibabacloud.com/injection" not in manifests.namespace(a)["metadata"]["labels"]
    assert "annotations" not in manifests.service_account(a)["metadata"]
    with pytest.raises(ValueError, match="roleArn and oidcProviderArn"):
        manifests.model_pv(a)
    with pytest.raises(ValueError, match="roleArn and oidcProviderArn"):
        manifests.model_pv(a, {"roleArn": "x"})
    secret = manifests.model_pv(H.sample_args(oss_auth="secret"))["spec"]["csi"]
    assert "authType" not in secret["volumeAttributes"] and secret["nodePublishSecretRef"]["name"] == "oss-model-reader"


def test_oss_fuse_type_ossfs1_by_default_ossfs2_read_only_without_ossfs1_options():
    one = manifests.model_pv(H.sample_args(), H.SAMPLE_RRSA)["spec"]
    assert "fuseType" not in one["csi"]["volumeAttributes"]
    assert one["csi"]["volumeAttributes"]["otherOpts"] == "-o ro -o allow_other"
    two = manifests.model_pv(H.sample_args(oss_fuse_type="ossfs2"), H.SAMPLE_RRSA)["spec"]
    assert two["csi"]["volumeAttributes"]["fuseType"] == "ossfs2"
    assert "otherOpts" not in two["csi"]["volumeAttributes"]
    # Read-only for ossfs2 comes from the access mode (the driver adds ro=true) and the csi flag.
    assert two["accessModes"] == ["ReadOnlyMany"] and two["csi"]["readOnly"] is True


def test_jump_host_cluster_role_is_dev_like_plus_leaderworkersets_without_secrets():
    role = manifests.jump_host_cluster_role(H.sample_args())
    assert role["kind"] == "ClusterRole" and role["metadata"]["name"] == "llm-t-jump-host"
    assert "namespace" not in role["metadata"]
    grants = {
        (g, r): set(rule["verbs"]) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
    }
    write = {"create", "delete", "get", "list", "patch", "update", "watch"}
    # What the jump host's files hold, and the LeaderWorkerSet that `dev` does not cover.
    for key in [("leaderworkerset.x-k8s.io", "leaderworkersets"), ("apps", "deployments"), ("batch", "jobs"),
                ("", "services"), ("", "serviceaccounts"), ("", "persistentvolumeclaims")]:  # fmt: skip
        assert write <= grants[key], key
    assert {"get", "list", "watch"} <= grants[("", "pods/log")]
    assert not any(r in ("secrets", "*") or g == "*" for g, r in grants), "no Secrets, no wildcards"
    assert not any(r in ("namespaces", "persistentvolumes", "clusterroles", "nodes") for _, r in grants)
    H.validate(role)


def test_services_allocate_no_node_ports_and_use_no_fields_acs_restricts():
    a = H.sample_args()
    for svc in (
        manifests.service(a, internet=False, vswitch_id="vsw-1"),
        manifests.service(a, internet=True, acl_id="a"),
    ):
        spec = svc["spec"]
        assert spec["allocateLoadBalancerNodePorts"] is False
        assert not {"loadBalancerSourceRanges", "externalIPs", "healthCheckNodePort"} & set(spec)
        assert spec.get("externalTrafficPolicy", "Cluster") == "Cluster"
        assert all("nodePort" not in p for p in spec["ports"])
