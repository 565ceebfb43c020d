"""The Operational page's service panels over 30 days, from Prometheus and from the tables, in one
run: per panel the first read (cold) and the best of three more. Figures only; nothing passes or fails.

    python3 bench/prometheus.py [--days 30] [--scale 1.0] [--unit minute] [--keep DIR]

Builds demo data (``--days`` + 1 days, nine services sampled every minute) in a SQLite file,
writes its service metrics as OpenMetrics (data_access.openmetrics), backfills them with
``promtool tsdb create-blocks-from openmetrics`` and starts Debian's ``prometheus`` on loopback.
``--unit minute`` reads at one-minute resolution (43,200 points a series over 30 days, so split
into five range queries); ``hour`` is what the page reads over 30 days.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data_access import kpis, openmetrics, operational as ops, prometheus as prom  # noqa: E402
from data_access.demo import DemoSpec, load  # noqa: E402
from data_access.engine import make_engine  # noqa: E402
from data_access.filters import Filters  # noqa: E402
from data_access.schema import discover  # noqa: E402

KPI_KEYS = ("avg_rps", "peak_rps", "error_rate", "uptime", "active_sessions", "cpu", "memory", "disk")


def timed(call, repeats: int = 3) -> tuple[float, float]:
    """(first, best of ``repeats`` more) in seconds."""
    started = time.perf_counter()
    call()
    first = time.perf_counter() - started
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return first, best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--unit", choices=list(prom.BUCKET_SECONDS), default="minute")
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temporary folder)")
    args = parser.parse_args()
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        print("error: needs Debian's prometheus (promtool with it)", file=sys.stderr)
        return 2
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-prometheus-"))
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "demo.sqlite"
    engine = make_engine(f"sqlite:///{database}")
    if not discover(engine).has_table("system_metrics") or not ops.sql.read_row(
            engine, "SELECT COUNT(*) AS n FROM system_metrics", {})["n"]:
        started = time.perf_counter()
        load(engine, DemoSpec(days=args.days + 1, scale=args.scale, seed=7))
        print(f"demo data: {time.perf_counter() - started:.1f} s")
    schema = discover(engine)
    data = folder / "tsdb"
    if not data.exists():
        started = time.perf_counter()
        exported = folder / "metrics.om"
        with exported.open("w", encoding="utf-8") as out:
            samples = openmetrics.write(engine, schema, out)
        print(f"OpenMetrics: {samples:,} samples in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(exported), str(data)],
                       check=True, capture_output=True)
        print(f"promtool backfill: {time.perf_counter() - started:.1f} s")
    (folder / "prometheus.yml").write_text("global: {}\n", encoding="utf-8")
    port = 19390
    process = subprocess.Popen(["prometheus", f"--config.file={folder / 'prometheus.yml'}",
                                f"--storage.tsdb.path={data}", f"--web.listen-address=127.0.0.1:{port}",
                                "--storage.tsdb.retention.time=100y"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        client = prom.Prometheus(prom.PrometheusConfig(url=url, timeout=120))
        latest = datetime.fromisoformat(str(ops.sql.read_row(engine, "SELECT MAX(timestamp) AS m FROM system_metrics",
                                                              {})["m"])[:19])
        end = latest.replace(hour=0, minute=0, second=0, microsecond=0)
        filters = Filters(end - timedelta(days=args.days), end)
        now = end + timedelta(days=1)
        print(f"\n{args.days} days to {end:%Y-%m-%d}, unit {args.unit}: seconds, first / best of 3")
        print(f"{'panel':28} {'Prometheus':>18} {'tables (SQLite)':>18}")
        rows = [
            ("traffic", lambda: prom.traffic(client, filters, args.unit, now=now),
             lambda: ops.traffic(engine, schema, filters, args.unit)),
            ("errors_over_time", lambda: prom.errors_over_time(client, filters, args.unit, now=now),
             lambda: ops.errors_over_time(engine, schema, filters, args.unit)),
            ("resources", lambda: prom.resources(client, filters, args.unit, now=now),
             lambda: ops.resources(engine, schema, filters, args.unit)),
            ("active_sessions_over_time", lambda: prom.active_sessions_over_time(client, filters, args.unit, now=now),
             lambda: ops.active_sessions_over_time(engine, schema, filters, args.unit)),
            ("service_status", lambda: prom.service_status(client, filters, now=now),
             lambda: ops.service_status(engine, schema, filters)),
            ("status_intervals", lambda: prom.status_intervals(client, filters, now=now),
             lambda: ops.status_intervals(engine, schema, filters)),
            ("tiles (8 KPIs)", lambda: prom.kpis(client, filters, KPI_KEYS, now=now),
             lambda: kpis.compute(engine, schema, filters, list(KPI_KEYS))),
        ]
        for name, from_prometheus, from_tables in rows:
            p_first, p_best = timed(from_prometheus)
            t_first, t_best = timed(from_tables)
            print(f"{name:28} {p_first:8.2f} / {p_best:6.2f}  {t_first:8.2f} / {t_best:6.2f}")
    finally:
        process.terminate()
        process.wait(timeout=10)
        engine.dispose()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
