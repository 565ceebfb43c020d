"""Reports: periods, anomalies on a planted series, KPI values by hand, the planted demo
incidents found, recommendations that cite only the report's numbers, and the three files."""

from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from data_access import reports as rp
from data_access.alert_rules import DEFAULT_PATH, load_rules
from data_access.engine import make_engine
from data_access.filters import Filters
from data_access.schema import discover
from dashboard import reports as rendering
from tests.conftest import INCIDENT_DAY

UTC = Filters(datetime(2026, 1, 1), datetime(2026, 1, 2))


@pytest.mark.parametrize("kind, day, start, end, previous_start", [
    ("daily", date(2026, 11, 2), date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 1)),
    ("weekly", date(2026, 11, 5), date(2026, 11, 2), date(2026, 11, 9), date(2026, 10, 26)),   # Thu → Mon..Sun
    ("weekly", date(2026, 11, 8), date(2026, 11, 2), date(2026, 11, 9), date(2026, 10, 26)),   # a Sunday
    ("monthly", date(2026, 2, 14), date(2026, 2, 1), date(2026, 3, 1), date(2026, 1, 1)),
    ("monthly", date(2026, 1, 31), date(2026, 1, 1), date(2026, 2, 1), date(2025, 12, 1)),
])
def test_periods(kind, day, start, end, previous_start):
    period = rp.period_containing(kind, day)
    assert (period.start, period.end, period.previous().start) == (start, end, previous_start)


def test_the_default_is_the_last_complete_period():
    assert rp.last_complete("weekly", date(2026, 11, 27)).start == date(2026, 11, 16)
    assert rp.last_complete("monthly", date(2026, 11, 27)).start == date(2026, 10, 1)
    assert rp.last_complete("daily", date(2026, 11, 27)).start == date(2026, 11, 26)


def weekly_pattern(spike_day: date, spike: float) -> pd.DataFrame:
    """Five weeks of daily messages: 1,000 on weekdays and 600 at weekends, ±2 % noise, and one
    planted value on ``spike_day``."""
    rng = np.random.default_rng(1)
    days = pd.date_range("2026-10-05", periods=35, freq="D")
    messages = np.where(days.day_of_week >= 5, 600.0, 1000.0) * (1 + rng.uniform(-0.02, 0.02, len(days)))
    frame = pd.DataFrame({"bucket": days, "messages": messages})
    frame.loc[frame["bucket"] == pd.Timestamp(spike_day), "messages"] = spike
    return frame


def test_anomalies_find_the_planted_day_and_not_the_quiet_weekends():
    frame = weekly_pattern(date(2026, 11, 4), 1500.0)
    found = rp.find_anomalies(frame, datetime(2026, 11, 2), datetime(2026, 11, 9), "day")
    assert found[["bucket", "kpi"]].values.tolist() == [[pd.Timestamp("2026-11-04"), "messages"]]
    row = found.iloc[0]
    assert row["change"] == pytest.approx(100 * (1500 / row["normal"] - 1)) and row["z"] > rp.Z_THRESHOLD


def test_a_small_change_is_not_an_anomaly():
    frame = weekly_pattern(date(2026, 11, 4), 1050.0)  # +5 %: under MIN_CHANGE however tight the band
    assert rp.find_anomalies(frame, datetime(2026, 11, 2), datetime(2026, 11, 9), "day").empty


