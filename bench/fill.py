"""Fill a database with N conversation rows for the benchmarks, in set-based SQL.

    python3 bench/fill.py --rows 10000000 [--days 90] --url postgresql+psycopg2://…/efa_bench10m

The rows are built by the database itself (``INSERT … SELECT`` over ``generate_series`` on
PostgreSQL, a recursive CTE on SQLite), not row by row in Python: ten million rows take minutes,
not hours. The shape follows the demo generator (``data_access.demo``): dialogs of 1–9 messages
spread over the day's traffic curve, three platforms, twelve intents, three models, per-model
latency (log-normal), ratings on a dialog's last message, escalations, conversions, a labelled
sample for intent accuracy. Rows are written in time order, as the platform appends them.

What grows with ``--rows``: conversation rows, dialogs, NPS answers (4 % of dialogs), integration
calls (about 1 per 6 messages) and error events (1 per 150). What does not: ``system_metrics``
(one sample per service per minute) and ``service_health`` (services every minute, integrations
every five): a busier platform samples as often. No planted incidents: this is load, not a story.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import numpy as np
import sqlalchemy as sa

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data_access import demo  # noqa: E402
from data_access.engine import make_engine  # noqa: E402
from data_access.schema import metadata  # noqa: E402

# Mean messages per dialog of the shape below (1 + floor(9·u³), plus 2 when escalated), measured.
MESSAGES_PER_DIALOG = 3.05
ROWS_PER_DAY_AT_SCALE_1 = 5650  # what the demo generator writes per day at scale 1


class Dialect:
    """The few expressions that differ between PostgreSQL and SQLite."""

    def __init__(self, name: str):
        self.name = name
        self.pg = name == "postgresql"

    def uniform(self) -> str:
        """A fresh uniform number in [0, 1) each time it is evaluated."""
        return "random()" if self.pg else "(random() / 18446744073709551616.0 + 0.5)"

    def uuid(self) -> str:
        return "gen_random_uuid()" if self.pg else "lower(hex(randomblob(16)))"

    def at(self, seconds: str) -> str:
        """The timestamp ``seconds`` after :first (a bound UTC midnight)."""
        if self.pg:
            return f"(CAST(:first AS TIMESTAMP) + ({seconds}) * INTERVAL '1 second')"
        return f"(strftime('%Y-%m-%d %H:%M:%f', julianday(:first) + ({seconds}) / 86400.0) || '000')"

    def round(self, expr: str, digits: int) -> str:
        """``expr`` rounded to ``digits`` decimals (PostgreSQL rounds only NUMERIC to digits)."""
        return f"round(CAST({expr} AS NUMERIC), {digits})" if self.pg else f"round({expr}, {digits})"

    def clamp(self, expr: str, lo: int, hi: int) -> str:
        return f"GREATEST({lo}, LEAST({hi}, {expr}))" if self.pg else f"max({lo}, min({hi}, {expr}))"

    def boolean(self, condition: str) -> str:
        return f"({condition})" if self.pg else f"(CASE WHEN {condition} THEN 1 ELSE 0 END)"

    def numbers(self, table: str, n: int) -> str:
        """Create ``table(i)`` holding 0 … n-1."""
        if self.pg:
            return f"CREATE TABLE {table} AS SELECT i FROM generate_series(0, {n - 1}) AS i"
        return (f"CREATE TABLE {table} AS WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL "
                f"SELECT i + 1 FROM s WHERE i < {n - 1}) SELECT i FROM s")


def literal(value) -> str:
    """A constant of the generator (never input) as SQL text."""
    if isinstance(value, (str, np.str_)):
        return "'" + str(value).replace("'", "''") + "'"
    return repr(int(value)) if isinstance(value, (int, np.integer)) else repr(float(value))


def pick(u: str, names, weights) -> str:
    """A CASE choosing one of ``names`` with ``weights`` by the uniform ``u``."""
    cumulative = np.cumsum(np.asarray(weights) / np.sum(weights))
    whens = " ".join(f"WHEN {u} < {c:.6f} THEN {literal(n)}" for n, c in zip(names[:-1], cumulative[:-1]))
    return f"CASE {whens} ELSE {literal(names[-1])} END"


def by_index(index: str, values) -> str:
    """A CASE giving ``values[index]``."""
    whens = " ".join(f"WHEN {i} THEN {literal(v)}" for i, v in enumerate(values))
    return f"CASE {index} {whens} END"


def normal(u1: str, u2: str) -> str:
    """A standard normal from two uniforms (Box–Muller); ``u1`` must not be 0."""
    return f"(sqrt(-2.0 * ln({u1})) * cos(6.283185307179586 * {u2}))"


def hours_table(days: int, rows: int, first: datetime, stop: datetime) -> list[tuple[int, int, int]]:
    """(seconds after first, dialogs in that hour, dialogs before it) per UTC hour up to ``stop``."""
    spec = demo.DemoSpec(days=days, end=(first + timedelta(days=days - 1)).date())
    hours = np.arange(np.datetime64(first.replace(tzinfo=None), "h"),
                      np.datetime64(stop.replace(tzinfo=None), "h") + 1).astype("datetime64[us]")
    weight = demo._load_factor(hours, spec)
    dialogs = np.rint(weight / weight.sum() * rows / MESSAGES_PER_DIALOG).astype(np.int64)
    before = np.cumsum(dialogs) - dialogs
    return [(i * 3600, int(n), int(b)) for i, (n, b) in enumerate(zip(dialogs, before))]


def statements(d: Dialect, rows: int, days: int, scale: float) -> list[tuple[str, str]]:
    """(what, SQL) in the order to run them; binds :first and :stop_s, and the dialogs
    ``:first_d`` … ``:end_d`` (the conversation rows go in a day of dialogs at a time)."""
    u = d.uniform()
    intent_ix = by_index("intent_ix", demo.INTENTS)
    pool = max(int(rows / MESSAGES_PER_DIALOG / 2.5), 50)
    model_latency = by_index("model_ix", demo.MODEL_LATENCY_MEDIAN_MS)
    # Pseudo-random numbers that a row may read twice (a volatile random() must be read once).
    h1 = "((d * 2654435761 + m.i * 40503) % 1000) / 1000.0"
    dialogs = f"""
        CREATE TABLE bench_dialogs AS
        SELECT h.before_n + n.i AS d, h.offset_s + 3600.0 * {u} AS start_s,
               {u} AS u_platform, {u} AS u_intent, {u} AS u_model, {u} AS u_user, {u} AS u_len,
               {u} AS u_esc, {u} AS u_res, {u} AS u_early, {u} AS u_conv, {u} AS u_rate,
               1.0 - {u} AS n1, {u} AS n2, {u} AS u_nps
        FROM bench_hours h JOIN bench_numbers n ON n.i < h.dialogs
        ORDER BY h.offset_s, n.i"""
    shaped = f"""
        SELECT d, start_s, u_user, u_rate, n1, n2, u_nps, model_ix, intent_ix, platform,
               escalated, resolved, converted, n_msgs,
               CASE WHEN resolved = 1 THEN n_msgs - 1 - (CASE WHEN u_early < 0.3 AND n_msgs > 1 THEN 1 ELSE 0 END)
                    ELSE 99 END AS resolve_at
        FROM (SELECT e.*, CASE WHEN u_res < (CASE WHEN escalated = 1 THEN 0.5 ELSE
                                 {by_index("intent_ix", demo.INTENT_RESOLVE)} END) THEN 1 ELSE 0 END AS resolved,
                     CASE WHEN escalated = 0 AND u_conv < {by_index("intent_ix", demo.INTENT_CONVERT)}
                          THEN 1 ELSE 0 END AS converted,
                     1 + CAST(floor(9 * u_len * u_len * u_len) AS INTEGER) + 2 * escalated AS n_msgs
              FROM (SELECT c.*, CASE WHEN u_esc < {by_index("intent_ix", demo.INTENT_ESCALATE)}
                                     THEN 1 ELSE 0 END AS escalated
                    FROM (SELECT b.*,
                                 {pick("u_intent", list(range(len(demo.INTENTS))), demo.INTENT_WEIGHTS)} AS intent_ix,
                                 {pick("u_model", list(range(len(demo.MODELS))), demo.MODEL_WEIGHTS)} AS model_ix,
                                 {pick("u_platform", list(demo.PLATFORMS), demo.PLATFORM_WEIGHTS)} AS platform
                          FROM bench_dialogs b WHERE d >= :first_d AND d < :end_d) c) e) f"""
    score = d.clamp(f"CAST(round(3.9 + 0.7 * resolved - 1.1 * escalated + 0.9 * {normal('n1', 'n2')}) AS INTEGER)",
                    1, 5)
    shown_intent = by_index(f"(CASE WHEN (d * 7 + m.i * 13) % 10 = 0 THEN (intent_ix + 1 + m.i) % 12 "
                            f"ELSE intent_ix END)", demo.INTENTS)
    conversations = f"""
        INSERT INTO conversation_metrics (id, "timestamp", user_id, session_id, platform, intent,
            expected_intent, confidence, response_time_ms, tokens_used, cost_usd, ai_model,
            satisfaction_score, helpful, resolved, escalated, converted)
        SELECT {d.uuid()}, {d.at("start_s + m.i * 75 + 30 * " + h1)},
               'u' || CAST({pool} * u_user * u_user AS INTEGER), 's' || d, platform, {shown_intent},
               CASE WHEN (d * 31 + m.i * 17) % 100 < 8 THEN {intent_ix} END,
               {d.round(f"0.55 + 0.45 * {u}", 4)},
               CAST({model_latency} * exp(0.45 * {normal("1.0 - " + u, u)}) AS INTEGER),
               CAST({by_index("model_ix", demo.MODEL_TOKENS_MEAN)} * (0.6 + 0.8 * {h1}) AS INTEGER),
               {d.round(f'CAST({by_index("model_ix", demo.MODEL_TOKENS_MEAN)} * (0.6 + 0.8 * {h1}) AS INTEGER)'
                        f' * {by_index("model_ix", demo.MODEL_USD_PER_1K_TOKENS)} / 1000.0', 4)},
               {by_index("model_ix", demo.MODELS)},
               CASE WHEN m.i = n_msgs - 1 AND u_rate < 0.35 THEN {score} END,
               CASE WHEN {u} < 0.25 THEN {d.boolean(f"{u} < {by_index('model_ix', demo.MODEL_HELPFUL)}")} END,
               {d.boolean("m.i >= resolve_at")},
               {d.boolean("escalated = 1 AND m.i = CASE WHEN n_msgs > 2 THEN n_msgs - 2 ELSE 0 END")},
               {d.boolean("converted = 1 AND m.i = n_msgs - 1")}
        FROM ({shaped}) s JOIN bench_positions m ON m.i < s.n_msgs
        WHERE start_s + m.i * 105 < :stop_s AND d >= :first_d AND d < :end_d
        ORDER BY d, m.i"""
    nps = f"""
        INSERT INTO nps_responses (id, "timestamp", user_id, platform, score, comment)
        SELECT {d.uuid()}, {d.at("start_s + 3600")}, 'u' || CAST({pool} * u_user * u_user AS INTEGER), platform,
               CASE WHEN escalated = 1 THEN CAST(floor(11 * {u}) AS INTEGER)
                    ELSE CAST(floor(11 * sqrt({u})) AS INTEGER) END,
               CASE WHEN {u} < 0.45 THEN 'Fast and helpful, thank you!' END
        FROM ({shaped}) s WHERE u_nps < 0.04 AND start_s + 3600 < :stop_s ORDER BY start_s"""
    services = " UNION ALL ".join(f"SELECT {i} AS s, {literal(name)} AS service, {literal(traffic)} AS traffic"
                                  for i, (name, traffic) in enumerate(zip(demo.SERVICES, demo.SERVICE_TRAFFIC)))
    system = f"""
        INSERT INTO system_metrics ("timestamp", service, requests, errors, cpu_percent, memory_percent,
                                    disk_percent, active_sessions)
        SELECT {d.at("60.0 * m.i")}, v.service, CAST(60 * {scale} * v.traffic * (0.3 + 0.9 * {u}) AS INTEGER),
               CAST(0.5 * {scale} * v.traffic * {u} AS INTEGER),
               {d.round(f"20 + 50 * {u}", 1)}, {d.round(f"50 + 15 * {u}", 1)},
               {d.round(f"30 + 20 * v.traffic + {u}", 2)},
               CASE WHEN v.service = 'conversation-service' THEN CAST(35 * {scale} * {u} AS INTEGER) END
        FROM bench_minutes m CROSS JOIN ({services}) v
        WHERE 60.0 * m.i < :stop_s ORDER BY m.i, v.s"""
    checked = " UNION ALL ".join(
        [f"SELECT {literal(name)} AS service, 1 AS every, 12.0 AS latency" for name in demo.SERVICES]
        + [f"SELECT {literal(name)}, 5, {literal(latency)}" for name, latency in zip(demo.INTEGRATIONS, demo.INTEGRATION_LATENCY_MS)])
    health = f"""
        INSERT INTO service_health ("timestamp", service, status, latency_ms)
        SELECT {d.at("60.0 * m.i")}, v.service,
               CASE WHEN {u} < 0.0005 THEN 'degraded' ELSE 'up' END, {d.round(f"v.latency * (0.5 + {u})", 1)}
        FROM bench_minutes m CROSS JOIN ({checked}) v
        WHERE m.i % v.every = 0 AND 60.0 * m.i < :stop_s ORDER BY m.i"""
    n_calls, n_errors = rows // 6, max(rows // 150, 1)
    calls = f"""
        INSERT INTO integration_calls (id, "timestamp", integration, kind, status_code, latency_ms, auth_failed)
        SELECT {d.uuid()}, {d.at(f"(i + {u}) * :stop_s / {n_calls}")},
               {pick("(i % 100) / 100.0", list(demo.INTEGRATIONS), demo.INTEGRATION_SHARE)},
               {pick("(i % 100) / 100.0", list(demo.INTEGRATION_KIND), demo.INTEGRATION_SHARE)},
               CASE WHEN {u} < 0.01 THEN 429 ELSE 200 END, {d.round(f"300 * (0.5 + {u})", 1)}, {d.boolean("1 = 0")}
        FROM bench_calls"""
    errors = f"""
        INSERT INTO error_events (id, "timestamp", service, error_type, level, message)
        SELECT {d.uuid()}, {d.at(f"(i + {u}) * :stop_s / {n_errors}")},
               {by_index("i % 7", [e[0] for e in demo.ERROR_TYPES])},
               {by_index("i % 7", [e[1] for e in demo.ERROR_TYPES])},
               {by_index("i % 7", [e[2] for e in demo.ERROR_TYPES])},
               {by_index("i % 7", [e[3] for e in demo.ERROR_TYPES])}
        FROM bench_calls WHERE i < {n_errors}"""
    return [("dialogs", dialogs), ("conversation_metrics", conversations), ("nps_responses", nps),
            ("system_metrics", system), ("service_health", health), ("integration_calls", calls),
            ("error_events", errors)]


def fill(engine: sa.Engine, rows: int, days: int,
         progress: Callable[[float, str], None] | None = None) -> dict[str, int]:
    """Drop and recreate the contract's tables in ``engine``'s database and fill them with about
    ``rows`` conversation rows over the last ``days`` UTC days (up to now). Returns rows per table."""
    d = Dialect(engine.dialect.name)
    stop = datetime.now(timezone.utc).replace(microsecond=0)
    first = datetime.combine(stop.date() - timedelta(days=days - 1), datetime.min.time())
    stop_s = (stop.replace(tzinfo=None) - first).total_seconds()
    scale = rows / (days * ROWS_PER_DAY_AT_SCALE_1)
    hours = hours_table(days, rows, first, stop)
    helpers = ["bench_hours", "bench_numbers", "bench_positions", "bench_minutes", "bench_calls", "bench_dialogs"]
    indexes = [index for table in metadata.sorted_tables for index in table.indexes]
    metadata.drop_all(engine)
    metadata.create_all(engine)
    steps = statements(d, rows, days, scale)
    done: dict[str, int] = {}
    with engine.begin() as conn:
        for index in indexes:  # built after the rows are in: several times faster
            index.drop(conn)
        for table in helpers:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        conn.exec_driver_sql("CREATE TABLE bench_hours (offset_s BIGINT, dialogs BIGINT, before_n BIGINT)")
        conn.execute(sa.text("INSERT INTO bench_hours VALUES (:o, :n, :b)"),
                     [{"o": o, "n": n, "b": b} for o, n, b in hours])
        conn.exec_driver_sql(d.numbers("bench_numbers", max(n for _, n, _ in hours) + 1))
        conn.exec_driver_sql(d.numbers("bench_positions", 12))  # a message's place in its dialog
        conn.exec_driver_sql(d.numbers("bench_minutes", days * 1440))
        conn.exec_driver_sql(d.numbers("bench_calls", rows // 6))
        # Dialogs are numbered in time order: one day of them per statement keeps each sort in memory.
        day_starts = [before for offset, _, before in hours if offset % 86400 == 0] + [sum(n for _, n, _ in hours)]
        chunks = list(zip(day_starts, day_starts[1:]))
        bounds = {"first": first.strftime("%Y-%m-%d %H:%M:%S"), "stop_s": stop_s}
        units = len(steps) - 1 + len(chunks) + 1
        finished = 0
        for what, statement in steps:
            ranges = chunks if what == "conversation_metrics" else [(0, chunks[-1][1])]
            for first_d, end_d in ranges:
                if progress:
                    progress(finished / units, f"building {what}, {sum(done.values()):,} rows")
                result = conn.execute(sa.text(statement), {**bounds, "first_d": first_d, "end_d": end_d})
                if what in {t.name for t in metadata.sorted_tables}:
                    done[what] = done.get(what, 0) + result.rowcount
                finished += 1
            if what == "dialogs":
                conn.exec_driver_sql("CREATE INDEX bench_dialogs_d ON bench_dialogs (d)")
        if progress:
            progress(finished / units, "indexing")
        for index in indexes:
            index.create(conn)
        for table in helpers:
            conn.exec_driver_sql(f"DROP TABLE {table}")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # VACUUM sets the visibility map and hint bits, which a freshly written table lacks: without
        # it the first reads would also pay for writing those, and index-only scans would not happen.
        conn.exec_driver_sql("VACUUM ANALYZE" if d.pg else "ANALYZE")
    if progress:
        progress(1.0, f"{sum(done.values()):,} rows")
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--url", required=True)
    args = parser.parse_args()
    engine = make_engine(args.url)
    started = time.perf_counter()
    counts = fill(engine, args.rows, args.days, demo.terminal_progress())
    print(f"{counts} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
