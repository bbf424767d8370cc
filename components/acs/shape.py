"""The ACS shape: which components, in which order, with which wiring (DESIGN section 1).

Network (VPC, first node vSwitch, security group) -> AcsCluster (other vSwitches, NAT egress,
cluster, Kubernetes provider) -> ApiKey -> ModelStorage (namespace, OSS volume, RRSA role) ->
AcsWorkload (Secret, LWS controller, workload, load balancers, readiness Job) -> JumpHost
(kubectl, RBAC, the manifests as files). Every manifest comes from components/acs/manifests/.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_alicloud as alicloud

from components.acs import manifests
from components.acs.cluster import AcsCluster, AcsClusterArgs
from components.acs.jump_host import JumpHost, JumpHostArgs
from components.acs.observability import AcsObservability, AcsObservabilityArgs
from components.acs.storage import ModelStorage, ModelStorageArgs
from components.acs.workload import AcsWorkload, AcsWorkloadArgs, LwsChart
from components.common import naming
from components.common.api_key import ApiKey, ApiKeyArgs
from components.common.endpoints import endpoint_outputs
from components.common.network import Network, NetworkArgs
from components.common.vllm_args import serve_args
from components.config.plans import AcsPlan
from components.config.problems import NAMESPACE
from components.config.rules_acs import NAMESPACE_K8S


def manifest_args(p: AcsPlan, stack: str) -> manifests.ManifestArgs:
    """The manifests' inputs, from the plan (pure)."""
    s, acs = p.settings, p.settings.acs
    prefix = naming.physical_prefix(stack)
    return manifests.ManifestArgs(
        stack=stack, prefix=prefix, namespace=NAMESPACE_K8S, app=p.model.key, image=p.vllm_image,
        serve_args=serve_args(p), served_model_name=p.served_model_name, gpus=p.gpus_per_pod, cpu=p.cpu,
        memory_gib=p.memory_gib, shm_gib=p.shm_gib, gpu_series=p.series.name,
        compute_class=acs.compute_class, compute_qos=acs.compute_qos,
        group_size=p.group_size, startup_timeout_s=s.vllm.startup_timeout_s,
        bucket=s.model_source.bucket, object_prefix=s.model_source.prefix, oss_endpoint=p.oss_endpoint,
        oss_auth=acs.oss_auth, oss_role_name=f"{prefix}-oss-rrsa", oss_fuse_type=acs.oss_fuse_type,
        pv_size_gib=p.disk_size_gib,
        readiness_image=acs.readiness_image or p.vllm_image, api_key_version=s.api_key_version,
        public=p.public, allowed_cidrs=list(s.public_access.allowed_cidrs) if p.public else [],
        read_only_root=acs.read_only_root_filesystem, seccomp=acs.seccomp_runtime_default,
        replicas=s.replicas, lws_max_unavailable=acs.lws_max_unavailable, lws_max_surge=acs.lws_max_surge,
        tls_certificate_id=p.tls_certificate_id,
    )  # fmt: skip


