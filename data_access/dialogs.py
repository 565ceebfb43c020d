"""Dialogs as facts: one row per dialog, made from all its messages, counted where it starts.

A dialog's facts (``FACTS``): its start and end, user, the least and greatest platform, intent and
model among its messages (``segment``), when it was first resolved, whether it converted or escalated, its cost and messages, and the starts of
the same user's dialogs before and after it. A range's dialogs are those that start in it; a
platform, intent or model filter keeps those with at least one message of that value (the values a
dialog touches). Every dialog KPI, trend and breakdown sums the catalogue's dialog measures
(``catalogue.dialog_measures``) over those dialogs.

Two sources give the same rows:

- the reference (``kept`` False: no usable rollups, a first build, late rows pending, or
  ``plans.raw_reference``): the facts grouped from all the raw rows on the fly;
- the kept facts (``rollup_dialog_facts`` and ``rollup_dialog_touches``, made by the rollups'
  refresh), with the tail: the dialogs with rows after the watermark, and the dialogs of their
  users that may have a new neighbour, made again from their kept facts and those rows.

``sums`` adds, where it can, the measures' sums per start hour (``rollup_dialog_hours``, per UTC
day ``rollup_dialog_daily``, per value ``rollup_dialog_values``): the whole hours of the range read
from them, less the tail's kept facts, plus the tail and the facts of the range's partial hours.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import sqlalchemy as sa

from data_access import catalogue, late_rows, rollups, sources, sql
from data_access.catalogue import CM, YOUNG, dialog_measures
from data_access.aggregates import sql_type
from data_access.filters import DIMENSIONS as FILTER_DIMENSIONS, bind_timestamp
from data_access.plans import Plan
from data_access.rollups import ALL, DIALOG_DAILY, DIALOG_HOURS, DIALOG_VALUES, FACTS, RESOLUTION, TOUCHES
from data_access.sources import Source
from data_access.schema import Schema

if TYPE_CHECKING:
    import pandas as pd

FACT_COLUMNS = ("dialog", "started", "last_seen", "user_id", *rollups.DIALOG_VALUE_COMBINE, "first_resolved",
                "converted_any", "escalated_any", "cost_e4", "messages", "lowest_rating", "previous_started",
                "next_started")
# The filter fields and dimensions a dialog can touch: Filters field → column.
TOUCHED = FILTER_DIMENSIONS[CM]
# ``rows(lists=True)``: each dimension's values a dialog touches, as one comma-separated column.
LISTS = {"platforms": "platform", "intents": "intent", "ai_models": "ai_model"}
WEEK = timedelta(seconds=catalogue.REPEAT_WINDOW_SECONDS)


def now() -> datetime:
    """The clock (naive UTC) that tells a young dialog (``young_since``)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def young_since() -> datetime:
    """Dialogs that start at or after this (a week before the current hour) are young: whether
    their user comes back within the week is not known yet."""
    return rollups.floor_hour(now()) - WEEK


def kept(plan: Plan) -> bool:
    """Whether the kept facts answer for ``plan``: rollups usable, no first build running and no
    late rows pending (a late row can change a dialog of any earlier start)."""
    return plan.watermark is not None and not plan.building and not plan.dirty


def _filtered(plan: Plan, schema: Schema) -> dict[str, tuple[str, ...]]:
    """The filtered dimensions the database has: column → values."""
    return {column: tuple(getattr(plan.filters, field)) for field, column in TOUCHED.items()
            if getattr(plan.filters, field) and schema.has(CM, column)}


def _bounds(plan: Plan, dialect: str, params: dict) -> None:
    lo, hi = plan.filters.utc_bounds()
    params.update({"dl_lo": bind_timestamp(lo, dialect), "dl_hi": bind_timestamp(hi, dialect),
                   "young_since": bind_timestamp(young_since(), dialect)})


def _distinct_list(value: str, dialect: str) -> str:
    """The aggregate of the distinct non-NULL ``value``s, comma-separated (in no set order)."""
    if dialect == "postgresql":
        return f"string_agg(DISTINCT {value}, ',')"
    return f"group_concat(DISTINCT {value})"


def _values(prefix: str, values: tuple[str, ...], params: dict) -> str:
    names = [f"{prefix}_{i}" for i in range(len(values))]
    params.update(zip(names, values))
    return ", ".join(f":{n}" for n in names)


