"""The contract's KPIs: one function each, whose docstring is the definition shown on the page.

A KPI function returns the SQL aggregates it needs and how to turn their values into a
``KpiValue``; ``compute`` runs every requested KPI of one level (messages, dialogs, NPS
responses, system samples, health checks) in a single statement, so a page that shows ten
tiles scans each table once per period.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa

from data_access import logs, service_rollups, sql
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


@dataclass(frozen=True)
class Aggregates:
    """Named SQL aggregate expressions, and a function from their values to ``(value, n, ignored)``."""

    columns: dict[str, str]
    finish: Callable[[dict], tuple]


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str  # the contract's tile label (English)
    level: str
    unit: str  # count, percent, rating, ms, money, rps, nps, seconds
    requires: tuple[str, ...]  # "table.column" the KPI cannot do without
    build: Callable[[str], Aggregates] = field(repr=False)
    higher_is_better: bool | None = True
    meaning: str = ""  # what the number tells, in a manager's words (the tile's help; docs/contract.md)

    @property
    def definition(self) -> str:
        """The first paragraph of the KPI function's docstring."""
        return inspect.getdoc(self.build).split("\n\n")[0].replace("\n", " ")

    def tracked(self, schema: Schema) -> bool:
        return all(schema.has(*need.split(".", 1)) for need in self.requires)


KPIS: dict[str, Kpi] = {}

LEVEL_TABLES = {"messages": CM, "dialogs": CM, "nps": "nps_responses",
                "system": "system_metrics", "health": "service_health"}


def kpi(key: str, label: str, level: str, unit: str, requires: Iterable[str] = (),
        higher_is_better: bool | None = True, *, meaning: str):
    """Register a KPI function under ``key``: ``meaning`` says what it tells in a manager's words,
    the function's docstring defines it precisely (column names and all)."""
    table = LEVEL_TABLES[level]

    def register(build: Callable[[str], Aggregates]):
        needs = tuple(r if "." in r else f"{table}.{r}" for r in requires) or (f"{table}.timestamp",)
        KPIS[key] = Kpi(key, label, level, unit, needs, build, higher_is_better, meaning)
        return build

    return register


def share(part, whole) -> float | None:
    """100 × part / whole, or None when whole is 0."""
    return None if not whole else 100.0 * float(part) / float(whole)


# --- messages: one row per conversation_metrics row ------------------------------------------

@kpi("messages", "Messages", "messages", "count",
     meaning="Answers the bot sent.")
def message_count(dialect: str) -> Aggregates:
    """Number of conversation_metrics rows (answers the AI sent)."""
    return Aggregates({"n": "COUNT(*)"}, lambda r: (r["n"], r["n"], 0))


def valid_rows(valid: str) -> dict[str, str]:
    """``counted``: rows where the condition ``valid`` holds; ``bad``: non-NULL rows where it fails
    (the rows a KPI ignores for values outside the contract's range)."""
    return {"counted": f"SUM(CASE WHEN {valid} THEN 1 ELSE 0 END)",
            "bad": f"SUM(CASE WHEN NOT ({valid}) THEN 1 ELSE 0 END)"}


def valid_mean(column: str, valid: str) -> Aggregates:
    """The mean of ``column`` over the rows where ``valid`` holds."""
    return Aggregates(
        {"total": f"SUM(CASE WHEN {valid} THEN {column} ELSE 0 END)", **valid_rows(valid)},
        lambda r: (None if not r["counted"] else float(r["total"]) / float(r["counted"]),
                   r["counted"], r["bad"]))


RATED = '"satisfaction_score" BETWEEN 1 AND 5'
TIMED = '"response_time_ms" >= 0'


@kpi("csat", "CSAT", "messages", "percent", ["satisfaction_score"],
     meaning="Share of customer ratings that are 4 or 5 stars.")
