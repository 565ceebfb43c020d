"""Daily, weekly and monthly reports: every contract KPI for the period and the one before with
the change, breakdowns by platform and intent, anomalies against a robust baseline, the alerts
that fired, and rule-based recommendations that cite the report's own numbers. Weekly adds daily
trends; monthly adds the model and cost comparison and SLA compliance.

Anomalies: for each bucket of the period (hours of a daily report, days otherwise) and each KPI
of ``ANOMALY_KPIS``, the normal band is the median of the same bucket (same weekday, and hour)
over the ``BASELINE_WEEKS`` trailing weeks, with its spread the median absolute deviation (MAD).
A bucket is an anomaly when its robust z = (value − median) / (1.4826 × MAD) is at least
``Z_THRESHOLD`` in size and the value differs from the median by at least ``MIN_CHANGE`` of it;
rates need ``MIN_SAMPLE`` observations in the bucket and a difference beyond three binomial
standard errors (sampling noise). Same-weekday baselines keep the normal
weekly pattern (quiet weekends) from being reported.
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa

from data_access import alerts, business, catalogue, change, dialogs, kpis, operational, plans, sla, sources, sql
from data_access.alert_rules import RuleSet, SlaTargets
from data_access.filters import Filters
from data_access.schema import Schema

KINDS = ("daily", "weekly", "monthly")
BASELINE_WEEKS = 4
Z_THRESHOLD = 3.5
MIN_CHANGE = 0.10
MIN_SAMPLE = 30
# KPI → (unit, the column of its sample size in ``series``, higher is better): the catalogue's watched KPIs.
ANOMALY_KPIS = {key: (item.unit, item.sample, item.higher_is_better) for key, item in catalogue.watched().items()}
REPORT_KPIS = tuple(k for k in kpis.KPIS if k not in ("cpu", "memory", "disk", "active_sessions"))
# The KPIs whose change a report splits by segment (``data_access.change``): every one with a
# formula over measures but the percentiles, which do not add up over segments.
SPLIT_KPIS = tuple(k for k in REPORT_KPIS if change.explained(k)
                   and not isinstance(catalogue.KPIS[k].formula, catalogue.Percentile))
# The anomalies a report explains (the largest first): each costs a split of its bucket.
EXPLAINED_ANOMALIES = 5


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in local dates: a day, an ISO week (Monday first) or a calendar month."""

    kind: str
    start: date
    end: date

    def previous(self) -> "Period":
        return period_containing(self.kind, self.start - timedelta(days=1))

    def filters(self, base: Filters) -> Filters:
        return replace(base, start=datetime.combine(self.start, time()), end=datetime.combine(self.end, time()))


def period_containing(kind: str, day: date) -> Period:
    """The period of ``kind`` that contains ``day``. Raises ``ValueError`` for another kind."""
    if kind == "daily":
        return Period(kind, day, day + timedelta(days=1))
    if kind == "weekly":
        monday = day - timedelta(days=day.weekday())
        return Period(kind, monday, monday + timedelta(days=7))
    if kind == "monthly":
        first = day.replace(day=1)
        return Period(kind, first, first + timedelta(days=monthrange(day.year, day.month)[1]))
    raise ValueError(f"unknown report period {kind!r}; one of {', '.join(KINDS)}")


def last_complete(kind: str, today: date) -> Period:
    """The latest period of ``kind`` that has ended by ``today`` (local)."""
    return period_containing(kind, today).previous()


@dataclass(frozen=True)
class Recommendation:
    """A sentence (``key`` in the catalogue) and the values it cites, each as (value, unit)."""

    key: str
    values: dict


@dataclass
class Report:
    kind: str
    period: Period
    previous: Period
    partial: bool
    has_data: bool
    kpis: pd.DataFrame                   # key, unit, current, previous, n, higher_is_better
    platforms: pd.DataFrame              # breakdown by platform (this period)
    intents: pd.DataFrame                # by intent, with the previous period's escalation rate
    anomalies: pd.DataFrame              # bucket, kpi, unit, value, normal, change, z, n, split
    alerts: pd.DataFrame                 # history_frame of the period
    trend: pd.DataFrame                  # per bucket values of ANOMALY_KPIS (this period)
    models: pd.DataFrame = field(default_factory=pd.DataFrame)        # monthly
    sla_services: pd.DataFrame = field(default_factory=pd.DataFrame)  # monthly
    sla_answers: pd.DataFrame = field(default_factory=pd.DataFrame)   # monthly
    targets: SlaTargets = field(default_factory=SlaTargets)
    recommendations: list[Recommendation] = field(default_factory=list)
    filters: Filters | None = None
    # Each SPLIT_KPIS change against the previous period, split by the dimension that explains most.
    splits: dict[str, change.Split] = field(default_factory=dict)