# --- the reference: the facts grouped from the raw rows -------------------------------------------

def raw_facts(schema: Schema, dialect: str, filtered: dict[str, tuple[str, ...]], params: dict,
              where: str = "") -> str:
    """Every dialog's facts from all the raw rows (``where``: those rows only), with
    ``hit_<column>`` (1 where the dialog has a message of a filtered value) per filtered column."""
    parts = rollups.dialog_part_columns(schema, dialect)
    dims = rollups._columns_present(schema)
    combined = [f"{how}({parts[c]}) AS {c}" for c, how in rollups.DIALOG_PART_COMBINE.items()]
    combined += [f"{how}({dims[d]}) AS {c}" for c, (how, d) in rollups.DIALOG_VALUE_COMBINE.items()]
    combined += [f"{_distinct_list(sql.index_key(dims[c], dialect), dialect)} AS {name}" for name, c in LISTS.items()]
    combined += [f"MAX(CASE WHEN {dims[c]} IN ({_values(f'dl_raw_{c}', v, params)}) THEN 1 ELSE 0 END) AS hit_{c}"
                 for c, v in filtered.items()]
    return catalogue.with_neighbours(
        f"SELECT {parts['dialog']} AS dialog, {', '.join(combined)} FROM {CM} {where} GROUP BY 1", dialect)


def _raw_rows(plan: Plan, schema: Schema, dialect: str, columns: dict[str, str], by: str | None,
              params: dict, lists: bool = False, narrowed: str = "") -> str:
    filtered = _filtered(plan, schema)
    facts = raw_facts(schema, dialect, filtered, params)
    hits = "".join(f" AND f.hit_{c} = 1" for c in filtered) + narrowed
    if lists:
        columns = {**columns, **{name: f"f.{name}" for name in LISTS}}
    select = ", ".join(f"{expr} AS {name}" for name, expr in columns.items())
    where = f"WHERE f.started >= :dl_lo AND f.started < :dl_hi{hits}"
    if by is None:
        return f"SELECT {select} FROM ({facts}) f {where}"
    key = rollups.dialog_part_columns(schema, dialect)["dialog"]
    value = sql.index_key(rollups._columns_present(schema)[by], dialect)  # as the touches hold it
    touched = f"SELECT DISTINCT {key} AS dialog, {value} AS value FROM {CM}"
    return f"SELECT {select}, x.value AS value FROM ({facts}) f JOIN ({touched}) x ON x.dialog = f.dialog {where}"


# --- the kept facts and the tail ------------------------------------------------------------------

