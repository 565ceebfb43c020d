"""Recorded evaluations of the alert rules that step by less than an hour on the service tables.

A rule such as ServiceDown (uptime per service and minute) reads every check of its range and the
lookback before it, on every view of the Alerts, Overview and Reports pages: one row per service
and minute, which no rollup can shrink. So, as Prometheus recording rules do, the refresh of the
rollups (``data_access.rollups.refresh``) evaluates each such rule of alerts.yml once over the
closed hours and keeps what the evaluator needs in ``rollup_rule_records``:

- part ``eval``: the buckets the evaluator reads (``kept``): those beyond the rule's clear or fire
  threshold, the one after each of them, and the first of each hour (so that an hour can be
  recorded again alone, see below); the others change nothing in ``alerts.evaluate``;
- part ``chart``: per ``CHART_GRAIN`` seconds, the worst value and the observations, from which
  any chart step that is a multiple of it is grouped.

A page reads the records before ``upto`` and evaluates only the tail after it from the raw rows,
in one statement (``alerts._reduced_in_sql``). The answer equals the raw path's: the same values
(each bucket's window lies in the hours recorded), and the evaluator gives the same alerts for any
list of buckets that holds those it reads (the extra ones lie outside any run).

A rule is known by ``signature``: what its values and kept buckets depend on, not its name. A
rule added or changed in alerts.yml is recorded by the next refresh; until then it reads the raw
rows. Rows that arrive late into, change or leave a recorded hour of ``system_metrics`` or
``service_health`` are noted in the table's one log of changed hours (``service_rollups``'
``rollup_<stem>_dirty_hours``, which its kept hours read as well); such an hour and the next
(whose windows reach back into it) are recorded again by the next refresh, and until then rules
read the raw rows. A table that the database role may not put triggers on (it does not own it) is
not watched: its rules are not recorded and always read the raw rows (``service_rollups.watch``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from data_access import late_rows, service_rollups, sql, watermarks
from data_access.alert_rules import METRICS, Rule
from data_access.filters import Filters, bind_timestamp
from data_access.schema import Schema

RECORDS = "rollup_rule_records"
RULE = "rule:"  # a rule's watermark is named so and its signature
TABLES = (RECORDS,)
SERVICE_TABLES = ("system_metrics", "service_health")
SERVICE_METRICS = ("error_rate", "uptime", "disk_percent", "memory_percent", "cpu_percent")
HOUR_S = 3600
CHART_GRAIN = 300  # seconds: the chart part's buckets; chart steps that are multiples of it read them
HOUR = timedelta(hours=1)


def recordable(rule: Rule) -> bool:
    """Whether the refresh records ``rule``: a service metric without a baseline, stepping by less
    than an hour in steps that divide ``CHART_GRAIN``, over a window of at most an hour (so a late
    row changes the values of its hour and the next only)."""
    return (rule.metric in SERVICE_METRICS and not rule.baseline_weeks and rule.step < HOUR_S
            and CHART_GRAIN % rule.step == 0 and rule.window <= HOUR_S)


def signature(rule: Rule) -> str:
    """What a rule's records depend on (two rules alike share them; the name, ``for`` and
    severity only matter to the evaluator, which runs at view time), and the chart part's grain."""
    return json.dumps([CHART_GRAIN, rule.metric, rule.by, rule.step, rule.window, rule.min_count, rule.operator,
                       rule.threshold, rule.clear], separators=(",", ":"))


def fingerprint(schema: Schema) -> str:
    """The service tables' columns the records were made from."""
    return ";".join(f"{t}:{','.join(sorted(schema.columns.get(t, ())))}" for t in SERVICE_TABLES)


# --- the SQL of a rule's values ------------------------------------------------------------------

def label(schema: Schema, rule: Rule) -> str | None:
    """The column a rule's alerts are split by (``by``), or None without one or when its table
    lacks it."""
    table = METRICS[rule.metric].table
    return rule.by if rule.by and schema.has(table, rule.by) else None


