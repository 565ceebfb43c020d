"""Why a KPI changed: the split of a change into segments' mix and rate, worked out by hand on
tests/change_data.py, on SQLite and PostgreSQL, from the raw rows and from the rollups."""

from __future__ import annotations

import random
from datetime import datetime

import pytest

from data_access import catalogue, change, kpis, rollups
from data_access.filters import Filters
from data_access.schema import discover
from tests import change_data
from tests.change_data import WEEK_1, WEEK_2
from tests.conftest import insert

NOW = datetime(2026, 3, 20)


@pytest.fixture
def rated(engine):
    insert(engine, "conversation_metrics", change_data.rows())
    return engine


@pytest.fixture
def with_dialogs(rated):
    insert(rated, "conversation_metrics", change_data.dialog_rows())
    return rated


def _split(engine, key, dimensions, rolled: bool = False):
    if rolled:
        rollups.refresh(engine, now=NOW)
    return change.split(engine, discover(engine), WEEK_2, WEEK_1, key, dimensions)


def _by(found, dimension: str) -> dict:
    return {dict((d, (v, several)) for d, v, several in s.values)[dimension]: s for s in found.segments}


def _close(segment, mix, rate):
    assert segment.mix == pytest.approx(mix, abs=1e-9)
    assert segment.rate == pytest.approx(rate, abs=1e-9)
    assert segment.total == pytest.approx(mix + rate, abs=1e-9)


@pytest.mark.parametrize("rolled", [False, True], ids=["raw", "rollups"])
def test_a_ratio_splits_into_mix_and_rate_by_platform(rated, rolled):
    found = _split(rated, "csat", ("platform",), rolled)
    assert (found.before, found.after) == (pytest.approx(72.0), pytest.approx(47.5))
    assert found.exact and found.kind == "ratio"
    segments = _by(found, "platform")
    mean = (72.0 + 47.5) / 2
    telegram, web, whatsapp = (segments[(p, False)] for p in ("telegram", "web", "whatsapp"))
    # telegram: share 10/25 → 10/40, CSAT 80 → 40: mostly rate.
    _close(telegram, (10 / 40 - 10 / 25) * ((80 + 40) / 2 - mean), (40 - 80) * (10 / 25 + 10 / 40) / 2)
    # web: share 10/25 → 30/40 at 50 % both weeks: all mix, negative (below the average).
    _close(web, (30 / 40 - 10 / 25) * (50 - mean), 0.0)
    assert web.rate == 0 and web.mix == pytest.approx(-3.4125)
    # whatsapp vanished: its 100 % leaves, all mix.
    _close(whatsapp, (0 - 5 / 25) * (100 - mean), 0.0)
    assert whatsapp.status == "vanished" and whatsapp.after is None and whatsapp.before == 100.0
    assert sum(s.total for s in found.segments) == pytest.approx(47.5 - 72.0, abs=1e-12)
    assert [s.values[0][1] for s in found.segments] == ["telegram", "whatsapp", "web"]  # by |contribution|
    assert all(s.few for s in found.segments)  # 5 to 30 ratings a week: too few to tell


def test_a_segment_that_appears_by_intent(rated):
    found = _split(rated, "csat", ("intent",))
    segments = _by(found, "intent")
    mean = (72.0 + 47.5) / 2
    order, refund, pricing = (segments[(i, False)] for i in ("order", "refund", "pricing"))
    _close(order, (30 / 40 - 20 / 25) * ((65 + 14 / 30 * 100) / 2 - mean), (14 / 30 * 100 - 65) * (20 / 25 + 30 / 40) / 2)
    _close(refund, (0 - 5 / 25) * (100 - mean), 0.0)
    _close(pricing, (10 / 40 - 0) * (50 - mean), 0.0)
    assert (pricing.status, pricing.before, pricing.after) == ("appeared", None, 50.0)
    assert sum(s.total for s in found.segments) == pytest.approx(-24.5, abs=1e-12)


def test_a_pair_of_dimensions(rated):
    found = _split(rated, "csat", ("platform", "intent"))
    keys = {tuple(v for _, v, _ in s.values) for s in found.segments}
    assert keys == {("telegram", "order"), ("web", "order"), ("whatsapp", "refund"), ("web", "pricing")}
    assert sum(s.total for s in found.segments) == pytest.approx(-24.5, abs=1e-12)


