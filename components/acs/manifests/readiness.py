"""The readiness gate: a Job that sends one real chat completion through the private Service."""

from __future__ import annotations

from components.acs.manifests.args import (
    API_KEY_FIELD,
    API_KEY_SECRET,
    PORT,
    PRIVATE_SERVICE,
    RAY_GROUP_WAIT_S,
    ManifestArgs,
    content_hash,
    metadata,
)
from components.acs.manifests.pods import container_security, pod_security
from components.acs.manifests.workload import workload

# The Job reads the key from a file (not an env variable): nothing else in the pod sees it, and
# `kubectl describe` shows only the path. Non-root (nobody), so the file is group-readable via fsGroup.
KEY_DIR = "/var/run/llm-api-key"
NOBODY = 65534

READINESS_SCRIPT = """\
import json, os, sys, time, urllib.request
url, model = os.environ["LLM_URL"], os.environ["LLM_MODEL"]
with open(os.environ["API_KEY_FILE"]) as f:
    key = f.read().strip()
deadline = time.time() + int(os.environ["LLM_DEADLINE_S"])
body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Say OK."}],
                   "max_tokens": 16, "temperature": 0}).encode()
attempt = 0
while True:
    attempt += 1
    req = urllib.request.Request(url, data=body, headers={
        "Content-Type": "application/json", "Authorization": "Bearer " + key})
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
        "metadata": metadata(
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
                    "securityContext": pod_security(
                        a, runAsNonRoot=True, runAsUser=NOBODY, runAsGroup=NOBODY, fsGroup=NOBODY
                    ),
                    "volumes": [
                        {
                            "name": "api-key",
                            "secret": {
                                "secretName": API_KEY_SECRET,
                                "items": [{"key": API_KEY_FIELD, "path": API_KEY_FIELD}],
                                "defaultMode": 0o440,
                            },
                        }
                    ],
                    "containers": [
                        {
                            "name": "check",
                            "image": a.readiness_image,
                            "command": ["python3", "-c", READINESS_SCRIPT],
                            "env": [
                                {"name": "LLM_URL", "value": url},
                                {"name": "LLM_MODEL", "value": a.served_model_name},
                                {"name": "LLM_DEADLINE_S", "value": str(deadline)},
                                {"name": "API_KEY_FILE", "value": f"{KEY_DIR}/{API_KEY_FIELD}"},
                            ],
                            "volumeMounts": [{"name": "api-key", "mountPath": KEY_DIR, "readOnly": True}],
                            # The script writes nothing: the root filesystem is read-only always.
                            "securityContext": container_security(a, read_only_root=True)
                            | {"capabilities": {"drop": ["ALL"]}},
                            "resources": {"requests": dict(amount), "limits": dict(amount)},
                        }
                    ],
                },
            },
        },
    }
