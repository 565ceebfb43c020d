"""Keeping the rollups fresh from the dashboard itself (data_access.rollups does the work).

Every page run asks ``keep_fresh``; at most once a minute per database and process it reads the
rollups' state and, when an hour has closed since the last refresh (or late rows wait, or there
are none yet), starts one refresh on a background thread. The refresh lock (a PostgreSQL
advisory lock, a file lock beside a SQLite file) keeps two processes from refreshing at once;
cron running ``python -m data_access.rollups refresh`` works beside it. Pages never wait for it:
they read the raw rows for what the rollups do not hold yet, with the same numbers.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa

from data_access import errors, logs, rollups
from data_access.schema import discover

CHECK_EVERY_SECONDS = 60
# A refresh running longer than this is slowing the pages (they read raw rows for what it has not
# kept yet, and share the database with it): they say so. An hour's refresh takes far less.
SLOW_AFTER_SECONDS = 5.0
# After a refusal (a read-only role, say) the dashboard reads raw rows and asks again this much later.
BACK_OFF_SECONDS = 600


@dataclass
class _Upkeep:
    checked: float = -1e9
    thread: threading.Thread | None = None
    first_build: bool = False
    refused_until: float = 0.0
    started: float = 0.0


_upkeep: dict[str, _Upkeep] = {}
_lock = threading.Lock()


def enabled() -> bool:
    """Off with ``EASYFLOW_ROLLUPS=off`` (the dashboard then reads only raw rows)."""
    return os.environ.get("EASYFLOW_ROLLUPS", "on").lower() != "off"


def _stale(engine: sa.Engine) -> tuple[bool, bool]:
    """(whether a refresh has work, whether the rollups are missing, out of date for this schema or
    this version, or still in a first build)."""
    schema = discover(engine)
    if not schema.has_table(rollups.STATE):
        return True, True
    try:
        state = rollups.read_state(engine)
    except sa.exc.SQLAlchemyError:  # tables of an older version
        return True, True
    if state is None or not state.usable(schema):
        return True, True
    target = rollups.floor_hour(datetime.now(timezone.utc).replace(tzinfo=None) - rollups.GRACE)
    stale = (state.watermark < target or bool(state.dirty_hours) or state.status != "ready"
             or rollups.behind(engine, schema, state.watermark))
    return stale, state.status == "building"


def _state(upkeep: _Upkeep, now: float) -> str | None:
    """What the pages say of a running refresh: "building" (a first build), "slow" (running for
    more than ``SLOW_AFTER_SECONDS``), else None."""
    if upkeep.thread is None or not upkeep.thread.is_alive():
        return None
    if upkeep.first_build:
        return "building"
    return "slow" if now - upkeep.started > SLOW_AFTER_SECONDS else None


def keep_fresh(url: str, engine: sa.Engine, on_done=None) -> str | None:
    """Start a background refresh of ``engine``'s rollups when they are stale; returns what the
    pages should say of a refresh under way (``_state``: "building", "slow" or None).
    ``on_done(report)`` runs after a refresh that did work, with its ``rollups.Refreshed``."""
    if not enabled():
        return None
    now = time.monotonic()
    with _lock:
        upkeep = _upkeep.setdefault(url, _Upkeep())
        running = upkeep.thread is not None and upkeep.thread.is_alive()
        if running or now - upkeep.checked < CHECK_EVERY_SECONDS or now < upkeep.refused_until:
            return _state(upkeep, now)
        upkeep.checked = now
    try:
        stale, first_build = _stale(engine)
    except sa.exc.SQLAlchemyError:
        return None
    if not stale:
        return None

    def run() -> None:
        log = logs.get("easyflow.rollups")
        try:
            report = rollups.refresh(engine)
        except (rollups.RollupError, *errors.DATABASE_ERRORS) as error:
            upkeep.refused_until = time.monotonic() + BACK_OFF_SECONDS
            log.warning("rollup_refresh_failed", problem=type(errors.classify(error)).__name__
                        if not isinstance(error, rollups.RollupError) else "RollupError")
            return
        log.info("rollups_refreshed", status=report.status, new_hours=report.new_hours,
                 late_hours=report.late_hours, seconds=round(report.seconds, 2))
        if on_done is not None and report.status == "done":
            on_done(report)

    with _lock:
        if upkeep.thread is not None and upkeep.thread.is_alive():
            return _state(upkeep, now)
        upkeep.first_build = first_build
        upkeep.started = now
        upkeep.thread = threading.Thread(target=run, name="rollup-refresh", daemon=True)
        upkeep.thread.start()
    return "building" if first_build else None
