"""Rollups: conversation_metrics aggregated once per UTC hour, kept fresh incrementally.

    python -m data_access.rollups refresh --url URL [--full]
    python -m data_access.rollups status --url URL

Tables in the metrics database, made and kept by this module:

- ``rollup_messages``: per hour × platform × intent × ai_model × expected_intent, exact counts and
  sums of every message-level measure (``measures``): ratings per score, response-time sums and
  the latency chart's bins, helpful votes, tokens, cost in 1/10,000 USD, confidence buckets; and
  the first and last row's time;
- ``rollup_latency``: per hour and one of ai_model, platform, intent at a time, a histogram of
  response_time_ms with log-spaced buckets (``latency_bucket``), from which percentiles are read
  within ``LATENCY_RELATIVE_ERROR``;
- ``rollup_dialogs``: per hour × dialog × platform × intent × ai_model, the dialog's part in that
  hour and combination (first and last time, user, first resolved time, converted / escalated,
  cost, messages), from which a dialog's facts are made again when its rows change;
- ``rollup_dialog_facts``: per dialog, its facts over all its parts and the starts of the same
  user's dialogs before and after; ``rollup_dialog_touches``: the values of each dimension it has
  a message of; ``rollup_dialog_hours`` (and ``rollup_dialog_daily``), ``rollup_dialog_values``
  and ``rollup_resolution``: per start hour, the catalogue's dialog measures summed over the
  dialogs that start in it (all, and per value they touch) and their resolution-time histogram
  (read by ``data_access.dialogs``);
- ``rollup_latency_p95``: per 1- and 5-minute bucket, the exact p95 of all rows' response times
  (the p95 alert's metric);
- ``rollup_messages_daily`` and ``rollup_latency_daily``: the first two per UTC day, for the
  queries that group the whole range and not its times (``daily`` in ``message_source``).

The service tables' hours are kept beside them (``data_access.service_rollups``), and the alert
rules on them recorded (``data_access.rule_records``), by the same refresh.

The watermark (``data_access.watermarks``, named "conversation_metrics") says that every hour
before it is aggregated. Rows that arrive late into an aggregated hour (an import, a platform
writing in batches), or change or go, are noted by triggers in ``rollup_dirty_hours``; readers take those hours from the raw rows until the next
refresh re-aggregates them, so an answer is exact before and after. ``plan`` tells a query which
hours to read from the rollups and which from the raw rows (see ``docs/architecture.md``).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from data_access import late_rows, logs, migrations, rule_records, service_rollups, sql, watermarks
from data_access.aggregates import Aggregate, Column
from data_access.filters import bind_timestamp
from data_access.catalogue import (DIALOG_MEASURE_NAMES, MEASURE_NAMES, MEASURES, RATED, TIMED, came_back,
                                   dialog_measures, measure_rows, repeat_flag, with_neighbours)
from data_access.schema import Schema, discover

CM = "conversation_metrics"
MESSAGES = "rollup_messages"
LATENCY = "rollup_latency"
DIALOGS = "rollup_dialogs"
FACTS = "rollup_dialog_facts"
TOUCHES = "rollup_dialog_touches"
DIALOG_HOURS = "rollup_dialog_hours"
DIALOG_VALUES = "rollup_dialog_values"
DIALOG_SEGMENTS = "rollup_dialog_segments"
RESOLUTION = "rollup_resolution"
RESOLUTION_SEGMENTS = "rollup_resolution_segments"
LATENCY_P95 = "rollup_latency_p95"
# The same as rollup_messages and rollup_latency per UTC day (``day``: its start): a
# query that groups the whole range, not its times, reads a month in 30 rows per combination.
MESSAGES_DAILY = "rollup_messages_daily"
LATENCY_DAILY = "rollup_latency_daily"
# rollup_messages per hour over the dimensions (NULL there): for the readers that do not split by them.
MESSAGE_TOTALS = "rollup_message_hour_totals"
DAILY = {MESSAGES: MESSAGES_DAILY, LATENCY: LATENCY_DAILY, MESSAGE_TOTALS: MESSAGES_DAILY}
# rollup_dialog_hours summed per UTC day (``day``: its start), made again whenever one
# of its hours is (``_restate_dialog_daily``).
DIALOG_DAILY = "rollup_dialog_daily"
# The combinations of platform, intent and ai_model of rollup_messages_daily per UTC month (``month``:
# its start), made again with the days (``_roll_days``): the filters' options over all
# time read a few rows a month instead of every day's.
DIMENSION_MONTHS = "rollup_dimension_months"
STATE = watermarks.TABLE
WATERMARK = CM  # the name of the rollups' row in it
DIRTY = "rollup_dirty_hours"
# The tables of aggregates (emptied by a rebuild, analysed after a long build); then the bookkeeping.
DATA_TABLES = (MESSAGES, LATENCY, DIALOGS, FACTS, TOUCHES, DIALOG_HOURS, DIALOG_VALUES, DIALOG_SEGMENTS, RESOLUTION,
               RESOLUTION_SEGMENTS, LATENCY_P95,
               MESSAGES_DAILY, LATENCY_DAILY, DIALOG_DAILY, MESSAGE_TOTALS, DIMENSION_MONTHS)
TABLES = (*DATA_TABLES, STATE, DIRTY)

# Bumped whenever what the tables hold changes: a database with another version is rebuilt.
VERSION = 18
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)
LOCAL_DAY_UNITS = ("day", "week", "month")  # the local units a UTC day can lie in
MAX_DAILY_RUNS = 150
# Hours closed less than this long ago are left to the raw rows: a transaction still open when
# its hour closed commits within it (longer ones are the trigger's blind spot, see the docs).
GRACE = timedelta(minutes=5)
# A first build commits a day at a time, so an interrupted one resumes where it stopped.
BUILD_CHUNK = timedelta(days=1)
# More late hours than this pending and a query reads the raw rows instead of a long list of gaps.
MAX_DIRTY_HOURS = 500

DIMENSIONS = ("platform", "intent", "ai_model", "expected_intent")
DIALOG_DIMENSIONS = ("platform", "intent", "ai_model")
# The latency histogram is kept per one dimension at a time: per all three at once it would hold
# about as many rows as the raw table (10M rows a quarter).
HISTOGRAM_DIMENSIONS = ("ai_model", "platform", "intent")
HISTOGRAM_DIMENSION_LIST = ", ".join(f"'{d}'" for d in HISTOGRAM_DIMENSIONS)  # as SQL literals

# The latency histogram: exact below EXACT_BELOW_MS; above, bucket k holds [lo·RATIO^k, lo·RATIO^(k+1))
# and reads as the middle of that interval, so a value read back is within 1 % of a value in it
# (half the width over the lower edge: (RATIO − 1) / 2). A percentile interpolates between two
# order statistics, each within 1 %, so it is too.
EXACT_BELOW_MS = 100
LATENCY_RATIO = 1.02
LATENCY_RELATIVE_ERROR = (LATENCY_RATIO - 1) / 2

# The steps (seconds, dividing an hour) at which rollup_latency_p95 keeps the exact p95 of all rows:
# those of a p95 alert rule finer than an hour (alerts.yml's SlowResponseTime steps by 5 minutes).
P95_STEPS = (60, 300)

# --- the tables of aggregates, each declared once (``data_access.aggregates``) -------------------

# Message measures: counts as INTEGER (an hour holds far fewer than 2^31 rows), so that their SUM is
# a BIGINT as the raw COUNT is; sums of values as BIGINT; confidence as a float.
_MEASURE_TYPES = {"count": "INTEGER", "wide": "BIG", "real": "REAL"}
KEPT_MESSAGES = Aggregate(MESSAGES, "hour", tuple(Column(d) for d in DIMENSIONS), (
    *(Column(m, _MEASURE_TYPES[MEASURES[m].kind], null=False, combine="SUM") for m in MEASURE_NAMES),
    Column("first_at", "TIME", null=False, combine="MIN"), Column("last_at", "TIME", null=False, combine="MAX")))
# Per UTC day: a query that groups the whole range, not its times, reads a month in 30 rows per combination.
KEPT_MESSAGES_DAILY = KEPT_MESSAGES.coarser(MESSAGES_DAILY, "day")
# Per hour over the dimensions (NULL there): for the readers that do not split by them.
KEPT_MESSAGE_TOTALS = KEPT_MESSAGES.coarser(MESSAGE_TOTALS, grouped=())
# The combinations of platform, intent and ai_model per UTC month: the filters' options over all
# time read a few rows a month instead of every day's.
KEPT_DIMENSION_MONTHS = KEPT_MESSAGES_DAILY.coarser(DIMENSION_MONTHS, "month", keys=DIALOG_DIMENSIONS, measures=())
_HISTOGRAM = (Column("dimension", null=False), Column("value"), Column("bucket", "INTEGER", null=False))
KEPT_LATENCY = Aggregate(LATENCY, "hour", _HISTOGRAM, (Column("n", "BIG", null=False, combine="SUM"),),
                         lead=("dimension",), only=f"dimension IN ({HISTOGRAM_DIMENSION_LIST})")
KEPT_LATENCY_DAILY = KEPT_LATENCY.coarser(LATENCY_DAILY, "day")
KEPT_LATENCY_P95 = Aggregate(LATENCY_P95, "hour", (Column("step", "INTEGER", null=False), Column("bucket", "BIG", null=False)),
                             (Column("n", "INTEGER", null=False), Column("p95", "REAL")), lead=("step",),
                             only=f"step IN ({', '.join(map(str, P95_STEPS))})")
# A dialog's part per hour and combination of the dimensions, and how parts of a dialog combine.
KEPT_DIALOG_PARTS = Aggregate(DIALOGS, "hour", (Column("dialog", "KEY", null=False),
                                                *(Column(d) for d in DIALOG_DIMENSIONS)), (
    Column("started", "TIME", null=False, combine="MIN"), Column("last_seen", "TIME", null=False, combine="MAX"),
    Column("user_id", combine="MIN"), Column("first_resolved", "TIME", combine="MIN"),
    Column("converted_any", "SMALLINT", combine="MAX"), Column("escalated_any", "SMALLINT", combine="MAX"),
    Column("cost_e4", "BIG", null=False, combine="SUM"), Column("messages", "INTEGER", null=False, combine="SUM"),
    Column("lowest_rating", "SMALLINT", combine="MIN")))
# The dialog measures of the dialogs that start in an hour (money as BIGINT, counts as INTEGER); per
# UTC day, made again whenever one of its hours is; per hour and value of each dimension, those of
# the dialogs with a message of that value.
_DIALOG_MEASURES = tuple(Column(m, "BIG" if m.endswith("e4") else "INTEGER", null=False, combine="SUM")
                         for m in DIALOG_MEASURE_NAMES)
KEPT_DIALOG_HOURS = Aggregate(DIALOG_HOURS, "hour", (), _DIALOG_MEASURES)
KEPT_DIALOG_DAILY = KEPT_DIALOG_HOURS.coarser(DIALOG_DAILY, "day")
_PER_VALUE = (Column("dimension", null=False), Column("value"))
KEPT_DIALOG_VALUES = Aggregate(DIALOG_VALUES, "hour", _PER_VALUE, _DIALOG_MEASURES, lead=("dimension",))
# Per hour and segment of every dimension at once (``dialog_segments``: the one value a dialog's
# messages have, or several), those of the dialogs in it: a change's split by one dimension or a
# pair (``data_access.change``) sums it.
SEGMENT = "__several"
SEGMENT_COLUMNS = tuple(c for d in DIALOG_DIMENSIONS for c in (d, d + SEGMENT))
KEPT_DIALOG_SEGMENTS = Aggregate(DIALOG_SEGMENTS, "hour", tuple(
    Column(c, "SMALLINT", null=False) if c.endswith(SEGMENT) else Column(c) for c in SEGMENT_COLUMNS),
    _DIALOG_MEASURES)
# The resolution-time histogram per start hour, of all dialogs (dimension ALL) and per value; and
# per segment of every dimension (a median's change split by segment).
KEPT_RESOLUTION = Aggregate(RESOLUTION, "hour", (*_PER_VALUE, Column("bucket", "INTEGER", null=False)),
                            (Column("n", "INTEGER", null=False, combine="SUM"),), lead=("dimension",))
KEPT_RESOLUTION_SEGMENTS = Aggregate(RESOLUTION_SEGMENTS, "hour",
                                     (*KEPT_DIALOG_SEGMENTS.keys, Column("bucket", "INTEGER", null=False)),
                                     KEPT_RESOLUTION.measures)
AGGREGATES = (KEPT_MESSAGES, KEPT_MESSAGES_DAILY, KEPT_MESSAGE_TOTALS, KEPT_DIMENSION_MONTHS, KEPT_LATENCY,
              KEPT_LATENCY_DAILY, KEPT_LATENCY_P95, KEPT_DIALOG_PARTS, KEPT_DIALOG_HOURS, KEPT_DIALOG_DAILY,
              KEPT_DIALOG_VALUES, KEPT_DIALOG_SEGMENTS, KEPT_RESOLUTION, KEPT_RESOLUTION_SEGMENTS)


class RollupError(Exception):
    """A refresh that cannot run: no conversation_metrics table, or the database refused it."""


def latency_bucket(dialect: str, rt: str = '"response_time_ms"') -> str:
    """The histogram bucket of a non-negative time in milliseconds, response_time_ms unless
    ``rt`` says another (see ``EXACT_BELOW_MS``)."""
    log_bucket = f"{EXACT_BELOW_MS} + CAST(FLOOR(LN({rt} / {float(EXACT_BELOW_MS)}) / LN({LATENCY_RATIO})) AS INTEGER)"
    return f"CASE WHEN {rt} < {EXACT_BELOW_MS} THEN {rt} ELSE {log_bucket} END"


def p95_columns(dialect: str, step: int) -> str:
    """``bucket, n, p95`` of raw rows grouped by ``bucket``: the start of their ``step``-second
    bucket (epoch seconds), how many have a response time, and its exact p95 (NULL for none)."""
    timed = f'CASE WHEN {TIMED} THEN "response_time_ms" END'
    return (f"{sql.epoch_bucket(sql.TS, step, dialect)} AS bucket, COUNT({timed}) AS n, "
            f"{sql.percentile(timed, 0.95, dialect)} AS p95")


def bucket_value(bucket: int) -> float:
    """The value a histogram bucket reads as (the exact value below ``EXACT_BELOW_MS``)."""
    if bucket < EXACT_BELOW_MS:
        return float(bucket)
    lower = EXACT_BELOW_MS * LATENCY_RATIO ** (bucket - EXACT_BELOW_MS)
    return lower * (1 + LATENCY_RATIO) / 2


def histogram_percentile(buckets, counts, fraction: float, value: Callable[[int], float] | None = None) -> float | None:
    """``percentile_cont(fraction)`` read from a histogram (``buckets`` ascending with their
    ``counts``): linear interpolation between the two order statistics around the position,
    each read as its bucket's ``value`` (default ``bucket_value``). None when the histogram is
    empty."""
    value = value or bucket_value
    total = int(sum(counts))
    if total == 0:
        return None
    position = fraction * (total - 1)
    lower_rank = math.floor(position)
    ranks = (lower_rank, min(lower_rank + 1, total - 1))
    values, seen, i = [], 0, 0
    for bucket, count in zip(buckets, counts):
        seen += int(count)
        while i < 2 and ranks[i] < seen:
            values.append(value(int(bucket)))
            i += 1
        if i == 2:
            break
    return values[0] + (position - lower_rank) * (values[1] - values[0])


def _columns_present(schema: Schema) -> dict[str, str]:
    """A raw dimension column → its SQL (NULL where the database lacks the column)."""
    return {c: (sql.column(CM, c) if schema.has(CM, c) else "NULL") for c in DIMENSIONS}


def dialog_part_columns(schema: Schema, dialect: str) -> dict[str, str]:
    """Each rollup_dialogs column (beyond hour and dimensions) → its value for one raw row."""
    from data_access.kpis import dialog_key

    has = lambda column: schema.has(CM, column)  # noqa: E731
    return {
        "dialog": dialog_key(schema, dialect),
        "started": sql.TS,
        "last_seen": sql.TS,
        "user_id": sql.index_key('"user_id"', dialect) if has("user_id") else "NULL",  # the facts index it
        # Typed NULLs where the database lacks the column (PostgreSQL types a bare NULL as text).
        "first_resolved": f'CASE WHEN "resolved" THEN {sql.TS} END' if has("resolved") else f"CASE WHEN 1 = 0 THEN {sql.TS} END",
        "converted_any": sql.flag('"converted"') if has("converted") else "CAST(NULL AS SMALLINT)",
        "escalated_any": sql.flag('"escalated"') if has("escalated") else "CAST(NULL AS SMALLINT)",
        "cost_e4": f"CAST(ROUND({sql.COST_OR_ZERO} * 10000) AS BIGINT)" if has("cost_usd") else "CAST(0 AS BIGINT)",
        "messages": "1",
        "lowest_rating": f'CASE WHEN {RATED} THEN "satisfaction_score" END' if has("satisfaction_score")
        else "CAST(NULL AS SMALLINT)",
    }


# How a dialog part combines with others of the same dialog.
DIALOG_PART_COMBINE = {column.name: column.combine for column in KEPT_DIALOG_PARTS.measures}
# A dialog's values of each dimension, as its facts hold them: fact column → (how its parts
# combine, the dimension). The least and the greatest value among its messages (NULLs aside):
# equal when the dialog has one value (``dialog_segments``).
DIALOG_VALUE_COMBINE = {**{c: ("MIN", c) for c in DIALOG_DIMENSIONS},
                        **{f"{c}_max": ("MAX", c) for c in DIALOG_DIMENSIONS}}


def dialog_segments(dimensions: tuple[str, ...] = DIALOG_DIMENSIONS) -> dict[str, str]:
    """SQL over a dialog's facts (``f``) that puts it in one segment of each of ``dimensions``:
    ``<dimension>``, the one value its messages have (NULL for none), and ``<dimension>__several``,
    1 where they have more than one (messages without a value aside). KeyError for another name
    (it is written into the SQL)."""
    out = {}
    for d in dimensions:
        if d not in DIALOG_DIMENSIONS:
            raise KeyError(d)
        out[d] = f"CASE WHEN f.{d} = f.{d}_max THEN f.{d} END"
        out[d + SEGMENT] = f"CASE WHEN f.{d} <> f.{d}_max THEN 1 ELSE 0 END"
    return out


def resolution_bucket(dialect: str) -> str:
    """The histogram bucket of a dialog's resolution time in milliseconds (as ``latency_bucket``)."""
    ms = f"CAST(ROUND({sql.seconds_between('first_resolved', 'started', dialect)} * 1000) AS INTEGER)"
    return latency_bucket(dialect, ms)


