"""AppTest smoke tests of the Operational page."""

from __future__ import annotations

import shutil

import sqlalchemy as sa

from data_access.engine import make_engine
from tests.apptest import assert_clean, open_page, page_text, run_app, tiles

OPS_TILES = ["Avg RPS", "Peak RPS", "Error rate", "Uptime", "Active sessions", "CPU", "Memory", "Disk"]


def test_operational_on_demo_data(monkeypatch, demo_url):
    at = open_page(run_app(monkeypatch, demo_url, {"range": "90d"}), "operational")
    shown = tiles(at)
    assert [k for k in shown if k != "Database round trip"] == OPS_TILES
    assert "—" not in shown.values(), shown
    assert len(at.get("plotly_chart")) >= 7
    text = page_text(at)
    assert "Over the thresholds" in text  # the demo's disk fills up on the last days
    assert "Needs attention" in text      # auth failures happen in the demo


def test_operational_live_mode(monkeypatch, sqlite_demo_url):
    at = open_page(run_app(monkeypatch, sqlite_demo_url), "operational")
    at.toggle(key="ops_live").set_value(True).run()
    assert_clean(at)
    assert "Live: updated" in page_text(at)


def test_operational_on_an_empty_database(monkeypatch, blank_url):
    from data_access.schema import create_all

    engine = make_engine(blank_url)
    create_all(engine)
    engine.dispose()
    at = open_page(run_app(monkeypatch, blank_url), "operational")
    assert all(v == "—" for k, v in tiles(at).items() if k != "Database round trip")


def test_operational_without_system_tables(monkeypatch, tmp_path, sqlite_demo_url):
    copy = tmp_path / "no_system.sqlite"
    shutil.copy(sa.make_url(sqlite_demo_url).database, copy)
    engine = make_engine(f"sqlite:///{copy}")
    with engine.begin() as conn:
        for table in ("system_metrics", "error_events", "service_health", "integration_calls"):
            conn.exec_driver_sql(f"DROP TABLE {table}")
    engine.dispose()
    at = open_page(run_app(monkeypatch, f"sqlite:///{copy}"), "operational")
    text = page_text(at)
    for table in ("system_metrics", "error_events", "service_health", "integration_calls"):
        assert f"Not tracked in this database (no `{table}`)" in text, table
    assert all(v == "—" for k, v in tiles(at).items() if k != "Database round trip")


def test_operational_on_seed_only_table(monkeypatch, seed_only_url):
    at = open_page(run_app(monkeypatch, seed_only_url), "operational")
    assert "Not tracked in this database (no `system_metrics`)" in page_text(at)
