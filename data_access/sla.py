"""SLA compliance: uptime against a target with its error budget, and response time against a
target, per service, per integration and for the AI's answers; for the range and per month.

Definitions (also shown on the SLA page):

- uptime % — service_health checks with status 'up' or 'degraded' among checks with a known
  status (the Uptime KPI); for an integration, calls that did not fail (no 5xx, timeout or
  missing status) among all calls.
- covered time — from the first check (or call) in the range to the last, plus one check
  interval (the mean gap between checks): the time the checks speak for, at most to the range's
  end or to now.
- downtime (min) — (100 − uptime) % × covered time.
- error budget (min) — (100 − target) % × the range's length (99.9 % of 30 days = 43.2 min);
  budget left = budget − downtime.
- burn rate — (100 − uptime) / (100 − target): 1 spends the budget exactly over the period.
  The current burn rate is the same over the last hour of the covered time; at that rate the
  budget runs out after budget left / ((100 − target) % × current burn rate) minutes.
- response time — p95 (linear interpolation) and the share of values under the target; the
  response-time SLA is met when the p95 is at or under the target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import sqlalchemy as sa

from data_access import plans, service_rollups, sources, sql
from data_access.alert_rules import SlaTargets
from data_access.filters import Filters
from data_access import catalogue
from data_access.catalogue import CM, TIMED
from data_access.service_rollups import FAILED_CALL, KNOWN_STATUS, OK_STATUS
from data_access.schema import Schema

RECENT = timedelta(hours=1)

# source → (table, name column, ok expression, known expression, latency column, valid latency)
SOURCES = {
    "services": ("service_health", "service", OK_STATUS, KNOWN_STATUS, "latency_ms", '"latency_ms" >= 0'),
    "integrations": ("integration_calls", "integration", f"NOT {FAILED_CALL}", "1 = 1", "latency_ms",
                     '"latency_ms" >= 0'),
    "answers": ("conversation_metrics", "platform", None, None, "response_time_ms", TIMED),
}


def cover_end(filters: Filters, now: datetime | None = None) -> datetime:
    """The end of the covered time (naive UTC): the range's end, or now if that is earlier."""
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    return min(filters.utc_bounds()[1], now)


def compliance(engine: sa.Engine, schema: Schema, filters: Filters, source: str, targets: SlaTargets,
               by_month: bool = False, now: datetime | None = None) -> pd.DataFrame:
    """One row per name of ``source`` ("services", "integrations" or "answers" — by platform,
    plus an "all" row with name ``None``), or per (month, name) with ``by_month``: uptime, error
    budget, burn rates and response time against ``targets`` (see the module docstring).

    Raises ``KeyError`` for an unknown source. Empty when the table is missing."""
    table = SOURCES[source][0]
    end = cover_end(filters, now)
    if not schema.has_table(table) or end <= filters.utc_bounds()[0]:
        return pd.DataFrame()
    covered = replace(filters, end=min(filters.end, filters.to_local(end))) if end < filters.utc_bounds()[1] else filters
    if source == "answers":
        frame = answer_counts(engine, schema, covered, targets, by_month)
    else:
        frame = check_counts(engine, schema, covered, source, targets, by_month, end - RECENT)
    frame = sql.numeric(frame, ["p95_ms", "under_target", "timed", "known", "ok", "recent_known", "recent_ok"])
    for column in ("first_seen", "last_seen") + (("month",) if by_month else ()):
        frame[column] = pd.to_datetime(frame[column], format="ISO8601")
        if getattr(frame[column].dt, "tz", None) is not None:
            frame[column] = frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
    return _derive(frame, filters, targets, end, by_month).sort_values(
        (["month"] if by_month else []) + ["name"], na_position="last", ignore_index=True)