hour_of = late_rows.hour_of


# --- tables ------------------------------------------------------------------------------------

def _timestamp_type(schema: Schema, dialect: str) -> str:
    """The type of the rollups' times: conversation_metrics' own (text on SQLite)."""
    if dialect != "postgresql":
        return "TEXT"
    return "TIMESTAMPTZ" if CM in schema.aware_timestamps else "TIMESTAMP"


# The facts' index by user: searched by (user_id, started), covering what the tail's neighbours and
# the repeat users take (``data_access.dialogs``).
USER_INDEX = (("user_id", "started"), ("dialog", "previous_started", "next_started"))


# The touches' index of rated dialogs: searched by value, rating and start, covering the dialog.
TOUCHES_RATED_INDEX = (("dimension", "value", "lowest_rating", "dialog_started"), ("dialog",))


def _covering(dialect: str, index: tuple[tuple[str, ...], tuple[str, ...]]) -> str:
    """The column list of an index searched by its first columns and covering the others:
    INCLUDE on PostgreSQL, the others appended on SQLite (which has no INCLUDE)."""
    searched, covered = index
    if dialect == "postgresql":
        return f"({', '.join(searched)}) INCLUDE ({', '.join(covered)})"
    return f"({', '.join(searched + covered)})"


def _dialog_indexes(dialect: str) -> dict[str, str]:
    """The facts' and touches' indexes beyond the facts' key: name → its statement. A first build
    makes them once the tables are filled (one sort each, not an entry at a time)."""
    declared = (
        (FACTS, "started", "(started)"),
        # The repeat contacts (``repeat``: catalogue.repeat_flag, set with the neighbours) by start:
        # the users with the most of them read these, not every dialog of the range.
        (FACTS, "repeats", "(started, user_id, dialog) WHERE repeat = 1"),
        (FACTS, "user_cover", _covering(dialect, USER_INDEX)),
        # The rated dialogs by their lowest rating and start: "rated at most N stars" (the unhappy
        # dialogs, the export's filter) reads these, not every dialog of the range.
        (FACTS, "rated", "(lowest_rating, started) WHERE lowest_rating IS NOT NULL"),
        (TOUCHES, "value", "(dimension, value, dialog_started)"),
        # A dialog's touches by dialog, holding what a filter asks of them: whether a dialog has a
        # message of a value is read from the index alone.
        (TOUCHES, "dialog_value", "(dialog, dimension, value)"),
        (TOUCHES, "started", "(dialog_started)"),
        # The rated dialogs of a value by their lowest rating and start: "rated at most N stars"
        # under a filter (the unhappy dialogs of an intent) reads these, not every rated dialog of
        # the range with a probe each.
        (TOUCHES, "rated", f"{_covering(dialect, TOUCHES_RATED_INDEX)} WHERE lowest_rating IS NOT NULL"))
    return {f"ix_{table}_{name}": f"CREATE INDEX IF NOT EXISTS ix_{table}_{name} ON {table} {columns}"
            for table, name, columns in declared}


