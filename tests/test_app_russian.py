"""Every page in Russian (AppTest, lang=ru): no English UI text left, compared with the catalogue."""

from __future__ import annotations

import json
import string

import pytest

from dashboard.i18n import EN, RU
from tests.apptest import assert_clean, run_app, HEADLINE_TILES
from tests.russian_words import LATIN_ALLOWED, database_words, latin_words
from dashboard.headline import HOUR_KEYS

PAGES = ["overview", "operational", "business", "ai_performance", "export"]


def english_fragments() -> set[str]:
    """The literal parts (between placeholders) of every English text that Russian changes:
    what would show if a text were left untranslated. Short bits (units, "p90") are left out, and
    so are the database's own names (columns, statuses), which definitions quote in any language."""
    from data_access.schema import TABLES

    identifiers = {c for table in TABLES.values() for c in table.columns.keys()} | {"up", "degraded", "down"}
    fragments = set()
    for key, english in EN.items():
        if RU[key] == english:
            continue
        for literal, *_ in string.Formatter().parse(english):
            literal = literal.strip(" .,:;()–—·`*\n")
            if len(literal) >= 5 and any(c.isalpha() for c in literal) and literal not in identifiers:
                fragments.add(literal)
    from data_access.alert_rules import load_rules

    fragments |= {rule.summary for rule in load_rules().rules}  # alerts.yml gives each a summary_ru
    return fragments


def visible_text(at) -> str:
    """Everything the page shows as text, less the data (table cells, chart values)."""
    parts = []
    for kind in ("markdown", "caption", "warning", "error", "info", "success", "title", "header", "subheader",
                 "toast"):  # code blocks hold commands, not UI text
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label}\n{m.value}\n{m.delta}\n{m.proto.help}" for m in at.metric]
    for kind in ("selectbox", "multiselect", "toggle", "segmented_control", "date_input", "button", "tabs"):
        for widget in getattr(at, kind):
            parts.append(str(getattr(widget, "label", "")))
            parts.append(str(getattr(widget.proto, "help", "")))
    parts += [f"{b.proto.label}\n{b.proto.help}" for b in at.get("link_button")]  # the downloads
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        layout = spec.get("layout", {})
        for name, value in layout.items():
            if isinstance(value, dict):
                title = value.get("title")
                parts.append(title.get("text", "") if isinstance(title, dict) else str(title or ""))
        parts += [str(a.get("text", "")) for a in layout.get("annotations", [])]
        parts += [str(trace.get("name", "")) + " " + str(trace.get("hovertemplate", "")) for trace in spec["data"]]
    for frame in at.dataframe:  # the headers shown: column labels, not the frame's own names
        config = json.loads(frame.proto.columns or "{}")
        parts += [str(c.get("label", "")) for c in config.values() if isinstance(c, dict)]
    return "\n".join(parts)


@pytest.mark.parametrize("page", PAGES)
def test_page_in_russian_has_no_english_left(monkeypatch, sqlite_demo_url, page):
    at = run_app(monkeypatch, sqlite_demo_url, {"lang": "ru"})
    if page != "overview":
        at.switch_page(f"../pages/{page}.py").run()
    assert_clean(at)
    text = visible_text(at)
    left = sorted(fragment for fragment in english_fragments() if fragment in text)
    assert not left, left
    assert at.query_params["lang"] == "ru"


def test_tiles_are_looked_up_by_key_in_russian(monkeypatch, sqlite_demo_url):
    at = run_app(monkeypatch, sqlite_demo_url, {"lang": "ru"})
    period = at.metric[len(HEADLINE_TILES) + len(HOUR_KEYS):]  # after the headline and the last hour's tiles
    assert [m.label for m in period][:4] == [RU["kpi.dialogs.label"], RU["kpi.csat.label"], RU["kpi.nps.label"],
                                             RU["kpi.escalation_rate.label"]]
    assert "," in period[1].value and "%" in period[1].value  # 72,8 %
    assert [m.label for m in at.metric[:len(HEADLINE_TILES)]][0] == RU["headline.down"]


def test_language_switch_and_unknown_language(monkeypatch, sqlite_demo_url):
    at = run_app(monkeypatch, sqlite_demo_url, {"lang": "xx"})
    assert_clean(at)
    assert any("lang" in w.value for w in at.warning)
    at.selectbox(key="lang").set_value("ru").run()
    assert at.metric[0].label == RU["headline.down"] and at.query_params["lang"] == "ru"
    assert "Диалоги" in [m.label for m in at.metric]


ALL_PAGES = ["overview", "operational", "business", "ai_performance", "alerts", "sla", "reports", "export",
             "messages"]


@pytest.mark.parametrize("page", ALL_PAGES)
def test_a_russian_page_shows_no_english_word_beyond_names_and_data(monkeypatch, sqlite_demo_url, page):
    query = {"lang": "ru"} | ({"user": "u000003"} if page == "messages" else {})
    at = run_app(monkeypatch, sqlite_demo_url, query)
    if page != "overview":
        at.switch_page(f"../pages/{page}.py").run()
    assert_clean(at)
    english = latin_words(visible_text(at)) - LATIN_ALLOWED - database_words(sqlite_demo_url)
    assert not english, sorted(english)
