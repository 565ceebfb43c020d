"""integration_calls, service_health, system_metrics and nps_responses aggregated per UTC hour,
kept by the rollups' refresh.

The Operational page's integrations table, service status, traffic and resources, the system
tiles, the SLA page's services and integrations, and the Uptime tile grouped every call, check or
sample of the range on each cold view; their p95s sorted them all. So each refresh of the rollups
(``data_access.rollups.refresh``) brings, for each table of ``KEPT``, these tables up to the same
watermark as conversation_metrics' rollups:

- ``rollup_<stem>_hours``: per hour, name (integration or service, as stored, NULL included) and
  the ``split`` columns (a check's status), the exact counts and sums those panels read
  (``Kept.measures``): rows, the first and last row's time, the rows with a latency and those
  under each of ``catalogue.LATENCY_EDGES``, and per table its own (failed calls, auth failures,
  the webhooks' latency sum and count, the last call's time with a quota);
- ``rollup_<stem>_latency``: per hour and name, a histogram of latency_ms in log-spaced buckets
  (``latency_bucket``), from which a percentile is read within ``RELATIVE_ERROR`` (within
  ``SMALL_MS`` / 2 for values under ``SMALL_MS``); ``rollup_<stem>_latency_daily`` sums it per
  UTC day, for the percentiles that do not group by time;
- for system_metrics, ``rollup_system_samples``: per hour, measures over its samples (a sample:
  one timestamp's rows across services), such as the busiest sample's requests;
- for nps_responses, no histogram, and ``rollup_nps_rows``: the responses whose comment holds one
  of alerts.yml's negative keywords, kept whole (the Alerts page's review candidates).

A page reads the hours before the watermark from them and the rest of its range from the raw
rows, in one answer (``plan``). Rows that arrive late into, change or leave an aggregated hour
are noted by the table's one trigger set in its one log, ``rollup_<stem>_dirty_hours`` (which
``rule_records`` reads as well: ``noted``, ``forget``); such hours read the raw rows until the
next refresh aggregates them again. Where the role may not put triggers on the table (only its
owner may, on PostgreSQL) nothing is kept for it and the pages read the raw rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from data_access import late_rows, sql, watermarks
from data_access.aggregates import Aggregate, Column
from data_access.filters import DIMENSIONS, Filters, dimension_where
from data_access.schema import Schema

VERSION = 3  # of the kept tables' shape: another makes them again
HOUR = timedelta(hours=1)
MAX_LATE_HOURS = 500  # more late hours than this pending: the whole range reads the raw rows

# A call failed when the partner answered 5xx, timed out (408) or gave no status at all.
FAILED_CALL = '("status_code" IS NULL OR "status_code" >= 500 OR "status_code" = 408)'
KNOWN_STATUS = "\"status\" IN ('up', 'degraded', 'down')"
OK_STATUS = "\"status\" IN ('up', 'degraded')"
VALID_LATENCY = '"latency_ms" >= 0'
NPS_SCORE = '"score" BETWEEN 0 AND 10'
TERMS = ";terms="  # in a state's fingerprint: the terms its kept rows hold (JSON)
SMALL_MS = 1.0  # below it one bucket: latencies are read as SMALL_MS / 2 there
RATIO = 1.02
RELATIVE_ERROR = (RATIO - 1) / 2


def latency_bucket(value: str = '"latency_ms"') -> str:
    """The histogram bucket of a non-negative latency (milliseconds, any real): 0 under
    ``SMALL_MS``, else 1 + the whole number of ``RATIO`` steps above it."""
    return (f"CASE WHEN {value} < {SMALL_MS} THEN 0 "
            f"ELSE 1 + CAST(FLOOR(LN({value} / {SMALL_MS}) / LN({RATIO})) AS INTEGER) END")


def bucket_value(bucket: int) -> float:
    """The value a bucket of ``latency_bucket`` reads as: the middle of its bounds."""
    if bucket <= 0:
        return SMALL_MS / 2
    return SMALL_MS * RATIO ** (bucket - 1) * (1 + RATIO) / 2


COUNTS = {"total": ("1", "SUM"), "first_at": (sql.TS, "MIN"), "last_at": (sql.TS, "MAX")}


def _common(schema: Schema, table: str) -> dict[str, tuple[str, str]]:
    """The measures of a kept table with latencies: measure → (SQL over one raw row, how hours
    combine); ``under_i``: the latencies under ``catalogue.LATENCY_EDGES[i]`` (an SLA target on an
    edge is counted exactly)."""
    from data_access.catalogue import LATENCY_EDGES

    latency = schema.has(table, "latency_ms")
    measures = {**COUNTS, "timed": (f"CASE WHEN {VALID_LATENCY} THEN 1 ELSE 0 END" if latency else "0", "SUM")}
    for i, edge in enumerate(LATENCY_EDGES):
        measures[f"under_{i}"] = (f'CASE WHEN {VALID_LATENCY} AND "latency_ms" < {edge} THEN 1 ELSE 0 END'
                                  if latency else "0", "SUM")
    return measures


def _integration_measures(schema: Schema) -> dict[str, tuple[str, str]]:
    has = lambda column: schema.has("integration_calls", column)  # noqa: E731
    webhook = f"\"kind\" = 'webhook' AND {VALID_LATENCY}" if has("latency_ms") and has("kind") else None
    return {**_common(schema, "integration_calls"),  # as operational.integrations reads the raw rows
            "failed": (f"CASE WHEN {FAILED_CALL} THEN 1 ELSE 0 END", "SUM"),
            "auth_failures": (sql.flag(sql.column("integration_calls", "auth_failed")) if has("auth_failed") else "NULL",
                              "SUM"),
            "webhook_sum": (f'CASE WHEN {webhook} THEN "latency_ms" END' if webhook else "NULL", "SUM"),
            "webhook_n": (f"CASE WHEN {webhook} THEN 1 ELSE 0 END" if webhook else "0", "SUM"),
            "quota_at": (f'CASE WHEN "quota_used" IS NOT NULL AND "quota_limit" IS NOT NULL THEN {sql.TS} END'
                         if has("quota_used") and has("quota_limit") else "NULL", "MAX")}


def _valid(column: str, condition: str, schema: Schema, table: str, otherwise: str = "") -> str:
    """``column`` where ``condition`` holds (else ``otherwise``, or NULL); NULL when the table lacks it."""
    if not schema.has(table, column):
        return "NULL"
    return f'CASE WHEN "{column}" {condition} THEN "{column}"{f" ELSE {otherwise}" if otherwise else ""} END'


def _system_measures(schema: Schema) -> dict[str, tuple[str, str]]:
    """As operational.traffic and operational.resources read system_metrics per service."""
    table = "system_metrics"
    measures = {**COUNTS, "requests_sum": (_valid("requests", ">= 0", schema, table, "0"), "SUM"),
                "errors_sum": (_valid("errors", ">= 0", schema, table, "0"), "SUM")}
    for resource in ("cpu", "memory"):
        value = _valid(f"{resource}_percent", "BETWEEN 0 AND 100", schema, table)
        measures[f"{resource}_sum"] = (value, "SUM")
        measures[f"{resource}_n"] = (f"CASE WHEN {value} IS NOT NULL THEN 1 ELSE 0 END", "SUM")
    measures["disk_max"] = (_valid("disk_percent", "BETWEEN 0 AND 100", schema, table), "MAX")
    return measures


def _system_samples(schema: Schema) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """system_metrics per sample, as kpis' system level and operational.active_sessions_over_time
    read it: each sample's columns (SQL over the services' rows of one timestamp), and the measures
    over the samples (measure → (SQL over one sample, how samples and hours combine))."""
    measures = {"samples": ("1", "SUM"), "last_at": (sql.TS, "MAX"),
                "requests_sum": ("requests", "SUM"), "requests_peak": ("requests", "MAX"),
                "errors_sum": ("errors", "SUM"),
                "sessions_n": ("CASE WHEN active_sessions IS NOT NULL THEN 1 ELSE 0 END", "SUM"),
                "sessions_sum": ("active_sessions", "SUM"), "sessions_peak": ("active_sessions", "MAX")}
    return sample_columns(schema), measures


def _nps_measures(schema: Schema) -> dict[str, tuple[str, str]]:
    """As kpis' NPS, business.nps_trend and nps_comment_count read nps_responses: the responses
    with a score in 0–10 (``counted``), outside it (``score_bad``), the promoters, passives and
    detractors, and those of them with a comment."""
    has = lambda column: schema.has("nps_responses", column)  # noqa: E731
    count = lambda condition: (f"CASE WHEN {condition} THEN 1 ELSE 0 END" if has("score") else "0", "SUM")  # noqa: E731
    commented = "\"comment\" IS NOT NULL AND \"comment\" <> ''" if has("comment") else "1 = 0"
    return {**COUNTS, "counted": count(NPS_SCORE), "score_bad": count(f"NOT ({NPS_SCORE})"),
            "promoters": count('"score" BETWEEN 9 AND 10'), "passives": count('"score" BETWEEN 7 AND 8'),
            "detractors": count('"score" BETWEEN 0 AND 6'),
            "commented": count(f"{NPS_SCORE} AND {commented}"),
            "commented_detractors": count(f'"score" BETWEEN 0 AND 6 AND {commented}')}


def _review_rows(schema: Schema) -> dict[str, tuple[str, str]]:
    """The NPS responses kept whole (those whose comment holds a term, ``Kept.rows_of``):
    column → (SQL over the raw row, its type)."""
    score = '"score"' if schema.has("nps_responses", "score") else "NULL"
    return {"score": (score, "REAL"), "comment": ('"comment"', "TEXT")}


def sample_columns(schema: Schema) -> dict[str, str]:
    """One sample of system_metrics (its services' rows at one timestamp): column → SQL aggregate
    over those rows. Requests, errors and active sessions summed, the resources' highest value;
    values outside their range left out (NULL when none is valid)."""
    table = "system_metrics"
    columns = {name: f"SUM({_valid(name, '>= 0', schema, table)})" for name in ("requests", "errors", "active_sessions")}
    for resource in ("cpu", "memory", "disk"):
        columns[resource] = f"MAX({_valid(f'{resource}_percent', 'BETWEEN 0 AND 100', schema, table)})"
    return columns


@dataclass(frozen=True)
class Kept:
    """One table kept per UTC hour: ``raw`` grouped by its ``name`` column and ``split``, in the
    tables named from ``stem``; ``measures_of`` gives its measures (default: ``_common``).
    ``samples_of`` (optional) gives the columns of one sample (the rows of one timestamp,
    across names) and the measures kept over the samples, in ``rollup_<stem>_samples``.
    ``rows_of`` (optional) gives the columns of the raw rows kept whole in ``rollup_<stem>_rows``:
    those whose ``terms_in`` column holds one of the refresh's terms (``sql.contains_any``).
    ``keeps_latency``: whether a latency histogram is kept."""

    raw: str
    stem: str
    name: str
    split: tuple[str, ...]
    measures_of: Callable[[Schema], dict[str, tuple[str, str]]] | None = None
    samples_of: Callable[[Schema], tuple[dict[str, str], dict[str, tuple[str, str]]]] | None = None
    rows_of: Callable[[Schema], dict[str, tuple[str, str]]] | None = None
    terms_in: str = ""
    keeps_latency: bool = True

    @property
    def hours(self) -> str:
        return f"rollup_{self.stem}_hours"

    @property
    def latency(self) -> str:
        return f"rollup_{self.stem}_latency"

    @property
    def latency_daily(self) -> str:
        return f"rollup_{self.stem}_latency_daily"

    @property
    def samples(self) -> str | None:
        return f"rollup_{self.stem}_samples" if self.samples_of else None

    @property
    def rows(self) -> str | None:
        return f"rollup_{self.stem}_rows" if self.rows_of else None

    @property
    def dirty(self) -> str:
        return f"rollup_{self.stem}_dirty_hours"

    @property
    def data_tables(self) -> tuple[str, ...]:
        return tuple(aggregates(self))

    @property
    def tables(self) -> tuple[str, ...]:
        return (*self.data_tables, self.dirty)

    @property
    def triggers(self) -> dict[str, str]:
        return {"function": f"easyflow_note_{self.raw}_hours", "trigger": f"easyflow_note_{self.raw}_hours_{{event}}"}

    def measures(self, schema: Schema) -> dict[str, tuple[str, str]]:
        """Each kept measure → (its SQL over one raw row, the aggregate that combines it)."""
        return self.measures_of(schema) if self.measures_of else _common(schema, self.raw)

    def held_terms(self, terms) -> tuple[str, ...]:
        """The terms this table's kept rows hold for a refresh's ``terms``: none without ``rows_of``."""
        return tuple(terms) if self.rows_of else ()

    def filtered_names(self, filters: Filters, schema: Schema) -> tuple[str, ...]:
        """The values of ``name`` that ``filters`` keep (a platform filter on nps_responses, as
        ``filters.dimension_where`` applies it); () for all."""
        if not schema.has(self.raw, self.name):
            return ()
        return next((getattr(filters, field) for field, column in DIMENSIONS[self.raw].items()
                     if column == self.name), ())

    def name_sql(self, schema: Schema) -> str:
        return f'"{self.name}"' if schema.has(self.raw, self.name) else "NULL"

    def split_sql(self, schema: Schema) -> list[str]:
        return [f'"{c}"' if schema.has(self.raw, c) else "NULL" for c in self.split]

    def fingerprint(self, schema: Schema) -> str:
        """What the kept hours were made from: this code's ``VERSION``, the raw table's columns and
        timestamp kind (the state adds the terms of ``rows_of``: ``TERMS``)."""
        columns = ",".join(sorted(schema.columns.get(self.raw, ())))
        return f"v{VERSION};{columns};aware={self.raw in schema.aware_timestamps}"

    def present(self, schema: Schema) -> bool:
        return schema.has(self.raw, "timestamp")


def _kind(measure: str) -> str:
    """A kept measure's type: times, sums of data values as floats (no integer type can overflow),
    counts as integers."""
    return "TIME" if measure.endswith("_at") else "REAL" if measure.endswith(("_sum", "_max", "_peak")) else "INTEGER"


def aggregates(kept: Kept) -> dict[str, Aggregate]:
    """``kept``'s tables, each declared once (``data_access.aggregates``), by name."""
    empty = Schema(columns={})
    measures = lambda kept: tuple(Column(m, _kind(m), combine=how) for m, (_, how) in kept.items())  # noqa: E731
    declared = [Aggregate(kept.hours, "hour", (Column("name"), *(Column(c) for c in kept.split)),
                          measures(kept.measures(empty)))]
    if kept.keeps_latency:
        latency = Aggregate(kept.latency, "hour", (Column("name"), Column("bucket", "INTEGER", null=False)),
                            (Column("n", "INTEGER", null=False, combine="SUM"),))
        declared += [latency, latency.coarser(kept.latency_daily, "day")]
    if kept.samples_of:
        declared.append(Aggregate(kept.samples, "hour", (), measures(kept.samples_of(empty)[1])))
    if kept.rows_of:
        declared.append(Aggregate(kept.rows, "hour", (Column("at", "TIME", null=False), Column("name"), *(
            Column(c, kind) for c, (_, kind) in kept.rows_of(empty).items())), ()))
    return {aggregate.table: aggregate for aggregate in declared}


INTEGRATIONS = Kept("integration_calls", "integration", "integration", (), _integration_measures)
HEALTH = Kept("service_health", "health", "service", ("status",))
SYSTEM = Kept("system_metrics", "system", "service", (), _system_measures, _system_samples, keeps_latency=False)
# The reviews kept whole are those holding a negative keyword (alerts.yml): the NegativeReviews rule.
NPS = Kept("nps_responses", "nps", "platform", (), _nps_measures, rows_of=_review_rows, terms_in="comment",
           keeps_latency=False)
KEPT = (INTEGRATIONS, HEALTH, SYSTEM, NPS)
BY_RAW = {kept.raw: kept for kept in KEPT}
TABLES = tuple(table for kept in KEPT for table in kept.tables)
DATA_TABLES = tuple(table for kept in KEPT for table in kept.data_tables)


# --- keeping ------------------------------------------------------------------------------------

def _data_ddl(kept: Kept, dialect: str) -> list[str]:
    return [statement for aggregate in aggregates(kept).values() for statement in aggregate.ddl(dialect)]


def ddl(dialect: str) -> list[str]:
    """The tables (the triggers on the raw tables: ``watch``)."""
    ts = "TIMESTAMP" if dialect == "postgresql" else "TEXT"
    serial = "BIGSERIAL PRIMARY KEY" if dialect == "postgresql" else "INTEGER PRIMARY KEY AUTOINCREMENT"
    statements = []
    for kept in KEPT:
        statements += [*_data_ddl(kept, dialect),
                       f"CREATE TABLE IF NOT EXISTS {kept.dirty} (id {serial}, hour {ts})"]
    return statements


def watch(engine: sa.Engine, schema: Schema) -> tuple[str, ...]:
    """Make (again) the triggers that note late rows on each kept table present; returns the
    raw tables watched (see ``late_rows.watch``)."""
    return tuple(kept.raw for kept in KEPT if kept.present(schema) and late_rows.watch(
        engine, kept.raw, kept.dirty, kept.raw in schema.aware_timestamps, **kept.triggers))


def drop(conn: sa.Connection, schema: Schema) -> None:
    """Remove the triggers and the tables."""
    for kept in KEPT:
        if schema.has_table(kept.raw):
            for statement in late_rows.drop_triggers(kept.raw, conn.dialect.name, **kept.triggers):
                conn.exec_driver_sql(statement)
        for table in kept.tables:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")


def _aggregate(conn: sa.Connection, kept: Kept, schema: Schema, lo: datetime, hi: datetime, terms=()) -> None:
    """Replace the kept hours of [lo, hi) (whole hours, naive UTC) with the raw rows' aggregates
    (and the rows that hold one of ``terms``, where ``kept.rows_of``)."""
    dialect = conn.dialect.name
    for aggregate in aggregates(kept).values():  # the daily histogram's days: made again by ``_roll_days``
        late_rows.run(conn, [aggregate.clear()], lo, hi)
    where, params = sql.table_where(Filters(lo, hi), kept.raw, schema, dialect, prefix="kh_")
    declared = aggregates(kept)
    hour = late_rows.hour_of(sql.TS, dialect)
    values = lambda measures: {m: expr for m, (expr, _) in measures.items()}  # noqa: E731
    keys = [kept.name_sql(schema), *kept.split_sql(schema)]
    conn.execute(sa.text(declared[kept.hours].fill(f"{kept.raw} {where}", hour, keys, values(kept.measures(schema)))),
                 params)
    if kept.keeps_latency and schema.has(kept.raw, "latency_ms"):
        conn.execute(sa.text(declared[kept.latency].fill(f"{kept.raw} {where} AND {VALID_LATENCY}", hour,
                                                         [kept.name_sql(schema), latency_bucket()], {"n": "1"})), params)
    if kept.samples_of:
        conn.execute(sa.text(declared[kept.samples].fill(_samples_from(kept, schema, where), hour, [],
                                                         values(kept.samples_of(schema)[1]))), params)
    if kept.rows_of and terms and schema.has(kept.raw, kept.terms_in):
        columns = kept.rows_of(schema)
        holds, term_params = sql.contains_any(f'"{kept.terms_in}"', terms, dialect)
        conn.execute(sa.text(f"INSERT INTO {kept.rows} (hour, at, name, {', '.join(columns)}) "
                             f"SELECT {hour}, {sql.TS}, {kept.name_sql(schema)}, "
                             f"{', '.join(expr for expr, _ in columns.values())} FROM {kept.raw} {where} AND {holds}"),
                     {**params, **term_params})


def _roll_days(conn: sa.Connection, kept: Kept, start: datetime, end: datetime, watermark: datetime) -> None:
    """Make again, from the hourly histogram, the daily one of the UTC days that hold an hour of
    [start, end) and are wholly before ``watermark``."""
    if kept.keeps_latency:
        declared = aggregates(kept)
        late_rows.remake_days(conn, start, end, watermark,
                              declared[kept.latency_daily].remake(declared[kept.latency], conn.dialect.name))


def _samples_from(kept: Kept, schema: Schema, where: str) -> str:
    """A FROM item of one row per sample (timestamp) of ``kept.raw`` ``where``: ``timestamp``
    and the sample's columns."""
    columns = "".join(f", {expr} AS {name}" for name, expr in kept.samples_of(schema)[0].items())
    return f"(SELECT {sql.TS}{columns} FROM {kept.raw} {where} GROUP BY {sql.TS}) samples"


def _state(conn: sa.Connection, kept: Kept, schema: Schema) -> datetime | None:
    return _kept_state(conn, kept, schema)[0]


def _kept_state(conn: sa.Connection, kept: Kept, schema: Schema) -> tuple[datetime | None, tuple[str, ...]]:
    """Until when the hours are kept (None: none for these columns) and the terms of the rows kept."""
    mark = watermarks.read(conn, kept.raw)
    if mark is None:
        return None, ()
    made_from, _, terms = mark.fingerprint.partition(TERMS)
    if made_from != kept.fingerprint(schema):
        return None, ()
    return mark.upto, tuple(json.loads(terms)) if terms else ()


def noted(conn: sa.Connection, schema: Schema) -> dict[str, list[tuple[int, datetime | None]]]:
    """Each watched raw table's log of changed hours as it stands: raw table → [(id, hour)]
    (hour None: the table was truncated). The refresh hands it to every reader of the table's
    changes (these hours, ``rule_records``), then ``forget``s it."""
    return {kept.raw: [(i, late_rows.naive_utc(hour)) for i, hour in
                       conn.execute(sa.text(f"SELECT id, hour FROM {kept.dirty}")).all()]
            for kept in KEPT if kept.present(schema) and schema.has_table(kept.dirty)}


def forget(conn: sa.Connection, notes: dict[str, list[tuple[int, datetime | None]]]) -> None:
    """Remove from each log the changes of ``notes`` (those noted since stay)."""
    for raw, rows in notes.items():
        if rows:
            conn.execute(sa.text(f"DELETE FROM {BY_RAW[raw].dirty} WHERE id <= :last"), {"last": max(i for i, _ in rows)})


def _refresh_one(conn: sa.Connection, kept: Kept, schema: Schema, watermark: datetime, terms: tuple[str, ...],
                 notes: list[tuple[int, datetime | None]]) -> int:
    dialect = conn.dialect.name
    if not kept.present(schema) or not late_rows.has_triggers(conn, kept.raw, trigger=kept.triggers["trigger"]):
        for table in kept.data_tables:
            conn.exec_driver_sql(f"DELETE FROM {table}")
        watermarks.forget(conn, kept.raw)
        return 0
    mark = watermarks.read(conn, kept.raw)
    made_from = mark.fingerprint if mark else None
    upto, kept_terms = _kept_state(conn, kept, schema)
    terms = kept.held_terms(terms)
    hours = 0
    if made_from is not None and not made_from.startswith(f"v{VERSION};"):
        for table in kept.data_tables:  # made by another version: their shape follows this one
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        for statement in _data_ddl(kept, dialect):
            conn.exec_driver_sql(statement)
    rebuilt = upto is None or any(hour is None for _, hour in notes) or kept_terms != terms
    if rebuilt:  # new, other columns, truncated, or other terms
        for table in kept.data_tables:
            conn.exec_driver_sql(f"DELETE FROM {table}")
        first = late_rows.naive_utc(conn.execute(sa.text(f"SELECT MIN({sql.TS}) FROM {kept.raw}")).scalar())
        upto = watermark if first is None else min(first.replace(minute=0, second=0, microsecond=0), watermark)
    aggregated = []
    if not rebuilt:
        aggregated = late_rows.hour_runs({hour for _, hour in notes if hour < upto})
    if upto < watermark:
        aggregated.append((upto, watermark))
    for lo, hi in aggregated:
        _aggregate(conn, kept, schema, lo, hi, terms)
        hours += int((hi - lo) / HOUR)
    for lo, hi in aggregated:
        _roll_days(conn, kept, lo, hi, watermark)
    watermarks.write(conn, kept.raw, kept.fingerprint(schema)
                     + (TERMS + json.dumps(terms, ensure_ascii=False) if terms else ""), watermark)
    return hours


def refresh(step: Callable[[], ContextManager[sa.Connection]], schema: Schema, watermark: datetime,
            terms: tuple[str, ...] = (), notes: dict[str, list[tuple[int, datetime | None]]] | None = None
            ) -> dict[str, int]:
    """Bring each kept table's hours up to ``watermark`` (naive UTC, a whole hour): the hours of
    ``notes`` (``noted``: the log of each raw table, which the caller then ``forget``s) again,
    then the new hours; everything again when the raw table's columns changed, it was
    truncated, or ``terms`` (what the rows of ``Kept.rows_of`` hold) changed. Keeps nothing for a
    table (its readers read raw rows) while no trigger notes its changes. Each table in a
    transaction of its own, ``step()``; returns the hours aggregated per raw table."""
    hours = {}
    for kept in KEPT:
        with step() as conn:
            hours[kept.raw] = _refresh_one(conn, kept, schema, watermark, terms, (notes or {}).get(kept.raw, []))
    return hours


def behind(engine: sa.Engine, schema: Schema, watermark: datetime, terms: tuple[str, ...] = ()) -> bool:
    """Whether a refresh has hours to keep: late rows noted, a watched table's hours short of
    ``watermark`` or its rows kept for other ``terms`` (a table no trigger watches keeps nothing:
    never behind)."""
    present = [kept for kept in KEPT if kept.present(schema)]
    if not schema.has_table(watermarks.TABLE) or any(not schema.has_table(kept.dirty) for kept in present):
        return True
    with engine.connect() as conn:
        for kept in present:
            if not late_rows.has_triggers(conn, kept.raw, trigger=kept.triggers["trigger"]):
                continue
            if conn.execute(sa.text(f"SELECT 1 FROM {kept.dirty} LIMIT 1")).first() is not None:
                return True
            if _kept_state(conn, kept, schema) != (watermark, kept.held_terms(terms)):
                return True
    return False


def kept_until(engine: sa.Engine, kept: Kept, schema: Schema) -> datetime | None:
    """The end of ``kept``'s hours (naive UTC), or None when none are kept for these columns."""
    if not schema.has_table(watermarks.TABLE):
        return None
    with engine.connect() as conn:
        return _state(conn, kept, schema)


# --- reading ------------------------------------------------------------------------------------

def plan(kept: Kept, engine: sa.Engine, schema: Schema, filters: Filters, *, terms: tuple[str, ...] | None = None):
    """Where a read of ``kept.raw`` over ``filters`` goes (a ``plans.Plan``): the whole hours
    of the range before the kept watermark, but the late ones, from the kept hours; the rest from
    the raw rows. The raw path when nothing is kept (with the reason), or for a read of the rows
    holding ``terms`` when the kept rows hold other ones; never raises."""
    from data_access import plans, rollups

    forced = plans.forced_raw()
    if forced:
        return plans.Plan(filters, reason=forced)
    if not schema.has_table(watermarks.TABLE) or not schema.has_table(kept.dirty):
        return plans.Plan(filters, reason=f"no {kept.stem} rollups")
    try:
        with engine.connect() as conn:
            upto, kept_terms = _kept_state(conn, kept, schema)
            late = conn.execute(sa.text(f"SELECT DISTINCT hour FROM {kept.dirty} "
                                        f"LIMIT {MAX_LATE_HOURS + 1}")).scalars().all()
    except sa.exc.SQLAlchemyError:
        return plans.Plan(filters, reason=f"{kept.stem} rollups unreadable")
    if upto is None:  # none made yet, for these columns, or no trigger watches the table
        return plans.Plan(filters, reason=f"{kept.raw} not rolled up")
    if len(late) > MAX_LATE_HOURS or any(hour is None for hour in late):
        return plans.Plan(filters, reason="many late rows pending")
    if terms is not None and not set(terms) <= set(kept_terms):
        return plans.Plan(filters, reason="words other than the kept ones")
    start, end = filters.utc_bounds()
    lo, hi = rollups.ceil_hour(start), min(rollups.floor_hour(end), upto)
    if hi <= lo:
        return plans.Plan(filters, reason="no whole hour rolled up")
    return plans.Plan(filters, (lo, hi), tuple(sorted(h for h in map(late_rows.naive_utc, late) if lo <= h < hi)))


def planner(kept: Kept) -> Callable:
    """``plan`` for ``kept``, as ``plans.reader`` takes it."""
    return lambda engine, schema, filters: plan(kept, engine, schema, filters)


def _union(chosen, kept: Kept, schema: Schema, dialect: str, rolled_select: Callable[[str], str] | str,
           rolled_table: str, raw_select: str, raw_extra: str = "", raw_from: Callable[[str], str] | None = None,
           daily: bool | str = False) -> tuple[str, dict]:
    """``chosen.union`` over ``kept.raw`` (``raw_from(where)``: the FROM item; default the raw
    table ``where``) and ``rolled_table``, both narrowed by the plan's filters of ``kept.name``.
    ``daily`` (the latency histogram only): the whole UTC days from the daily histogram, True
    for a query that does not group by time, or a local unit for one grouping by it."""
    raw_from = raw_from or (lambda where: f"{kept.raw} {where}")
    names = kept.filtered_names(chosen.filters, schema)
    params = {f"kr_name_{i}": name for i, name in enumerate(names)}
    named = f" AND name IN ({', '.join(':' + v for v in params)})" if params else ""
    dims, dim_params = dimension_where(chosen.filters, kept.raw, schema, prefix="kr_")
    return chosen.union(dialect, rolled_select if callable(rolled_select) else lambda at: rolled_select, rolled_table,
                        lambda where: f"SELECT {raw_select} FROM {raw_from(where + raw_extra)}",
                        daily_table=kept.latency_daily if rolled_table == kept.latency else None, daily=daily,
                        rolled_where=named, raw_where="".join(f" AND {c}" for c in dims),
                        params={**params, **dim_params}, prefix="kr_")


def hours_source(chosen, kept: Kept, schema: Schema, dialect: str, *, marked: bool = False,
                 also: dict[str, tuple[str, str]] | None = None) -> tuple[str, dict]:
    """``(sql, params)`` of rows with ``hour`` (the raw row's time in the raw ranges), ``name``,
    the ``split`` columns and the kept measures: combined per name (each by its aggregate), the
    plan's range's totals. ``marked`` adds ``kept``: 1 for a kept hour's row, 0 for a raw row.
    ``also``: more columns, name → (SQL over a kept hour's row, SQL over a raw row)."""
    measures = kept.measures(schema)
    also = also or {}
    rolled = ", ".join(["hour", "name", *kept.split, *measures, *(f"{e} AS {c}" for c, (e, _) in also.items()),
                        *(["1 AS kept"] if marked else [])])
    raw = ", ".join([f"{sql.TS} AS hour", f"{kept.name_sql(schema)} AS name",
                     *(f"{expr} AS {c}" for expr, c in zip(kept.split_sql(schema), kept.split)),
                     *(f"{expr} AS {m}" for m, (expr, _) in measures.items()),
                     *(f"{e} AS {c}" for c, (_, e) in also.items()), *(["0 AS kept"] if marked else [])])
    return _union(chosen, kept, schema, dialect, rolled, kept.hours, raw)


def samples_source(chosen, kept: Kept, schema: Schema, dialect: str) -> tuple[str, dict]:
    """``(sql, params)`` of rows with ``hour`` (the sample's time in the raw ranges) and the
    measures over the samples (``Kept.samples_of``): combined (each by its aggregate), the plan's
    range's totals over its samples."""
    measures = kept.samples_of(schema)[1]
    raw = ", ".join([f"{sql.TS} AS hour", *(f"{expr} AS {m}" for m, (expr, _) in measures.items())])
    return _union(chosen, kept, schema, dialect, ", ".join(["hour", *measures]), kept.samples, raw,
                  raw_from=lambda where: _samples_from(kept, schema, where))


def rows_source(chosen, kept: Kept, schema: Schema, dialect: str) -> tuple[str, dict]:
    """``(sql, params)`` of the rows ``Kept.rows_of`` keeps whole: ``at`` (the row's time),
    ``name`` and its columns. From the kept hours, the rows holding one of the kept terms; from
    the raw ranges, every row: the reader narrows both to its own terms."""
    columns = kept.rows_of(schema)
    raw = ", ".join([f"{sql.TS} AS at", f"{kept.name_sql(schema)} AS name",
                     *(f"{expr} AS {column}" for column, (expr, _) in columns.items())])
    return _union(chosen, kept, schema, dialect, ", ".join(["at", "name", *columns]), kept.rows, raw)


def latency_source(chosen, kept: Kept, schema: Schema, dialect: str, *, daily: bool | str = False) -> tuple[str, dict]:
    """``(sql, params)`` of rows with ``hour``, ``name``, ``bucket`` and ``n``: the latency
    histogram of the plan's range. ``daily``: whole UTC days from the daily histogram (``hour``
    is then the day's start): True for a query that does not group by time, else the local unit
    it groups by."""
    return _union(chosen, kept, schema, dialect, lambda at: f"{at} AS hour, name, bucket, n", kept.latency,
                  f"{sql.TS} AS hour, {kept.name_sql(schema)} AS name, {latency_bucket()} AS bucket, 1 AS n",
                  raw_extra=f" AND {VALID_LATENCY}", daily=daily)


def percentiles(engine: sa.Engine, chosen, kept: Kept, schema: Schema, groups: dict[str, str],
                fractions: dict[str, float], params: dict | None = None, *, daily: bool | str = False):
    """Latency percentiles per group (``groups``: output name → SQL over ``hour`` and ``name``)
    read from the histogram, within ``RELATIVE_ERROR`` (``SMALL_MS`` / 2 under ``SMALL_MS``)
    of ``percentile_cont``: a frame with the groups, ``count`` and each of ``fractions``.
    ``daily``: as ``latency_source``'s, where no group reads ``hour``. Exact, from the raw rows,
    where the plan reads no kept hour (the reference)."""
    from data_access import sources

    if not chosen.rolled:
        where, where_params = sql.table_where(chosen.filters, kept.raw, schema, engine.dialect.name, prefix="kp_")
        rows = sources.Source(f"SELECT {sql.TS} AS hour, {kept.name_sql(schema)} AS name, \"latency_ms\" "
                              f"FROM {kept.raw} {where} AND {VALID_LATENCY}", where_params)
        return sources.exact_percentiles(engine, rows, "latency_ms", groups, fractions, params)
    text, source_params = latency_source(chosen, kept, schema, engine.dialect.name, daily=daily)
    return sources.histogram_percentiles(engine, sources.Source(text, source_params), groups, fractions,
                                         params, value=bucket_value)
