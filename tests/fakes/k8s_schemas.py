"""Shared by the tests/test_acs_*.py files (no tests of its own): plans and schema checks."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from components.acs import manifests
from components.config.model import AcsSettings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LWS_CRD = FIXTURES / "lws-v0.5.0.leaderworkerset.x-k8s.io_leaderworkersets.yaml"
# The manifests are validated at the pinned cluster version's minor (acs.kubernetesVersion).
K8S_VERSION = ".".join(AcsSettings().kubernetes_version.split("-")[0].split(".")[:2]) + ".0"


def strict(schema: Any) -> Any:
    """The CRD schema with unknown fields forbidden wherever it lists properties (the CRD itself
    leaves `additionalProperties` open, so a misspelt field would pass)."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


@functools.cache
def lws_crd_schema() -> dict:
    """The CRD's own v1 schema, as shipped (16k lines of YAML: loaded once per process)."""
    crd = yaml.load(LWS_CRD.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return version["schema"]["openAPIV3Schema"]


@functools.cache
def lws_schema() -> dict:
    # metadata stays `type: object` in a CRD (the API server owns it): not made strict here.
    return strict(copy.deepcopy(lws_crd_schema()))


def validate(obj: dict) -> None:
    """Raise when the object is not valid: core kinds by kubernetes-validate (strict, pinned
    version), the LeaderWorkerSet by its CRD with unknown fields forbidden."""
    if obj["kind"] == "LeaderWorkerSet":
        jsonschema.validate(obj, lws_schema())
        # The pod templates inside are core PodTemplateSpecs: validate them strictly too.
        lwt = obj["spec"]["leaderWorkerTemplate"]
        for key in ("leaderTemplate", "workerTemplate"):
            pod = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": lwt[key]}
            kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
        return
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def folder_objects(plan_dir: Path) -> dict[str, list[dict]]:
    folder = plan_dir / "files" / "jump-host" / "llm-k8s-resource"
    return {p.name: [d for d in yaml.safe_load_all(p.read_text()) if d] for p in sorted(folder.glob("*.yaml"))}


# What the OSS volume authenticates with under RRSA (deploy-time values in a real plan).
SAMPLE_RRSA = {
    "roleArn": "acs:ram::1234567890:role/llm-t-oss-rrsa",
    "oidcProviderArn": "acs:ram::1234567890:oidc-provider/ack-rrsa-c-1",
}


def sample_args(**changes: Any) -> manifests.ManifestArgs:
    base = dict(
        stack="t", prefix="llm-t", namespace="llm-model", app="qwq-32b", image="reg/vllm:0.8.5",
        serve_args=["--served-model-name", "QwQ-32B", "--port", "8000"], served_model_name="QwQ-32B",
        gpus=1, cpu=16, memory_gib=128, shm_gib=8, gpu_series="GU8TF", compute_class="gpu",
        compute_qos="default", group_size=1, startup_timeout_s=3600, bucket="b", object_prefix="p/",
        oss_endpoint="oss-cn-hangzhou-internal.aliyuncs.com", oss_auth="rrsa", oss_role_name="llm-t-oss-rrsa",
        oss_fuse_type="ossfs", pv_size_gib=100, readiness_image="reg/vllm:0.8.5", api_key_version=1, public=True,
        allowed_cidrs=["203.0.113.0/24"],
    )  # fmt: skip
    base.update(changes)
    return manifests.ManifestArgs(**base)  # type: ignore[arg-type]