def test_daily_report_values_by_hand(engine):
    """The test_kpis dataset: 11-02 against 11-01 (see tests/test_kpis.py).
    Messages 3 vs 4 (−25.0 %); dialogs 2 vs 2 (C, D | A, B); CSAT 1 of 1 rating vs 5 and 2 → 100 % vs
    50 % (+50.0 pp); escalation 0 of 2 vs B of 2 → 0 % vs 50 %; tokens 1,060 vs 1,000; cost
    $0.0106 vs $0.0100."""
    from tests.test_kpis import MESSAGES
    from tests.conftest import insert

    insert(engine, "conversation_metrics", MESSAGES)
    report = rp.build(engine, discover(engine), "daily", date(2026, 11, 2), UTC, now=datetime(2026, 11, 27))
    values = {row["key"]: row for row in report.kpis.to_dict("records")}
    expected = {"messages": (3, 4), "dialogs": (2, 2), "csat": (100.0, 50.0), "escalation_rate": (0.0, 50.0),
                "tokens": (1060, 1000), "cost": (Decimal("0.0106"), Decimal("0.0100"))}
    assert {k: (values[k]["current"], values[k]["previous"]) for k in expected} == expected
    assert not report.partial and report.has_data
    text = rendering.to_markdown(report)
    assert "| Messages | 3 | 4 | -25.0 % | 3 |" in text
    assert "| CSAT | 100.0 % | 50.0 % | +50.0 pp | 1 |" in text
    assert "| Escalation rate | 0.0 % | 50.0 % | -50.0 pp | 2 |" in text


def test_no_data_says_so_and_a_running_period_is_partial(engine):
    report = rp.build(engine, discover(engine), "weekly", date(2026, 11, 2), UTC, now=datetime(2026, 11, 5))
    assert report.partial and not report.has_data
    text = rendering.to_markdown(report)
    assert "No data in this period." in text and "Partial" in text and "Recommendations" not in text
    assert "## KPIs" not in text and "| Messages |" not in text  # no table of zeros


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def surge_week(request):
    """The weekly report of the week holding the demo's escalation surge (D-15 … D-13)."""
    engine = make_engine(request.getfixturevalue(f"{request.param}_incident_url"))
    surge = INCIDENT_DAY - timedelta(days=15)
    report = rp.build(engine, discover(engine), "weekly", surge, UTC, load_rules(DEFAULT_PATH),
                      now=datetime(2026, 11, 27))
    yield report, surge
    engine.dispose()


def test_the_planted_surge_is_found_and_the_weekly_pattern_is_not(surge_week):
    report, surge = surge_week
    found = report.anomalies
    surge_days = {pd.Timestamp(surge + timedelta(days=i)) for i in range(3)}
    escalations = set(found[found["kpi"] == "escalation_rate"]["bucket"])
    assert len(escalations & surge_days) >= 2, found
    assert (found[found["kpi"] == "escalation_rate"]["change"] > 0).all()
    assert not found["kpi"].isin(["messages", "dialogs"]).any()  # weekends are quieter every week
    keys = [r.key for r in report.recommendations]
    intents = {r.values["intent"][0] for r in report.recommendations if r.key == "rec.intent_escalations"}
    assert {"refund", "payment_issue"} <= intents and "rec.anomaly" in keys


NUMBER = re.compile(r"[-+]?\$?\d[\d,]*(?:\.\d+)?(?: ?%| s| ms| min)?")


def test_recommendations_cite_only_numbers_in_the_report(surge_week):
    report, _ = surge_week
    text = rendering.to_markdown(report)
    head, rest = text.split("## KPIs", 1)
    recommendations = [line for line in head.splitlines() if line.startswith("- ")]
    assert recommendations
    for sentence in recommendations:
        for number in NUMBER.findall(sentence.replace("n = ", "")):
            assert number.strip() in rest or number.strip() in head.split("## Recommendations")[0], (number, sentence)


