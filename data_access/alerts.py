"""Alert evaluation over history: the metric per step from SQL, then a pure evaluator.

``metric_buckets`` aggregates a rule's metric per ``step`` (and per ``by`` label) in SQL.
``metric_values`` rolls the buckets up into the rule's window and adds the baseline;
``evaluate`` walks the values in time order through pending → firing → resolved and returns
the alerts. Only observed buckets move the state: a bucket with no data changes nothing.

Times: a bucket is known by its start ``t`` and covers ``[t, t + step)``. An alert's ``since``
is the start of the first bucket of the run that breached; it fires at the end of the bucket at
which the breach has lasted ``for`` (``since + for`` at the earliest); it resolves at the start of
the first bucket that no longer holds it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import sqlalchemy as sa

from data_access import catalogue, change, dialogs, logs, plans, rule_records, service_rollups, sources, sql
from data_access.alert_rules import METRICS, Rule
from data_access.filters import Filters
from data_access.catalogue import TIMED
from data_access.schema import Schema

CM = "conversation_metrics"
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Alert:
    """One firing of a rule for one label value (``key``; "" when the rule has no ``by``)."""

    rule: str
    key: str
    since: datetime
    fired_at: datetime
    resolved_at: datetime | None
    peak: float  # the worst compared value: the metric, or its % deviation from a baseline
    last: float  # the compared value of the alert's last bucket (the current one while firing)

    @property
    def firing(self) -> bool:
        return self.resolved_at is None


# --- the pure part -----------------------------------------------------------------------------

def metric_values(rule: Rule, buckets: pd.DataFrame) -> pd.DataFrame:
    """Per ``key`` and bucket: ``value`` over the rule's window, ``n`` (observations in it),
    ``baseline`` (mean of the same bucket 1…``baseline_weeks`` weeks before, where any) and
    ``compared`` (what the threshold applies to: the value, or its % deviation from the baseline).

    ``buckets`` has columns bucket (naive UTC datetime), key, num, den, n (see ``metric_buckets``).
    Windows with fewer than ``min_count`` observations get no value."""
    combine = METRICS[rule.metric].combine
    out = []
    for key, part in buckets.sort_values("bucket").groupby("key", sort=True):
        part = part.set_index("bucket")[["num", "den", "n"]].astype("float64")
        if rule.window > rule.step:
            window = f"{rule.window}s"
            rolled = part.rolling(window, closed="right")
            part = pd.DataFrame({"num": rolled["num"].max() if combine == "max" else rolled["num"].sum(),
                                 "den": rolled["den"].sum(), "n": rolled["n"].sum()})
        if combine == "ratio":
            value = part["num"] / part["den"].where(part["den"] > 0)
        else:
            value = part["num"].copy()
        value[part["n"] < max(rule.min_count, 1)] = np.nan
        frame = pd.DataFrame({"bucket": part.index, "key": key, "value": value.to_numpy(), "n": part["n"].to_numpy()})
        frame["baseline"] = _baseline(value, rule.baseline_weeks) if rule.baseline_weeks else np.nan
        out.append(frame)
    if not out:
        return _empty_values()
    frame = pd.concat(out, ignore_index=True)
    if rule.baseline_weeks:
        base = frame["baseline"].where(frame["baseline"] > 0)
        frame["compared"] = 100.0 * (frame["value"] / base - 1.0)
    else:
        frame["compared"] = frame["value"]
    return frame


def _baseline(value: pd.Series, weeks: int) -> np.ndarray:
    """Mean of ``value`` at the same time 1…``weeks`` weeks earlier; NaN unless all are known
    (a "normal" made of one odd week would alert on noise)."""
    lagged = [value.reindex(value.index - k * WEEK).to_numpy() for k in range(1, weeks + 1)]
    stacked = np.vstack(lagged)
    known = ~np.isnan(stacked)
    counts = known.sum(axis=0)
    sums = np.where(known, stacked, 0.0).sum(axis=0)
    return np.where(counts == weeks, sums / weeks, np.nan)


_OPS = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}


def evaluate(rule: Rule, values: pd.DataFrame) -> tuple[list[Alert], dict[str, datetime]]:
    """The alerts of ``rule`` over ``values`` (from ``metric_values``), in time order, and the
    keys pending at the end (key → since). An alert still firing at the end has no resolved_at."""
    alerts: list[Alert] = []
    pending: dict[str, datetime] = {}
    step = timedelta(seconds=rule.step)
    for key, part in values.dropna(subset=["compared"]).sort_values("bucket").groupby("key", sort=True):
        times = part["bucket"].to_list()
        compared = part["compared"].to_numpy()
        breach = _OPS[rule.operator](compared, rule.threshold)
        hold = breach if rule.clear is None else _OPS[">" if rule.above else "<"](compared, rule.clear)
        i, size = 0, len(times)
        while i < size:
            if not breach[i]:
                i += 1
                continue
            since, j = times[i], i
            # Pending while the observed buckets keep breaching (a bucket with no data is skipped).
            while j < size and breach[j] and times[j] + step - since < timedelta(seconds=rule.for_):
                j += 1
            if j == size or not breach[j]:
                if j == size:
                    pending[key] = since
                i = max(j, i + 1)
                continue
            fired_at = times[j] + step
            k = j
            while k < size and hold[k]:
                k += 1
            resolved = times[k] if k < size else None
            run = compared[i:k]
            peak = float(np.nanmax(run) if rule.above else np.nanmin(run)) if np.isfinite(run).any() else float("nan")
            alerts.append(Alert(rule.name, str(key), since, fired_at, resolved, peak, float(compared[k - 1])))
            i = k
    alerts.sort(key=lambda a: (a.since, a.key))
    return alerts, pending


_WORD = re.compile(r"\w+", re.UNICODE)


def negative_words(text: str | None, keywords) -> list[str]:
    """The ``keywords`` (casefolded words or phrases) that occur in ``text`` as whole words,
    ignoring case, in the order of ``keywords``."""
    if not text:
        return []
    words = _WORD.findall(text.casefold())
    joined = " " + " ".join(words) + " "
    found = []
    for keyword in keywords:
        phrase = " ".join(_WORD.findall(keyword.casefold()))
        if phrase and f" {phrase} " in joined:
            found.append(keyword)
    return found


# --- SQL -----------------------------------------------------------------------------------------

def lookback(rule: Rule) -> timedelta:
    """How far before the range the metric must be read for the range's first buckets to be
    right: the window, the pending period, and the baseline's weeks."""
    return timedelta(seconds=rule.window + rule.for_ + rule.step) + rule.baseline_weeks * WEEK


