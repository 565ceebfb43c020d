"""One set of service metrics in two places: SQLite tables and a real Prometheus on loopback,
backfilled (promtool) from the OpenMetrics that data_access.openmetrics writes from those tables.
A day and a bit of minute-by-minute rows of three services, with planted down runs."""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from data_access import openmetrics
from data_access.engine import make_engine
from data_access.filters import Filters
from data_access.schema import create_all, discover
from tests.services import free_port, required, wait_until_ready

PROMETHEUS, PROMTOOL = shutil.which("prometheus"), shutil.which("promtool")
SERVICES = ("ai-service", "api-gateway", "payments-api")
ERROR_TYPES = ("TimeoutError", "RateLimitExceeded", "DatabaseError")
DAY = datetime(2026, 10, 5)
DATA_START, DATA_END = DAY - timedelta(hours=2), DAY + timedelta(hours=26)  # every minute in [start, end)
RANGE = Filters(datetime(2026, 10, 5, 10, 0), datetime(2026, 10, 5, 13, 0))
LATER = datetime(2026, 11, 1)  # "now" for the reads: the range is wholly past
DOWN = {"payments-api": [(datetime(2026, 10, 5, 11, 7), 4), (datetime(2026, 10, 5, 12, 58), 3)],
        "api-gateway": [(datetime(2026, 10, 5, 9, 55), 7)]}


def generated() -> dict[str, list[dict]]:
    """Minute-by-minute rows of three services: traffic, errors (events, and their count per
    minute in system_metrics), resources, sessions and health checks with the ``DOWN`` runs."""
    rng = random.Random(11)
    rows: dict[str, list[dict]] = {"system_metrics": [], "error_events": [], "service_health": []}
    minute = DATA_START
    while minute < DATA_END:
        for service in SERVICES:
            events = rng.choice([0, 0, 0, 1, 2, 5])
            for _ in range(events):
                rows["error_events"].append({
                    "timestamp": minute + timedelta(seconds=rng.randint(0, 59), microseconds=rng.randint(0, 999_999)),
                    "service": service, "error_type": rng.choice(ERROR_TYPES), "level": "ERROR", "message": "x"})
            rows["system_metrics"].append({
                "timestamp": minute, "service": service, "requests": rng.randint(0, 600), "errors": events,
                "cpu_percent": round(rng.uniform(2, 98), 1), "memory_percent": round(rng.uniform(20, 95), 1),
                "disk_percent": round(rng.uniform(40, 90), 1), "active_sessions": rng.randint(0, 80)})
            down = any(start <= minute < start + timedelta(minutes=n) for start, n in DOWN.get(service, []))
            rows["service_health"].append({"timestamp": minute, "service": service,
                                           "status": "down" if down else "up", "latency_ms": 10.0})
        minute += timedelta(minutes=1)
    return rows


@contextmanager
def backfilled(folder: Path) -> Iterator[tuple[str, str, "subprocess.Popen"]]:
    """(database URL, Prometheus URL, its process): the rows in a SQLite file and the same
    metrics in a Prometheus started on a free loopback port. Stopped at the end."""
    from tests.conftest import insert

    if not (PROMETHEUS and PROMTOOL):
        required("Prometheus is not installed (apt-get install -y prometheus)")
    database_url = f"sqlite:///{folder / 'metrics.sqlite'}"
    engine = make_engine(database_url)
    create_all(engine)
    for table, rows in generated().items():
        insert(engine, table, rows)
    exported = folder / "metrics.om"
    with exported.open("w", encoding="utf-8") as out:
        assert openmetrics.write(engine, discover(engine), out) > 0
    engine.dispose()
    data = folder / "data"
    subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(exported), str(data)],
                   check=True, capture_output=True)
    with start(folder, data) as (url, process):
        yield database_url, url, process


@contextmanager
def start(folder: Path, data: Path, port: int | None = None) -> Iterator[tuple[str, "subprocess.Popen"]]:
    """Prometheus over the TSDB in ``data`` on ``port`` (a free one by default)."""
    config = folder / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\n", encoding="utf-8")
    port = port or free_port()
    log = (folder / "prometheus.log").open("a")
    process = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={data}",
                                f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=100y"],
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{url}/-/ready", process, "Prometheus", log.name, seconds=30)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