def csat_top2_share(dialect: str) -> Aggregates:
    """% of ratings that are 4 or 5, among non-NULL satisfaction_score (top-2 box).

    Scores outside 1..5 are ignored and counted."""
    return Aggregates(
        {"top2": 'SUM(CASE WHEN "satisfaction_score" IN (4, 5) THEN 1 ELSE 0 END)', **valid_rows(RATED)},
        lambda r: (share(r["top2"], r["counted"]), r["counted"], r["bad"]))


@kpi("avg_rating", "Avg rating", "messages", "rating", ["satisfaction_score"],
     meaning="The customers' average rating, out of 5 stars.")
def average_rating(dialect: str) -> Aggregates:
    """Mean of non-NULL satisfaction_score, on a 1–5 scale.

    Scores outside 1..5 are ignored and counted."""
    return valid_mean('"satisfaction_score"', RATED)


@kpi("avg_response_time", "Avg AI response time", "messages", "ms", ["response_time_ms"],
     higher_is_better=False,
     meaning="How long the bot takes to write an answer, on average.")
def mean_response_time_ms(dialect: str) -> Aggregates:
    """Mean response_time_ms (AI generation time).

    Negative times are ignored and counted."""
    return valid_mean('"response_time_ms"', TIMED)


@kpi("p95_response_time", "p95 AI response time", "messages", "ms", ["response_time_ms"],
     higher_is_better=False,
     meaning="95 of every 100 answers are ready within this time; the slowest 5 % take longer.")
def p95_response_time_ms(dialect: str) -> Aggregates:
    """95th percentile of response_time_ms, linear interpolation (PostgreSQL percentile_cont);
    within 1 % where read from the hourly rollups.

    Negative times are ignored and counted."""
    return Aggregates(
        {"p95": sql.percentile(f'CASE WHEN {TIMED} THEN "response_time_ms" END', 0.95, dialect),
         **valid_rows(TIMED)},
        lambda r: (None if r["p95"] is None else float(r["p95"]), r["counted"], r["bad"]))


@kpi("intent_accuracy", "Intent accuracy", "messages", "percent", ["expected_intent", "intent"],
     meaning="How often the bot understood what the customer wanted, checked on messages a person labelled.")
def intent_accuracy_share(dialect: str) -> Aggregates:
    """% of rows with expected_intent not NULL where intent = expected_intent (the labelled sample)."""
    return Aggregates(
        {"hits": 'SUM(CASE WHEN "intent" = "expected_intent" THEN 1 ELSE 0 END)',
         "labelled": 'COUNT("expected_intent")'},
        lambda r: (share(r["hits"], r["labelled"]), r["labelled"], 0))


@kpi("helpful_answers", "Helpful answers", "messages", "percent", ["helpful"],
     meaning="Share of thumbs up among the customers' thumbs up and down on answers.")
def helpful_share(dialect: str) -> Aggregates:
    """% of non-NULL helpful (the customer's thumbs up/down) that are true."""
    return Aggregates(
        {"up": "SUM(" + sql.flag('"helpful"') + ")", "voted": 'COUNT("helpful")'},
        lambda r: (share(r["up"], r["voted"]), r["voted"], 0))


@kpi("tokens", "Tokens", "messages", "count", ["tokens_used"], higher_is_better=None,
     meaning="How much text the AI models read and wrote, in tokens (what they are billed by).")
def tokens_sum(dialect: str) -> Aggregates:
    """Sum of tokens_used. Negative counts are ignored and counted."""
    valid = '"tokens_used" >= 0'
    return Aggregates(
        {"total": f'SUM(CASE WHEN {valid} THEN "tokens_used" ELSE 0 END)', **valid_rows(valid)},
        lambda r: (None if not r["counted"] else int(r["total"]), r["counted"], r["bad"]))


@kpi("cost", "Cost", "messages", "money", ["cost_usd"], higher_is_better=False,
     meaning="What the AI models cost, in US dollars.")
