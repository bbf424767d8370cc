"""llm:observability pure parts: settings, the dashboard's metric names, alert rules, Logtail."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from components.common import observability as obs
from components.config.model import AlarmSettings, ObservabilitySettings
from components.ecs import userdata

ROOT = Path(__file__).resolve().parents[2]
PROMQL_WORDS = {"sum", "max", "by", "rate", "increase", "histogram_quantile", "le", "or", "vector", "count",
                "instance", "gpu", "status", "finished_reason", "job", "namespace", "pod"}  # fmt: skip


def known_metrics() -> dict[str, str]:
    out = {}
    for line in (ROOT / "tests/fixtures/metric-names.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, source = (p.strip() for p in line.split("|", 1))
            out[name] = source
    return out


def names_in(expr: str) -> set[str]:
    expr = re.sub(r'"[^"]*"', '""', expr)  # label values
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    words = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr))
    return {w for w in words if w not in PROMQL_WORDS and not w.startswith("$")}


def test_every_fixture_name_is_cited_to_a_source_at_a_version():
    known = known_metrics()
    assert len(known) >= 15
    for name, source in known.items():
        assert "@" in source or "docs" in source, name


def test_dashboard_parses_and_queries_only_exported_metrics():
    dash = json.loads((ROOT / "dashboards/vllm.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = set().union(*(names_in(e) for e in exprs))
    assert used - set(known_metrics()) == set(), used - set(known_metrics())
    for needed in ("vllm:time_to_first_token_seconds_bucket", "vllm:time_per_output_token_seconds_bucket",
                   "vllm:gpu_cache_usage_perc", "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED",
                   "vllm:num_requests_waiting", "vllm:prompt_tokens_total", "http_requests_total"):  # fmt: skip
        assert needed in used
    assert any(e.startswith("histogram_quantile(0.99") for e in exprs)


def test_name_extraction_can_fail():
    assert names_in('rate(vllm:not_a_metric{job="x"}[5m])') == {"vllm:not_a_metric"}


def test_alert_rules_query_only_exported_metrics():
    a = AlarmSettings(contact_group="g")
    rules = obs.alert_rules(a, 'job="llm-vllm"', 'job="llm-dcgm"', 3)
    assert len(rules) == 6
    for r in rules:
        assert names_in(r.expression) <= set(known_metrics()), r
    assert obs.alert_rules(a, "x", None, 1)[-1].name == "kv-cache-full"  # no GPU rules without DCGM


def test_settings_defaults_are_off():
    o = ObservabilitySettings()
    assert (o.metrics, o.logs, o.alarms, o.enabled) == ("none", "none", None, False)


@pytest.mark.parametrize(
    "field,value",
    [("dcgm_image", "nvcr.io/nvidia/k8s/dcgm-exporter:latest"), ("dcgm_image", "nvcr.io/x/dcgm"),
     ("log_retention_days", 0), ("log_retention_days", 3651), ("scrape_interval_s", 1),
     ("logtail_installer_url", "ftp://x/y"), ("logtail_installer_url", "http://{zone}.x/y")],
)  # fmt: skip
def test_settings_reject(field, value):
    with pytest.raises(ValueError):
        ObservabilitySettings(**{field: value})


def test_alarm_thresholds_validated():
    with pytest.raises(ValueError):
        AlarmSettings(contact_group="g", kv_cache_usage=1.5)
    with pytest.raises(ValueError):
        AlarmSettings(contact_group='a"b')


def test_host_files_added_only_with_observability():
    assert set(userdata.host_files(False)) == set(userdata.HOST_FILES)
    files = userdata.host_files(False, metrics=True, logs=True)
    assert {"dcgm-run.sh", "llm-dcgm.service", "logtail-install.sh", "llm-logtail.service"} <= set(files)
    # Started with the bootstrap (host-setup restarts llm-bootstrap.service on a files change).
    for unit in ("llm-dcgm.service", "llm-logtail.service"):
        assert "WantedBy=llm-bootstrap.service" in files[unit]


def test_logtail_configs_carry_no_secret_and_parse():
    for text in (
        obs.journal_logtail_detail(),
        obs.stdout_logtail_detail("llm-model"),
        obs.error_dashboard_charts("llm"),
    ):
        json.loads(text)
        assert "KEY" not in text.upper().replace("LOGSTORE", "")


def test_scrape_config_has_no_credentials():
    text = obs.scrape_config("j", ["10.0.0.1:8000"], 15)
    assert "authorization" not in text and "bearer" not in text.lower() and "10.0.0.1:8000" in text
