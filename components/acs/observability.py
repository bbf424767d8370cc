"""llm:observability on ACS: the cluster as an ARMS Prometheus environment with a PodMonitor
on the serving pods, an SLS logstore collecting the pods' stdout, and the alert rules.

Type token `llm:observability:AcsObservability`. GPU metrics: ACS runs the GPU pods on its own
managed hosts, so the stack deploys no DCGM exporter there (no DaemonSet on serverless nodes);
the GPU alerts are ECS-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_alicloud as alicloud

from components.acs import manifests
from components.acs.manifests import monitoring
from components.common import observability as obs
from components.config.model import ObservabilitySettings


@dataclass(frozen=True)
class AcsObservabilityArgs:
    prefix: str
    settings: ObservabilitySettings
    cluster_id: pulumi.Input[str]
    manifest: manifests.ManifestArgs
    tags: dict[str, str] = field(default_factory=dict)


class AcsObservability(pulumi.ComponentResource):
    def __init__(self, name: str, args: AcsObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm:observability:AcsObservability", name, None, opts)
        s, p, m = args.settings, args.prefix, args.manifest
        child = pulumi.ResourceOptions(parent=self)
        outputs: dict[str, pulumi.Input[str]] = {}
        if s.metrics == "arms":
            env = alicloud.arms.Environment(
                "prometheus-env",
                environment_type="CS",
                environment_sub_type="ManagedKubernetes",
                bind_resource_id=args.cluster_id,
                environment_name=f"{p}-prometheus",
                tags=args.tags,
                opts=child,
            )
            alicloud.arms.EnvPodMonitor(
                "pod-monitor",
                environment_id=env.id,
                config_yaml=manifests.to_yaml(monitoring.pod_monitor(m, s.scrape_interval_s)),
                aliyun_lang="en",
                opts=child,
            )
            if s.alarms is not None:
                # For a container environment the Prometheus instance's ID is the cluster's
                # (arms.Prometheus docs: cluster_id for `aliyun-cs`).
                rules = obs.alert_rules(s.alarms, monitoring.vllm_selector(m), None, 1)
                obs.declare_alarms(p, s.alarms, args.cluster_id, rules, self)
            outputs["prometheusEnvironmentId"] = env.id
        if s.logs == "sls":
            logs = obs.declare_log_store(p, s.log_retention_days, args.tags, self)
            # The cluster's Logtail machine group, created with the logtail-ds add-on:
            # `k8s-group-<cluster ID>` (SLS docs; unverified for ACS).
            config = alicloud.log.LogTailConfig(
                "logtail-stdout",
                project=logs.project.project_name,
                logstore=logs.store.logstore_name,
                name=f"{p}-stdout",
                input_type="plugin",
                output_type="LogService",
                input_detail=obs.stdout_logtail_detail(m.namespace),
                opts=child,
            )
            alicloud.log.LogTailAttachment(
                "logtail-stdout-attachment",
                project=logs.project.project_name,
                logtail_config_name=config.name,
                machine_group_name=pulumi.Output.from_input(args.cluster_id).apply(lambda c: f"k8s-group-{c}"),
                opts=child,
            )
            outputs["logProject"] = logs.project.project_name
            outputs["logStore"] = logs.store.logstore_name
        self.outputs = outputs
        self.register_outputs(outputs)
