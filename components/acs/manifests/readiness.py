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
from components.acs.manifests.workload import workload

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