def service_buckets(schema: Schema, rule: Rule, dialect: str, where: str) -> str | None:
    """``SELECT bucket, key, num, den, n`` of a service metric per step over the rows of ``where``,
    or None when the table or a column it needs is missing."""
    metric = METRICS[rule.metric]
    table = metric.table
    if not schema.has_table(table):
        return None
    key = f'"{label(schema, rule)}"' if label(schema, rule) else "''"
    if metric.key in ("disk_percent", "memory_percent", "cpu_percent"):
        if not schema.has(table, metric.key):
            return None
        valid = f'CASE WHEN "{metric.key}" BETWEEN 0 AND 100 THEN "{metric.key}" END'
        parts = f"MAX({valid}) AS num, 1 AS den, COUNT({valid}) AS n"
    elif metric.key == "error_rate":
        if not (schema.has(table, "errors") and schema.has(table, "requests")):
            return None
        counted = '"errors" >= 0 AND "requests" >= "errors"'
        requests = f'SUM(CASE WHEN {counted} THEN "requests" END)'
        parts = f'100 * SUM(CASE WHEN {counted} THEN "errors" END) AS num, {requests} AS den, {requests} AS n'
    elif metric.key == "uptime":
        known = "SUM(CASE WHEN \"status\" IN ('up', 'degraded', 'down') THEN 1 ELSE 0 END)"
        parts = (f"100 * SUM(CASE WHEN \"status\" IN ('up', 'degraded') THEN 1 ELSE 0 END) AS num, "
                 f"{known} AS den, {known} AS n")
    else:
        raise KeyError(metric.key)
    return (f"SELECT {sql.epoch_bucket(sql.TS, rule.step, dialect)} AS bucket, {key} AS key, {parts} "
            f"FROM {table} {where} GROUP BY 1, 2")


def series(inner: str, rule: Rule) -> str:
    """The CTEs ``b`` (``inner``: bucket, key, num, den, n), ``v`` (each bucket's value over the
    rule's window, NULL under ``min_count``) and ``f`` (the buckets with a value, with the value
    and the bucket before them). Binds :min_count."""
    combine = METRICS[rule.metric].combine
    over = f"PARTITION BY key ORDER BY bucket RANGE BETWEEN {int(rule.window - rule.step)} PRECEDING AND CURRENT ROW"
    rolled_num = "MAX(num)" if combine == "max" else "SUM(num)"
    rolled = (f"SELECT bucket, key, {rolled_num} OVER win AS num, SUM(den) OVER win AS den, SUM(n) OVER win AS n "
              f"FROM b WINDOW win AS ({over})") if rule.window > rule.step else "SELECT * FROM b"
    value = "num / NULLIF(den, 0)" if combine == "ratio" else "num"
    return f"""b AS ({inner}),
        w AS ({rolled}),
        v AS (SELECT bucket, key, n, CASE WHEN n >= :min_count THEN 1.0 * {value} END AS value FROM w),
        f AS (SELECT bucket, key, n, value, LAG(value) OVER (PARTITION BY key ORDER BY bucket) AS prev,
                     LAG(bucket) OVER (PARTITION BY key ORDER BY bucket) AS prev_bucket
              FROM v WHERE value IS NOT NULL)"""


def kept(rule: Rule) -> str:
    """The condition on ``f`` of the buckets the evaluator reads: beyond the clear or the fire
    threshold, the bucket after such a one, and the first of an hour. Binds :threshold, :clear."""
    hold = rule.operator if rule.clear is None else (">" if rule.above else "<")
    fire = rule.operator
    return (f"(value {hold} :clear OR value {fire} :threshold OR prev {hold} :clear OR prev {fire} :threshold "
            f"OR prev_bucket IS NULL OR prev_bucket < bucket - bucket % {HOUR_S})")


def bound(rule: Rule) -> dict:
    """The values ``series`` and ``kept`` bind."""
    return {"threshold": rule.threshold, "clear": rule.threshold if rule.clear is None else rule.clear,
            "min_count": max(rule.min_count, 1)}


def worst(rule: Rule) -> str:
    return "MAX" if rule.above else "MIN"


def _epoch(value: datetime) -> int:
    return int((value - datetime(1970, 1, 1)).total_seconds())


# --- recording (inside a refresh step) -----------------------------------------------------------

