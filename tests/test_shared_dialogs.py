"""Dialog queries inside ``kpis.shared_dialogs`` (the dialogs grouped once, into a temporary
table) return exactly what each returns alone, on both databases, with and without the optional
columns, filtered or not; and where the database refuses a temporary table they still do."""

from __future__ import annotations

import time
from datetime import timedelta

import pandas as pd
import pytest

from data_access import ai, business, kpis, logs, rollups, series
from data_access.engine import make_engine
from data_access.filters import Filters
from data_access.schema import discover
from tests.conftest import TODAY

DIALOG_QUERIES = [
    ("dialogs_by_platform", lambda e, s, f: series.dialogs_by_platform(e, s, f)),
    ("dialog_outcomes_trend", lambda e, s, f: business.dialog_outcomes_trend(e, s, f, "day")),
    ("conversion_by_platform", lambda e, s, f: business.conversion_by_platform(e, s, f)
     if s.has("conversation_metrics", "converted") else None),  # the page asks only then
    ("resolution_histogram", lambda e, s, f: business.resolution_histogram(e, s, f)),
    ("top_repeat_users", lambda e, s, f: business.top_repeat_users(e, s, f)),
    ("cost_outcomes by model", lambda e, s, f: ai.cost_outcomes(e, s, f, "ai_model")),
    ("cost_outcomes by platform", lambda e, s, f: ai.cost_outcomes(e, s, f, "platform")),
    ("kpis", lambda e, s, f: kpis.compute(e, s, f, list(kpis.KPIS))),
]
LAST_30_DAYS = Filters.for_dates(TODAY - timedelta(days=29), TODAY)
WEB_REFUNDS = Filters.for_dates(TODAY - timedelta(days=29), TODAY, platforms=("web",), intents=("refund",))


def run_all(engine, schema, filters) -> dict:
    return {name: run(engine, schema, filters) for name, run in DIALOG_QUERIES}


def assert_same(alone: dict, together: dict) -> None:
    for name, expected in alone.items():
        if isinstance(expected, pd.DataFrame):
            pd.testing.assert_frame_equal(together[name], expected, check_dtype=False, obj=name)
        else:
            assert together[name] == expected, name


@pytest.mark.parametrize("filters", [LAST_30_DAYS, WEB_REFUNDS], ids=["all", "web refunds"])
def test_the_same_results_from_one_grouping(demo_url, filters):
    engine = make_engine(demo_url)
    # The shared demo's rollups up to date first: rows an earlier test wrote into its closed hours
    # read raw (grouped per dialog) until a refresh, which a page's background thread may not have made.
    while rollups.refresh(engine).status == "busy":
        time.sleep(0.2)
    schema = discover(engine)
    alone = run_all(engine, schema, filters)
    assert alone["kpis"]["dialogs"].value > 0
    with logs.recording() as queries, kpis.shared_dialogs(engine, schema, filters):
        together = run_all(engine, schema, filters)
        other_period = kpis.compute(engine, schema, filters.previous(), ["dialogs", "escalation_rate"])
    assert_same(alone, together)
    # Unfiltered, the demo's rollups answer every dialog query without one row per dialog (sums per
    # start hour; the users with most repeats by rounds); a platform or intent filter groups them once.
    assert [q["query"] for q in queries].count("shared_dialogs") == (0 if filters is LAST_30_DAYS else 1)
    assert other_period == kpis.compute(engine, schema, filters.previous(), ["dialogs", "escalation_rate"])
    engine.dispose()


def test_a_database_without_the_optional_columns(seed_only_url):
    engine = make_engine(seed_only_url)
    schema = discover(engine)
    alone = run_all(engine, schema, LAST_30_DAYS)
    with kpis.shared_dialogs(engine, schema, LAST_30_DAYS):
        together = run_all(engine, schema, LAST_30_DAYS)
    assert_same(alone, together)
    engine.dispose()


def test_a_read_only_postgresql_session_groups_per_query(postgresql_demo_url, monkeypatch):
    """A standby refuses CREATE TEMP TABLE: the queries fall back to grouping the rows."""
    monkeypatch.setenv("PGOPTIONS", "-c default_transaction_read_only=on")
    engine = make_engine(postgresql_demo_url)
    schema = discover(engine)
    alone = run_all(engine, schema, WEB_REFUNDS)  # filtered: the dialogs are grouped (see above)
    with logs.recording() as queries, kpis.shared_dialogs(engine, schema, WEB_REFUNDS):
        together = run_all(engine, schema, WEB_REFUNDS)
    assert_same(alone, together)
    assert "shared_dialogs" in [q["query"] for q in queries]  # tried once, refused, not again
    engine.dispose()
