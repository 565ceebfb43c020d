"""Queries of the AI performance page: latency percentiles, intent accuracy with confusion and
calibration, answer quality, token use and cost tied to dialog outcomes. Small DataFrames."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
import sqlalchemy as sa

from data_access import catalogue, dialogs, plans, sources, sql
from data_access.business import money
from data_access.filters import Filters
from data_access.kpis import CM
from data_access.schema import Schema

# The latency chart's bins (the catalogue's latency_bin_i measures): (upper bound in ms, label).
LATENCY_BINS = tuple(zip((*catalogue.LATENCY_EDGES, None),
                         ("< 0.5 s", "0.5–1 s", "1–2 s", "2–3 s", "3–5 s", "5–10 s", "≥ 10 s"), strict=True))
# Confidence buckets for calibration (the catalogue's confidence_i measures): [lower, upper) except
# the last, which includes 1.0.
CONFIDENCE_BUCKETS = tuple(zip((0.0, *catalogue.CONFIDENCE_EDGES), (*catalogue.CONFIDENCE_EDGES, 1.0)))
OTHER = "other"


def _model(schema: Schema) -> str:
    return "COALESCE(\"ai_model\", '(none)')" if schema.has(CM, "ai_model") else "'(all)'"


@plans.reader(local_buckets=True)
def latency_percentiles(chosen: plans.Plan, engine: sa.Engine, schema: Schema, filters: Filters,
                unit: str) -> pd.DataFrame:
    """Per local bucket and model: messages and the 50th, 95th and 99th percentile of
    response_time_ms (linear interpolation; negative times left out), within
    ``rollups.LATENCY_RELATIVE_ERROR`` where read from the rolled-up histograms."""
    params: dict = {}
    bucket = sql.local_bucket("t", unit, filters, schema, CM, engine.dialect.name, params)
    frame = sources.percentiles(engine, chosen, schema, {"bucket": bucket, "model": _model(schema)},
                                {"p50": 0.5, "p95": 0.95, "p99": 0.99}, params=params, per="ai_model",
                                daily=unit)
    frame = frame.rename(columns={"timed": "messages"})
    frame["bucket"] = pd.to_datetime(frame["bucket"])
    return sql.numeric(frame, ["messages", "p50", "p95", "p99"]).dropna(subset=["p50"]).sort_values(
        ["bucket", "model"], ignore_index=True)


@plans.reader()
def latency_histogram(chosen: plans.Plan, engine: sa.Engine, schema: Schema, filters: Filters) -> pd.DataFrame:
    """Messages per response-time bin (``LATENCY_BINS``) and model, with each model's share."""
    source = sources.message_source(chosen, schema, engine.dialect.name, daily=True)
    bins = " UNION ALL ".join(f"SELECT model, {i} AS bin, latency_bin_{i} AS messages FROM s"
                              for i in range(len(LATENCY_BINS)))
    frame = sql.read_frame(engine, f"""
        WITH s AS (SELECT {_model(schema)} AS model, {", ".join(f"SUM(latency_bin_{i}) AS latency_bin_{i}"
                                                                 for i in range(len(LATENCY_BINS)))}
                   FROM ({source.text}) m GROUP BY 1)
        SELECT * FROM ({bins}) b WHERE messages > 0 ORDER BY 1, 2""", source.params)
    return _latency_shares(frame)


def _latency_shares(frame: pd.DataFrame) -> pd.DataFrame:
    frame = sql.numeric(frame, ["bin", "messages"])
    frame["bin_label"] = [LATENCY_BINS[int(b)][1] for b in frame["bin"]]
    totals = frame.groupby("model")["messages"].transform("sum")
    frame["share"] = 100.0 * frame["messages"] / totals
    return frame


@plans.reader(local_buckets=True)
def accuracy_trend(chosen: plans.Plan, engine: sa.Engine, schema: Schema, filters: Filters,
                unit: str) -> pd.DataFrame:
    """Per local bucket: labelled rows, correct ones, and intent accuracy %."""
    accuracy = catalogue.formula_of("intent_accuracy")
    source = sources.message_source(chosen, schema, engine.dialect.name, accuracy.measures, daily=unit,
                                    by_dimension=False)
    params = dict(source.params)
    bucket = sql.local_bucket("t", unit, filters, schema, CM, engine.dialect.name, params)
    terms = accuracy.columns()
    frame = sql.read_frame(engine, f"""
        SELECT {bucket} AS bucket, {terms["den"]} AS labelled, {terms["num"]} AS correct
        FROM ({source.text}) m GROUP BY 1 HAVING {terms["den"]} > 0 ORDER BY 1""", params)
    return _accuracy(frame, "bucket")