def _wide(filters: Filters, rule: Rule) -> Filters:
    return replace(filters, start=filters.start - lookback(rule))


def complete_windows_from(filters: Filters, rule: Rule) -> datetime:
    """The first bucket (naive UTC) whose window lies wholly inside what ``metric_buckets``
    reads: earlier buckets would see a window cut short by the read's start."""
    return _wide(filters, rule).utc_bounds()[0] + timedelta(seconds=rule.window - rule.step)


def _ratio_of(metric: str) -> catalogue.Ratio | None:
    """The catalogue's ratio formula that an alert rule's ``metric`` reads, if it has one."""
    item = catalogue.by_alert_metric(metric)
    return item.formula if item is not None and isinstance(item.formula, catalogue.Ratio) else None


def _plan(engine: sa.Engine, schema: Schema, wide: Filters, rule: Rule) -> plans.Plan:
    """Where the rule's metric reads: the rollups for the escalation rate (dialogs keep their
    exact start), stepping by whole hours the metrics that are the catalogue's ratios of
    measures, and the p95 of all rows at the steps rollup_latency_p95 keeps; else raw."""
    kept_p95 = rule.metric == "p95_response_time" and not rule.by and sources.keeps_p95(wide, rule.step)
    summed = _ratio_of(rule.metric) is not None and rule.step % 3600 == 0
    if rule.metric != "escalation_rate" and not kept_p95 and not summed:
        return plans.Plan(wide, reason="alert step finer than an hour or a percentile")
    return plans.plan(engine, schema, wide)


