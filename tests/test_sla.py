"""SLA compliance on a small hand-made dataset, on SQLite and PostgreSQL.

Range: 2026-11-02 (one day, 1,440 min); "now" is 12:00, so the covered time ends at 12:00.
Target 99.9 % → error budget 0.1 % × 1,440 = 1.44 min; response target 2,000 ms.

service_health
  api  a check every minute 10:00–11:59 (120): down at 10:30 and 10:31, degraded at 11:00, the rest
       up, latency 10 ms except 3,000 ms at 10:10 and 10:20; plus one check with status 'unknown'
       (ignored) and no latency.
       uptime 118/120 = 98.333 %; covered 10:00 to the last check + one interval (11:59 + 1 min)
       = 120 min; downtime 1.6667 % × 120 = 2 min;
       left 1.44 − 2 = −0.56 min; burn rate 1.6667 % / 0.1 % = 16.667; last hour (11:00–12:00): no
       down check → current burn 0; budget spent → runs out "now" (12:00).
       latency p95 of 120 values (118 × 10, 2 × 3,000): position 0.95 × 119 = 113.05 → 10 ms;
       under 2,000 ms: 118/120 = 98.333 %. Uptime missed → not compliant.
  db   a check every minute 11:00–11:59 (60), all up, latency 5 ms: uptime 100 %, covered 60 min,
       downtime 0, left 1.44, burn 0, never runs out; p95 5 ms; compliant.
integration_calls (crm): 10 calls at 11:00…11:09: status 200 ×8, 503 at 11:03, NULL at 11:07;
       latency 100, 200, …, 1,000 ms. Availability 8/10 = 80 %; covered 11:00–11:10 (a call a
       minute) = 10 min; downtime 20 % × 10 = 2 min; burn 200; p95 of 100…1,000: position 8.55 →
       955 ms; all under.
conversation_metrics: telegram 1,000 and 3,000 ms, web 500 ms, one row with −5 ms (ignored).
       telegram p95 = 1,000 + 0.95 × 2,000 = 2,900 (missed), under 2 s 50 %; web 500 (met), 100 %;
       all: 500, 1,000, 3,000 → position 1.9 → 2,800 (missed), under 2 s 66.667 %.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from data_access import sla
from data_access.alert_rules import SlaTargets
from data_access.filters import Filters
from data_access.schema import discover
from tests.conftest import insert
from tests.test_kpis import message

T = datetime(2026, 11, 2, 10, 0)
NOW = datetime(2026, 11, 2, 12, 0)
DAY = Filters.for_dates(date(2026, 11, 2), date(2026, 11, 2))
TARGETS = SlaTargets(99.9, 2000.0)


def minute(m: int) -> datetime:
    return T + timedelta(minutes=m)


@pytest.fixture
def sla_db(engine):
    checks = []
    for m in range(120):
        status = "down" if m in (30, 31) else "degraded" if m == 60 else "up"
        checks.append({"timestamp": minute(m), "service": "api", "status": status,
                       "latency_ms": 3000.0 if m in (10, 20) else 10.0})
    checks.append({"timestamp": minute(45) + timedelta(seconds=30), "service": "api", "status": "unknown",
                   "latency_ms": None})
    checks += [{"timestamp": minute(60 + m), "service": "db", "status": "up", "latency_ms": 5.0} for m in range(60)]
    insert(engine, "service_health", checks)
    insert(engine, "integration_calls", [
        {"timestamp": minute(60 + m), "integration": "crm", "kind": "api",
         "status_code": {3: 503, 7: None}.get(m, 200), "latency_ms": 100.0 * (m + 1), "auth_failed": False}
        for m in range(10)])
    rows = [message(minute(0), "u1", "s1", "telegram", "refund", "gpt-4o", 1000, 10, "0.001"),
            message(minute(1), "u1", "s1", "telegram", "refund", "gpt-4o", 3000, 10, "0.001"),
            message(minute(2), "u2", "s2", "web", "refund", "gpt-4o", 500, 10, "0.001"),
            message(minute(3), "u3", "s3", "web", "refund", "gpt-4o", -5, 10, "0.001")]
    insert(engine, "conversation_metrics", rows)
    return engine, discover(engine)


def by_name(frame: pd.DataFrame) -> dict:
    return {row["name"]: row for row in frame.to_dict("records")}


def test_services(sla_db):
    engine, schema = sla_db
    rows = by_name(sla.compliance(engine, schema, DAY, "services", TARGETS, now=NOW))
    api, db = rows["api"], rows["db"]
    assert (api["known"], api["ok"]) == (120, 118)
    assert api["uptime"] == pytest.approx(100 * 118 / 120)
    assert api["covered_minutes"] == 120 and api["downtime_minutes"] == pytest.approx(2.0)
    assert api["budget_minutes"] == pytest.approx(1.44) and api["budget_left_minutes"] == pytest.approx(-0.56)
    assert api["burn_rate"] == pytest.approx(16.6667, rel=1e-4) and api["current_burn_rate"] == 0
    assert api["exhausted_at"] == pd.Timestamp(NOW)
    assert api["p95_ms"] == pytest.approx(10.0) and api["under_target_share"] == pytest.approx(100 * 118 / 120)
    assert (api["uptime_ok"], api["response_ok"], api["compliant"]) == (False, True, False)
    assert (db["uptime"], db["covered_minutes"], db["downtime_minutes"], db["budget_left_minutes"]) == pytest.approx((100, 60, 0, 1.44))
    assert db["burn_rate"] == 0 and pd.isna(db["exhausted_at"]) and db["p95_ms"] == pytest.approx(5.0)
    assert db["compliant"] is True


def test_integrations(sla_db):
    engine, schema = sla_db
    crm = by_name(sla.compliance(engine, schema, DAY, "integrations", TARGETS, now=NOW))["crm"]
    assert crm["uptime"] == pytest.approx(80.0) and crm["covered_minutes"] == pytest.approx(10.0)
    assert crm["downtime_minutes"] == pytest.approx(2.0) and crm["burn_rate"] == pytest.approx(200.0)
    assert crm["p95_ms"] == pytest.approx(955.0) and crm["under_target_share"] == 100
    assert crm["compliant"] is False


def test_ai_answers_per_platform_and_overall(sla_db):
    engine, schema = sla_db
    frame = sla.compliance(engine, schema, DAY, "answers", TARGETS, now=NOW)
    assert frame["name"].tolist()[:2] == ["telegram", "web"] and pd.isna(frame["name"].iloc[2])
    assert frame["p95_ms"].tolist() == pytest.approx([2900.0, 500.0, 2800.0])
    assert frame["under_target_share"].tolist() == pytest.approx([50.0, 100.0, 100 * 2 / 3])
    assert frame["compliant"].tolist() == [False, True, False]
    assert frame["uptime"].isna().all()  # answers have no uptime


def test_a_stricter_response_target(sla_db):
    engine, schema = sla_db
    db = by_name(sla.compliance(engine, schema, DAY, "services", SlaTargets(99.9, 5.0), now=NOW))["db"]
    assert db["p95_ms"] == 5.0 and db["response_ok"] is True and db["under_target_share"] == 0


def test_per_month_budgets_follow_the_part_of_each_month_in_range(engine):
    """Checks every 10 minutes from 2026-10-31 00:00 to 2026-11-02 23:50, one down on 10-31 12:00.
    Range 10-31…11-02: October has 1 day (budget 1.44 min), November 2 days (2.88 min).
    October uptime 143/144; covered 1,440 min → downtime 10 min."""
    start = datetime(2026, 10, 31)
    insert(engine, "service_health", [
        {"timestamp": start + timedelta(minutes=10 * i), "service": "api",
         "status": "down" if i == 72 else "up", "latency_ms": 10.0} for i in range(3 * 144)])
    filters = Filters.for_dates(date(2026, 10, 31), date(2026, 11, 2))
    frame = sla.compliance(engine, discover(engine), filters, "services", TARGETS, by_month=True,
                           now=datetime(2026, 12, 1))
    assert [m.strftime("%Y-%m") for m in frame["month"]] == ["2026-10", "2026-11"]
    assert frame["budget_minutes"].tolist() == pytest.approx([1.44, 2.88])
    assert frame["uptime"].tolist() == pytest.approx([100 * 143 / 144, 100.0])
    assert frame["downtime_minutes"].tolist() == pytest.approx([10.0, 0.0])
    assert frame["compliant"].tolist() == [False, True]


def test_an_empty_range_or_missing_table_is_empty(engine):
    schema = discover(engine)
    assert sla.compliance(engine, schema, DAY, "services", TARGETS, now=NOW)["name"].tolist() == []
    assert sla.compliance(engine, schema, DAY, "services", TARGETS, now=datetime(2026, 11, 1)).empty  # all future
    from data_access.schema import metadata

    metadata.tables["integration_calls"].drop(engine)
    assert sla.compliance(engine, discover(engine), DAY, "integrations", TARGETS, now=NOW).empty


def test_answers_per_month_per_platform_and_overall(engine):
    """October 31: telegram 1000 and 3000 ms, web 500 ms; November 1: web 2500 ms.
    p95 (linear): October telegram 2900, web 500, all 2800; November web and all 2500."""
    oct31, nov1 = datetime(2026, 10, 31, 9), datetime(2026, 11, 1, 9)
    insert(engine, "conversation_metrics", [
        message(oct31, "u1", "s1", "telegram", "refund", "gpt-4o", 1000, 10, "0.001"),
        message(oct31 + timedelta(minutes=1), "u1", "s1", "telegram", "refund", "gpt-4o", 3000, 10, "0.001"),
        message(oct31 + timedelta(minutes=2), "u2", "s2", "web", "refund", "gpt-4o", 500, 10, "0.001"),
        message(nov1, "u3", "s3", "web", "refund", "gpt-4o", 2500, 10, "0.001")])
    filters = Filters.for_dates(date(2026, 10, 31), date(2026, 11, 1))
    frame = sla.compliance(engine, discover(engine), filters, "answers", TARGETS, by_month=True,
                           now=datetime(2026, 12, 1))
    rows = [(m.strftime("%Y-%m"), None if pd.isna(n) else n, p) for m, n, p in
            zip(frame["month"], frame["name"], frame["p95_ms"])]
    assert rows == [("2026-10", "telegram", pytest.approx(2900.0)), ("2026-10", "web", pytest.approx(500.0)),
                    ("2026-10", None, pytest.approx(2800.0)), ("2026-11", "web", pytest.approx(2500.0)),
                    ("2026-11", None, pytest.approx(2500.0))]
    assert frame["under_target_share"].tolist() == pytest.approx([50.0, 100.0, 100 * 2 / 3, 0.0, 0.0])
