"""The dashboard's own logs: structlog, configured once, JSON lines to stderr (readable colours
in a terminal). Level from ``EASYFLOW_LOG_LEVEL`` (DEBUG, INFO, WARNING, ERROR, CRITICAL; default
INFO); a query slower than ``EASYFLOW_SLOW_QUERY_MS`` (default 1000) is logged at WARNING.

Never logged: a database URL, a password, bound parameter values.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SERVICE = "easyflow-dashboard"
_lock = threading.Lock()
_configured = False
# The queries of the current page run, when something records them (the debug=1 panel).
_recorded: contextvars.ContextVar[list | None] = contextvars.ContextVar("recorded_queries", default=None)
# What the queries are for, beyond the function that runs them (an alert rule's name, say).
_subject: contextvars.ContextVar[str | None] = contextvars.ContextVar("query_subject", default=None)


def level_from_env() -> int:
    name = os.environ.get("EASYFLOW_LOG_LEVEL", "INFO").strip().upper()
    return getattr(logging, name) if name in LEVELS else logging.INFO


def slow_query_ms() -> float:
    try:
        return float(os.environ.get("EASYFLOW_SLOW_QUERY_MS", "1000"))
    except ValueError:
        return 1000.0


def _add_service(_, __, event: dict) -> dict:
    event.setdefault("service", SERVICE)
    return event


def _upper_level(_, __, event: dict) -> dict:
    event["level"] = event["level"].upper()  # the seed's format: "INFO", "ERROR", …
    return event


def configure(stream=None, level: int | None = None, force: bool = False) -> None:
    """Set structlog up once per process (again with ``force``): JSON lines to ``stream`` (default
    stderr), a console format when it is a terminal."""
    global _configured
    with _lock:
        if _configured and not force:
            return
        stream = stream or sys.stderr
        renderer = (structlog.dev.ConsoleRenderer() if getattr(stream, "isatty", lambda: False)()
                    else structlog.processors.JSONRenderer(ensure_ascii=False))
        structlog.configure(
            processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level, _upper_level,
                        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"), _add_service,
                        structlog.processors.format_exc_info, renderer],
            wrapper_class=structlog.make_filtering_bound_logger(level if level is not None else level_from_env()),
            logger_factory=structlog.PrintLoggerFactory(file=stream),
            cache_logger_on_first_use=False)
        _configured = True


def get(name: str = "easyflow"):
    configure()
    return structlog.get_logger(name)


@contextmanager
def timed_query(name: str, dialect: str) -> Iterator[dict]:
    """Log one query: its name, duration and row count (set ``info["rows"]`` inside) at DEBUG,
    at WARNING when slower than ``EASYFLOW_SLOW_QUERY_MS``."""
    info: dict = {"rows": None}
    started = time.perf_counter()
    try:
        yield info
    finally:
        ms = round((time.perf_counter() - started) * 1000, 1)
        log = get("easyflow.sql")
        subject = _subject.get()
        fields = {"query": f"{name} · {subject}" if subject else name, "dialect": dialect, "duration_ms": ms,
                  "rows": info["rows"], "path": _path.get()}
        records = _recorded.get()
        if records is not None:
            records.append(fields)
        if ms > slow_query_ms():
            log.warning("slow_query", threshold_ms=slow_query_ms(), **fields)
        else:
            log.debug("query", **fields)


@contextmanager
def recording() -> Iterator[list[dict]]:
    """Collect the queries run inside the block (also on worker threads started with
    ``in_this_context``): one dict each with query, dialect, duration_ms, rows."""
    records: list[dict] = []
    token = _recorded.set(records)
    try:
        yield records
    finally:
        _recorded.reset(token)


def start_recording() -> list[dict]:
    """Like ``recording``, from here to the end of this thread's (or script run's) context."""
    records: list[dict] = []
    _recorded.set(records)
    return records


def in_this_context(function):
    """``function`` to run on another thread with this thread's context (so that its queries
    are recorded with the page's)."""
    context = contextvars.copy_context()
    return lambda *args, **kwargs: context.copy().run(function, *args, **kwargs)


_path: contextvars.ContextVar[str | None] = contextvars.ContextVar("query_path", default=None)
_name: contextvars.ContextVar[str | None] = contextvars.ContextVar("query_name", default=None)


@contextmanager
def holding(variable: contextvars.ContextVar, value) -> Iterator[None]:
    """Within the block, ``variable`` holds ``value`` (in this context and the threads it starts
    with ``in_this_context``)."""
    token = variable.set(value)
    try:
        yield
    finally:
        variable.reset(token)


def read_path(path: str):
    """Name where the queries inside the block read (rollups or raw rows, see data_access.rollups)."""
    return holding(_path, path)


def about(subject: str):
    """Name what the queries inside the block are for (shown after the function's name)."""
    return holding(_subject, subject)


def named(name: str):
    """Log the queries inside the block under ``name`` (a query served by a variant of it)."""
    return holding(_name, name)


def query_name() -> str | None:
    """The name set by ``named`` around this query, if any."""
    return _name.get()