def build_acs(p: AcsPlan, api_key: pulumi.Output[str] | None) -> dict[str, Any]:
    s, acs = p.settings, p.settings.acs
    prefix = naming.physical_prefix()
    tags = naming.merge_tags(s.tags)
    provider = alicloud.Provider("alicloud", region=s.region)
    opts = pulumi.ResourceOptions(providers=[provider])

    # Network's own NAT would cover only its vSwitch: AcsCluster adds one for all four.
    network = Network(
        "network",
        NetworkArgs(prefix=prefix, zone_id=p.zone_ids[0], vpc_cidr=p.vpc_cidr, vswitch_cidr=p.node_cidrs[0],
                    egress="none", public_cidrs=[], ssh_cidrs=s.ssh.allowed_cidrs, tags=tags),
        opts,
    )  # fmt: skip
    cluster = AcsCluster(
        "acs",
        AcsClusterArgs(
            prefix=prefix, vpc_id=network.vpc_id, node_vswitch_a_id=network.vswitch_id, zone_ids=p.zone_ids,
            node_cidrs=p.node_cidrs, pod_cidrs=p.pod_cidrs, service_cidr=acs.service_cidr,
            kubernetes_version=acs.kubernetes_version, api_access=acs.api_access,
            credential_minutes=acs.credential_minutes, egress=s.network.egress, tags=tags,
            vpc_cidr=p.vpc_cidr, public_cidrs=list(s.public_access.allowed_cidrs) if p.public else [],
            intra_group=p.lws, addons=[a for a in (acs.dns_addon, acs.storage_addon) if a],
        ),
        opts,
    )  # fmt: skip
    key = ApiKey("api-key", ApiKeyArgs(prefix=prefix, version=s.api_key_version, value=api_key, tags=tags), opts)

    m = manifest_args(p, pulumi.get_stack())
    # The components below declare both cloud and Kubernetes resources.
    both = pulumi.ResourceOptions(providers=[provider, cluster.provider])
    oss_key = None
    if acs.oss_auth == "secret":
        cfg = pulumi.Config(NAMESPACE)
        oss_key = (cfg.require_secret("ossAccessKeyId"), cfg.require_secret("ossAccessKeySecret"))
    storage = ModelStorage(
        "model-storage",
        ModelStorageArgs(manifest=m, rrsa_oidc_provider_arn=cluster.rrsa_oidc_provider_arn,
                         rrsa_oidc_issuer_url=cluster.rrsa_oidc_issuer_url,
                         csi_service_account=acs.oss_rrsa_service_account, oss_access_key=oss_key, tags=tags),
        both,
    )  # fmt: skip
    lws = acs.lws
    workload = AcsWorkload(
        "workload",
        AcsWorkloadArgs(
            manifest=m, api_key=key.value, intranet_vswitch_id=network.vswitch_id,
            lws=LwsChart(lws.chart_url, p.lws_image_repository, lws.controller_version) if p.lws else None,
            storage_ready=storage.ready, network_ready=cluster.network_ready, tags=tags,
        ),
        both,
    )  # fmt: skip
    files = pulumi.Output.all(network.vswitch_id, workload.acl_id, storage.volume_auth, workload.cert_id).apply(
        lambda v: manifests.jump_host_files(m, v[0], v[1], v[2], v[3])
    )
    jump = JumpHost(
        "jump-host",
        JumpHostArgs(
            prefix=prefix, region=s.region, zone_id=p.zone_ids[0], vswitch_id=network.vswitch_id,
            security_group_id=network.security_group_id, instance_type=acs.jump_host_instance_type,
            k8s_minor=p.k8s_minor, cluster_id=cluster.cluster_id, namespace=NAMESPACE_K8S, files=files,
            ssh_public=bool(s.ssh.allowed_cidrs), key_pair_name=s.ssh.key_pair_name, tags=tags,
            cluster_role=manifests.jump_host_cluster_role(m), image_id=s.image_id,
            encrypted=s.encryption.enabled, kms_key_id=s.encryption.kms_key_id,
        ),
        both,
    )  # fmt: skip

    extra: dict[str, Any] = {}
    if s.observability.enabled:  # llm:observability; nothing at all with metrics and logs `none`
        observe = AcsObservability("observability", AcsObservabilityArgs(
            prefix=prefix, settings=s.observability, cluster_id=cluster.cluster_id, manifest=m, tags=tags), opts)  # fmt: skip
        extra["observability"] = observe.outputs
    https = p.tls_certificate_id is not None
    outputs = endpoint_outputs(p.served_model_name, workload.private_ip, workload.public_ip, public_https=https) | {
        "apiKey": key.value,
        "clusterId": cluster.cluster_id,
        "clusterSecurityGroupId": cluster.security_group_id,
        "kubeconfigExpiration": cluster.kubeconfig_expiration,
        "jumpHostId": jump.instance_id,
        "jumpHostPrivateIp": jump.private_ip,
        "workload": f"{'LeaderWorkerSet' if p.lws else 'Deployment'} {NAMESPACE_K8S}/{m.app}",
        "gpusPerPod": p.gpus_per_pod,
        "groupSize": p.group_size,
        "tensorParallelSize": p.tensor_parallel,
        "pipelineParallelSize": p.pipeline_parallel,
    }
    return outputs | extra