def _ddl(schema: Schema, dialect: str) -> list[str]:
    pg = dialect == "postgresql"
    ts = _timestamp_type(schema, dialect)
    big = "BIGINT" if pg else "INTEGER"
    dialog_dims = ", ".join(f"{c} TEXT" for c in DIALOG_VALUE_COMBINE)
    serial = "BIGSERIAL PRIMARY KEY" if pg else "INTEGER PRIMARY KEY AUTOINCREMENT"
    key = 'TEXT COLLATE "C"' if pg else "TEXT"  # dialog keys compare byte-wise (as kpis.dialog_key)
    return [
        *(statement for kept in AGGREGATES for statement in kept.ddl(dialect, ts)),
        f"CREATE INDEX IF NOT EXISTS ix_{DIALOGS}_dialog ON {DIALOGS} (dialog)",
        f"CREATE TABLE IF NOT EXISTS {FACTS} (dialog {key} NOT NULL PRIMARY KEY, started {ts} NOT NULL, "
        f"last_seen {ts} NOT NULL, user_id TEXT, {dialog_dims}, first_resolved {ts}, converted_any SMALLINT, "
        f"escalated_any SMALLINT, cost_e4 {big} NOT NULL, messages INTEGER NOT NULL, lowest_rating SMALLINT, "
        f"previous_started {ts}, next_started {ts}, repeat SMALLINT NOT NULL DEFAULT 0)",
        # Each value of each dimension a dialog has a message of, with the dialog's start and
        # lowest rating: the dialogs of a filter, found by value and start.
        f"CREATE TABLE IF NOT EXISTS {TOUCHES} (dialog {key} NOT NULL, dimension TEXT NOT NULL, value TEXT, "
        f"dialog_started {ts} NOT NULL, lowest_rating SMALLINT)",
        *_dialog_indexes(dialect).values(),
        *watermarks.ddl(dialect),
        f"CREATE TABLE IF NOT EXISTS {DIRTY} (id {serial}, hour {ts})",
        f"CREATE INDEX IF NOT EXISTS ix_{DIRTY}_hour ON {DIRTY} (hour)",
    ]