def cost_sum_usd(dialect: str) -> Aggregates:
    """Sum of cost_usd, in USD (exact to 1/10,000 USD). Negative, NaN and infinite costs are
    ignored and counted."""
    valid = sql.VALID_COST
    return Aggregates(
        {"total": sql.money_sum_ten_thousandths(sql.COST_OR_ZERO),
         **valid_rows(valid)},
        lambda r: (None if not r["counted"] else Decimal(int(r["total"])) / Decimal(10000),
                   r["counted"], r["bad"]))


# --- dialogs: one row per dialog (see dialogs_subquery) ---------------------------------------

@kpi("dialogs", "Dialogs", "dialogs", "count",
     meaning="Conversations with customers.")
def dialog_count(dialect: str) -> Aggregates:
    """Number of distinct dialogs (a dialog is a session_id; without one, user_id + UTC date)."""
    return Aggregates({"n": "COUNT(*)"}, lambda r: (r["n"], r["n"], 0))


@kpi("conversion_rate", "Conversion rate", "dialogs", "percent", ["converted"],
     meaning="Share of dialogs that ended in an order, a booking or a payment.")
def conversion_rate(dialect: str) -> Aggregates:
    """% of dialogs with any converted = true (ended with an order, booking or payment)."""
    return Aggregates({"hit": "SUM(converted_any)", "n": "COUNT(*)"},
                      lambda r: (share(r["hit"], r["n"]), r["n"], 0))


@kpi("escalation_rate", "Escalation rate", "dialogs", "percent", ["escalated"],
     higher_is_better=False,
     meaning="Share of dialogs the bot handed to a person.")
def escalation_rate(dialect: str) -> Aggregates:
    """% of dialogs with any escalated = true (handed to a human operator)."""
    return Aggregates({"hit": "SUM(escalated_any)", "n": "COUNT(*)"},
                      lambda r: (share(r["hit"], r["n"]), r["n"], 0))


@kpi("median_resolution_time", "Median resolution time", "dialogs", "seconds", ["resolved"],
     higher_is_better=False,
     meaning="How long it takes to solve a customer's question: half of the solved dialogs took less.")
def median_resolution_seconds(dialect: str) -> Aggregates:
    """Median over resolved dialogs of (first message with resolved = true) − (dialog start);
    within 1 % where read from the hourly rollups."""
    return Aggregates(
        {"median": sql.percentile(resolution_seconds(dialect), 0.5, dialect), "n": "COUNT(first_resolved)"},
        lambda r: (None if r["median"] is None else float(r["median"]), r["n"], 0))


@kpi("repeat_contact_rate", "Repeat contact rate", "dialogs", "percent", ["user_id"],
     higher_is_better=False,
     meaning="Share of dialogs from customers who had already written in the week before: often a sign the first answer did not help.")
def repeat_contact_rate(dialect: str) -> Aggregates:
    """% of dialogs whose user started another dialog in the 7 days before, within the filtered rows."""
    return Aggregates({"hit": f"SUM({repeat_flag(dialect)})", "n": "COUNT(*)"},
                      lambda r: (share(r["hit"], r["n"]), r["n"], 0))


REPEAT_WINDOW_SECONDS = 7 * 24 * 3600


def repeat_flag(dialect: str) -> str:
    """1 for a dialog (row of ``dialogs_subquery`` with ``previous_started``) that is a repeat contact."""
    gap = sql.seconds_between("started", "previous_started", dialect)
    return f"(CASE WHEN previous_started IS NOT NULL AND {gap} <= {REPEAT_WINDOW_SECONDS} THEN 1 ELSE 0 END)"


def resolution_seconds(dialect: str) -> str:
    """Seconds from a dialog's start to its first resolved message (NULL if never resolved)."""
    return sql.seconds_between("first_resolved", "started", dialect)


# --- NPS responses ---------------------------------------------------------------------------

@kpi("nps", "NPS", "nps", "nps", ["score"],
     meaning="Would customers recommend us: the share of promoters (9–10) minus that of detractors (0–6), from −100 to 100.")