def _answerable(chosen, targets: SlaTargets, by_month: bool):
    """``chosen``, or its raw path where the kept hours cannot answer: a target between the
    counted latency edges (the count under it would not be exact), or months whose offset is
    not whole hours."""
    if chosen.rolled and targets.response_time_ms not in catalogue.LATENCY_EDGES:
        return replace(chosen, rolled=None, late=(), reason="a target between the kept latency edges")
    if chosen.rolled and by_month and not chosen.whole_hour_offsets():
        return replace(chosen, rolled=None, late=(), reason="months of an offset that is not whole hours")
    return chosen


def _under_target(under_edge: Callable[[int], str], valid: str, latency: str, has_latency: bool,
                  targets: SlaTargets) -> tuple[str, str]:
    """The values under the target: (SQL over a kept hour: ``under_edge(i)``, its count under
    edge i of ``catalogue.LATENCY_EDGES``, when the target is that edge, else NULL; SQL over a
    raw row, bound to ``:target_ms``)."""
    edges = catalogue.LATENCY_EDGES
    kept = under_edge(edges.index(targets.response_time_ms)) if targets.response_time_ms in edges else "NULL"
    raw = f'CASE WHEN {valid} AND "{latency}" < :target_ms THEN 1 ELSE 0 END' if has_latency else "0"
    return kept, raw


# source → (the service_rollups table, its known and ok counts over the kept hours' columns)
CHECKS = {
    "services": (service_rollups.HEALTH, f"SUM(CASE WHEN {KNOWN_STATUS} THEN total ELSE 0 END)",
                 f"SUM(CASE WHEN {OK_STATUS} THEN total ELSE 0 END)"),
    "integrations": (service_rollups.INTEGRATIONS, "SUM(total)", "SUM(total - failed)"),
}


def check_counts(engine: sa.Engine, schema: Schema, covered: Filters, source: str, targets: SlaTargets,
                 by_month: bool, recent: datetime) -> pd.DataFrame:
    """``compliance``'s counts for services or integrations, per name or per month and name:
    from the hours service_rollups keeps and the raw rows around them (``_answerable``), the
    counts and first and last times exact, the p95 from the histogram (within
    ``service_rollups.RELATIVE_ERROR``; exact where no kept hour is read), the last hour's counts
    from the raw rows from ``recent`` (naive UTC) on."""
    kept, known, ok = CHECKS[source]
    chosen = _answerable(service_rollups.plan(kept, engine, schema, covered), targets, by_month)
    dialect = engine.dialect.name
    table, name_column, ok_raw, known_raw, latency, valid = SOURCES[source]
    under = _under_target(lambda i: f"under_{i}", valid, latency, schema.has(table, latency), targets)
    bucket_params: dict = {"target_ms": targets.response_time_ms}
    name = "COALESCE(CAST(name AS TEXT), 'unknown')"
    keys = {**({"month": sql.local_bucket("hour", "month", covered, schema, kept.raw, dialect, bucket_params)}
               if by_month else {}), "name": name}
    group = ", ".join(str(i + 1) for i in range(len(keys)))
    selected = ", ".join(f"{expr} AS {key}" for key, expr in keys.items())
    with plans.reading(chosen, f"sla_{source}"):
        text, source_params = service_rollups.hours_source(chosen, kept, schema, dialect, also={"under_target": under})
        frame = sql.read_frame(engine, f"SELECT {selected}, MIN(first_at) AS first_seen, MAX(last_at) AS last_seen, "
                                       f"SUM(under_target) AS under_target, SUM(timed) AS timed, {known} AS known, "
                                       f"{ok} AS ok FROM ({text}) h GROUP BY {group}",
                               {**source_params, **bucket_params})
        p95 = (service_rollups.percentiles(engine, chosen, kept, schema, keys, {"p95_ms": 0.95}, bucket_params,
                                           daily="month" if by_month else True)
               if schema.has(table, latency) else pd.DataFrame(columns=[*keys, "p95_ms"]))
        # The last hour of the covered time, from the raw rows (its start is no hour's). Its bounds
        # alone in the WHERE: SQLite ranges its timestamp index on one lower bound of several.
        start_utc, end_utc = covered.utc_bounds()
        where, where_params = sql.table_where(Filters(max(start_utc, recent), end_utc), table, schema, dialect,
                                              prefix="rc_")
        raw_name = (f'COALESCE(CAST("{name_column}" AS TEXT), \'unknown\')' if schema.has(table, name_column)
                    else "'unknown'")
        recent_keys = {**({"month": sql.local_bucket(sql.TS, "month", covered, schema, table, dialect, where_params)}
                          if by_month else {}), "name": raw_name}
        last_hour = sql.read_frame(engine, f"SELECT {', '.join(f'{e} AS {k}' for k, e in recent_keys.items())}, "
                                           f"SUM(CASE WHEN {known_raw} THEN 1 ELSE 0 END) AS recent_known, "
                                           f"SUM(CASE WHEN {known_raw} AND {ok_raw} THEN 1 ELSE 0 END) AS recent_ok "
                                           f"FROM {table} {where} GROUP BY {group}", where_params)
    by = list(keys)
    if by_month:  # one type on every side of the merges below
        for part in (frame, p95, last_hour):
            part["month"] = pd.to_datetime(part["month"], format="ISO8601")
    frame = frame.merge(p95[by + ["p95_ms"]], on=by, how="left").merge(last_hour, on=by, how="left")
    frame[["recent_known", "recent_ok"]] = frame[["recent_known", "recent_ok"]].fillna(0)
    return frame[by + ["first_seen", "last_seen", "p95_ms", "under_target", "timed", "known", "ok",
                       "recent_known", "recent_ok"]]


