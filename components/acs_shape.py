"""The ACS shape: which components, in which order, with which wiring (DESIGN section 1).

Network (VPC, first node vSwitch, security group) -> AcsCluster (other vSwitches, NAT egress,
cluster, Kubernetes provider) -> ApiKey -> ModelStorage (namespace, OSS volume, RRSA role) ->
AcsWorkload (Secret, LWS controller, workload, load balancers, readiness Job) -> JumpHost
(kubectl, RBAC, the manifests as files). Every manifest comes from components/manifests.py.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi
import pulumi_alicloud as alicloud

from components import manifests, naming
from components.acs_cluster import AcsCluster, AcsClusterArgs
from components.acs_jump_host import JumpHost, JumpHostArgs
from components.acs_settings import NAMESPACE_K8S
from components.acs_storage import ModelStorage, ModelStorageArgs
from components.acs_workload import AcsWorkload, AcsWorkloadArgs, LwsChart
from components.api_key import ApiKey, ApiKeyArgs
from components.ecs_shape import endpoint_outputs
from components.network import Network, NetworkArgs
from components.settings import NAMESPACE, Resolved
from components.vllm_args import serve_args


def manifest_args(r: Resolved, stack: str) -> manifests.ManifestArgs:
    """The manifests' inputs, from the resolved settings (pure)."""
    s, a = r.settings, r.acs
    assert a is not None
    prefix = naming.physical_prefix(stack)
    # Resolved keeps ECS parallelism (none in acs mode): the pod layout decides TP and PP here.
    args = serve_args(dataclasses.replace(r, tensor_parallel=a.tensor_parallel, pipeline_parallel=a.pipeline_parallel))
    return manifests.ManifestArgs(
        stack=stack, prefix=prefix, namespace=NAMESPACE_K8S, app=r.model.key, image=r.vllm_image,
        serve_args=args, served_model_name=r.served_model_name, gpus=a.gpus_per_pod, cpu=a.cpu,
        memory_gib=a.memory_gib, shm_gib=a.shm_gib, gpu_series=a.series.name,
        compute_class=a.settings.compute_class, compute_qos=a.settings.compute_qos,
        group_size=a.group_size, startup_timeout_s=s.vllm.startup_timeout_s,
        bucket=s.model_source.bucket, object_prefix=s.model_source.prefix, oss_endpoint=a.oss_endpoint,
        oss_auth=a.settings.oss_auth, oss_role_name=f"{prefix}-oss-rrsa", pv_size_gib=r.disk_size_gib,
        readiness_image=a.settings.readiness_image or r.vllm_image, api_key_version=s.api_key_version,
        public=r.public, allowed_cidrs=list(s.public_access.allowed_cidrs) if r.public else [],
    )  # fmt: skip


def build_acs(r: Resolved, api_key: pulumi.Output[str] | None) -> dict[str, Any]:
    s, a = r.settings, r.acs
    assert a is not None
    prefix = naming.physical_prefix()
    tags = naming.merge_tags(s.tags)
    provider = alicloud.Provider("alicloud", region=s.region)
    opts = pulumi.ResourceOptions(providers=[provider])

    # Network's own NAT would cover only its vSwitch: AcsCluster adds one for all four.
    network = Network(
        "network",
        NetworkArgs(prefix=prefix, zone_id=a.zone_ids[0], vpc_cidr=r.vpc_cidr, vswitch_cidr=a.node_cidrs[0],
                    egress="none", public_cidrs=[], ssh_cidrs=s.ssh.allowed_cidrs, tags=tags),
        opts,
    )  # fmt: skip
    cluster = AcsCluster(
        "acs",
        AcsClusterArgs(
            prefix=prefix, vpc_id=network.vpc_id, node_vswitch_a_id=network.vswitch_id, zone_ids=a.zone_ids,
            node_cidrs=a.node_cidrs, pod_cidrs=a.pod_cidrs, service_cidr=a.settings.service_cidr,
            kubernetes_version=a.settings.kubernetes_version, api_access=a.settings.api_access,
            credential_minutes=a.settings.credential_minutes, egress=s.network.egress, tags=tags,
        ),
        opts,
    )  # fmt: skip
    key = ApiKey("api-key", ApiKeyArgs(prefix=prefix, version=s.api_key_version, value=api_key, tags=tags), opts)

    m = manifest_args(r, pulumi.get_stack())
    k8s_opts = pulumi.ResourceOptions(provider=cluster.provider)
    oss_key = None
    if a.settings.oss_auth == "secret":
        cfg = pulumi.Config(NAMESPACE)
        oss_key = (cfg.require_secret("ossAccessKeyId"), cfg.require_secret("ossAccessKeySecret"))
    storage = ModelStorage(
        "model-storage",
        ModelStorageArgs(manifest=m, rrsa_oidc_provider_arn=cluster.rrsa_oidc_provider_arn,
                         rrsa_oidc_issuer_url=cluster.rrsa_oidc_issuer_url,
                         csi_service_account=a.settings.oss_rrsa_service_account, oss_access_key=oss_key, tags=tags),
        k8s_opts,
        opts,
    )  # fmt: skip
    lws = a.settings.lws
    workload = AcsWorkload(
        "workload",
        AcsWorkloadArgs(
            manifest=m, api_key=key.value, intranet_vswitch_id=network.vswitch_id,
            lws=LwsChart(lws.chart_url, a.lws_image_repository, lws.controller_version) if a.lws else None,
            storage_ready=storage.ready, tags=tags,
        ),
        k8s_opts,
        opts,
    )  # fmt: skip
    files = pulumi.Output.all(network.vswitch_id, workload.acl_id).apply(
        lambda v: manifests.jump_host_files(m, v[0], v[1])
    )
    jump = JumpHost(
        "jump-host",
        JumpHostArgs(
            prefix=prefix, region=s.region, zone_id=a.zone_ids[0], vswitch_id=network.vswitch_id,
            security_group_id=network.security_group_id, instance_type=a.settings.jump_host_instance_type,
            k8s_minor=a.k8s_minor, cluster_id=cluster.cluster_id, namespace=NAMESPACE_K8S, files=files,
            ssh_public=bool(s.ssh.allowed_cidrs), key_pair_name=s.ssh.key_pair_name, tags=tags,
            image_id=s.image_id,
        ),
        opts,
    )  # fmt: skip

    return endpoint_outputs(r, workload.private_ip, workload.public_ip) | {
        "apiKey": key.value,
        "clusterId": cluster.cluster_id,
        "kubeconfigExpiration": cluster.kubeconfig_expiration,
        "jumpHostId": jump.instance_id,
        "jumpHostPrivateIp": jump.private_ip,
        "workload": f"{'LeaderWorkerSet' if a.lws else 'Deployment'} {NAMESPACE_K8S}/{m.app}",
        "gpusPerPod": a.gpus_per_pod,
        "groupSize": a.group_size,
        "tensorParallelSize": a.tensor_parallel,
        "pipelineParallelSize": a.pipeline_parallel,
    }