def _bucket_sql(schema: Schema, filters: Filters, rule: Rule, dialect: str,
                chosen: plans.Plan) -> tuple[str, dict] | None:
    """``SELECT bucket, key, num, den, n`` for the rule's metric per step over ``filters``, or
    None when the database lacks the table or a column the metric needs. With ``chosen``
    rolled up, the catalogue's ratios read the rollups."""
    metric = METRICS[rule.metric]
    if metric.key in rule_records.SERVICE_METRICS:
        where, params = sql.table_where(filters, metric.table, schema, dialect)
        inner = rule_records.service_buckets(schema, rule, dialect, where)
        return None if inner is None else (inner, params)
    if not schema.has_table(metric.table):
        return None
    by = rule_records.label(schema, rule)
    key = f'"{by}"' if by else "''"
    if metric.key == "escalation_rate":
        if not schema.has(CM, "escalated"):
            return None
        # The dialogs that start in each step, by their facts (a label: each value they touch).
        hourly = chosen if rule.step % 3600 == 0 else replace(chosen, rolled=None, late=())
        stats = dialogs.sums(hourly, schema, dialect, by=by or None)
        return (f"""SELECT {sql.epoch_bucket("t", rule.step, dialect)} AS bucket, {'value' if by else "''"} AS key,
                           100 * SUM(escalated) AS num, SUM(dialogs) AS den, SUM(dialogs) AS n
                    FROM ({stats.text}) s GROUP BY 1, 2 HAVING SUM(dialogs) > 0""", stats.params)
    if metric.key == "p95_response_time":
        kept = sources.p95_source(chosen, schema, dialect, rule.step) if chosen.rolled else None
        if kept is not None and not by:
            return f"SELECT bucket, '' AS key, p95 AS num, 1 AS den, n FROM ({kept.text}) p", kept.params
        p95 = sql.percentile(f'CASE WHEN {TIMED} THEN "response_time_ms" END', 0.95, dialect)
        parts = f"{p95} AS num, 1 AS den, COUNT(CASE WHEN {TIMED} THEN 1 END) AS n"
    elif (ratio := _ratio_of(metric.key)) is not None:
        # The catalogue's ratio over the measures of the rolled-up hours and the raw rows alike.
        source = sources.message_source(chosen, schema, dialect, ratio.measures, by_dimension=bool(by))
        terms = ratio.columns()
        return (f"SELECT {sql.epoch_bucket('t', rule.step, dialect)} AS bucket, {key} AS key, "
                f"{ratio.scale!r} * {terms['num']} AS num, {terms['den']} AS den, {terms['den']} AS n "
                f"FROM ({source.text}) m GROUP BY 1, 2", source.params)
    else:  # negative_reviews: matched in Python (whole words), see review_candidates
        return None
    where, params = sql.table_where(filters, CM, schema, dialect)
    return (f"SELECT {sql.epoch_bucket(sql.TS, rule.step, dialect)} AS bucket, {key} AS key, {parts} "
            f"FROM {CM} {where} GROUP BY 1, 2", params)


def metric_buckets(engine: sa.Engine, schema: Schema, filters: Filters, rule: Rule,
                   keywords=()) -> pd.DataFrame:
    """The rule's metric per step over the filters' range widened by ``lookback``: columns
    bucket (naive UTC start), key, num, den, n. Empty when the table or column is missing."""
    wide = _wide(filters, rule)
    if rule.metric == "negative_reviews":
        return _negative_review_buckets(engine, schema, wide, rule, keywords)
    chosen = _plan(engine, schema, wide, rule)
    with plans.reading(chosen, "metric_buckets"):
        statement = _bucket_sql(schema, wide, rule, engine.dialect.name, chosen)
        if statement is None:
            return _empty_buckets()
        return _buckets(engine, statement[0] + " ORDER BY 1", statement[1])


