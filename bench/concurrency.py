"""Twenty (or forty) people at once: sessions opening the Overview and the Business page repeatedly.

    python3 bench/concurrency.py [--sessions 20] [--seconds 60] [--clients websocket|browser]
    python3 bench/concurrency.py --matrix [--sessions 40] [--seconds 60]

``--matrix`` runs the same load through nginx (deploy/nginx.conf, rendered by deploy/replicas.py)
in front of 1 and 2 replicas, each without and with the Redis result cache
(``EASYFLOW_REDIS_URL``, database 12 of the local Redis, emptied before each), and prints visits/s
and p50 / p95 per visit for the four, measured in one run.

Starts ``streamlit run dashboard/server.py`` on a free loopback port against a PostgreSQL database
of demo data (filled on first use: 21 days at scale 0.3), then runs ``--sessions`` clients in
parallel. Each opens the Overview, then the Business page, again and again until ``--seconds``
have passed, and times each visit. Prints the visits, the errors (an exception on the page, a
timeout, a dropped connection), p50 / p95 / max time per visit, and the server's peak RSS.
Traffic goes to 127.0.0.1 only and stops by itself.

- ``websocket`` (default): Streamlit's own protocol (a new session per visit, the page's script
  run to its end), so the figures are the server's: on a 2-core machine, twenty Chromiums would
  measure mostly themselves.
- ``browser``: headless Chromium contexts (Debian's /usr/bin/chromium through Playwright), timed
  to a fully rendered page (script finished, tiles and charts drawn).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from data_access.demo import DemoSpec, load  # noqa: E402
from data_access.engine import make_engine  # noqa: E402
from data_access.schema import discover  # noqa: E402

RENDERED = ("() => { const app = document.querySelector('[data-testid=stApp]');"
            " return app && app.dataset.testScriptState === 'notRunning'"
            " && document.querySelectorAll('[data-testid=stMetricValue]').length > 0"
            " && document.querySelectorAll('[data-testid=stPlotlyChart] .js-plotly-plot').length > 0; }")
PAGES = ("", "business")


def ensure_database(url: str) -> None:
    target = sa.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (target.database,)).scalar():
            conn.exec_driver_sql(f'CREATE DATABASE "{target.database}"')
    admin.dispose()
    engine = make_engine(url)
    if not discover(engine).has_table("conversation_metrics"):
        print("filling the database with demo data …", file=sys.stderr)
        load(engine, DemoSpec(days=21, scale=0.3))
    engine.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bench_env(url: str, redis_url: str | None = None) -> dict:
    """The replicas' environment: the database, no sign-in (a bench on loopback), the cache."""
    env = dict(os.environ, DATABASE_URL=url, EASYFLOW_AUTH="none", EASYFLOW_ANONYMOUS_ROLE="admin", EASYFLOW_LOG_LEVEL="WARNING")
    env.pop("EASYFLOW_REDIS_URL", None)
    if redis_url:
        env["EASYFLOW_REDIS_URL"] = redis_url
        env.setdefault("EASYFLOW_CACHE_SECRET", "bench-concurrency")  # signs the shared entries
    return env


def wait_healthy(base: str, process: subprocess.Popen) -> None:
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2):
                return
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.3)
    process.kill()
    raise SystemExit(f"{base} did not start")


def start_server(url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard/server.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=ROOT, env=bench_env(url), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2):
                return process, base
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("streamlit did not start")


async def visitor(browser, base: str, deadline: float, times: list[float], errors: list[str]) -> None:
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    try:
        while time.monotonic() < deadline:
            for path in PAGES:
                started = time.monotonic()
                try:
                    await page.goto(f"{base}/{path}")
                    await page.wait_for_function(RENDERED, timeout=120_000)
                    body = await page.inner_text("body")
                    if await page.locator("[data-testid=stException]").count() or "Traceback" in body:
                        errors.append(f"/{path}: error on the page")
                    else:
                        times.append(time.monotonic() - started)
                except Exception as error:  # a timeout or a dropped connection counts as an error
                    errors.append(f"/{path}: {type(error).__name__}")
    finally:
        await context.close()


