"""Each role's first questions, in Chromium, with the answers on screen checked against the
database: a manager ("is it OK now", "this month against last"), a support lead in Russian (CSAT,
the worst intent, its unhappy dialogs down to their messages, an unhappy dialog under an intent
filter it has no message of, the firing alerts, the SLA this month), an analyst (a report link a
colleague opens as it was shared)."""

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


def table_rows(page, key: str) -> list[list[str]]:
    """The rows on screen of the table ``key`` (``dashboard.tables.table``), heading first: the
    data grid's accessible copy, which holds the values unformatted (links as their URLs)."""
    return page.evaluate("""key => Array.from(document.querySelectorAll(`.st-key-table_${key} table tr`))
        .map(row => Array.from(row.querySelectorAll('th, td')).map(cell => cell.innerText.trim()))""", key)


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
    # The same days so far: to this hour's end (whole days in the day's last hour), not the month.
    last = before.replace(day=min(today.day, (first - timedelta(days=1)).day))
    assert re.search(rf"The changes are against {before:%Y-%m-%d}( 00:00)? – {last:%Y-%m-%d}", main), main[:3000]
    dialogs = kpi(dashboard.database_url, "dialogs", Filters.for_dates(first, today))
    assert tile(page, "Dialogs") == fmt.kpi_value(dialogs, "count", "en")
    context.close()


def test_support_lead_in_russian_from_csat_to_an_unhappy_dialogs_messages(browser, dashboard):
    context, page = open_page(browser, f"{dashboard.url}/business?lang=ru&range=30d")
    today = date.today()
    csat = kpi(dashboard.database_url, "csat", Filters.for_dates(today - timedelta(days=29), today))
    assert tile(page, "CSAT") == fmt.kpi_value(csat, "percent", "ru")
    # Its trend, a point a day: the chart's own data against the share of 4–5 ratings by hand.
    trend = page.evaluate("""() => document.querySelector('.st-key-csat_trend .js-plotly-plot')._fullData
        .filter(trace => trace.yaxis === 'y').map(trace => [Array.from(trace.x), Array.from(trace.y)])""")
    engine = make_engine(dashboard.database_url)
    with engine.connect() as conn:
        by_day = {str(day)[:10]: 100.0 * good / rated for day, good, rated in conn.execute(sa.text(
            "SELECT CAST(timestamp AS DATE) AS day, SUM(CASE WHEN satisfaction_score >= 4 THEN 1 ELSE 0 END),"
            " COUNT(*) FROM conversation_metrics WHERE satisfaction_score BETWEEN 1 AND 5"
            " AND timestamp >= :lo GROUP BY 1"), {"lo": today - timedelta(days=29)})}
    engine.dispose()
    (days, values), = trend
    assert {day[:10]: round(value, 6) for day, value in zip(days, values)} == {
        day: round(value, 6) for day, value in by_day.items()}

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


def test_support_lead_in_russian_from_the_worst_intent_to_its_unhappy_dialogs(browser, dashboard):
    from dashboard.names import intent as intent_name

    today = date.today()
    lo, hi = today - timedelta(days=29), today + timedelta(days=1)
    engine = make_engine(dashboard.database_url)
    with engine.connect() as conn:
        # The worst intent for CSAT, by hand: the good ratings (4–5) it lacks against the average
        # share of all intents, among those with at least 30 ratings.
        by_intent = conn.execute(sa.text(
            "SELECT intent, COUNT(*) AS ratings, SUM(CASE WHEN satisfaction_score >= 4 THEN 1 ELSE 0 END) AS good"
            " FROM conversation_metrics WHERE timestamp >= :lo AND timestamp < :hi AND intent IS NOT NULL"
            " AND satisfaction_score BETWEEN 1 AND 5 GROUP BY intent"), {"lo": lo, "hi": hi}).all()
        share = sum(r.good for r in by_intent) / sum(r.ratings for r in by_intent)
        worst = max((r for r in by_intent if r.ratings >= 30), key=lambda r: share * r.ratings - r.good)
        # Its unhappy dialogs: those starting in the range with a message of it and a rating of 1–2.
        unhappy = [row.session_id for row in conn.execute(sa.text(
            "SELECT session_id FROM conversation_metrics GROUP BY session_id"
            " HAVING MIN(timestamp) >= :lo AND MIN(timestamp) < :hi"
            " AND SUM(CASE WHEN intent = :intent THEN 1 ELSE 0 END) > 0"
            " AND SUM(CASE WHEN satisfaction_score BETWEEN 1 AND 2 THEN 1 ELSE 0 END) > 0"
            " ORDER BY MIN(timestamp) DESC, session_id"), {"lo": lo, "hi": hi, "intent": worst.intent})]
    assert unhappy, "the demo has unhappy dialogs of its worst intent"

    context, page = open_page(browser, f"{dashboard.url}/business?lang=ru&range=30d")
    heading, first, *_ = table_rows(page, "problem_csat")
    assert heading[:4] == ["Интент", "Недостача хороших оценок", "CSAT", "Оценки"]
    assert first[0] == intent_name(worst.intent, "ru") and int(first[3]) == worst.ratings
    # Under the ranking, the worst intent's unhappy dialogs, newest first, each opening its messages.
    main = page.inner_text("[data-testid=stMain]")
    assert f"Последние {fmt.number(min(len(unhappy), 20), lang='ru')} из {fmt.number(len(unhappy), lang='ru')}" in main
    _, *rows = table_rows(page, "unhappy_dialogs")
    shown = [re.search(r"dialog=([^&]+)$", row[0]).group(1) for row in rows]
    assert shown and shown == unhappy[:len(shown)]

    page.goto(f"{dashboard.url}/{rows[0][0]}")
    settle(page)
    assert_no_error(page)
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT COUNT(*) FROM conversation_metrics WHERE session_id = :s"),
                             {"s": shown[0]}).scalar()
    engine.dispose()
    assert tile(page, "Сообщения") == fmt.number(count, lang="ru")
    context.close()


def test_support_lead_in_russian_sees_the_firing_alerts(browser, dashboard):
    engine = make_engine(dashboard.database_url)
    with engine.connect() as conn:
        # "Disk almost full": above 85 % for 10 minutes, clears at 83 %. A service whose every
        # sample of the last quarter hour is above 85 % fires; one whose last is under 83 % does not.
        last = conn.execute(sa.text("SELECT MAX(timestamp) FROM system_metrics")).scalar()
        recent = conn.execute(sa.text(
            "SELECT service, MIN(disk_percent) AS low FROM system_metrics WHERE timestamp > :since GROUP BY service"),
            {"since": last - timedelta(minutes=15)}).all()
        latest = dict(conn.execute(sa.text(
            "SELECT s.service, s.disk_percent FROM system_metrics s WHERE s.timestamp ="
            " (SELECT MAX(m.timestamp) FROM system_metrics m WHERE m.service = s.service)")).all())
    engine.dispose()
    full = {r.service for r in recent if r.low > 85}
    assert full, "the demo has a disk almost full"

    context, page = open_page(browser, f"{dashboard.url}/alerts?lang=ru")
    firing = page.locator("[data-testid=stAlertContentError], [data-testid=stAlertContentWarning]").all_inner_texts()
    lines = [line for line in firing if " — активен с " in line]
    assert tile(page, "Активны") == fmt.number(len(lines), lang="ru")
    disk = {m.group(1) for line in lines for m in [re.search(r"Критический · Диск почти заполнен · (\S+) — ", line)] if m}
    assert full <= disk and all(latest[service] > 83 for service in disk), (full, disk, lines)
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