def _empty_buckets() -> pd.DataFrame:
    return pd.DataFrame({"bucket": pd.Series(dtype="datetime64[us]"), "key": pd.Series(dtype=object),
                         "num": pd.Series(dtype="float64"), "den": pd.Series(dtype="float64"),
                         "n": pd.Series(dtype="float64")})


def _epoch_times(values: pd.Series) -> pd.Series:
    return pd.to_datetime(pd.to_numeric(values).astype("int64"), unit="s").astype("datetime64[us]")


def _buckets(engine: sa.Engine, text: str, params: dict) -> pd.DataFrame:
    frame = sql.numeric(sql.read_frame(engine, text, params), ["bucket", "num", "den", "n"])
    if frame.empty:
        return _empty_buckets()
    frame["bucket"] = _epoch_times(frame["bucket"])
    frame["key"] = frame["key"].fillna("").astype(str)
    return frame


# Chart buckets for a rule's metric: the finest that keeps a line to ~1,500 points.
CHART_STEPS = (60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400)
CHART_POINTS = 750


def chart_step(rule: Rule, filters: Filters) -> int:
    seconds = filters.length.total_seconds()
    return next((s for s in CHART_STEPS if s >= rule.step and seconds / s <= CHART_POINTS), CHART_STEPS[-1])