@plans.reader(local_buckets=True)
def message_series(chosen: plans.Plan, engine: sa.Engine, schema: Schema, filters: Filters, unit: str) -> pd.DataFrame:
    """Per local bucket: the value of each message-level KPI the reports watch and its sample size
    (its ``sample`` column), by the catalogue's formulas."""
    source = sources.message_source(chosen, schema, engine.dialect.name, _watched_measures("messages"), daily=unit,
                                    by_dimension=False)
    return _formula_series(engine, schema, filters, unit, "messages", source)


@plans.reader(local_buckets=True)
def dialog_series(chosen: plans.Plan, engine: sa.Engine, schema: Schema, filters: Filters, unit: str) -> pd.DataFrame:
    """Per local bucket of dialog start: the value of each dialog-level KPI the reports watch and
    its sample size, by the catalogue's formulas."""
    source = dialogs.sums(chosen, schema, engine.dialect.name, daily=unit)
    return _formula_series(engine, schema, filters, unit, "dialogs", source)


def _watched_measures(level: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(m for item in catalogue.watched().values() if item.level == level
                               for m in item.formula.measures))


def _formula_series(engine: sa.Engine, schema: Schema, filters: Filters, unit: str, level: str,
                    source: sources.Source) -> pd.DataFrame:
    items = [item for item in catalogue.watched().values() if item.level == level]
    params = dict(source.params)
    bucket = sql.local_bucket("t", unit, filters, schema, "conversation_metrics", engine.dialect.name, params)
    sums = ", ".join(f"{expr} AS {name}" for item in items
                     for name, expr in item.formula.columns(f"{item.key}__").items())
    frame = sql.read_frame(engine, f"SELECT {bucket} AS bucket, {sums} FROM ({source.text}) m GROUP BY 1", params)
    out = pd.DataFrame({"bucket": pd.to_datetime(frame["bucket"])})
    for item in items:
        value, n = item.formula.series(frame, f"{item.key}__")
        out[item.key] = value
        if item.sample:
            out[item.sample] = n
    return out


def series(engine: sa.Engine, schema: Schema, filters: Filters, unit: str) -> pd.DataFrame:
    """Per local bucket (``unit``): the values of ``ANOMALY_KPIS`` and their sample sizes
    (``sample`` of each), from three grouped statements; the error rate is
    ``operational.traffic``'s, summed over services."""
    messages = message_series(engine, schema, filters, unit)
    outcomes = dialog_series(engine, schema, filters, unit)
    frame = messages.merge(outcomes[outcomes["dialogs"] > 0], on="bucket", how="outer")
    if schema.has("system_metrics", "errors") and schema.has("system_metrics", "requests"):
        system = operational.error_rate_over_time(operational.traffic(engine, schema, filters, unit))
        frame = frame.merge(system[["bucket", "requests", "error_rate"]], on="bucket", how="outer")
    else:
        frame["requests"] = np.nan
        frame["error_rate"] = np.nan
    return frame.sort_values("bucket", ignore_index=True)


def find_anomalies(frame: pd.DataFrame, start: datetime, end: datetime, unit: str) -> pd.DataFrame:
    """The anomalies among the buckets in [start, end) of ``frame`` (from ``series``, reaching
    ``BASELINE_WEEKS`` weeks before ``start``): bucket, kpi, unit, value, normal, change (%), z, n."""
    rows = []
    indexed = frame.set_index("bucket")
    for bucket in indexed.index[(indexed.index >= start) & (indexed.index < end)]:
        earlier = [bucket - timedelta(weeks=k) for k in range(1, BASELINE_WEEKS + 1)]
        for key, (kpi_unit, sample, _) in ANOMALY_KPIS.items():
            if key not in indexed:
                continue
            value = indexed.at[bucket, key]
            n = indexed.at[bucket, sample] if sample else value
            if pd.isna(value) or (sample and (pd.isna(n) or n < MIN_SAMPLE)):
                continue
            history = indexed[key].reindex(earlier).dropna()
            if sample:
                sizes = indexed[sample].reindex(history.index)
                history = history[sizes >= MIN_SAMPLE]
            if len(history) < 3:
                continue
            normal = float(np.median(history))
            mad = float(np.median(np.abs(history - normal)))
            scale = 1.4826 * mad
            if normal == 0:
                continue
            change = (value - normal) / abs(normal)
            z = (value - normal) / scale if scale > 0 else np.inf * np.sign(value - normal)
            if kpi_unit == "percent" and sample:
                # Beyond sampling noise too: a rate over n observations wobbles by about
                # sqrt(p (1 − p) / n) on its own.
                p = min(max(normal / 100.0, 0.0), 1.0)
                if abs(value - normal) < 3 * 100.0 * np.sqrt(p * (1 - p) / n):
                    continue
            if abs(z) >= Z_THRESHOLD and abs(change) >= MIN_CHANGE:
                rows.append({"bucket": bucket, "kpi": key, "unit": kpi_unit, "value": float(value), "normal": normal,
                             "change": 100.0 * change, "z": float(z), "n": None if pd.isna(n) else int(n)})
    columns = ["bucket", "kpi", "unit", "value", "normal", "change", "z", "n"]
    return pd.DataFrame(rows, columns=columns).sort_values(["bucket", "kpi"], ignore_index=True)