def _tail(plan: Plan, schema: Schema, dialect: str, params: dict, then: str = "") -> str:
    """The WITH clauses of the tail: ``tail_rows`` (the raw rows after the watermark as dialog
    parts), ``fresh`` (the facts, made again, of their dialogs, and of the other dialogs their users
    started in the week before the watermark whose neighbours they move) and ``fresh_touches``
    (the values those dialogs touch); ``then``, more clauses that read them. The users' dialogs of
    that week are placed among the tail's by their keys and starts alone, read from the facts'
    user index; only those whose neighbours move are read whole."""
    params.update({"dl_wm": bind_timestamp(plan.watermark, dialect),
                   "dl_week": bind_timestamp(plan.watermark - WEEK, dialect)})
    parts = rollups.dialog_part_columns(schema, dialect)
    dims = rollups._columns_present(schema)
    combine = rollups.DIALOG_PART_COMBINE
    values = rollups.DIALOG_VALUE_COMBINE
    part_names = ["dialog", *combine, *values]
    # The tail's numbers in the kept facts' own types: a UNION ALL of branches of one type lets the
    # database push a reader's condition on them (an outcome, a rating) into each branch.
    typed = {c.name: sql_type(c, dialect, "") for c in rollups.KEPT_DIALOG_PARTS.measures
             if c.type in ("SMALLINT", "INTEGER", "BIG")}
    cast = lambda expr, c: f"CAST({expr} AS {typed[c]})" if c in typed else expr  # noqa: E731
    raw = ", ".join([*(f"{cast(parts[c], c)} AS {c}" for c in ["dialog", *combine]),
                     *(f"{dims[d]} AS {c}" for c, (_, d) in values.items())])
    grouped = ", ".join([*(f"{cast(f'{how}({c})', c)} AS {c}" for c, how in combine.items()),
                         *(f"{how}({c}) AS {c}" for c, (how, _) in values.items())])
    base = [c for c in FACT_COLUMNS if c not in ("previous_started", "next_started")]
    touched = " UNION ".join(f"SELECT dialog, '{c}' AS dimension, {sql.index_key(c, dialect)} AS value FROM tail_rows"
                             for c in rollups.DIALOG_DIMENSIONS)
    moved = " OR ".join(f"({sql.distinct_from(f'p.{c}', f'p.kept_{k}', dialect)})"
                        for c, k in (("previous_started", "previous"), ("next_started", "next")))
    fresh_of = lambda table: (f"SELECT {', '.join(f'f.{c}' for c in base)}, p.previous_started, "  # noqa: E731
                              f"p.next_started FROM placed p JOIN {table} f ON f.dialog = p.dialog")
    return (f"WITH tail_rows AS (SELECT {raw} FROM {CM} WHERE {sql.TS} >= :dl_wm), "
            f"tail_facts AS (SELECT dialog, {grouped} FROM (SELECT {', '.join(part_names)} FROM tail_rows "
            f"UNION ALL SELECT {', '.join(part_names)} FROM {FACTS} WHERE dialog IN (SELECT dialog FROM tail_rows)) p "
            f"GROUP BY dialog), "
            f"neighbours AS (SELECT dialog, user_id, started, previous_started AS kept_previous, "
            f"next_started AS kept_next, 0 AS in_tail FROM {FACTS} WHERE user_id IN (SELECT user_id FROM tail_facts) "
            f"AND started >= :dl_week AND dialog NOT IN (SELECT dialog FROM tail_facts) "
            f"UNION ALL SELECT t.dialog, t.user_id, t.started, k.previous_started, k.next_started, 1 "
            f"FROM tail_facts t LEFT JOIN {FACTS} k ON k.dialog = t.dialog), "
            f"placed AS (SELECT dialog, in_tail, kept_previous, kept_next, CASE WHEN user_id IS NOT NULL THEN "
            f"COALESCE(previous_started, kept_previous) END AS previous_started, CASE WHEN user_id IS NOT NULL THEN "
            f"COALESCE(next_started, kept_next) END AS next_started "
            f"FROM ({catalogue.with_neighbours('SELECT * FROM neighbours', dialect)}) n), "
            f"fresh AS ({fresh_of('tail_facts')} WHERE p.in_tail = 1 UNION ALL {fresh_of(FACTS)} WHERE p.in_tail = 0 "
            f"AND ({moved})), "
            f"fresh_touches AS (SELECT dialog, dimension, value FROM {TOUCHES} "
            f"WHERE dialog IN (SELECT dialog FROM fresh) UNION {touched}){', ' + then if then else ''} ")


def _touch_filter(filtered: dict[str, tuple[str, ...]], table: str, params: dict, ranged: bool,
                  rated: bool = False) -> str:
    """`` AND …``: the dialog (``f``) touches a value of each filtered column, by ``table``;
    ``ranged``: by the touches' own start (the kept touches), ``rated``: and their own lowest
    rating (``:dl_rated``), so that the rated dialogs of a value are found by the touches' index."""
    clauses = []
    for column, values in filtered.items():
        ranged_sql = " AND dialog_started >= :dl_lo AND dialog_started < :dl_hi" if ranged else ""
        rated_sql = " AND lowest_rating <= :dl_rated" if rated else ""
        clauses.append(f" AND f.dialog IN (SELECT dialog FROM {table} WHERE dimension = '{column}' "
                       f"AND value IN ({_values(f'dl_{table}_{column}', values, params)}){ranged_sql}{rated_sql})")
    return "".join(clauses)