def _reduced_in_sql(engine: sa.Engine, schema: Schema, filters: Filters, rule: Rule) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rule's windowed values computed in the database, returning only what the evaluator
    needs (``rule_records.kept``) and the chart line (the worst value per chart bucket). For rules
    without a baseline: minute steps over months stay a few thousand rows. A rule the rollups'
    refresh records (``data_access.rule_records``) reads its records and the raw rows after them."""
    dialect = engine.dialect.name
    wide = _wide(filters, rule)
    step = chart_step(rule, filters)
    chart_start = filters.utc_bounds()[0]
    upto, reason = _records_until(engine, schema, filters, rule, step)
    if upto is not None:
        lo, hi = wide.utc_bounds()
        recorded = (complete_windows_from(filters, rule), min(upto, hi))
        raw_from = max(lo, recorded[1] - timedelta(seconds=rule.window))
        where, params = sql.table_where(replace(wide, start=raw_from, end=max(hi, raw_from), tz="UTC"),
                                        METRICS[rule.metric].table, schema, dialect)
        inner = rule_records.service_buckets(schema, rule, dialect, where)
        if inner is None:
            return _empty_values(), _empty_values()
        with logs.named("rule_history"), logs.read_path("rule records + raw"):
            return _reduce(engine, rule, rule_records.reduction_sql(inner, params, rule, chart_start, step,
                                                                     recorded=recorded))
    chosen = _plan(engine, schema, wide, rule)
    if reason and not chosen.rolled:
        chosen = plans.Plan(wide, reason=reason)
    with plans.reading(chosen, "rule_history"):
        statement = _bucket_sql(schema, wide, rule, dialect, chosen)
        if statement is None:
            return _empty_values(), _empty_values()
        return _reduce(engine, rule, rule_records.reduction_sql(*statement, rule, chart_start, step))


def _records_until(engine: sa.Engine, schema: Schema, filters: Filters, rule: Rule,
                   step: int) -> tuple[datetime | None, str]:
    """Until when the rule's records serve ``filters`` (naive UTC), or (None, why not; "" when the
    rule is not one the refresh records)."""
    if not rule_records.recordable(rule):
        return None, ""
    forced = plans.forced_raw()
    if forced:
        return None, forced
    if not rule_records.readable(rule, filters, step):
        return None, "chart buckets finer than the rule records or off their grain"
    try:
        return rule_records.recorded_until(engine, schema, rule, complete_windows_from(filters, rule))
    except sa.exc.SQLAlchemyError:
        return None, "rule records unreadable"


def _reduce(engine: sa.Engine, rule: Rule, statement: tuple[str, dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    text, params = statement
    frame = sql.numeric(sql.read_frame(engine, text, params), ["bucket", "value", "n"])
    frame["bucket"] = _epoch_times(frame["bucket"]) if not frame.empty else frame["bucket"]
    frame["key"] = frame["key"].fillna("").astype(str)
    evaluated = frame[frame["part"] == "eval"].drop(columns="part").sort_values(["key", "bucket"], ignore_index=True)
    chart = frame[frame["part"] == "chart"].drop(columns="part").sort_values(["key", "bucket"], ignore_index=True)
    evaluated["baseline"] = np.nan
    evaluated["compared"] = evaluated["value"]
    return evaluated, chart


def _empty_values() -> pd.DataFrame:
    return pd.DataFrame({"bucket": pd.Series(dtype="datetime64[us]"), "key": pd.Series(dtype=object),
                         **{c: pd.Series(dtype="float64") for c in ("value", "n", "baseline", "compared")}})


def review_candidates(engine: sa.Engine, schema: Schema, filters: Filters, keywords) -> pd.DataFrame:
    """NPS responses in range whose comment holds a keyword as a whole word, ignoring case
    (SQL narrows with LIKE on the lower-cased text, Python checks word boundaries): timestamp
    (naive UTC), platform, score, comment, words. The hours service_rollups keeps hold the
    responses with alerts.yml's keywords: read there when these are among them."""
    columns = ["timestamp", "platform", "score", "comment", "words"]
    if not keywords or not schema.has("nps_responses", "comment"):
        return pd.DataFrame(columns=columns)
    dialect = engine.dialect.name
    chosen = service_rollups.plan(service_rollups.NPS, engine, schema, filters, terms=tuple(keywords))
    with plans.reading(chosen, "review_candidates"):
        source, params = service_rollups.rows_source(chosen, service_rollups.NPS, schema, dialect)
        holds, words = sql.contains_any('"comment"', keywords, dialect)
        frame = sql.read_frame(engine, f"""SELECT at AS "timestamp", name AS platform, score, "comment"
                                           FROM ({source}) r WHERE {holds} ORDER BY at""", {**params, **words})
    frame["words"] = [", ".join(negative_words(c, keywords)) for c in frame["comment"]]
    frame = frame[frame["words"] != ""].reset_index(drop=True)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601").dt.tz_localize(None)
    return sql.numeric(frame, ["score"])[columns]


def _negative_review_buckets(engine, schema, filters, rule, keywords) -> pd.DataFrame:
    found = review_candidates(engine, schema, filters, keywords)
    if found.empty:
        return _empty_buckets()
    found["bucket"] = found["timestamp"].dt.floor(pd.Timedelta(seconds=rule.step))
    found["key"] = found["platform"].fillna("").astype(str) if rule.by == "platform" else ""
    frame = found.groupby(["bucket", "key"], as_index=False).size().rename(columns={"size": "num"})
    frame["den"] = 1.0
    frame["n"] = frame["num"]
    frame["bucket"] = frame["bucket"].astype("datetime64[us]")
    return frame.astype({"num": "float64", "n": "float64"})


@dataclass(frozen=True)
class RuleHistory:
    """A rule's evaluation over a range: its alerts active in the range, the keys pending at the
    end, and the chart line of its metric in the range (bucket, key, value: the worst per bucket)."""

    rule: Rule
    alerts: tuple[Alert, ...]
    pending: dict
    chart: pd.DataFrame


