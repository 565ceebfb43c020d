"""How fast each page renders on large tables, next to the time of its SQL alone and of one scan.

    python3 bench/pages.py --rows 10000000 [--days 90] [--pages overview business] [--url …/efa_bench10m]
    python3 bench/pages.py --rows 1000000 --url sqlite:////tmp/efa_bench.db

Fills the database (PostgreSQL: created if missing) with about ``--rows`` conversation rows over
``--days`` days in set-based SQL (``bench/fill.py``) unless it already holds about that many
(``--rebuild`` forces it), then prints, in one run:

- what keeping the rollups costs (data_access.rollups): the first full build (``--full-build``,
  or when the database has none), one new hour of traffic, one late row in a closed hour;
- the floor: one single-pass aggregate over the default range (the last 30 days) with the pages'
  own WHERE: count, distinct sessions, mean, p95 and sums of conversation rows, the least a page
  reading these rows could cost (best of three, warm in the server's cache);
- the rows after the watermark that every page meets in use (``LIVE_MINUTES`` of traffic: those of
  the same minutes a week before, copied as new dialogs of the same users and taken out at the end);
- per page, read from the raw rows (``EASYFLOW_ROLLUPS=off``: the baseline) and from the rollups,
  the cold render: a fresh Python process running the page once with AppTest (the Overview, the
  first page a process runs, after the first import of the libraries, timed apart; the other
  pages after the entry point's first run);
- its SQL alone: the time of every statement that cold render ran, and their count;
- the warm render: the same process running it again (cached; the median of three reruns), and
  the statements it ran (all three);
- the peak RSS of that process;
and each time as a ratio to the floor. Figures only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.fill import Dialect, fill  # noqa: E402
from data_access import rollups, sql  # noqa: E402
from data_access.demo import terminal_progress  # noqa: E402
from data_access.engine import make_engine  # noqa: E402
from data_access.schema import discover  # noqa: E402
from dashboard.filters import Selection  # noqa: E402

PAGES = ["overview", "operational", "business", "ai_performance", "alerts", "sla", "reports"]

RENDER_SCRIPT = """
import json, sys, time
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest, app_test, local_script_runner
from streamlit.runtime.scriptrunner.script_cache import ScriptCache
# A server compiles each script once (its Runtime keeps one ScriptCache); AppTest makes a new cache
# per run, which would add the compile (~60 ms on a page) to every warm render.
_compiled = ScriptCache()
app_test.ScriptCache = local_script_runner.ScriptCache = lambda: _compiled
sql = {"n": 0, "seconds": 0.0}
# Each run's named queries (what the debug=1 panel lists): the slowest of the cold render are printed.
from data_access import logs
_start_recording, runs = logs.start_recording, []
logs.start_recording = lambda: runs.append(_start_recording()) or runs[-1]
@sa.event.listens_for(sa.engine.Engine, "before_cursor_execute")
def _before(conn, cursor, statement, params, context, many):
    conn.info["bench_started"] = time.perf_counter()
@sa.event.listens_for(sa.engine.Engine, "after_cursor_execute")
def _after(conn, cursor, statement, params, context, many):
    sql["n"] += 1
    sql["seconds"] += time.perf_counter() - conn.info.pop("bench_started")
at = AppTest.from_file(sys.argv[1], default_timeout=600)
if sys.argv[2] != "overview":
    at.run()  # the entry point first, as a browser would open it; then the page, cold
    sql.update(n=0, seconds=0.0)
    started = time.perf_counter(); at.switch_page(f"../pages/{sys.argv[2]}.py").run(); cold = time.perf_counter() - started
else:
    # The first import of the libraries (pandas, plotly, the dashboard's modules) is timed apart:
    # a replica pays it once, on its first page, not on each view.
    import importlib, pkgutil, dashboard, data_access
    started = time.perf_counter()
    for package in (data_access, dashboard):
        for module in pkgutil.iter_modules(package.__path__):
            if module.name != "app":
                importlib.import_module(f"{package.__name__}.{module.name}")
    imports = time.perf_counter() - started
    started = time.perf_counter(); at.run(); cold = time.perf_counter() - started
assert not at.exception, [e.value for e in at.exception]
assert sql["n"], "the page ran no SQL: it did not render (signed out, or no database)"
cold_sql = dict(sql); sql.update(n=0, seconds=0.0)
by_query = {}
for record in runs[-1]:
    name = f"{record['query']} [{record['path'] or 'raw'}]"
    by_query[name] = by_query.get(name, 0.0) + record["duration_ms"] / 1000
slowest = sorted(by_query.items(), key=lambda item: -item[1])[:8]
tiles = {m.label: m.value for m in at.metric}
warm_runs = []
for _ in range(3):  # the median of three: one rerun alone is at the mercy of a garbage collection
    started = time.perf_counter(); at.run(); warm_runs.append(time.perf_counter() - started)