def test_the_xlsx_has_a_sheet_per_section_equal_to_the_tables(surge_week):
    report, _ = surge_week
    book = load_workbook(io.BytesIO(rendering.to_xlsx(report)))
    assert book.sheetnames[:4] == ["Summary", "KPIs", "By platform", "By intent"]
    assert "Trends" in book.sheetnames and any(name.startswith("Anomalies") for name in book.sheetnames)
    sheet = book["KPIs"]
    heading, kpi_table = rendering.sections(report, "en")[0]
    assert [c.value for c in sheet[1]] == list(kpi_table.columns)
    # Numbers are numbers with number formats (Excel sums and charts them), equal to what the
    # page shows once formatted: 81.2 % is 0.812 with "0.0%", $12.34 is 12.34 with "$#,##0.00".
    kpis = report.kpis.set_index("key")
    rows = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    dialogs, csat, cost, response = (rows[label] for label in ("Dialogs", "CSAT", "Cost", "Avg AI response time"))
    assert dialogs[1].value == kpis.loc["dialogs", "current"] and dialogs[1].number_format == "#,##0"
    assert csat[1].value == pytest.approx(kpis.loc["csat", "current"] / 100) and csat[1].number_format == "0.0%"
    assert cost[1].value == pytest.approx(float(kpis.loc["cost", "current"])) and "$" in cost[1].number_format
    assert response[1].value == pytest.approx(kpis.loc["avg_response_time", "current"] / 1000)
    assert response[1].number_format == '0.00" s"'
    for row, shown in zip(sheet.iter_rows(min_row=2), kpi_table.itertuples(index=False)):
        assert row[0].value == shown[0]  # the KPI names as on the page
        for cell in (row[1], row[2], row[3], row[4]):
            # a duration is a number with a time format, which openpyxl reads back as a timedelta
            assert cell.value is None or isinstance(cell.value, (int, float, timedelta)), (row[0].value, cell.value)
    # the change: points of a share, a relative change of a count, with a sign, as the page says it
    assert csat[3].value == pytest.approx((kpis.loc["csat", "current"] - kpis.loc["csat", "previous"]))
    assert csat[3].number_format == '+0.0" pp";-0.0" pp";0.0" pp"'
    previous = kpis.loc["dialogs", "previous"]
    assert dialogs[3].value == pytest.approx((kpis.loc["dialogs", "current"] - previous) / previous)
    assert dialogs[3].number_format == "+0.0%;-0.0%;0.0%"
    by_platform = book["By platform"]
    assert all(isinstance(c.value, (int, float)) for c in by_platform[2][1:3])  # dialogs, messages
    # A share near 100 % (uptime) keeps two places, as on the page: 99.96 % is not "100.0%".
    uptime = rows["Uptime"]
    if 99 <= kpis.loc["uptime", "current"] < 100:
        assert uptime[1].number_format == "0.00%"
    assert rendering.xlsx_value(99.96, "percent", "en").style == "percent_near_100"
    assert rendering.xlsx_value(81.2, "percent", "en").style == "percent"
    assert book["Summary"]["A1"].value == rendering.title(report, "en")


def test_the_html_is_self_contained(surge_week):
    report, _ = surge_week
    page = rendering.to_html(report)
    assert page.count("<script") >= 4 and "<script src" not in page and 'src="http' not in page
    assert page.count('class="plotly-graph-div"') == 4


def test_monthly_adds_models_and_sla(sqlite_incident_url):
    engine = make_engine(sqlite_incident_url)
    report = rp.build(engine, discover(engine), "monthly", INCIDENT_DAY, UTC, load_rules(DEFAULT_PATH),
                      now=datetime(2026, 11, 27))
    engine.dispose()
    headings = [heading for heading, _ in rendering.sections(report, "en")]
    assert "Models and cost" in headings and any(h.startswith("SLA compliance") for h in headings)
    assert set(report.models["ai_model"]) >= {"gpt-4o", "gpt-4o-mini"}
    payments = report.sla_services.set_index("name").loc["payments-api"]
    assert payments["downtime_minutes"] == pytest.approx(90.0)  # the planted 90-minute outage
    russian = rendering.to_markdown(report, "ru")
    assert "Отчёт за месяц" in russian and "Модели и стоимость" in russian


