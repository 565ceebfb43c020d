"""Alerts from the database on SQLite and PostgreSQL: the demo's planted incidents appear at
their times, the SQL evaluation agrees with the pandas one, and reviews match in SQL + Python."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from data_access import alerts
from data_access.alert_rules import DEFAULT_PATH, Rule, load_rules
from data_access.engine import make_engine
from data_access.filters import Filters
from data_access.schema import discover
from tests.conftest import INCIDENT_DAY as D, insert

RULES = {r.name: r for r in load_rules(DEFAULT_PATH).rules}
KEYWORDS = load_rules(DEFAULT_PATH).negative_keywords


def moment(days_before: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(D - timedelta(days=days_before), datetime.min.time()) + timedelta(hours=hour, minutes=minute)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def incidents(request):
    """(engine, schema, histories by rule name) of the shipped rules over the demo's last 17 days."""
    engine = make_engine(request.getfixturevalue(f"{request.param}_incident_url"))
    schema = discover(engine)
    filters = Filters.for_dates(D - timedelta(days=16), D)
    found = {h.rule.name: h for h in alerts.histories(engine, schema, filters, RULES.values(), KEYWORDS)}
    yield engine, schema, filters, found
    engine.dispose()


def spans(history) -> list[tuple]:
    return [(a.key, a.since, a.fired_at, a.resolved_at) for a in history.alerts]


def test_the_api_and_payments_outages_fire_service_down_at_their_minutes(incidents):
    *_, found = incidents
    assert spans(found["ServiceDown"]) == [
        ("payments-api", moment(10, 14), moment(10, 14, 1), moment(10, 15, 30)),  # checks every 5 minutes
        ("api-gateway", moment(7, 3, 12), moment(7, 3, 13), moment(7, 3, 18)),
    ]


def test_the_error_spike_fires_high_error_rate_for_conversation_service_only(incidents):
    *_, found = incidents
    [alert] = found["HighErrorRate"].alerts
    assert alert.key == "conversation-service"
    # 12 % errors from 09:00 to 10:30: the 5-minute window crosses 5 % within minutes of the
    # start, and falls under the 4 % clear level within minutes of the end.
    assert moment(4, 9) <= alert.since <= moment(4, 9, 5) and alert.fired_at == alert.since + timedelta(minutes=2)
    assert moment(4, 10, 30) <= alert.resolved_at <= moment(4, 10, 35)
    assert alert.peak > 10


def test_the_filling_disk_fires_and_is_still_firing(incidents):
    *_, found = incidents
    [alert] = found["DiskAlmostFull"].alerts
    # The database's disk goes from 60 % to 93 % over the last six days: 85 % is crossed about
    # three quarters of the way, on D-1.
    assert alert.key == "database" and alert.firing
    assert moment(1, 0) <= alert.since <= moment(1, 23)
    assert found["MemoryHigh"].alerts == () and found["SlowResponseTime"].alerts == ()


def test_the_refund_escalation_surge_fires_against_the_weekly_baseline(incidents):
    *_, found = incidents
    surge = [a for a in found["EscalationSurge"].alerts if moment(16, 0) <= a.since <= moment(12, 0)]
    assert surge, spans(found["EscalationSurge"])
    assert surge[0].peak > 20 and surge[0].resolved_at > moment(13, 0)


def test_negative_reviews_list_only_whole_word_matches(incidents):
    engine, schema, filters, found = incidents
    reviews = alerts.review_candidates(engine, schema, filters, KEYWORDS)
    assert len(reviews) > 0
    assert all(alerts.negative_words(c, KEYWORDS) for c in reviews["comment"])
    assert {"Ужасно, никто не помог с возвратом денег.", "Плохо: бот зациклился и не перевёл на оператора."} \
        <= set(reviews["comment"])
    assert not any("Great support" in c for c in reviews["comment"])


@pytest.mark.parametrize("name", ["ServiceDown", "HighErrorRate", "DiskAlmostFull", "LowSatisfaction"])
def test_the_sql_evaluation_equals_the_straightforward_one(incidents, name):
    """Rules without a baseline are evaluated in SQL, which returns only the buckets that
    matter; evaluating every bucket in pandas must give the same alerts."""
    engine, schema, filters, found = incidents
    rule = RULES[name]
    values = alerts.metric_values(rule, alerts.metric_buckets(engine, schema, filters, rule))
    values = values[values["bucket"] >= alerts.complete_windows_from(filters, rule)]
    start, end = filters.utc_bounds()
    expected = [a for a in alerts.evaluate(rule, values)[0]
                if a.fired_at < end and (a.resolved_at is None or a.resolved_at > start)]
    assert [(a.key, a.since, a.fired_at, a.resolved_at) for a in expected] == spans(found[name])
    assert [a.peak for a in expected] == pytest.approx([a.peak for a in found[name].alerts])


def test_the_chart_line_is_a_few_thousand_points_at_most(incidents):
    *_, found = incidents
    assert all(len(h.chart) <= alerts.CHART_POINTS * max(h.chart["key"].nunique(), 1) for h in found.values())
    assert found["ServiceDown"].chart["value"].min() == 0.0  # the outages are visible on it


# --- small hand-made cases --------------------------------------------------------------------------

def test_error_rate_per_minute_from_system_metrics(engine):
    """requests/errors per minute for one service: 100/2, 100/8, 100/9, 100/1 → 2 %, 8 %, 9 %, 1 %;
    with for 1m the alert is active 10:01–10:03 and fires at 10:02."""
    t0 = datetime(2026, 11, 2, 10, 0)
    insert(engine, "system_metrics", [
        {"timestamp": t0 + timedelta(minutes=i, seconds=s), "service": "api", "requests": 50, "errors": e}
        for i, pair in enumerate([(1, 1), (4, 4), (4, 5), (0, 1)]) for s, e in zip((0, 30), pair)])
    rule = Rule(name="Errors", metric="error_rate", operator=">", threshold=5.0, for_=60, by="service")
    history = alerts.rule_history(engine, discover(engine), Filters.for_dates(date(2026, 11, 2), date(2026, 11, 2)), rule)
    assert spans(history) == [("api", t0 + timedelta(minutes=1), t0 + timedelta(minutes=2), t0 + timedelta(minutes=3))]
    assert history.alerts[0].peak == 9.0
    # A day's chart has a point per 5 minutes (at most CHART_POINTS): the worst of 10:00–10:04.
    assert history.chart[["bucket", "value"]].values.tolist() == [[datetime(2026, 11, 2, 10, 0), 9.0]]


def test_a_missing_table_gives_no_alerts_and_no_error(engine):
    from data_access.schema import metadata

    metadata.tables["service_health"].drop(engine)
    history = alerts.rule_history(engine, discover(engine), Filters.for_dates(date(2026, 11, 2), date(2026, 11, 2)),
                                  RULES["ServiceDown"])
    assert history.alerts == () and history.chart.empty