def net_promoter_score(dialect: str) -> Aggregates:
    """% of nps_responses with score 9–10 minus % with 0–6 (−100..100).

    Scores outside 0..10 are ignored and counted."""
    return Aggregates(
        {"promoters": 'SUM(CASE WHEN "score" BETWEEN 9 AND 10 THEN 1 ELSE 0 END)',
         "detractors": 'SUM(CASE WHEN "score" BETWEEN 0 AND 6 THEN 1 ELSE 0 END)',
         **valid_rows('"score" BETWEEN 0 AND 10')},
        lambda r: (None if not r["counted"] else
                   100.0 * (float(r["promoters"]) - float(r["detractors"])) / float(r["counted"]),
                   r["counted"], r["bad"]))


# --- system samples: one row per sample timestamp (summed over services) -----------------------

@kpi("avg_rps", "Avg RPS", "system", "rps", ["requests"], higher_is_better=None,
     meaning="Requests per second the services handled, on average.")
def average_rps(dialect: str) -> Aggregates:
    """sum(requests) / (number of distinct sample timestamps × 60)."""
    return Aggregates({"req": "SUM(requests)", "samples": "COUNT(*)"},
                      lambda r: (None if not r["samples"] else
                                 float(r["req"] or 0) / (r["samples"] * 60.0), r["samples"], 0))


@kpi("peak_rps", "Peak RPS", "system", "rps", ["requests"], higher_is_better=None,
     meaning="Requests per second in the busiest minute.")
def peak_rps(dialect: str) -> Aggregates:
    """max over sample timestamps of sum(requests) / 60."""
    return Aggregates({"peak": "MAX(requests)", "samples": "COUNT(*)"},
                      lambda r: (None if r["peak"] is None else float(r["peak"]) / 60.0,
                                 r["samples"], 0))


@kpi("error_rate", "Error rate", "system", "percent", ["requests", "errors"],
     higher_is_better=False,
     meaning="Share of requests that failed.")
def error_rate(dialect: str) -> Aggregates:
    """100 × sum(errors) / sum(requests)."""
    return Aggregates({"err": "SUM(errors)", "req": "SUM(requests)"},
                      lambda r: (share(r["err"] or 0, r["req"]), int(r["req"] or 0), 0))


@kpi("active_sessions", "Active sessions", "system", "count", ["active_sessions"],
     higher_is_better=None,
     meaning="Customers in a conversation at the latest measurement.")
def active_sessions_latest(dialect: str) -> Aggregates:
    """Sum of active_sessions at the latest sample timestamp in range."""
    return Aggregates(
        {"latest": 'SUM(CASE WHEN "timestamp" = latest_sample THEN active_sessions END)',
         "samples": "COUNT(*)"},
        lambda r: (None if r["latest"] is None else int(r["latest"]), r["samples"], 0))


RESOURCES = ("cpu", "memory", "disk")


def latest_resource(name: str) -> Aggregates:
    return Aggregates(
        {"latest": f'MAX(CASE WHEN "timestamp" = latest_sample THEN {name} END)', "samples": "COUNT(*)"},
        lambda r: (None if r["latest"] is None else float(r["latest"]), r["samples"], 0))


@kpi("cpu", "CPU", "system", "percent", ["cpu_percent"], higher_is_better=False,
     meaning="The busiest service's processor use at the latest measurement.")
def cpu_latest_max(dialect: str) -> Aggregates:
    """The highest cpu_percent across services at the latest sample timestamp in range."""
    return latest_resource("cpu")


@kpi("memory", "Memory", "system", "percent", ["memory_percent"], higher_is_better=False,
     meaning="The fullest service's memory use at the latest measurement.")
def memory_latest_max(dialect: str) -> Aggregates:
    """The highest memory_percent across services at the latest sample timestamp in range."""
    return latest_resource("memory")


@kpi("disk", "Disk", "system", "percent", ["disk_percent"], higher_is_better=False,
     meaning="The fullest service's disk use at the latest measurement.")
def disk_latest_max(dialect: str) -> Aggregates:
    """The highest disk_percent across services at the latest sample timestamp in range."""
    return latest_resource("disk")