warm = sorted(warm_runs)[1]
# VmHWM, not ru_maxrss: ru_maxrss survives exec and would report the parent's peak (the loader's).
rss_mb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) / 1024
print(json.dumps({"imports": imports if sys.argv[2] == "overview" else None, "cold": cold, "warm": warm, "cold_sql": cold_sql, "warm_sql": dict(sql), "tiles": tiles,
                  "rss_mb": rss_mb, "slowest": slowest}))
"""


def ensure_data(url: str, rows: int, days: int, rebuild: bool) -> int:
    """Fill the database (set-based SQL, ``bench/fill.py``) unless it already has about ``rows``
    conversation rows; return the row count. A PostgreSQL database that does not exist is created."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "postgresql":
        admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if not conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).scalar():
                conn.exec_driver_sql(f'CREATE DATABASE "{parsed.database}"')
        admin.dispose()
    engine = make_engine(url)
    have = 0
    if discover(engine).has_table("conversation_metrics"):
        with engine.connect() as conn:
            have = conn.exec_driver_sql("SELECT COUNT(*) FROM conversation_metrics").scalar()
    if rebuild or abs(have - rows) > 0.1 * rows:
        print(f"filling {parsed.render_as_string()} with ~{rows:,} conversation rows over {days} days",
              file=sys.stderr)
        started = time.perf_counter()
        counts = fill(engine, rows, days, terminal_progress())
        have = counts["conversation_metrics"]
        print(f"loaded {sum(counts.values()):,} rows in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    engine.dispose()
    return have


def refresh_figures(engine: sa.Engine, full_build: bool) -> None:
    """Print what keeping the rollups costs: a first full build (with ``--full-build``, or when
    there are none), one new hour of traffic, and a late row landing in a closed hour."""
    state = rollups.read_state(engine) if discover(engine).has_table(rollups.STATE) else None
    if full_build or state is None or not state.usable(discover(engine)):
        report = rollups.refresh(engine, full=True)
        print(f"rollups: first full build {report.seconds:.1f} s ({report.new_hours:,} hours)")
    report = rollups.refresh(engine)  # up to date first
    state = rollups.read_state(engine)
    hour = state.watermark - rollups.HOUR
    # The last closed hour's rows taken out (a refresh forgets them), then written again: the next
    # refresh meets them as a new hour's, their dialogs new to the facts and their users' earlier
    # dialogs given new neighbours, as when an hour closes.
    span = {"lo": str(hour), "hi": str(state.watermark)}
    in_hour = 'FROM conversation_metrics WHERE "timestamp" >= :lo AND "timestamp" < :hi'
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS bench_new_hour"))
        conn.execute(sa.text(f"CREATE TABLE bench_new_hour AS SELECT * {in_hour}"), span)
        hour_rows = conn.execute(sa.text(f"DELETE {in_hour}"), span).rowcount
    rollups.refresh(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO conversation_metrics SELECT * FROM bench_new_hour"))
        conn.execute(sa.text("DROP TABLE bench_new_hour"))
    report = rollups.refresh(engine)
    print(f"rollups: one new hour ({hour_rows:,} rows) refreshed in {report.seconds:.3f} s")
    late = state.watermark - 30 * rollups.HOUR
    with engine.begin() as conn:
        conn.execute(sa.text('INSERT INTO conversation_metrics (id, "timestamp", user_id, session_id, platform, intent, '
                             'response_time_ms, tokens_used, cost_usd) VALUES (:id, :ts, \'bench\', :session, '
                             '\'web\', \'refund\', 900, 10, 0.001)'),
                     # A dialog of its own each run: one session over the runs' hours would be a months-long dialog.
                     {"id": str(uuid.uuid4()), "session": f"bench-late-{uuid.uuid4().hex[:8]}",
                      "ts": str(late + timedelta(minutes=17))})
    report = rollups.refresh(engine)
    print(f"rollups: one late row in a closed hour refreshed in {report.seconds:.3f} s "
          f"({report.late_hours} late hour, {report.new_hours} new)")


def timed(fn, repeat: int = 3) -> float:
    """The best of ``repeat`` runs, in seconds (the floor and SQL runs are warm in the server cache)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


# The rows after the watermark a page meets, read from the raw rows by every statement: from the
# grace period to an hour past it (5 to 65 minutes of traffic), 35 on average.
LIVE_MINUTES = 35
LIVE = "-live"  # the copied rows' session suffix: new dialogs of the same users, taken out again


def add_live_tail(engine: sa.Engine) -> int:
    """Write the rows a page meets after the watermark: those of the same minutes a week before,
    copied after it as new dialogs of the same users (their neighbours move). Returns how many."""
    watermark = rollups.read_state(engine).watermark
    week = timedelta(days=7)
    columns = ('user_id, platform, intent, expected_intent, confidence, response_time_ms, tokens_used, cost_usd, '
               'ai_model, satisfaction_score, helpful, resolved, escalated, converted')
    shifted = ("\"timestamp\" + INTERVAL '7 days'" if engine.dialect.name == "postgresql"
               else "strftime('%Y-%m-%d %H:%M:%f', julianday(\"timestamp\") + 7) || '000'")
    with engine.begin() as conn:
        return conn.execute(sa.text(
            f'INSERT INTO conversation_metrics (id, "timestamp", session_id, {columns}) '
            f"SELECT {Dialect(engine.dialect.name).uuid()}, {shifted}, session_id || '{LIVE}', {columns} FROM conversation_metrics "
            f'WHERE "timestamp" >= :lo AND "timestamp" < :hi'),
            {"lo": str(watermark - week), "hi": str(watermark - week + timedelta(minutes=LIVE_MINUTES))}).rowcount


def drop_live_tail(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM conversation_metrics WHERE session_id LIKE :live"), {"live": f"%{LIVE}"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/efa_bench")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--pages", nargs="+", default=PAGES, choices=PAGES)
    parser.add_argument("--full-build", action="store_true", help="time a first full build of the rollups too")
    parser.add_argument("--panels", action="store_true", help="also list each cold render's slowest queries")
    parser.add_argument("--paths", nargs="+", default=["raw", "rollups"], choices=["raw", "rollups"])
    args = parser.parse_args()

    total = ensure_data(args.url, args.rows, args.days, args.rebuild)
    engine = make_engine(args.url)
    now = datetime.now(timezone.utc)
    filters = Selection().filters(now)  # the Overview's default: the last 30 days
    dialect = engine.dialect.name
    where, params = sql.table_where(filters, "conversation_metrics", discover(engine), dialect)

    def floor():
        """The issue's single scan: count, distinct sessions, mean, p95 and sums, in one pass."""
        with engine.connect() as conn:
            conn.execute(sa.text(
                f"SELECT COUNT(*), COUNT(DISTINCT session_id), AVG(response_time_ms), "
                f"{sql.percentile('response_time_ms', 0.95, dialect)}, SUM(tokens_used), SUM(cost_usd) "
                f"FROM conversation_metrics {where}"), params).one()

    with engine.connect() as conn:
        in_range = conn.execute(sa.text(f"SELECT COUNT(*) FROM conversation_metrics {where}"), params).scalar()
    floor_s = timed(floor)

    # No sign-in (the pages' cost is measured, not the gate's): a real database is otherwise locked.
    env = dict(os.environ, DATABASE_URL=args.url, PYTHONPATH=str(ROOT), EASYFLOW_AUTH="none", EASYFLOW_ANONYMOUS_ROLE="admin")
    with engine.connect() as conn:
        system_rows = conn.exec_driver_sql("SELECT COUNT(*) FROM system_metrics").scalar()
    print(f"conversation rows: {total:,} in all, {in_range:,} in the default range "
          f"({filters.start_date} – {filters.end_date}); system_metrics rows: {system_rows:,}")
    refresh_figures(engine, args.full_build)
    drop_live_tail(engine)  # a run stopped before its end left its copies
    live = add_live_tail(engine)
    print(f"rows after the watermark, read raw by every page: {live:,} ({LIVE_MINUTES} minutes of traffic)")
    try:
        render_pages(args, env, floor_s)
    finally:
        drop_live_tail(engine)
    engine.dispose()
    return 0


def render_pages(args, env: dict, floor_s: float) -> None:
    print(f"{'page / what':40} {'seconds':>9} {'x floor':>8}")
    print(f"{'floor (one single-pass scan)':40} {floor_s:9.3f} {1.0:8.1f}")
    for page in args.pages:
        # The same page read from the raw rows (the baseline) and from the rollups, in one run.
        for path, switch in (("raw", "off"), ("rollups", "on")):
            if path not in args.paths:
                continue
            proc = subprocess.run([sys.executable, "-c", RENDER_SCRIPT, str(ROOT / "dashboard" / "app.py"), page],
                                  capture_output=True, text=True, env=dict(env, EASYFLOW_ROLLUPS=switch), cwd=ROOT)
            if proc.returncode:
                print(f"{page} ({path}): failed: {proc.stderr.strip().splitlines()[-1:]}")
                continue
            render = json.loads(proc.stdout.strip().splitlines()[-1])
            cold_sql, warm_sql = render["cold_sql"], render["warm_sql"]
            first_import = (("  before it: the libraries' import", render["imports"]),) \
                if render["imports"] is not None else ()
            for label, value in ((f"{page} cold render, {path}", render["cold"]), *first_import,
                                 (f"  its SQL alone ({cold_sql['n']} statements)", cold_sql["seconds"]),
                                 (f"{page} warm render, {path}", render["warm"]),
                                 (f"  its SQL alone ({warm_sql['n']} statements)", warm_sql["seconds"])):
                print(f"{label:40} {value:9.3f} {value / floor_s:8.1f}")
            print(f"  peak RSS {render['rss_mb']:.0f} MB; tiles: " + ", ".join(f"{k} {v}" for k, v in render["tiles"].items()))
            if args.panels:  # where the cold render's SQL time went, by data_access function
                for name, seconds in render["slowest"]:
                    print(f"    {name[:60]:60} {seconds:7.3f} s")


if __name__ == "__main__":
    sys.exit(main())
