"""The Prometheus source against the tables: one set of service metrics, written to the tables and
(as OpenMetrics, by data_access.openmetrics) backfilled into a real Prometheus on loopback; the
Operational page's tiles, series and status intervals read from each must agree.

Where PromQL and SQL agree only to float rounding (a CPU % from an idle-seconds counter), the
comparison allows 1e-9 relative; counts, RPS and uptime are equal. A real Prometheus is required
under CI=true (Debian's ``prometheus``, installed by .ci/run)."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta

import pandas as pd
import pytest

from data_access import kpis, operational as ops, prometheus as prom
from data_access.engine import make_engine
from data_access.filters import Filters
from data_access.schema import discover
from tests.services import free_port, required

from tests.prometheus_data import DOWN, LATER, PROMTOOL, RANGE  # noqa: F401  (the data both sides hold)

@pytest.fixture(scope="module")
def sources(prometheus_metrics):
    """(engine, schema, client): the same metrics in SQLite tables and in a running Prometheus."""
    database_url, prometheus_url = prometheus_metrics
    engine = make_engine(database_url)
    yield engine, discover(engine), prom.Prometheus(prom.PrometheusConfig(url=prometheus_url))
    engine.dispose()


def same(left: pd.DataFrame, right: pd.DataFrame, keys: list[str], columns: list[str]) -> None:
    left = left.sort_values(keys, ignore_index=True)[keys + columns]
    right = right.sort_values(keys, ignore_index=True)[keys + columns]
    assert len(left) == len(right) > 0
    pd.testing.assert_frame_equal(left.astype({c: "float64" for c in columns}),
                                  right.astype({c: "float64" for c in columns}), rtol=1e-9, check_dtype=False)


@pytest.mark.parametrize("unit", ["minute", "10min", "hour"])
@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata"])
def test_traffic_errors_resources_and_sessions_per_bucket_equal_the_tables(sources, unit, tz):
    engine, schema, client = sources
    filters = Filters(RANGE.start, RANGE.end, tz=tz)  # 10:00–13:00 on the wall clock of tz
    if tz != "UTC":  # the same instants as the data: 10:00 UTC is 15:30 in Kolkata
        filters = Filters(datetime(2026, 10, 5, 15, 30), datetime(2026, 10, 5, 18, 30), tz=tz)
    same(ops.traffic(engine, schema, filters, unit), prom.traffic(client, filters, unit, now=LATER),
         ["bucket", "service"], ["requests", "errors", "samples", "rps", "error_rate"])
    same(ops.errors_over_time(engine, schema, filters, unit), prom.errors_over_time(client, filters, unit, now=LATER),
         ["bucket", "error_type"], ["events"])
    same(ops.resources(engine, schema, filters, unit), prom.resources(client, filters, unit, now=LATER),
         ["bucket", "service"], ["cpu", "memory", "disk"])
    same(ops.active_sessions_over_time(engine, schema, filters, unit),
         prom.active_sessions_over_time(client, filters, unit, now=LATER), ["bucket"], ["mean_sessions", "peak_sessions"])


def test_status_now_and_down_intervals_equal_the_tables(sources):
    engine, schema, client = sources
    tables, prometheus = (ops.service_status(engine, schema, RANGE), prom.service_status(client, RANGE, now=LATER))
    same(tables, prometheus, ["service"], ["ok", "known", "uptime"])
    assert list(tables["status"]) == list(prometheus["status"]) and list(tables["since"]) == list(prometheus["since"])
    assert list(tables["whole_range"]) == list(prometheus["whole_range"])
    intervals = ops.status_intervals(engine, schema, RANGE)
    same(intervals, prom.status_intervals(client, RANGE, now=LATER), ["service", "started"], ["checks", "seconds"])
    # the planted runs as the range cuts them: api-gateway's from 09:55 seen from 10:00, payments-api
    # at 11:07 for 4 minutes, and at 12:58 until the range ends
    assert list(zip(intervals["service"], intervals["started"].dt.strftime("%H:%M"), intervals["checks"])) == [
        ("api-gateway", "10:00", 2), ("payments-api", "11:07", 4), ("payments-api", "12:58", 2)]


def test_the_tiles_equal_the_tables(sources):
    engine, schema, client = sources
    keys = ("avg_rps", "peak_rps", "error_rate", "uptime", "active_sessions", "cpu", "memory", "disk")
    from_tables = kpis.compute(engine, schema, RANGE, list(keys))
    from_prometheus = prom.kpis(client, RANGE, keys, now=LATER)
    for key in keys:
        assert from_prometheus[key].value == pytest.approx(float(from_tables[key].value), rel=1e-9), key
    assert from_prometheus["uptime"].n == from_tables["uptime"].n  # the checks behind it
    assert from_prometheus["error_rate"].n == from_tables["error_rate"].n  # the requests behind it
    # A range the scrapes cover in part (rows from 22:00 only): the average is over the scrapes
    # taken, not the whole day, as the tables divide by the rows. Prometheus counts one scrape more:
    # a counter's first one (its 0 at 21:59, before any row), so 120 rows' requests over 121 minutes.
    partly = Filters(datetime(2026, 10, 4), datetime(2026, 10, 5))
    rows_average = float(kpis.compute(engine, schema, partly, ["avg_rps"])["avg_rps"].value)
    assert prom.kpis(client, partly, ("avg_rps",), now=LATER)["avg_rps"].value == pytest.approx(
        rows_average * 120 / 121, rel=1e-9)


def test_the_platform_filter_applies_where_the_metric_has_the_label(sources):
    _, _, client = sources
    only_web = Filters(RANGE.start, RANGE.end, platforms=("web",))
    assert prom.traffic(client, only_web, "hour", now=LATER).empty  # these messages carry no platform label
    assert 'platform=~"web"' in prom.promql("requests", client.config, window=60, filters=only_web)


def test_a_range_query_longer_than_prometheus_allows_is_split(sources):
    _, _, client = sources
    start = datetime(2026, 9, 1)
    [series] = client.range("vector(1)", start, start + timedelta(minutes=prom.CHUNK_POINTS * 2.5), 60)
    assert len(series["values"]) == int(prom.CHUNK_POINTS * 2.5) + 1  # three queries, no point twice


def test_faults_are_named_one_line_errors_without_the_address(sources):
    _, _, client = sources
    with pytest.raises(prom.PrometheusRefused) as refused:
        client.instant("sum(", LATER)
    assert "127.0.0.1" not in str(refused.value)
    closed = prom.Prometheus(prom.PrometheusConfig(url=f"http://127.0.0.1:{free_port()}", timeout=2))
    with pytest.raises(prom.PrometheusUnreachable) as unreachable:
        closed.instant("up", LATER)
    assert str(unreachable.value) == "Prometheus cannot be reached"
    assert not closed.ready()


def test_a_server_that_does_not_answer_times_out():
    import socket

    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        client = prom.Prometheus(prom.PrometheusConfig(url=f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5))
        with pytest.raises(prom.PrometheusTimeout):
            client.instant("up", LATER)


def test_the_configuration():
    assert prom.config_from({}, {}) is None
    config = prom.config_from({"prometheus": {"url": "http://p:9090/", "token": "t", "service_label": "instance"}}, {})
    assert (config.url, config.token, config.service_label) == ("http://p:9090", "t", "instance")
    assert prom.config_from({"prometheus": {"url": "http://a"}}, {"PROMETHEUS_URL": "http://b"}).url == "http://b"
    assert "token" not in repr(config)  # a secret stays out of logs and error texts
    for bad in ({"url": "ftp://p"}, {"url": "http://p", "service_label": "a b"}):
        with pytest.raises(ValueError):
            prom.config_from({"prometheus": bad}, {})


def test_the_rules_file_is_alerts_yml_and_prometheus_fires_it(tmp_path):
    """prometheus-rules.yml is what alerts.yml generates (its thresholds live there only), promtool
    accepts it, and Prometheus's own rule tests fire ServiceDown and HighErrorRate where alerts.yml
    says and not elsewhere."""
    import json
    from pathlib import Path

    from data_access.alert_rules import load_rules

    if not PROMTOOL:
        required("promtool is not installed (apt-get install -y prometheus)")
    committed = Path(__file__).resolve().parent.parent / "prometheus-rules.yml"
    rules = load_rules()
    assert committed.read_text(encoding="utf-8") == prom.rules_text(rules), \
        "regenerate: python -m data_access.prometheus rules --out prometheus-rules.yml"
    subprocess.run([PROMTOOL, "check", "rules", str(committed)], check=True, capture_output=True)

    def fired(name: str, **labels) -> dict:
        rule = next(r for r in rules.rules if r.name == name)
        return {"exp_labels": {"severity": rule.severity, **labels},
                "exp_annotations": {"summary": rule.summary, "summary_ru": rule.summary_ru}}

    unit = {"rule_files": [str(committed)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [
            {"series": 'up{job="payments-api"}', "values": "1 1 0 0 0 0 1 1"},
            {"series": 'up{job="ai-service"}', "values": "1x8"},
            {"series": 'messages_total{job="api-gateway"}', "values": "0+100x15"},
            {"series": 'errors_total{job="api-gateway",error_type="TimeoutError"}', "values": "0+10x15"},
            {"series": 'messages_total{job="ai-service"}', "values": "0+100x15"},
            {"series": 'errors_total{job="ai-service",error_type="TimeoutError"}', "values": "0+1x15"},
        ],
        "alert_rule_test": [
            {"eval_time": "2m", "alertname": "ServiceDown", "exp_alerts": []},  # pending: down for a minute
            {"eval_time": "4m", "alertname": "ServiceDown", "exp_alerts": [fired("ServiceDown", job="payments-api")]},
            {"eval_time": "12m", "alertname": "HighErrorRate",  # 10 % of api-gateway's; ai-service's 1 % is fine
             "exp_alerts": [fired("HighErrorRate", job="api-gateway")]},
        ]}]}
    tests = tmp_path / "rules-test.yml"
    tests.write_text(json.dumps(unit), encoding="utf-8")  # JSON is YAML
    result = subprocess.run([PROMTOOL, "test", "rules", str(tests)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("by_month", [False, True])
def test_sla_service_uptime_and_budget_equal_the_tables(sources, by_month):
    from data_access import sla
    from data_access.alert_rules import SlaTargets

    engine, schema, client = sources
    targets = SlaTargets(uptime_percent=99.9, response_time_ms=2000)
    tables = sla.compliance(engine, schema, RANGE, "services", targets, by_month, now=LATER)
    prometheus = sla.compliance_from_checks(prom.sla_checks(client, RANGE, by_month=by_month, now=LATER), RANGE,
                                            targets, by_month, now=LATER)
    keys = (["month"] if by_month else []) + ["name"]
    same(tables, prometheus, keys, ["known", "ok", "uptime", "covered_minutes", "downtime_minutes",
                                    "budget_left_minutes", "burn_rate", "current_burn_rate"])
    assert list(tables["uptime_ok"]) == list(prometheus["uptime_ok"])