def rule_history(engine: sa.Engine, schema: Schema, filters: Filters, rule: Rule, keywords=()) -> RuleHistory:
    """Evaluate ``rule`` over the filters' range (reading ``lookback`` before it so the first
    buckets are right). Rules with a baseline or on reviews are evaluated in pandas over their
    buckets; the others in SQL, which returns only the buckets that matter. Times naive UTC."""
    with logs.about(rule.name):
        return _rule_history(engine, schema, filters, rule, keywords)


def _rule_history(engine, schema, filters, rule, keywords) -> RuleHistory:
    start, end = filters.utc_bounds()
    alerts, pending, chart = evaluated(engine, schema, filters, rule, keywords)
    alerts = tuple(a for a in alerts if a.fired_at < end and (a.resolved_at is None or a.resolved_at > start))
    return RuleHistory(rule, alerts, pending, chart)


def evaluated(engine: sa.Engine, schema: Schema, filters: Filters, rule: Rule,
              keywords=()) -> tuple[list[Alert], dict[str, datetime], pd.DataFrame]:
    """Every alert of ``rule`` over the filters' range and the ``lookback`` before it (not yet
    cut to the range), the keys pending at the end, and the chart line in the range. The one
    evaluation of the Alerts page and the watcher (data_access.alert_watch)."""
    start, end = filters.utc_bounds()
    complete_from = complete_windows_from(filters, rule)
    if rule.baseline_weeks or rule.metric == "negative_reviews":
        values = metric_values(rule, metric_buckets(engine, schema, filters, rule, keywords))
        values = values[values["bucket"] >= complete_from]
        chart = values[(values["bucket"] >= start) & (values["bucket"] < end)]
        chart = chart.dropna(subset=["value"])[["bucket", "key", "value", "n", "baseline"]].reset_index(drop=True)
    else:
        values, chart = _reduced_in_sql(engine, schema, filters, rule)
        values = values[values["bucket"] >= complete_from]
    alerts, pending = evaluate(rule, values)
    return alerts, pending, chart


HISTORY_COLUMNS = ["rule", "key", "severity", "since", "fired_at", "resolved_at", "peak", "last", "threshold",
                   "firing"]


# The filter field of a rule's ``by`` dimension.
BY_FILTER = {"platform": "platforms", "intent": "intents", "ai_model": "models"}


