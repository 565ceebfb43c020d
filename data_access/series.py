"""Time series, breakdowns and option lists: small DataFrames aggregated by the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from data_access import dialogs, plans, sources, sql
from data_access.filters import Filters
from data_access.kpis import CM
from data_access.schema import Schema

# Option lists are capped: a dimension with more distinct values than this is not a filter
# a person picks from a list, and the URL validation must not load an unbounded list.
MAX_OPTIONS = 500
MAX_COMBINATIONS = 100_000


@dataclass(frozen=True)
class FilterOptions:
    """The values each dimension filter may take, as the database holds them."""

    platforms: tuple[str, ...] = ()
    intents: tuple[str, ...] = ()
    models: tuple[str, ...] = ()


def _option_rows(engine: sa.Engine, schema: Schema, cols: str) -> pd.DataFrame:
    """The distinct combinations of ``cols``: from the rollups and the raw rows they do not hold
    when they are there (a few thousand rows instead of the whole table), else the raw rows."""
    everything = Filters(datetime(1970, 1, 1), datetime(2200, 1, 1))
    chosen = plans.plan(engine, schema, everything)
    if not chosen.rolled:
        return sql.read_frame(engine, f"SELECT {cols} FROM conversation_metrics GROUP BY {cols} "
                                      f"LIMIT {MAX_COMBINATIONS}", {})
    with plans.reading(chosen, "filter_options"):
        source = sources.combination_source(chosen, schema, engine.dialect.name)
        return sql.read_frame(engine, f"SELECT {cols} FROM ({source.text}) m GROUP BY {cols} "
                                      f"LIMIT {MAX_COMBINATIONS}", source.params)


def filter_options(engine: sa.Engine, schema: Schema) -> FilterOptions:
    """Distinct platforms, intents and AI models in conversation_metrics (sorted, NULLs left out).

    One scan: the database groups by the three columns together (a few hundred combinations),
    and each list is the distinct values of that small result."""
    dimensions = {"platforms": "platform", "intents": "intent", "models": "ai_model"}
    present = {f: c for f, c in dimensions.items() if schema.has(CM, c)}
    if not present:
        return FilterOptions()
    cols = ", ".join(sql.column(CM, c) for c in present.values())
    frame = _option_rows(engine, schema, cols)
    return FilterOptions(**{f: tuple(sorted({str(v) for v in frame[c].dropna()}))[:MAX_OPTIONS]
                            for f, c in present.items()})


@plans.reader(local_buckets=True)
def dialogs_by_platform(chosen: plans.Plan, engine: sa.Engine, schema: Schema, filters: Filters,
                        unit: str | None = None) -> pd.DataFrame:
    """Dialogs per time bucket (by dialog start, in the filters' timezone) and platform (a dialog
    counts under each platform it has a message on).

    Columns: ``bucket`` (datetime), ``platform``, ``dialogs``."""
    dialect = engine.dialect.name
    unit = unit or sql.bucket_for(filters)
    source = dialogs.sums(chosen, schema, dialect, by="platform", daily=unit)
    params = dict(source.params)
    bucket = sql.local_bucket("t", unit, filters, schema, CM, dialect, params)
    frame = sql.read_frame(engine, f"""
        SELECT {bucket} AS bucket, COALESCE(value, 'unknown') AS platform, SUM(dialogs) AS dialogs
        FROM ({source.text}) s GROUP BY 1, 2 HAVING SUM(dialogs) > 0 ORDER BY 1, 2""", params)
    return _dialog_counts(frame)


def _dialog_counts(frame: pd.DataFrame) -> pd.DataFrame:
    frame["bucket"] = pd.to_datetime(frame["bucket"])
    frame["dialogs"] = pd.to_numeric(frame["dialogs"]).astype("int64")
    return frame
