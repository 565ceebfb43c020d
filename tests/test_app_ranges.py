"""Every page with the other range shapes and a display timezone: the last 24 hours (hour and
ten-minute buckets), a long custom range (weekly buckets), on both databases."""

from __future__ import annotations

import pytest

from tests.apptest import assert_clean, run_app, tiles, warnings

PAGES = ["overview", "operational", "business", "ai_performance", "export"]


@pytest.mark.parametrize("query", [
    {"range": "24h", "tz": "America/New_York"},
    {"range": "7d", "tz": "Asia/Kolkata", "platform": "telegram", "intent": "refund,order_status"},
    {"start_date": "2024-01-01", "end_date": "2026-12-31", "tz": "Europe/Berlin"},
])
def test_every_page_with_other_ranges(monkeypatch, demo_url, query):
    at = run_app(monkeypatch, demo_url, query)
    assert_clean(at)
    assert not warnings(at), warnings(at)
    for page in PAGES[1:]:
        at.switch_page(f"../pages/{page}.py").run()
        assert_clean(at)
        assert tiles(at)


def test_last_month_selects_the_calendar_month(monkeypatch, sqlite_demo_url):
    from dashboard.filters import calendar_dates
    from tests.apptest import TODAY, page_text

    at = run_app(monkeypatch, sqlite_demo_url)
    at.segmented_control(key="f_period").set_value("last_month").run()
    assert_clean(at)
    start, end = calendar_dates("last_month", TODAY)
    assert at.query_params["range"] == ["last_month"] or at.query_params["range"] == "last_month"
    assert f"{start} – {end} (UTC)" in page_text(at)
    reopened = run_app(monkeypatch, sqlite_demo_url, {"range": "last_month"})
    assert f"{start} – {end} (UTC)" in page_text(reopened) and not warnings(reopened)