# RESOLUTION's ``dimension`` for the histogram of all the dialogs.
ALL = "*"


CM_TRIGGERS = {"function": "easyflow_rollup_note", "trigger": "easyflow_rollup_{event}"}


def _triggers(dialect: str) -> list[str]:
    """Triggers that note the closed hours a write touched (late rows; changed or deleted rows)."""
    return late_rows.note_triggers(
        CM, DIRTY, dialect, **CM_TRIGGERS,
        closed="\"timestamp\" < date_trunc('hour', clock_timestamp() AT TIME ZONE 'UTC')::timestamp")


def fingerprint(schema: Schema) -> str:
    """What the rollups were built from: this code's ``VERSION``, conversation_metrics' columns
    and timestamp kind."""
    columns = ",".join(sorted(schema.columns.get(CM, ())))
    return f"v{VERSION};{columns};aware={CM in schema.aware_timestamps}"


def drop(engine: sa.Engine) -> None:
    """Remove the rollup tables and triggers (the dashboard goes back to the raw rows)."""
    with engine.begin() as conn:
        for statement in late_rows.drop_triggers(CM, engine.dialect.name, **CM_TRIGGERS):
            conn.exec_driver_sql(statement)
        for table in TABLES:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        rule_records.drop(conn)
        service_rollups.drop(conn, discover(engine))
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {migrations.MIGRATIONS}")


# --- state -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class State:
    """What the rollups hold: every hour before ``watermark`` (naive UTC), built by this version
    from a database whose columns gave ``fingerprint``; ``status`` is "building" during a first
    build; the hours late rows touched, noted since."""

    fingerprint: str
    watermark: datetime | None
    status: str
    refreshed_at: datetime | None
    dirty_hours: tuple[datetime | None, ...] = ()

    def usable(self, schema: Schema) -> bool:
        return self.fingerprint == fingerprint(schema) and self.watermark is not None


def read_state(engine: sa.Engine) -> State | None:
    """The rollups' state, or None when there are none. Raises SQLAlchemy errors."""
    with engine.connect() as conn:
        mark = watermarks.read(conn, WATERMARK)
        if mark is None:
            return None
        dirty = conn.execute(sa.text(f"SELECT DISTINCT hour FROM {DIRTY} LIMIT {MAX_DIRTY_HOURS + 1}")).scalars().all()
    return State(mark.fingerprint, mark.upto, mark.status, mark.refreshed_at,
                 tuple(sorted((late_rows.naive_utc(h) for h in dirty), key=lambda h: (h is not None, h))))


def _write_state(conn: sa.Connection, schema: Schema, watermark: datetime | None, status: str) -> None:
    watermarks.write(conn, WATERMARK, fingerprint(schema), watermark, status)


# --- refresh -------------------------------------------------------------------------------------

