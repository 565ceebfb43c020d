"""Queries of the Business page: intents, CSAT and NPS trends, dialog outcomes, repeat contacts.

Each function returns a small DataFrame aggregated by the database. Rates are computed from the
counts in the same row (never averaged across rows), so a chart's series and the tiles agree.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa

from data_access import catalogue, dialogs, logs, plans, rollups, service_rollups, sources, sql
from data_access.filters import Filters, bind_timestamp
from data_access.catalogue import CM, RESOLUTION_EDGES_S, repeat_flag
from data_access.schema import Schema

# An intent with fewer ratings (or dialogs) than this is shown but not ranked among the problems:
# with 10 ratings one unhappy customer moves CSAT by 10 points.
MIN_SAMPLE = 30

# Resolution-time histogram bins: (upper bound in seconds, label), cut at the catalogue's edges.
RESOLUTION_BINS = tuple(zip((*RESOLUTION_EDGES_S, None), ("< 1 min", "1–2 min", "2–5 min", "5–10 min", "10–30 min",
                                                          "30–60 min", "1–4 h", "≥ 4 h")))

BREAKDOWNS = {"intent": "intent", "ai_model": "ai_model", "platform": "platform"}


def _if_tracked(schema: Schema, column: str, expr: str) -> str:
    """``expr`` where the database has conversation_metrics.``column``, else NULL."""
    return expr if schema.has(CM, column) else "NULL"


# The breakdown's message figures: column → the catalogue KPI whose formula gives it.
BREAKDOWN_KPIS = {"csat": "csat", "avg_rating": "avg_rating", "avg_response_ms": "avg_response_time",
                  "intent_accuracy": "intent_accuracy", "helpful_share": "helpful_answers", "tokens": "tokens",
                  "cost": "cost"}
# Sample sizes kept beside them: column → (the KPI, its term).
BREAKDOWN_COUNTS = {"ratings": ("csat", "den"), "labelled": ("intent_accuracy", "den"),
                    "correct": ("intent_accuracy", "num"), "voted": ("helpful_answers", "den"),
                    "helpful_up": ("helpful_answers", "num")}


@plans.reader()
def breakdown(chosen: plans.Plan, engine: sa.Engine, schema: Schema, filters: Filters, by: str) -> pd.DataFrame:
    """One row per value of ``by`` (intent, ai_model or platform), most messages first:

    messages; dialogs that contain such a message; ratings, CSAT and Avg rating; the escalation,
    resolution and conversion rates of those dialogs; mean and p95 response time; intent
    accuracy on the labelled rows; helpful share; tokens and exact cost (the message figures by
    the catalogue's formulas). NaN where the database does not track a column. ``low_sample``
    marks fewer than ``MIN_SAMPLE`` ratings. Raises ``KeyError`` for another ``by``."""
    column = sql.column(CM, BREAKDOWNS[by])
    dialect = engine.dialect.name
    formulas = {key: catalogue.formula_of(key) for key in dict.fromkeys(BREAKDOWN_KPIS.values())}
    names = tuple(dict.fromkeys(["messages", *(m for f in formulas.values() for m in f.measures)]))
    messages = sources.message_source(chosen, schema, dialect, names, daily=True)
    tracked = lambda name, expr: _if_tracked(schema, name, expr)  # noqa: E731
    # The dialogs with a message of each value, by their facts (over all their messages).
    values = dialogs.sums(chosen, schema, dialect, by=BREAKDOWNS[by], daily=True)
    dialog_params = values.params
    dialog_rows = "SELECT COALESCE(value, '(none)') AS value, SUM(dialogs) AS dialogs, " + ", ".join(
        f"{tracked(name, f'SUM({name})')} AS {name}" for name in ("escalated", "resolved", "converted")) + \
        f" FROM ({values.text}) v GROUP BY 1"
    sums = ", ".join(f"{expr} AS {name}" for key, f in formulas.items() for name, expr in f.columns(f"{key}__").items())
    terms = ", ".join(f"{name}" for key, f in formulas.items() for name in f.columns(f"{key}__"))
    frame = sql.read_frame(engine, f"""
        WITH m AS (SELECT COALESCE({column}, '(none)') AS value, SUM(messages) AS messages, {sums}
                   FROM ({messages.text}) s GROUP BY 1),
        d AS ({dialog_rows})
        SELECT m.value AS {BREAKDOWNS[by]}, messages, dialogs, escalated, resolved, converted, {terms}
        FROM m LEFT JOIN d ON d.value = {sql.index_key("m.value", dialect)}
        ORDER BY messages DESC, 1""", {**messages.params, **dialog_params})
    frame = sql.numeric(frame, ["messages", "dialogs", "escalated", "resolved", "converted"])
    for name, key in BREAKDOWN_KPIS.items():
        value, _ = formulas[key].series(frame, f"{key}__")
        frame[name] = value if key != "cost" else [money(v) for v in frame[f"{key}__total"]]
    for name, (key, term) in BREAKDOWN_COUNTS.items():
        frame[name] = pd.to_numeric(frame[f"{key}__{term}"], errors="coerce")
    for name, key in [*BREAKDOWN_KPIS.items(), *((name, key) for name, (key, _) in BREAKDOWN_COUNTS.items())]:
        if not catalogue.KPIS[key].tracked(schema):  # its measures read 0 without the column
            frame[name] = float("nan")
    p95 = sources.percentiles(engine, chosen, schema, {"value": f"COALESCE({column}, '(none)')"}, {"p95": 0.95},
                               per=BREAKDOWNS[by], daily=True)
    frame = frame.merge(p95[["value", "p95"]].rename(columns={"value": BREAKDOWNS[by], "p95": "p95_response_ms"}),
                        on=BREAKDOWNS[by], how="left")
    frame["escalation_rate"] = sql.rate(frame, "escalated", "dialogs")
    frame["resolution_rate"] = sql.rate(frame, "resolved", "dialogs")
    frame["conversion_rate"] = sql.rate(frame, "converted", "dialogs")
    frame["low_sample"] = frame["ratings"] < MIN_SAMPLE
    return frame[[BREAKDOWNS[by], "messages", "dialogs", "ratings", "avg_rating", "escalated", "resolved", "converted",
                  "avg_response_ms", "p95_response_ms", "labelled", "correct", "voted", "helpful_up", "tokens", "cost",
                  "csat", "escalation_rate", "resolution_rate", "conversion_rate", "intent_accuracy", "helpful_share",
                  "low_sample"]]


def money(ten_thousandths) -> Decimal | None:
    """An exact USD amount from a sum in 1/10,000 USD (see ``sql.money_sum_ten_thousandths``)."""
    if ten_thousandths is None or (isinstance(ten_thousandths, float) and ten_thousandths != ten_thousandths):
        return None
    return Decimal(int(ten_thousandths)) / Decimal(10000)


def problem_intents(breakdown: pd.DataFrame, metric: str, worst_first_ascending: bool, limit: int = 5,
                    sample: str = "dialogs") -> pd.DataFrame:
    """The ``limit`` intents that cost the most against the average: ``impact``, the outcomes an
    intent misses (or adds, for a rate that should be low) beyond what the average rate over all
    intents (weighted by ``sample``) would give its ``sample`` — so a large intent a little worse
    than the rest ranks above a tiny one much worse. Intents with fewer than ``MIN_SAMPLE`` in
    ``sample`` follow, marked (``low_sample``), so noise never ranks first."""
    ranked = breakdown.dropna(subset=[metric]).copy()
    weights = ranked[sample].astype(float)
    average = float((ranked[metric] * weights).sum() / weights.sum()) if weights.sum() else 0.0
    worse = (average - ranked[metric]) if worst_first_ascending else (ranked[metric] - average)
    ranked["impact"] = worse * weights / 100.0
    ranked["low_sample"] = ranked[sample] < MIN_SAMPLE
    ranked = ranked.sort_values(["low_sample", "impact", "intent"], ascending=[True, False, True])
    return ranked.head(limit)


@plans.reader(local_buckets=True)
def csat_trend(chosen: plans.Plan, engine: sa.Engine, schema: Schema, filters: Filters, unit: str,
               by_platform: bool = False) -> pd.DataFrame:
    """Per local bucket (and platform) with ratings: ratings, CSAT and Avg rating, by the
    catalogue's formulas."""
    dialect = engine.dialect.name
    formulas = {key: catalogue.formula_of(key) for key in ("csat", "avg_rating")}
    names = tuple(dict.fromkeys(m for f in formulas.values() for m in f.measures))
    source = sources.message_source(chosen, schema, dialect, names, daily=unit, by_dimension=by_platform)
    params = dict(source.params)
    bucket = sql.local_bucket("t", unit, filters, schema, CM, dialect, params)
    split = ", COALESCE(\"platform\", 'unknown') AS platform" if by_platform else ""
    sums = ", ".join(f"{expr} AS {name}" for key, f in formulas.items() for name, expr in f.columns(f"{key}__").items())
    frame = sql.read_frame(engine, f"""
        SELECT {bucket} AS bucket{split}, {sums}
        FROM ({source.text}) s GROUP BY {"1, 2" if by_platform else "1"} ORDER BY 1""", params)
    frame["bucket"] = pd.to_datetime(frame["bucket"])
    frame["csat"], frame["ratings"] = formulas["csat"].series(frame, "csat__")
    frame["avg_rating"], _ = formulas["avg_rating"].series(frame, "avg_rating__")
    columns = ["bucket", *(["platform"] if by_platform else []), "ratings", "csat", "avg_rating"]
    return frame.loc[frame["ratings"] > 0, columns].reset_index(drop=True)


@plans.reader()
def rating_distribution(chosen: plans.Plan, engine: sa.Engine, schema: Schema, filters: Filters,
                        by_platform: bool = False) -> pd.DataFrame:
    """Ratings per score 1..5 (and platform); scores outside 1..5 are left out."""
    source = sources.message_source(chosen, schema, engine.dialect.name, [f"rated_{s}" for s in range(1, 6)],
                                    daily=True, by_dimension=by_platform)
    split = ", COALESCE(\"platform\", 'unknown') AS platform" if by_platform else ""
    scores = " UNION ALL ".join(
        f"SELECT {score} AS score{', platform' if by_platform else ''}, rated_{score} AS ratings FROM s"
        for score in range(1, 6))
    frame = sql.read_frame(engine, f"""
        WITH s AS (SELECT 1 AS one{split}, {", ".join(f"SUM(rated_{i}) AS rated_{i}" for i in range(1, 6))}
                   FROM ({source.text}) m {"GROUP BY 2" if by_platform else ""})
        SELECT * FROM ({scores}) r WHERE ratings > 0 ORDER BY 1{", 2" if by_platform else ""}""", source.params)
    return sql.numeric(frame, ["score", "ratings"])


@plans.reader(local_buckets=True, planner=service_rollups.planner(service_rollups.NPS))
def nps_trend(chosen: plans.Plan, engine: sa.Engine, schema: Schema, filters: Filters, unit: str) -> pd.DataFrame:
    """Per local bucket: responses, promoters (9–10), passives (7–8), detractors (0–6), their
    shares and NPS."""
    dialect = engine.dialect.name
    source, params = service_rollups.hours_source(chosen, service_rollups.NPS, schema, dialect)
    bucket = sql.local_bucket("hour", unit, filters, schema, "nps_responses", dialect, params)
    frame = sql.read_frame(engine, f"""
        SELECT {bucket} AS bucket, SUM(counted) AS responses, SUM(promoters) AS promoters, SUM(passives) AS passives,
               SUM(detractors) AS detractors
        FROM ({source}) h GROUP BY 1 HAVING SUM(counted) > 0 ORDER BY 1""", params)
    return _nps_shares(frame)


def _nps_shares(frame: pd.DataFrame) -> pd.DataFrame:
    frame = sql.numeric(frame, ["responses", "promoters", "passives", "detractors"])
    frame["bucket"] = pd.to_datetime(frame["bucket"])
    for part in ("promoters", "passives", "detractors"):
        frame[f"{part}_share"] = sql.rate(frame, part, "responses")
    frame["nps"] = frame["promoters_share"] - frame["detractors_share"]
    return frame


def _comments_where(schema: Schema, filters: Filters, detractors_only: bool, dialect: str) -> tuple[str, dict]:
    where, params = sql.table_where(filters, "nps_responses", schema, dialect)
    only = ' AND "score" BETWEEN 0 AND 6' if detractors_only else f" AND {service_rollups.NPS_SCORE}"
    return f"""{where}{only} AND "comment" IS NOT NULL AND "comment" <> ''""", params


@plans.reader(planner=service_rollups.planner(service_rollups.NPS))
def nps_comment_count(chosen: plans.Plan, engine: sa.Engine, schema: Schema, filters: Filters,
                      detractors_only: bool = False) -> int:
    """How many survey comments ``nps_comments`` pages through."""
    source, params = service_rollups.hours_source(chosen, service_rollups.NPS, schema, engine.dialect.name)
    counted = "commented_detractors" if detractors_only else "commented"
    return int(sql.read_row(engine, f"SELECT SUM({counted}) AS n FROM ({source}) h", params)["n"] or 0)


# The orders survey comments page through (each over all of them, never a page alone).
COMMENT_ORDERS = {"newest": f"{sql.TS} DESC", "oldest": f"{sql.TS} ASC",
                  "lowest": f'"score" ASC, {sql.TS} DESC', "highest": f'"score" DESC, {sql.TS} DESC'}


def nps_comments(engine: sa.Engine, schema: Schema, filters: Filters, detractors_only: bool = False,
                 limit: int | None = 50, offset: int = 0, order: str = "newest") -> pd.DataFrame:
    """Survey comments in ``order`` (a key of ``COMMENT_ORDERS``; newest first by default),
    ``limit`` of them from ``offset`` (all with ``limit=None``): time in the filters' zone,
    platform, score, comment, the user (where tracked) and the comment's dialog with its intent
    (``comment_dialogs``; where users are tracked). Raises ``KeyError`` for another order."""
    dialect = engine.dialect.name
    ordered = COMMENT_ORDERS[order]
    where, params = _comments_where(schema, filters, detractors_only, dialect)
    user = ', "user_id"' if schema.has("nps_responses", "user_id") else ""
    page = f" LIMIT {int(limit)} OFFSET {max(int(offset), 0)}" if limit is not None else ""
    tiebreak = ', "id"' if schema.has("nps_responses", "id") else ""  # pages must not overlap
    frame = sql.read_frame(engine, f"""
        SELECT {sql.TS} AS "timestamp", "platform", "score", "comment"{user} FROM nps_responses {where}
        ORDER BY {ordered}{tiebreak}{page}""", params)
    if user and schema.has(CM, "user_id") and schema.has(CM, "intent") and not frame.empty:
        frame = comment_dialogs(engine, schema, frame)
    frame["timestamp"] = to_local(frame["timestamp"], filters.tz)
    return sql.numeric(frame, ["score"])


# A survey goes out after a dialog; a comment belongs to the same user's latest message on the same
# platform at most this long before it (docs/contract.md, "A comment's dialog").
COMMENT_DIALOG_WINDOW = pd.Timedelta(hours=24)
COMMENTS_PER_QUERY = 500  # comments per query: bound values per IN list (SQLite allows 32,766 in all)


def comment_dialogs(engine: sa.Engine, schema: Schema, comments: pd.DataFrame) -> pd.DataFrame:
    """``comments`` (UTC ``timestamp``, ``platform``, ``user_id``) with ``intent`` and, where
    tracked, ``session_id`` of each one's dialog: the same user's latest message on the same
    platform within ``COMMENT_DIALOG_WINDOW`` before the comment. NULL where there is none.
    Reads only the window of these comments' times, for these users."""
    dialect = engine.dialect.name
    stamps = pd.to_datetime(comments["timestamp"], utc=True)
    session = ', "session_id"' if schema.has(CM, "session_id") else ""
    in_time = comments.assign(_at=stamps).sort_values("_at")
    found = []
    # In time order, a chunk at a time: each reads the messages of its own (short) window only.
    for start in range(0, len(in_time), COMMENTS_PER_QUERY):
        chunk = in_time.iloc[start:start + COMMENTS_PER_QUERY]
        users = sorted({str(u) for u in chunk["user_id"].dropna()})
        if not users:
            continue
        params = {f"u{i}": u for i, u in enumerate(users)}
        params["lo"] = bind_timestamp((chunk["_at"].min() - COMMENT_DIALOG_WINDOW).tz_localize(None).to_pydatetime(),
                                      dialect)
        params["hi"] = bind_timestamp(chunk["_at"].max().tz_localize(None).to_pydatetime() + pd.Timedelta(seconds=1),
                                      dialect)
        listed = ", ".join(f":u{i}" for i in range(len(users)))
        found.append(sql.read_frame(engine, f"""
            SELECT {sql.TS} AS "message_time", "user_id", "platform", "intent"{session} FROM conversation_metrics
            WHERE {sql.TS} >= :lo AND {sql.TS} < :hi AND "user_id" IN ({listed})""", params))
    messages = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
    columns = ["intent"] + (["session_id"] if session else [])
    if messages.empty:
        return comments.assign(**{c: None for c in columns})
    messages["message_time"] = pd.to_datetime(messages["message_time"], utc=True)
    as_key = lambda values: values.astype("string").fillna("")  # noqa: E731  one key type both sides
    left = comments.assign(_at=stamps, _order=range(len(comments)), _user=as_key(comments["user_id"]),
                           _platform=as_key(comments["platform"])).sort_values("_at")
    right = messages.assign(_user=as_key(messages["user_id"]), _platform=as_key(messages["platform"]))
    joined = pd.merge_asof(left, right.drop(columns=["user_id", "platform"]).sort_values("message_time"),
                           left_on="_at", right_on="message_time", by=["_user", "_platform"],
                           direction="backward", tolerance=COMMENT_DIALOG_WINDOW)
    joined = joined.sort_values("_order").reset_index(drop=True)[[*comments.columns, *columns]]
    for column in columns:  # text or None, as the other text columns
        joined[column] = joined[column].astype(object).where(joined[column].notna(), None)
    return joined


def to_local(values: pd.Series, tz: str) -> pd.Series:
    """UTC timestamps (naive or aware) as naive wall-clock times in ``tz`` (for display)."""
    stamps = pd.to_datetime(values, utc=True)
    return stamps.dt.tz_convert(tz).dt.tz_localize(None)


def _outcome_rates(frame: pd.DataFrame) -> pd.DataFrame:
    frame = sql.numeric(frame, ["dialogs", "converted", "escalated", "repeats", "resolved", "median_resolution_s",
                                "p90_resolution_s"])
    frame["conversion_rate"] = sql.rate(frame, "converted", "dialogs")
    frame["escalation_rate"] = sql.rate(frame, "escalated", "dialogs")
    frame["repeat_rate"] = sql.rate(frame, "repeats", "dialogs")
    return frame


@plans.reader(local_buckets=True)
def dialog_outcomes_trend(chosen: plans.Plan, engine: sa.Engine, schema: Schema, filters: Filters,
                          unit: str) -> pd.DataFrame:
    """Per local bucket of dialog start: dialogs, conversion, escalation and repeat contact rates,
    resolved dialogs and their median and p90 resolution time (seconds; within 1 % where read
    from the rollups' histogram). Columns of untracked outcomes are NaN."""
    dialect = engine.dialect.name
    source = dialogs.sums(chosen, schema, dialect, daily=unit)
    tracked = lambda column, expr: _if_tracked(schema, column, expr)  # noqa: E731
    params = dict(source.params)
    bucket = sql.local_bucket("t", unit, filters, schema, CM, dialect, params)
    frame = sql.read_frame(engine, f"""
        SELECT {bucket} AS bucket, SUM(dialogs) AS dialogs, {tracked("converted", "SUM(converted)")} AS converted,
               {tracked("escalated", "SUM(escalated)")} AS escalated, SUM(repeats) AS repeats,
               {tracked("resolved", "SUM(resolved)")} AS resolved
        FROM ({source.text}) s GROUP BY 1 HAVING SUM(dialogs) > 0 ORDER BY 1""", params)
    frame["bucket"] = pd.to_datetime(frame["bucket"])
    percentiles = ["median_resolution_s", "p90_resolution_s"]
    if schema.has(CM, "resolved"):
        bucket_params: dict = {}
        resolution = dialogs.percentiles(
            engine, chosen, schema, {"bucket": sql.local_bucket("t", unit, filters, schema, CM, dialect, bucket_params)},
            dict(zip(percentiles, (0.5, 0.9))), params=bucket_params)
        resolution["bucket"] = pd.to_datetime(resolution["bucket"])
        frame = frame.merge(resolution[["bucket", *percentiles]], on="bucket", how="left")
    else:
        frame = frame.assign(**{name: None for name in percentiles})
    return _outcome_rates(frame)


@plans.reader()
def conversion_by_platform(chosen: plans.Plan, engine: sa.Engine, schema: Schema, filters: Filters) -> pd.DataFrame:
    """Per platform: the dialogs with a message on it, how many converted, the conversion rate."""
    source = dialogs.sums(chosen, schema, engine.dialect.name, by="platform")
    frame = sql.read_frame(engine, f"""
        SELECT COALESCE(value, 'unknown') AS platform, SUM(dialogs) AS dialogs, SUM(converted) AS converted
        FROM ({source.text}) s GROUP BY 1 HAVING SUM(dialogs) > 0 ORDER BY 1""", source.params)
    frame = sql.numeric(frame, ["dialogs", "converted"])
    frame["conversion_rate"] = sql.rate(frame, "converted", "dialogs")
    return frame


@plans.reader()
def resolution_histogram(chosen: plans.Plan, engine: sa.Engine, schema: Schema, filters: Filters) -> pd.DataFrame:
    """Resolved dialogs per resolution-time bin (``RESOLUTION_BINS``), every bin present."""
    source = dialogs.sums(chosen, schema, engine.dialect.name, daily=True)
    bins = ", ".join(f"SUM(resolution_bin_{i}) AS bin_{i}" for i in range(len(RESOLUTION_BINS)))
    row = sql.read_row(engine, f"SELECT {bins} FROM ({source.text}) s", source.params)
    return pd.DataFrame({"bin": [label for _, label in RESOLUTION_BINS],
                         "dialogs": [int(row[f"bin_{i}"] or 0) for i in range(len(RESOLUTION_BINS))]})


# Past this many users tied for the last places, ``top_repeat_users`` ranks every user of the range.
REPEAT_USERS_MOST = 2000


@plans.reader()
def top_repeat_users(chosen: plans.Plan, engine: sa.Engine, schema: Schema, filters: Filters,
                     limit: int = 20) -> pd.DataFrame:
    """The users with the most repeat dialogs among the dialogs that start in the range: user_id,
    dialogs, repeat dialogs, last dialog start; ties by dialogs, then user id. The repeat
    contacts alone find the users that can be in the list (at least the ``limit``-th most); only
    their dialogs are then counted."""
    dialect = engine.dialect.name
    repeats = dialogs.rows(chosen, schema, dialect, {"user_id": "f.user_id"}, repeats_only=True)
    # The users with the most repeat contacts, in one pass: those with at least as many as the
    # ``limit``-th (ties included), or every one when fewer have any.
    leaders = sql.read_frame(engine, f"""
        SELECT user_id, COUNT(*) AS repeats FROM ({repeats.text}) d WHERE user_id IS NOT NULL
        GROUP BY user_id ORDER BY repeats DESC LIMIT {REPEAT_USERS_MOST + 1}""", repeats.params)
    counts = pd.to_numeric(leaders["repeats"])
    least = counts.iloc[int(limit) - 1] if len(counts) >= limit else 1
    users = [str(u) for u, n in zip(leaders["user_id"], counts) if n >= least]
    source = dialogs.rows(chosen, schema, dialect, {"user_id": "f.user_id", "started": "f.started",
                                                    "repeat": repeat_flag(dialect)},
                          users=users if len(users) <= REPEAT_USERS_MOST else None)
    frame = sql.read_frame(engine, f"""
        SELECT user_id, COUNT(*) AS dialogs, SUM(repeat) AS repeat_dialogs, MAX(started) AS last_dialog
        FROM ({source.text}) d WHERE user_id IS NOT NULL GROUP BY user_id HAVING SUM(repeat) > 0
        ORDER BY repeat_dialogs DESC, dialogs DESC, user_id LIMIT {int(limit)}""", source.params)
    frame = sql.numeric(frame, ["dialogs", "repeat_dialogs"])
    frame["last_dialog"] = to_local(frame["last_dialog"], filters.tz)
    return frame


UNHAPPY_RATING = 2  # a rating of 1 or 2 of 5: an unhappy customer


def unhappy_dialogs(engine: sa.Engine, schema: Schema, filters: Filters, intent: str, limit: int = 20) -> pd.DataFrame:
    """The latest ``limit`` dialogs that start in the range, touch ``intent`` (and the filters'
    other values) and hold a rating of ``UNHAPPY_RATING`` or less — the export's dialogs with
    that rating filter: dialog, started (the filters' zone), platforms, messages, escalated,
    resolved, and ``total``, how many such dialogs there are in all. Empty without ratings."""
    from data_access import export

    columns = ["dialog", "started", "platforms", "messages", "escalated", "resolved", "total"]
    if not schema.has(CM, "satisfaction_score"):
        return pd.DataFrame(columns=columns)
    chosen = plans.plan(engine, schema, replace(filters, intents=(intent,)))
    source = dialogs.newest(chosen, schema, engine.dialect.name, export.dialog_columns(engine.dialect.name), limit,
                            lists=True, rated_at_most=UNHAPPY_RATING)
    with logs.read_path(chosen.path):
        frame = sql.read_frame(engine, f"""
            SELECT dialog, started, platforms, messages, escalated,
                   CASE WHEN resolved_at IS NULL THEN 0 ELSE 1 END AS resolved, total
            FROM ({source.text}) d ORDER BY started DESC, dialog""", source.params)
    frame = sql.numeric(frame, ["messages", "escalated", "resolved", "total"])
    # Without an escalated column the fact is NULL: unknown, not escalated.
    frame[["escalated", "resolved"]] = frame[["escalated", "resolved"]].astype("boolean")
    frame["started"] = to_local(frame["started"], filters.tz)
    return frame[columns]


HOUR = timedelta(hours=1)
MESSAGE_COLUMNS = ("session_id", "platform", "intent", "expected_intent", "confidence", "response_time_ms",
                   "satisfaction_score", "helpful", "resolved", "escalated", "converted", "ai_model")
def messages_of(engine: sa.Engine, schema: Schema, filters: Filters, *, user_id: str | None = None,
                session_id: str | None = None, limit: int = 1000) -> pd.DataFrame:
    """One user's and/or one dialog's messages, in time order (local time): the dialog, platform,
    intent (and the labelled one), confidence, response time, rating and outcome flags the
    database tracks. At most ``limit`` + 1 rows (one more says "there are more").

    A drill-down shows its subject whole: whatever the platform, intent and model filters, and
    for a dialog also its messages outside the range (from its start to its last message, as the
    kept dialog facts know them; the range alone where they are not kept). A user's messages are
    those of the range. Raises ``ValueError`` with neither ``user_id`` nor ``session_id``."""
    if user_id is None and session_id is None:
        raise ValueError("name a user or a dialog")
    whole = Filters(filters.start, filters.end, tz=filters.tz)  # no dimension filter
    dialect = engine.dialect.name
    if session_id is not None and user_id is None and schema.has_table(rollups.FACTS):
        span = sql.read_row(engine, f"SELECT MIN(started) AS first_at, MAX(last_seen) AS last_at FROM {rollups.FACTS} "
                                    f"WHERE dialog = :dialog", {"dialog": session_id})
        if span["first_at"] is not None:
            first_at, last_at = (whole.to_local(pd.Timestamp(span[k]).to_pydatetime()) for k in ("first_at", "last_at"))
            # An hour's margin each side: a local time in a DST change is ambiguous.
            whole = replace(whole, start=min(whole.start, first_at - HOUR), end=max(whole.end, last_at + HOUR))
    where, params = sql.table_where(whole, CM, schema, dialect)
    extra, drill = sql.drill_where(schema, user_id=user_id, session_id=session_id)
    columns = [c for c in MESSAGE_COLUMNS if schema.has(CM, c)]
    listed = ", ".join(f'"{c}"' for c in columns)
    frame = sql.read_frame(engine, f"""
        SELECT {sql.TS} AS "timestamp", {listed} FROM conversation_metrics {where}{extra}
        ORDER BY {sql.TS} LIMIT {int(limit) + 1}""", {**params, **drill})
    frame["timestamp"] = to_local(frame["timestamp"], filters.tz)
    return sql.numeric(frame, [c for c in ("confidence", "response_time_ms", "satisfaction_score") if c in columns])
