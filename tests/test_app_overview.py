"""AppTest smoke tests of the app shell and the Overview, one fixture per scenario."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from data_access.engine import make_engine
from data_access.kpis import KPIS
from data_access.schema import create_all
from tests.apptest import APP, HEADLINE_TILES, OVERVIEW_TILES, PERIOD_SLA_TILES, TODAY, assert_clean, page_text, run_app, tiles, warnings
from tests.conftest import ADMIN_URL
from tests.tcp_proxy import TcpProxy

PERIOD_KEYS = ("dialogs", "csat", "nps", "escalation_rate", "conversion_rate", "avg_response_time", "cost", "error_rate",
               "uptime")


def test_overview_on_demo_data(monkeypatch, demo_url):
    at = run_app(monkeypatch, demo_url)
    assert_clean(at)
    shown = tiles(at)
    assert list(shown) == OVERVIEW_TILES
    assert all(value != "—" for value in shown.values()), shown
    assert len(at.get("plotly_chart")) == 1
    for metric in at.metric[len(HEADLINE_TILES):-len(PERIOD_SLA_TILES)]:  # the KPI tiles: the last hour's and the period's
        key = next(k for k, v in KPIS.items() if v.label == metric.label)
        # in a manager's words, the precise definition and its sample folded under the tiles
        assert metric.proto.help.startswith(KPIS[key].meaning + "\n\n")
        assert KPIS[key].definition not in metric.proto.help
    [folded] = [e for e in at.expander if e.label == "How these numbers are counted"]
    text = "\n".join(m.value for m in folded.markdown)
    assert all(f"**{KPIS[k].label}**: {KPIS[k].definition} This period: " in text for k in PERIOD_KEYS)
    assert not warnings(at)


def test_overview_numbers_follow_the_platform_filter(monkeypatch, demo_url):
    everything = tiles(run_app(monkeypatch, demo_url))
    at = run_app(monkeypatch, demo_url, {"platform": "web"})
    assert_clean(at)
    web_only = tiles(at)
    assert int(web_only["Dialogs"].replace(",", "")) < int(everything["Dialogs"].replace(",", ""))
    assert web_only["Error rate"] == everything["Error rate"]  # system tables ignore platform
    assert at.query_params["platform"] == "web"  # AppTest collapses a single value to str


def test_the_url_keeps_the_filters(monkeypatch, demo_url):
    start = (TODAY - timedelta(days=10)).isoformat()
    at = run_app(monkeypatch, demo_url, {"start_date": start, "end_date": TODAY.isoformat(),
                                         "platform": "telegram,whatsapp"})
    assert_clean(at)
    assert at.query_params["start_date"] == start
    assert at.query_params["platform"] == ["telegram", "whatsapp"]
    assert at.multiselect(key="f_platform").value == ["telegram", "whatsapp"]
    at.multiselect(key="f_platform").set_value(["web"]).run()
    assert at.query_params["platform"] == "web"  # AppTest collapses a single value to str


@pytest.mark.parametrize("query", [
    {"platform": "telegram'; DROP TABLE conversation_metrics; --"},
    {"intent": "<script>alert(1)</script>", "ai_model": "\" OR 1=1"},
    {"platform": "x" * 10_000},
    {"start_date": "2026-11-20", "end_date": "2026-11-01"},
    {"start_date": "not-a-date", "end_date": "99999-01-01"},
    {"start_date": "0001-01-01"},
    {"tz": "../../etc/passwd", "range": "forever"},
])
def test_hostile_url_values_are_dropped_with_a_warning(monkeypatch, sqlite_demo_url, query):
    at = run_app(monkeypatch, sqlite_demo_url, query)
    assert_clean(at)
    assert at.warning, "a dropped value must be reported"
    assert all(len(w.value) < 400 for w in at.warning)
    assert list(tiles(at)) == OVERVIEW_TILES
    with make_engine(sqlite_demo_url).connect() as conn:  # nothing was dropped
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM conversation_metrics").scalar() > 0


def test_empty_database_shows_dashes_not_zeros(monkeypatch, blank_url):
    engine = make_engine(blank_url)
    create_all(engine)
    engine.dispose()
    at = run_app(monkeypatch, blank_url)
    assert_clean(at)
    shown = tiles(at)
    assert shown["CSAT"] == "—" and shown["NPS"] == "—" and shown["Uptime"] == "—"
    assert shown["Dialogs"] == "0"
    assert "No data in this range." in at.metric[len(HEADLINE_TILES) + 1].proto.help  # the last hour's CSAT
    assert any("No dialogs" in i.value for i in at.info)


def test_database_without_tables_says_so(monkeypatch, blank_url):
    at = run_app(monkeypatch, blank_url)
    assert_clean(at)
    assert any("no `conversation_metrics` table" in w.value for w in at.warning)
    assert not at.metric


def test_seed_only_table(monkeypatch, seed_only_url):
    at = run_app(monkeypatch, seed_only_url)
    assert_clean(at)
    shown = tiles(at)
    assert (shown["Dialogs"], shown["CSAT"], shown["Cost"]) == ("1", "100.0 %", "$0.01")
    assert shown["Escalation rate"] == "—" and shown["Uptime"] == "—"
    assert "Not tracked in this database." in next(m for m in at.metric if m.label == "Uptime").proto.help
    assert len(at.get("plotly_chart")) == 1


@pytest.mark.parametrize("url", [
    "postgresql+psycopg2://analyst:s3cret-pa55@127.0.0.1:1/metrics",
    "postgresql+psycopg2://analyst:s3cret-pa55@db.invalid:5432/metrics",
    "mysql+nosuchdriver://analyst:s3cret-pa55@127.0.0.1/metrics",
    "not a url at all s3cret-pa55",
])
def test_unreachable_database_gives_a_clear_message_without_the_password(monkeypatch, url):
    at = run_app(monkeypatch, url)
    assert_clean(at)
    assert at.error and "s3cret-pa55" not in page_text(at)
    assert not at.metric
    assert [b.label for b in at.button] == ["Retry now"]


def test_refused_login_is_named(monkeypatch, postgres):
    url = sa.make_url(ADMIN_URL).set(username="no_such_role", password="s3cret-pa55").render_as_string(False)
    at = run_app(monkeypatch, url)
    assert_clean(at)
    assert "refused the login" in at.error[0].value and "s3cret-pa55" not in page_text(at)


def test_the_app_recovers_when_the_database_comes_back(monkeypatch, postgresql_demo_url):
    target = sa.make_url(postgresql_demo_url)
    proxy = TcpProxy((target.host or "127.0.0.1", target.port or 5432))
    url = target.set(port=proxy.port).render_as_string(hide_password=False)
    try:
        at = run_app(monkeypatch, url)  # down from the start
        assert_clean(at)
        assert at.error and not at.metric
        proxy.start()
        at.run()
        assert_clean(at)
        assert not at.error and list(tiles(at)) == OVERVIEW_TILES
        proxy.stop()  # down mid-session
        at.run()
        assert_clean(at)
        assert at.error and not at.metric  # cached numbers do not hide the outage
        proxy.start()
        at.run()
        assert_clean(at)
        assert list(tiles(at)) == OVERVIEW_TILES
    finally:
        proxy.stop()


def test_demo_database_is_built_on_first_start(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("EASYFLOW_SECRETS_FILE", str(tmp_path / "none.toml"))
    monkeypatch.setenv("EASYFLOW_DEMO_DB", str(tmp_path / "demo" / "demo.sqlite"))
    monkeypatch.setenv("EASYFLOW_DEMO_DAYS", "7")
    monkeypatch.setenv("EASYFLOW_DEMO_SCALE", "0.02")
    at = AppTest.from_file(APP, default_timeout=90).run()
    assert_clean(at)
    assert (tmp_path / "demo" / "demo.sqlite").is_file()
    assert any("Demo data" in i.value for i in at.info)
    assert list(tiles(at)) == OVERVIEW_TILES and tiles(at)["Dialogs"] != "0"
    # One build leaves it complete: nothing is left for a background refresh to do.
    from dashboard import rollup_upkeep

    engine = make_engine(f"sqlite:///{tmp_path / 'demo' / 'demo.sqlite'}")
    assert rollup_upkeep._stale(engine) == (False, False)
    engine.dispose()
    at.button(key="demo_banner_hide").click().run()  # the note can be put away; one small line stays
    assert not any("Demo data" in i.value for i in at.info)
    assert any("Demo data" in c.value for c in at.caption)


def test_debug_panel_lists_the_queries_of_the_run(monkeypatch, sqlite_demo_url):
    import streamlit as st

    st.cache_data.clear()  # a cold run: every query executes
    at = run_app(monkeypatch, sqlite_demo_url, {"debug": "1"})
    assert_clean(at)
    [expander] = [e for e in at.expander if e.label.startswith("Queries this run")]
    frame = at.dataframe[-1].value
    assert {"compute", "dialogs_by_platform", "filter_options"} <= set(frame["query"])
    assert (frame["duration_ms"] >= 0).all() and frame["duration_ms"].is_monotonic_decreasing
    assert "1" in at.query_params["debug"]  # kept in the URL as the filters change
    at.run()  # warm: served from the cache, nothing to list
    assert any(e.label.startswith("Queries this run: 0") for e in at.expander)


def test_no_debug_panel_without_the_parameter(monkeypatch, sqlite_demo_url):
    at = run_app(monkeypatch, sqlite_demo_url)
    assert not [e for e in at.expander if e.label.startswith("Queries this run")]


def test_the_headline_names_a_down_service_and_the_alert_with_a_link(monkeypatch, tmp_path):
    """A service down right now (planted: "web" down for the last 70 minutes, checks every 15 s):
    the headline's verdict says so and since when, it counts it, names it with since when, and lists its firing alert as a link to
    the Alerts page that keeps the view's filters."""
    from tests.test_alert_watch import RULES_TEXT, at as planted_at, planted

    url = f"sqlite:///{tmp_path / 'metrics.sqlite'}"
    planted(make_engine(url))
    (tmp_path / "alerts.yml").write_text(RULES_TEXT, encoding="utf-8")
    monkeypatch.setenv("EASYFLOW_ALERTS_FILE", str(tmp_path / "alerts.yml"))
    at = run_app(monkeypatch, url, {"range": "7d", "tz": "Europe/Moscow"})
    assert_clean(at)
    shown = tiles(at)
    assert shown["Services down"] == "1" and shown["Alerts firing"] == "1" and shown["Degraded"] == "0"
    text = page_text(at).replace("\\", "")
    since = planted_at(50).replace(tzinfo=None)
    from zoneinfo import ZoneInfo
    from datetime import timezone as tzone
    local = since.replace(tzinfo=tzone.utc).astimezone(ZoneInfo("Europe/Moscow")).strftime("%Y-%m-%d %H:%M")
    assert f"down] **web** since {local}" in text
    [link] = [link for link in at.get("page_link") if " · " in link.label]
    assert link.label.startswith("Critical · Service down · web — since ") and link.proto.page.endswith("alerts")
    # The first line: what needs attention, since the earliest of the outage and the alert.
    assert f"Needs attention now] since {local}: 1 service down, 1 alert firing." in text
    assert "range=7d" in link.proto.query_string and "tz=Europe%2FMoscow" in link.proto.query_string