def floor_hour(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def ceil_hour(value: datetime) -> datetime:
    floor = floor_hour(value)
    return floor if floor == value else floor + HOUR


def _aggregate(conn: sa.Connection, schema: Schema, start: datetime, end: datetime, first_build: bool = False) -> int:
    """Replace the rollups of the hours in [start, end) with the raw rows' aggregates; returns
    the raw rows read. Unless in a ``first_build`` (which makes them once, at its end, from every
    dialog's parts: ``_finish_first_build``), the touched dialogs' facts are made again, then the
    touched users' dialogs' neighbours and the tables per start hour."""
    dialect = conn.dialect.name
    params = {"lo": bind_timestamp(start, dialect), "hi": bind_timestamp(end, dialect)}
    hour = hour_of(sql.TS, dialect)
    dims = _columns_present(schema)
    in_range = f'WHERE {sql.TS} >= :lo AND {sql.TS} < :hi'
    if not first_build:
        # The dialogs with parts in these hours before and after: their facts are made again below.
        key = 'TEXT COLLATE "C"' if dialect == "postgresql" else "TEXT"
        conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS rollup_touched (dialog {key})")
        _empty(conn, "rollup_touched")
        conn.execute(sa.text(f"INSERT INTO rollup_touched SELECT DISTINCT dialog FROM {DIALOGS} "
                             f"WHERE hour >= :lo AND hour < :hi"), params)
    for kept in (KEPT_MESSAGES, KEPT_LATENCY, KEPT_DIALOG_PARTS, KEPT_LATENCY_P95):
        conn.execute(sa.text(kept.clear()), params)
    values = {**measure_rows(schema), "first_at": sql.TS, "last_at": sql.TS}
    inserted = conn.execute(sa.text(KEPT_MESSAGES.fill(f"{CM} {in_range}", hour, [dims[c] for c in DIMENSIONS],
                                                       values)), params)
    late_rows.run(conn, KEPT_MESSAGE_TOTALS.remake(KEPT_MESSAGES, dialect), start, end)
    for dimension in HISTOGRAM_DIMENSIONS:
        conn.execute(sa.text(KEPT_LATENCY.fill(f"{CM} {in_range} AND {TIMED}", hour,
                                               [f"'{dimension}'", dims[dimension], latency_bucket(dialect)], {"n": "1"})),
                     params)
    for step in P95_STEPS:
        conn.execute(sa.text(
            f"INSERT INTO {LATENCY_P95} (step, hour, bucket, n, p95) SELECT {step}, {hour}, {p95_columns(dialect, step)} "
            f"FROM {CM} {in_range} GROUP BY 2, 3"), params)
    parts = dialog_part_columns(schema, dialect)
    conn.execute(sa.text(KEPT_DIALOG_PARTS.fill(f"{CM} {in_range}", hour,
                                                [parts["dialog"], *(dims[c] for c in DIALOG_DIMENSIONS)], parts)),
                 params)
    if first_build:
        return max(inserted.rowcount or 0, 0)
    conn.execute(sa.text(f"INSERT INTO rollup_touched SELECT DISTINCT dialog FROM {DIALOGS} "
                         f"WHERE hour >= :lo AND hour < :hi"), params)
    touched = "(SELECT dialog FROM rollup_touched)"
    # The start hours whose dialog statistics change: of the touched dialogs' facts before and after.
    starts = f"INSERT INTO rollup_touched_hours SELECT DISTINCT {hour_of('started', dialect)} FROM {FACTS} WHERE dialog IN {touched}"
    # The users whose dialogs these are, before and after (a late row can change a dialog's user):
    # each one's dialogs get their neighbours' starts again below.
    users = f"INSERT INTO rollup_touched_users SELECT DISTINCT user_id FROM {FACTS} WHERE dialog IN {touched}"
    conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS rollup_touched_hours (hour {_timestamp_type(schema, dialect)})")
    conn.exec_driver_sql("CREATE TEMP TABLE IF NOT EXISTS rollup_touched_users (user_id TEXT)")
    _empty(conn, "rollup_touched_hours")
    _empty(conn, "rollup_touched_users")
    conn.exec_driver_sql(starts)
    conn.exec_driver_sql(users)
    _make_facts(conn, touched)
    conn.exec_driver_sql(starts)
    conn.exec_driver_sql(users)
    _restate_neighbours(conn, schema)
    _restate_dialog_hours(conn, dialect)
    return max(inserted.rowcount or 0, 0)


def _make_facts(conn: sa.Connection, touched: str | None) -> None:
    """Make again from all their parts the facts and touches of the dialogs of ``touched`` (a
    query of dialog keys), their neighbours left to ``_restate_neighbours``; or, with None, of
    every dialog, with their neighbours, into emptied tables whose indexes are made after them."""
    dialect = conn.dialect.name
    among = f" WHERE dialog IN {touched}" if touched else ""
    indexes = _dialog_indexes(dialect) if touched is None else {}
    for name in indexes:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
    conn.exec_driver_sql(f"DELETE FROM {FACTS}{among}")
    conn.exec_driver_sql(f"DELETE FROM {TOUCHES}{among}")
    facts = ["dialog", *DIALOG_PART_COMBINE, *DIALOG_VALUE_COMBINE]
    combine = ", ".join([*(f"{how}({c}) AS {c}" for c, how in DIALOG_PART_COMBINE.items()),
                         *(f"{how}({d}) AS {c}" for c, (how, d) in DIALOG_VALUE_COMBINE.items())])
    grouped = f"SELECT dialog, {combine} FROM {DIALOGS}{among} GROUP BY dialog"
    if touched is None:  # every dialog: its user's dialogs before and after it are all here
        facts += ["previous_started", "next_started", "repeat"]
        grouped = f"SELECT n.*, {repeat_flag(dialect)} FROM ({with_neighbours(grouped, dialect)}) n"
    conn.exec_driver_sql(f"INSERT INTO {FACTS} ({', '.join(facts)}) {grouped}")
    if touched is None and dialect == "postgresql":
        # Counted before the touches are joined to them: taken as empty, the facts would be
        # looked up once per part instead of hashed.
        conn.exec_driver_sql(f"ANALYZE {FACTS}")
    for dimension in DIALOG_DIMENSIONS:
        conn.exec_driver_sql(
            f"INSERT INTO {TOUCHES} (dialog, dimension, value, dialog_started, lowest_rating) SELECT DISTINCT "
            f"p.dialog, '{dimension}', {sql.index_key(f'p.{dimension}', dialect)}, f.started, f.lowest_rating "
            f"FROM {DIALOGS} p JOIN {FACTS} f ON f.dialog = p.dialog"
            + (f" WHERE p.dialog IN {touched}" if touched else ""))
    for statement in indexes.values():
        conn.exec_driver_sql(statement)


floor_day = late_rows.floor_day


def _roll_days(conn: sa.Connection, schema: Schema, start: datetime, end: datetime, watermark: datetime) -> None:
    """Make again, from the hourly rows, the daily rows of the UTC days that hold an hour of
    [start, end) and are wholly before ``watermark``, and the months' combinations of those days."""
    dialect = conn.dialect.name
    late_rows.remake_days(conn, start, end, watermark, [*KEPT_MESSAGES_DAILY.remake(KEPT_MESSAGES, dialect),
                                                        *KEPT_LATENCY_DAILY.remake(KEPT_LATENCY, dialect)])
    days = late_rows.days_to_remake(start, end, watermark)
    if days is not None:
        late_rows.run(conn, KEPT_DIMENSION_MONTHS.remake(KEPT_MESSAGES_DAILY, dialect),
                      late_rows.floor_month(days[0]), late_rows.next_month(days[1] - TICK))


def _restate_dialog_daily(conn: sa.Connection, dialect: str, hours: str) -> None:
    """Make again the rows of rollup_dialog_daily of the UTC days that hold one of ``hours`` (a
    query of naive UTC hours) from rollup_dialog_hours. A day the refresh has not finished sums
    the hours it has: readers take only whole days before the watermark."""
    days = conn.exec_driver_sql(f"SELECT DISTINCT {late_rows.day_of('hour', dialect)} FROM ({hours}) touched").scalars()
    for lo, hi in late_rows.runs(map(late_rows.naive_utc, days), DAY):
        late_rows.run(conn, KEPT_DIALOG_DAILY.remake(KEPT_DIALOG_HOURS, dialect), lo, hi)


def _empty(conn: sa.Connection, table: str) -> None:
    """Empty a temporary table. TRUNCATE on PostgreSQL: after DELETEs its dead rows would count
    in the planner's size estimate, day after day of a first build, until a hashed lookup in it
    no longer fits in memory and turns into a scan per row."""
    conn.exec_driver_sql(f"{'TRUNCATE' if conn.dialect.name == 'postgresql' else 'DELETE FROM'} {table}")


def _restate_neighbours(conn: sa.Connection, schema: Schema) -> None:
    """Set ``previous_started`` and ``next_started`` (the starts of the same user's dialogs before
    and after, over all the facts; ties ordered by dialog; none without a user) and ``repeat``
    on every dialog of the users in rollup_touched_users: a dialog added, moved or gone changes
    its own and its neighbours'. Where a dialog's measures change with them (a repeat contact or
    not, a user back within the week or not) outside the hours made again whole, the tables per
    start hour take the change (``_count_anew``): a new dialog moves the next start of its user's
    previous one, often weeks before, and making those hours again whole would read every dialog
    of each. (A first build sets every dialog's with its facts: ``_make_facts``.)"""
    dialect = conn.dialect.name
    ts, key = _timestamp_type(schema, dialect), 'TEXT COLLATE "C"' if dialect == "postgresql" else "TEXT"
    conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS rollup_neighbours (dialog {key}, started {ts}, "
                         f"previous_started {ts}, next_started {ts}, repeat SMALLINT, counted SMALLINT)")
    _empty(conn, "rollup_neighbours")
    columns = "dialog, user_id, started, previous_started AS was_previous, next_started AS was_next"
    dialogs = f"SELECT {columns} FROM {FACTS} WHERE user_id IN (SELECT user_id FROM rollup_touched_users)"
    counted = (f"CASE WHEN {repeat_flag(dialect)} <> {repeat_flag(dialect, 'was_previous')} OR "
               f"{came_back(dialect)} <> {came_back(dialect, 'was_next')} THEN 1 ELSE 0 END")
    conn.exec_driver_sql(
        f"INSERT INTO rollup_neighbours SELECT dialog, started, previous_started, next_started, {repeat_flag(dialect)}, "
        f"{counted} FROM ({with_neighbours(dialogs, dialect)}) n "
        f"WHERE ({sql.distinct_from('was_previous', 'previous_started', dialect)}) "
        f"OR ({sql.distinct_from('was_next', 'next_started', dialect)})")
    _count_anew(conn, dialect)
    conn.exec_driver_sql(f"UPDATE {FACTS} SET previous_started = p.previous_started, next_started = p.next_started, "
                         f"repeat = p.repeat FROM rollup_neighbours p WHERE {FACTS}.dialog = p.dialog")


def _count_anew(conn: sa.Connection, dialect: str) -> None:
    """Add to rollup_dialog_hours, _daily, _values and _segments the change of the dialog measures
    of the dialogs in rollup_neighbours whose measures move with their neighbours (``counted``)
    and whose start hour is not made again whole (rollup_touched_hours): measured with the new
    neighbours, less measured with the kept ones (the facts, before they take the new ones). All
    else of such a dialog is as kept, so each row it changes is there already."""
    facts = ", ".join(f"f.{c}" for c in ["dialog", *DIALOG_PART_COMBINE, *DIALOG_VALUE_COMBINE])
    moved = (f"FROM {FACTS} f JOIN rollup_neighbours p ON p.dialog = f.dialog WHERE p.counted = 1 AND "
             f"{hour_of('f.started', dialect)} NOT IN (SELECT hour FROM rollup_touched_hours)")
    signed = (f"SELECT {facts}, p.previous_started, p.next_started, 1 AS sign {moved} "
              f"UNION ALL SELECT {facts}, f.previous_started, f.next_started, -1 AS sign {moved}")
    measures = dialog_measures(dialect)
    segments = dialog_segments()
    keys = {"hour": hour_of("f.started", dialect), "day": late_rows.day_of("f.started", dialect), **segments}
    changes = (f"SELECT f.dialog, {', '.join(f'{e} AS {k}' for k, e in keys.items())}, "
               f"{', '.join(f'f.sign * ({e}) AS {m}' for m, e in measures.items())} FROM ({signed}) f")
    for table, by, join in ((DIALOG_HOURS, ("hour",), ""), (DIALOG_DAILY, ("day",), ""),
                            (DIALOG_SEGMENTS, ("hour", *segments), ""),
                            (DIALOG_VALUES, ("hour", "x.dimension", "x.value"),
                             f" JOIN {TOUCHES} x ON x.dialog = g.dialog")):
        names = [b.split(".")[-1] for b in by]
        summed = (f"SELECT {', '.join(f'{b} AS {n}' for b, n in zip(by, names))}, "
                  f"{', '.join(f'SUM(g.{m}) AS {m}' for m in measures)} FROM ({changes}) g{join} "
                  f"GROUP BY {', '.join(by)}")
        added = ", ".join(f"{m} = {table}.{m} + d.{m}" for m in measures)
        # The times and dimension names are never NULL: matched by plain equality, their index's.
        match = " AND ".join(f"{table}.{n} = d.{n}" if n in ("hour", "day", "dimension") else
                             sql.not_distinct_from(f"{table}.{n}", f"d.{n}", dialect) for n in names)
        conn.exec_driver_sql(f"UPDATE {table} SET {added} FROM ({summed}) d WHERE {match}")


def _finish_first_build(engine: sa.Engine) -> None:
    """The end of a first build, once every hour's dialog parts are kept: every dialog's facts,
    neighbours and touches from the parts in one pass (day by day, each day's dialogs would be
    looked up one by one among all the earlier days', and each earlier dialog's neighbours set
    again), then the tables per start hour in one pass over the facts, each step a transaction of
    its own (an interrupted end is done again from its start: each step gives the same result)."""
    _analyze(engine, (DIALOGS,))
    with _step(engine) as conn:
        _make_facts(conn, None)
    _analyze(engine, (FACTS, TOUCHES))  # filled in one go: the planner's estimates of them are stale
    with _step(engine) as conn:
        _restate_dialog_hours(conn, conn.dialect.name, None)


def _restate_dialog_hours(conn: sa.Connection, dialect: str, hours_table: str | None = "rollup_touched_hours") -> None:
    """Make again the dialog measures' and resolution times' tables per start hour (all dialogs,
    per value, per segment) for the hours in ``hours_table`` (None: every hour) from the facts of
    the dialogs that start in them, and the days that hold them."""
    tables = (DIALOG_HOURS, DIALOG_VALUES, DIALOG_SEGMENTS, RESOLUTION, RESOLUTION_SEGMENTS)
    if hours_table is None:
        facts = f"(SELECT {hour_of('f.started', dialect)} AS hour, f.* FROM {FACTS} f) f"
        for table in tables:
            conn.exec_driver_sql(f"DELETE FROM {table}")
        hours = f"SELECT DISTINCT hour FROM {DIALOG_HOURS}"
    else:
        plus_hour = late_rows.next_hour("h.hour", dialect)
        # The hours' dialogs first, and both counted (ANALYZE): guessing an hour holds a third of the
        # facts, the planner would hash every fact and every touch instead of reading the hours' by index.
        within = f"(SELECT DISTINCT hour FROM {hours_table}) h"
        conn.exec_driver_sql("DROP TABLE IF EXISTS rollup_hour_facts")
        conn.exec_driver_sql(f"CREATE TEMP TABLE rollup_hour_facts AS SELECT h.hour, f.* FROM {within} "
                             f"JOIN {FACTS} f ON f.started >= h.hour AND f.started < {plus_hour}")
        if dialect == "postgresql":
            conn.exec_driver_sql(f"ANALYZE {hours_table}")
            conn.exec_driver_sql("ANALYZE rollup_hour_facts")
        facts = "rollup_hour_facts f"
        for table in tables:
            conn.exec_driver_sql(f"DELETE FROM {table} WHERE hour IN (SELECT hour FROM {hours_table})")
        hours = f"SELECT hour FROM {hours_table}"
    touched = f"(SELECT x.dimension, x.value, f.* FROM {facts} JOIN {TOUCHES} x ON x.dialog = f.dialog) x"
    measures = dialog_measures(dialect)
    conn.exec_driver_sql(KEPT_DIALOG_HOURS.fill(facts, "hour", [], measures))
    segments = dialog_segments()
    conn.exec_driver_sql(KEPT_DIALOG_SEGMENTS.fill(facts, "hour", [segments[c] for c in SEGMENT_COLUMNS], measures))
    bucket = resolution_bucket(dialect)
    resolved = " WHERE first_resolved IS NOT NULL"
    conn.exec_driver_sql(KEPT_RESOLUTION.fill(facts + resolved, "hour", [f"'{ALL}'", "CAST(NULL AS TEXT)", bucket],
                                              {"n": "1"}))
    # Some hours' dialogs: their touches read through the touches' dialog index, a probe each. Once
    # they number a few hundred thousand, PostgreSQL would rather hash every touch of the table,
    # then match each pair against each hour: minutes at 30M rows where probes take seconds.
    probes = hours_table is not None and dialect == "postgresql"
    for setting in ("enable_hashjoin", "enable_mergejoin") if probes else ():
        conn.exec_driver_sql(f"SET LOCAL {setting} = off")
    conn.exec_driver_sql(KEPT_DIALOG_VALUES.fill(touched, "hour", ["dimension", "value"], measures))
    conn.exec_driver_sql(KEPT_RESOLUTION.fill(touched + resolved, "hour", ["dimension", "value", bucket], {"n": "1"}))
    for setting in ("enable_hashjoin", "enable_mergejoin") if probes else ():
        conn.exec_driver_sql(f"SET LOCAL {setting} = on")
    conn.exec_driver_sql(KEPT_RESOLUTION_SEGMENTS.fill(facts + resolved, "hour",
                                                       [*(segments[c] for c in SEGMENT_COLUMNS), bucket], {"n": "1"}))
    _restate_dialog_daily(conn, dialect, hours)


@dataclass
class Refreshed:
    """What a refresh did: ``status`` is "done", "busy" (another process is refreshing) or
    "nothing" (no conversation rows yet); the hours aggregated and the seconds it took."""

    status: str
    late_hours: int = 0
    new_hours: int = 0
    seconds: float = 0.0
    watermark: datetime | None = None
    full: bool = False
    rules: rule_records.Recorded = field(default_factory=rule_records.Recorded)
    service_hours: dict[str, int] = field(default_factory=dict)  # raw table → hours aggregated


def _transaction(engine: sa.Engine):
    """A connection for one refresh step: REPEATABLE READ on PostgreSQL (the step sees one
    snapshot, so a late row it did not see keeps its note); BEGIN IMMEDIATE on SQLite."""
    if engine.dialect.name == "postgresql":
        return engine.connect().execution_options(isolation_level="REPEATABLE READ")
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def _step(engine: sa.Engine) -> Iterator[sa.Connection]:
    with _transaction(engine) as conn:
        if engine.dialect.name == "postgresql":
            with conn.begin():
                # The temporary tables of a step have no statistics, so the planner's estimates are
                # huge and it would compile every statement (JIT) for a few thousand rows.
                conn.exec_driver_sql("SET LOCAL jit = off")
                yield conn
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.exec_driver_sql("ROLLBACK")
                raise
            conn.exec_driver_sql("COMMIT")


_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()
LOCK_KEY = 0x45464152  # "EFAR": the advisory lock every refresher takes on PostgreSQL


@contextmanager
def exclusive(engine: sa.Engine) -> Iterator[bool]:
    """Whether this process may refresh now (True) or another is at it (False): a PostgreSQL
    advisory lock, or a file lock beside the SQLite file; never waits."""
    url = engine.url.render_as_string(hide_password=False)
    with _thread_locks_guard:
        local = _thread_locks.setdefault(url, threading.Lock())
    if not local.acquire(blocking=False):
        yield False
        return
    try:
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar()
                conn.commit()
                try:
                    yield bool(got)
                finally:
                    if got:
                        conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                        conn.commit()
            return
        database = engine.url.database
        if not database or database == ":memory:":
            yield True
            return
        import fcntl

        with open(f"{database}.rollup-lock", "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        local.release()


def _ensure_tables(engine: sa.Engine, schema: Schema) -> None:
    with engine.begin() as conn:
        for statement in (_ddl(schema, engine.dialect.name) + _triggers(engine.dialect.name)
                          + rule_records.ddl(engine.dialect.name) + service_rollups.ddl(engine.dialect.name)):
            conn.exec_driver_sql(statement)
    # A service table the role may not put triggers on: what depends on them reads the raw rows.
    service_rollups.watch(engine, schema)


def _recreate(engine: sa.Engine, schema: Schema) -> None:
    with engine.begin() as conn:
        for table in (*TABLES, *rule_records.TABLES, *service_rollups.TABLES):
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    _ensure_tables(engine, schema)


def _analyze(engine: sa.Engine, tables=(*DATA_TABLES, rule_records.RECORDS, *service_rollups.DATA_TABLES)) -> None:
    """Fresh planner statistics for the rollup tables (a first build fills them at once), and on
    PostgreSQL each one vacuumed too: until its pages are marked all-visible, a read from an index
    alone still visits the table for every row it finds."""
    vacuum = "VACUUM " if engine.dialect.name == "postgresql" else ""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in tables:
            conn.exec_driver_sql(f"{vacuum}ANALYZE {table}")


def refresh(engine: sa.Engine, *, full: bool = False, now: datetime | None = None,
            progress: Callable[[float, str], None] | None = None, rules=None, keywords=None,
            service_tables: bool = True) -> Refreshed:
    """Bring the rollups up to the last closed hour (``now`` − ``GRACE``, naive UTC): first the
    late hours the triggers noted, then the new hours, a day per transaction on a first build;
    then the records of the alert ``rules`` (default: alerts.yml's) that ``rule_records`` keeps
    and, unless ``service_tables`` is False, the other tables' hours (``service_rollups``; the
    NPS responses holding one of the negative ``keywords``, default alerts.yml's, kept whole).

    ``full`` rebuilds everything. Creates the tables and triggers on first use. Returns what it
    did; "busy" at once when another process holds the refresh lock. Raises ``RollupError`` when
    conversation_metrics is missing and SQLAlchemy errors when the database refuses (a read-only
    role, say)."""
    started = time.monotonic()
    with exclusive(engine) as mine:
        if not mine:
            return Refreshed("busy")
        schema = discover(engine)
        if not schema.has(CM, "timestamp"):
            raise RollupError("conversation_metrics (with its timestamp column) is missing")
        if migrations.migrate(engine):
            schema = discover(engine)
        try:
            state = read_state(engine) if schema.has_table(STATE) else None
        except sa.exc.SQLAlchemyError:  # tables of an older version of this module: made again
            state = None
        if full or state is None or not state.usable(schema):
            _recreate(engine, schema)  # the tables' shape follows this code's version
            state = None
        else:
            _ensure_tables(engine, schema)  # the triggers, should someone have dropped them
        target = floor_hour((now or datetime.now(timezone.utc).replace(tzinfo=None)) - GRACE)
        rebuild = full or state is None or not state.usable(schema) or None in state.dirty_hours
        # A first build (begun now or resumed) makes the dialogs' facts, neighbours and touches
        # and the tables per start hour once, at its end.
        whole = rebuild or state.status == "building"
        report = Refreshed("done", full=rebuild)
        with logs.timed_query("rollups_refresh", engine.dialect.name) as info:
            if rebuild:
                with _step(engine) as conn:
                    first = conn.execute(sa.text(f"SELECT MIN({sql.TS}) FROM {CM}")).scalar()
                    for table in (*DATA_TABLES, DIRTY):
                        conn.exec_driver_sql(f"DELETE FROM {table}")
                    watermark = target if first is None else min(floor_hour(late_rows.naive_utc(first)), target)
                    _write_state(conn, schema, watermark, "building")
            else:
                with _step(engine) as conn:
                    watermark = state.watermark
                    rows = conn.execute(sa.text(f"SELECT id, hour FROM {DIRTY}")).all()
                    late = [late_rows.naive_utc(h) for _, h in rows if h is not None and late_rows.naive_utc(h) < watermark]
                    for lo, hi in late_rows.hour_runs(late):
                        _aggregate(conn, schema, lo, hi, first_build=whole)
                        _roll_days(conn, schema, lo, hi, watermark)
                    if rows:
                        conn.execute(sa.text(f"DELETE FROM {DIRTY} WHERE id <= :last"),
                                     {"last": max(i for i, _ in rows)})
                    report.late_hours = len(set(late))
            total = max((target - watermark) / HOUR, 1)
            while watermark < target:
                upper = min(watermark + (BUILD_CHUNK if rebuild else target - watermark), target)
                with _step(engine) as conn:
                    _aggregate(conn, schema, watermark, upper, first_build=whole)
                    _roll_days(conn, schema, watermark, upper, upper)
                    _write_state(conn, schema, upper, "building" if whole else "ready")
                report.new_hours += int((upper - watermark) / HOUR)
                watermark = upper
                if progress:
                    progress(min(report.new_hours / total, 1.0), f"{report.new_hours:,} hours, up to {watermark:%Y-%m-%d %H:00} UTC")
            if whole or report.new_hours == 0:  # a first build's end; or nothing new: still marked ready
                if whole:
                    if progress:
                        progress(1.0, "the dialogs' facts and the tables per start hour")
                    _finish_first_build(engine)
                with _step(engine) as conn:
                    _write_state(conn, schema, watermark, "ready")
            if progress and report.new_hours > 24:
                progress(1.0, "recording the alert rules on the service tables")
            # Each service table's one log of changed hours, read by both its keepers: forgotten
            # once both kept them (either one again after a failure in between: the same result).
            with _step(engine) as conn:
                notes = service_rollups.noted(conn, schema)
                report.rules = rule_records.record(conn, schema, _recorded_rules(rules), watermark, notes)
            if service_tables:  # a transaction each: on SQLite a writer waits for the one under way
                report.service_hours = service_rollups.refresh(lambda: _step(engine), schema, watermark,
                                                               _review_keywords(keywords), notes)
                with _step(engine) as conn:
                    service_rollups.forget(conn, notes)
            info["rows"] = report.new_hours + report.late_hours
        if report.new_hours > 24 or whole:
            # A first build that ended here, even resumed for its end alone: it filled every table.
            _analyze(engine)
        else:
            fresh = ((rule_records.RECORDS,) if report.rules.new_rules else ()) + (
                service_rollups.DATA_TABLES if max(report.service_hours.values(), default=0) > 24 else ())
            if fresh:
                _analyze(engine, fresh)
        report.watermark = watermark
        report.seconds = time.monotonic() - started
        return report


def _recorded_rules(rules) -> tuple:
    """``rules``, or alerts.yml's valid rules (``alert_rules.load_rules``)."""
    if rules is not None:
        return tuple(rules)
    from data_access.alert_rules import load_rules

    return load_rules().rules


def _review_keywords(keywords) -> tuple[str, ...]:
    """``keywords``, or alerts.yml's negative keywords."""
    if keywords is not None:
        return tuple(keywords)
    from data_access.alert_rules import load_rules

    return load_rules().negative_keywords


def behind(engine: sa.Engine, schema: Schema, watermark: datetime, rules=None, keywords=None) -> bool:
    """Whether the records of the alert rules or the other tables' hours wait for a refresh
    (see ``rule_records.behind``, ``service_rollups.behind``)."""
    return (rule_records.behind(engine, schema, _recorded_rules(rules), watermark)
            or service_rollups.behind(engine, schema, watermark, _review_keywords(keywords)))


# --- command line ------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    from data_access import errors
    from data_access.demo import terminal_progress
    from data_access.engine import make_engine

    parser = argparse.ArgumentParser(prog="python -m data_access.rollups", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["refresh", "status", "drop"])
    parser.add_argument("--url", default=os.environ.get("DATABASE_URL"), help="database URL (default DATABASE_URL)")
    parser.add_argument("--full", action="store_true", help="rebuild every hour, not only what changed")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("--url is required (or set DATABASE_URL)")
    logs.configure()
    try:
        engine = make_engine(args.url)
        if args.command == "drop":
            drop(engine)
            print("rollups dropped")
            return 0
        if args.command == "status":
            state = read_state(engine) if STATE in sa.inspect(engine).get_table_names() else None
            if state is None:
                print("no rollups")
            else:
                print(f"{state.status}: hours before {state.watermark:%Y-%m-%d %H:00} UTC rolled up, "
                      f"{len(state.dirty_hours)} late hour(s) pending")
            schema = discover(engine)
            records = rule_records.standing(engine, schema, _recorded_rules(None))
            ends = f", up to {records.upto:%Y-%m-%d %H:00} UTC" if records.upto else ""
            print(f"alert rules recorded: {records.recorded} of {records.recordable} that step by minutes on the "
                  f"service tables{ends}; {records.late_hours} late service hour(s) pending")
            if records.unwatched:
                print(f"not recorded: no trigger notes late rows in {', '.join(records.unwatched)} (the role may "
                      f"not create them); the rules on it read the raw rows")
            for kept in service_rollups.KEPT:
                if kept.present(schema):
                    upto = service_rollups.kept_until(engine, kept, schema)
                    print(f"{kept.raw}: hours before {upto:%Y-%m-%d %H:00} UTC rolled up" if upto else
                          f"{kept.raw}: not rolled up (none yet, or the role may not put the triggers that note "
                          f"late rows on it); its panels read the raw rows")
            return 0
        progress = terminal_progress() if sys.stderr.isatty() else None
        report = refresh(engine, full=args.full, progress=progress)
    except RollupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except errors.DATABASE_ERRORS as error:
        problem = errors.classify(error)
        print(f"error: {problem}", file=sys.stderr)
        return 1
    if report.status == "busy":
        print("another process is refreshing the rollups; nothing done")
        return 0
    print(f"rollups {'built' if report.full else 'refreshed'}: {report.new_hours:,} new hour(s), "
          f"{report.late_hours:,} late hour(s) in {report.seconds:.1f} s; hours before "
          f"{report.watermark:%Y-%m-%d %H:00} UTC rolled up; {report.rules.rules} alert rule(s) recorded"
          + (f" (not on {', '.join(report.rules.unwatched)}: no trigger notes its late rows)"
             if report.rules.unwatched else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
