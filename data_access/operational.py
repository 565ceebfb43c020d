"""Queries of the Operational page: traffic, errors, resources, sessions, service and integration
health, and the health of the dashboard's own database. Small DataFrames, aggregated in SQL."""

from __future__ import annotations

import time

import pandas as pd
import sqlalchemy as sa

from data_access import late_rows, plans, service_rollups, sql
from data_access.business import to_local
from data_access.filters import Filters
from data_access.schema import TABLES, Schema
from data_access.service_rollups import KNOWN_STATUS, OK_STATUS

SM = "system_metrics"
SH = "service_health"
IC = "integration_calls"
EE = "error_events"

QUOTA_WARNING_SHARE = 80.0
SYSTEM = service_rollups.planner(service_rollups.SYSTEM)
HEALTH = service_rollups.planner(service_rollups.HEALTH)
INTEGRATIONS = service_rollups.planner(service_rollups.INTEGRATIONS)


def _bucketed(frame: pd.DataFrame) -> pd.DataFrame:
    frame["bucket"] = pd.to_datetime(frame["bucket"])
    return frame


def _optional(schema: Schema, table: str, column: str, expr: str) -> str:
    return expr if schema.has(table, column) else "NULL"


def _system_hours(chosen, engine: sa.Engine, schema: Schema, filters: Filters, unit: str, select: str) -> pd.DataFrame:
    """``select`` (aggregates over service_rollups' per-service measures of system_metrics) per
    local bucket and service, from the kept hours and the raw rows around them."""
    dialect = engine.dialect.name
    source, params = service_rollups.hours_source(chosen, service_rollups.SYSTEM, schema, dialect)
    bucket = sql.local_bucket("hour", unit, filters, schema, SM, dialect, params)
    return sql.read_frame(engine, f"""
        SELECT {bucket} AS bucket, name AS "service", {select}
        FROM ({source}) h GROUP BY 1, 2 ORDER BY 1, 2""", params)


@plans.reader(local_buckets=True, planner=SYSTEM)
def traffic(chosen, engine: sa.Engine, schema: Schema, filters: Filters, unit: str) -> pd.DataFrame:
    """Per local bucket and service: requests, errors, samples, RPS (requests per second of the
    sampled minutes) and error rate %."""
    frame = _system_hours(chosen, engine, schema, filters, unit,
                          "SUM(requests_sum) AS requests, SUM(errors_sum) AS errors, SUM(total) AS samples")
    return _traffic_rates(frame)


def _traffic_rates(frame: pd.DataFrame) -> pd.DataFrame:
    frame = _bucketed(sql.numeric(frame, ["requests", "errors", "samples"]))
    frame["rps"] = frame["requests"] / (frame["samples"] * 60.0)
    frame["error_rate"] = sql.rate(frame, "errors", "requests")
    return frame


def error_rate_over_time(traffic_frame: pd.DataFrame) -> pd.DataFrame:
    """All services together per bucket: 100 × errors / requests (sums of the per-service rows)."""
    totals = traffic_frame.groupby("bucket", as_index=False)[["requests", "errors"]].sum()
    totals["error_rate"] = sql.rate(totals, "errors", "requests")
    return totals


def errors_over_time(engine: sa.Engine, schema: Schema, filters: Filters, unit: str) -> pd.DataFrame:
    """error_events per local bucket and error type."""
    dialect = engine.dialect.name
    where, params = sql.table_where(filters, EE, schema, dialect)
    bucket = sql.local_bucket(sql.TS, unit, filters, schema, EE, dialect, params)
    frame = sql.read_frame(engine, f"""
        SELECT {bucket} AS bucket, COALESCE("error_type", 'unknown') AS error_type, COUNT(*) AS events
        FROM error_events {where} GROUP BY 1, 2 ORDER BY 1, 2""", params)
    return _bucketed(sql.numeric(frame, ["events"]))


def top_errors(engine: sa.Engine, schema: Schema, filters: Filters, limit: int = 15) -> pd.DataFrame:
    """The most frequent (error type, service) pairs: events, critical events, first and last seen."""
    dialect = engine.dialect.name
    where, params = sql.table_where(filters, EE, schema, dialect)
    frame = sql.read_frame(engine, f"""
        SELECT COALESCE("error_type", 'unknown') AS error_type, COALESCE("service", 'unknown') AS service,
               COUNT(*) AS events, SUM(CASE WHEN "level" = 'CRITICAL' THEN 1 ELSE 0 END) AS critical,
               MIN({sql.TS}) AS first_seen, MAX({sql.TS}) AS last_seen
        FROM error_events {where} GROUP BY 1, 2 ORDER BY events DESC, 1, 2 LIMIT {int(limit)}""", params)
    frame = sql.numeric(frame, ["events", "critical"])
    for column in ("first_seen", "last_seen"):
        frame[column] = to_local(frame[column], filters.tz)
    return frame


