"""One round of the alert watcher: every rule of alerts.yml evaluated at one moment, from the raw
rows and from the rollups, in one run. Figures only; nothing passes or fails.

    python3 bench/watch.py --url postgresql+psycopg2://postgres@127.0.0.1:5432/efa_bench10m [--at 2026-11-30T12:00:00Z]

Default moment: the latest row's hour. Each path: the first round (cold: the database's cache as
it is) and the best of three more; the statements one round runs and its slowest.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data_access import alert_watch, logs, plans  # noqa: E402
from data_access.alert_rules import load_rules  # noqa: E402
from data_access.engine import make_engine  # noqa: E402


def one_round(engine, rules, at) -> tuple[float, list[dict], int]:
    with logs.recording() as queries:
        started = time.perf_counter()
        firing = alert_watch.firing_at(engine, rules, at)
        seconds = time.perf_counter() - started
    return seconds, list(queries), len(firing)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--at", help="the moment, ISO UTC (default: the latest row's hour)")
    args = parser.parse_args()
    engine = make_engine(args.url)
    rules = load_rules()
    if args.at:
        at = datetime.fromisoformat(args.at.replace("Z", "+00:00")).astimezone(timezone.utc).replace(tzinfo=None)
    else:
        with engine.connect() as conn:
            latest = conn.exec_driver_sql('SELECT MAX("timestamp") FROM conversation_metrics').scalar()
        at = (latest if isinstance(latest, datetime) else datetime.fromisoformat(str(latest))).replace(
            minute=0, second=0, microsecond=0)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT COUNT(*) FROM conversation_metrics").scalar()
    print(f"{engine.dialect.name}, {rows:,} conversation rows, {len(rules.rules)} rules, at {at:%Y-%m-%d %H:%M} UTC")
    print(f"{'path':<10}{'cold s':>9}{'warm s':>9}{'statements':>12}{'firing':>8}  slowest statement")
    for path in ("raw", "rollups"):
        if path == "raw":
            context = plans.raw_reference()
        else:
            from contextlib import nullcontext
            context = nullcontext()
        with context:
            cold, queries, firing = one_round(engine, rules, at)
            warm = min(one_round(engine, rules, at)[0] for _ in range(3))
        slowest = max(queries, key=lambda q: q["duration_ms"], default={"query": "-", "duration_ms": 0})
        print(f"{path:<10}{cold:>9.2f}{warm:>9.2f}{len(queries):>12}{firing:>8}  "
              f"{slowest['query']} {slowest['duration_ms'] / 1000:.2f} s")
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
