"""Every Kubernetes object of the acs mode, built once, as data, by pure functions.

The Pulumi resources (components/acs_*.py) and the jump host's files under
`/root/llm-k8s-resource/` both come from these dicts, so `pulumi up` and the seed's manual
`kubectl apply` apply the same objects. No Pulumi imports here: a value that is only known at
deploy time (a vSwitch ID, an ACL ID, a secret) is passed in and placed as it is, never
formatted into a string, so the same builder takes a plain string or a Pulumi Output.

Secrets never reach a file: the API key Secret and the OSS Secret take their data as an
argument (a Pulumi secret) and are left out of `jump_host_files`.
"""

from __future__ import annotations

import hashlib
import json
import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

PORT = 8000
API_KEY_SECRET = "vllm-api-key"
API_KEY_FIELD = "api-key"
OSS_SECRET = "oss-model-reader"
SERVICE_ACCOUNT = "vllm"
MODEL_MOUNT = "/llm-model"
PRIVATE_SERVICE = "vllm-private"
PUBLIC_SERVICE = "vllm-public"
RAY_PORT = 6379
# Marks "vllm serve started" for the LWS leader's probe (see leader_probe_script).
SERVING_MARKER = "/tmp/llm-serving"
# How long the LWS leader waits for the group's Ray nodes before it fails (and LWS restarts it).
RAY_GROUP_WAIT_S = 1800

LB = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"
ACS_LABELS = ("alibabacloud.com/compute-class", "alibabacloud.com/gpu-model-series", "alibabacloud.com/compute-qos")


@dataclass(frozen=True)
class ManifestArgs:
    """What the manifests need, in the terms of intent. All plain, non-secret values."""

    stack: str
    prefix: str  # physical prefix, llm-<stack>: names cluster-scoped objects (PV)
    namespace: str
    app: str  # label value and workload name, e.g. qwq-32b
    image: str
    serve_args: list[str]  # `vllm serve <model dir>` arguments (vllm_args.serve_args)
    served_model_name: str
    gpus: int
    cpu: int
    memory_gib: int
    shm_gib: int
    gpu_series: str
    compute_class: str
    compute_qos: str
    group_size: int  # > 1: a LeaderWorkerSet
    startup_timeout_s: int
    bucket: str
    object_prefix: str
    oss_endpoint: str
    oss_auth: str  # rrsa | secret
    oss_role_name: str  # RAM role the OSS volume assumes (rrsa)
    pv_size_gib: int
    readiness_image: str
    api_key_version: int
    public: bool
    allowed_cidrs: list[str] = field(default_factory=list)

    @property
    def lws(self) -> bool:
        return self.group_size > 1

    @property
    def model_dir(self) -> str:
        return f"{MODEL_MOUNT}/{self.app}"


def _meta(a: ManifestArgs, name: str, namespaced: bool = True, **extra: Any) -> dict:
    meta: dict[str, Any] = {"name": name}
    if namespaced:
        meta["namespace"] = a.namespace
    meta["labels"] = {"app.kubernetes.io/part-of": "llm-inference", "llm/stack": a.stack}
    for k, v in extra.items():
        if v:
            meta[k] = v
    return meta


# ---------------------------------------------------------------------------------------------
# Namespace, identity, storage


def namespace(a: ManifestArgs) -> dict:
    """The seed's namespace; RRSA's webhook injects OIDC tokens into pods of labelled namespaces."""
    meta = _meta(a, a.namespace, namespaced=False)
    if a.oss_auth == "rrsa":
        meta["labels"]["pod-identity.alibabacloud.com/injection"] = "on"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def service_account(a: ManifestArgs) -> dict:
    annotations = {"pod-identity.alibabacloud.com/role-name": a.oss_role_name} if a.oss_auth == "rrsa" else None
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(a, SERVICE_ACCOUNT, annotations=annotations),
        "automountServiceAccountToken": False,
    }


def model_pv_name(a: ManifestArgs) -> str:
    return f"{a.prefix}-model"


