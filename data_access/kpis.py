"""The tiles' KPIs computed: ``compute`` reads every requested KPI of one level (messages,
dialogs, NPS responses, system samples, health checks) in a single statement, so a page that
shows ten tiles scans each table once per period. What each KPI is, is the catalogue's
(``data_access.catalogue``); this module only reads it: message KPIs sum the catalogue's measures
over ``sources.message_source`` (rolled-up hours and raw rows alike), the other levels run their
aggregates over the level's rows or the service tables' hours.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa

from data_access import catalogue, service_rollups, sql
from data_access.catalogue import LEVEL_TABLES, Aggregates, Kpi
from data_access.filters import Filters
from data_access.schema import Schema

CM = "conversation_metrics"

NO_DATA = "no_data"
NOT_TRACKED = "not_tracked"


@dataclass(frozen=True)
class KpiValue:
    """A KPI's value (None with a ``reason`` when there is none), the count behind it (``n``),
    and how many rows were ignored for holding values outside the contract's range."""

    key: str
    value: float | Decimal | int | None
    n: int = 0
    ignored: int = 0
    reason: str | None = None
    pending: int = 0  # observations not decided yet, left out (young dialogs: catalogue.YOUNG)


KPIS = catalogue.KPIS
# The system KPIs read at the latest sample (their value is the resource named by the key).
RESOURCES = ("cpu", "memory", "disk")


# --- the FROM clause of each level -------------------------------------------------------------

def dialog_key(schema: Schema, dialect: str) -> str:
    """The contract's dialog key: session_id, else user_id + the row's UTC date (a very long one
    held by ``sql.index_key``)."""
    fallback = f"COALESCE(\"user_id\", '') || ':' || {sql.utc_date_text(sql.TS, dialect)}"
    if schema.has(CM, "session_id"):
        return sql.bytewise(sql.index_key(f'COALESCE("session_id", {fallback})', dialect), dialect)
    return sql.bytewise(sql.index_key(fallback, dialect), dialect)


def level_source(level: str, filters: Filters, schema: Schema, dialect: str,
                 keys: Iterable[str] = ()) -> tuple[str, dict]:
    """The FROM clause (table or subquery) that the aggregates of ``keys`` at ``level`` read."""
    table = LEVEL_TABLES[level]
    where, params = sql.table_where(filters, table, schema, dialect)
    if level == "system":
        columns = "".join(f", {expr} AS {name}" for name, expr in service_rollups.sample_columns(schema).items())
        return (f"(SELECT {sql.TS}{columns}, MAX({sql.TS}) OVER () AS latest_sample "
                f"FROM system_metrics {where} GROUP BY {sql.TS}) samples"), params
    return f"{table} {where}", params


def compute(engine: sa.Engine, schema: Schema, filters: Filters,
            keys: Iterable[str]) -> dict[str, KpiValue]:
    """Return ``{key: KpiValue}`` for the requested KPIs over ``filters``.

    One statement per level. A KPI whose table or columns the database lacks comes back with
    ``reason="not_tracked"``; one with nothing to count with ``reason="no_data"``.
    Raises ``KeyError`` for an unknown key and SQLAlchemy errors when the database fails.
    """
    dialect = engine.dialect.name
    results: dict[str, KpiValue] = {}
    by_level: dict[str, list[Kpi]] = {}
    for key in keys:
        item = KPIS[key]
        if not item.tracked(schema):
            results[key] = KpiValue(key, None, reason=NOT_TRACKED)
        else:
            by_level.setdefault(item.level, []).append(item)
    from data_access import plans

    chosen = None
    if "messages" in by_level or "dialogs" in by_level:
        chosen = plans.plan(engine, schema, filters)
    for level, items in by_level.items():
        if level in ("messages", "dialogs"):
            with plans.reading(chosen, "compute"):
                results.update(_formula_kpis(engine, chosen, schema, level, items))
            continue
        built = {item.key: item.build(dialect) for item in items}
        if level in ROLLED_HOURS and (kept := service_rollups.plan(ROLLED_HOURS[level][0], engine, schema,
                                                                      filters)).rolled:
            with plans.reading(kept, "compute"):
                row = _rolled_hours_row(engine, kept, schema, level, built)
        elif level == "system" and (samples := service_rollups.plan(service_rollups.SYSTEM, engine, schema,
                                                                    filters)).rolled:
            with plans.reading(samples, "compute"):
                row = _rolled_system_row(engine, samples, schema, built)
        else:
            select = ", ".join(f"{expr} AS {key}__{name}"
                               for key, agg in built.items() for name, expr in agg.columns.items())
            with (plans.reading(chosen, "compute") if chosen else contextlib.nullcontext()):
                source, params = level_source(level, filters, schema, dialect, built)
                row = sql.read_row(engine, f"SELECT {select} FROM {source}", params)
        for key, agg in built.items():
            values = {name: row[f"{key}__{name}"] for name in agg.columns}
            value, n, ignored = agg.finish(values)
            results[key] = KpiValue(key, value, int(n or 0), int(ignored or 0),
                                    None if value is not None else NO_DATA)
    return results