def latest_errors(engine: sa.Engine, schema: Schema, filters: Filters, limit: int = 50) -> pd.DataFrame:
    """The newest error events: time (local), service, type, level and message (plain text)."""
    dialect = engine.dialect.name
    where, params = sql.table_where(filters, EE, schema, dialect)
    frame = sql.read_frame(engine, f"""
        SELECT {sql.TS} AS "timestamp", "service", "error_type", "level", "message"
        FROM error_events {where} ORDER BY {sql.TS} DESC LIMIT {int(limit)}""", params)
    frame["timestamp"] = to_local(frame["timestamp"], filters.tz)
    return frame


@plans.reader(local_buckets=True, planner=SYSTEM)
def resources(chosen, engine: sa.Engine, schema: Schema, filters: Filters, unit: str) -> pd.DataFrame:
    """Per local bucket and service: mean CPU and memory, highest disk (values outside 0..100 left out)."""
    frame = _system_hours(chosen, engine, schema, filters, unit,
                          "1.0 * SUM(cpu_sum) / NULLIF(SUM(cpu_n), 0) AS cpu, "
                          "1.0 * SUM(memory_sum) / NULLIF(SUM(memory_n), 0) AS memory, MAX(disk_max) AS disk")
    return _bucketed(sql.numeric(frame, ["cpu", "memory", "disk"]))


@plans.reader(planner=SYSTEM)
def resources_now(chosen, engine: sa.Engine, schema: Schema, filters: Filters) -> pd.DataFrame:
    """Each service's latest sample in range: time (local), CPU, memory, disk, active sessions
    (values out of range shown as missing). Its latest time from the kept hours' last times and
    the raw rows around them; its sample read at that time."""
    source, params = service_rollups.hours_source(chosen, service_rollups.SYSTEM, schema, engine.dialect.name)
    return _latest_samples(engine, schema, filters, f'SELECT name AS "service", MAX(last_at) AS latest '
                                                     f'FROM ({source}) h GROUP BY name', params)


def _latest_samples(engine: sa.Engine, schema: Schema, filters: Filters, latest: str, params: dict) -> pd.DataFrame:
    """The system_metrics rows of each service at its time in ``latest`` (SQL of ``service``,
    ``latest``), as ``resources_now`` returns them."""
    percent = {c: f"CASE WHEN s.{sql.column(SM, c)} BETWEEN 0 AND 100 THEN s.{sql.column(SM, c)} END"
               for c in ("cpu_percent", "memory_percent", "disk_percent")}
    percent["active_sessions"] = f"CASE WHEN s.{sql.column(SM, 'active_sessions')} >= 0 THEN s.{sql.column(SM, 'active_sessions')} END"
    cols = ", ".join(f"{_optional(schema, SM, c, expr)} AS {c}" for c, expr in percent.items())
    frame = sql.read_frame(engine, f"""
        SELECT s."service", s."timestamp" AS "timestamp", {cols}
        FROM system_metrics s JOIN ({latest}) l ON s."service" = l."service" AND s."timestamp" = l.latest
        ORDER BY s."service\"""", params)
    frame["timestamp"] = to_local(frame["timestamp"], filters.tz)
    return sql.numeric(frame, ["cpu_percent", "memory_percent", "disk_percent", "active_sessions"])


def over_threshold(now: pd.DataFrame, *, disk: float | None, memory: float | None) -> pd.DataFrame:
    """The services whose latest disk or memory is above ``disk`` / ``memory`` (%, the alert
    rules' thresholds; None: not checked)."""
    hot = pd.Series(False, index=now.index)
    if disk is not None:
        hot |= now["disk_percent"] > disk
    if memory is not None:
        hot |= now["memory_percent"] > memory
    return now[hot].reset_index(drop=True)


