"""Dialect helpers: the few SQL expressions that differ between PostgreSQL and SQLite.

Every function returns SQL text built only from allow-listed names and from numbers the code
chose; values from users travel as bound parameters (see ``filters.where``).
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import TypeVar
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa

from data_access import logs
from data_access.filters import Filters, bind_timestamp, where
from data_access.schema import TABLES, Schema

TS = '"timestamp"'
T = TypeVar("T")

BUCKETS = ("minute", "10min", "hour", "day", "week", "month")
BUCKET_SECONDS = {"minute": 60, "10min": 600, "hour": 3600, "day": 86400, "week": 7 * 86400}


def column(table: str, name: str) -> str:
    """An allow-listed column name, quoted. Raises ``KeyError`` for a name outside the contract."""
    if name not in TABLES[table].columns:
        raise KeyError(f"{table}.{name} is not a contract column")
    return f'"{name}"'


def flag(expr: str) -> str:
    """1 where a boolean is true, 0 where false or NULL (booleans are 0/1 integers in SQLite)."""
    return f"(CASE WHEN {expr} THEN 1 ELSE 0 END)"


def percentile(expr: str, fraction: float, dialect: str) -> str:
    """Exact linear-interpolation percentile of ``expr`` (NULLs ignored) as an aggregate."""
    fraction = float(fraction)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError("fraction must be within 0..1")
    if dialect == "postgresql":
        return f"percentile_cont({fraction!r}) WITHIN GROUP (ORDER BY {expr})"
    return f"percentile_cont({expr}, {fraction!r})"


def epoch_seconds(expr: str, dialect: str) -> str:
    """A UTC timestamp as seconds since 1970."""
    if dialect == "postgresql":
        return f"EXTRACT(EPOCH FROM {expr})"
    if sqlite3.sqlite_version_info >= (3, 38):
        return f"unixepoch({expr})"
    return f"CAST(strftime('%s', {expr}) AS INTEGER)"


def epoch_bucket(expr: str, step: int, dialect: str) -> str:
    """The start of the ``step``-second bucket of a UTC timestamp, as integer epoch seconds."""
    step = int(step)
    if dialect == "postgresql":
        return f"(CAST(FLOOR({epoch_seconds(expr, dialect)} / {step}) AS BIGINT) * {step})"
    return f"(({epoch_seconds(expr, dialect)} / {step}) * {step})"


# The longest text a kept table's index holds as it is. PostgreSQL refuses an index entry of over
# about 2.7 KB (one row with a 12,800-character user id stopped every refresh); a longer key is
# held as its first characters, '#' and its SHA-256: longer than any key held as it is, so the two
# never meet, and distinct wherever the texts are. SQLite has no such limit.
INDEX_TEXT_CHARS = 256


def index_key(expr: str, dialect: str) -> str:
    """Text ``expr`` as a kept table's indexed key (see ``INDEX_TEXT_CHARS``)."""
    if dialect != "postgresql":
        return expr
    return (f"CASE WHEN length({expr}) <= {INDEX_TEXT_CHARS} THEN {expr} ELSE left({expr}, "
            f"{INDEX_TEXT_CHARS - 64}) || '#' || encode(sha256(convert_to({expr}, 'UTF8')), 'hex') END")


def bytewise(expr: str, dialect: str) -> str:
    """Text ``expr`` compared byte by byte: the same equality (database collations are
    deterministic), but sorting for DISTINCT and PARTITION BY skips the locale's rules, which
    cost PostgreSQL 15–30 % of a dialog query at 10M rows. SQLite compares bytes already."""
    return f'({expr}) COLLATE "C"' if dialect == "postgresql" else expr


def lower_text(expr: str, dialect: str) -> str:
    """``expr`` in lower case, non-ASCII letters included (SQLite: a function the engine registers)."""
    return f"lower({expr})" if dialect == "postgresql" else f"unicode_lower({expr})"


