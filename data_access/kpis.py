"""The tiles' KPIs computed: ``compute`` reads every requested KPI of one level (messages,
dialogs, NPS responses, system samples, health checks) in a single statement, so a page that
shows ten tiles scans each table once per period. What each KPI is, is the catalogue's
(``data_access.catalogue``); this module only reads it: message KPIs sum the catalogue's measures
over ``rollups.message_source`` (rolled-up hours and raw rows alike), the other levels run their
aggregates over the level's rows or the service tables' hours.
"""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa

from data_access import catalogue, logs, service_rollups, sql
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


KPIS = catalogue.KPIS
# The system KPIs read at the latest sample (their value is the resource named by the key).
RESOURCES = ("cpu", "memory", "disk")


# --- the FROM clause of each level -------------------------------------------------------------

def dialog_key(schema: Schema, dialect: str) -> str:
    """The contract's dialog key: session_id, else user_id + the row's UTC date."""
    fallback = f"COALESCE(\"user_id\", '') || ':' || {sql.utc_date_text(sql.TS, dialect)}"
    if schema.has(CM, "session_id"):
        return sql.bytewise(f'COALESCE("session_id", {fallback})', dialect)
    return sql.bytewise(fallback, dialect)


# The per-dialog columns each dialog-level KPI reads (a KPI not listed needs only start and user).
DIALOG_COLUMNS = {"conversion_rate": "converted_any", "escalation_rate": "escalated_any",
                  "median_resolution_time": "first_resolved", "repeat_contact_rate": "previous_started"}


# A dialog's exact cost in 1/10,000 USD (negative costs count 0), as a per-dialog aggregate.
DIALOG_COST_E4 = sql.money_sum_ten_thousandths(sql.COST_OR_ZERO)


def dialogs_subquery(filters: Filters, schema: Schema, dialect: str, columns: Iterable[str] = (),
                     extra: Iterable[str] = ()) -> tuple[str, dict]:
    """One row per dialog among the filtered rows: ``dialog``, ``started``, ``user_id``, and of
    ``converted_any``, ``escalated_any``, ``first_resolved``, ``previous_started`` those in
    ``columns`` (each costs work, so only what is asked for is computed).

    ``extra`` adds aggregate columns (``MIN("platform") AS platform``) to the per-dialog row.
    Inside ``shared_dialogs`` for the same filters, the rows come from its table instead.
    """
    state = _shared.get()
    if state is not None and (state.filters, state.schema, state.dialect) == (filters, schema, dialect):
        shared = state.source(columns, extra)
        if shared is not None:
            return shared, {}
    return _grouped_dialogs(filters, schema, dialect, columns, extra)


def _grouped_dialogs(filters: Filters, schema: Schema, dialect: str, columns: Iterable[str],
                     extra: Iterable[str]) -> tuple[str, dict]:
    from data_access import rollups

    columns = set(columns)
    chosen = rollups.active_plan(filters)
    if chosen is not None and chosen.rolled:
        return _dialogs_from_parts(chosen, schema, dialect, columns, extra)
    where, params = sql.table_where(filters, CM, schema, dialect)
    optional = list(extra)
    for name in ("converted", "escalated"):
        if f"{name}_any" in columns and schema.has(CM, name):
            optional.append(f"MAX({sql.flag(sql.column(CM, name))}) AS {name}_any")
    if "first_resolved" in columns and schema.has(CM, "resolved"):
        optional.append(f'MIN(CASE WHEN "resolved" THEN {sql.TS} END) AS first_resolved')
    more = "".join(f", {o}" for o in optional)
    grouped = (f"SELECT {dialog_key(schema, dialect)} AS dialog, MIN({sql.TS}) AS started, "
               f'MIN("user_id") AS user_id{more} FROM conversation_metrics {where} GROUP BY 1')
    return _with_previous(grouped, params, columns, dialect)


