"""The metrics catalogue is the one definition: a KPI's formula changed there moves the tile, its
trend, the alert rule's metric and the report's figures together, on the raw rows and on the
rollups, on SQLite and PostgreSQL. Also the catalogue's own consistency."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest

from data_access import alerts, business, catalogue, kpis, plans, rollups
from data_access import reports as rp
from data_access.alert_rules import METRICS, Rule
from data_access.catalogue import RATINGS, Ratio, Sum
from data_access.filters import Filters
from data_access.schema import discover
from tests.conftest import insert

WEEK = Filters.for_dates(date(2026, 11, 2), date(2026, 11, 8))
# Scores by day: 3 Nov 5, 4, 4, 3; 4 Nov 5, 5, 2, 1, none and 9 (outside 1..5: ignored).
SCORES = {datetime(2026, 11, 3, 10): [5, 4, 4, 3], datetime(2026, 11, 4, 15): [5, 5, 2, 1, None, 9]}
# CSAT by hand: top-2 (4 or 5) and top-1 (5 only) among the 8 valid scores, and per day.
TOP2 = {"week": 100 * 5 / 8, date(2026, 11, 3): 100 * 3 / 4, date(2026, 11, 4): 100 * 2 / 4}
TOP1 = {"week": 100 * 3 / 8, date(2026, 11, 3): 100 * 1 / 4, date(2026, 11, 4): 100 * 2 / 4}
LOW_CSAT = Rule("LowCsat", "csat", "<", 50.0, step=3600, window=3600)


@pytest.fixture
def rated(engine):
    rows = []
    for hour, scores in SCORES.items():
        for i, score in enumerate(scores):
            rows.append({"timestamp": hour.replace(minute=i), "user_id": f"u{i}", "session_id": f"{hour:%d}-{i}",
                         "platform": "web", "intent": "refund", "ai_model": "m1", "response_time_ms": 1000,
                         "tokens_used": 10, "cost_usd": 0.001, "satisfaction_score": score})
    insert(engine, "conversation_metrics", rows)
    return engine


@pytest.fixture
def top1_csat(monkeypatch):
    """CSAT redefined in the catalogue as the top-1 box (5 only)."""
    changed = replace(catalogue.KPIS["csat"], formula=Ratio(Sum(rated_5=1), RATINGS, 100.0, Sum(rated_bad=1)))
    monkeypatch.setitem(catalogue.KPIS, "csat", changed)


def figures(engine) -> dict:
    """CSAT as the tile, its daily trend, the alert rule's metric and the weekly report show it."""
    schema = discover(engine)
    tile = kpis.compute_one(engine, schema, WEEK, "csat")
    trend = business.csat_trend(engine, schema, WEEK, "day")
    buckets = alerts.metric_buckets(engine, schema, WEEK, LOW_CSAT)
    buckets = buckets[buckets["bucket"] >= WEEK.start]
    report = rp.build(engine, schema, "weekly", date(2026, 11, 4), WEEK, now=datetime(2026, 11, 20))
    report_kpis = report.kpis.set_index("key")
    report_trend = report.trend.dropna(subset=["csat"]).set_index("bucket")
    return {
        "tile": (tile.value, tile.n, tile.ignored),
        "trend": {b.date(): v for b, v in zip(trend["bucket"], trend["csat"])},
        "alert": float(buckets["num"].sum() / buckets["den"].sum()),
        "alert_per_day": {d: float(part["num"].sum() / part["den"].sum())
                          for d, part in buckets[buckets["den"] > 0].groupby(buckets["bucket"].dt.date)},
        "report": float(report_kpis.at["csat", "current"]),
        "report_trend": {b.date(): float(v) for b, v in report_trend["csat"].items()},
    }


def expect(by_hand: dict) -> dict:
    days = {d: v for d, v in by_hand.items() if d != "week"}
    return {"tile": (pytest.approx(by_hand["week"]), 8, 1), "trend": pytest.approx(days),
            "alert": pytest.approx(by_hand["week"]), "alert_per_day": pytest.approx(days),
            "report": pytest.approx(by_hand["week"]), "report_trend": pytest.approx(days)}


@pytest.mark.parametrize("path", ["raw", "rollups"])
def test_every_reader_follows_the_catalogue_formula(rated, path):
    if path == "rollups":
        rollups.refresh(rated, now=datetime(2026, 11, 10))
        assert plans.plan(rated, discover(rated), WEEK).rolled
    assert figures(rated) == expect(TOP2)


@pytest.mark.parametrize("path", ["raw", "rollups"])
def test_a_formula_changed_in_the_catalogue_moves_tile_trend_alert_and_report(rated, top1_csat, path):
    if path == "rollups":
        rollups.refresh(rated, now=datetime(2026, 11, 10))
    assert figures(rated) == expect(TOP1)


def test_every_message_and_dialog_kpi_is_a_formula_over_declared_measures():
    for item in catalogue.KPIS.values():
        assert (item.formula is None) != (item.build is None), item.key
        if item.formula is not None:
            declared = {"messages": catalogue.MEASURE_NAMES,
                        "dialogs": (*catalogue.DIALOG_MEASURE_NAMES, *catalogue.YOUNG)}[item.level]
            assert set(item.formula.measures) <= set(declared), item.key


def test_alert_metrics_and_report_samples_are_declared_once():
    for item in catalogue.KPIS.values():
        if item.alert_metric:
            assert item.alert_metric in METRICS and catalogue.by_alert_metric(item.alert_metric) is item
        if item.watched and item.unit != "count":
            assert item.sample, item.key  # a rate without its sample size would flag noise
    assert rp.ANOMALY_KPIS == {k: (i.unit, i.sample, i.higher_is_better) for k, i in catalogue.watched().items()}
    samples = [i.sample for i in catalogue.watched().values() if i.formula is not None and i.sample]
    shared = {s for s in samples if samples.count(s) > 1}
    # Two KPIs may share a sample column only when their n is the same sum of measures.
    for sample in shared:
        dens = {i.formula.terms()["den"] for i in catalogue.watched().values() if i.sample == sample}
        assert len(dens) == 1, sample
    # A sample never overwrites a KPI's column, but with the same sum (the dialogs' count).
    for sample in set(samples) & set(catalogue.watched()):
        dens = {i.formula.terms()["den"] for i in catalogue.watched().values() if i.sample == sample}
        assert dens == {catalogue.KPIS[sample].formula.terms()["total"]}, sample


def test_an_unknown_measure_is_refused():
    with pytest.raises(KeyError):
        Sum(rated_six=1)


def test_a_ratio_leaves_its_undecided_observations_out_and_counts_them():
    ratio = catalogue.Ratio(catalogue.Sum(fcr_solved=1), catalogue.Sum(resolved=1, fcr_pending=-1),
                            undecided=catalogue.Sum(fcr_pending=1))
    assert ratio.columns("k__") == {"k__num": "COALESCE(SUM(fcr_solved), 0)",
                                    "k__den": "COALESCE(SUM(resolved + -1 * fcr_pending), 0)",
                                    "k__pending": "COALESCE(SUM(fcr_pending), 0)"}
    row = {"k__num": 3, "k__den": 4, "k__pending": 2}
    assert ratio.value(row, "k__") == (75.0, 4, 0) and ratio.pending(row, "k__") == 2
    assert catalogue.Ratio(catalogue.Sum(resolved=1), catalogue.DIALOGS).pending({"num": 1, "den": 2}) == 0
