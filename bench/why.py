"""How long "Why did it change?" takes: each explained KPI's change over the default 30 days split
by one dimension and by a pair, against the tile's own two reads (the KPI in both periods),
measured in the same run.

    python3 bench/why.py --rows 5000000 [--days 45] [--url …/efa_bench5m]

Fills the database as ``bench/pages.py`` does (``ensure_data``) unless it already holds about
``--rows`` conversation rows, and brings the rollups up to date first. Each figure is the first
run of the split in this process (nothing of the dashboard's caches: the cost a first visitor pays
for one KPI's "Why?"), next to the best of three runs of the tiles' reads; "x tile" is their ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pages import ensure_data, timed  # noqa: E402
from data_access import change, kpis, rollups  # noqa: E402
from data_access.engine import make_engine  # noqa: E402
from data_access.filters import Filters  # noqa: E402
from data_access.schema import discover  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--days", type=int, default=45)
    parser.add_argument("--url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/efa_bench5m")
    parser.add_argument("--kpis", nargs="+", default=[k for k in kpis.KPIS if change.explained(k)])
    args = parser.parse_args()
    total = ensure_data(args.url, args.rows, args.days, False)
    engine = make_engine(args.url)
    rollups.refresh(engine)
    schema = discover(engine)
    now = datetime.utcnow()
    today = datetime.combine(now.date(), datetime.min.time())
    current = Filters(today - timedelta(days=29), today + timedelta(days=1))  # the default 30 days
    previous = current.previous(now=now)
    print(f"{total:,} conversation rows; {current.start:%Y-%m-%d} – {current.end:%Y-%m-%d} against "
          f"{previous.start:%Y-%m-%d} – {previous.end:%Y-%m-%d}")
    print(f"{'KPI':28} {'tile reads':>10} {'by platform':>12} {'x tile':>7} {'by intent':>10} {'by pair':>9} {'x tile':>7}")
    for key in args.kpis:
        tile = timed(lambda: [kpis.compute_one(engine, schema, f, key) for f in (previous, current)])
        times = []
        for dims in (("platform",), ("intent",), ("platform", "intent")):
            started = time.perf_counter()
            change.split(engine, schema, current, previous, key, dims)
            times.append(time.perf_counter() - started)
        print(f"{key:28} {tile:10.3f} {times[0]:12.3f} {times[0] / tile:7.1f} {times[1]:10.3f} {times[2]:9.3f} "
              f"{times[2] / tile:7.1f}")
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
