"""Every Kubernetes object of the acs mode, built once, as data, by pure functions.

The Pulumi resources (components/acs/*.py) and the jump host's files under
`/root/llm-k8s-resource/` both come from these dicts, so `pulumi up` and the seed's manual
`kubectl apply` apply the same objects. No Pulumi imports here: a value that is only known at
deploy time (a vSwitch ID, an ACL ID, a secret) is passed in and placed as it is, never
formatted into a string, so the same builder takes a plain string or a Pulumi Output.

Secrets never reach a file: the API key Secret and the OSS Secret take their data as an
argument (a Pulumi secret) and are left out of `jump_host_files`.

One module per group of objects: `storage` (namespace, service account, PV, PVC), `secrets`,
`pods` (pieces of every pod template), `deployment`, `lws`, `workload`, `readiness`,
`services`, `rbac` (the jump host's ClusterRole), `files` (the jump host's folder). This package re-exports their public names.
"""

from components.acs.manifests.args import (
    ACS_LABELS,
    API_KEY_FIELD,
    API_KEY_SECRET,
    LB,
    MODEL_MOUNT,
    OSS_SECRET,
    PORT,
    PRIVATE_SERVICE,
    PUBLIC_SERVICE,
    RAY_GROUP_WAIT_S,
    RAY_PORT,
    SERVICE_ACCOUNT,
    SERVING_MARKER,
    ManifestArgs,
    content_hash,
    metadata,
)
from components.acs.manifests.deployment import deployment
from components.acs.manifests.files import application_file, file_header, jump_host_files, to_yaml
from components.acs.manifests.lws import leader_command, leader_probe_script, leader_worker_set, worker_command
from components.acs.manifests.pods import workload_annotations
from components.acs.manifests.rbac import jump_host_cluster_role, jump_host_cluster_role_name
from components.acs.manifests.readiness import READINESS_SCRIPT, readiness_job
from components.acs.manifests.secrets import api_key_secret, oss_secret
from components.acs.manifests.services import service
from components.acs.manifests.storage import model_pv, model_pv_name, model_pvc, namespace, service_account
from components.acs.manifests.workload import serving_selector, workload

__all__ = [
    "ACS_LABELS", "API_KEY_FIELD", "API_KEY_SECRET", "LB", "MODEL_MOUNT", "OSS_SECRET", "PORT", "PRIVATE_SERVICE",
    "PUBLIC_SERVICE", "RAY_GROUP_WAIT_S", "RAY_PORT", "SERVICE_ACCOUNT", "SERVING_MARKER",
    "READINESS_SCRIPT", "ManifestArgs", "api_key_secret", "application_file", "content_hash", "deployment",
    "file_header", "jump_host_cluster_role", "jump_host_cluster_role_name", "jump_host_files", "leader_command", "leader_probe_script", "leader_worker_set", "metadata",
    "model_pv", "model_pv_name", "model_pvc", "namespace", "oss_secret", "readiness_job", "service",
    "service_account", "serving_selector", "to_yaml", "worker_command", "workload", "workload_annotations",
]  # fmt: skip
