"""llm:observability, the parts every shape shares: pure builders (scrape jobs, alert rules,
Logtail configs, the error search) and the SLS/alarm declarations both shapes make.

Sources for every external fact: docs/cloud-contracts.md ("Observability").
- vLLM 0.8.5 serves `/metrics` on the API port and its API-key middleware guards only `/v1...`
  paths (vllm/entrypoints/openai/api_server.py, `mount_metrics` and `authentication`): a scraper
  needs no key, so the key is never in a scrape config.
- Metric names: vllm/v1/metrics/loggers.py (vLLM 0.8.5) and dcgm-exporter etc/default-counters.csv;
  tests/fixtures/metric-names.txt lists them with their sources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_alicloud as alicloud
import yaml

from components.config.model import AlarmSettings

METRICS_PATH = "/metrics"
VLLM_JOB = "llm-vllm"
DCGM_JOB = "llm-dcgm"
# Units whose journal the Logtail config collects on ECS (kernel messages too: Xid, OOM killer).
JOURNAL_UNITS = ("llm-bootstrap.service", "llm-vllm.service", "llm-ray.service", "llm-dcgm.service")
# What an operator searches for first: CUDA/host OOM, NCCL failures, Xid, a Ray node lost, an
# engine that died. SLS query syntax (full-text index, `or` between phrases).
ERROR_PHRASES = (
    "CUDA out of memory",
    "OutOfMemoryError",
    "Out of memory",
    "NCCL error",
    "NCCL WARN",
    "Xid",
    "node lost",
    "Lost node",
    "EngineDeadError",
    "FAILED",
)


def error_query() -> str:
    return " or ".join(f'"{p}"' for p in ERROR_PHRASES)


def scrape_config(job: str, targets: list[str], interval_s: int) -> str:
    """A Prometheus `scrape_configs` document with static targets (private `ip:port` only)."""
    doc = {
        "scrape_configs": [
            {
                "job_name": job,
                "honor_labels": False,
                "scrape_interval": f"{interval_s}s",
                "scrape_timeout": f"{min(10, interval_s)}s",
                "scheme": "http",
                "metrics_path": METRICS_PATH,
                "static_configs": [{"targets": list(targets)}],
            }
        ]
    }
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass(frozen=True)
class AlertRule:
    name: str  # suffix of the physical rule name
    expression: str  # PromQL
    minutes: int  # the rule's `for`
    message: str


def alert_rules(a: AlarmSettings, vllm_sel: str, dcgm_sel: str | None, nodes: int) -> list[AlertRule]:
    """The alerts of llm:observability.alarms. `vllm_sel`/`dcgm_sel` are PromQL label matchers
    that select this stack's targets; `dcgm_sel` None: no GPU exporter (ACS)."""
    rules = [
        AlertRule(
            "endpoint-down",
            f"(max(up{{{vllm_sel}}}) or vector(0)) == 0",
            a.down_minutes,
            "vLLM /metrics has not answered: the endpoint is down or unreachable",
        ),
        AlertRule(
            "waiting-requests",
            f"max(vllm:num_requests_waiting{{{vllm_sel}}}) > {a.waiting_requests}",
            a.waiting_minutes,
            f"more than {a.waiting_requests} requests waiting for {a.waiting_minutes} min: add replicas or GPUs",
        ),
        AlertRule(
            "kv-cache-full",
            f"max(vllm:gpu_cache_usage_perc{{{vllm_sel}}}) > {a.kv_cache_usage:g}",
            a.kv_cache_minutes,
            f"KV cache above {a.kv_cache_usage:.0%} for {a.kv_cache_minutes} min: requests queue or are preempted",
        ),
    ]
    if dcgm_sel is not None:
        rules += [
            AlertRule(
                "gpu-xid",
                f"max by (instance, gpu) (DCGM_FI_DEV_XID_ERRORS{{{dcgm_sel}}}) > 0",
                1,
                "a GPU reported an Xid error (DCGM_FI_DEV_XID_ERRORS holds the last Xid code)",
            ),
            AlertRule(
                "gpu-memory-errors",
                f"max by (instance, gpu) (DCGM_FI_DEV_ROW_REMAP_FAILURE{{{dcgm_sel}}}) > 0 or "
                f"max by (instance, gpu) (increase(DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS{{{dcgm_sel}}}[10m])) > 0",
                1,
                "GPU memory: uncorrectable rows remapped or a row remap failed (drain the node)",
            ),
        ]
        if nodes > 1:
            # vllm-run.sh ends vLLM when Ray loses a node (endpoint-down follows); this names
            # the node: its exporter stopped answering.
            rules.append(
                AlertRule(
                    "node-lost",
                    f"count(up{{{dcgm_sel}}} == 1) < {nodes}",
                    a.down_minutes,
                    f"fewer than {nodes} cluster nodes answer: a Ray node is lost",
                )
            )
    return rules


def journal_logtail_detail(units: tuple[str, ...] = JOURNAL_UNITS) -> str:
    """Logtail plugin config (ilogtail `service_journal` input): the llm-* units and the kernel."""
    return json.dumps(
        {
            "plugin": {
                "inputs": [
                    {
                        "type": "service_journal",
                        "detail": {
                            "Units": list(units),
                            "Kernel": True,
                            "SeekPosition": "head",
                            "ParsePriority": True,
                            "UseJournalEventTime": True,
                        },
                    }
                ]
            }
        },
        sort_keys=True,
    )


