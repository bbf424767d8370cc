"""Readable artefacts of a plan: decoded scripts, manifests as YAML, the jump host's folder."""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import tarfile

import yaml


def decode(text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except Exception:
        return text


# The jump host's manifests command carries its files as a tar.gz (components/acs_jump_host.py).
_MANIFESTS_TGZ = re.compile(r"^export LLM_MANIFESTS_TGZ_B64=(\S+)$", re.M)
# The host-setup commands carry the host's scripts and units the same way (components/ecs/userdata.py).
_HOST_FILES_TGZ = re.compile(r"^export LLM_FILES_TGZ_B64=(\S+)$", re.M)
_MANIFEST_FIRST = ("apiVersion", "kind", "metadata")


def _manifest_yaml(inputs: dict) -> str:
    """A Kubernetes resource's inputs as a manifest: apiVersion, kind, metadata first, then sorted."""
    manifest = {k: v for k, v in inputs.items() if k != "__defaults"}
    head = {k: manifest[k] for k in _MANIFEST_FIRST if k in manifest}
    tail = {k: manifest[k] for k in sorted(manifest) if k not in head}
    return "".join(_dump({k: v}) for k, v in (head | tail).items())


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    str,
    lambda d, s: d.represent_scalar(
        "tag:yaml.org,2002:str", s, style="|" if "\n" in s and all(ln == ln.rstrip() for ln in s.splitlines()) else None
    ),
)


def _dump(obj: dict) -> str:
    """Sorted keys; multi-line strings (scripts) as literal blocks."""
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=True, allow_unicode=True, width=120)


def _packed_folder(script: str, pattern: re.Pattern[str], folder: str) -> dict[str, str]:
    m = pattern.search(script)
    if not m:
        return {}
    raw = gzip.decompress(base64.b64decode(m[1].strip("'")))
    out = {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for member in tar.getmembers():
            f = tar.extractfile(member)
            if f is not None:
                out[f"{folder}/{member.name}"] = f.read().decode("utf-8")
    return out


def artefacts(resources: list[dict]) -> dict[str, str]:
    """files/<name>...: user-data per node, each Cloud Assistant script decoded, manifests."""
    out: dict[str, str] = {}
    for r in resources:
        t, name, inputs = r["type"], r["name"], r["inputs"]
        if t == "alicloud:ecs/instance:Instance" and isinstance(inputs.get("userData"), str):
            out[f"{name}.user-data.sh"] = decode(inputs["userData"])
        elif t == "alicloud:ecs/command:Command" and isinstance(inputs.get("commandContent"), str):
            out[f"{name}.sh"] = decode(inputs["commandContent"])
            out |= _packed_folder(out[f"{name}.sh"], _MANIFESTS_TGZ, "jump-host/llm-k8s-resource")
            out |= _packed_folder(out[f"{name}.sh"], _HOST_FILES_TGZ, f"{name.removesuffix('-command')}-files")
        elif t == "alicloud:ecs/ecsInvocation:EcsInvocation" and inputs.get("parameters"):
            # The run's settings (issue 13): each parameter as the agent substitutes it.
            out[f"{name}.parameters.json"] = json.dumps(inputs["parameters"], indent=2, sort_keys=True) + "\n"
        elif t.startswith("kubernetes:") and not t.startswith("kubernetes:helm") and t != "pulumi:providers:kubernetes":
            out[f"{name}.yaml"] = _manifest_yaml(inputs)
    return out