def _with_lists(text: str, dialect: str) -> str:
    """``text``'s rows (kept and fresh dialogs, with ``dialog``) with ``LISTS``' columns, read from
    the tail's touches for a fresh dialog and from the kept ones for the others. Outside the
    union, so that a reader that keeps a few rows (ordered, limited) looks up only theirs."""
    def listed(touches: str, column: str) -> str:
        return (f"(SELECT {_distinct_list('x.value', dialect)} FROM {touches} x WHERE x.dialog = r.dialog "
                f"AND x.dimension = '{column}')")
    lists = ", ".join(f"CASE WHEN r.dialog IN (SELECT dialog FROM fresh) THEN {listed('fresh_touches', column)} "
                      f"ELSE {listed(TOUCHES, column)} END AS {name}" for name, column in LISTS.items())
    return f"SELECT r.*, {lists} FROM ({text}) r"


def _kept_rows(plan: Plan, schema: Schema, columns: dict[str, str], by: str | None, params: dict,
               facts_where: list[str], narrowed: tuple[str, str] = ("", ""), rated: bool = False) -> str:
    """The kept facts (``f``) not remade by the tail, ``facts_where`` (start conditions, OR'd as
    separate SELECTs), then the tail's fresh facts of the range: ``columns`` (with ``value`` per
    touched value of ``by``). ``narrowed``: more conditions on the kept facts and on the fresh ones;
    ``rated``: they keep the dialogs rated ``:dl_rated`` or less (see ``_touch_filter``)."""
    filtered = _filtered(plan, schema)
    select = ", ".join(f"{expr} AS {name}" for name, expr in columns.items())
    select_kept = select_fresh = select
    join_kept = join_fresh = ""
    if by is not None:
        select_kept += ", x.value AS value"
        select_fresh += ", x.value AS value"
        join_kept = f" JOIN {TOUCHES} x ON x.dialog = f.dialog AND x.dimension = '{by}'"
        join_fresh = f" JOIN fresh_touches x ON x.dialog = f.dialog AND x.dimension = '{by}'"
    kept_filter = _touch_filter(filtered, TOUCHES, params, True, rated)
    selects = [f"SELECT {select_kept} FROM {FACTS} f{join_kept} WHERE {where} "
               f"AND f.dialog NOT IN (SELECT dialog FROM fresh){kept_filter}{narrowed[0]}" for where in facts_where]
    selects.append(f"SELECT {select_fresh} FROM fresh f{join_fresh} WHERE f.started >= :dl_lo AND f.started < :dl_hi"
                   f"{_touch_filter(filtered, 'fresh_touches', params, False)}{narrowed[1]}")
    return " UNION ALL ".join(selects)


# --- what readers take ----------------------------------------------------------------------------

def _allowed(by: str | None) -> None:
    """KeyError for a ``by`` that is not a dialog dimension (it is written into the SQL)."""
    if by is not None and by not in rollups.DIALOG_DIMENSIONS:
        raise KeyError(by)


def rows(plan: Plan, schema: Schema, dialect: str, columns: dict[str, str] | None = None,
         by: str | None = None, lists: bool = False, repeats_only: bool = False,
         users: list[str] | None = None, rated_at_most: int | None = None) -> Source:
    """One row per dialog that starts in the range and touches the filters' values: ``columns``
    (name → SQL over its facts, default every fact) and, with ``by`` (platform, intent or
    ai_model), ``value``: one row per value of it the dialog touches. ``lists`` adds ``LISTS``:
    the values of each dimension the dialog touches, comma-separated (in no set order).
    ``repeats_only`` keeps the repeat contacts (the kept facts' by their ``repeat`` index),
    ``users`` the dialogs of those users (by the user index), ``rated_at_most`` those with a rating
    of that many stars or fewer (by the rated index, or the touches' where a filter names values)."""
    _allowed(by)
    columns = columns or {c: f"f.{c}" for c in FACT_COLUMNS}
    params: dict = {}
    _bounds(plan, dialect, params)
    flag = f" AND {catalogue.repeat_flag(dialect)} = 1" if repeats_only else ""
    chosen = f" AND f.user_id IN ({_values('dl_user', tuple(users), params) or 'NULL'})" if users is not None else ""
    if rated_at_most is not None:
        chosen += " AND f.lowest_rating <= :dl_rated"
        params["dl_rated"] = int(rated_at_most)
    if not kept(plan):
        return Source(_raw_rows(plan, schema, dialect, columns, by, params, lists, flag + chosen), params)
    narrowed = ((" AND f.repeat = 1" if repeats_only else "") + chosen, flag + chosen)
    text = _kept_rows(plan, schema, columns, by, params, ["f.started >= :dl_lo AND f.started < :dl_hi"], narrowed,
                      rated_at_most is not None)
    return Source(_tail(plan, schema, dialect, params) + (_with_lists(text, dialect) if lists else text), params)