def _dialogs_from_parts(chosen, schema: Schema, dialect: str, columns: set[str],
                        extra: Iterable[str]) -> tuple[str, dict]:
    """The rows of ``_grouped_dialogs`` from the rolled-up dialog parts (and the raw rows of the
    hours the rollups do not hold): each part holds a dialog's rows of one hour and combination
    of platform, intent and model, so grouping the filtered parts by dialog gives the same
    first time, user, flags and cost as grouping the filtered rows."""
    from data_access import rollups

    facts = _dialogs_from_facts(chosen, schema, dialect, columns, extra)
    if facts is not None:
        return facts
    source = rollups.dialog_part_source(chosen, schema, dialect)
    optional = [e.replace(DIALOG_COST_E4, "SUM(cost_e4)") for e in extra]
    for name in ("converted", "escalated"):
        if f"{name}_any" in columns and schema.has(CM, name):
            optional.append(f"MAX({name}_any) AS {name}_any")
    if "first_resolved" in columns and schema.has(CM, "resolved"):
        optional.append("MIN(first_resolved) AS first_resolved")
    more = "".join(f", {o}" for o in optional)
    grouped = (f"SELECT {sql.bytewise('dialog', dialect)} AS dialog, MIN(started) AS started, "
               f"MIN(user_id) AS user_id{more} FROM ({source.text}) parts GROUP BY 1")
    return _with_previous(grouped, dict(source.params), columns, dialect)


def _dialogs_from_facts(chosen, schema: Schema, dialect: str, columns: set[str],
                        extra: Iterable[str]) -> tuple[str, dict] | None:
    """The rows of ``_grouped_dialogs`` read from the rollups' one row per dialog where it can
    answer (see ``rollups.dialog_fact_source``), else None."""
    import re

    from data_access import rollups

    wanted = {"dialog": "dialog", "started": "started", "user_id": "user_id"}
    for name in ("converted", "escalated"):
        if f"{name}_any" in columns and schema.has(CM, name):
            wanted[f"{name}_any"] = f"{name}_any"
    if "first_resolved" in columns and schema.has(CM, "resolved"):
        wanted["first_resolved"] = "first_resolved"
    for item in extra:
        found = re.fullmatch(r"(.+) AS (\w+)", item)
        if found is None:
            return None
        expr, name = found.groups()
        first = re.fullmatch(r'MIN\("(platform|intent|ai_model)"\)', expr)
        if expr == DIALOG_COST_E4:
            wanted[name] = "cost_e4"
        elif first is not None:
            wanted[name] = f'"{first.group(1)}"'
        elif re.fullmatch(r"'[^']*'", expr):
            wanted[name] = expr
        else:
            return None
    source = rollups.dialog_fact_source(chosen, schema, dialect, wanted, previous="previous_started" in columns)
    if source is None:
        return None
    return source.text, dict(source.params)


def _with_previous(grouped: str, params: dict, columns: set[str], dialect: str) -> tuple[str, dict]:
    if "previous_started" not in columns:
        return grouped, params
    return (f"SELECT d.*, LAG(started) OVER (PARTITION BY {sql.bytewise('user_id', dialect)} ORDER BY started) "
            f"AS previous_started FROM ({grouped}) d"), params


# The column each per-dialog column needs in conversation_metrics.
DIALOG_COLUMN_NEEDS = {"converted_any": "converted", "escalated_any": "escalated", "first_resolved": "resolved",
                       "previous_started": "user_id"}


@dataclass
class _SharedDialogs:
    """The dialogs of ``filters`` in a temporary table on ``conn`` (made on first use)."""

    conn: sa.Connection
    filters: Filters
    schema: Schema
    dialect: str
    table: str | None = None
    refused: bool = False

    def aggregates(self) -> dict[str, str]:
        """The table's per-dialog columns beyond ``dialogs_subquery``'s own: name → aggregate."""
        columns = {"platform": 'MIN("platform")', "cost_e4": DIALOG_COST_E4}
        if self.schema.has(CM, "ai_model"):
            columns["ai_model"] = 'MIN("ai_model")'
        return columns

    def source(self, columns: Iterable[str], extra: Iterable[str]) -> str | None:
        """``SELECT`` of the asked columns from the table, or None when it cannot answer them."""
        # Each ``extra`` as callers write it → the same column read from the table.
        answers = {"'(all)' AS dimension": "'(all)' AS dimension"}
        for name, aggregate in self.aggregates().items():
            answers[f"{aggregate} AS {name}"] = name
            answers[f"{aggregate} AS dimension"] = f"{name} AS dimension"
        extra = list(extra)
        if any(e not in answers for e in extra) or not self._made():
            return None
        present = [c for c in DIALOG_COLUMN_NEEDS if c in set(columns) and self.schema.has(CM, DIALOG_COLUMN_NEEDS[c])]
        listed = "".join(f", {c}" for c in present + [answers[e] for e in extra])
        return f"SELECT dialog, started, user_id{listed} FROM {self.table}"

    def _made(self) -> bool:
        if self.table is None and not self.refused:
            name = f"efa_dialogs_{uuid.uuid4().hex[:16]}"
            wanted = [f"{aggregate} AS {column}" for column, aggregate in self.aggregates().items()]
            grouped, params = _grouped_dialogs(self.filters, self.schema, self.dialect, DIALOG_COLUMN_NEEDS, wanted)
            try:
                with logs.timed_query("shared_dialogs", self.dialect) as info:
                    info["rows"] = self.conn.execute(sa.text(f"CREATE TEMP TABLE {name} AS {grouped}"), params).rowcount
                self.table = name
            except sa.exc.SQLAlchemyError:  # a read-only standby, say: group per query as usual
                self.conn.rollback()
                self.refused = True
        return self.table is not None


