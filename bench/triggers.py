"""What the rollups' triggers cost a writer: rows inserted per second with and without them.

    python3 bench/triggers.py [--rows 50000] [--pg postgresql+psycopg2://postgres@127.0.0.1:5432/postgres]

On a fresh SQLite file and a fresh PostgreSQL database (created and dropped here): a small demo
with its rollups, then ``--rows`` conversation rows written in batches of 1,000, twice each:
into the current hour (what the platform does all day: the triggers note nothing) and into an
hour already rolled up (an import of old logs: every row is noted), with the triggers and
without them (dropped), alternating, the best of three. Figures only, measured in one run;
nothing passes or fails.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from data_access import rollups  # noqa: E402
from data_access.demo import DemoSpec, load  # noqa: E402
from data_access.engine import make_engine  # noqa: E402
from data_access.schema import conversation_metrics, discover  # noqa: E402


def rows_at(start: datetime, count: int) -> list[dict]:
    return [{"id": str(uuid.uuid4()), "timestamp": start + timedelta(milliseconds=10 * i), "user_id": f"b{i % 500}",
             "session_id": f"bench-{i // 3}", "platform": "web", "intent": "refund", "response_time_ms": 900 + i % 700,
             "tokens_used": 100, "cost_usd": 0.0012, "ai_model": "gpt-4o", "satisfaction_score": 4} for i in range(count)]


def rate(engine: sa.Engine, rows: list[dict]) -> float:
    started = time.perf_counter()
    for i in range(0, len(rows), 1000):
        with engine.begin() as conn:
            conn.execute(conversation_metrics.insert(), rows[i:i + 1000])
    return len(rows) / (time.perf_counter() - started)


def set_triggers(engine: sa.Engine, on: bool) -> None:
    if on:
        rollups._ensure_tables(engine, discover(engine))
        return
    with engine.begin() as conn:
        for name in ("insert", "update", "delete"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS easyflow_rollup_{name}"
                                 + (" ON conversation_metrics" if engine.dialect.name == "postgresql" else ""))


def measure(engine: sa.Engine, count: int, rounds: int = 3) -> None:
    """The best of ``rounds`` alternating runs with and without the triggers."""
    load(engine, DemoSpec(days=3, scale=0.05, seed=4))
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    current, closed = rollups.floor_hour(now), rollups.floor_hour(now) - timedelta(hours=30)
    best = {True: [0.0, 0.0], False: [0.0, 0.0]}
    for _ in range(rounds):
        for on in (True, False):
            set_triggers(engine, on)
            best[on][0] = max(best[on][0], rate(engine, rows_at(current, count)))
            best[on][1] = max(best[on][1], rate(engine, rows_at(closed + timedelta(minutes=5), count)))
    set_triggers(engine, True)
    print(f"{engine.dialect.name}: rows/s into the current hour / into a rolled-up hour (best of {rounds})")
    for on, label in ((True, "with triggers"), (False, "without")):
        now_rate, late_rate = best[on]
        print(f"  {label:14} {now_rate:10,.0f} ({now_rate / best[False][0]:4.2f}x)   "
              f"{late_rate:10,.0f} ({late_rate / best[False][1]:4.2f}x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--pg", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/triggers.sqlite")
        measure(engine, args.rows)
        engine.dispose()
    admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
    name = f"efa_bench_triggers_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        engine = make_engine(sa.make_url(args.pg).set(database=name).render_as_string(hide_password=False))
        measure(engine, args.rows)
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
