"""'Why did it change?' on the pages: a planted change (tests/change_data.py) explained in the
page's first sentence in both languages, with the rows, their links and the waterfall."""

from __future__ import annotations

import pytest

from data_access.catalogue import KPIS
from data_access.engine import make_engine
from tests import change_data
from tests.apptest import assert_clean, open_page, run_app
from tests.conftest import empty_database, insert

WEEK_2 = {"start_date": "2026-03-09", "end_date": "2026-03-15"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def planted_url(request, tmp_path_factory) -> str:
    """A database of its own holding the planted change (the pages' background refresh keeps
    building its rollups after a test: a shared database would be dropped under it)."""
    url = empty_database(request, tmp_path_factory, "why")
    engine = make_engine(url)
    insert(engine, "conversation_metrics", change_data.planted_rows())
    engine.dispose()
    return url


def _why(at, key: str, by: str | None = None):
    at.button_group(key="why").set_value(key).run()
    if by:
        at.button_group(key="why_by").set_value(by).run()
    assert_clean(at)
    return at


def _sentence(at, start: str) -> str:
    return next(m.value for m in at.markdown if m.value.startswith(start))


def test_the_first_sentence_names_the_rate_and_the_mix_segment(monkeypatch, planted_url):
    at = _why(run_app(monkeypatch, planted_url, WEEK_2), "csat")
    assert _sentence(at, "CSAT fell") == (
        "CSAT fell 16.7 pp: 8.0 pp of it from telegram, whose CSAT went from 90.0 % to 60.0 %, and 2.2 pp because "
        "there were fewer of them (a share of 33.3 % → 20.0 %); 4.9 pp of it from web, because there were more of "
        "them (a share of 33.3 % → 60.0 %).")
    table = next(d.value for d in at.dataframe if "segment" in d.value.columns)
    assert list(table["segment"]) == ["telegram", "web", "whatsapp"]
    assert list(table["total"]) == ["−10.2 pp", "−4.9 pp", "−1.6 pp"]
    assert list(table["rate"]) == ["−8.0 pp", "0.0 pp", "0.0 pp"]
    assert table["link"].iloc[0].startswith("?") and "platform=telegram" in table["link"].iloc[0]
    assert "start_date=2026-03-09" in table["link"].iloc[0] and "why" not in table["link"].iloc[0]
    assert len(at.get("plotly_chart")) >= 1


def test_in_russian(monkeypatch, planted_url):
    at = _why(run_app(monkeypatch, planted_url, {**WEEK_2, "lang": "ru"}), "csat")
    assert _sentence(at, "Показатель «CSAT»") == (
        "Показатель «CSAT» снизился на 16,7 п.п.: 8,0 п.п. из них дал сегмент telegram, где значение «CSAT» изменилось "
        "с 90,0 % до 60,0 %, и ещё 2,2 п.п. — потому что таких стало меньше (доля 33,3 % → 20,0 %); 4,9 п.п. из них "
        "дал сегмент web, потому что таких стало больше (доля 33,3 % → 60,0 %).")


def test_a_sum_a_percentile_and_a_pair(monkeypatch, planted_url):
    # The raw rows: exact percentiles (the rollups' histogram reads them within 1 %, tests/test_change.py).
    monkeypatch.setenv("EASYFLOW_ROLLUPS", "off")
    at = _why(run_app(monkeypatch, planted_url, WEEK_2), "dialogs")
    assert _sentence(at, "Dialogs rose") == "Dialogs rose 200: 200 of it from web (100 → 300)."
    at = open_page(at, "ai_performance")
    at = _why(at, "p95_response_time")
    assert _sentence(at, "p95 AI response time") == (
        "p95 AI response time rose 600 ms. A percentile does not add up over segments, so there is no exact split; "
        "the largest own change: telegram, from 900 ms to 1.50 s.")
    at = _why(at, "avg_response_time", "pair")
    assert _sentence(at, "Avg AI response time").startswith(
        "Avg AI response time rose 120 ms: 128 ms of it from telegram · Order, whose avg AI response time went from "
        "900 ms to 1.50 s")


def test_every_page_with_tiles_of_messages_or_dialogs_offers_it(monkeypatch, planted_url):
    at = run_app(monkeypatch, planted_url, WEEK_2)
    for page, keys in (("business", {"dialogs", "csat", "avg_rating", "automated_resolution_rate"}),
                       ("ai_performance", {"messages", "avg_response_time", "p95_response_time", "cost"})):
        at = open_page(at, page)
        assert {KPIS[k].label for k in keys} <= set(at.button_group(key="why").options)
    at = open_page(at, "operational")
    assert not [b for b in at.button_group if b.key == "why"]  # service KPIs: nothing to split by