def test_the_command_line(tmp_path, sqlite_incident_url, capsys):
    out = tmp_path / "weekly.md"
    assert rendering.main(["--period", "weekly", "--date", "2026-11-05", "--format", "md", "--out", str(out),
                           "--url", sqlite_incident_url]) == 0
    assert out.read_text().startswith("# Weekly report · 2026-11-02 – 2026-11-08")
    assert "weekly.md: Weekly report" in capsys.readouterr().out
    out = tmp_path / "last.xlsx"
    assert rendering.main(["--period", "daily", "--format", "xlsx", "--out", str(out), "--url", sqlite_incident_url]) == 0
    assert load_workbook(out).sheetnames[0] == "Summary"
    assert rendering.main(["--period", "daily", "--out", str(out), "--url", sqlite_incident_url, "--tz", "Mars/Base"]) == 2


def test_the_weekly_report_names_the_planted_segment(engine):
    """tests/change_data.py's planted week: telegram's CSAT fell (rate), web grew at 40 % (mix).
    The report's recommendation, its KPI table and its sheet of splits name them."""
    from tests import change_data
    from tests.conftest import insert

    insert(engine, "conversation_metrics", change_data.planted_rows())
    report = rp.build(engine, discover(engine), "weekly", date(2026, 3, 9), UTC, now=datetime(2026, 3, 20))
    found = report.splits["csat"]
    assert found.dimensions == ("platform",) and [s.values[0][1] for s in found.segments] == ["telegram", "web", "whatsapp"]
    assert ("CSAT fell 16.7 pp: 8.0 pp of it from telegram, whose CSAT went from 90.0 % to 60.0 %, and 2.2 pp because "
            "there were fewer of them (a share of 33.3 % → 20.0 %); 4.9 pp of it from web, because there were more "
            "of them (a share of 33.3 % → 60.0 %).") in rendering.sentences(report, "en")
    kpi_table = rendering.sections(report, "en")[0][1].set_index("KPI")
    assert kpi_table.loc["CSAT", "Mostly from"] == "telegram (−10.2 pp)"
    book = load_workbook(io.BytesIO(rendering.to_xlsx(report, "ru")))
    sheet = book["Откуда взялись изменения"]
    header = [c.value for c in sheet[1]]
    rows = [dict(zip(header, (c.value for c in row))) for row in sheet.iter_rows(min_row=2)]
    telegram = next(r for r in rows if r["Показатель"] == "CSAT" and r["Сегмент"] == "telegram")
    assert telegram["Вклад"] == pytest.approx(-10.0 - 2 / 9, abs=1e-9)  # points, a number
    assert telegram["Значение"] == pytest.approx(-8.0) and telegram["Структура"] == pytest.approx(-2 / 9 * 10, abs=1e-9)


def test_the_overviews_last_month_and_the_monthly_report_give_the_same_figures(sqlite_incident_url):
    """"Last month" on a page compares with the month before, as the monthly report does: the
    tiles' values and the ones they are compared with are the report's."""
    from datetime import timezone

    from data_access import kpis
    from dashboard.filters import Selection, comparison_period

    engine = make_engine(sqlite_incident_url)
    schema = discover(engine)
    now = datetime(2026, 12, 6, 12)
    shown = Selection(period="last_month").filters(now.replace(tzinfo=timezone.utc))  # as the sidebar makes it
    compared = comparison_period(shown, now=now.replace(tzinfo=timezone.utc))
    report = rp.build(engine, schema, "monthly", shown.start_date, shown, now=now)
    assert (compared.start.date(), compared.end.date()) == (report.previous.start, report.previous.end)
    keys = ("dialogs", "csat", "escalation_rate", "cost", "avg_response_time")
    tiles = [kpis.compute(engine, schema, f, keys) for f in (shown, compared)]
    table = report.kpis.set_index("key")
    for key in keys:
        assert (table.loc[key, "current"], table.loc[key, "previous"]) == (tiles[0][key].value, tiles[1][key].value)
    engine.dispose()
