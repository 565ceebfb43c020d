"""The Operational page's queries against values worked out by hand, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd
import pytest

from data_access import operational as ops
from data_access.filters import Filters
from data_access.schema import discover
from tests.conftest import insert
from tests.test_kpis import SYSTEM

DAY = Filters(datetime(2026, 11, 1), datetime(2026, 11, 2))


def at(hour, minute=0):
    return datetime(2026, 11, 1, hour, minute)


def check(minute, service, status, latency=10.0):
    return {"timestamp": at(10, minute), "service": service, "status": status, "latency_ms": latency}


HEALTH = [check(0, "api", "up"), check(1, "api", "down"), check(2, "api", "down"), check(3, "api", "up"),
          check(4, "api", "up", 12.5),
          check(0, "db", "up"), check(1, "db", "degraded"), check(2, "db", "degraded", 80.0),
          check(0, "cache", "up"), check(1, "cache", "up", 1.0)]


def call(minute, integration, kind, status, latency, auth=False, used=None, limit=None):
    return {"timestamp": at(10, minute), "integration": integration, "kind": kind, "status_code": status,
            "latency_ms": latency, "auth_failed": auth, "quota_used": used, "quota_limit": limit}


CALLS = [call(0, "pay", "api", 200, 100.0), call(1, "pay", "api", 503, 300.0), call(2, "pay", "api", 200, 200.0),
         call(0, "crm", "webhook", 200, 400.0), call(1, "crm", "webhook", 408, 1000.0),
         call(0, "wa", "api", 200, 50.0, used=100, limit=1000),
         call(5, "wa", "api", 401, 60.0, auth=True, used=850, limit=1000),
         call(10, "wa", "api", None, None)]

ERRORS = [{"timestamp": at(10, 0), "service": "api", "error_type": "TimeoutError", "level": "ERROR", "message": "t1"},
          {"timestamp": at(10, 30), "service": "api", "error_type": "TimeoutError", "level": "CRITICAL", "message": "t2"},
          {"timestamp": at(11, 0), "service": "db", "error_type": "DBError", "level": "ERROR",
           "message": "<b>not html</b>"},
          {"timestamp": datetime(2026, 10, 31, 23), "service": "db", "error_type": "DBError", "level": "ERROR",
           "message": "the day before"}]


@pytest.fixture
def ops_data(engine):
    insert(engine, "system_metrics", SYSTEM)
    insert(engine, "service_health", HEALTH)
    insert(engine, "integration_calls", CALLS)
    insert(engine, "error_events", ERRORS)
    return engine, discover(engine)


def rows(frame, columns):
    def clean(v):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        if isinstance(v, (bool,)) or type(v).__name__ == "bool_":
            return bool(v)
        return round(float(v), 4) if isinstance(v, float) else v
    return [tuple(clean(v) for v in r) for r in frame[columns].itertuples(index=False)]


def test_traffic_per_minute(ops_data):
    frame = ops.traffic(*ops_data, DAY, "minute")
    assert rows(frame, ["bucket", "service", "requests", "errors", "rps", "error_rate"]) == [
        (pd.Timestamp("2026-11-01 10:00"), "a", 60, 0, 1.0, 0.0),
        (pd.Timestamp("2026-11-01 10:00"), "b", 120, 3, 2.0, 2.5),
        (pd.Timestamp("2026-11-01 10:01"), "a", 180, 6, 3.0, round(100 * 6 / 180, 4)),
        (pd.Timestamp("2026-11-01 10:01"), "b", 60, 0, 1.0, 0.0),
        (pd.Timestamp("2026-11-01 10:02"), "a", 0, 0, 0.0, None),
        (pd.Timestamp("2026-11-01 10:02"), "b", 30, 1, 0.5, round(100 / 30, 4)),
    ]


def test_traffic_per_hour_and_total_error_rate(ops_data):
    frame = ops.traffic(*ops_data, DAY, "hour")
    assert rows(frame, ["service", "requests", "errors", "samples", "rps"]) == [
        ("a", 240, 6, 3, round(240 / 180, 4)), ("b", 210, 4, 3, round(210 / 180, 4))]
    total = ops.error_rate_over_time(frame)
    assert rows(total, ["requests", "errors", "error_rate"]) == [(450, 10, round(100 * 10 / 450, 4))]


def test_resources_and_now(ops_data):
    frame = ops.resources(*ops_data, DAY, "hour")
    assert rows(frame, ["service", "cpu", "memory", "disk"]) == [
        ("a", round((99 + 50 + 35) / 3, 4), round((60 + 60 + 91) / 3, 4), 70.0),
        ("b", 40.0, 60.0, 99.0)]  # b's memory 101 is out of range and left out
    now = ops.resources_now(*ops_data, DAY)
    assert rows(now, ["service", "cpu_percent", "memory_percent", "disk_percent", "active_sessions"]) == [
        ("a", 35.0, 91.0, 40.0, 2), ("b", 20.0, None, 86.0, 1)]
    assert list(ops.over_threshold(now, disk=85, memory=90)["service"]) == ["a", "b"]  # memory 91 > 90; disk 86 > 85
    assert list(ops.over_threshold(now, disk=None, memory=90)["service"]) == ["a"]


def test_active_sessions_over_time(ops_data):
    frame = ops.active_sessions_over_time(*ops_data, DAY, "hour")
    assert rows(frame, ["mean_sessions", "peak_sessions"]) == [(5.0, 7)]  # samples sum to 5, 7, 3


def test_service_status(ops_data):
    frame = ops.service_status(*ops_data, DAY)
    assert rows(frame, ["service", "status", "since", "whole_range", "latency_ms", "uptime"]) == [
        ("db", "degraded", pd.Timestamp("2026-11-01 10:01"), False, 80.0, 100.0),
        ("api", "up", pd.Timestamp("2026-11-01 10:03"), False, 12.5, 60.0),
        ("cache", "up", pd.Timestamp("2026-11-01 10:00"), True, 1.0, 100.0),
    ]


def test_status_intervals(ops_data):
    frame = ops.status_intervals(*ops_data, DAY)
    assert rows(frame, ["service", "status", "started", "ended", "checks", "seconds"]) == [
        ("api", "down", pd.Timestamp("2026-11-01 10:01"), pd.Timestamp("2026-11-01 10:03"), 2, 120.0),
        ("db", "degraded", pd.Timestamp("2026-11-01 10:01"), pd.Timestamp("2026-11-01 10:02"), 2, 60.0),
    ]


def test_integrations(ops_data):
    frame = ops.integrations(*ops_data, DAY)
    assert rows(frame, ["integration", "calls", "availability", "p95_latency_ms", "webhook_ms", "auth_failures",
                        "quota_used", "quota_limit", "quota_left_share", "attention"]) == [
        ("crm", 2, 50.0, 400 + 0.95 * 600, 700.0, 0, None, None, None, False),
        ("pay", 3, round(200 / 3, 4), 290.0, None, 0, None, None, None, False),
        ("wa", 3, round(200 / 3, 4), 59.5, None, 1, 850, 1000, 15.0, True),
    ]


def test_errors(ops_data):
    over_time = ops.errors_over_time(*ops_data, DAY, "hour")
    assert rows(over_time, ["bucket", "error_type", "events"]) == [
        (pd.Timestamp("2026-11-01 10:00"), "TimeoutError", 2), (pd.Timestamp("2026-11-01 11:00"), "DBError", 1)]
    top = ops.top_errors(*ops_data, DAY)
    assert rows(top, ["error_type", "service", "events", "critical", "first_seen", "last_seen"]) == [
        ("TimeoutError", "api", 2, 1, pd.Timestamp("2026-11-01 10:00"), pd.Timestamp("2026-11-01 10:30")),
        ("DBError", "db", 1, 0, pd.Timestamp("2026-11-01 11:00"), pd.Timestamp("2026-11-01 11:00"))]
    latest = ops.latest_errors(*ops_data, DAY)
    assert list(latest["message"]) == ["<b>not html</b>", "t2", "t1"]


def test_database_health(ops_data):
    engine, schema = ops_data
    frame = ops.database_health(engine, schema)
    by_table = {r.table: (r.rows, r.exact) for r in frame.itertuples()}
    assert by_table["system_metrics"] == (6, True) and by_table["integration_calls"] == (8, True)
    assert by_table["conversation_metrics"] == (0, True)
    newest = frame.set_index("table").loc["error_events", "newest"]
    assert newest == pd.Timestamp("2026-11-01 11:00", tz="UTC")
    assert ops.ping_ms(engine) >= 0


def test_ops_bucket_keeps_lines_short():
    from data_access.sql import ops_bucket

    assert ops_bucket(Filters(at(10), at(11))) == "minute"
    assert ops_bucket(DAY) == "10min"
    assert ops_bucket(Filters(datetime(2026, 11, 1), datetime(2026, 11, 8))) == "hour"
    assert ops_bucket(Filters(datetime(2026, 9, 1), datetime(2026, 11, 8))) == "day"


def test_ten_minute_buckets(ops_data):
    engine, schema = ops_data
    frame = ops.errors_over_time(engine, schema, DAY, "10min")
    assert list(frame["bucket"]) == [pd.Timestamp("2026-11-01 10:00"), pd.Timestamp("2026-11-01 10:30"),
                                     pd.Timestamp("2026-11-01 11:00")]
