"""llm:observability under mocks: nothing with `none`; scrape jobs, logs and alarms otherwise."""

from __future__ import annotations

import ipaddress
import json

import pytest
import yaml

from planner import run as plan
from tests import planning as P
from tests.program.test_secrets import CANARY, decodings, leaks

ON = {"metrics": "arms", "logs": "sls", "logRetentionDays": 7,
      "alarms": {"contactGroup": "llm-oncall", "waitingRequests": 12, "waitingMinutes": 3, "kvCacheUsage": 0.9}}  # fmt: skip
OBSERVE_TYPES = ("alicloud:arms/", "alicloud:log/", "llm:observability:")


def _observe(result) -> list[dict]:
    return [r for r in P.resources(result) if r["type"].startswith(OBSERVE_TYPES) or r["name"] == "dcgm-from-vpc"]


@pytest.mark.parametrize("stack", ["dev", "prod", "acs"])
def test_none_declares_nothing(tmp_path, stack):
    cfg = P.with_changes(P.stack_config(stack), observability={"metrics": "none", "logs": "none"})
    result = P.run(tmp_path, cfg, stack=stack)
    assert _observe(result) == []
    assert "observability" not in result.outputs
    setup = [r for r in P.resources(result) if r["type"] == "alicloud:ecs/command:Command" and "setup" in r["name"]]
    for cmd in setup:
        text = "\n".join(decodings(cmd["inputs"]["commandContent"]))
        assert "LLM_DCGM" not in text and "llm-dcgm" not in text and "LOGTAIL" not in text


def _cluster(tmp_path, obs=ON):
    base = P.stack_config("prod")
    return P.run(tmp_path, P.with_changes(base, observability=obs))


def test_scrape_jobs_target_every_serving_node_by_private_ip(tmp_path):
    result = _cluster(tmp_path)
    res = P.by_name(result)
    nodes = [r for r in P.resources(result) if r["type"] == "alicloud:ecs/instance:Instance"]
    assert len(nodes) >= 2
    ips = {f"192.168.0.{10 + i}" for i in range(len(nodes))}  # the mocks' private IPs
    jobs = {}
    for name in ("scrape-vllm", "scrape-dcgm"):
        r = res[name]
        assert r["parent"] == "observability" and r["inputs"]["type"] == "customJob"
        assert r["inputs"]["clusterId"] == "prometheus-cluster-id"
        (job,) = yaml.safe_load(r["inputs"]["configYaml"])["scrape_configs"]
        jobs[job["job_name"]] = job
    dcgm = {t for sc in jobs["llm-dcgm"]["static_configs"] for t in sc["targets"]}
    assert dcgm == {f"{ip}:9400" for ip in ips}  # every node
    vllm = {t for sc in jobs["llm-vllm"]["static_configs"] for t in sc["targets"]}
    assert vllm == {"192.168.0.10:8000"}  # vLLM serves on the Ray head only
    for job in jobs.values():
        assert job["metrics_path"] == "/metrics" and "authorization" not in job and "basic_auth" not in job
        for sc in job["static_configs"]:
            for t in sc["targets"]:
                assert ipaddress.ip_address(t.split(":")[0]).is_private, t
    prom = res["prometheus"]["inputs"]
    assert prom["clusterType"] == "ecs" and prom["vpcId"] == "network-vpc-id"


def test_metrics_port_reachable_from_the_vpc_only(tmp_path):
    result = _cluster(tmp_path)
    before = {r["name"] for r in P.of_type(P.run(tmp_path, P.stack_config("prod"), stack="prod"),
                                           "alicloud:ecs/securityGroupRule:SecurityGroupRule")}  # fmt: skip
    rules = P.of_type(result, "alicloud:ecs/securityGroupRule:SecurityGroupRule")
    added = [r for r in rules if r["name"] not in before]
    assert [r["name"] for r in added] == ["dcgm-from-vpc"]
    i = added[0]["inputs"]
    assert i["portRange"] == "9400/9400" and i["cidrIp"] == "192.168.0.0/16" and i["nicType"] == "intranet"


def test_ecs_nodes_install_the_exporter_and_logtail_units(tmp_path):
    result = _cluster(tmp_path)
    out = tmp_path / "plan"
    plan.write_plan(result, out)
    setup = [p for p in (out / "files").rglob("*setup*") if p.is_file()]
    assert setup
    text = "\n".join(p.read_text() for p in setup)
    assert "LLM_DCGM_IMAGE=nvcr.io/nvidia/k8s/dcgm-exporter:" in text
    assert "llm-dcgm.service" in text and "llm-logtail.service" in text
    region = P.stack_config("prod")["llm:region"]
    assert f"LLM_LOGTAIL_INSTALLER_URL=http://logtail-release-{region}.oss-{region}-internal.aliyuncs.com/" in text


def test_logstore_and_logtail_config(tmp_path):
    result = _cluster(tmp_path)
    res = P.by_name(result)
    assert res["logstore"]["inputs"]["retentionPeriod"] == 7
    assert res["logs"]["inputs"]["projectName"].endswith("-logs")
    detail = json.loads(res["logtail-journal"]["inputs"]["inputDetail"])
    (inp,) = detail["plugin"]["inputs"]
    assert inp["type"] == "service_journal"
    assert {"llm-vllm.service", "llm-ray.service", "llm-bootstrap.service"} <= set(inp["detail"]["Units"])
    assert inp["detail"]["Kernel"] is True  # Xid and OOM-killer lines are kernel messages
    group = res["log-machines"]["inputs"]
    assert group["identifyType"] == "ip" and len(group["identifyLists"]) >= 2
    att = res["logtail-journal-attachment"]["inputs"]
    assert (
        att["machineGroupName"] == group["name"]
        and att["logtailConfigName"] == res["logtail-journal"]["inputs"]["name"]
    )
    charts = json.loads(res["errors"]["inputs"]["charList"])
    query = charts[0]["search"]["query"]
    for phrase in ("CUDA out of memory", "NCCL error", "Xid", "node lost"):
        assert phrase in query


