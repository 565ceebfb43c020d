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
