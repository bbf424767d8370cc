"""The jump host's folder `/root/llm-k8s-resource/` (the seed's file names), as YAML text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from components.acs.manifests.args import API_KEY_SECRET, OSS_SECRET, ManifestArgs
from components.acs.manifests.rbac import jump_host_cluster_role
from components.acs.manifests.readiness import readiness_job
from components.acs.manifests.services import service
from components.acs.manifests.storage import model_pv, model_pvc, namespace, service_account
from components.acs.manifests.workload import workload


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


def jump_host_files(
    a: ManifestArgs,
    vswitch_id: str,
    acl_id: str | None,
    rrsa: Mapping[str, str] | None = None,
    cert_id: str | None = None,
) -> dict[str, str]:
    """File name -> text, for `/root/llm-k8s-resource/`. Secrets are not among them."""
    files: dict[str, list[dict]] = {
        "pre-deploy-application.yaml": [namespace(a), model_pv(a, rrsa), jump_host_cluster_role(a)],
        application_file(a): [service_account(a), model_pvc(a), readiness_job(a)],
        "model.yaml": [workload(a)],
        "private-service.yaml": [service(a, internet=False, vswitch_id=vswitch_id)],
    }
    notes = {
        "pre-deploy-application.yaml": "Cluster-scoped objects: the jump host's role (namespace llm-model only)\n"
        "cannot change them; Pulumi applies them. The ClusterRole is what that role may do in llm-model.",
        application_file(a): "The readiness Job is immutable; a changed model.yaml gets a new Job from Pulumi.\n"
        f"The Secrets {API_KEY_SECRET} (and {OSS_SECRET}) exist only in the cluster, never in a file.",
        "model.yaml": "The model's workload: change serving settings here and apply (the seed's flow),\n"
        "then carry the change into the stack config, or the next `pulumi up` reverts it.",
    }
    if a.public:
        files["public-service.yaml"] = [service(a, internet=True, acl_id=acl_id, cert_id=cert_id)]
    return {name: file_header(a, name, notes.get(name, "")) + _yaml_docs(objs) for name, objs in files.items()}