def explain_anomalies(engine: sa.Engine, schema: Schema, anomalies: pd.DataFrame, base: Filters,
                      unit: str) -> pd.DataFrame:
    """``anomalies`` with ``split``: for the ``EXPLAINED_ANOMALIES`` largest of a KPI that splits,
    its bucket's change against the same bucket a week before, by the dimension that explains most."""
    out = anomalies.assign(split=None)
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    largest = out[out["kpi"].isin(SPLIT_KPIS)].sort_values("z", key=abs, ascending=False).head(EXPLAINED_ANOMALIES)

    def explained(row) -> Callable[[], object]:
        bucket = pd.Timestamp(row["bucket"]).to_pydatetime()
        now = replace(base, start=bucket, end=bucket + step)
        before = replace(base, start=bucket - timedelta(weeks=1), end=bucket - timedelta(weeks=1) + step)
        return lambda: change.explain(engine, schema, now, before, (row["kpi"],))[row["kpi"]]

    found = sql.concurrently([explained(row) for _, row in largest.iterrows()])  # independent: two at once
    for index, split in zip(largest.index, found):
        out.at[index, "split"] = split
    return out


def _kpi_table(current: dict, previous: dict) -> pd.DataFrame:
    rows = []
    for key in REPORT_KPIS:
        item = kpis.KPIS[key]
        now, before = current.get(key), previous.get(key)
        if now is None or now.reason == kpis.NOT_TRACKED:
            continue
        rows.append({"key": key, "unit": item.unit, "current": now.value, "previous": before.value if before else None,
                     "n": now.n, "higher_is_better": item.higher_is_better})
    return pd.DataFrame(rows, columns=["key", "unit", "current", "previous", "n", "higher_is_better"])


def build(engine: sa.Engine, schema: Schema, kind: str, day: date, base: Filters, rules: RuleSet | None = None,
          now: datetime | None = None) -> Report:
    """The report of ``kind`` for the period containing ``day``, under ``base``'s platform, intent
    and model filters and timezone (its dates are replaced). ``now`` (local, naive) decides
    whether the period is partial. Raises ``ValueError`` for an unknown kind."""
    period = period_containing(kind, day)
    before = period.previous()
    current_f, previous_f = period.filters(base), before.filters(base)
    now = now or datetime.now()
    partial = now < datetime.combine(period.end, time())
    unit = "hour" if kind == "daily" else "day"
    wide = replace(current_f, start=current_f.start - timedelta(weeks=BASELINE_WEEKS))
    monthly = kind == "monthly"
    now_utc = current_f.to_utc(now)
    # Independent reads, the slowest first, on two connections at once; an empty period costs
    # little, so the whole set is asked for before knowing whether the period has data.
    calls = {
        "values": lambda: series(engine, schema, wide, unit),
        "history": lambda: (alerts.history(engine, schema, current_f, rules.rules, rules.negative_keywords)
                            if rules and rules.rules else alerts.history_frame([])),
        "current": lambda: kpis.compute(engine, schema, current_f, REPORT_KPIS),
        "previous": lambda: kpis.compute(engine, schema, previous_f, REPORT_KPIS),
        "intents": lambda: business.breakdown(engine, schema, current_f, "intent"),
        "earlier": lambda: business.breakdown(engine, schema, previous_f, "intent"),
        "platforms": lambda: business.breakdown(engine, schema, current_f, "platform"),
        "splits": lambda: change.explain(engine, schema, current_f, previous_f, SPLIT_KPIS),
    }
    targets = rules.sla if rules else SlaTargets()
    if monthly:
        calls["models"] = lambda: business.breakdown(engine, schema, current_f, "ai_model")
        calls["sla_answers"] = lambda: sla.compliance(engine, schema, current_f, "answers", targets, now=now_utc)
        calls["sla_services"] = lambda: sla.compliance(engine, schema, current_f, "services", targets, now=now_utc)
    got = dict(zip(calls, sql.concurrently(list(calls.values()))))
    current, previous = got["current"], got["previous"]
    table = _kpi_table(current, previous)
    has_data = bool(current["messages"].value)
    empty = pd.DataFrame()
    if not has_data:
        return Report(kind, period, before, partial, False, table, empty, empty, empty, empty, empty,
                      targets=targets, filters=current_f)
    platforms = got["platforms"]
    earlier = got["earlier"][["intent", "escalation_rate", "dialogs"]]
    intents = got["intents"].merge(earlier.rename(columns={"escalation_rate": "previous_escalation_rate",
                                                           "dialogs": "previous_dialogs"}), on="intent", how="left")
    values = got["values"]
    anomalies = explain_anomalies(engine, schema, find_anomalies(values, current_f.start, current_f.end, unit),
                                  current_f, unit)
    trend = values[(values["bucket"] >= current_f.start) & (values["bucket"] < current_f.end)].reset_index(drop=True)
    history = got["history"]
    by_name = {rule.name: rule for rule in (rules.rules if rules else ())}
    history["title"] = [by_name[r].title_in("en") if r in by_name else r for r in history["rule"]]
    history["title_ru"] = [by_name[r].title_in("ru") if r in by_name else r for r in history["rule"]]
    report = Report(kind, period, before, partial, True, table, platforms, intents, anomalies, history, trend,
                    targets=targets, filters=current_f, splits=got["splits"])
    if monthly:
        report.models, report.sla_services, report.sla_answers = got["models"], got["sla_services"], got["sla_answers"]
    report.recommendations = recommend(report)
    return report