def newest(plan: Plan, schema: Schema, dialect: str, columns: dict[str, str], limit: int, lists: bool = False,
           rated_at_most: int | None = None) -> Source:
    """``rows``' rows (``columns`` must name the dialog's ``dialog`` and ``started``), but only the
    ``limit`` that start last (then by dialog), with ``total``: how many dialogs there are in all.
    From the kept facts, the dialogs are ranked by their keys alone, read from an index (the
    touches' of the first filtered dimension, with their own start and rating, or the facts'), and
    only the chosen ones' facts and ``LISTS`` are read."""
    params: dict = {}
    _bounds(plan, dialect, params)
    chosen = ""
    if rated_at_most is not None:
        chosen = " AND f.lowest_rating <= :dl_rated"
        params["dl_rated"] = int(rated_at_most)
    if not kept(plan):
        text = _raw_rows(plan, schema, dialect, columns, None, params, lists, chosen)
        return Source(f"SELECT r.*, COUNT(*) OVER () AS total FROM ({text}) r ORDER BY started DESC, dialog "
                      f"LIMIT {int(limit)}", params)
    filtered = _filtered(plan, schema)
    not_fresh = "f.dialog NOT IN (SELECT dialog FROM fresh)"
    if filtered:
        (column, values), *others = filtered.items()
        rated = " AND f.lowest_rating <= :dl_rated" if rated_at_most is not None else ""
        keys = (f"SELECT DISTINCT f.dialog, f.dialog_started AS started FROM {TOUCHES} f WHERE f.dimension = "
                f"'{column}' AND f.value IN ({_values(f'dl_key_{column}', values, params)}) AND f.dialog_started >= "
                f":dl_lo AND f.dialog_started < :dl_hi{rated} AND {not_fresh}"
                f"{_touch_filter(dict(others), TOUCHES, params, True, rated_at_most is not None)}")
    else:
        keys = f"SELECT f.dialog, f.started FROM {FACTS} f WHERE f.started >= :dl_lo AND f.started < :dl_hi{chosen} " \
               f"AND {not_fresh}"
    keys += (f" UNION ALL SELECT f.dialog, f.started FROM fresh f WHERE f.started >= :dl_lo AND f.started < :dl_hi"
             f"{_touch_filter(filtered, 'fresh_touches', params, False)}{chosen}")
    # Named apart from the facts' columns, which the catalogue's expressions name bare.
    ranked = (f"newest AS (SELECT dialog AS newest_dialog, COUNT(*) OVER () AS newest_total FROM ({keys}) k "
              f"ORDER BY started DESC, dialog LIMIT {int(limit)})")
    select = ", ".join([*(f"{expr} AS {name}" for name, expr in columns.items()), "newest_total AS total"])
    text = (f"SELECT {select} FROM newest JOIN {FACTS} f ON f.dialog = newest_dialog WHERE newest_dialog NOT IN "
            f"(SELECT dialog FROM fresh) UNION ALL SELECT {select} FROM newest JOIN fresh f ON f.dialog = newest_dialog")
    return Source(_tail(plan, schema, dialect, params, ranked) + (_with_lists(text, dialect) if lists else text), params)


def _summable(plan: Plan, schema: Schema, by: str | None) -> tuple[str, str, dict] | None:
    """Which per-hour table sums the dialogs of ``plan`` (split ``by``): (table, its WHERE, params),
    or None where none does (more than one filtered value, or a filter beside ``by``)."""
    filtered = _filtered(plan, schema)
    if not filtered:
        if by is None:
            return DIALOG_HOURS, "1 = 1", {}
        return DIALOG_VALUES, "dimension = :dl_by", {"dl_by": by}
    if by is None and len(filtered) == 1:
        (column, values), = filtered.items()
        if len(values) == 1:
            return DIALOG_VALUES, "dimension = :dl_by AND value = :dl_value", {"dl_by": column, "dl_value": values[0]}
    return None