@plans.reader(local_buckets=True, planner=SYSTEM)
def active_sessions_over_time(chosen, engine: sa.Engine, schema: Schema, filters: Filters, unit: str) -> pd.DataFrame:
    """Per local bucket: mean and peak of active sessions (summed over services per sample)."""
    dialect = engine.dialect.name
    source, params = service_rollups.samples_source(chosen, service_rollups.SYSTEM, schema, dialect)
    bucket = sql.local_bucket("hour", unit, filters, schema, SM, dialect, params)
    frame = sql.read_frame(engine, f"""
        SELECT {bucket} AS bucket, 1.0 * SUM(sessions_sum) / SUM(sessions_n) AS mean_sessions,
               MAX(sessions_peak) AS peak_sessions
        FROM ({source}) s GROUP BY 1 HAVING SUM(sessions_n) > 0 ORDER BY 1""", params)
    return _bucketed(sql.numeric(frame, ["mean_sessions", "peak_sessions"]))


@plans.reader(planner=HEALTH)
def service_status(chosen, engine: sa.Engine, schema: Schema, filters: Filters) -> pd.DataFrame:
    """One row per service: its last status in range, since when (the first check of the current
    run of that status; the range start if the whole range is one run), the last latency, and its
    uptime % in range (checks up or degraded among known statuses).

    From the hours service_rollups keeps (per hour, service and status: the checks, the first and
    last one's time) and the raw rows around them, exact: the last check
    with another status is the latest end of another status's hours; the first check after it is
    the earliest start of the hours that begin after it, or, in its own hour, read from the raw
    rows between it and that hour's last check."""
    dialect = engine.dialect.name
    source, params = service_rollups.hours_source(chosen, service_rollups.HEALTH, schema, dialect)
    latency = _optional(schema, SH, "latency_ms", 'c."latency_ms"')
    frame = sql.read_frame(engine, f"""
        WITH h AS ({source}),
             latest AS (SELECT name, MAX(last_at) AS ts FROM h GROUP BY name),
             now AS (SELECT c."service", c."status", {latency} AS latency_ms, c."timestamp" AS ts
                     FROM service_health c JOIN latest l ON c."service" = l.name AND c."timestamp" = l.ts),
             changed AS (SELECT h.name AS "service", MAX(h.last_at) AS ts FROM h JOIN now n ON h.name = n."service"
                         WHERE {sql.distinct_from('h."status"', 'n."status"', dialect)} GROUP BY h.name),
             straddled AS (SELECT x."service", x.ts, MAX(h.last_at) AS until FROM changed x
                           JOIN h ON h.name = x."service" AND h.first_at <= x.ts AND h.last_at > x.ts
                           GROUP BY x."service", x.ts),
             since AS (SELECT "service", MIN(ts) AS ts FROM (
                           SELECT h.name AS "service", MIN(h.first_at) AS ts FROM h
                           LEFT JOIN changed x ON h.name = x."service" WHERE x.ts IS NULL OR h.first_at > x.ts
                           GROUP BY h.name
                           UNION ALL
                           -- A lookup per straddled hour by the timestamp index (a join would scan the table)
                           SELECT "service", ts FROM (
                               SELECT y."service", (SELECT MIN(c."timestamp") FROM service_health c
                                                    WHERE c."service" = y."service" AND c."timestamp" > y.ts
                                                      AND c."timestamp" <= y.until) AS ts
                               FROM straddled y) z WHERE ts IS NOT NULL) f GROUP BY "service"),
             uptime AS (SELECT name AS "service", SUM(CASE WHEN {OK_STATUS} THEN total ELSE 0 END) AS ok,
                               SUM(CASE WHEN {KNOWN_STATUS} THEN total ELSE 0 END) AS known
                        FROM h GROUP BY name)
        SELECT n."service", n."status", n.ts AS last_check, s.ts AS since, x.ts IS NULL AS whole_range,
               n.latency_ms, u.ok, u.known
        FROM now n JOIN since s ON n."service" = s."service" JOIN uptime u ON n."service" = u."service"
        LEFT JOIN changed x ON n."service" = x."service"
        ORDER BY CASE n."status" WHEN 'down' THEN 0 WHEN 'degraded' THEN 1 WHEN 'up' THEN 3 ELSE 2 END, n."service\"""", params)
    return _status_frame(frame, filters)


