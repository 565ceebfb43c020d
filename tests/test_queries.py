"""Series, dialect helpers, schema discovery and the seed's original table, on both dialects."""

from __future__ import annotations

from decimal import Decimal
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import declarative_base

from data_access import kpis, series, sql
from data_access.engine import PercentileCont, percentile_cont
from data_access.filters import Filters, bind_timestamp
from data_access.schema import discover, metadata
from tests.conftest import insert
from tests.test_kpis import MESSAGES, RANGE

SeedBase = declarative_base()


class ConversationMetrics(SeedBase):
    """The platform's original model, as the seed document declares it."""

    __tablename__ = "conversation_metrics"
    id = sa.Column(sa.Uuid, primary_key=True)
    timestamp = sa.Column(sa.DateTime, default=datetime.utcnow)
    user_id = sa.Column(sa.String)
    platform = sa.Column(sa.String)
    intent = sa.Column(sa.String)
    confidence = sa.Column(sa.Float)
    response_time_ms = sa.Column(sa.Integer)
    tokens_used = sa.Column(sa.Integer)
    cost_usd = sa.Column(sa.Numeric(10, 4))
    satisfaction_score = sa.Column(sa.Integer)
    resolved = sa.Column(sa.Boolean, default=False)


SEED_COLUMNS = {c.name for c in ConversationMetrics.__table__.columns}


def test_dialogs_by_day_sum_to_the_dialogs_kpi(engine):
    insert(engine, "conversation_metrics", MESSAGES)
    schema = discover(engine)
    frame = series.dialogs_by_platform(engine, schema, RANGE, unit="day")
    assert frame.to_dict("records") == [
        {"bucket": pd.Timestamp("2026-11-01"), "platform": "telegram", "dialogs": 1},
        {"bucket": pd.Timestamp("2026-11-01"), "platform": "whatsapp", "dialogs": 1},
        {"bucket": pd.Timestamp("2026-11-02"), "platform": "telegram", "dialogs": 1},
        {"bucket": pd.Timestamp("2026-11-02"), "platform": "web", "dialogs": 1},
    ]
    assert frame["dialogs"].sum() == kpis.compute_one(engine, schema, RANGE, "dialogs").value


def test_dialogs_by_hour_in_a_display_timezone(engine):
    insert(engine, "conversation_metrics", MESSAGES)
    filters = Filters(datetime(2026, 11, 1, 12), datetime(2026, 11, 1, 16), tz="Asia/Dubai")  # UTC+4
    frame = series.dialogs_by_platform(engine, discover(engine), filters, unit="hour")
    # A starts 10:00 UTC = 14:00 Dubai; B 12:00 UTC = 16:00 Dubai is outside [12:00, 16:00).
    assert frame.to_dict("records") == [{"bucket": pd.Timestamp("2026-11-01 14:00"), "platform": "telegram",
                                         "dialogs": 1}]


@pytest.mark.parametrize("instant", [datetime(2026, 10, 24, 23, 30), datetime(2026, 10, 25, 0, 30),
                                     datetime(2026, 10, 25, 1, 30), datetime(2026, 3, 29, 0, 59),
                                     datetime(2026, 3, 29, 1, 0)])
def test_local_time_follows_daylight_saving(engine, instant):
    # Berlin leaves summer time at 01:00 UTC on 2026-10-25 and enters it at 01:00 UTC on 2026-03-29.
    filters = Filters(datetime(2026, 3, 1), datetime(2026, 11, 1), tz="Europe/Berlin")
    params = {"t": bind_timestamp(instant, engine.dialect.name)}
    typed = "CAST(:t AS TIMESTAMP)" if engine.dialect.name == "postgresql" else ":t"
    expr = sql.local_time(typed, filters, discover(engine), "conversation_metrics", engine.dialect.name, params)
    got = sql.read_row(engine, f"SELECT {expr} AS local", params)["local"]
    expected = instant.replace(tzinfo=timezone.utc).astimezone(ZoneInfo("Europe/Berlin")).replace(tzinfo=None)
    assert pd.Timestamp(got) == pd.Timestamp(expected)