def ddl(dialect: str) -> list[str]:
    """The records' tables (the triggers on the service tables: ``service_rollups.watch``)."""
    pg = dialect == "postgresql"
    big = "BIGINT" if pg else "INTEGER"
    real = "DOUBLE PRECISION" if pg else "REAL"
    return [
        f"CREATE TABLE IF NOT EXISTS {RECORDS} (rule TEXT NOT NULL, part TEXT NOT NULL, key TEXT NOT NULL, "
        f"bucket {big} NOT NULL, value {real}, n {real})",
        f"CREATE INDEX IF NOT EXISTS ix_{RECORDS}_bucket ON {RECORDS} (rule, part, bucket)",
    ]


def watched(conn: sa.Connection, schema: Schema) -> frozenset[str]:
    """The service tables present whose changes a trigger set notes (``service_rollups.watch``)."""
    return frozenset(table for table in SERVICE_TABLES if schema.has_table(table) and late_rows.has_triggers(
        conn, table, trigger=service_rollups.BY_RAW[table].triggers["trigger"]))


def _logs(schema: Schema) -> list[str]:
    """The logs of changed hours of the service tables present."""
    return [service_rollups.BY_RAW[t].dirty for t in SERVICE_TABLES if schema.has_table(t)]


def _wanted(rules, tables) -> dict[str, Rule]:
    """The recordable ``rules`` over the service tables ``tables``, by signature."""
    return {signature(r): r for r in rules if recordable(r) and METRICS[r.metric].table in tables}


def drop(conn: sa.Connection) -> None:
    """Remove the records' tables."""
    for table in TABLES:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")


def _record_range(conn: sa.Connection, schema: Schema, rule: Rule, lo: datetime, hi: datetime) -> None:
    """Record ``rule`` over the buckets of [lo, hi) (whole hours, naive UTC), replacing what was."""
    dialect = conn.dialect.name
    sig = signature(rule)
    params = {"sig": sig, "lo_s": _epoch(lo), "hi_s": _epoch(hi), **bound(rule)}
    conn.execute(sa.text(f"DELETE FROM {RECORDS} WHERE rule = :sig AND bucket >= :lo_s AND bucket < :hi_s"),
                 {"sig": sig, "lo_s": params["lo_s"], "hi_s": params["hi_s"]})
    # Each bucket's window reaches ``window`` back: read that much before the range.
    where, where_params = sql.table_where(Filters(lo - timedelta(seconds=rule.window), hi),
                                          METRICS[rule.metric].table, schema, dialect, prefix="rq_")
    inner = service_buckets(schema, rule, dialect, where)
    if inner is None:
        return
    params.update(where_params)
    conn.execute(sa.text(f"""
        INSERT INTO {RECORDS} (rule, part, key, bucket, value, n)
        SELECT :sig, part, key, bucket, value, n FROM (
            WITH {series(inner, rule)}
            SELECT 'eval' AS part, key, bucket, value, n FROM f
            WHERE bucket >= :lo_s AND bucket < :hi_s AND {kept(rule)}
            UNION ALL
            SELECT 'chart', key, (bucket / {CHART_GRAIN}) * {CHART_GRAIN}, {worst(rule)}(value), SUM(n) FROM v
            WHERE value IS NOT NULL AND bucket >= :lo_s AND bucket < :hi_s GROUP BY 2, 3) r"""), params)


def _states(conn: sa.Connection) -> dict[str, tuple[str, datetime | None]]:
    """Each recorded rule's signature → (the columns it was made from, its ``upto``)."""
    return {sig: (mark.fingerprint, mark.upto) for sig, mark in watermarks.read_all(conn, RULE).items()}


def _first_hour(conn: sa.Connection, table: str) -> datetime | None:
    first = late_rows.naive_utc(conn.execute(sa.text(f"SELECT MIN({sql.TS}) FROM {table}")).scalar())
    return None if first is None else first.replace(minute=0, second=0, microsecond=0)


@dataclass
class Recorded:
    """What ``record`` did: rules recorded from scratch, late hours recorded again, and the rules
    now recorded up to the watermark."""

    new_rules: int = 0
    late_hours: int = 0
    rules: int = 0
    unwatched: tuple[str, ...] = ()