def _accuracy(frame: pd.DataFrame, bucket: str | None = None) -> pd.DataFrame:
    if bucket:
        frame[bucket] = pd.to_datetime(frame[bucket])
    frame = sql.numeric(frame, ["labelled", "correct"])
    frame["accuracy"] = sql.rate(frame, "correct", "labelled")
    return frame


@plans.reader()
def accuracy_by_intent(chosen: plans.Plan, engine: sa.Engine, schema: Schema, filters: Filters) -> pd.DataFrame:
    """Per expected (human-assigned) intent: labelled rows, correct ones, accuracy %; most labelled first."""
    accuracy = catalogue.formula_of("intent_accuracy")
    source = sources.message_source(chosen, schema, engine.dialect.name, accuracy.measures, daily=True)
    terms = accuracy.columns()
    frame = sql.read_frame(engine, f"""
        SELECT "expected_intent" AS intent, {terms["den"]} AS labelled, {terms["num"]} AS correct
        FROM ({source.text}) m WHERE "expected_intent" IS NOT NULL GROUP BY 1 ORDER BY labelled DESC, 1""",
                           source.params)
    return _accuracy(frame)


@plans.reader()
def confusion_pairs(chosen: plans.Plan, engine: sa.Engine, schema: Schema, filters: Filters) -> pd.DataFrame:
    """Labelled rows per (expected intent, recognised intent) pair."""
    source = sources.message_source(chosen, schema, engine.dialect.name, daily=True)
    frame = sql.read_frame(engine, f"""
        SELECT "expected_intent" AS expected, COALESCE("intent", '(none)') AS recognised, SUM(messages) AS rows
        FROM ({source.text}) m WHERE "expected_intent" IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2""", source.params)
    return sql.numeric(frame, ["rows"])


def confusion_matrix(pairs: pd.DataFrame, top: int = 8) -> pd.DataFrame:
    """A square matrix (expected × recognised) over the ``top`` most labelled intents, every other
    intent folded into "other" on both axes. Cells are counts of labelled rows."""
    volume = pairs.groupby("expected")["rows"].sum().sort_values(ascending=False, kind="stable")
    keep = list(volume.index[:top])
    labels = keep + ([OTHER] if len(volume) > top or not set(pairs["recognised"]) <= set(keep) else [])
    fold = lambda v: v if v in keep else OTHER  # noqa: E731
    folded = pairs.assign(expected=pairs["expected"].map(fold), recognised=pairs["recognised"].map(fold))
    matrix = folded.pivot_table(index="expected", columns="recognised", values="rows", aggfunc="sum", fill_value=0)
    return matrix.reindex(index=labels, columns=labels, fill_value=0).astype(int)


@plans.reader()
def calibration(chosen: plans.Plan, engine: sa.Engine, schema: Schema, filters: Filters) -> pd.DataFrame:
    """Per confidence bucket: messages (all with a confidence), their share %, labelled rows,
    correct ones, accuracy % and the mean confidence of the labelled rows — does 0.9 mean 90 %?"""
    source = sources.message_source(chosen, schema, engine.dialect.name, daily=True)
    labelled = schema.has(CM, "expected_intent")
    sums = []
    for i in range(len(CONFIDENCE_BUCKETS)):
        known = f'CASE WHEN "expected_intent" IS NOT NULL THEN confidence_{i} ELSE 0 END'
        hits = f'CASE WHEN "intent" = "expected_intent" THEN confidence_{i} ELSE 0 END'
        total = f'CASE WHEN "expected_intent" IS NOT NULL THEN confidence_sum_{i} ELSE 0 END'
        sums += [f"SUM(confidence_{i}) AS messages_{i}", f"SUM({known}) AS labelled_{i}", f"SUM({hits}) AS correct_{i}",
                 f"SUM({total}) AS total_{i}"]
    row = sql.read_row(engine, f"SELECT {', '.join(sums)} FROM ({source.text}) m", source.params)
    rows = []
    for i in range(len(CONFIDENCE_BUCKETS)):
        messages, known = int(row[f"messages_{i}"] or 0), int(row[f"labelled_{i}"] or 0)
        if messages:
            rows.append({"bucket": i, "messages": messages, "labelled": known if labelled else None,
                         "correct": int(row[f"correct_{i}"] or 0) if labelled else None,
                         "mean_confidence": float(row[f"total_{i}"]) / known if labelled and known else None})
    frame = pd.DataFrame(rows, columns=["bucket", "messages", "labelled", "correct", "mean_confidence"])
    return _calibration_rows(sql.numeric(frame, ["bucket", "messages", "labelled", "correct", "mean_confidence"]),
                             labelled)


