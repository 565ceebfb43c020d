"""Each role's first questions, in Chromium, with the answers on screen checked against the
database: a manager ("is it OK now", "this month against last"), a support lead in Russian (CSAT,
the SLA this month, an unhappy dialog down to its messages under an intent filter it has no
message of), an analyst (a report link a colleague opens as it was shared)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import sqlalchemy as sa

from data_access.engine import make_engine
from data_access.filters import Filters
from data_access.kpis import compute
from data_access.schema import discover
from dashboard import format as fmt
from tests.browser.test_pages import assert_no_error, settle


def open_page(browser, url: str):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(url)
    settle(page)
    assert_no_error(page)
    return context, page


def tile(page, label: str) -> str:
    """The value of the tile labelled ``label``."""
    metric = page.locator("[data-testid=stMetric]").filter(
        has=page.locator("[data-testid=stMetricLabel]", has_text=re.compile(f"^{re.escape(label)}$")))
    return metric.first.locator("[data-testid=stMetricValue]").inner_text().strip()


def kpi(database_url: str, key: str, filters: Filters):
    engine = make_engine(database_url)
    try:
        return compute(engine, discover(engine), filters, (key,))[key].value
    finally:
        engine.dispose()


def test_manager_sees_a_verdict_and_this_month_against_the_last(browser, dashboard):
    context, page = open_page(browser, f"{dashboard.url}/?range=this_month")
    main = page.inner_text("[data-testid=stMain]")
    # The first line under "Right now" is a verdict, with since when if anything needs attention.
    assert re.search(r"All is well|Needs attention( now)? since \d{4}-\d\d-\d\d \d\d:\d\d", main), main[:600]
    # "This month" is compared with the same days of last month, said in plain words.
    today = date.today()
    first = today.replace(day=1)
    before = (first - timedelta(days=1)).replace(day=1)
    assert f"The changes are against {before:%Y-%m-%d} 00:00 – " in main
    dialogs = kpi(dashboard.database_url, "dialogs", Filters.for_dates(first, today))
    assert tile(page, "Dialogs") == fmt.kpi_value(dialogs, "count", "en")
    context.close()


def test_support_lead_in_russian_from_csat_to_an_unhappy_dialogs_messages(browser, dashboard):
    context, page = open_page(browser, f"{dashboard.url}/business?lang=ru&range=30d")
    today = date.today()
    csat = kpi(dashboard.database_url, "csat", Filters.for_dates(today - timedelta(days=29), today))
    assert tile(page, "CSAT") == fmt.kpi_value(csat, "percent", "ru")

    page.goto(f"{dashboard.url}/sla?lang=ru&range=this_month")
    settle(page)
    main = page.inner_text("[data-testid=stMain]")
    assert re.search(r"(Выполнен|Нарушен)\s*Время ответа ИИ: p95 — ", main), main[:800]
    assert "Доступность сервисов" in main

    # The dialog with the lowest rating, opened under an intent filter it has no message of.
    engine = make_engine(dashboard.database_url)
    with engine.connect() as conn:
        dialog, intent, count = conn.execute(sa.text(
            "SELECT session_id, MIN(intent), COUNT(*) FROM conversation_metrics WHERE session_id IN ("
            "  SELECT session_id FROM conversation_metrics WHERE satisfaction_score = 1 ORDER BY session_id LIMIT 1)"
            " GROUP BY session_id")).one()
        other = conn.execute(sa.text("SELECT MIN(intent) FROM conversation_metrics WHERE intent <> :i"),
                             {"i": intent}).scalar()
    engine.dispose()
    page.goto(f"{dashboard.url}/messages?lang=ru&range=30d&intent={other}&dialog={dialog}")
    settle(page)
    assert_no_error(page)
    main = page.inner_text("[data-testid=stMain]")
    assert "Диалог целиком, без учёта фильтров" in main and "сообщений за этот период нет" not in main
    assert tile(page, "Сообщения") == fmt.number(count, lang="ru")
    context.close()


def test_analyst_shares_a_report_link_that_opens_the_same_report(browser, dashboard):
    day = date.today() - timedelta(days=2)
    context, page = open_page(browser, f"{dashboard.url}/reports?platform=web")
    page.locator("[data-testid=stMain]").get_by_text("Daily", exact=True).click()
    settle(page, after_action=True)
    page.wait_for_function("() => location.search.includes('report_kind=daily')", timeout=15_000)
    shared = re.sub(r"report_date=[0-9-]+", f"report_date={day.isoformat()}", page.url)
    assert "report_date=" in shared and "platform=web" in shared
    context.close()

    context, page = open_page(browser, shared)  # the colleague's browser
    main = page.inner_text("[data-testid=stMain]")
    assert f"Daily report · {day.isoformat()}" in main
    assert f"· {day.isoformat()} – {day.isoformat()} (UTC)" in main  # the caption: the report's own period
    context.close()


# Every text the main area shows: the DOM's text nodes, the charts' SVG text (axes, legends)
# included, and the values and placeholders of its widgets.
# Not prose: icons (Material Symbols ligatures: their text is the icon's name) and code, which
# is typed as it is written.
SHOWN_TEXT = """() => {
  const main = document.querySelector('[data-testid=stMain]');
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  const parts = [];
  const notProse = '[data-testid=stIconMaterial], code, pre, [translate=no]';
  while (walker.nextNode()) {
    const parent = walker.currentNode.parentElement;
    if (parent && !parent.closest(notProse)) parts.push(walker.currentNode.textContent);
  }
  // What a text field shows: its value, or its placeholder while empty (not a checkbox's "on").
  main.querySelectorAll('input:not([type=checkbox]):not([type=radio]), textarea')
      .forEach(el => parts.push(el.value || el.placeholder || ''));
  return parts.join('\\n');
}"""


def test_no_latin_word_on_a_russian_page_beyond_names_and_data(browser, dashboard):
    """Under lang=ru, no English word on any page, chart axes, legends and widgets included,
    but the allow-listed names and codes and the data's own words."""
    from tests.browser.test_pages import PAGES
    from tests.russian_words import LATIN_ALLOWED, database_words, latin_words

    allowed = LATIN_ALLOWED | database_words(dashboard.database_url)
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    found = {}
    for name, path in PAGES.items():
        page.goto(f"{dashboard.url}/{path}?lang=ru&range=30d")
        settle(page)
        # A link's address (a table's link column: its cells hold the URL, shown as a word) is no prose.
        text = re.sub(r"\S+\?\S+=\S*", " ", page.evaluate(SHOWN_TEXT))
        english = latin_words(text) - allowed
        if english:
            found[name] = sorted(english)
    context.close()
    assert found == {}, found