async def socket_visitor(base: str, deadline: float, times: list[float], errors: list[str]) -> None:
    """Visits through Streamlit's websocket: a new session each, timed to ``script_finished``."""
    import websockets
    from streamlit.proto import BackMsg_pb2, ForwardMsg_pb2

    stream = base.replace("http://", "ws://") + "/_stcore/stream"
    while time.monotonic() < deadline:
        for path in PAGES:
            started = time.monotonic()
            try:
                async with websockets.connect(stream, subprotocols=["streamlit"], max_size=None) as socket_:
                    message = BackMsg_pb2.BackMsg()
                    message.rerun_script.query_string = ""
                    message.rerun_script.page_name = path
                    await socket_.send(message.SerializeToString())
                    failed = False
                    while True:
                        reply = ForwardMsg_pb2.ForwardMsg()
                        reply.ParseFromString(await asyncio.wait_for(socket_.recv(), 120))
                        kind = reply.WhichOneof("type")
                        if (kind == "delta" and reply.delta.WhichOneof("type") == "new_element"
                                and reply.delta.new_element.WhichOneof("type") == "exception"):
                            failed = True
                        if kind == "script_finished":
                            break
                if failed:
                    errors.append(f"/{path}: exception on the page")
                else:
                    times.append(time.monotonic() - started)
            except Exception as error:
                errors.append(f"/{path}: {type(error).__name__}")


async def run_sockets(sessions: int, seconds: float, base: str) -> tuple[list[float], list[str]]:
    times: list[float] = []
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(socket_visitor(base, deadline, times, errors) for _ in range(sessions)))
    return times, errors


async def run(sessions: int, seconds: float, base: str) -> tuple[list[float], list[str]]:
    from playwright.async_api import async_playwright

    times: list[float] = []
    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=os.environ.get("EASYFLOW_CHROMIUM", "/usr/bin/chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"])
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(visitor(browser, base, deadline, times, errors) for _ in range(sessions)))
        await browser.close()
    return times, errors


def quantiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    if not ordered:
        return float("nan"), float("nan")
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def matrix(url: str, sessions: int, seconds: float) -> int:
    """The load through nginx: 1 and 2 replicas, without and with Redis."""
    import tempfile

    sys.path.insert(0, str(ROOT / "deploy"))
    import redis

    import replicas

    redis_url = "redis://127.0.0.1:6379/12"
    rows = []
    for count in (1, 2):
        for shared in (False, True):
            if shared:
                redis.Redis.from_url(redis_url).flushdb()
            ports = [free_port() for _ in range(count)]
            env = bench_env(url, redis_url if shared else None)
            processes = [replicas.start_replica(port, None, None, env) for port in ports]
            for port, process in zip(ports, processes):
                wait_healthy(f"http://127.0.0.1:{port}", process)
            folder = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
            listen = free_port()
            nginx = replicas.start_nginx(ports, listen, folder)
            base = f"http://127.0.0.1:{listen}"
            try:
                time.sleep(1)
                times, errors = asyncio.run(run_sockets(sessions, seconds, base))
            finally:
                for process in [*processes, nginx]:
                    process.terminate()
                    process.wait(timeout=20)
            p50, p95 = quantiles(times)
            rows.append((count, "yes" if shared else "no", len(times) / seconds, p50, p95, len(errors)))
    print(f"{sessions} websocket sessions for {seconds:.0f} s each, through nginx")
    print(f"{'replicas':>8} {'Redis':>6} {'visits/s':>9} {'p50 s':>7} {'p95 s':>7} {'errors':>7}")
    for count, shared, rate, p50, p95, failed in rows:
        print(f"{count:>8} {shared:>6} {rate:>9.2f} {p50:>7.2f} {p95:>7.2f} {failed:>7}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--matrix", action="store_true", help="1 and 2 replicas behind nginx, without and with Redis")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/efa_concurrency")
    parser.add_argument("--clients", choices=["websocket", "browser"], default="websocket")
    args = parser.parse_args()
    ensure_database(args.url)
    if args.matrix:
        return matrix(args.url, args.sessions, args.seconds)
    process, base = start_server(args.url)
    try:
        runner = run_sockets if args.clients == "websocket" else run
        times, errors = asyncio.run(runner(args.sessions, args.seconds, base))
        peak = next(int(line.split()[1]) for line in open(f"/proc/{process.pid}/status")
                    if line.startswith("VmHWM")) / 1024
    finally:
        process.terminate()
        process.wait(timeout=20)
    ordered = sorted(times)
    quantile = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")  # noqa: E731
    print(f"{args.clients} sessions: {args.sessions}, for {args.seconds:.0f} s against {base}")
    print(f"rendered visits: {len(times)}, errors: {len(errors)}")
    print(f"time per visit: p50 {statistics.median(ordered) if ordered else float('nan'):.2f} s, "
          f"p95 {quantile(0.95):.2f} s, max {max(ordered, default=float('nan')):.2f} s")
    print(f"server peak RSS: {peak:.0f} MB")
    for error in sorted(set(errors))[:10]:
        print(f"  error: {error} (×{errors.count(error)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
