"""The service metrics of the tables as OpenMetrics text, for ``promtool tsdb create-blocks-from
openmetrics``: the demo (``python -m data_access.demo --openmetrics FILE``) and the tests that
check the Prometheus source against the tables.

What each row becomes (``data_access.prometheus`` reads these names; docs/contract.md):

- system_metrics (service, requests, errors, cpu/memory/disk %, active_sessions) at ``M``:
  ``messages_total{job}`` (the requests, summed), ``node_cpu_seconds_total{job,cpu="0",mode="idle"}``
  (idle seconds: ``(1 - cpu/100) × scrape`` a row), ``node_memory_MemAvailable_bytes`` /
  ``node_memory_MemTotal_bytes``, ``node_filesystem_avail_bytes`` / ``node_filesystem_size_bytes``
  (``mountpoint="/"``) and ``active_sessions{job}``.
- error_events (service, error_type): ``errors_total{job,error_type}``, an event counted at the
  scrape that starts its minute.
- service_health (service, status): ``up{job}``, 1 for up or degraded, 0 for down.

A counter's sample at ``M`` holds the rows up to and including ``M`` (and the events before
``M + scrape``); each series starts with a 0 one scrape before its first row, so the first
row's count is an increase too.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from typing import IO

import pandas as pd
import sqlalchemy as sa

from data_access import sql
from data_access.filters import bind_timestamp
from data_access.schema import Schema

MEMORY_BYTES = 8 * 2**30
DISK_BYTES = 100 * 2**30
ROWS_PER_READ = 50_000


def _label(value) -> str:
    """A label value as OpenMetrics quotes it."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value)) if math.isfinite(value) else "NaN"


def _rows(engine: sa.Engine, query: str, params: dict) -> Iterator[pd.DataFrame]:
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True).execute(sa.text(query), params)
        while True:
            rows = result.fetchmany(ROWS_PER_READ)
            if not rows:
                return
            yield pd.DataFrame([tuple(r) for r in rows], columns=list(result.keys()))


def _since(start: datetime | None, dialect: str) -> tuple[str, dict]:
    """``WHERE`` text and params for the rows from ``start`` (none: all rows)."""
    if start is None:
        return "", {}
    return f"WHERE {sql.TS} >= :since", {"since": bind_timestamp(start, dialect)}


def _last_minute(engine: sa.Engine, schema: Schema, dialect: str) -> pd.Timestamp | None:
    """The latest minute any service metric has (the counters run flat until then)."""
    latest = []
    for table in ("system_metrics", "error_events"):
        if schema.has_table(table):
            value = sql.read_row(engine, f"SELECT MAX({sql.bucket(sql.TS, 'minute', dialect)}) AS m FROM {table}", {})["m"]
            if value is not None:
                latest.append(pd.Timestamp(value, tz="UTC") if pd.Timestamp(value).tzinfo is None
                              else pd.Timestamp(value).tz_convert("UTC"))
    return max(latest) if latest else None