def model_pv(a: ManifestArgs) -> dict:
    """A static, read-only OSS volume on the model prefix (ACS documents OSS as static PVs only)."""
    attrs: dict[str, Any] = {
        "bucket": a.bucket,
        "url": a.oss_endpoint,
        "path": "/" + a.object_prefix.rstrip("/"),
        "otherOpts": "-o ro -o allow_other",
    }
    csi: dict[str, Any] = {
        "driver": "ossplugin.csi.alibabacloud.com",
        "volumeHandle": model_pv_name(a),
        "readOnly": True,
        "volumeAttributes": attrs,
    }
    if a.oss_auth == "rrsa":
        attrs["authType"] = "rrsa"
        attrs["roleName"] = a.oss_role_name
    else:
        csi["nodePublishSecretRef"] = {"name": OSS_SECRET, "namespace": a.namespace}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": _meta(a, model_pv_name(a), namespaced=False) | {"labels": {"llm/volume": model_pv_name(a)}},
        "spec": {
            "capacity": {"storage": f"{a.pv_size_gib}Gi"},
            "accessModes": ["ReadOnlyMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "csi": csi,
        },
    }


def model_pvc(a: ManifestArgs) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(a, "llm-model"),
        "spec": {
            "accessModes": ["ReadOnlyMany"],
            "storageClassName": "",
            "volumeName": model_pv_name(a),
            "resources": {"requests": {"storage": f"{a.pv_size_gib}Gi"}},
        },
    }


def api_key_secret(a: ManifestArgs, value: Any) -> dict:
    """The API key for pods (read only through secretKeyRef). `value` is a Pulumi secret."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(a, API_KEY_SECRET, annotations={"llm/api-key-version": str(a.api_key_version)}),
        "type": "Opaque",
        "stringData": {API_KEY_FIELD: value},
    }


def oss_secret(a: ManifestArgs, access_key_id: Any, access_key_secret: Any) -> dict:
    """Only with `acs.ossAuth = secret`: values from Pulumi secret config, never literals."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(a, OSS_SECRET),
        "type": "Opaque",
        "stringData": {"akId": access_key_id, "akSecret": access_key_secret},
    }


# ---------------------------------------------------------------------------------------------
# Workloads


def _pod_labels(a: ManifestArgs, role: str) -> dict[str, str]:
    """ACS reads these from the POD template (not the workload's metadata)."""
    return {
        "app": a.app,
        "llm/role": role,
        "alibabacloud.com/compute-class": a.compute_class,
        "alibabacloud.com/gpu-model-series": a.gpu_series,
        "alibabacloud.com/compute-qos": a.compute_qos,
    }


def _resources(a: ManifestArgs) -> dict:
    amount = {"cpu": str(a.cpu), "memory": f"{a.memory_gib}Gi", "nvidia.com/gpu": str(a.gpus)}
    return {"requests": dict(amount), "limits": dict(amount)}


