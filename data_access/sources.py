"""What a plan reads: ``UNION ALL``s of the rolled-up hours (or days) of a ``plans.Plan`` and the
raw rows of the rest of its range, with the same columns from both (``message_source`` and the
like), and the percentiles read from the latency histogram.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa

from data_access import sql
from data_access.catalogue import MEASURE_NAMES, TIMED, measure_rows
from data_access.filters import DIMENSIONS as FILTER_DIMENSIONS, Filters, dimension_where
from data_access.plans import FILTERED_DIMENSIONS, Plan
from data_access.rollups import (CM, DAILY, DIALOG_DIMENSIONS, DIMENSION_MONTHS, DIMENSIONS, LATENCY, LATENCY_P95,
                                 MESSAGE_TOTALS, MESSAGES, P95_STEPS, _columns_present, histogram_percentile,
                                 latency_bucket, p95_columns)
from data_access.schema import Schema

if TYPE_CHECKING:  # pandas is imported where a frame is made
    import pandas as pd


@dataclass
class Source:
    """A FROM-able ``UNION ALL`` of the rolled-up hours and the raw ranges of a plan, with the
    same columns from both; ``params`` holds the bound values."""

    text: str
    params: dict = field(default_factory=dict)


def _union(plan: Plan, schema: Schema, dialect: str, rolled_select: Callable[[str], str], rolled_table: str,
           raw_select: str, raw_extra: str = "", rolled_extra: str = "", rolled_dimensions: bool = True,
           raw_group: str = "", daily: bool | str = False) -> Source:
    """``plan.union`` over conversation_metrics and ``rolled_table``, both narrowed by the plan's
    dimension filters (the kept rows unless ``rolled_dimensions`` is False). ``rolled_select(at)``:
    the columns read from a rolled-up table whose time column is ``at`` (``hour``, or a daily
    table's ``day``). ``daily``: the whole UTC days from ``rolled_table``'s daily table
    (``DAILY``): True for a query that does not group by time; a local unit (day, week, month)
    for one grouping by it, the days that lie in one such unit (``Plan.daily_runs``)."""
    kept, kept_params = dimension_where(plan.filters, CM, schema, prefix="ru_") if rolled_dimensions else ([], {})
    dims, dim_params = dimension_where(plan.filters, CM, schema, prefix="rr_")
    text, params = plan.union(
        dialect, rolled_select, rolled_table, lambda where: f"SELECT {raw_select} FROM {CM} {where}{raw_group}",
        daily_table=DAILY.get(rolled_table), daily=daily, prefix="ru_", params={**kept_params, **dim_params},
        rolled_where="".join(f" AND {c}" for c in kept) + rolled_extra,
        raw_where="".join(f" AND {c}" for c in dims) + raw_extra)
    return Source(text, params)


def message_source(plan: Plan, schema: Schema, dialect: str, names: list[str] | tuple[str, ...] = MEASURE_NAMES,
                   raw_extra: str = "", rolled_extra: str = "", times: bool = False,
                   daily: bool | str = False, by_dimension: bool = True,
                   also: dict[str, tuple[str, str]] | None = None) -> Source:
    """Rows with ``t`` (the hour, or the raw row's timestamp), the four dimensions and the
    measures ``names``: summed, they give the range's totals whichever rows they came from.
    ``times`` adds ``first_at`` and ``last_at``, whose MIN and MAX are the first and last row's
    exact timestamps. ``daily``: whole UTC days from the daily table (``t`` is then the day's
    start): True for a query that does not group by ``t``, else the local unit it groups by
    (see ``_union``). Without ``by_dimension`` (a reader that does not split by a dimension) and
    with no dimension filtered, the hours come from their totals over the dimensions (NULL).
    ``also``: more columns, name → (SQL over a kept hour's row, SQL over a raw row)."""
    values = measure_rows(schema)
    dims = _columns_present(schema)
    extremes = ["first_at", "last_at"] if times else []
    also = also or {}
    rolled = lambda at: ", ".join([f"{at} AS t", *DIMENSIONS, *names, *extremes,  # noqa: E731
                                   *(f"{e} AS {c}" for c, (e, _) in also.items())])
    raw = ", ".join([f"{sql.TS} AS t", *(f"{dims[c]} AS {c}" for c in DIMENSIONS),
                     *(f"{values[n]} AS {n}" for n in names), *(f"{sql.TS} AS {e}" for e in extremes),
                     *(f"{e} AS {c}" for c, (_, e) in also.items())])
    totals = (not by_dimension and schema.has_table(MESSAGE_TOTALS)
              and not any(getattr(plan.filters, f) for f in FILTERED_DIMENSIONS))
    return _union(plan, schema, dialect, rolled, MESSAGE_TOTALS if totals else MESSAGES, raw, raw_extra, rolled_extra,
                  daily=daily)


def combination_source(plan: Plan, schema: Schema, dialect: str) -> Source:
    """Rows with platform, intent and ai_model whose distinct combinations are those of the rows of
    ``plan`` (one over all time, with no dimension filtered: the filters' options): where no late
    hour is pending, rollup_dimension_months' for the whole UTC days before the watermark (those
    rollup_messages_daily holds), and the rest as ``message_source`` reads it; else all of it so."""
    dims = ", ".join(DIALOG_DIMENSIONS)
    days = plan.daily_runs(True)
    if not plan.late and len(days) == 1 and schema.has_table(DIMENSION_MONTHS):
        boundary, hi = days[0][1], plan.rolled[1]
        rest_filters = Filters(boundary, plan.filters.utc_bounds()[1])  # UTC, as the boundary is
        rest = Plan(rest_filters, (boundary, hi) if boundary < hi else None, building=plan.building)
        source = message_source(rest, schema, dialect, names=("messages",))
        return Source(f"SELECT {dims} FROM {DIMENSION_MONTHS} UNION ALL SELECT {dims} FROM ({source.text}) m",
                      source.params)
    source = message_source(plan, schema, dialect, names=("messages",), daily=True)
    return Source(f"SELECT {dims} FROM ({source.text}) m", source.params)


def keeps_p95(filters: Filters, step: int) -> bool:
    """Whether rollup_latency_p95 holds the p95 per ``step`` of ``filters``' rows."""
    return step in P95_STEPS and not any(getattr(filters, f) for f in FILTERED_DIMENSIONS)


def p95_source(plan: Plan, schema: Schema, dialect: str, step: int) -> Source | None:
    """Rows with ``bucket`` (the start of a ``step``-second bucket, epoch seconds), ``n`` (rows
    with a response time) and ``p95`` (their exact p95), one per bucket of the range: kept in
    rollup_latency_p95 for the rolled-up hours, grouped from the raw rows elsewhere (a bucket never
    spans an hour's edge). None where the table cannot answer: another step, or a dimension filter
    (it keeps the p95 of all rows)."""
    if not keeps_p95(plan.filters, step):
        return None
    return _union(plan, schema, dialect, lambda at: "bucket, n, p95", LATENCY_P95, p95_columns(dialect, step),
                  rolled_extra=f" AND step = {int(step)}", rolled_dimensions=False, raw_group=" GROUP BY 1")


def latency_source(plan: Plan, schema: Schema, dialect: str, dimension: str = "ai_model",
                   daily: bool | str = False) -> Source:
    """Rows with ``t``, ``dimension`` (ai_model, platform or intent), ``bucket`` and ``n``: the
    latency histogram split by that one dimension (see ``histogram_dimension``); ``daily`` as
    for ``message_source``."""
    dims = _columns_present(schema)
    column = DIMENSIONS_BY_FILTER[dimension]
    values = getattr(plan.filters, column)
    names = [f"rl_value_{i}" for i in range(len(values))]
    params = {"rl_dimension": dimension, **dict(zip(names, values))}
    chosen = f" AND value IN ({', '.join(':' + n for n in names)})" if values else ""
    rolled = lambda at: f"{at} AS t, value AS {dimension}, bucket, n"  # noqa: E731
    raw = f"{sql.TS} AS t, {dims[dimension]} AS {dimension}, {latency_bucket(dialect)} AS bucket, 1 AS n"
    source = _union(plan, schema, dialect, rolled, LATENCY, raw, raw_extra=f" AND {TIMED}",
                    rolled_extra=f" AND dimension = :rl_dimension{chosen}", rolled_dimensions=False, daily=daily)
    return Source(source.text, {**source.params, **params})


# A dimension column → the Filters field that picks its values.
DIMENSIONS_BY_FILTER = {column: name for name, column in FILTER_DIMENSIONS[CM].items()}


def histogram_dimension(filters: Filters, per: str | None) -> str | None:
    """The one dimension whose histogram answers percentiles split by ``per`` under ``filters``
    (ai_model when nothing is split or filtered), or None when two dimensions are involved."""
    involved = {d for d, f in DIMENSIONS_BY_FILTER.items() if getattr(filters, f)} | ({per} if per else set())
    if len(involved) > 1:
        return None
    return involved.pop() if involved else "ai_model"


def raw_timed_source(filters: Filters, schema: Schema, dialect: str) -> Source:
    """The filtered raw rows with a valid response time: t, the dimensions and response_time_ms."""
    where, params = sql.table_where(filters, CM, schema, dialect, prefix="rt_")
    dims = _columns_present(schema)
    columns = ", ".join([f"{sql.TS} AS t", *(f"{dims[c]} AS {c}" for c in DIMENSIONS), '"response_time_ms"'])
    return Source(f"SELECT {columns} FROM {CM} {where} AND {TIMED}", params)


def histogram_percentiles(engine: sa.Engine, source: Source, groups: dict[str, str], fractions: dict[str, float],
                          params: dict | None = None, scale: float = 1.0,
                          value: Callable[[int], float] | None = None) -> "pd.DataFrame":
    """Per group of ``source``'s rows (``bucket``, ``n`` and what ``groups`` read): the count and
    each percentile of ``fractions``, read from the summed histogram (buckets read as ``value``,
    default ``bucket_value``) and multiplied by ``scale``."""
    import numpy as np
    import pandas as pd

    keys = [f"{expr} AS {name}" for name, expr in groups.items()]
    positions = ", ".join(str(i + 1) for i in range(len(keys) + 1))
    frame = sql.read_frame(engine, f"SELECT {', '.join(keys + ['bucket AS histogram_bucket'])}, SUM(n) AS n "
                                   f"FROM ({source.text}) h GROUP BY {positions} ORDER BY {positions}",
                           {**source.params, **(params or {})})
    names = list(groups)
    rows = []
    if not frame.empty:
        frame["histogram_bucket"] = pd.to_numeric(frame["histogram_bucket"]).astype("int64")
        frame["n"] = pd.to_numeric(frame["n"]).astype("int64")
        frame = frame[frame["n"] > 0]
        grouped = frame.groupby(names, sort=False, dropna=False) if names else [((), frame)]
        for key, part in grouped:
            key = key if isinstance(key, tuple) else (key,)
            buckets, counts = part["histogram_bucket"].to_numpy(), part["n"].to_numpy()
            row = dict(zip(names, key))
            row["count"] = int(np.sum(counts))
            for label, fraction in fractions.items():
                read = histogram_percentile(buckets, counts, fraction, value)
                row[label] = None if read is None else read * scale
            rows.append(row)
    return pd.DataFrame(rows, columns=names + ["count"] + list(fractions))


def exact_percentiles(engine: sa.Engine, rows: Source, column: str, groups: dict[str, str], fractions: dict[str, float],
                      params: dict | None = None, count: str = "count") -> "pd.DataFrame":
    """Per group of ``rows`` (``groups``: name → SQL over their columns): ``count``, how many
    there are, and each of ``fractions``' ``percentile_cont`` of ``column``; groups of none left out."""
    dialect = engine.dialect.name
    keys = [f"{expr} AS {name}" for name, expr in groups.items()]
    exact = ", ".join(f"{sql.percentile(column, f, dialect)} AS {label}" for label, f in fractions.items())
    group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else ""
    frame = sql.read_frame(engine, f"SELECT {', '.join(keys + [f'COUNT(*) AS {count}', exact])} FROM ({rows.text}) h{group}",
                           {**rows.params, **(params or {})})
    frame = sql.numeric(frame, [count, *fractions])
    return frame[frame[count] > 0].reset_index(drop=True)


def percentiles(engine: sa.Engine, chosen: Plan, schema: Schema, groups: dict[str, str],
                fractions: dict[str, float], params: dict | None = None,
                per: str | None = None, daily: bool | str = False) -> "pd.DataFrame":
    """Response-time percentiles per group, read from the latency histogram of ``chosen``:
    one row per group (``groups``: name → SQL over the histogram's columns t and the dimension),
    with ``timed`` (the values counted) and each of ``fractions`` (name → fraction), within
    ``LATENCY_RELATIVE_ERROR`` of ``percentile_cont``. ``per`` names the dimension the groups
    split by. Exact, from the raw rows, where the plan reads no rolled-up hour (the reference) or
    the histogram cannot answer (two dimensions split or filtered at once)."""
    dialect = engine.dialect.name
    dimension = histogram_dimension(chosen.filters, per)
    if dimension is None or not chosen.rolled:
        return exact_percentiles(engine, raw_timed_source(chosen.filters, schema, dialect), "response_time_ms", groups,
                                 fractions, params, count="timed")
    frame = histogram_percentiles(engine, latency_source(chosen, schema, dialect, dimension, daily=daily), groups,
                                  fractions, params)
    return frame.rename(columns={"count": "timed"})


