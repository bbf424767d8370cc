"""ModelStorage: the namespace, the pods' service account, and the read-only OSS volume (static
PV + PVC) holding the weights.

OSS access: RRSA by default. A RAM role trusts the cluster's OIDC provider for one service
account, the one whose token the mount uses: the CSI driver assumes the role as its fuse account
`csi-fuse-ossfs` unless the volume names another (alibaba-cloud-csi-driver, 8aacf900,
`pkg/mounter/fuse_pod_manager`), configurable as `llm:acs.ossRrsaServiceAccount`. The pods' own
account is not trusted: vLLM reads the mounted files and holds no cloud credentials. The role may
only read the model prefix (the same policy as the ECS instance role). The volume names the role
and the OIDC provider by ARN, so the driver does not derive them from node metadata. Whether an
ACS sandbox mounts with that account's token is unverified (docs/cloud-contracts.md):
`acs.ossAuth = secret` uses a Secret fed only from the Pulumi secret config values
`llm:ossAccessKeyId` / `llm:ossAccessKeySecret`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_alicloud as alicloud

from components.acs import manifests
from components.acs.k8s import k8s_object
from components.common.ram import oss_read_policy
from components.common.ram_grant import grant


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


def rrsa_subjects(csi_service_account: str) -> list[str]:
    """`ns/name` of the account the mount assumes the role as, as the one OIDC subject."""
    csi_ns, _, csi_name = csi_service_account.partition("/")
    return [f"system:serviceaccount:{csi_ns}:{csi_name}"]


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
    # What the volume authenticates with ({} with ossAuth secret): the jump host's copy of the PV.
    volume_auth: pulumi.Output[dict[str, str]]
    # Not outputs: what a pod mounting the volume needs first.
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: ModelStorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm:acs:ModelStorage", name, None, opts)
        a = args.manifest
        kopts = pulumi.ResourceOptions(parent=self)
        self.ready = []
        self.volume_auth = pulumi.Output.from_input({})
        rrsa: dict[str, pulumi.Output[str]] | None = None
        if a.oss_auth == "rrsa":
            # Fixed physical names collide on replacement: delete the old one first.
            named = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
            subjects = rrsa_subjects(args.csi_service_account)
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
            read = grant(
                self, f"{name}-rrsa-policy", f"{name}-rrsa-attach", role, f"{a.prefix}-oss-rrsa-read",
                json.dumps(oss_read_policy(a.bucket, a.object_prefix), sort_keys=True),
                f"read-only on oss://{a.bucket}/{a.object_prefix}",
            )  # fmt: skip
            rrsa = {"roleArn": role.arn, "oidcProviderArn": pulumi.Output.from_input(args.rrsa_oidc_provider_arn)}
            self.volume_auth = pulumi.Output.all(role.arn, args.rrsa_oidc_provider_arn).apply(
                lambda v: {"roleArn": v[0], "oidcProviderArn": v[1]}
            )
            self.ready.append(read.attachment)
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
        pv = k8s_object(f"{name}-pv", manifests.model_pv(a, rrsa), kopts)
        claim = k8s_object(
            f"{name}-pvc", manifests.model_pvc(a), pulumi.ResourceOptions(parent=self, depends_on=[ns, pv])
        )
        self.ready.append(claim)
        self.pv_name = manifests.model_pv_name(a)
        self.namespace = a.namespace
        self.register_outputs({"pvName": self.pv_name, "namespace": self.namespace})