def record(conn: sa.Connection, schema: Schema, rules, watermark: datetime,
           notes: dict[str, list[tuple[int, datetime | None]]]) -> Recorded:
    """Bring the records of the recordable ``rules`` on the watched service tables up to
    ``watermark`` (naive UTC, a whole hour): forget the rules no longer in the list, made from
    other columns or on a table no longer watched, record again the hours of ``notes``
    (``service_rollups.noted``: each table's changed hours) and the next, and record the new
    hours. Runs in the caller's transaction."""
    tables = watched(conn, schema)
    done = Recorded(unwatched=tuple(t for t in SERVICE_TABLES if schema.has_table(t) and t not in tables))
    wanted = _wanted(rules, tables)
    columns_now = fingerprint(schema)
    states = _states(conn)
    notes = [note for table in SERVICE_TABLES for note in notes.get(table, [])]
    truncated = any(hour is None for _, hour in notes)
    for sig, (made_from, _) in states.items():
        if sig not in wanted or made_from != columns_now or truncated:
            conn.execute(sa.text(f"DELETE FROM {RECORDS} WHERE rule = :sig"), {"sig": sig})
            watermarks.forget(conn, RULE + sig)
    states = {s: v for s, v in states.items() if s in wanted and v[0] == columns_now and not truncated}
    late = sorted({hour for _, hour in notes if hour is not None})
    firsts: dict[str, datetime | None] = {}  # a table's first hour, read only for a rule recorded anew
    for sig, rule in wanted.items():
        upto = states[sig][1] if sig in states else None
        if upto is None:
            table = METRICS[rule.metric].table
            if table not in firsts:
                firsts[table] = _first_hour(conn, table)
            first = firsts[table]
            lo = watermark if first is None else min(first, watermark)
            done.new_rules += 1
        else:
            # A late row changes the values of its hour and, through the windows, of the next.
            touched = sorted({h + k * HOUR for h in late for k in (0, 1) if h + k * HOUR < upto})
            for lo_hour, hi_hour in late_rows.hour_runs(touched):
                _record_range(conn, schema, rule, lo_hour, hi_hour)
            done.late_hours = max(done.late_hours, len(touched))
            lo = upto
        if lo < watermark:
            _record_range(conn, schema, rule, lo, watermark)
        watermarks.write(conn, RULE + sig, columns_now, watermark)
        done.rules += 1
    return done


def behind(engine: sa.Engine, schema: Schema, rules, watermark: datetime) -> bool:
    """Whether a refresh has records to make: late service rows noted, or a recordable rule of
    ``rules`` on a watched table not recorded up to ``watermark`` for these columns."""
    logs = _logs(schema)
    if not schema.has_table(watermarks.TABLE) or not all(schema.has_table(log) for log in logs):
        return any(recordable(r) for r in rules)
    with engine.connect() as conn:
        if any(conn.execute(sa.text(f"SELECT 1 FROM {log} LIMIT 1")).first() is not None for log in logs):
            return True
        states = _states(conn)
        wanted = _wanted(rules, watched(conn, schema))
    made_from = fingerprint(schema)
    return any(states.get(sig) != (made_from, watermark) for sig in wanted)


@dataclass
class Standing:
    """What ``standing`` reads: the recordable rules of a list, those recorded for these columns,
    the earliest end of their records (naive UTC, None without any), the late hours noted, and the
    service tables present that no trigger watches (their rules are not recorded)."""

    recordable: int
    recorded: int
    upto: datetime | None
    late_hours: int
    unwatched: tuple[str, ...] = ()


def standing(engine: sa.Engine, schema: Schema, rules) -> Standing:
    """How far the records of ``rules`` stand (for ``python -m data_access.rollups status``)."""
    present = [t for t in SERVICE_TABLES if schema.has_table(t)]
    wanted = _wanted(rules, present)
    logs = _logs(schema)
    if not schema.has_table(watermarks.TABLE) or not all(schema.has_table(log) for log in logs):
        return Standing(len(wanted), 0, None, 0)
    made_from = fingerprint(schema)
    with engine.connect() as conn:
        ends = [upto for sig, (columns, upto) in _states(conn).items() if sig in wanted and columns == made_from]
        hours = " UNION ".join(f"SELECT hour FROM {log}" for log in logs) or "SELECT NULL AS hour WHERE 1 = 0"
        late = conn.execute(sa.text(f"SELECT COUNT(hour) FROM ({hours}) h")).scalar()
        tables = watched(conn, schema)
    return Standing(len(wanted), len(ends), min(ends, default=None), int(late or 0),
                    tuple(t for t in present if t not in tables))