@plans.reader()
def answer_counts(chosen, engine: sa.Engine, schema: Schema, filters: Filters, targets: SlaTargets,
                  by_month: bool) -> pd.DataFrame:
    """The AI answers' counts behind ``compliance``: per platform (``name``) and in all (``name``
    None), or per month and platform: first_seen, last_seen, p95_ms, under_target, timed (known,
    ok, recent_known and recent_ok are NULL: answers have no up or down). From the rollups and
    the raw rows around them (``_answerable``): counts and the first and last times exact, the
    p95 from the latency histogram (within ``rollups.LATENCY_RELATIVE_ERROR``; exact where no
    rolled-up hour is read)."""
    chosen = _answerable(chosen, targets, by_month)
    dialect = engine.dialect.name
    days = "month" if by_month else True  # the daily tables' days that lie in one local month, or all
    under = _under_target(lambda i: " + ".join(f"latency_bin_{j}" for j in range(i + 1)), TIMED,
                          "response_time_ms", schema.has(CM, "response_time_ms"), targets)
    with plans.reading(chosen, "answer_counts"):
        source = sources.message_source(chosen, schema, dialect, ["timed"], times=True, daily=days,
                                        also={"under_target": under})
        bucket_params: dict = {"target_ms": targets.response_time_ms}
        month = sql.local_bucket("t", "month", filters, schema, CM, dialect, bucket_params) if by_month else None
        name = "COALESCE(CAST(platform AS TEXT), 'unknown')"
        keys = {**({"month": month} if by_month else {}), "name": name}
        frame = sql.read_frame(engine, f"SELECT {', '.join(f'{e} AS {k}' for k, e in keys.items())}, "
                                       f"MIN(first_at) AS first_seen, MAX(last_at) AS last_seen, "
                                       f"SUM(under_target) AS under_target, SUM(timed) AS timed "
                                       f"FROM ({source.text}) m GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}",
                               {**source.params, **bucket_params})
        frame = sql.numeric(frame, ["under_target", "timed"])
        by = ["month"] if by_month else []
        month_of = lambda values: pd.to_datetime(values, format="ISO8601").astype("datetime64[ns]")  # noqa: E731
        if by_month:  # one type on both sides of the merge below, rows or none
            frame["month"] = month_of(frame["month"])
        # The "all" row: a percentile cannot be added up, so it is read from the histogram as well.
        total = (frame.groupby(by, sort=False, as_index=False) if by else frame.assign(_all=0).groupby("_all", as_index=False)
                 ).agg(first_seen=("first_seen", "min"), last_seen=("last_seen", "max"),
                       under_target=("under_target", "sum"), timed=("timed", "sum"))
        total = total.drop(columns=["_all"], errors="ignore").assign(name=None)
        if not by_month and total.empty:  # no rows at all: one row of nothing
            total = pd.DataFrame({"name": [None], "first_seen": [None], "last_seen": [None],
                                  "under_target": [None], "timed": [0]})
        if schema.has(CM, "response_time_ms"):
            p95 = pd.concat([
                sources.percentiles(engine, chosen, schema, keys, {"p95_ms": 0.95}, params=bucket_params, per="platform",
                                    daily=days),
                sources.percentiles(engine, chosen, schema, {"month": month} if by_month else {}, {"p95_ms": 0.95},
                                    params=bucket_params, daily=days).assign(name=None)], ignore_index=True)
        else:
            p95 = pd.DataFrame(columns=[*by, "name", "p95_ms"])
    if by_month:
        p95["month"] = month_of(p95["month"])
    frame = pd.concat([frame, total], ignore_index=True)
    frame = frame.merge(p95[by + ["name", "p95_ms"]], on=by + ["name"], how="left")
    frame = frame.assign(known=None, ok=None, recent_known=None, recent_ok=None)
    return frame[by + ["name", "first_seen", "last_seen", "p95_ms", "under_target", "timed",
                       "known", "ok", "recent_known", "recent_ok"]]