@pytest.mark.parametrize("unit, expected", [("hour", "2026-11-04 13:00"), ("day", "2026-11-04"),
                                            ("week", "2026-11-02")])
def test_buckets(engine, unit, expected):
    params = {"t": bind_timestamp(datetime(2026, 11, 4, 13, 45), engine.dialect.name)}
    typed = "CAST(:t AS TIMESTAMP)" if engine.dialect.name == "postgresql" else ":t"
    got = sql.read_row(engine, f"SELECT {sql.bucket(typed, unit, engine.dialect.name)} AS b", params)["b"]
    assert pd.Timestamp(got) == pd.Timestamp(expected)


@pytest.mark.parametrize("values, fraction, expected", [
    ([1], 0.95, 1.0), ([1, 2], 0.5, 1.5), ([10, 1, 7, 3], 0.95, 7 + 0.85 * 3), ([5, 5, 5], 0.0, 5.0),
])
def test_percentile_on_both_dialects_matches_the_definition(engine, values, fraction, expected):
    assert percentile_cont(values, fraction) == pytest.approx(expected)
    insert(engine, "conversation_metrics", [{"timestamp": datetime(2026, 11, 1), "response_time_ms": v}
                                            for v in values])
    expr = sql.percentile(sql.column("conversation_metrics", "response_time_ms"), fraction, engine.dialect.name)
    got = sql.read_row(engine, f"SELECT {expr} AS p FROM conversation_metrics", {})["p"]
    assert float(got) == pytest.approx(expected)


def test_sqlite_percentile_aggregate_ignores_nulls_and_is_null_when_empty():
    agg = PercentileCont()
    assert agg.finalize() is None
    for v in (None, 4, None, 2):
        agg.step(v, 0.5)
    assert agg.finalize() == 3.0


def test_seed_only_table_is_discovered(seed_only_for_queries):
    _, schema = seed_only_for_queries
    assert schema.columns == {"conversation_metrics": frozenset(SEED_COLUMNS)}
    assert schema.missing_required() == []


def test_seed_only_table_computes_what_it_can_and_says_what_it_cannot(seed_only_for_queries):
    result = kpis.compute(*seed_only_for_queries, RANGE, list(kpis.KPIS))
    not_tracked = {k for k, v in result.items() if v.reason == kpis.NOT_TRACKED}
    assert not_tracked == {"intent_accuracy", "helpful_answers", "conversion_rate", "escalation_rate",
                           "automated_resolution_rate", "nps", "avg_rps", "peak_rps", "error_rate", "active_sessions", "uptime",
                           "cpu", "memory", "disk"}
    # Without session_id a dialog is user + UTC date: u1 on 11-01, u2 on 11-01, u1 on 11-02, u3 on 11-02.
    assert result["dialogs"].value == 4
    assert result["cost"].value == Decimal("0.0206")
    assert result["csat"].value == pytest.approx(200 / 3)
    assert result["median_resolution_time"].value == pytest.approx(300.0)


def test_seed_only_series_and_options(seed_only_for_queries):
    seed_only, schema = seed_only_for_queries
    assert series.filter_options(seed_only, schema) == series.FilterOptions(
        platforms=("telegram", "web", "whatsapp"), intents=("order_status", "pricing", "refund"), models=())
    assert series.dialogs_by_platform(seed_only, schema, RANGE)["dialogs"].sum() == 4


def test_empty_database_has_no_options_and_empty_series(engine):
    schema = discover(engine)
    assert series.filter_options(engine, schema) == series.FilterOptions()
    assert series.dialogs_by_platform(engine, schema, RANGE).empty