def driver(engine: sa.Engine, schema: Schema, rule: Rule, key: str | None, at: datetime) -> change.Split | None:
    """Where the value of a rule on a catalogue KPI came from: its last complete window at ``at``
    (naive UTC; the window ends on the rule's step, as its buckets do) against the same window a
    week before, split by the dimension (not the rule's own) with a segment that explains the
    most. None for a rule on another metric, or per service (the service tables have no platform,
    intent or model)."""
    item = catalogue.by_alert_metric(rule.metric)
    if item is None or not change.explained(item.key) or rule.by not in (None, *BY_FILTER):
        return None
    at = datetime(1970, 1, 1) + timedelta(seconds=(at - datetime(1970, 1, 1)).total_seconds() // rule.step * rule.step)
    window, week = timedelta(seconds=max(rule.window, rule.step)), timedelta(weeks=1)
    only = {BY_FILTER[rule.by]: (key,)} if rule.by and key else {}
    now = Filters(at - window, at, tz="UTC", **only)
    before = Filters(at - window - week, at - week, tz="UTC", **only)
    splits = tuple((d,) for d in change.DIMENSIONS if d != rule.by)
    return change.explain(engine, schema, now, before, (item.key,), splits)[item.key]


def history_frame(histories) -> pd.DataFrame:
    """Every alert of ``histories`` (``RuleHistory`` values), one row each: rule, key, severity,
    since, fired_at, resolved_at (NaT while firing), peak, last, threshold, firing; times naive UTC."""
    rows = [{"rule": h.rule.name, "key": a.key, "severity": h.rule.severity, "since": a.since, "fired_at": a.fired_at,
             "resolved_at": a.resolved_at, "peak": a.peak, "last": a.last, "threshold": h.rule.threshold,
             "firing": a.firing}
            for h in histories for a in h.alerts]
    frame = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    for column in ("since", "fired_at", "resolved_at"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    frame = frame.astype({"firing": bool, "peak": "float64", "last": "float64", "threshold": "float64"})
    return frame.sort_values(["fired_at", "rule", "key"], ignore_index=True)


def histories(engine: sa.Engine, schema: Schema, filters: Filters, rules, keywords=(),
              workers: int = 4) -> list[RuleHistory]:
    """``rule_history`` of each rule, in the rules' order, run on up to ``workers`` connections
    at once (each rule is one statement; the database does the work in parallel)."""
    return sql.concurrently([lambda r=r: rule_history(engine, schema, filters, r, keywords) for r in rules], workers)


def history(engine: sa.Engine, schema: Schema, filters: Filters, rules, keywords=()) -> pd.DataFrame:
    """``history_frame`` of every rule in ``rules`` over the filters' range."""
    return history_frame(histories(engine, schema, filters, rules, keywords))


def main(argv: list[str] | None = None) -> int:
    """``python -m data_access.alerts watch``: the alert watcher (data_access.alert_watch)."""
    import argparse
    import os
    from pathlib import Path

    from data_access import alert_watch
    from data_access.alert_rules import load_rules, rules_path
    from data_access.engine import make_engine, resolve_config

    parser = argparse.ArgumentParser(prog="python -m data_access.alerts",
                                     description="Evaluate alerts.yml and hand the alerts to Prometheus Alertmanager.")
    parser.add_argument("command", choices=["watch"])
    parser.add_argument("--alertmanager", default=os.environ.get("EASYFLOW_ALERTMANAGER_URL"),
                        help="Alertmanager's base URL, e.g. http://127.0.0.1:9093 (default EASYFLOW_ALERTMANAGER_URL)")
    parser.add_argument("--url", help="database URL (default: DATABASE_URL, then secrets, as the dashboard)")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between rounds (default 60)")
    parser.add_argument("--once", action="store_true", help="one round, then exit")
    parser.add_argument("--now", type=_timestamp, help="evaluate as if it were this UTC moment (with --once)")
    parser.add_argument("--state", type=Path, default=alert_watch.DEFAULT_STATE,
                        help="the state file (default .easyflow/alert-watch.json)")
    parser.add_argument("--dashboard-url", default=os.environ.get("EASYFLOW_DASHBOARD_URL"),
                        help="the dashboard's base URL, for each alert's link (default EASYFLOW_DASHBOARD_URL)")
    args = parser.parse_args(argv)
    if not args.alertmanager:
        parser.error("--alertmanager is required (or set EASYFLOW_ALERTMANAGER_URL)")
    if args.now is not None and not args.once:
        parser.error("--now evaluates one moment: use it with --once")
    if args.every < 1:
        parser.error("--every must be at least 1 second")
    logs.configure()
    for problem in load_rules(rules_path()).problems:  # the valid rules are watched; the page lists these too
        logs.get("easyflow.alerts").warning("alert_rule_invalid", problem=str(problem))
    watcher = alert_watch.Watcher(make_engine(args.url or resolve_config().url), args.alertmanager,
                                  lambda: load_rules(rules_path()), state_path=args.state, every=args.every,
                                  dashboard_url=args.dashboard_url)
    if args.once:
        result = watcher.round(args.now)
        print(f"{len(result.firing)} firing, {len(result.resolved)} resolved; "
              f"database {'ok' if result.database_ok else 'unavailable'}; "
              f"{'delivered' if result.delivered else 'NOT delivered'} to Alertmanager")
        return 0 if result.delivered else 1
    try:
        watcher.run()
    except KeyboardInterrupt:
        return 0
    return 0


def _timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        import argparse

        raise argparse.ArgumentTypeError(f"not an ISO time: {text[:40]!r} (e.g. 2026-11-20T03:13:00Z)") from None
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


if __name__ == "__main__":
    raise SystemExit(main())