def _calibration_rows(frame: pd.DataFrame, labelled: bool) -> pd.DataFrame:
    counts = dict(zip(frame["bucket"].astype(int), frame.to_dict("records")))
    rows = []
    for i, (lower, upper) in enumerate(CONFIDENCE_BUCKETS):
        found = counts.get(i, {})
        rows.append({"bucket": f"{lower:.1f}–{upper:.1f}", "lower": lower, "upper": upper,
                     "messages": int(found.get("messages", 0) or 0),
                     "labelled": found.get("labelled", 0 if labelled else None),
                     "correct": found.get("correct", 0 if labelled else None),
                     "mean_confidence": found.get("mean_confidence")})
    out = pd.DataFrame(rows)
    out = sql.numeric(out, ["labelled", "correct", "mean_confidence"])
    total = out["messages"].sum()
    out["share"] = 100.0 * out["messages"] / total if total else float("nan")
    out["accuracy"] = sql.rate(out, "correct", "labelled")
    return out


@plans.reader(local_buckets=True)
def helpful_trend(chosen: plans.Plan, engine: sa.Engine, schema: Schema, filters: Filters,
                unit: str) -> pd.DataFrame:
    """Per local bucket and model: votes, thumbs up, helpful share %."""
    source = sources.message_source(chosen, schema, engine.dialect.name, daily=unit)
    params = dict(source.params)
    bucket = sql.local_bucket("t", unit, filters, schema, CM, engine.dialect.name, params)
    frame = sql.read_frame(engine, f"""
        SELECT {bucket} AS bucket, {_model(schema)} AS model, SUM(voted) AS voted, SUM(helpful_up) AS helpful_up
        FROM ({source.text}) m GROUP BY 1, 2 HAVING SUM(voted) > 0 ORDER BY 1, 2""", params)
    return _helpful(frame)


def _helpful(frame: pd.DataFrame) -> pd.DataFrame:
    frame["bucket"] = pd.to_datetime(frame["bucket"])
    frame = sql.numeric(frame, ["voted", "helpful_up"])
    frame["helpful_share"] = sql.rate(frame, "helpful_up", "voted")
    return frame


@plans.reader(local_buckets=True)
def usage_by_model(chosen: plans.Plan, engine: sa.Engine, schema: Schema, filters: Filters,
                unit: str) -> pd.DataFrame:
    """Per local bucket and model: messages, tokens, exact cost (Decimal USD) and cost per message."""
    source = sources.message_source(chosen, schema, engine.dialect.name, daily=unit)
    params = dict(source.params)
    bucket = sql.local_bucket("t", unit, filters, schema, CM, engine.dialect.name, params)
    frame = sql.read_frame(engine, f"""
        SELECT {bucket} AS bucket, {_model(schema)} AS model, SUM(messages) AS messages, CAST(SUM(tokens_sum) AS BIGINT) AS tokens,
               SUM(cost_e4) AS cost_e4
        FROM ({source.text}) m GROUP BY 1, 2 ORDER BY 1, 2""", params)
    return _usage(frame)


def _usage(frame: pd.DataFrame) -> pd.DataFrame:
    frame["bucket"] = pd.to_datetime(frame["bucket"])
    frame = sql.numeric(frame, ["messages", "tokens"])
    frame["cost"] = [money(v) for v in frame["cost_e4"]]
    frame["cost_usd"] = frame["cost"].map(float)  # for charts only; totals use the exact column
    frame["cost_per_message"] = [per(c, m) for c, m in zip(frame["cost"], frame["messages"])]
    return frame.drop(columns=["cost_e4"])


