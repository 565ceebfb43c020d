"""Where a query's rows come from: a ``Plan`` splits a range into the whole hours the rollups keep
(``data_access.rollups``; another table's, ``data_access.service_rollups``) and the raw rows
around them. A reader takes its plan as an argument (``reader``) and reads that plan's sources
(``data_access.sources``); a plan with no rolled-up hours is the raw path, the reference the
rollups must equal (``raw_reference``).
"""

from __future__ import annotations

import contextvars
import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from data_access import late_rows, logs, sql
from data_access.filters import Filters, bind_timestamp
from data_access.rollups import (DAY, LOCAL_DAY_UNITS, MAX_DAILY_RUNS, MAX_DIRTY_HOURS, STATE, TICK, ceil_hour,
                                 floor_day, floor_hour, read_state)
from data_access.schema import Schema

_reference: contextvars.ContextVar[bool] = contextvars.ContextVar("rollups_reference", default=False)


@contextmanager
def raw_reference() -> Iterator[None]:
    """Within the block, every query reads the raw rows (the reference the rollups must equal)."""
    token = _reference.set(True)
    try:
        yield
    finally:
        _reference.reset(token)


def _local_unit(utc: datetime, unit: str, zone: ZoneInfo) -> date:
    """The start of the local day, ISO week (Monday) or month holding ``utc`` (naive UTC), as
    ``sql.bucket`` puts it."""
    local = utc.replace(tzinfo=timezone.utc).astimezone(zone).date()
    if unit == "week":
        return local - timedelta(days=local.weekday())
    return local.replace(day=1) if unit == "month" else local


# The Filters fields that narrow conversation rows by a dimension.
FILTERED_DIMENSIONS = ("platforms", "intents", "models")