def _status_frame(frame: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    frame = sql.numeric(frame, ["latency_ms", "ok", "known"])
    frame["uptime"] = sql.rate(frame, "ok", "known")
    frame["whole_range"] = frame["whole_range"].astype(bool)
    for column in ("last_check", "since"):
        frame[column] = to_local(frame[column], filters.tz)
    return frame


BAD_STATUS = "\"status\" IN ('down', 'degraded')"


@plans.reader(planner=HEALTH)
def status_intervals(chosen, engine: sa.Engine, schema: Schema, filters: Filters, limit: int = 2000) -> pd.DataFrame:
    """The down and degraded intervals per service: runs of consecutive checks with that status,
    from the first check of the run to the next check after it (or the run's last check).

    From the hours service_rollups keeps and the raw rows, exact: the runs
    are those of a shorter sequence of checks per service, the raw checks of the kept hours with
    a down or degraded check and of the raw ranges, and for each other kept hour one check at its
    first check's time, which ends a run there as any of its checks would; such an hour right
    after another adds nothing (the run that check would end, the one before it ended)."""
    dialect = engine.dialect.name
    source, params = service_rollups.hours_source(chosen, service_rollups.HEALTH, schema, dialect, marked=True)
    frame = sql.read_frame(engine, f"""
        WITH h AS ({source}),
        hours AS (SELECT hour, name, MIN(first_at) AS first_at, MAX(last_at) AS last_at,
                         MAX(CASE WHEN {BAD_STATUS} THEN 1 ELSE 0 END) AS bad
                  FROM h WHERE kept = 1 GROUP BY hour, name),
        hour_pairs AS (SELECT name, first_at, hour, bad, LAG(hour) OVER (PARTITION BY name ORDER BY hour) AS previous_hour,
                              LAG(bad) OVER (PARTITION BY name ORDER BY hour) AS previous_bad
                       FROM hours),
        checks AS (SELECT c."service", c."status", c."timestamp" AS ts FROM hours b
                   JOIN service_health c ON c."timestamp" >= b.first_at AND c."timestamp" <= b.last_at
                                        AND {sql.not_distinct_from('c."service"', 'b.name', dialect)}
                   WHERE b.bad = 1
                   UNION ALL SELECT name, "status", hour FROM h WHERE kept = 0
                   UNION ALL SELECT name, 'up', first_at FROM hour_pairs
                   WHERE bad = 0 AND NOT (previous_bad = 0 AND {late_rows.next_hour('previous_hour', dialect)} = hour)),
        {_runs(dialect)}""", {**params, "interval_limit": int(limit)})
    return _interval_frame(frame, filters)


def _runs(dialect: str) -> str:
    """The CTEs and SELECT of the down and degraded runs of ``checks`` (service, status, ts): from
    a run's first check to the check after its last (or its last), at most ``:interval_limit``."""
    return f"""ordered AS (
            SELECT "service", "status", ts, LEAD(ts) OVER (PARTITION BY "service" ORDER BY ts) AS next_ts,
                   CASE WHEN {sql.not_distinct_from('LAG("status") OVER (PARTITION BY "service" ORDER BY ts)',
                                                    '"status"', dialect)}
                        THEN 0 ELSE 1 END AS starts
            FROM checks),
        runs AS (SELECT "service", "status", ts, next_ts,
                        SUM(starts) OVER (PARTITION BY "service" ORDER BY ts ROWS UNBOUNDED PRECEDING) AS run
                 FROM ordered)
        SELECT "service", "status", MIN(ts) AS started, MAX(COALESCE(next_ts, ts)) AS ended, COUNT(*) AS checks
        FROM runs WHERE {BAD_STATUS} GROUP BY "service", "status", run
        ORDER BY started LIMIT :interval_limit"""


def _interval_frame(frame: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    for column in ("started", "ended"):
        frame[column] = to_local(frame[column], filters.tz)
    frame["seconds"] = (frame["ended"] - frame["started"]).dt.total_seconds()
    return sql.numeric(frame, ["checks"])


@plans.reader(planner=INTEGRATIONS)
def integrations(chosen, engine: sa.Engine, schema: Schema, filters: Filters) -> pd.DataFrame:
    """Per integration: calls, availability % (calls without a 5xx, timeout or missing status),
    p95 latency, mean webhook response time, auth failures, and the latest quota used / limit
    with the share left. ``attention`` marks auth failures or a quota above 80 % used.

    From the hours kept by ``service_rollups`` and the raw rows around them: the counts, sums
    and quota exact, the p95 from the latency histogram (within ``service_rollups.RELATIVE_ERROR``;
    exact where the plan reads no kept hour)."""
    dialect = engine.dialect.name
    kept = service_rollups.INTEGRATIONS
    source, params = service_rollups.hours_source(chosen, kept, schema, dialect)
    quota_cols = "NULL AS quota_used, NULL AS quota_limit"
    quota_join = ""
    if schema.has(IC, "quota_used") and schema.has(IC, "quota_limit"):
        # the values of each integration's last call with a quota, as the raw query reads them
        quota_join = """LEFT JOIN (
            SELECT q."integration", MAX(q."quota_used") AS quota_used, MAX(q."quota_limit") AS quota_limit
            FROM integration_calls q JOIN (SELECT name, MAX(quota_at) AS ts FROM s GROUP BY name) l
              ON q."integration" = l.name AND q."timestamp" = l.ts
            GROUP BY q."integration") qq ON qq."integration" = c.integration"""
        quota_cols = "qq.quota_used, qq.quota_limit"
    frame = sql.read_frame(engine, f"""
        WITH s AS ({source})
        SELECT c.integration, c.calls, c.failed, NULL AS p95_latency_ms, c.webhook_ms, c.auth_failures, {quota_cols}
        FROM (SELECT COALESCE(name, 'unknown') AS integration, SUM(total) AS calls, SUM(failed) AS failed,
                     SUM(webhook_sum) / NULLIF(SUM(webhook_n), 0) AS webhook_ms, SUM(auth_failures) AS auth_failures
              FROM s GROUP BY 1) c
        {quota_join} ORDER BY c.integration""", params)
    if schema.has(IC, "latency_ms") and not frame.empty:
        p95 = service_rollups.percentiles(engine, chosen, kept, schema, {"integration": "COALESCE(name, 'unknown')"},
                                          {"p95": 0.95}, daily=True)
        frame["p95_latency_ms"] = frame["integration"].map(dict(zip(p95["integration"], p95["p95"])))
    return _integration_shares(frame)


def _integration_shares(frame: pd.DataFrame) -> pd.DataFrame:
    """The integrations' counts with availability, quota shares and ``attention``."""
    frame = sql.numeric(frame, ["calls", "failed", "p95_latency_ms", "webhook_ms", "auth_failures", "quota_used",
                             "quota_limit"])
    frame["availability"] = 100.0 * (frame["calls"] - frame["failed"]) / frame["calls"].where(frame["calls"] > 0)
    frame["quota_used_share"] = sql.rate(frame, "quota_used", "quota_limit")
    frame["quota_left_share"] = 100.0 - frame["quota_used_share"]
    frame["attention"] = (frame["auth_failures"].fillna(0) > 0) | (frame["quota_used_share"].fillna(0) > QUOTA_WARNING_SHARE)
    return frame


def database_health(engine: sa.Engine, schema: Schema) -> pd.DataFrame:
    """The dashboard's own view of its database: per contract table present, its rows (exact on
    SQLite; PostgreSQL's planner estimate beyond a million rows, marked) and newest timestamp.
    The round trip of ``SELECT 1`` is in ``ping_ms``."""
    rows = []
    dialect = engine.dialect.name
    with engine.connect() as conn:
        estimates = {}
        if dialect == "postgresql":
            estimates = dict(conn.exec_driver_sql(
                "SELECT relname, reltuples::bigint FROM pg_class WHERE relkind IN ('r', 'p') "
                "AND relnamespace = 'public'::regnamespace").all())
        for table in TABLES:
            if not schema.has_table(table):
                continue
            estimated = estimates.get(table, -1) or -1
            if estimated > 1_000_000:
                count, exact = estimated, False
            else:
                count, exact = conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar(), True
            newest = conn.exec_driver_sql(f'SELECT MAX("timestamp") FROM {table}').scalar()
            rows.append({"table": table, "rows": int(count), "exact": exact, "newest": newest})
    frame = pd.DataFrame(rows, columns=["table", "rows", "exact", "newest"])
    frame["newest"] = pd.to_datetime(frame["newest"], utc=True)
    return frame


def ping_ms(engine: sa.Engine) -> float:
    """Milliseconds for one ``SELECT 1`` round trip on a pooled connection."""
    with engine.connect() as conn:
        started = time.perf_counter()
        conn.exec_driver_sql("SELECT 1").scalar()
        return (time.perf_counter() - started) * 1000.0