def _hour_runs(plan: Plan, daily: bool | str) -> tuple[list, list]:
    """The runs of whole UTC days (read from rollup_dialog_daily) and of hours among the rolled-up
    hours of ``plan``: days only where they lie wholly before ``young_since`` (a day's sums would mix
    young and older dialogs)."""
    days = plan.daily_runs(daily) if daily else []
    boundary = late_rows.floor_day(young_since())
    days = [(lo, min(hi, boundary)) for lo, hi in days if lo < boundary]
    return days, plan.hourly_runs(days)


def with_young(text: str, names: tuple[str, ...], keys: str) -> str:
    """``text``'s rows (t, ``keys``, the measures) with the measures a dialog's age splits."""
    young = ", ".join(f"{expr} AS {name}" for name, expr in YOUNG.items())
    return f"SELECT t{keys}, {', '.join(names)}, {young} FROM ({text}) s"


def sums(plan: Plan, schema: Schema, dialect: str, by: str | None = None, daily: bool | str = False,
         segments: tuple[str, ...] = ()) -> Source:
    """Rows with ``t`` (a dialog's start, or an hour's or UTC day's start), ``value`` with ``by``
    (or each segment column of the dimensions ``segments``: ``rollups.dialog_segments``), the dialog measures and
    ``YOUNG``'s: summed (per ``value`` or segment), those of the dialogs that start in the range
    and touch the filters' values. ``daily``: whole UTC days from the daily table, as
    ``sources.message_source``'s (True for a reader that does not group by ``t``, else the local
    unit it groups by); hours are read from their sums where the plan rolls them up (whole-hour
    offsets, buckets an hour or longer)."""
    _allowed(by)
    measures = dialog_measures(dialect)
    names = tuple(measures)
    split = rollups.dialog_segments(segments)
    keys = ", value" if by is not None else "".join(f", {c}" for c in split)
    per_dialog = {"t": "f.started", **split, **measures}
    summable = _summable(plan, schema, by) if kept(plan) and plan.rolled else None
    if split and summable is not None:
        summable = (rollups.DIALOG_SEGMENTS, "1 = 1", {}) if summable[0] == DIALOG_HOURS else None
    if summable is None:
        source = rows(plan, schema, dialect, per_dialog, by)
        return Source(with_young(source.text, names, keys), source.params)
    table, where, params = summable
    _bounds(plan, dialect, params)
    text = _tail(plan, schema, dialect, params)
    lo, hi = plan.rolled
    params.update({"dl_a": bind_timestamp(lo, dialect), "dl_b": bind_timestamp(hi, dialect)})
    days, hours = _hour_runs(plan, daily if table == DIALOG_HOURS else False)
    parts = []
    for i, (source_table, (a, b)) in enumerate([*((DIALOG_DAILY, run) for run in days),
                                                 *((table, run) for run in hours)]):
        params.update({f"dl_run_{i}_lo": bind_timestamp(a, dialect), f"dl_run_{i}_hi": bind_timestamp(b, dialect)})
        at, condition = ("hour", where) if source_table == table else ("day", "1 = 1")
        parts.append(f"SELECT {at} AS t{keys}, {', '.join(names)} FROM {source_table} WHERE "
                     f"{condition} AND {at} >= :dl_run_{i}_lo AND {at} < :dl_run_{i}_hi")
    # The tail's dialogs as kept, taken off the hours that count them.
    filtered = _filtered(plan, schema)
    negated = ", ".join(f"-({e}) AS {n}" for n, e in measures.items())
    join = f" JOIN {TOUCHES} x ON x.dialog = f.dialog AND x.dimension = '{by}'" if by else ""
    values = ", x.value" if by else "".join(f", {e} AS {c}" for c, e in split.items())
    parts.append(f"SELECT f.started AS t{values}, {negated} FROM {FACTS} f{join} WHERE f.dialog IN "
                 f"(SELECT dialog FROM fresh) AND f.started >= :dl_a AND f.started < :dl_b"
                 f"{_touch_filter(filtered, TOUCHES, params, False)}")
    # The partial hours' kept facts, and the tail's.
    kept_rows = _kept_rows(plan, schema, per_dialog, by, params,
                           ["f.started >= :dl_lo AND f.started < :dl_a", "f.started >= :dl_b AND f.started < :dl_hi"])
    parts.append(f"SELECT t{keys}, {', '.join(names)} FROM ({kept_rows}) k")
    return Source(text + with_young(" UNION ALL ".join(parts), names, keys), params)


