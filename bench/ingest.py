"""Log import throughput: lines per second into PostgreSQL and SQLite.

    python3 bench/ingest.py [--lines 1000000] [--pg postgresql+psycopg2://postgres@127.0.0.1/postgres]

Writes a log of ``--lines`` JSON lines in the seed's format (95 % message_processed, 2 % ERROR,
3 % other events), gzipped, then prints, in one run:
- the baseline: reading and ``json.loads`` of every line, nothing else (the floor for any importer);
- parsing and checking every line as the importer does, without a database;
- the whole import into a fresh SQLite file and into a fresh PostgreSQL database;
- the same file imported again (every row a duplicate);
each as seconds, lines/s and the ratio to the baseline. Figures only: nothing passes or fails.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from data_access import ingest  # noqa: E402
from data_access.engine import make_engine  # noqa: E402

PLATFORMS = ("telegram", "whatsapp", "web")
INTENTS = ("order_status", "refund", "payment_issue", "delivery", "greeting", "complaint")


def write_log(path: Path, lines: int, seed: int = 5) -> None:
    rng = random.Random(seed)
    start = datetime(2026, 10, 1)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=3) as out:
        for i in range(lines):
            ts = (start + timedelta(milliseconds=i * 250)).isoformat() + "Z"
            roll = rng.random()
            if roll < 0.95:
                record = {"timestamp": ts, "level": "INFO", "service": "conversation-service",
                          "user_id": f"user{rng.randrange(50_000)}", "session_id": f"sess{i // 4}",
                          "event": "message_processed", "platform": rng.choice(PLATFORMS),
                          "intent": rng.choice(INTENTS), "confidence": round(rng.random(), 3),
                          "response_time_ms": rng.randrange(80, 6000), "ai_tokens_used": rng.randrange(20, 900),
                          "cost_usd": round(rng.random() / 100, 4), "ai_model": "gpt-4o-mini"}
                if rng.random() < 0.1:
                    record["satisfaction_score"] = rng.randrange(1, 6)
            elif roll < 0.97:
                record = {"timestamp": ts, "level": "ERROR", "service": "ai-service", "event": "provider_failed",
                          "error_type": "AIProviderError", "message": "Model provider returned 503"}
            else:
                record = {"timestamp": ts, "level": "DEBUG", "service": "redis", "event": "cache_miss",
                          "request_id": str(uuid.UUID(int=rng.getrandbits(128)))}
            out.write(json.dumps(record) + "\n")


def timed(label: str, lines: int, baseline: float | None, action) -> float:
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    ratio = f"{seconds / baseline:6.1f}x" if baseline else "  1.0x"
    print(f"{label:<44} {seconds:8.2f} s {lines / seconds:12,.0f} lines/s {ratio}", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--pg", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server's admin URL: a throwaway database is made there")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="efa_ingest_"))
    log = work / "app.log.gz"
    started = time.perf_counter()
    write_log(log, args.lines)
    print(f"wrote {args.lines:,} lines ({log.stat().st_size / 1e6:.1f} MB gzipped) in "
          f"{time.perf_counter() - started:.1f} s\n", flush=True)

    def read_only():
        for raw in ingest.open_lines(str(log))[0]:
            json.loads(raw)

    def parse_only():
        for raw in ingest.open_lines(str(log))[0]:
            try:
                ingest.parse_line(raw.decode())
            except ingest.Rejected:
                pass

    def into(url: str):
        engine = make_engine(url)
        summary = ingest.ingest_lines(engine, ingest.open_lines(str(log))[0], str(log))
        engine.dispose()
        return summary

    baseline = timed("baseline: read + json.loads", args.lines, None, read_only)
    timed("parse and check (no database)", args.lines, baseline, parse_only)
    sqlite_url = f"sqlite:///{work / 'bench.sqlite'}"
    timed("import into SQLite (new file)", args.lines, baseline, lambda: into(sqlite_url))
    timed("again into SQLite (all duplicates)", args.lines, baseline, lambda: into(sqlite_url))
    admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
    name = f"efa_ingest_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as error:
        print(f"PostgreSQL skipped: {type(error).__name__}")
        return
    pg_url = sa.make_url(args.pg).set(database=name).render_as_string(hide_password=False)
    try:
        timed("import into PostgreSQL (new database)", args.lines, baseline, lambda: into(pg_url))
        timed("again into PostgreSQL (all duplicates)", args.lines, baseline, lambda: into(pg_url))
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    main()
