"""The Operational and SLA pages read Prometheus when it is configured (AppTest): the same tiles
as the tables for the same metrics, the source named, a clear notice per panel while Prometheus
is away, and recovery by itself when it is back."""

from __future__ import annotations

from urllib.parse import urlparse


from tests.apptest import assert_clean, open_page, run_app, tiles, warnings
from tests.tcp_proxy import TcpProxy

DAY = {"start_date": "2026-10-05", "end_date": "2026-10-05"}
SERVICE_TILES = ("Avg RPS", "Peak RPS", "Error rate", "Uptime", "Active sessions", "CPU", "Memory", "Disk")


def operational(monkeypatch, database_url: str, prometheus_url: str | None, query=DAY):
    if prometheus_url:
        monkeypatch.setenv("PROMETHEUS_URL", prometheus_url)
    else:
        monkeypatch.delenv("PROMETHEUS_URL", raising=False)
    return open_page(run_app(monkeypatch, database_url, query), "operational")


def test_the_operational_page_from_prometheus_shows_the_tables_numbers(monkeypatch, prometheus_metrics):
    database_url, prometheus_url = prometheus_metrics
    from_tables = tiles(operational(monkeypatch, database_url, None))
    at = operational(monkeypatch, database_url, prometheus_url)
    assert_clean(at)
    assert not warnings(at)
    assert any("from Prometheus" in c.value for c in at.caption)
    from_prometheus = tiles(at)
    assert {k: from_prometheus[k] for k in SERVICE_TILES} == {k: from_tables[k] for k in SERVICE_TILES}
    assert from_prometheus["Uptime"] != "—" and from_prometheus["Avg RPS"] != "—"
    headers = [h.value for h in at.header]
    assert {"Services now", "Traffic", "Resource usage"} <= set(headers)


def test_prometheus_away_gives_a_notice_per_panel_and_the_page_recovers(monkeypatch, prometheus_metrics):
    database_url, prometheus_url = prometheus_metrics
    target = urlparse(prometheus_url)
    proxy = TcpProxy((target.hostname, target.port))
    proxy.start()
    try:
        through = f"http://127.0.0.1:{proxy.port}"
        assert not warnings(operational(monkeypatch, database_url, through))
        proxy.stop()
        later = {"start_date": "2026-10-05", "end_date": "2026-10-06"}  # not in the cache
        away = operational(monkeypatch, database_url, through, later)
        assert_clean(away)
        notices = [w for w in warnings(away) if "Prometheus cannot be reached" in w]
        assert len(notices) >= 4 and all("127.0.0.1" not in w for w in warnings(away))
        assert tiles(away)["Avg RPS"] == "—"
        assert any(h.value == "Dashboard database" for h in away.header)  # the SQL panels go on
        proxy.start()
        back = operational(monkeypatch, database_url, through, later)
        assert not warnings(back) and tiles(back)["Avg RPS"] != "—"
    finally:
        proxy.stop()


def test_a_bad_prometheus_setting_is_said_and_the_tables_answer(monkeypatch, prometheus_metrics):
    database_url, _ = prometheus_metrics
    at = operational(monkeypatch, database_url, "ftp://nowhere")
    assert_clean(at)
    assert any("cannot be used" in c.value for c in at.caption)
    assert tiles(at)["Uptime"] != "—"


def test_the_sla_page_reads_service_uptime_from_prometheus(monkeypatch, prometheus_metrics):
    database_url, prometheus_url = prometheus_metrics
    monkeypatch.delenv("PROMETHEUS_URL", raising=False)
    tables = open_page(run_app(monkeypatch, database_url, DAY), "sla")
    monkeypatch.setenv("PROMETHEUS_URL", prometheus_url)
    at = open_page(run_app(monkeypatch, database_url, DAY), "sla")
    assert_clean(at)
    assert any("From Prometheus" in c.value for c in at.caption)
    for label in ("Lowest uptime", "Services meeting SLA"):
        assert tiles(at)[label] == tiles(tables)[label], label