def resolution(plan: Plan, schema: Schema, dialect: str, by: str | None = None, segments: tuple[str, ...] = ()) -> Source:
    """Rows with ``t``, ``value`` with ``by`` (or the segment columns of ``segments``), ``bucket``
    and ``n`` (signed as ``sums``' rows): the histogram of the resolution times (ms,
    ``rollups.latency_bucket``) of the resolved dialogs that start in the range and touch the
    filters' values."""
    _allowed(by)
    bucket = rollups.resolution_bucket(dialect)
    split = rollups.dialog_segments(segments)
    keys = ", value" if by is not None else "".join(f", {c}" for c in split)
    per_dialog = {"t": "f.started", **split, "bucket": bucket, "n": "1"}
    summable = _summable(plan, schema, by) if kept(plan) and plan.rolled else None
    if split and summable is not None:
        summable = (rollups.RESOLUTION_SEGMENTS, "1 = 1", {}) if summable[0] == DIALOG_HOURS else None
    if summable is None:
        source = rows(plan, schema, dialect, {**per_dialog, "resolved_at": "f.first_resolved"}, by)
        return Source(f"SELECT t{keys}, bucket, n FROM ({source.text}) r WHERE resolved_at IS NOT NULL", source.params)
    table, where, params = summable
    if table == DIALOG_HOURS:
        where, params = "dimension = :dl_by", {"dl_by": ALL}
    _bounds(plan, dialect, params)
    text = _tail(plan, schema, dialect, params)
    lo, hi = plan.rolled
    params.update({"dl_a": bind_timestamp(lo, dialect), "dl_b": bind_timestamp(hi, dialect)})
    filtered = _filtered(plan, schema)
    join = f" JOIN {TOUCHES} x ON x.dialog = f.dialog AND x.dimension = '{by}'" if by else ""
    values = ", x.value" if by else "".join(f", {e} AS {c}" for c, e in split.items())
    histogram = rollups.RESOLUTION_SEGMENTS if split else RESOLUTION
    parts = [f"SELECT hour AS t{keys}, bucket, n FROM {histogram} WHERE {where} AND hour >= :dl_a AND hour < :dl_b",
             f"SELECT f.started AS t{values}, {bucket} AS bucket, -1 AS n FROM {FACTS} f{join} "
             f"WHERE f.first_resolved IS NOT NULL AND f.dialog IN (SELECT dialog FROM fresh) AND f.started >= :dl_a "
             f"AND f.started < :dl_b{_touch_filter(filtered, TOUCHES, params, False)}"]
    kept_rows = _kept_rows(plan, schema, {**per_dialog, "resolved_at": "f.first_resolved"}, by, params,
                           ["f.started >= :dl_lo AND f.started < :dl_a", "f.started >= :dl_b AND f.started < :dl_hi"])
    parts.append(f"SELECT t{keys}, bucket, n FROM ({kept_rows}) k WHERE resolved_at IS NOT NULL")
    return Source(text + " UNION ALL ".join(parts), params)


def percentiles(engine: sa.Engine, plan: Plan, schema: Schema, groups: dict[str, str], fractions: dict[str, float],
                params: dict | None = None, by: str | None = None, segments: tuple[str, ...] = ()) -> pd.DataFrame:
    """Resolution-time percentiles (seconds) per group (``groups``: name → SQL over ``t`` and, with
    ``by``, ``value``; with ``segments``, their segment columns): ``count`` and each of
    ``fractions``. Exact (``percentile_cont``) where the plan reads the reference; from the
    resolution histogram (within ``rollups.LATENCY_RELATIVE_ERROR``) where it reads the kept facts."""
    dialect = engine.dialect.name
    if kept(plan):
        return sources.histogram_percentiles(engine, resolution(plan, schema, dialect, by, segments), groups, fractions,
                                             params, scale=0.001)
    split = rollups.dialog_segments(segments)
    source = rows(plan, schema, dialect, {"t": "f.started", **split, "seconds": catalogue.resolution_seconds(dialect)},
                  by)
    resolved = Source(f"SELECT * FROM ({source.text}) r WHERE seconds IS NOT NULL", source.params)
    return sources.exact_percentiles(engine, resolved, "seconds", groups, fractions, params)

