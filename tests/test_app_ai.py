"""AppTest smoke tests of the AI performance page."""

from __future__ import annotations

import time

import pytest

from data_access.engine import make_engine

from tests.apptest import assert_clean, open_page, page_text, run_app, tiles

AI_TILES = ["Messages", "Avg AI response time", "p95 AI response time", "Intent accuracy", "Helpful answers",
            "Escalation rate", "Tokens", "Cost"]


def test_ai_on_demo_data(monkeypatch, demo_url):
    at = open_page(run_app(monkeypatch, demo_url), "ai_performance")
    shown = tiles(at)
    assert list(shown) == AI_TILES and "—" not in shown.values(), shown
    assert len(at.get("plotly_chart")) >= 12
    assert len(at.dataframe) >= 5
    at.segmented_control(key="ai_percentile").set_value("p99").run()
    assert_clean(at)
    assert "p99 AI response time per" in page_text(at)


def test_ai_on_an_empty_range(monkeypatch, sqlite_demo_url):
    at = open_page(run_app(monkeypatch, sqlite_demo_url, {"start_date": "2020-01-01", "end_date": "2020-01-31"}), "ai_performance")
    shown = tiles(at)
    assert shown["Messages"] == "0" and shown["Cost"] == "—" and shown["Intent accuracy"] == "—"


def test_ai_on_seed_only_table(monkeypatch, seed_only_url):
    at = open_page(run_app(monkeypatch, seed_only_url), "ai_performance")
    text = page_text(at)
    for column in ("expected_intent", "helpful", "escalated", "ai_model"):
        assert f"Not tracked in this database (no `conversation_metrics.{column}`)" in text, column
    assert tiles(at)["Cost"] == "$0.01"


@pytest.mark.parametrize("page", ["ai_performance", "business", "operational", "overview"])
def test_prefetched_queries_are_the_ones_the_page_reads(monkeypatch, sqlite_demo_url, page):
    """The page's queries run at once on worker threads first; the page then finds every one in
    the cache, so none runs twice (the debug panel lists each statement of the run)."""
    import streamlit as st

    from data_access import rollups

    engine = make_engine(sqlite_demo_url)  # the rule records and the service tables' hours kept too
    while rollups.refresh(engine).status == "busy":  # a page's background refresh is at it
        time.sleep(0.2)
    engine.dispose()
    st.cache_data.clear()
    at = run_app(monkeypatch, sqlite_demo_url, {"debug": "1"})
    st.cache_data.clear()
    at = open_page(at, page) if page != "overview" else at.run()
    counts = at.dataframe[-1].value["query"].value_counts().to_dict()
    counts.pop("compute", None)  # the tiles: one statement per KPI level and period
    # By model and by intent; a breakdown from the rollups reads its sums and its latency histogram,
    # the outcome trend its sums and its resolution-time histogram, the users with most repeats the
    # leaders among the repeat contacts, then those users' dialogs.
    # The integrations from the service tables' hours read their sums and latency histogram; the
    # SLA's services also the last hour's raw checks.
    statements = {"ai_performance": {"breakdown": 4, "cost_outcomes": 2, "dialog_outcomes_trend": 2},
                  "business": {"breakdown": 2, "dialog_outcomes_trend": 2, "top_repeat_users": 2},
                  "operational": {"integrations": 2},
                  "overview": {"sla_services": 3}}.get(page, {})
    expected = lambda query, n: n == statements.get(query, 1)  # noqa: E731
    assert len(counts) >= {"overview": 2}.get(page, 8) and {
        q: n for q, n in counts.items() if not expected(q, n)} == {}, counts
