"""llm:observability on ECS: Managed Service for Prometheus scraping vLLM and the DCGM exporter
of every node by private IP, an SLS logstore fed by Logtail from the llm-* units' journal, and
Prometheus alert rules to the configured ARMS contact group.

Nothing is declared when `metrics` and `logs` are both `none` (shape.py does not build it).
The scrape targets are private addresses; the DCGM port is opened to the VPC CIDR only (port
8000 already is, by the network component), so no rule reaches the internet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_alicloud as alicloud

from components.common import observability as obs
from components.common.network import cidr_ingress
from components.common.ports import PORT
from components.config.model import DCGM_PORT, ObservabilitySettings


@dataclass(frozen=True)
class ObservabilityArgs:
    prefix: str
    settings: ObservabilitySettings
    vpc_id: pulumi.Input[str]
    vswitch_id: pulumi.Input[str]
    security_group_id: pulumi.Input[str]
    vpc_cidr: str
    serving_ips: Sequence[pulumi.Input[str]]  # nodes that serve /metrics on PORT (the head)
    node_ips: Sequence[pulumi.Input[str]]  # every GPU node (DCGM exporter, Logtail)
    tags: dict[str, str] = field(default_factory=dict)


def _targets(ips: list[str], port: int) -> list[str]:
    return [f"{ip}:{port}" for ip in ips]


class Observability(pulumi.ComponentResource):
    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm:observability:Observability", name, None, opts)
        s, p = args.settings, args.prefix
        child = pulumi.ResourceOptions(parent=self)
        outputs: dict[str, pulumi.Input[str] | None] = {}
        self.prometheus_id: pulumi.Output[str] | None = None
        if s.metrics == "arms":
            # An ECS-type Prometheus instance bound to the VPC: its collector runs in the VPC with
            # this security group, so it reaches the private targets.
            prom = alicloud.arms.Prometheus(
                "prometheus",
                cluster_type="ecs",
                cluster_name=f"{p}-prometheus",
                vpc_id=args.vpc_id,
                vswitch_id=args.vswitch_id,
                security_group_id=args.security_group_id,
                grafana_instance_id="free",
                tags=args.tags,
                opts=child,
            )
            self.prometheus_id = prom.cluster_id
            vllm_targets = pulumi.Output.all(*args.serving_ips).apply(lambda ips: _targets(list(ips), PORT))
            dcgm_targets = pulumi.Output.all(*args.node_ips).apply(lambda ips: _targets(list(ips), DCGM_PORT))

            def job_yaml(job: str, targets: pulumi.Output[list[str]]) -> pulumi.Output[str]:
                return targets.apply(lambda t: obs.scrape_config(job, t, s.scrape_interval_s))

            for job, targets in ((obs.VLLM_JOB, vllm_targets), (obs.DCGM_JOB, dcgm_targets)):
                alicloud.arms.PrometheusMonitoring(
                    f"scrape-{job.removeprefix('llm-')}",
                    cluster_id=prom.cluster_id,
                    type="customJob",
                    status="run",
                    config_yaml=job_yaml(job, targets),
                    opts=child,
                )
            cidr_ingress(
                "dcgm-from-vpc", args.security_group_id, f"{DCGM_PORT}/{DCGM_PORT}", args.vpc_cidr,
                f"{p} DCGM exporter from the VPC (Prometheus)", child,
            )  # fmt: skip
            if s.alarms is not None:
                rules = obs.alert_rules(s.alarms, f'job="{obs.VLLM_JOB}"', f'job="{obs.DCGM_JOB}"', len(args.node_ips))
                obs.declare_alarms(p, s.alarms, prom.cluster_id, rules, self)
            outputs["prometheusId"] = prom.cluster_id

        if s.logs == "sls":
            logs = obs.declare_log_store(p, s.log_retention_days, args.tags, self)
            # Machine group by private IP: Logtail on an instance of the same account reports its
            # IP, no user-defined ID needed.
            group = alicloud.log.MachineGroup(
                "log-machines",
                project=logs.project.project_name,
                name=f"{p}-nodes",
                identify_type="ip",
                identify_lists=pulumi.Output.all(*args.node_ips).apply(list),
                topic="llm",
                opts=child,
            )
            config = alicloud.log.LogTailConfig(
                "logtail-journal",
                project=logs.project.project_name,
                logstore=logs.store.logstore_name,
                name=f"{p}-journal",
                input_type="plugin",
                output_type="LogService",
                input_detail=obs.journal_logtail_detail(),
                opts=child,
            )
            alicloud.log.LogTailAttachment(
                "logtail-journal-attachment",
                project=logs.project.project_name,
                logtail_config_name=config.name,
                machine_group_name=group.name,
                opts=child,
            )
            outputs["logProject"] = logs.project.project_name
            outputs["logStore"] = logs.store.logstore_name
        self.outputs = outputs
        self.register_outputs(outputs)
