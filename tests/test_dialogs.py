"""Dialog KPIs by the contract's "Dialogs" section, against the hand-worked dialogs of
tests/dialog_data.py: counted where they start, their facts over all their messages whatever the
filters, a filter keeping the dialogs with a message of its value, repeat contacts over all the
user's dialogs. On the reference (raw rows) and on the kept facts with a tail after the watermark,
on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import date, datetime

import pytest
import sqlalchemy as sa

from data_access import business, dialogs, kpis, plans, rollups
from data_access.filters import Filters
from data_access.schema import discover
from tests import dialog_data
from tests.conftest import insert

KEYS = [k for k, v in kpis.KPIS.items() if v.level == "dialogs"]
FEBRUARY = Filters.for_dates(date(2026, 2, 1), date(2026, 2, 28))


@pytest.fixture(params=["reference", "kept", "kept with a tail"])
def dialogs_engine(request, engine):
    """``engine`` with the hand-worked dialogs, read as the reference, from rollups holding all
    of them, or from rollups whose watermark (11 Feb 00:00) leaves F and D to the tail."""
    insert(engine, "conversation_metrics", dialog_data.rows())
    if request.param != "reference":
        now = datetime(2026, 3, 2) if request.param == "kept" else datetime(2026, 2, 11, 0, 10)
        assert rollups.refresh(engine, now=now).status == "done"
    return engine, request.param


def _compute(engine, path, filters):
    schema = discover(engine)
    if path == "reference":
        with plans.raw_reference():
            return kpis.compute(engine, schema, filters, KEYS)
    plan = plans.plan(engine, schema, filters)
    assert plan.watermark is not None and not plan.building
    return kpis.compute(engine, schema, filters, KEYS)


def _assert_values(found, expected):
    for key, value in expected.items():
        got = found[key].value
        bound = rollups.LATENCY_RELATIVE_ERROR * value if key == "median_resolution_time" else 1e-9
        assert got is not None and math.isclose(float(got), value, abs_tol=bound), f"{key}: {got} != {value}"


def test_february_counts_the_dialogs_that_start_in_it(dialogs_engine):
    engine, path = dialogs_engine
    _assert_values(_compute(engine, path, FEBRUARY), dialog_data.FEBRUARY)


def test_a_row_after_the_watermark_is_the_tails_though_its_hour_is_noted(dialogs_engine):
    """A row written into the hour that closed minutes ago, before the refresh takes it: its hour
    is noted as changed, but it lies after the watermark, so the kept facts still answer, with it."""
    engine, path = dialogs_engine
    insert(engine, "conversation_metrics", dialog_data.rows(dialog_data.F_RESOLVED))
    if path == "kept with a tail":
        plan = plans.plan(engine, discover(engine), FEBRUARY)
        assert plan.dirty == () and dialogs.kept(plan)
    _assert_values(_compute(engine, path, FEBRUARY), dialog_data.FEBRUARY_F_RESOLVED)


def test_a_filter_keeps_whole_dialogs_with_a_message_of_its_value(dialogs_engine):
    engine, path = dialogs_engine
    found = _compute(engine, path, Filters.for_dates(date(2026, 2, 1), date(2026, 2, 28), intents=("complaint",)))
    _assert_values(found, dialog_data.FEBRUARY_COMPLAINTS)


def test_a_dialog_belongs_to_the_local_period_it_starts_in(dialogs_engine):
    engine, path = dialogs_engine
    berlin = Filters.for_dates(date(2026, 2, 1), date(2026, 2, 28), tz="Europe/Berlin")
    _assert_values(_compute(engine, path, berlin), dialog_data.FEBRUARY_BERLIN)
    january = _compute(engine, path, Filters.for_dates(date(2026, 1, 1), date(2026, 1, 31)))
    _assert_values(january, {"dialogs": 1, "conversion_rate": 100.0, "median_resolution_time": 1200.0})


def test_the_breakdown_counts_each_value_a_dialog_touches(dialogs_engine):
    engine, path = dialogs_engine
    schema = discover(engine)
    if path == "reference":
        with plans.raw_reference():
            frame = business.breakdown(engine, schema, FEBRUARY, "intent")
    else:
        frame = business.breakdown(engine, schema, FEBRUARY, "intent")
    dialogs = dict(zip(frame["intent"], frame["dialogs"]))
    # complaint: B, E; billing: E, F; order_status: C; refund: D.
    assert dialogs == {"complaint": 2, "billing": 2, "order_status": 1, "refund": 1}
    resolved = dict(zip(frame["intent"], frame["resolved"]))
    assert resolved == {"complaint": 2, "billing": 1, "order_status": 1, "refund": 0}


@pytest.mark.parametrize("now, expected", [
    # Long after: B and C solved at first contact, E not (F 2 days later).
    (datetime(2026, 12, 1), (100 * 2 / 3, 3, 0)),
    # On 11 Feb: C (5 Feb) is younger than a week and u2 has not come back: pending. E is as
    # young, but u3 came back (F, after the watermark in the tail case): decided, not solved.
    (datetime(2026, 2, 11, 0, 30), (50.0, 2, 1)),
])
def test_first_contact_resolution_waits_a_week(dialogs_engine, monkeypatch, now, expected):
    engine, path = dialogs_engine
    monkeypatch.setattr(dialogs, "now", lambda: now)
    found = _compute(engine, path, FEBRUARY)["first_contact_resolution"]
    assert (found.value, found.n, found.pending) == pytest.approx(expected)


NEWEST = [  # (filters beside February, rated at most, limit) → the newest dialogs, and how many in all
    ({}, None, 2, ["D", "F"], 5),
    ({"intents": ("complaint",)}, None, 1, ["u3:2026-02-10"], 2),
    ({"intents": ("complaint",)}, 2, 5, ["B"], 1),
    ({"intents": ("complaint", "billing")}, None, 2, ["F", "u3:2026-02-10"], 3),  # E touches both: once
    ({"platforms": ("web",), "intents": ("billing",)}, None, 5, ["F", "u3:2026-02-10"], 2),
    ({}, 4, 5, ["C", "B"], 2),
]


@pytest.mark.parametrize("narrowed, rated, limit, expected, total", NEWEST)
def test_the_newest_dialogs_and_how_many_there_are(dialogs_engine, narrowed, rated, limit, expected, total):
    """Ranked by start, latest first; each with the platforms it touches (B: web, C: whatsapp)."""
    engine, path = dialogs_engine
    filters = Filters.for_dates(date(2026, 2, 1), date(2026, 2, 28), **narrowed)
    schema = discover(engine)
    if path == "reference":
        with plans.raw_reference():
            plan = plans.plan(engine, schema, filters)
    else:
        plan = plans.plan(engine, schema, filters)
    assert dialogs.kept(plan) == (path != "reference")
    columns = {"dialog": "f.dialog", "started": "f.started"}
    source = dialogs.newest(plan, schema, engine.dialect.name, columns, limit, lists=True, rated_at_most=rated)
    with engine.connect() as conn:
        found = conn.execute(sa.text(f"SELECT dialog, platforms, total FROM ({source.text}) d "
                                     f"ORDER BY started DESC, dialog"), source.params).all()
    assert [row[0] for row in found] == expected
    assert {row[2] for row in found} == {total}
    platforms = {"B": "web", "C": "whatsapp", "D": "telegram", "F": "web", "u3:2026-02-10": "web"}
    assert [row[1] for row in found] == [platforms[d] for d in expected]
