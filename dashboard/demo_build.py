"""The embedded demo database: built on first start (and when a day old) into a temporary file,
with a progress bar, then moved into place, so that a half-built file is never read."""

from __future__ import annotations

import os
import threading
import time
from datetime import date, datetime, timezone

import streamlit as st

from data_access.demo import DemoSpec, load
from data_access.engine import DatabaseConfig, demo_path, make_engine
from dashboard import format as fmt
from dashboard.i18n import t

_demo_lock = threading.Lock()


def _utc_today() -> date:
    return datetime.now(timezone.utc).date()


def demo_is_current(path) -> bool:
    """The demo file exists and was built today (SQLite ``user_version`` holds the build day)."""
    if not path.is_file():
        return False
    import sqlite3

    try:
        with sqlite3.connect(path) as conn:
            built = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error:
        return False
    return built == _utc_today().toordinal()


def ensure_demo_database(config: DatabaseConfig) -> None:
    """Build the embedded demo database on first start (or when a day old), showing progress.

    Built into a temporary file and moved into place, so a half-built file is never used.
    """
    path = demo_path()
    if demo_is_current(path):
        return
    with _demo_lock:
        if demo_is_current(path):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        building = path.with_name(path.name + ".building")
        building.unlink(missing_ok=True)
        bar = st.progress(0.0, text=t("demo.building"))
        started = time.monotonic()
        engine = make_engine(f"sqlite:///{building}")
        try:
            # The loader's notes are English (for a terminal): the bar says its own words and how far.
            counts = load(engine, demo_spec(), lambda f, _note: bar.progress(
                f, text=f"{t('demo.building')} {fmt.percent(100 * f, 0)}"), complete=True)
            with engine.begin() as conn:
                conn.exec_driver_sql(f"PRAGMA user_version = {_utc_today().toordinal()}")
        finally:
            engine.dispose()
        for suffix in ("-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        building.replace(path)
        from dashboard import data

        data.engine_for.clear()
        data.clear_results()
        bar.empty()
        st.toast(t("demo.built", rows=fmt.number(sum(counts.values())), seconds=fmt.number(time.monotonic() - started, 1)))


def demo_spec() -> DemoSpec:
    """The embedded demo's size: 90 days at scale 1 unless EASYFLOW_DEMO_DAYS / _SCALE say otherwise."""
    try:
        days = int(os.environ.get("EASYFLOW_DEMO_DAYS", "90"))
        scale = float(os.environ.get("EASYFLOW_DEMO_SCALE", "1.0"))
    except ValueError:
        days, scale = 90, 1.0
    return DemoSpec(days=min(max(days, 1), 3660), scale=min(max(scale, 0.001), 100.0))