_shared: contextvars.ContextVar[_SharedDialogs | None] = contextvars.ContextVar("shared_dialogs", default=None)


@contextmanager
def shared_dialogs(engine: sa.Engine, schema: Schema, filters: Filters) -> Iterator[None]:
    """Within the block, this context's queries over the dialogs of ``filters`` read one temporary
    table of them, grouped once on first use, instead of grouping the rows again each (at 10M rows
    the grouping is most of a dialog query). The results are the same: the table holds what
    ``dialogs_subquery`` computes. The queries run one after another, on one connection."""
    with sql.one_connection(engine) as conn:
        state = _SharedDialogs(conn, filters, schema, engine.dialect.name)
        token = _shared.set(state)
        try:
            yield
        finally:
            _shared.reset(token)
            if state.table:
                try:
                    conn.exec_driver_sql(f"DROP TABLE {state.table}")
                except sa.exc.SQLAlchemyError:
                    pass  # the connection is rolled back and returned either way


def grouping_once_pays(engine: sa.Engine, schema: Schema, filters: Filters) -> bool:
    """Whether ``shared_dialogs`` pays for ``filters``: not where the rollups hold one row per
    dialog for them (each query reads those directly, in parallel, faster than a temporary
    table is written)."""
    from data_access import rollups

    chosen = rollups.plan(engine, schema, filters)
    return not rollups.facts_answer(chosen)


def level_source(level: str, filters: Filters, schema: Schema, dialect: str,
                 keys: Iterable[str] = ()) -> tuple[str, dict]:
    """The FROM clause (table or subquery) that the aggregates of ``keys`` at ``level`` read."""
    table = LEVEL_TABLES[level]
    if level == "dialogs":
        needed = [DIALOG_COLUMNS[k] for k in keys if k in DIALOG_COLUMNS]
        subquery, params = dialogs_subquery(filters, schema, dialect, needed)
        return f"({subquery}) dialogs", params
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
    from data_access import rollups

    chosen = None
    if "messages" in by_level or "dialogs" in by_level:
        chosen = rollups.active_plan(filters) or rollups.plan(engine, schema, filters)
    for level, items in by_level.items():
        if level == "messages":
            with rollups.planned(chosen, "compute"):
                results.update(_message_kpis(engine, chosen, schema, items))
            continue
        built = {item.key: item.build(dialect) for item in items}
        if level == "dialogs" and chosen is not None and rollups.facts_answer(chosen):
            with rollups.planned(chosen, "compute"):
                row = _rolled_dialog_row(engine, chosen, schema, built)
        elif level in ROLLED_HOURS and (kept := service_rollups.plan(ROLLED_HOURS[level][0], engine, schema,
                                                                      filters)).rolled:
            with rollups.planned(kept, "compute"):
                row = _rolled_hours_row(engine, kept, schema, level, built)
        elif level == "system" and (samples := service_rollups.plan(service_rollups.SYSTEM, engine, schema,
                                                                    filters)).rolled:
            with rollups.planned(samples, "compute"):
                row = _rolled_system_row(engine, samples, schema, built)
        else:
            select = ", ".join(f"{expr} AS {key}__{name}"
                               for key, agg in built.items() for name, expr in agg.columns.items())
            with (rollups.planned(chosen, "compute") if chosen else contextlib.nullcontext()):
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