def _api_key_env() -> dict:
    return {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": API_KEY_SECRET, "key": API_KEY_FIELD}}}


def _volumes(a: ManifestArgs) -> list[dict]:
    return [
        {"name": "model", "persistentVolumeClaim": {"claimName": "llm-model", "readOnly": True}},
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{a.shm_gib}Gi"}},
    ]


def _mounts(a: ManifestArgs) -> list[dict]:
    return [
        {"name": "model", "mountPath": a.model_dir, "readOnly": True},
        {"name": "dshm", "mountPath": "/dev/shm"},
    ]


def _http_probe(period_s: int, failures: int) -> dict:
    return {
        "httpGet": {"path": "/health", "port": PORT},
        "periodSeconds": period_s,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def _startup_failures(a: ManifestArgs, period_s: int = 10) -> int:
    """The startup probe allows the whole load (`vllm.startupTimeoutS`) before a restart."""
    return max(1, math.ceil(a.startup_timeout_s / period_s))


def _pod_spec(a: ManifestArgs, container: dict) -> dict:
    return {
        "serviceAccountName": SERVICE_ACCOUNT,
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 30,
        "containers": [container],
        "volumes": _volumes(a),
    }


def deployment(a: ManifestArgs) -> dict:
    """One pod, one model copy: `vllm serve` on the mounted weights."""
    container = {
        "name": "vllm",
        "image": a.image,
        "command": ["vllm", "serve", a.model_dir],
        "args": list(a.serve_args),
        "env": [_api_key_env()],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "resources": _resources(a),
        "volumeMounts": _mounts(a),
        "startupProbe": _http_probe(10, _startup_failures(a)),
        "readinessProbe": _http_probe(10, 3),
        "livenessProbe": _http_probe(30, 5),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(a, a.app, annotations=workload_annotations(a)),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": a.app}},
            # A new pod comes up before the old one goes: no gap while the model loads (ACS
            # schedules the extra GPU pod on demand; it costs the load time's GPU hours).
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "progressDeadlineSeconds": a.startup_timeout_s + 600,
            "template": {
                "metadata": {"labels": _pod_labels(a, "serve")},
                "spec": _pod_spec(a, container),
            },
        },
    }


def workload_annotations(a: ManifestArgs) -> dict[str, str]:
    """pulumi-kubernetes awaits a Deployment for 10 minutes by default: a model load takes longer.
    The Deployment is awaited for the whole startup bound (image pull included); the readiness
    Job then proves one real completion. A LeaderWorkerSet (a custom resource) is not awaited."""
    if a.lws:
        return {"pulumi.com/skipAwait": "true"}
    return {"pulumi.com/timeoutSeconds": str(a.startup_timeout_s + 900)}


def leader_probe_script() -> str:
    """LWS with `startupPolicy: LeaderReady` creates the workers only once the leader is Ready,
    and vLLM on the leader needs the workers: a plain /health probe would never pass. So the
    leader is ready when its Ray head listens until `vllm serve` starts (marker file), and from
    then on only when /health answers."""
    return (
        "import os, socket, urllib.request\n"
        f"if os.path.exists({SERVING_MARKER!r}):\n"
        f"    urllib.request.urlopen('http://127.0.0.1:{PORT}/health', timeout=5)\n"
        "else:\n"
        f"    socket.create_connection(('127.0.0.1', {RAY_PORT}), timeout=5).close()\n"
    )


def _exec_probe(script: str, period_s: int, failures: int) -> dict:
    return {
        "exec": {"command": ["python3", "-c", script]},
        "periodSeconds": period_s,
        "timeoutSeconds": 10,
        "failureThreshold": failures,
    }


def leader_command(a: ManifestArgs) -> str:
    """Ray head, then wait (bounded) for the whole group, then `vllm serve`: joined with `&&` so a
    failed step stops the pod instead of serving on half a cluster."""
    wait_group = (
        "import os, sys, time, ray\n"
        'ray.init(address="auto", logging_level="ERROR")\n'
        'want = int(os.environ["LWS_GROUP_SIZE"])\n'
        f"deadline = time.time() + {RAY_GROUP_WAIT_S}\n"
        "while True:\n"
        '    alive = sum(1 for n in ray.nodes() if n["Alive"])\n'
        "    if alive >= want:\n"
        '        print(f"ray: {alive}/{want} nodes alive", flush=True)\n'
        "        sys.exit(0)\n"
        "    if time.time() > deadline:\n"
        f'        print(f"ray: only {{alive}}/{{want}} nodes joined within {RAY_GROUP_WAIT_S} s", flush=True)\n'
        "        sys.exit(1)\n"
        "    time.sleep(5)\n"
    )
    serve = shlex.join(["vllm", "serve", a.model_dir, *a.serve_args])
    return (
        f"ray start --head --port={RAY_PORT} --disable-usage-stats \\\n"
        f"&& python3 -c {shlex.quote(wait_group)} \\\n"
        f"&& touch {SERVING_MARKER} \\\n"
        f"&& exec {serve}\n"
    )


def worker_command() -> str:
    # $(LWS_LEADER_ADDRESS) is expanded by Kubernetes (LWS injects the variable), not by the shell.
    return f"ray start --address=$(LWS_LEADER_ADDRESS):{RAY_PORT} --disable-usage-stats --block"


def _nccl_env() -> list[dict]:
    # Pods of compute-class gpu talk over the VPC network (eth0); HPN pods would need RDMA settings.
    return [{"name": "NCCL_SOCKET_IFNAME", "value": "eth0"}, {"name": "GLOO_SOCKET_IFNAME", "value": "eth0"}]


def leader_worker_set(a: ManifestArgs) -> dict:
    """DeepSeek-R1 671B across `group_size` pods: TP = GPUs per pod, PP = group size (in serve_args)."""
    leader = {
        "name": "vllm-leader",
        "image": a.image,
        "command": ["/bin/bash", "-c", leader_command(a)],
        "env": [_api_key_env(), *_nccl_env()],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "resources": _resources(a),
        "volumeMounts": _mounts(a),
        "startupProbe": _exec_probe(leader_probe_script(), 10, 60),
        "readinessProbe": _exec_probe(leader_probe_script(), 10, 3),
    }
    worker = {
        "name": "vllm-worker",
        "image": a.image,
        "command": ["/bin/bash", "-c", worker_command()],
        "env": _nccl_env(),
        "resources": _resources(a),
        "volumeMounts": _mounts(a),
        "readinessProbe": _exec_probe(
            f"import socket, os; socket.create_connection((os.environ['LWS_LEADER_ADDRESS'], {RAY_PORT}), timeout=5).close()",
            30,
            3,
        ),
    }
    return {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": _meta(a, a.app, annotations=workload_annotations(a)),
        "spec": {
            "replicas": 1,
            "startupPolicy": "LeaderReady",
            "leaderWorkerTemplate": {
                "size": a.group_size,
                "restartPolicy": "RecreateGroupOnPodRestart",
                "leaderTemplate": {
                    "metadata": {"labels": _pod_labels(a, "leader")},
                    "spec": _pod_spec(a, leader),
                },
                "workerTemplate": {
                    "metadata": {"labels": _pod_labels(a, "worker")},
                    "spec": _pod_spec(a, worker),
                },
            },
        },
    }


def workload(a: ManifestArgs) -> dict:
    return leader_worker_set(a) if a.lws else deployment(a)


def serving_selector(a: ManifestArgs) -> dict[str, str]:
    return {"app": a.app, "llm/role": "leader" if a.lws else "serve"}


# ---------------------------------------------------------------------------------------------
# Readiness gate


READINESS_SCRIPT = """\
import json, os, sys, time, urllib.request
url, model = os.environ["LLM_URL"], os.environ["LLM_MODEL"]
deadline = time.time() + int(os.environ["LLM_DEADLINE_S"])
body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Say OK."}],
                   "max_tokens": 16, "temperature": 0}).encode()
attempt = 0
while True:
    attempt += 1
    req = urllib.request.Request(url, data=body, headers={
        "Content-Type": "application/json", "Authorization": "Bearer " + os.environ["API_KEY"]})
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            answer = json.load(r)
        if answer.get("choices"):
            print(f"ready after {attempt} attempt(s): {model} answered", flush=True)
            sys.exit(0)
        print(f"attempt {attempt}: no choices in the answer", flush=True)
    except Exception as e:  # not up yet: connection refused, 503, timeout
        print(f"attempt {attempt}: {type(e).__name__}: {str(e)[:200]}", flush=True)
    if time.time() > deadline:
        print("gave up: no completion within LLM_DEADLINE_S", flush=True)
        sys.exit(1)
    time.sleep(15)
"""


def content_hash(objs: Sequence[Mapping[str, Any]], length: int = 10) -> str:
    text = json.dumps(list(objs), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def readiness_job(a: ManifestArgs) -> dict:
    """One real chat completion through the private Service, retried until the startup bound.

    Pulumi awaits a Job until it completes, here for the whole bound (annotation), so
    `pulumi up` ends only when the model answers. Jobs are immutable: the name carries a hash
    of the workload, so a changed workload gets a new Job (and an unchanged one none)."""
    deadline = a.startup_timeout_s + (RAY_GROUP_WAIT_S if a.lws else 0)
    url = f"http://{PRIVATE_SERVICE}.{a.namespace}.svc.cluster.local:{PORT}/v1/chat/completions"
    amount = {"cpu": "1", "memory": "1Gi"}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(
            a,
            f"{a.app}-ready-{content_hash([workload(a)])}",
            annotations={"pulumi.com/timeoutSeconds": str(deadline + 900)},
        ),
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline + 600,
            "template": {
                "metadata": {"labels": {"app": f"{a.app}-readiness"}},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "containers": [
                        {
                            "name": "check",
                            "image": a.readiness_image,
                            "command": ["python3", "-c", READINESS_SCRIPT],
                            "env": [
                                {"name": "LLM_URL", "value": url},
                                {"name": "LLM_MODEL", "value": a.served_model_name},
                                {"name": "LLM_DEADLINE_S", "value": str(deadline)},
                                {
                                    "name": "API_KEY",
                                    "valueFrom": {"secretKeyRef": {"name": API_KEY_SECRET, "key": API_KEY_FIELD}},
                                },
                            ],
                            "resources": {"requests": dict(amount), "limits": dict(amount)},
                        }
                    ],
                },
            },
        },
    }