# The levels whose KPIs read service_rollups' hours: level → (the kept table, each KPI's aggregates
# over its measures, named as its raw aggregates). service_health: a row per hour, service and
# status with its checks in ``total``; nps_responses: a row per hour and platform.
ROLLED_HOURS = {
    "health": (service_rollups.HEALTH, {
        "uptime": {"ok": f"SUM(CASE WHEN {service_rollups.OK_STATUS} THEN total ELSE 0 END)",
                   "n": f"SUM(CASE WHEN {service_rollups.KNOWN_STATUS} THEN total ELSE 0 END)",
                   "bad": f"SUM(CASE WHEN {service_rollups.KNOWN_STATUS} THEN 0 ELSE total END)"}}),
    "nps": (service_rollups.NPS, {
        "nps": {"promoters": "SUM(promoters)", "detractors": "SUM(detractors)", "counted": "SUM(counted)",
                "bad": "SUM(score_bad)"}}),
}


def _rolled_hours_row(engine: sa.Engine, chosen, schema: Schema, level: str, built: dict[str, Aggregates]) -> dict:
    kept, aggregates = ROLLED_HOURS[level]
    source, params = service_rollups.hours_source(chosen, kept, schema, engine.dialect.name)
    select = ", ".join(f"{expr} AS {key}__{name}" for key in built for name, expr in aggregates[key].items())
    return sql.read_row(engine, f"SELECT {select} FROM ({source}) h", params)


# The system KPIs over service_rollups' hours of system_metrics' samples (``samples_of``), and
# ``latest``: the one sample at the range's last sample time, read raw; named as their raw aggregates.
ROLLED_SYSTEM_AGGREGATES = {
    "avg_rps": {"req": "SUM(requests_sum)", "samples": "SUM(samples)"},
    "peak_rps": {"peak": "MAX(requests_peak)", "samples": "SUM(samples)"},
    "error_rate": {"err": "SUM(errors_sum)", "req": "SUM(requests_sum)"},
    "active_sessions": {"latest": "MAX(latest.active_sessions)", "samples": "SUM(samples)"},
    **{name: {"latest": f"MAX(latest.{name})", "samples": "SUM(samples)"} for name in RESOURCES},
}


def _rolled_system_row(engine: sa.Engine, chosen, schema: Schema, built: dict[str, Aggregates]) -> dict:
    source, params = service_rollups.samples_source(chosen, service_rollups.SYSTEM, schema, engine.dialect.name)
    columns = ", ".join(f"{expr} AS {name}" for name, expr in service_rollups.sample_columns(schema).items())
    select = ", ".join(f"{expr} AS {key}__{name}" for key in built for name, expr in ROLLED_SYSTEM_AGGREGATES[key].items())
    return sql.read_row(engine, f"""
        WITH s AS ({source}),
             latest AS (SELECT {columns} FROM system_metrics WHERE {sql.TS} = (SELECT MAX(last_at) FROM s))
        SELECT {select} FROM s CROSS JOIN latest""", params)


def _formula_kpis(engine: sa.Engine, chosen, schema: Schema, level: str, items: list[Kpi]) -> dict[str, KpiValue]:
    """The message- or dialog-level KPIs of ``items``: their formulas' sums of measures in one
    statement, over ``sources.message_source`` (rolled-up hours and raw rows) or ``dialogs.sums``
    (the dialogs that start in the range: kept facts and their hours, or the reference); the raw
    path is the same statement over a plan with no rolled-up hours. A percentile is exact from the
    raw rows, or read from a histogram of the rollups."""
    from data_access import dialogs, sources

    dialect = engine.dialect.name
    if level == "messages":
        needed = tuple(dict.fromkeys(m for item in items for m in item.formula.measures))
        source = sources.message_source(chosen, schema, dialect, names=needed, daily=True, by_dimension=False)
    else:
        source = dialogs.sums(chosen, schema, dialect, daily=True)
    select = ", ".join(f"{expr} AS {name}" for item in items
                       for name, expr in item.formula.columns(f"{item.key}__").items())
    row = sql.read_row(engine, f"SELECT {select} FROM ({source.text}) m", source.params)
    results = {}
    for item in items:
        if isinstance(item.formula, catalogue.Percentile):
            row[f"{item.key}__percentile"] = percentile(engine, chosen, schema, item.formula)
        value, n, ignored = item.formula.value(row, f"{item.key}__")
        results[item.key] = KpiValue(item.key, value, n, ignored, None if value is not None else NO_DATA,
                                     item.formula.pending(row, f"{item.key}__"))
    return results


def percentile(engine: sa.Engine, chosen, schema: Schema, formula: catalogue.Percentile) -> float | None:
    """The percentile of ``formula`` over ``chosen``: of the response times of its rows, or of the
    resolution times of its dialogs; exact where it reads the raw rows (the reference), else from
    a histogram of the rollups (within ``rollups.LATENCY_RELATIVE_ERROR``)."""
    from data_access import dialogs, sources

    if formula.of == "resolution":
        read = dialogs.percentiles(engine, chosen, schema, {}, {"p": formula.fraction})
    else:
        read = sources.percentiles(engine, chosen, schema, {}, {"p": formula.fraction}, daily=True)
    return None if read.empty or read["p"].isna().iloc[0] else float(read["p"].iloc[0])


def compute_one(engine: sa.Engine, schema: Schema, filters: Filters, key: str) -> KpiValue:
    """The single KPI ``key`` over ``filters`` (see ``compute``)."""
    return compute(engine, schema, filters, [key])[key]