def recommend(report: Report) -> list[Recommendation]:
    """Short rule-based advice; every number it cites is a cell of the report's tables."""
    out: list[Recommendation] = []
    values = {row["key"]: row for row in report.kpis.to_dict("records")}

    def kpi(key):
        row = values.get(key)
        return (None, None, None) if row is None else (row["current"], row["previous"], row["n"])

    def why(key, split=None):
        """The sentence that names where ``key``'s change (or an anomaly's ``split``) came from."""
        found = split if split is not None else report.splits.get(key)
        if found is not None and found.segments and found.delta:
            out.append(Recommendation("rec.why" if split is None else "rec.anomaly_why", {"sentence": (found, "split")}))

    now, before, n = kpi("csat")
    if now is not None and before is not None and now <= before - 3:
        out.append(Recommendation("rec.csat_fell", {"previous": (before, "percent"), "current": (now, "percent"),
                                                    "n": (n, "count")}))
        why("csat")
    now, before, n = kpi("escalation_rate")
    if now is not None and before is not None and now >= before + 3:
        out.append(Recommendation("rec.escalations_rose", {"previous": (before, "percent"),
                                                           "current": (now, "percent"), "n": (n, "count")}))
        why("escalation_rate")
    if not report.intents.empty and "previous_escalation_rate" in report.intents:
        rising = report.intents[(report.intents["dialogs"] >= MIN_SAMPLE)
                                & (report.intents["previous_dialogs"] >= MIN_SAMPLE)
                                & (report.intents["escalation_rate"] >= report.intents["previous_escalation_rate"] + 5)]
        for row in rising.sort_values("escalation_rate", ascending=False).head(3).to_dict("records"):
            out.append(Recommendation("rec.intent_escalations", {
                "intent": (row["intent"], "intent"), "previous": (row["previous_escalation_rate"], "percent"),
                "current": (row["escalation_rate"], "percent"), "n": (row["dialogs"], "count")}))
    now, _, _ = kpi("p95_response_time")
    if now is not None and now > report.targets.response_time_ms:
        out.append(Recommendation("rec.slow_answers", {"current": (now, "ms"),
                                                       "target": (report.targets.response_time_ms, "ms")}))
    if not report.alerts.empty:
        critical = report.alerts[report.alerts["severity"] == "critical"]
        if not critical.empty:
            # Each rule's title in both languages: the sentence is written in the reader's.
            titles = tuple(sorted(set(zip(critical["title"], critical["title_ru"]))))
            out.append(Recommendation("rec.critical_alerts", {"count": (len(critical), "count"),
                                                              "rules": (titles, "titles")}))
    for row in report.anomalies.sort_values("z", key=abs, ascending=False).head(3).to_dict("records"):
        out.append(Recommendation("rec.anomaly", {"kpi": (row["kpi"], "kpi"), "when": (row["bucket"], "bucket"),
                                                  "value": (row["value"], row["unit"]),
                                                  "normal": (row["normal"], row["unit"])}))
        if row.get("split") is not None:
            why(row["kpi"], row["split"])
    now, before, _ = kpi("cost")
    if now is not None and before and float(now) >= 1.1 * float(before):
        out.append(Recommendation("rec.cost_rose", {"previous": (before, "money"), "current": (now, "money")}))
        why("cost")
    if not out:
        out.append(Recommendation("rec.all_normal", {}))
    return out