def write(engine: sa.Engine, schema: Schema, out: IO[str], *, start: datetime | None = None,
          scrape: int = 60) -> int:
    """Write the tables' service metrics from ``start`` (UTC; all rows without) to ``out`` as
    OpenMetrics, ending with ``# EOF``. Returns the number of samples written."""
    dialect = engine.dialect.name
    written = 0
    step = pd.Timedelta(seconds=scrape)

    def family(name: str, kind: str, help_text: str) -> None:
        out.write(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n")

    def sample(name: str, labels: str, value: float, at: pd.Timestamp) -> None:
        nonlocal written
        out.write(f"{name}{{{labels}}} {_number(value)} {at.timestamp():.3f}\n")
        written += 1

    if schema.has_table("system_metrics"):
        where, params = _since(start, dialect)
        columns = {c: sql.column("system_metrics", c) if schema.has("system_metrics", c) else "NULL"
                   for c in ("requests", "cpu_percent", "memory_percent", "disk_percent", "active_sessions")}
        query = (f'SELECT "service", {sql.TS} AS ts, ' + ", ".join(f"{e} AS {c}" for c, e in columns.items())
                 + f' FROM system_metrics {where} ORDER BY "service", {sql.TS}')
        # One family at a time (OpenMetrics wants a family's samples together): a pass each.
        for name, kind, help_text in (
                ("messages", "counter", "Requests handled (system_metrics.requests, summed)."),
                ("node_cpu_seconds", "counter", "Idle CPU seconds (from system_metrics.cpu_percent)."),
                ("node_memory_MemAvailable_bytes", "gauge", "Available memory (from memory_percent)."),
                ("node_memory_MemTotal_bytes", "gauge", "Total memory."),
                ("node_filesystem_avail_bytes", "gauge", "Free disk (from disk_percent)."),
                ("node_filesystem_size_bytes", "gauge", "Disk size."),
                ("active_sessions", "gauge", "Active sessions (system_metrics.active_sessions).")):
            family(name, kind, help_text)
            total, previous_service = 0.0, None
            for chunk in _rows(engine, query, params):
                chunk["ts"] = pd.to_datetime(chunk["ts"], utc=True)
                for row in chunk.itertuples(index=False):
                    job = f'job="{_label(row.service)}"'
                    first = row.service != previous_service
                    if first:
                        total, previous_service = 0.0, row.service
                    if name == "messages":
                        if first:
                            sample("messages_total", job, 0.0, row.ts - step)
                        total += max(float(row.requests or 0), 0.0)
                        sample("messages_total", job, total, row.ts)
                    elif name == "node_cpu_seconds":
                        labels = f'{job},cpu="0",mode="idle"'
                        if first:
                            sample("node_cpu_seconds_total", labels, 0.0, row.ts - step)
                        if row.cpu_percent is not None and 0 <= row.cpu_percent <= 100:
                            total += (1 - float(row.cpu_percent) / 100) * scrape
                            sample("node_cpu_seconds_total", labels, total, row.ts)
                    elif name == "node_memory_MemAvailable_bytes" and row.memory_percent is not None \
                            and 0 <= row.memory_percent <= 100:
                        sample(name, job, (1 - float(row.memory_percent) / 100) * MEMORY_BYTES, row.ts)
                    elif name == "node_memory_MemTotal_bytes" and row.memory_percent is not None:
                        sample(name, job, MEMORY_BYTES, row.ts)
                    elif name == "node_filesystem_avail_bytes" and row.disk_percent is not None \
                            and 0 <= row.disk_percent <= 100:
                        sample(name, f'{job},mountpoint="/"', (1 - float(row.disk_percent) / 100) * DISK_BYTES, row.ts)
                    elif name == "node_filesystem_size_bytes" and row.disk_percent is not None:
                        sample(name, f'{job},mountpoint="/"', DISK_BYTES, row.ts)
                    elif name == "active_sessions" and row.active_sessions is not None and row.active_sessions >= 0:
                        sample(name, job, float(row.active_sessions), row.ts)

    if schema.has_table("error_events"):
        where, params = _since(start, dialect)
        family("errors", "counter", "Error events (error_events), counted at the scrape that starts their minute.")
        minute = sql.bucket(sql.TS, "minute", dialect)
        query = (f'SELECT COALESCE("service", \'unknown\') AS service, COALESCE("error_type", \'unknown\') AS error_type, '
                 f"{minute} AS ts, COUNT(*) AS n FROM error_events {where} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
        last = _last_minute(engine, schema, dialect)
        key, total, at, labels = None, 0.0, None, ""

        def flat_until(end: pd.Timestamp) -> None:  # a counter is scraped every minute, changed or not
            nonlocal at
            while at is not None and at + step < end:
                at += step
                sample("errors_total", labels, total, at)

        for chunk in _rows(engine, query, params):
            chunk["ts"] = pd.to_datetime(chunk["ts"], utc=True)
            for row in chunk.itertuples(index=False):
                if (row.service, row.error_type) != key:
                    if last is not None:
                        flat_until(last + step)
                    key, total = (row.service, row.error_type), 0.0
                    labels = f'job="{_label(row.service)}",error_type="{_label(row.error_type)}"'
                    at = row.ts - step
                    sample("errors_total", labels, 0.0, at)
                flat_until(row.ts)
                total += float(row.n)
                at = row.ts
                sample("errors_total", labels, total, at)
        if key is not None and last is not None:
            flat_until(last + step)

    if schema.has_table("service_health"):
        where, params = _since(start, dialect)
        family("up", "gauge", "1 when the health check said up or degraded, 0 when down.")
        query = f'SELECT "service", {sql.TS} AS ts, "status" FROM service_health {where} ORDER BY "service", {sql.TS}'
        for chunk in _rows(engine, query, params):
            chunk["ts"] = pd.to_datetime(chunk["ts"], utc=True)
            for row in chunk.itertuples(index=False):
                if row.status in ("up", "degraded", "down"):
                    sample("up", f'job="{_label(row.service)}"', 1.0 if row.status != "down" else 0.0, row.ts)
    out.write("# EOF\n")
    return written