# --- health checks -----------------------------------------------------------------------------

@kpi("uptime", "Uptime", "health", "percent", ["status"],
     meaning="Share of health checks in which the services answered (slow answers count as up).")
def uptime_share(dialect: str) -> Aggregates:
    """% of service_health checks with status 'up' or 'degraded'.

    Checks with an unknown status are ignored and counted."""
    s = '"status"'
    return Aggregates(
        {"ok": f"SUM(CASE WHEN {s} IN ('up', 'degraded') THEN 1 ELSE 0 END)",
         "n": f"SUM(CASE WHEN {s} IN ('up', 'degraded', 'down') THEN 1 ELSE 0 END)",
         "bad": f"SUM(CASE WHEN {s} IN ('up', 'degraded', 'down') THEN 0 ELSE 1 END)"},
        lambda r: (share(r["ok"], r["n"]), r["n"], r["bad"]))


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
        built = {item.key: item.build(dialect) for item in items}
        if level == "messages" and chosen.rolled:
            with rollups.planned(chosen, "compute"):
                row = _rolled_message_row(engine, chosen, schema, built)
        elif level == "dialogs" and chosen is not None and rollups.facts_answer(chosen):
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


RATINGS = "rated_1 + rated_2 + rated_3 + rated_4 + rated_5"
# Each message-level KPI's aggregates over the rolled-up measures (data_access.rollups.MEASURES):
# the same names as its raw aggregates, so that its own ``finish`` turns them into the value.
ROLLED_MESSAGE_AGGREGATES = {
    "messages": {"n": "SUM(messages)"},
    "csat": {"top2": "SUM(rated_4 + rated_5)", "counted": f"SUM({RATINGS})", "bad": "SUM(rated_bad)"},
    "avg_rating": {"total": "SUM(rated_1 + 2 * rated_2 + 3 * rated_3 + 4 * rated_4 + 5 * rated_5)",
                   "counted": f"SUM({RATINGS})", "bad": "SUM(rated_bad)"},
    "avg_response_time": {"total": "SUM(time_sum)", "counted": "SUM(timed)", "bad": "SUM(timed_bad)"},
    "p95_response_time": {"counted": "SUM(timed)", "bad": "SUM(timed_bad)"},  # p95: the histogram
    "intent_accuracy": {"hits": 'SUM(CASE WHEN "intent" = "expected_intent" THEN messages ELSE 0 END)',
                        "labelled": 'SUM(CASE WHEN "expected_intent" IS NOT NULL THEN messages ELSE 0 END)'},
    "helpful_answers": {"up": "SUM(helpful_up)", "voted": "SUM(voted)"},
    "tokens": {"total": "SUM(tokens_sum)", "counted": "SUM(tokens_counted)", "bad": "SUM(tokens_bad)"},
    "cost": {"total": "SUM(cost_e4)", "counted": "SUM(cost_counted)", "bad": "SUM(cost_bad)"},
}


def _rolled_message_row(engine: sa.Engine, chosen, schema: Schema, built: dict[str, Aggregates]) -> dict:
    """The message-level aggregates of ``built`` from the rollups (see ``ROLLED_MESSAGE_AGGREGATES``)."""
    from data_access import rollups

    source = rollups.message_source(chosen, schema, engine.dialect.name, daily=True,
                                    by_dimension="intent_accuracy" in built)  # its hits compare two dimensions
    select = ", ".join(f"COALESCE({expr}, 0) AS {key}__{name}"
                       for key in built for name, expr in ROLLED_MESSAGE_AGGREGATES[key].items())
    row = sql.read_row(engine, f"SELECT {select} FROM ({source.text}) m", source.params)
    if "p95_response_time" in built:
        p95 = rollups.percentiles(engine, chosen, schema, {}, {"p95": 0.95}, daily=True)
        row["p95_response_time__p95"] = None if p95.empty else p95["p95"].iloc[0]
    return row


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