@pytest.mark.parametrize("rolled", [False, True], ids=["raw", "rollups"])
def test_sums_split_additively(rated, rolled):
    messages = _split(rated, "messages", ("platform",), rolled)
    assert messages.kind == "sum" and (messages.before, messages.after) == (25, 40)
    assert {s.values[0][1]: s.total for s in messages.segments} == {"web": 20, "whatsapp": -5, "telegram": 0}
    cost = _split(rated, "cost", ("platform",))
    assert {s.values[0][1]: round(s.total, 4) for s in cost.segments} == {"web": 0.2, "whatsapp": -0.05, "telegram": 0}
    assert cost.after - cost.before == pytest.approx(0.15)


@pytest.mark.parametrize("rolled", [False, True], ids=["raw", "rollups"])
def test_a_percentile_gives_each_segments_own_change_not_a_sum(rated, rolled):
    found = _split(rated, "p95_response_time", ("platform",), rolled)
    assert found.kind == "percentile" and not found.exact
    segments = _by(found, "platform")
    bound = rollups.LATENCY_RELATIVE_ERROR if rolled else 1e-9
    telegram = segments[("telegram", False)]
    assert telegram.before == pytest.approx(1000, rel=bound) and telegram.after == pytest.approx(2000, rel=bound)
    assert telegram.total is None and telegram.mix is None
    assert found.segments[0] is telegram  # the largest own change
    assert found.after == pytest.approx(2000, rel=bound)  # the tile's


@pytest.mark.parametrize("rolled", [False, True], ids=["raw", "rollups"])
def test_a_dialog_kpi_puts_a_dialog_of_several_intents_in_one_segment(with_dialogs, rolled):
    found = _split(with_dialogs, "escalation_rate", ("intent",), rolled)
    r0, r1 = 100 / 33, 100 * 5 / 50
    assert (found.before, found.after) == (pytest.approx(r0), pytest.approx(r1))
    segments = _by(found, "intent")
    assert set(segments) == {("order", False), ("refund", False), ("pricing", False), (None, True)}
    mean = (r0 + r1) / 2
    order, several = segments[("order", False)], segments[(None, True)]
    _close(order, (34 / 50 - 24 / 33) * ((100 / 24 + 300 / 34) / 2 - mean), (300 / 34 - 100 / 24) * (24 / 33 + 34 / 50) / 2)
    _close(several, (2 / 50) * (100 - mean), 0.0)
    assert several.status == "appeared"
    assert sum(s.total for s in found.segments) == pytest.approx(r1 - r0, abs=1e-12)


def test_contributions_sum_to_the_tiles_delta_over_random_filters(with_dialogs):
    """For every ratio and sum KPI over random filters and dimensions, the contributions add up to
    the tiles' change to the last digit shown."""
    engine = with_dialogs
    rollups.refresh(engine, now=NOW)
    schema = discover(engine)
    rng = random.Random(7)
    keys = [k for k in catalogue.KPIS if change.explained(k) and not isinstance(catalogue.KPIS[k].formula,
                                                                               catalogue.Percentile)]
    for _ in range(6):
        dims = {"platforms": rng.choice([(), ("web",), ("web", "telegram")]), "intents": rng.choice([(), ("order",)]),
                "tz": rng.choice(["UTC", "Asia/Kolkata", "America/New_York"])}
        after = Filters(datetime(2026, 3, 8, rng.randrange(24)), datetime(2026, 3, 15), **dims)
        before = after.previous()
        for key in keys:
            dimensions = rng.choice([("platform",), ("intent",), ("ai_model",), ("platform", "intent")])
            found = change.split(engine, schema, after, before, key, dimensions)
            tiles = [kpis.compute_one(engine, schema, f, key).value for f in (before, after)]
            if None in tiles:
                assert not found.segments
                continue
            assert found.before == pytest.approx(float(tiles[0]), abs=1e-9)
            assert found.after == pytest.approx(float(tiles[1]), abs=1e-9)
            assert round(sum(s.total for s in found.segments), 6) == round(float(tiles[1]) - float(tiles[0]), 6)


def test_unknown_kpis_and_dimensions_are_refused(rated):
    schema = discover(rated)
    for key, dims in (("nps", ("platform",)), ("csat", ("user_id",)), ("csat", ()), ("csat", ("intent", "intent"))):
        with pytest.raises(KeyError):
            change.split(rated, schema, WEEK_2, WEEK_1, key, dims)