def _message_kpis(engine: sa.Engine, chosen, schema: Schema, items: list[Kpi]) -> dict[str, KpiValue]:
    """The message-level KPIs of ``items``: their formulas' sums of measures over the rolled-up
    hours and the raw rows of ``chosen`` in one statement (the raw path is the same statement over
    a plan with no rolled-up hours), and a percentile exact from the raw rows or from the latency
    histogram of the rolled-up hours."""
    from data_access import rollups

    dialect = engine.dialect.name
    needed = tuple(dict.fromkeys(m for item in items for m in item.formula.measures))
    source = rollups.message_source(chosen, schema, dialect, names=needed, daily=True, by_dimension=False)
    select = ", ".join(f"{expr} AS {name}" for item in items
                       for name, expr in item.formula.columns(f"{item.key}__").items())
    row = sql.read_row(engine, f"SELECT {select} FROM ({source.text}) m", source.params)
    results = {}
    for item in items:
        if isinstance(item.formula, catalogue.Percentile):
            row[f"{item.key}__percentile"] = percentile(engine, chosen, schema, item.formula.fraction)
        value, n, ignored = item.formula.value(row, f"{item.key}__")
        results[item.key] = KpiValue(item.key, value, n, ignored, None if value is not None else NO_DATA)
    return results


def percentile(engine: sa.Engine, chosen, schema: Schema, fraction: float) -> float | None:
    """A percentile of the response times of ``chosen``'s rows: exact where it reads raw rows only,
    else from the latency histogram (within ``rollups.LATENCY_RELATIVE_ERROR``)."""
    from data_access import rollups

    read = rollups.percentiles(engine, chosen, schema, {}, {"p": fraction}, daily=True)
    return None if read.empty or read["p"].isna().iloc[0] else float(read["p"].iloc[0])


# The dialog KPIs over the rolled-up dialog statistics (data_access.rollups.dialog_stats), named
# as their raw aggregates.
ROLLED_DIALOG_AGGREGATES = {
    "dialogs": {"n": "SUM(dialogs)"},
    "conversion_rate": {"hit": "SUM(converted)", "n": "SUM(dialogs)"},
    "escalation_rate": {"hit": "SUM(escalated)", "n": "SUM(dialogs)"},
    "median_resolution_time": {"n": "SUM(resolved)"},  # the median: the resolution-time histogram
    "repeat_contact_rate": {"hit": "SUM(repeats)", "n": "SUM(dialogs)"},
}


def _rolled_dialog_row(engine: sa.Engine, chosen, schema: Schema, built: dict[str, Aggregates]) -> dict:
    from data_access import rollups

    dialect = engine.dialect.name
    row: dict = {}
    # The repeats need the facts' previous dialogs, which a first build sets at its end.
    repeats = "repeat_contact_rate" in built and not chosen.building
    rolled = [key for key in built if key in ROLLED_DIALOG_AGGREGATES and (key != "repeat_contact_rate" or repeats)]
    if rolled:
        source = rollups.dialog_stat_source(chosen, schema, dialect, repeats=repeats, daily=True, by_dimension=False)
        select = ", ".join(f"COALESCE({expr}, 0) AS {key}__{name}"
                           for key in rolled for name, expr in ROLLED_DIALOG_AGGREGATES[key].items())
        row.update(sql.read_row(engine, f"SELECT {select} FROM ({source.text}) s", source.params))
    if "median_resolution_time" in built:
        median = rollups.histogram_percentiles(engine, rollups.resolution_source(chosen, schema, dialect), {},
                                               {"median": 0.5}, scale=0.001)
        row["median_resolution_time__median"] = None if median.empty else median["median"].iloc[0]
    if "repeat_contact_rate" in built and not repeats:  # per dialog
        repeat = built["repeat_contact_rate"]
        source, params = level_source("dialogs", chosen.filters, schema, dialect, ["repeat_contact_rate"])
        select = ", ".join(f"{expr} AS repeat_contact_rate__{name}" for name, expr in repeat.columns.items())
        row.update(sql.read_row(engine, f"SELECT {select} FROM {source}", params))
    return row


def compute_one(engine: sa.Engine, schema: Schema, filters: Filters, key: str) -> KpiValue:
    """The single KPI ``key`` over ``filters`` (see ``compute``)."""
    return compute(engine, schema, filters, [key])[key]