def compliance_from_checks(checks: pd.DataFrame, filters: Filters, targets: SlaTargets, by_month: bool = False,
                           now: datetime | None = None) -> pd.DataFrame:
    """``compliance``'s frame for checks counted elsewhere (``prometheus.sla_checks``: one row per
    name, or per month and name, with first_seen, last_seen, known, ok, recent_known, recent_ok,
    p95_ms, under_target, timed); empty for none."""
    if checks.empty:
        return pd.DataFrame()
    return _derive(checks.copy(), filters, targets, cover_end(filters, now), by_month).sort_values(
        (["month"] if by_month else []) + ["name"], na_position="last", ignore_index=True)


def _derive(frame: pd.DataFrame, filters: Filters, targets: SlaTargets, end: datetime, by_month: bool) -> pd.DataFrame:
    allowed = (100.0 - targets.uptime_percent) / 100.0
    frame["uptime"] = sql.rate(frame, "ok", "known")
    frame["under_target_share"] = sql.rate(frame, "under_target", "timed")
    frame["response_ok"] = _within(frame["p95_ms"], lambda p: p <= targets.response_time_ms)
    start_utc, end_utc = filters.utc_bounds()
    if by_month:
        # The part of each (local) month inside the range, in UTC.
        month_start = [max(filters.to_utc(m.to_pydatetime()), start_utc) for m in frame["month"]]
        month_end = [min(filters.to_utc(_next_month(m.to_pydatetime())), end_utc) for m in frame["month"]]
    else:
        month_start = [start_utc] * len(frame)
        month_end = [end_utc] * len(frame)
    period = np.array([(b - a).total_seconds() / 60 for a, b in zip(month_start, month_end)], dtype="float64")
    covered = np.array([_covered_minutes(a, b, end, first, last, n) for a, b, first, last, n in
                        zip(month_start, month_end, frame["first_seen"], frame["last_seen"], frame["known"])],
                       dtype="float64")
    down_share = (100.0 - frame["uptime"]) / 100.0
    frame["period_minutes"] = period
    frame["covered_minutes"] = covered
    frame["downtime_minutes"] = down_share * covered
    frame["budget_minutes"] = allowed * period
    frame["budget_left_minutes"] = frame["budget_minutes"] - frame["downtime_minutes"]
    frame["burn_rate"] = down_share / allowed
    recent_uptime = sql.rate(frame, "recent_ok", "recent_known")
    frame["current_burn_rate"] = (100.0 - recent_uptime) / 100.0 / allowed
    frame["uptime_ok"] = _within(frame["uptime"], lambda u: u >= targets.uptime_percent)
    frame["exhausted_at"] = [_exhausted_at(left, burn, allowed, end, pd.notna(u))
                             for left, burn, u in zip(frame["budget_left_minutes"], frame["current_burn_rate"],
                                                      frame["uptime"])]
    frame["compliant"] = [_all_known(u, r) for u, r in zip(frame["uptime_ok"], frame["response_ok"])]
    return frame