def contains_any(expr: str, words, dialect: str, prefix: str = "kw_") -> tuple[str, dict]:
    """``(sql, params)``: whether the text ``expr`` holds one of ``words`` anywhere, in any case
    (LIKE on the lower-cased text, wildcards in a word taken literally): a superset of the
    whole-word matches, narrowed in Python. FALSE for no words."""
    params = {f"{prefix}{i}": "%" + word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
              for i, word in enumerate(words)}
    likes = [f"{lower_text(expr, dialect)} LIKE :{name} ESCAPE '\\'" for name in params]
    return (f"({' OR '.join(likes)})" if likes else "1 = 0"), params


def distinct_from(a: str, b: str, dialect: str) -> str:
    """NULL-safe inequality (``IS DISTINCT FROM``; SQLite spells it ``IS NOT``)."""
    return f"{a} IS DISTINCT FROM {b}" if dialect == "postgresql" else f"{a} IS NOT {b}"


def not_distinct_from(a: str, b: str, dialect: str) -> str:
    """NULL-safe equality (``IS NOT DISTINCT FROM``; SQLite spells it ``IS``)."""
    return f"{a} IS NOT DISTINCT FROM {b}" if dialect == "postgresql" else f"{a} IS {b}"


def seconds_between(later: str, earlier: str, dialect: str) -> str:
    """Seconds from ``earlier`` to ``later`` (two timestamp expressions), to the millisecond on SQLite.

    SQLite's julianday is a float of days, off by some microseconds; rounding to milliseconds
    gives the exact difference of timestamps stored to the millisecond."""
    if dialect == "postgresql":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
    return f"ROUND((julianday({later}) - julianday({earlier})) * 86400.0, 3)"


def utc_date_text(expr: str, dialect: str) -> str:
    """The UTC calendar date of a timestamp, as ``YYYY-MM-DD`` text."""
    if dialect == "postgresql":
        return f"CAST(CAST({expr} AS DATE) AS TEXT)"
    return f"date({expr})"


# A cost the contract allows: numeric(10,4) from 0 up. BETWEEN, not ">= 0": PostgreSQL's numeric
# and float hold NaN and Infinity, which compare greater than every number.
VALID_COST = '"cost_usd" BETWEEN 0 AND 999999.9999'
# A row's cost in exact units, or 0 where it is outside the contract (negative, NaN, infinite).
COST_OR_ZERO = f'CASE WHEN {VALID_COST} THEN "cost_usd" ELSE 0 END'


def money_sum_ten_thousandths(expr: str) -> str:
    """Exact sum of a money column in 1/10,000 USD as an integer (no float drift on SQLite)."""
    return f"SUM(CAST(ROUND({expr} * 10000) AS BIGINT))"