# ---------------------------------------------------------------------------------------------
# Services (Alibaba Cloud CLB through the cloud controller's annotations)


def service(a: ManifestArgs, internet: bool, vswitch_id: Any = None, acl_id: Any = None) -> dict:
    """A CLB in front of the serving pod. Intranet: in the node vSwitch. Internet: only with an
    allowlist ACL (white list), which the CLB enforces at its listener."""
    annotations: dict[str, Any] = {
        f"{LB}address-type": "internet" if internet else "intranet",
        f"{LB}instance-charge-type": "PayByCLCU",
        # The LB gets its address long before the model loads: wait for the address only.
        "pulumi.com/waitFor": "jsonpath={.status.loadBalancer.ingress[0].ip}",
        "pulumi.com/timeoutSeconds": "900",
    }
    if internet:
        annotations |= {
            f"{LB}charge-type": "paybytraffic",
            f"{LB}acl-status": "on",
            f"{LB}acl-type": "white",
            f"{LB}acl-id": acl_id,
        }
    else:
        annotations[f"{LB}vswitch-id"] = vswitch_id
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(a, PUBLIC_SERVICE if internet else PRIVATE_SERVICE, annotations=annotations),
        "spec": {
            "type": "LoadBalancer",
            "selector": serving_selector(a),
            "ports": [{"name": "http", "port": PORT, "targetPort": PORT, "protocol": "TCP"}],
        },
    }


