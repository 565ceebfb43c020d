"""Export speed and memory: rows per second and peak RSS per format, and XLSX against pandas.

    python3 bench/export.py [--rows 1000000] [--url postgresql+psycopg2://…/efa_bench]

Uses the database bench/pages.py fills (it fills it the same way when missing). Prints, in one
run:
- CSV and JSON of 100k and of all conversation rows, each in a fresh process: seconds, rows/s and
  peak RSS (VmHWM), so that memory that grows with the row count shows;
- XLSX of 200k rows: our streaming writer (data_access.xlsx) against pandas ``DataFrame.to_excel`` (openpyxl) on
  the same rows, in the same run, and the ratio.
Figures only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pages import ensure_data  # noqa: E402  (bench/pages.py)

EXPORT_SCRIPT = """
import io, json, sys, time
from datetime import date
import sqlalchemy as sa
from data_access import export as ex
from data_access.engine import make_engine
from data_access.filters import Filters
from data_access.schema import discover
url, fmt, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = make_engine(url)
schema = discover(engine)
with engine.connect() as conn:
    lo, hi = conn.exec_driver_sql('SELECT MIN("timestamp"), MAX("timestamp") FROM conversation_metrics').one()
    if limit:
        hi = conn.exec_driver_sql('SELECT "timestamp" FROM conversation_metrics ORDER BY "timestamp" '
                                  f'OFFSET {limit - 1} LIMIT 1').scalar()
request = ex.ExportRequest("conversation_metrics", Filters(lo, hi.replace(microsecond=0) + __import__("datetime").timedelta(seconds=1)))
class Sink(io.RawIOBase):
    written = 0
    def writable(self): return True
    def write(self, b): self.written += len(b); return len(b)
sink = Sink()
out = io.TextIOWrapper(io.BufferedWriter(sink), encoding="utf-8")
started = time.perf_counter()
if fmt == "pandas_xlsx":
    import pandas as pd
    rows = [r for chunk in ex.iter_rows(engine, schema, request.checked(schema)) for r in chunk]
    frame = pd.DataFrame(rows, columns=request.checked(schema).columns)
    buffer = io.BytesIO()
    frame.to_excel(buffer, index=False, engine="openpyxl")
    stats_rows, size = len(frame), len(buffer.getvalue())
elif fmt == "xlsx":
    buffer = io.BytesIO()
    stats = ex.export(engine, schema, request, fmt, buffer)
    stats_rows, size = stats.rows, len(buffer.getvalue())
else:
    stats = ex.export(engine, schema, request, fmt, out)
    out.flush()
    stats_rows, size = stats.rows, sink.written
seconds = time.perf_counter() - started
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
print(json.dumps({"rows": stats_rows, "seconds": seconds, "rss_mb": hwm, "bytes": size}))
"""


def run(url: str, fmt: str, limit: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", EXPORT_SCRIPT, url, fmt, str(limit)], capture_output=True,
                          text=True, env=env, cwd=ROOT, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/efa_bench")
    args = parser.parse_args()
    total = ensure_data(args.url, args.rows, args.days, rebuild=False)
    print(f"conversation rows in the database: {total:,}")
    print(f"{'export':28} {'rows':>10} {'seconds':>8} {'rows/s':>10} {'peak RSS':>9}")
    for fmt in ("csv", "json"):
        for limit in (100_000, 0):
            r = run(args.url, fmt, limit)
            print(f"{fmt + (' (100k)' if limit else ' (all)'):28} {r['rows']:>10,} {r['seconds']:>8.1f} "
                  f"{r['rows'] / r['seconds']:>10,.0f} {r['rss_mb']:>7.0f} MB")
    ours = run(args.url, "xlsx", 200_000)
    theirs = run(args.url, "pandas_xlsx", 200_000)
    for label, r in (("xlsx, streaming (200k)", ours), ("pandas to_excel (200k)", theirs)):
        print(f"{label:28} {r['rows']:>10,} {r['seconds']:>8.1f} {r['rows'] / r['seconds']:>10,.0f} "
              f"{r['rss_mb']:>7.0f} MB")
    print(f"xlsx streaming is {theirs['seconds'] / ours['seconds']:.1f}x faster than pandas to_excel")
    return 0


if __name__ == "__main__":
    sys.exit(main())