def _utc_offsets(filters: Filters) -> list[tuple[datetime, int]]:
    """``(utc_instant, offset_minutes)`` segments covering the filters' range, for SQLite.

    The first segment starts at the range start; a new one starts at each change of the
    timezone's UTC offset (daylight saving) inside the range.
    """
    zone = ZoneInfo(filters.tz)
    start, end = filters.utc_bounds()
    segments: list[tuple[datetime, int]] = []
    instant = start
    while instant < end + timedelta(hours=1):
        offset = zone.utcoffset(instant.replace(tzinfo=timezone.utc).astimezone(zone).replace(tzinfo=None))
        minutes = int(offset.total_seconds() // 60) if offset else 0
        if not segments or segments[-1][1] != minutes:
            segments.append((instant, minutes))
        instant += timedelta(hours=1)
    return segments


def local_time(expr: str, filters: Filters, schema: Schema, table: str, dialect: str,
               params: dict, prefix: str = "tz") -> str:
    """``expr`` (a UTC timestamp) as wall-clock time in the filters' timezone.

    PostgreSQL converts with the timezone database; SQLite adds the offset in force, taken
    per daylight-saving segment of the range. Adds the bound values it needs to ``params``.
    """
    if filters.tz == "UTC":
        return expr
    if dialect == "postgresql":
        params[f"{prefix}_name"] = filters.tz
        if table in schema.aware_timestamps:
            return f"({expr} AT TIME ZONE :{prefix}_name)"
        return f"(({expr} AT TIME ZONE 'UTC') AT TIME ZONE :{prefix}_name)"
    segments = _utc_offsets(filters)
    if len(segments) == 1:
        return f"datetime({expr}, '{segments[0][1]:+d} minutes')"
    # One flat CASE, latest segment first: nested CASEs overflow SQLite's parser stack once a range
    # spans a decade of daylight-saving changes.
    whens = []
    for i, (instant, minutes) in reversed(list(enumerate(segments[1:], start=1))):
        params[f"{prefix}_{i}"] = bind_timestamp(instant, dialect)
        whens.append(f"WHEN {expr} >= :{prefix}_{i} THEN '{minutes:+d} minutes'")
    return f"datetime({expr}, CASE {' '.join(whens)} ELSE '{segments[0][1]:+d} minutes' END)"


def bucket(expr: str, unit: str, dialect: str) -> str:
    """The start of the minute, ten minutes, hour, day, ISO week (Monday) or month of a local timestamp."""
    if unit not in BUCKETS:
        raise ValueError(f"unknown bucket {unit!r}")
    if unit == "10min":
        if dialect == "postgresql":
            return (f"(date_trunc('hour', {expr}) + "
                    f"FLOOR(EXTRACT(MINUTE FROM {expr}) / 10) * INTERVAL '10 minutes')")
        # "%02d:00" keeps the colon after a letter: text() would read "':00'" as a parameter.
        return (f"(strftime('%Y-%m-%d %H:', {expr}) || "
                f"printf('%02d:00', (CAST(strftime('%M', {expr}) AS INTEGER) / 10) * 10))")
    if dialect == "postgresql":
        return f"date_trunc('{unit}', {expr})"
    if unit == "minute":
        return f"strftime('%Y-%m-%d %H:%M:00', {expr})"
    if unit == "hour":
        return f"strftime('%Y-%m-%d %H:00:00', {expr})"
    if unit == "day":
        return f"strftime('%Y-%m-%d 00:00:00', {expr})"
    if unit == "month":
        return f"strftime('%Y-%m-01 00:00:00', {expr})"
    return f"strftime('%Y-%m-%d 00:00:00', {expr}, 'weekday 0', '-6 days')"


def local_bucket(expr: str, unit: str, filters: Filters, schema: Schema, table: str, dialect: str,
                 params: dict) -> str:
    """The start of the local hour, day or week (in the filters' timezone) of a UTC timestamp."""
    return bucket(local_time(expr, filters, schema, table, dialect, params), unit, dialect)


def trend_bucket(filters: Filters) -> str:
    """The bucket for a trend of rates (CSAT, conversion): hours for a day or two, days up to
    four months, weeks beyond; rates over finer buckets are mostly noise."""
    days = filters.length.total_seconds() / 86400
    if days <= 2:
        return "hour"
    return "day" if days <= 120 else "week"


def ops_bucket(filters: Filters) -> str:
    """The bucket for per-service operational series (five or so lines): minutes for two hours,
    ten minutes for two days, hours for two weeks, days beyond: at most ~1,500 points a line."""
    hours = filters.length.total_seconds() / 3600
    if hours <= 2:
        return "minute"
    if hours <= 48:
        return "10min"
    return "hour" if hours <= 14 * 24 else "day"


def bucket_for(filters: Filters) -> str:
    """The finest bucket that keeps a series to a few hundred points per line."""
    days = filters.length.total_seconds() / 86400
    if days <= 3:
        return "hour"
    if days <= 731:
        return "day"
    return "week"


def table_where(filters: Filters, table: str, schema: Schema, dialect: str,
                prefix: str = "") -> tuple[str, dict]:
    """``WHERE …`` text and params for ``table`` under ``filters``."""
    clauses, params = where(filters, table, schema, dialect, prefix)
    return "WHERE " + " AND ".join(clauses), params


def _caller() -> str:
    """The data_access function that ran the query (the name in the dashboard's query log)."""
    if logs.query_name():
        return logs.query_name()
    frame = sys._getframe(2)
    while frame is not None and (frame.f_code.co_filename == __file__ or frame.f_code.co_name.startswith("_")):
        frame = frame.f_back
    return frame.f_code.co_name if frame is not None else "?"


SCHEMA_RETRIES = 3


def _executed(conn: sa.Connection, sql: str, params: dict):
    """``conn.execute`` of a read, again when SQLite says the schema changed under it. SQLite
    prepares the statement again itself, up to 50 times; a refresh's first build, whose DDL the
    driver commits a statement at a time, can change the schema more often than that while a page
    reads. Reads only: running one again changes nothing."""
    for attempt in range(SCHEMA_RETRIES):
        try:
            return conn.execute(sa.text(sql), params)
        except sa.exc.OperationalError as error:
            changed = getattr(error.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_SCHEMA
            if not changed or attempt == SCHEMA_RETRIES - 1:
                raise


def read_frame(engine: sa.Engine, sql: str, params: dict) -> pd.DataFrame:
    """Run an aggregating query and return its (small) result as a DataFrame."""
    with logs.timed_query(_caller(), engine.dialect.name) as info, engine.connect() as conn:
        result = _executed(conn, sql, params)
        # Plain tuples: pandas probes each Row for ``_fields``, which costs ~15 µs a row.
        frame = pd.DataFrame([tuple(row) for row in result.fetchall()], columns=list(result.keys()))
        info["rows"] = len(frame)
        return frame


def numeric(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """``columns`` of a query result as numbers (drivers hand back Decimal, int or None)."""
    for column in columns:
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def rate(frame: pd.DataFrame, part: str, whole: str) -> pd.Series:
    """100 × part / whole per row; NaN where whole is 0 or NULL."""
    whole_values = pd.to_numeric(frame[whole], errors="coerce").astype("float64")
    return 100.0 * pd.to_numeric(frame[part], errors="coerce").astype("float64") / whole_values.where(whole_values > 0)


def read_row(engine: sa.Engine, sql: str, params: dict) -> dict:
    """Run a query that returns one row and return it as a dict."""
    with logs.timed_query(_caller(), engine.dialect.name) as info, engine.connect() as conn:
        row = dict(_executed(conn, sql, params).mappings().one())
        info["rows"] = 1
        return row


def concurrently(calls: Sequence[Callable[[], T]], workers: int = 2) -> list[T]:
    """The results of ``calls`` (functions of no arguments that query), in order, run on up to
    ``workers`` threads at once: each query takes its own pooled connection, so the database works
    on them in parallel. Put the slowest first. Queries keep the caller's log context; the first
    exception is raised."""
    calls = list(calls)
    if len(calls) <= 1 or workers <= 1:
        return [call() for call in calls]

    with ThreadPoolExecutor(max_workers=min(workers, len(calls))) as pool:
        return list(pool.map(lambda call: call(), [logs.in_this_context(c) for c in calls]))


MAX_VALUE = 200  # a user or dialog id longer than this is not one


def drill_where(schema: Schema, *, user_id: str | None = None, session_id: str | None = None,
                table: str = "conversation_metrics") -> tuple[str, dict]:
    """The extra ``AND …`` conditions (and their bound values) for one user and/or one dialog
    (``session_id``) of ``table``; ``("", {})`` for neither. Raises ``ValueError`` for a value
    longer than ``MAX_VALUE`` or a table without the column."""
    parts, params = [], {}
    for column, value, name in (("user_id", user_id, "drill_user"), ("session_id", session_id, "drill_session")):
        if value is None:
            continue
        if len(value) > MAX_VALUE:
            raise ValueError(f"{column} is longer than {MAX_VALUE} characters")
        if not schema.has(table, column):
            raise ValueError(f"{table} has no {column}")
        parts.append(f' AND "{column}" = :{name}')
        params[name] = value
    return "".join(parts), params