# ---------------------------------------------------------------------------------------------
# The jump host's folder (the seed's file names)


def file_header(a: ManifestArgs, name: str, note: str = "") -> str:
    lines = [
        f"# {name}: managed by the Pulumi stack '{a.stack}' (llm-inference). Do not edit here:",
        "# the next `pulumi up` rewrites this file and restores the objects in the cluster.",
        f"# Apply by hand from this folder: kubectl apply -f {name}",
    ]
    if note:
        lines += [f"# {ln}" for ln in note.splitlines()]
    return "\n".join(lines) + "\n"


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (scripts) as literal blocks, so the files read like the seed's."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not any(ln != ln.rstrip() for ln in value.splitlines()) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(obj: Mapping[str, Any], sort_keys: bool = False) -> str:
    return yaml.dump(dict(obj), Dumper=_Dumper, sort_keys=sort_keys, allow_unicode=True, width=120)


def _yaml_docs(objs: Sequence[Mapping[str, Any]]) -> str:
    return "---\n".join(to_yaml(o) for o in objs)


def application_file(a: ManifestArgs) -> str:
    return f"{a.app}-application.yaml"


def jump_host_files(a: ManifestArgs, vswitch_id: str, acl_id: str | None) -> dict[str, str]:
    """File name -> text, for `/root/llm-k8s-resource/`. Secrets are not among them."""
    files: dict[str, list[dict]] = {
        "pre-deploy-application.yaml": [namespace(a), model_pv(a)],
        application_file(a): [service_account(a), model_pvc(a), readiness_job(a)],
        "model.yaml": [workload(a)],
        "private-service.yaml": [service(a, internet=False, vswitch_id=vswitch_id)],
    }
    notes = {
        "pre-deploy-application.yaml": "Cluster-scoped objects: the jump host's role (namespace llm-model only)\n"
        "cannot change them; Pulumi applies them.",
        application_file(a): "The readiness Job is immutable; a changed model.yaml gets a new Job from Pulumi.\n"
        f"The Secrets {API_KEY_SECRET} (and {OSS_SECRET}) exist only in the cluster, never in a file.",
        "model.yaml": "The model's workload: change serving settings here and apply (the seed's flow),\n"
        "then carry the change into the stack config, or the next `pulumi up` reverts it.",
    }
    if a.public:
        files["public-service.yaml"] = [service(a, internet=True, acl_id=acl_id)]
    return {name: file_header(a, name, notes.get(name, "")) + _yaml_docs(objs) for name, objs in files.items()}