def test_each_alarm_metric_and_threshold(tmp_path):
    result = _cluster(tmp_path)
    rules = {r["name"]: r["inputs"] for r in P.of_type(result, "alicloud:arms/prometheusAlertRule:PrometheusAlertRule")}
    assert set(rules) == {"alert-endpoint-down", "alert-waiting-requests", "alert-kv-cache-full", "alert-gpu-xid",
                          "alert-gpu-memory-errors", "alert-node-lost"}  # fmt: skip
    assert rules["alert-waiting-requests"]["expression"] == 'max(vllm:num_requests_waiting{job="llm-vllm"}) > 12'
    assert rules["alert-waiting-requests"]["duration"] == "3"
    assert rules["alert-kv-cache-full"]["expression"] == 'max(vllm:gpu_cache_usage_perc{job="llm-vllm"}) > 0.9'
    assert rules["alert-kv-cache-full"]["duration"] == "5"
    assert 'up{job="llm-vllm"}' in rules["alert-endpoint-down"]["expression"]
    assert "DCGM_FI_DEV_XID_ERRORS" in rules["alert-gpu-xid"]["expression"]
    assert "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS" in rules["alert-gpu-memory-errors"]["expression"]
    assert rules["alert-node-lost"]["expression"].endswith("< 2")
    (dispatch,) = P.of_type(result, "alicloud:arms/dispatchRule:DispatchRule")
    notify = dispatch["inputs"]["notifyRules"][0]
    assert (notify["notifyStartTime"], notify["notifyEndTime"]) == ("00:00", "23:59")  # required fields
    (obj,) = notify["notifyObjects"]
    assert obj == {
        "name": "llm-oncall",
        "notifyObjectId": "mock-contact-group-llm-oncall",
        "notifyType": "ARMS_CONTACT_GROUP",
    }
    for r in rules.values():
        assert r["notifyType"] == "DISPATCH_RULE" and r["dispatchRuleId"] == "alert-dispatch-id"


def test_metrics_only_declares_no_logs_and_no_alarms(tmp_path):
    result = _cluster(tmp_path, {"metrics": "arms"})
    types = {r["type"] for r in _observe(result)}
    assert not any(t.startswith("alicloud:log/") for t in types)
    assert "alicloud:arms/prometheusAlertRule:PrometheusAlertRule" not in types
    assert "alicloud:arms/prometheusMonitoring:PrometheusMonitoring" in types


def test_logs_only_declares_no_prometheus(tmp_path):
    result = P.run(tmp_path, P.with_changes(P.stack_config("dev"), observability={"logs": "sls"}))
    types = {r["type"] for r in _observe(result)}
    assert not any(t.startswith("alicloud:arms/") for t in types)
    assert "alicloud:log/logTailConfig:LogTailConfig" in types
    assert not [r for r in P.resources(result) if r["name"] == "dcgm-from-vpc"]


def test_acs_pod_monitor_and_stdout_logs(tmp_path):
    result = P.run(tmp_path, P.with_changes(P.stack_config("acs"), observability=ON), stack="acs")
    res = P.by_name(result)
    pm = yaml.safe_load(res["pod-monitor"]["inputs"]["configYaml"])
    assert pm["kind"] == "PodMonitor" and pm["apiVersion"] == "monitoring.coreos.com/v1"
    assert pm["spec"]["podMetricsEndpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "15s", "scheme": "http"}
    ]
    assert res["prometheus-env"]["inputs"]["bindResourceId"] == "acs-cluster-id"
    detail = json.loads(res["logtail-stdout"]["inputs"]["inputDetail"])
    assert detail["plugin"]["inputs"][0]["type"] == "service_docker_stdout"
    rules = {r["name"] for r in P.of_type(result, "alicloud:arms/prometheusAlertRule:PrometheusAlertRule")}
    assert rules == {"alert-endpoint-down", "alert-waiting-requests", "alert-kv-cache-full"}


@pytest.mark.parametrize("stack", ["prod", "acs"])
def test_canary_absent_from_every_rendered_observability_config(tmp_path, stack):
    cfg = P.with_changes(P.stack_config(stack), apiKey=CANARY, observability=ON)
    result = P.run(tmp_path, cfg, stack=stack)
    param = next(r for r in result.records if r.type == "alicloud:oos/secretParameter:SecretParameter")
    assert CANARY in json.dumps(param.inputs_raw, default=str)  # positive control
    observe = [r for r in result.records if r.type.startswith(OBSERVE_TYPES) or "setup" in r.name]
    assert len(observe) > 5
    for rec in observe:
        assert leaks(rec.inputs_raw) == [], rec.name
        assert CANARY not in json.dumps(rec.inputs_raw, default=str), rec.name


def test_alarms_need_metrics_and_errors_name_the_key(tmp_path):
    cfg = P.with_changes(P.stack_config("dev"), observability={"logs": "sls", "alarms": {"contactGroup": "x"}})
    with pytest.raises(plan.PlanConfigError) as e:
        P.run(tmp_path, cfg)
    assert "llm:observability.alarms" in str(e.value)
    bad = P.with_changes(P.stack_config("dev"), observability={"metrics": "prom", "logRetentionDays": 0})
    with pytest.raises(plan.PlanConfigError) as e:
        P.run(tmp_path, bad)
    assert "llm:observability.metrics" in str(e.value) and "llm:observability.logRetentionDays" in str(e.value)