def stdout_logtail_detail(namespace: str) -> str:
    """Logtail plugin config for container stdout/stderr (ilogtail `service_docker_stdout`) of the
    stack's namespace on ACS."""
    return json.dumps(
        {
            "plugin": {
                "inputs": [
                    {
                        "type": "service_docker_stdout",
                        "detail": {
                            "Stdout": True,
                            "Stderr": True,
                            "K8sNamespaceRegex": f"^{namespace}$",
                        },
                    }
                ]
            }
        },
        sort_keys=True,
    )


def error_dashboard_charts(logstore: str) -> str:
    """The saved error search, as an SLS dashboard chart (pulumi-alicloud 4.0.0 has no saved-search
    resource): the matching lines of the last 24 hours."""
    return json.dumps(
        [
            {
                "action": {},
                "title": "errors that matter (OOM, NCCL, Xid, lost Ray node)",
                "type": "table",
                "search": {"logstore": logstore, "topic": "", "query": error_query(), "start": "-86400s", "end": "now"},
                "display": {"xPos": 0, "yPos": 0, "width": 24, "height": 12, "displayName": "errors"},
            }
        ],
        sort_keys=True,
    )


def project_name(prefix: str) -> str:
    """SLS project names are global across accounts in a region: 3-63 of a-z 0-9 -."""
    return f"{prefix}-logs"[:63].rstrip("-")


@dataclass
class LogStore:
    project: alicloud.log.Project
    store: alicloud.log.Store
    index: alicloud.log.StoreIndex
    dashboard: alicloud.log.Dashboard


def declare_log_store(prefix: str, retention_days: int, tags: dict[str, str], parent: pulumi.Resource) -> LogStore:
    opts = pulumi.ResourceOptions(parent=parent)
    project = alicloud.log.Project(
        "logs",
        project_name=project_name(prefix),
        description=f"{prefix}: vLLM, host and pod logs",
        tags=tags,
        opts=opts,
    )
    store = alicloud.log.Store(
        "logstore",
        project_name=project.project_name,
        logstore_name="llm",
        retention_period=retention_days,
        shard_count=2,
        auto_split=True,
        max_split_shard_count=16,
        append_meta=True,
        opts=opts,
    )
    index = alicloud.log.StoreIndex(
        "logstore-index",
        project=project.project_name,
        logstore=store.logstore_name,
        full_text={"case_sensitive": False, "token": ", '\";=()[]{}?@&<>/:\n\t\r"},
        opts=opts,
    )
    dashboard = alicloud.log.Dashboard(
        "errors",
        project_name=project.project_name,
        dashboard_name="llm-errors",
        display_name=f"{prefix} errors",
        attribute=json.dumps({"type": "grid"}),
        char_list=store.logstore_name.apply(error_dashboard_charts),
        opts=opts,
    )
    return LogStore(project, store, index, dashboard)


def declare_alarms(
    prefix: str,
    a: AlarmSettings,
    cluster_id: pulumi.Input[str],
    rules: list[AlertRule],
    parent: pulumi.Resource,
) -> list[alicloud.arms.PrometheusAlertRule]:
    """A dispatch rule to the configured contact group, and one Prometheus alert rule each."""
    opts = pulumi.ResourceOptions(parent=parent)
    group = alicloud.arms.get_alert_contact_groups_output(alert_contact_group_name=a.contact_group)
    group_id = group.ids.apply(lambda ids: ids[0] if ids else "")
    dispatch = alicloud.arms.DispatchRule(
        "alert-dispatch",
        dispatch_rule_name=f"{prefix}-alerts",
        dispatch_type="CREATE_ALERT",
        is_recover=True,
        group_rules=[{"group_wait_time": 5, "group_interval": 15, "repeat_interval": 100, "grouping_fields": ["alertname"]}],
        label_match_expression_grids=[
            {
                "label_match_expression_groups": [
                    {"label_match_expressions": [{"key": "llm_stack", "value": prefix, "operator": "eq"}]}
                ]
            }
        ],
        notify_rules=[
            alicloud.arms.DispatchRuleNotifyRuleArgs(
                notify_objects=[
                    alicloud.arms.DispatchRuleNotifyRuleNotifyObjectArgs(
                        notify_object_id=group_id, notify_type="ARMS_CONTACT_GROUP", name=a.contact_group
                    )
                ],
                notify_channels=["email", "sms"],
                # Required by the provider schema; the whole day (the docs' example uses HH:MM).
                notify_start_time="00:00",
                notify_end_time="23:59",
            )
        ],
        opts=opts,
    )  # fmt: skip
    return [
        alicloud.arms.PrometheusAlertRule(
            f"alert-{r.name}",
            cluster_id=cluster_id,
            prometheus_alert_rule_name=f"{prefix}-{r.name}",
            expression=r.expression,
            duration=str(r.minutes),
            message=r.message,
            notify_type="DISPATCH_RULE",
            dispatch_rule_id=dispatch.id,
            labels=[{"name": "llm_stack", "value": prefix}, {"name": "severity", "value": "critical"}],
            type="llm-inference",
            opts=opts,
        )
        for r in rules
    ]