# --- reading ---------------------------------------------------------------------------------------

def readable(rule: Rule, filters: Filters, chart_step: int) -> bool:
    """Whether a range's buckets and chart can come from the records: a recordable rule, a chart
    step that is a multiple of ``CHART_GRAIN``, and the range's UTC bounds on such a multiple (a
    range from a time off 5 minutes is not)."""
    start, end = filters.utc_bounds()
    return (recordable(rule) and chart_step % CHART_GRAIN == 0
            and _epoch(start) % CHART_GRAIN == 0 and _epoch(end) % CHART_GRAIN == 0)


def recorded_until(engine: sa.Engine, schema: Schema, rule: Rule, start: datetime) -> tuple[datetime | None, str]:
    """Until when (naive UTC) ``rule``'s records can be read from ``start`` on, or (None, why
    not): the rule is not recorded (yet) for these columns, late service rows wait from the hour
    before ``start`` on, or nothing after ``start`` is recorded; never raises (the tables may be
    made again by a first build as a page reads)."""
    log = service_rollups.BY_RAW[METRICS[rule.metric].table].dirty
    if not schema.has_table(watermarks.TABLE) or not schema.has_table(log):
        return None, "no rule records"
    dialect = engine.dialect.name
    try:
        with engine.connect() as conn:
            mark = watermarks.read(conn, RULE + signature(rule))
            if mark is None or mark.fingerprint != fingerprint(schema):
                return None, "rule not recorded yet"
            upto = mark.upto
            waiting = conn.execute(sa.text(f"SELECT 1 FROM {log} WHERE hour IS NULL "
                                           f"OR (hour >= :from AND hour < :upto) LIMIT 1"),
                                   {"from": bind_timestamp(start - HOUR, dialect),
                                    "upto": bind_timestamp(upto, dialect)}).first()
    except sa.exc.SQLAlchemyError:
        return None, "rule records unreadable"
    if waiting is not None:
        return None, "late service rows pending"
    if upto <= start:
        return None, "no recorded hour in the range"
    return upto, ""


def reduction_sql(inner: str, params: dict, rule: Rule, chart_start: datetime, chart_step: int, *,
                  recorded: tuple[datetime, datetime] | None = None) -> tuple[str, dict]:
    """One statement returning (part, bucket, key, value, n) from ``inner`` (bucket, key, num, den,
    n): part 'eval', the buckets the evaluator reads (``kept``), and part 'chart', the worst value
    and the observations per ``chart_step`` from ``chart_start`` (naive UTC).

    With ``recorded`` = (lo, hi), the buckets in [lo, hi) come from the records of ``rule`` and
    those of ``inner`` only from ``hi`` on (``inner`` must then read from ``hi`` − window)."""
    params = {**params, **bound(rule), "chart_start": _epoch(chart_start)}
    step = int(chart_step)
    own_eval = f"SELECT 'eval' AS part, bucket, key, value, n FROM f WHERE {kept(rule)}"
    own_chart = "SELECT bucket, key, value, n FROM v WHERE value IS NOT NULL AND bucket >= :chart_start"
    if recorded is not None:
        params.update(sig=signature(rule), rec_lo=_epoch(recorded[0]), rec_hi=_epoch(recorded[1]))
        own_eval += (f" AND bucket >= :rec_hi UNION ALL SELECT 'eval', bucket, key, value, n FROM {RECORDS} "
                     f"WHERE rule = :sig AND part = 'eval' AND bucket >= :rec_lo AND bucket < :rec_hi")
        own_chart += (f" AND bucket >= :rec_hi UNION ALL SELECT bucket, key, value, n FROM {RECORDS} "
                      f"WHERE rule = :sig AND part = 'chart' AND bucket >= :chart_start AND bucket < :rec_hi")
    text = f"""
        WITH {series(inner, rule)}
        {own_eval}
        UNION ALL
        SELECT 'chart', (bucket / {step}) * {step}, key, {worst(rule)}(value), SUM(n) FROM ({own_chart}) c
        GROUP BY 2, 3"""
    return text, params