@dataclass(frozen=True)
class Plan:
    """Where a query over ``filters`` reads: the whole hours of ``rolled`` (naive UTC, [lo, hi))
    from the rollups except ``late`` ones, everything else of the range from the raw rows
    (``raw_ranges``). ``rolled`` is None for the raw path, with the ``reason``."""

    filters: Filters
    rolled: tuple[datetime, datetime] | None = None
    late: tuple[datetime, ...] = ()
    reason: str = ""
    building: bool = False
    # What the rollups hold, whatever the range: every hour before ``watermark`` (None where they
    # cannot answer), but the ``dirty`` hours' late rows. The dialogs' facts read by these.
    watermark: datetime | None = None
    dirty: tuple[datetime, ...] = ()

    @property
    def path(self) -> str:
        """What ``?debug=1`` shows: "rollups + raw" or "raw (why)"."""
        return "rollups + raw" if self.rolled else f"raw ({self.reason})"

    def raw_ranges(self) -> list[tuple[datetime, datetime]]:
        """The [start, end) UTC ranges read from the raw rows, in order."""
        start, end = self.filters.utc_bounds()
        if not self.rolled:
            return [(start, end)] if start < end else []
        lo, hi = self.rolled
        ranges = [(start, lo)] if start < lo else []
        ranges += late_rows.hour_runs(self.late)
        if hi < end:
            ranges.append((hi, end))
        return ranges

    def daily_runs(self, daily: bool | str = True) -> list[tuple[datetime, datetime]]:
        """The [start, end) runs of whole UTC days among the rolled-up hours with no late hour that
        a query may read from the daily tables: with ``daily`` True, one that groups the whole
        range; with a unit (day, week or month), one grouping by that local unit, only the days
        that lie in one local unit of the filters' timezone (every day where it is at UTC's
        offset; none for ``day`` elsewhere; all but the days holding a local week's or month's
        start for those); none with False."""
        unit = None if daily is True else daily
        if not daily or not self.rolled or (unit is not None and unit not in LOCAL_DAY_UNITS):
            return []
        lo, hi = self.rolled
        first, last = floor_day(lo) + (DAY if floor_day(lo) < lo else timedelta(0)), floor_day(hi)
        late_days = {floor_day(h) for h in self.late}
        days = [first + k * DAY for k in range(max((last - first) // DAY, 0))]
        if unit is not None and self.filters.tz != "UTC":
            zone = ZoneInfo(self.filters.tz)
            days = [day for day in days if _local_unit(day, unit, zone) == _local_unit(day + DAY - TICK, unit, zone)]
        runs = late_rows.runs((day for day in days if day not in late_days), DAY)
        # Each run and the hours between two are a SELECT of one UNION ALL: past SQLite's 500 terms
        # (a decade by local week, say), the hours alone.
        return runs if len(runs) <= MAX_DAILY_RUNS else []

    def hourly_runs(self, days: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
        """The runs of the rolled-up hours around ``days`` (``daily_runs``, read from the daily
        tables), in order."""
        runs, cursor = [], self.rolled[0]
        for lo, hi in days:
            if cursor < lo:
                runs.append((cursor, lo))
            cursor = hi
        return runs + ([(cursor, self.rolled[1])] if cursor < self.rolled[1] else [])

    def union(self, dialect: str, rolled: Callable[[str], str], hourly: str, raw: Callable[[str], str], *,
              daily_table: str | None = None, daily: bool | str = False, rolled_where: str = "",
              raw_where: str = "", params: dict | None = None, prefix: str = "") -> tuple[str, dict]:
        """``(sql, params)``: a UNION ALL, with the same columns in each part, of ``rolled(at)``
        over the kept hours but the late ones, from the table ``hourly`` (time column ``hour``),
        and of ``raw(where)`` (a SELECT over the raw rows ``where``: a WHERE clause) over each
        raw range. ``rolled_where`` and ``raw_where`` narrow the parts (`` AND …``, with their
        ``params``). ``daily``: the whole UTC days (``daily_runs``) from ``daily_table`` (time
        column ``day``). The names of the bound times start with ``prefix``; a kept bound is
        named by its value, so two parts of one statement bind one name to one time."""
        params, parts = dict(params or {}), []
        if self.rolled:
            names = [f"{prefix}late_{i}" for i in range(len(self.late))]
            params.update({n: bind_timestamp(h, dialect) for n, h in zip(names, self.late)})
            late = f" AND hour NOT IN ({', '.join(':' + n for n in names)})" if names else ""
            days = self.daily_runs(daily) if daily_table else []
            for table, at, runs, extra in ((daily_table, "day", days, ""), (hourly, "hour", self.hourly_runs(days), late)):
                for lo, hi in runs:
                    bounds = [f"{prefix}at_{bound:%Y%m%d%H}" for bound in (lo, hi)]
                    params.update({name: bind_timestamp(bound, dialect) for name, bound in zip(bounds, (lo, hi))})
                    parts.append(f"SELECT {rolled(at)} FROM {table} WHERE {at} >= :{bounds[0]} "
                                 f"AND {at} < :{bounds[1]}{extra}{rolled_where}")
        for i, (lo, hi) in enumerate(self.raw_ranges()):
            params[f"{prefix}lo_{i}"], params[f"{prefix}hi_{i}"] = bind_timestamp(lo, dialect), bind_timestamp(hi, dialect)
            parts.append(raw(f"WHERE {sql.TS} >= :{prefix}lo_{i} AND {sql.TS} < :{prefix}hi_{i}{raw_where}"))
        if not parts:  # an empty range: no rows, the right columns
            parts.append(raw("WHERE 1 = 0"))
        return " UNION ALL ".join(parts), params

    def whole_hour_offsets(self) -> bool:
        """Whether every UTC offset of the filters' timezone in the range is whole hours, so
        that a rolled-up hour falls in one local hour, day, week or month."""
        if self.filters.tz == "UTC":
            return True
        return all(minutes % 60 == 0 for _, minutes in sql._utc_offsets(self.filters))


def forced_raw() -> str:
    """Why every query reads the raw rows now ("reference" within ``raw_reference``, "rollups
    switched off" with ``EASYFLOW_ROLLUPS=off``), or "" when the rollups may serve."""
    if _reference.get():
        return "reference"
    if os.environ.get("EASYFLOW_ROLLUPS", "on").lower() == "off":
        return "rollups switched off"
    return ""


def plan(engine: sa.Engine, schema: Schema, filters: Filters) -> Plan:
    """Where a query over ``filters`` should read (see ``Plan``). The raw path when the rollups
    are absent, out of date for this schema, hold none of the range's whole hours, or when
    ``raw_reference`` is on; never raises."""
    forced = forced_raw()
    if forced:
        return Plan(filters, reason=forced)
    if not schema.has_table(STATE):
        return Plan(filters, reason="no rollups")
    try:
        state = read_state(engine)
    except sa.exc.SQLAlchemyError:
        return Plan(filters, reason="rollups unreadable")
    if state is None or not state.usable(schema):
        return Plan(filters, reason="rollups not built for this schema")
    if None in state.dirty_hours or len(state.dirty_hours) > MAX_DIRTY_HOURS:
        return Plan(filters, reason="many late rows pending", building=state.status == "building")
    # A change noted at or after the watermark is the tail's, read from the raw rows whatever it
    # is: rows written into the hour that closed minutes ago, before the refresh takes it.
    kept = {"building": state.status == "building", "watermark": state.watermark,
            "dirty": tuple(h for h in state.dirty_hours if h < state.watermark)}
    start, end = filters.utc_bounds()
    lo, hi = ceil_hour(start), min(floor_hour(end), state.watermark)
    if hi <= lo:
        return Plan(filters, reason="no whole hour rolled up", **kept)
    late = tuple(h for h in state.dirty_hours if lo <= h < hi)
    return Plan(filters, (lo, hi), late, **kept)


@contextmanager
def reading(chosen: Plan, name: str) -> Iterator[Plan]:
    """Within the block, the statements are logged under ``name`` with ``chosen``'s path (a reader
    that takes its plan as an argument)."""
    with logs.named(name), logs.read_path(chosen.path):
        yield chosen


def plan_buckets(engine: sa.Engine, schema: Schema, filters: Filters, unit: str,
                 planner: Callable[[sa.Engine, Schema, Filters], Plan] | None = None) -> Plan:
    """``planner``'s plan (default ``plan``) for a query grouping by the local ``unit``: the raw
    path for buckets finer than an hour, or a timezone whose offset in the range is not whole
    hours (a rolled-up hour would straddle two local buckets)."""
    chosen = (planner or plan)(engine, schema, filters)
    if chosen.rolled and (unit in ("minute", "10min") or not chosen.whole_hour_offsets()):
        return replace(chosen, rolled=None, late=(), reason="buckets finer than the rolled-up hours")
    return chosen


def _choose(engine: sa.Engine, schema: Schema, filters: Filters, args: tuple, kwargs: dict, local_buckets: bool,
            planner: Callable | None) -> Plan:
    if local_buckets:
        return plan_buckets(engine, schema, filters, args[0] if args else kwargs.get("unit"), planner)
    return (planner or plan)(engine, schema, filters)


# Every query that reads the sources of a plan, "module.name" → it, as ``reader`` registers it:
# the agreement suite (tests/test_rollups.py) holds each to the raw rows.
READERS: dict[str, Callable] = {}


def reader(*, local_buckets: bool = False, planner: Callable | None = None):
    """Decorate ``f(chosen, engine, schema, filters, *args)``, a query that reads the sources of
    the plan it is handed (``message_source`` and the like), into ``f(engine, schema, filters,
    *args, plan=None)``: without ``plan``, ``planner(engine, schema, filters)`` (default ``plan``;
    another table's rollups) chooses. ``local_buckets``: the query groups by local hours or longer,
    given as its first extra argument, so a timezone whose offset is not whole hours, or minute
    buckets, read the raw rows. A plan with no rolled-up hours reads the raw rows through the
    same SQL, which is the reference the rollups must equal: there is no second, hand-written
    query."""

    def wrap(query: Callable):
        @functools.wraps(query)
        def _read(engine: sa.Engine, schema: Schema, filters: Filters, *args, plan: Plan | None = None, **kwargs):
            chosen = plan or _choose(engine, schema, filters, args, kwargs, local_buckets, planner)
            with reading(chosen, query.__name__):
                return query(chosen, engine, schema, filters, *args, **kwargs)

        READERS[f"{query.__module__.rsplit('.', 1)[-1]}.{query.__name__}"] = _read
        return _read

    return wrap


