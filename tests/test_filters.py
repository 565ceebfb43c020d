"""The filter builder and the URL parser, from tables of cases, without a database."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from data_access.filters import Filters, where
from data_access.schema import Schema, conversation_metrics
from data_access.series import FilterOptions
from dashboard.filters import Selection, Warning_, calendar_dates, matching_period, parse_query, split_values

FULL = Schema(columns={
    "conversation_metrics": frozenset(conversation_metrics.columns.keys()),
    "nps_responses": frozenset({"id", "timestamp", "user_id", "platform", "score", "comment"}),
    "system_metrics": frozenset({"timestamp", "service", "requests"}),
})
SEED_ONLY = Schema(columns={"conversation_metrics": frozenset(
    {"id", "timestamp", "user_id", "platform", "intent", "confidence", "response_time_ms", "tokens_used",
     "cost_usd", "satisfaction_score", "resolved"})})
NOV = dict(start=datetime(2026, 11, 1), end=datetime(2026, 11, 3))

WHERE_CASES = [
    # (filters, table, schema, dialect, expected clauses, expected params)
    (Filters(**NOV), "conversation_metrics", FULL, "postgresql",
     ['"timestamp" >= :start', '"timestamp" < :end'],
     {"start": datetime(2026, 11, 1), "end": datetime(2026, 11, 3)}),
    (Filters(**NOV), "conversation_metrics", FULL, "sqlite",
     ['"timestamp" >= :start', '"timestamp" < :end'],
     {"start": "2026-11-01 00:00:00", "end": "2026-11-03 00:00:00"}),
    (Filters(**NOV, platforms=("telegram", "web")), "conversation_metrics", FULL, "postgresql",
     ['"timestamp" >= :start', '"timestamp" < :end', "platform IN (:platform_0, :platform_1)"],
     {"start": datetime(2026, 11, 1), "end": datetime(2026, 11, 3), "platform_0": "telegram",
      "platform_1": "web"}),
    (Filters(**NOV, intents=("refund",), models=("gpt-4o",)), "conversation_metrics", FULL, "postgresql",
     ['"timestamp" >= :start', '"timestamp" < :end', "intent IN (:intent_0)", "ai_model IN (:ai_model_0)"],
     {"start": datetime(2026, 11, 1), "end": datetime(2026, 11, 3), "intent_0": "refund",
      "ai_model_0": "gpt-4o"}),
    # A hostile value is only ever a bound parameter.
    (Filters(**NOV, platforms=("x'); DROP TABLE conversation_metrics; --",)), "conversation_metrics", FULL,
     "postgresql", ['"timestamp" >= :start', '"timestamp" < :end', "platform IN (:platform_0)"],
     {"start": datetime(2026, 11, 1), "end": datetime(2026, 11, 3),
      "platform_0": "x'); DROP TABLE conversation_metrics; --"}),
    # NPS responses take the platform filter but not intent or model.
    (Filters(**NOV, platforms=("web",), intents=("refund",), models=("gpt-4o",)), "nps_responses", FULL,
     "postgresql", ['"timestamp" >= :start', '"timestamp" < :end', "platform IN (:platform_0)"],
     {"start": datetime(2026, 11, 1), "end": datetime(2026, 11, 3), "platform_0": "web"}),
    # System tables take only the date range.
    (Filters(**NOV, platforms=("web",)), "system_metrics", FULL, "postgresql",
     ['"timestamp" >= :start', '"timestamp" < :end'],
     {"start": datetime(2026, 11, 1), "end": datetime(2026, 11, 3)}),
    # A column the database lacks is not filtered on.
    (Filters(**NOV, models=("gpt-4o",)), "conversation_metrics", SEED_ONLY, "postgresql",
     ['"timestamp" >= :start', '"timestamp" < :end'],
     {"start": datetime(2026, 11, 1), "end": datetime(2026, 11, 3)}),
    # Local days in Moscow (UTC+3) are bound as UTC instants.
    (Filters(**NOV, tz="Europe/Moscow"), "conversation_metrics", FULL, "postgresql",
     ['"timestamp" >= :start', '"timestamp" < :end'],
     {"start": datetime(2026, 10, 31, 21), "end": datetime(2026, 11, 2, 21)}),
]


@pytest.mark.parametrize("filters, table, schema, dialect, clauses, params", WHERE_CASES)
def test_where(filters, table, schema, dialect, clauses, params):
    assert where(filters, table, schema, dialect) == (clauses, params)


def test_where_prefix_keeps_parameter_names_apart():
    clauses, params = where(Filters(**NOV, platforms=("web",)), "conversation_metrics", FULL, "sqlite", "p_")
    assert clauses[2] == "platform IN (:p_platform_0)" and set(params) == {"p_start", "p_end", "p_platform_0"}


def test_where_rejects_a_table_outside_the_contract():
    with pytest.raises(KeyError):
        where(Filters(**NOV), "users; --", FULL, "sqlite")


def test_for_dates_is_the_contracts_half_open_range():
    f = Filters.for_dates(date(2026, 11, 1), date(2026, 11, 30))
    assert (f.start, f.end, f.start_date, f.end_date) == (
        datetime(2026, 11, 1), datetime(2026, 12, 1), date(2026, 11, 1), date(2026, 11, 30))


OPTIONS = FilterOptions(platforms=("telegram", "web", "whatsapp"), intents=("refund", "order_status"),
                        models=("gpt-4o",))
NOW = datetime(2026, 11, 27, 10, 30, tzinfo=timezone.utc)

PARSE_CASES = [
    # (query, expected selection, expected warning keys)
    ({}, Selection(), []),
    ({"start_date": ["2026-11-01"], "end_date": ["2026-11-10"]},
     Selection(period="custom", start=date(2026, 11, 1), end=date(2026, 11, 10)), []),
    ({"platform": ["telegram", "web"]}, Selection(platforms=("telegram", "web")), []),
    ({"platform": ["telegram,web"]}, Selection(platforms=("telegram", "web")), []),
    ({"platform": ["telegram", "telegram,web"]}, Selection(platforms=("telegram", "web")), []),
    ({"platform": ["icq"]}, Selection(), ["warn.unknown_value"]),
    ({"platform": ["web", "' OR 1=1 --"]}, Selection(platforms=("web",)), ["warn.unknown_value"]),
    ({"intent": ["x" * 10_000]}, Selection(), ["warn.unknown_value"]),
    ({"ai_model": ["gpt-4o"], "intent": ["refund"]}, Selection(intents=("refund",), models=("gpt-4o",)), []),
    ({"start_date": ["2026-13-01"], "end_date": ["2026-11-10"]},
     Selection(period="custom", start=date(2026, 10, 12), end=date(2026, 11, 10)), ["warn.bad_date"]),
    ({"start_date": ["2026-11-10"], "end_date": ["2026-11-01"]}, Selection(), ["warn.end_before_start"]),
    ({"start_date": ["1970-01-01"], "end_date": ["2026-11-01"]},
     Selection(period="custom", start=date(2026, 10, 3), end=date(2026, 11, 1)), ["warn.date_out_of_range"]),
    ({"start_date": ["2026-11-01'; DROP TABLE x"]}, Selection(), ["warn.bad_date"]),
    ({"range": ["24h"]}, Selection(period="24h"), []),
    ({"range": ["1y"]}, Selection(), ["warn.unknown_period"]),
    ({"tz": ["Europe/Moscow"]}, Selection(tz="Europe/Moscow"), []),
    ({"tz": ["Mars/Olympus"]}, Selection(), ["warn.unknown_timezone"]),
    ({"unknown": ["ignored"]}, Selection(), []),
]


@pytest.mark.parametrize("query, selection, warning_keys", PARSE_CASES)
def test_parse_query(query, selection, warning_keys):
    parsed, warnings = parse_query(query, OPTIONS, NOW)
    assert parsed == selection
    assert [w.key for w in warnings] == warning_keys


def test_warnings_never_echo_a_long_or_backticked_value():
    _, warnings = parse_query({"intent": ["`" + "y" * 500]}, OPTIONS, NOW)
    shown = warnings[0].values["values"]
    assert len(shown) < 60 and shown.count("`") == 2


def test_split_values():
    assert split_values(["a, b", "b", " ", "c,,a"]) == ["a", "b", "c"]


def test_selection_to_filters_and_back():
    sel = Selection(period="7d", platforms=("web",), tz="UTC")
    f = sel.filters(NOW)
    assert (f.start_date, f.end_date, f.platforms) == (date(2026, 11, 21), date(2026, 11, 27), ("web",))
    assert sel.to_query() == {"range": "7d", "platform": ["web"]}
    last_day = Selection(period="24h").filters(NOW)
    assert (last_day.start, last_day.end) == (datetime(2026, 11, 26, 11), datetime(2026, 11, 27, 11))


def test_a_custom_range_equal_to_a_preset_becomes_the_preset():
    custom = Selection(period="custom", start=date(2026, 10, 29), end=date(2026, 11, 27))
    assert matching_period(custom, NOW) == Selection(period="30d")


def test_warning_is_data():
    assert Warning_("k", {"a": 1}) == Warning_("k", {"a": 1})


@pytest.mark.parametrize("period, today, start, end", [
    ("this_week", date(2026, 11, 30), date(2026, 11, 30), date(2026, 11, 30)),  # a Monday
    ("last_week", date(2026, 11, 30), date(2026, 11, 23), date(2026, 11, 29)),
    ("this_week", date(2026, 11, 29), date(2026, 11, 23), date(2026, 11, 29)),  # a Sunday
    ("this_month", date(2026, 11, 30), date(2026, 11, 1), date(2026, 11, 30)),
    ("last_month", date(2026, 11, 30), date(2026, 10, 1), date(2026, 10, 31)),
    ("last_month", date(2026, 3, 1), date(2026, 2, 1), date(2026, 2, 28)),
    ("last_month", date(2026, 1, 15), date(2025, 12, 1), date(2025, 12, 31)),
])
def test_calendar_periods(period, today, start, end):
    assert calendar_dates(period, today) == (start, end)
    now = datetime.combine(today, datetime.min.time()).replace(hour=12, tzinfo=timezone.utc)
    shown = Selection(period=period).filters(now)
    assert (shown.start_date, shown.end_date) == (start, end)
    # From the URL, and a custom range that equals one comes back as it (rolling presets first).
    selection, warnings = parse_query({"range": [period]}, FilterOptions((), (), ()), now, "UTC")
    assert selection.period == period and not warnings
    if (start, end) != (today - timedelta(days=29), today) and (start, end) != (today - timedelta(days=6), today):
        assert matching_period(Selection(period="custom", start=start, end=end), now).period == period


def test_download_names_carry_the_view():
    from dashboard.filters import download_name

    week = Filters.for_dates(date(2026, 11, 24), date(2026, 11, 30))
    assert download_name("conversation_metrics", week, "xlsx") == "conversation_metrics_2026-11-24_2026-11-30.xlsx"
    whatsapp = Filters.for_dates(date(2026, 11, 24), date(2026, 11, 30), platforms=("whatsapp",))
    assert download_name("dialogs", whatsapp, "csv") == "dialogs_whatsapp_2026-11-24_2026-11-30.csv"
    hostile = Filters.for_dates(date(2026, 11, 24), date(2026, 11, 30), intents=("../../etc/passwd", "возврат"))
    name = download_name("t", hostile, "csv")
    assert "/" not in name and ".." not in name and name.endswith("_2026-11-24_2026-11-30.csv")
    many = Filters.for_dates(date(2026, 11, 24), date(2026, 11, 30), models=("a", "b", "c", "d"))
    assert download_name("t", many, "csv") == "t_4-models_2026-11-24_2026-11-30.csv"


@pytest.mark.parametrize("calendar, dates, now, start, end", [
    # a calendar month against the month before, whatever their lengths
    ("month", (date(2026, 11, 1), date(2026, 11, 30)), None, datetime(2026, 10, 1), datetime(2026, 11, 1)),
    ("month", (date(2026, 3, 1), date(2026, 3, 31)), None, datetime(2026, 2, 1), datetime(2026, 3, 1)),
    ("month", (date(2026, 1, 1), date(2026, 1, 31)), None, datetime(2025, 12, 1), datetime(2026, 1, 1)),
    # a month to date against the same days of the month before (no further than its end)
    ("month", (date(2026, 12, 1), date(2026, 12, 6)), datetime(2026, 12, 6, 15), datetime(2026, 11, 1),
     datetime(2026, 11, 6, 15)),
    ("month", (date(2026, 3, 1), date(2026, 3, 31)), datetime(2026, 3, 31, 12), datetime(2026, 2, 1), datetime(2026, 3, 1)),
    # in the day's last hour, this hour's end is the range's end: still the same days, not the month
    ("month", (date(2026, 12, 1), date(2026, 12, 7)), datetime(2026, 12, 8), datetime(2026, 11, 1),
     datetime(2026, 11, 8)),
    # a week to date against the same days of the week before; a whole week against the week before
    ("week", (date(2026, 11, 30), date(2026, 12, 2)), datetime(2026, 12, 2, 10), datetime(2026, 11, 23),
     datetime(2026, 11, 25, 10)),
    ("week", (date(2026, 11, 23), date(2026, 11, 29)), None, datetime(2026, 11, 16), datetime(2026, 11, 23)),
    # anything else against the same length before (the part elapsed, for a range running now),
    # a rolling range that starts on the 1st as well
    (None, (date(2026, 11, 7), date(2026, 12, 6)), datetime(2026, 12, 6, 15), datetime(2026, 10, 8),
     datetime(2026, 11, 6, 15)),
    (None, (date(2026, 12, 1), date(2026, 12, 7)), datetime(2026, 12, 7, 1), datetime(2026, 11, 24),
     datetime(2026, 11, 30, 1)),
    (None, (date(2026, 11, 1), date(2026, 11, 15)), None, datetime(2026, 10, 17), datetime(2026, 11, 1)),
])
def test_one_comparison_rule(calendar, dates, now, start, end):
    previous = Filters.for_dates(*dates, tz="Europe/Moscow", calendar=calendar).previous(now)
    assert (previous.start, previous.end, previous.tz) == (start, end, "Europe/Moscow")


def test_the_calendar_presets_are_calendar_ranges():
    now = datetime(2026, 12, 7, 0, 30, tzinfo=timezone.utc)  # a Monday
    assert Selection(period="this_month").filters(now).calendar == "month"
    assert Selection(period="last_week").filters(now).calendar == "week"
    assert Selection(period="7d").filters(now).calendar is None  # 1–7 December: rolling, not the month to date