def test_no_tables_at_all(engine):
    metadata.drop_all(engine)
    schema = discover(engine)
    assert schema.missing_required() == ["conversation_metrics"]
    assert series.filter_options(engine, schema) == series.FilterOptions()
    assert all(v.reason == kpis.NOT_TRACKED for v in kpis.compute(engine, schema, RANGE, list(kpis.KPIS)).values())


def test_aware_timestamps_are_converted(postgres):
    url = postgres.new_database("aware")
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE conversation_metrics (id uuid primary key, "
                             '"timestamp" timestamptz, user_id text, platform text, intent text)')
        conn.exec_driver_sql("SET TIME ZONE 'Asia/Tokyo'")
        # 2026-11-02 08:30 in Tokyo is 2026-11-01 23:30 UTC: inside 11-01 in UTC.
        conn.exec_driver_sql("INSERT INTO conversation_metrics VALUES "
                             "(gen_random_uuid(), '2026-11-02 08:30:00+09', 'u', 'web', 'x')")
    eng.dispose()
    from data_access.engine import make_engine

    eng = make_engine(url)
    schema = discover(eng)
    assert "conversation_metrics" in schema.aware_timestamps
    one_day = Filters.for_dates(date(2026, 11, 1), date(2026, 11, 1))
    assert kpis.compute_one(eng, schema, one_day, "messages").value == 1
    frame = series.dialogs_by_platform(eng, schema, Filters.for_dates(date(2026, 11, 2), date(2026, 11, 2), tz="Asia/Tokyo"), unit="day")
    assert frame.to_dict("records") == [{"bucket": pd.Timestamp("2026-11-02"), "platform": "web", "dialogs": 1}]
    eng.dispose()


def test_column_allow_list():
    assert sql.column("conversation_metrics", "platform") == '"platform"'
    with pytest.raises(KeyError):
        sql.column("conversation_metrics", "platform; DROP TABLE x")
    with pytest.raises(ValueError):
        sql.percentile("x", 1.5, "sqlite")
    with pytest.raises(ValueError):
        sql.bucket("x", "year); --", "sqlite")


def test_bucket_choice_keeps_series_short():
    assert sql.bucket_for(Filters(datetime(2026, 11, 1), datetime(2026, 11, 2))) == "hour"
    assert sql.bucket_for(Filters.for_dates(date(2026, 1, 1), date(2026, 12, 31))) == "day"
    assert sql.bucket_for(Filters.for_dates(date(2020, 1, 1), date(2026, 12, 31))) == "week"
    assert (datetime(2026, 11, 2) - timedelta(days=1)).date() == date(2026, 11, 1)


def test_a_read_runs_again_when_sqlite_says_the_schema_changed_under_it():
    """A refresh's DDL can change the schema more often than SQLite prepares a statement again
    by itself: a read is run again (up to ``sql.SCHEMA_RETRIES`` times), any other error is not."""
    import sqlite3

    def failure(code: int) -> sa.exc.OperationalError:
        orig = sqlite3.OperationalError("database schema has changed")
        orig.sqlite_errorcode = code
        return sa.exc.OperationalError("SELECT 1", {}, orig)

    class Connection:
        def __init__(self, errors):
            self.errors, self.calls = list(errors), 0

        def execute(self, statement, params):
            self.calls += 1
            if self.errors:
                raise self.errors.pop(0)
            return "rows"

    once = Connection([failure(sqlite3.SQLITE_SCHEMA)])
    assert sql._executed(once, "SELECT 1", {}) == "rows" and once.calls == 2
    busy = Connection([failure(sqlite3.SQLITE_BUSY)])
    with pytest.raises(sa.exc.OperationalError):
        sql._executed(busy, "SELECT 1", {})
    assert busy.calls == 1
    always = Connection([failure(sqlite3.SQLITE_SCHEMA)] * sql.SCHEMA_RETRIES)
    with pytest.raises(sa.exc.OperationalError):
        sql._executed(always, "SELECT 1", {})
    assert always.calls == sql.SCHEMA_RETRIES