def per(amount: Decimal | None, count) -> Decimal | None:
    """``amount / count`` to 1/10,000 USD (half up), or None when there is nothing to divide by."""
    if amount is None or not count or count != count:
        return None
    return (amount / Decimal(int(count))).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


COST_BY = ("ai_model", "platform")


@plans.reader()
def cost_outcomes(chosen: plans.Plan, engine: sa.Engine, schema: Schema, filters: Filters, by: str) -> pd.DataFrame:
    """Per model or platform (the dialogs with a message of it): dialogs and exact cost, and the
    cost tied to outcomes:

    - cost per dialog = cost / dialogs;
    - cost per resolved dialog = cost / resolved dialogs (all spend, per resolution);
    - cost per conversion = cost / converted dialogs;
    - cost per escalated dialog = cost of the escalated dialogs / escalated dialogs.

    Outcomes the database does not track are None. Raises ``KeyError`` for another ``by``."""
    if by not in COST_BY:
        raise KeyError(by)
    tracked = {name: schema.has(CM, name) for name in ("resolved", "converted", "escalated")}
    source = dialogs.sums(chosen, schema, engine.dialect.name, by=by if schema.has(CM, by) else None, daily=True)
    value = "value" if schema.has(CM, by) else "'(all)'"
    frame = sql.read_frame(engine, f"""
        SELECT COALESCE({value}, '(none)') AS {by}, SUM(dialogs) AS dialogs, SUM(cost_e4) AS cost_e4,
               {"SUM(resolved)" if tracked["resolved"] else "NULL"} AS resolved,
               {"SUM(converted)" if tracked["converted"] else "NULL"} AS converted,
               {"SUM(escalated)" if tracked["escalated"] else "NULL"} AS escalated,
               {"SUM(escalated_cost_e4)" if tracked["escalated"] else "NULL"} AS escalated_cost_e4
        FROM ({source.text}) s GROUP BY 1 HAVING SUM(dialogs) > 0 ORDER BY 1""", source.params)
    return _cost_per_outcome(frame)


def _cost_per_outcome(frame: pd.DataFrame) -> pd.DataFrame:
    frame = sql.numeric(frame, ["dialogs", "resolved", "converted", "escalated"])
    frame["cost"] = [money(v) for v in frame["cost_e4"]]
    frame["cost_per_dialog"] = [per(c, n) for c, n in zip(frame["cost"], frame["dialogs"])]
    frame["cost_per_resolved"] = [per(c, n) for c, n in zip(frame["cost"], frame["resolved"])]
    frame["cost_per_conversion"] = [per(c, n) for c, n in zip(frame["cost"], frame["converted"])]
    frame["cost_per_escalated"] = [per(money(c), n) for c, n in zip(frame["escalated_cost_e4"], frame["escalated"])]
    return frame.drop(columns=["cost_e4", "escalated_cost_e4"])


LATEST_ESCALATIONS = 20


def latest_escalations(engine: sa.Engine, schema: Schema, filters: Filters,
                       limit: int = LATEST_ESCALATIONS) -> pd.DataFrame:
    """The ``limit`` latest hand-overs to a human in the range, newest first: the message's time
    (in the filters' zone), its dialog (``session_id``) and user where tracked, platform, intent
    and model. Empty where escalations are not tracked. Read from the raw rows (a short list)."""
    from data_access.business import to_local

    if not schema.has(CM, "escalated"):
        return pd.DataFrame(columns=["timestamp", "platform", "intent"])
    where, params = sql.table_where(filters, CM, schema, engine.dialect.name)
    columns = [c for c in ("session_id", "user_id", "platform", "intent", "ai_model") if schema.has(CM, c)]
    listed = ", ".join(f'"{c}"' for c in columns)
    frame = sql.read_frame(engine, f"""
        SELECT {sql.TS} AS "timestamp", {listed} FROM {CM} {where} AND "escalated" = :escalated
        ORDER BY {sql.TS} DESC LIMIT {int(limit)}""", {**params, "escalated": True})
    frame["timestamp"] = to_local(frame["timestamp"], filters.tz)
    return frame