def _covered_minutes(start: datetime, end: datetime, now: datetime, first, last, checks) -> float:
    """Minutes from the first check to the last plus one check interval (the time the checks
    speak for), within [start, min(end, now))."""
    if pd.isna(first) or pd.isna(last):
        return 0.0
    first, last = pd.Timestamp(first).to_pydatetime(), pd.Timestamp(last).to_pydatetime()
    interval = (last - first) / (checks - 1) if pd.notna(checks) and checks > 1 else timedelta(0)
    until = min(end, now, last + interval)
    return max((until - max(start, first)).total_seconds() / 60, 0.0)


def _exhausted_at(left: float, burn: float, allowed: float, end: datetime, known: bool):
    """When the budget runs out at the current burn rate: ``end`` when already spent, NaT when
    it does not burn now or there is no uptime."""
    if not known or pd.isna(left):
        return pd.NaT
    if left <= 0:
        return pd.Timestamp(end)
    if pd.isna(burn) or burn <= 0:
        return pd.NaT
    return pd.Timestamp(end) + pd.Timedelta(minutes=left / (allowed * burn))


def _within(values: pd.Series, test) -> pd.Series:
    """``test`` of each value as True/False, None where the value is unknown."""
    return pd.Series([None if pd.isna(v) else bool(test(v)) for v in values], index=values.index, dtype=object)


def _all_known(*flags) -> bool | None:
    known = [f for f in flags if f is not None]
    return all(known) if known else None


def _next_month(month: datetime) -> datetime:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


# The SLAs a page gives one verdict each: (what is measured, the source it is measured on).
VERDICTS = (("availability", "services"), ("availability", "integrations"),
            ("response", "services"), ("response", "integrations"), ("response", "answers"))


@dataclass(frozen=True)
class Verdict:
    """One SLA's verdict over a range: ``met`` is None where the source measures nothing of it;
    ``missed`` the names that missed it with their value (uptime % or p95 ms), worst first;
    ``total`` the names measured; ``value`` the worst value of all (uptime: lowest; p95:
    highest — for the AI answers, all platforms together), with ``worst`` its name."""
    sla: str
    source: str
    met: bool | None
    missed: tuple[tuple[str, float], ...]
    total: int
    value: float | None
    worst: str | None


def verdicts(frames: dict[str, pd.DataFrame]) -> list[Verdict]:
    """The verdict of each of ``VERDICTS`` whose source has a frame in ``frames`` (``compliance``
    frames for the range, by source), in that order; a source with no rows or no value of that
    SLA gives none. An SLA is missed when any name misses it (for the AI answers, any platform
    or all of them together)."""
    found = []
    for sla, source in VERDICTS:
        frame = frames.get(source)
        if frame is None or frame.empty:
            continue
        flag, value_column, worst_first = (("uptime_ok", "uptime", True) if sla == "availability"
                                           else ("response_ok", "p95_ms", False))
        named = frame[frame["name"].notna()]
        measured = named[named[value_column].notna()].sort_values(value_column, ascending=worst_first)
        if measured.empty:
            continue
        overall = frame[frame["name"].isna()]
        whole = overall if source == "answers" and not overall.empty and overall[value_column].notna().all() else None
        missed = measured[measured[flag].map(lambda f: f is False)]
        whole_missed = whole is not None and whole[flag].iloc[0] is False
        worst = measured.iloc[0]
        found.append(Verdict(sla, source, met=missed.empty and not whole_missed,
                             missed=tuple((str(r["name"]), float(r[value_column])) for _, r in missed.iterrows()),
                             total=len(measured),
                             value=float(whole[value_column].iloc[0] if whole is not None else worst[value_column]),
                             worst=None if whole is not None else str(worst["name"])))
    return found
