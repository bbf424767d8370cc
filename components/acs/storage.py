"""ModelStorage: the namespace, the pods' service account, and the read-only OSS volume (static
PV + PVC) holding the weights.

OSS access: RRSA by default. A RAM role trusts the cluster's OIDC provider for two service
accounts (the CSI fuse plugin's, which mounts the volume, and the pods' own) and may only read
the model prefix (the same policy as the ECS instance role). Whether ACS mounts OSS with RRSA as
ACK does is unverified (FACTS.md): `acs.ossAuth = secret` uses a Secret fed only from the Pulumi
secret config values `llm:ossAccessKeyId` / `llm:ossAccessKeySecret`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_alicloud as alicloud

from components.acs import manifests
from components.acs.k8s import k8s_object
from components.common.ram import oss_read_policy


def rrsa_trust(oidc_provider_arn: str, issuer_url: str, subjects: list[str]) -> dict:
    """AssumeRole through the cluster's OIDC provider, only for the given service accounts."""
    return {
        "Version": "1",
        "Statement": [
            {
                "Action": "sts:AssumeRole",
                "Effect": "Allow",
                "Principal": {"Federated": [oidc_provider_arn]},
                "Condition": {
                    "StringEquals": {"oidc:aud": "sts.aliyuncs.com", "oidc:iss": issuer_url, "oidc:sub": subjects}
                },
            }
        ],
    }


def rrsa_subjects(csi_service_account: str, namespace: str) -> list[str]:
    """`ns/name` of the CSI plugin's account and the pods' account, as OIDC subjects."""
    csi_ns, _, csi_name = csi_service_account.partition("/")
    return [
        f"system:serviceaccount:{csi_ns}:{csi_name}",
        f"system:serviceaccount:{namespace}:{manifests.SERVICE_ACCOUNT}",
    ]


@dataclass
class ModelStorageArgs:
    manifest: manifests.ManifestArgs
    rrsa_oidc_provider_arn: pulumi.Input[str]
    rrsa_oidc_issuer_url: pulumi.Input[str]
    csi_service_account: str  # ns/name
    oss_access_key: tuple[pulumi.Output[str], pulumi.Output[str]] | None  # only with ossAuth secret
    tags: dict[str, str]


class ModelStorage(pulumi.ComponentResource):
    """Needs the Alibaba Cloud and the Kubernetes provider in `opts.providers`."""

    pv_name: str
    namespace: str
    # Not outputs: what a pod mounting the volume needs first.
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: ModelStorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm:acs:ModelStorage", name, None, opts)
        a = args.manifest
        kopts = pulumi.ResourceOptions(parent=self)
        self.ready = []
        if a.oss_auth == "rrsa":
            # Fixed physical names collide on replacement: delete the old one first.
            named = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
            subjects = rrsa_subjects(args.csi_service_account, a.namespace)
            role = alicloud.ram.Role(
                f"{name}-rrsa-role",
                role_name=a.oss_role_name,
                assume_role_policy_document=pulumi.Output.all(
                    args.rrsa_oidc_provider_arn, args.rrsa_oidc_issuer_url
                ).apply(lambda v: json.dumps(rrsa_trust(v[0], v[1], subjects), sort_keys=True)),
                description=f"{a.prefix}: the model volume reads oss://{a.bucket}/{a.object_prefix} (RRSA)",
                force=True,
                opts=named,
            )
            policy = alicloud.ram.Policy(
                f"{name}-rrsa-policy",
                policy_name=f"{a.prefix}-oss-rrsa-read",
                policy_document=json.dumps(oss_read_policy(a.bucket, a.object_prefix), sort_keys=True),
                description=f"read-only on oss://{a.bucket}/{a.object_prefix}",
                force=True,
                opts=named,
            )
            self.ready.append(
                alicloud.ram.RolePolicyAttachment(
                    f"{name}-rrsa-attach",
                    policy_name=policy.policy_name,
                    policy_type="Custom",
                    role_name=role.role_name,
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        ns = k8s_object(f"{name}-namespace", manifests.namespace(a), kopts)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        self.ready.append(k8s_object(f"{name}-service-account", manifests.service_account(a), in_ns))
        if args.oss_access_key is not None:
            key_id, key_secret = args.oss_access_key
            self.ready.append(
                k8s_object(
                    f"{name}-oss-secret",
                    manifests.oss_secret(a, pulumi.Output.secret(key_id), pulumi.Output.secret(key_secret)),
                    in_ns,
                )
            )
        pv = k8s_object(f"{name}-pv", manifests.model_pv(a), kopts)
        claim = k8s_object(
            f"{name}-pvc", manifests.model_pvc(a), pulumi.ResourceOptions(parent=self, depends_on=[ns, pv])
        )
        self.ready.append(claim)
        self.pv_name = manifests.model_pv_name(a)
        self.namespace = a.namespace
        self.register_outputs({"pvName": self.pv_name, "namespace": self.namespace})
