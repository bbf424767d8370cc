"""The ClusterRole the jump host's RAM role is bound to, in the namespace llm-model only.

ACS binds RAM users and roles to predefined roles or to custom ClusterRoles (not Roles), and
the predefined `dev` covers the core, apps, autoscaling, batch and extensions groups, not
`leaderworkerset.x-k8s.io`: the jump host could not apply `model.yaml` of a LeaderWorkerSet. So
the stack creates its own ClusterRole, a developer's set of namespaced objects plus
LeaderWorkerSets, and binds it namespace-scoped (`cs.KubernetesPermission`, `is_custom=True`).
Secrets are left out: no file on the jump host holds one, and the API key stays in the cluster.
"""

from __future__ import annotations

from components.acs.manifests.args import ManifestArgs, metadata

WRITE = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
READ = ["get", "list", "watch"]
LWS_GROUP = "leaderworkerset.x-k8s.io"


def jump_host_cluster_role_name(a: ManifestArgs) -> str:
    return f"{a.prefix}-jump-host"


def jump_host_cluster_role(a: ManifestArgs) -> dict:
    rules = [
        {"apiGroups": [""], "verbs": WRITE, "resources": [
            "configmaps", "endpoints", "persistentvolumeclaims", "pods", "pods/attach", "pods/exec",
            "pods/portforward", "pods/proxy", "serviceaccounts", "services", "services/proxy",
        ]},
        {"apiGroups": [""], "verbs": READ, "resources": [
            "events", "limitranges", "pods/log", "pods/status", "resourcequotas",
        ]},
        {"apiGroups": ["apps"], "verbs": WRITE, "resources": [
            "controllerrevisions", "deployments", "deployments/rollback", "deployments/scale", "replicasets",
            "replicasets/scale", "statefulsets", "statefulsets/scale",
        ]},
        {"apiGroups": ["autoscaling"], "verbs": WRITE, "resources": ["horizontalpodautoscalers"]},
        {"apiGroups": ["batch"], "verbs": WRITE, "resources": ["cronjobs", "jobs"]},
        {"apiGroups": ["events.k8s.io"], "verbs": READ, "resources": ["events"]},
        {"apiGroups": [LWS_GROUP], "verbs": WRITE, "resources": ["leaderworkersets", "leaderworkersets/scale"]},
        {"apiGroups": [LWS_GROUP], "verbs": READ, "resources": ["leaderworkersets/status"]},
    ]  # fmt: skip
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": metadata(a, jump_host_cluster_role_name(a), namespaced=False),
        "rules": rules,
    }
