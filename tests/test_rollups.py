"""The rollups agree with the raw rows: every KPI, series, breakdown and report table read through
data_access.rollups equals the raw path on SQLite and PostgreSQL — exactly for counts, sums,
rates and money, within ``LATENCY_RELATIVE_ERROR`` for response-time percentiles — over
randomised filter sets, late rows, rows arriving during a refresh and a refresh interrupted
halfway."""

from __future__ import annotations

import math
import random
import shutil
import threading
import time
import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from data_access import ai, alerts, business, catalogue, change, dialogs, kpis, logs, migrations, operational, plans, reports, rollups, rule_records, series, service_rollups, sla, sql
from data_access.alert_rules import load_rules
from data_access.demo import DemoSpec, load
from data_access.engine import make_engine
from data_access.filters import Filters, bind_timestamp
from data_access.schema import discover
from tests.conftest import empty_database, insert

END = date(2026, 3, 31)  # the data: 30 days over both daylight-saving changes (US 8 March, EU 29 March)
NOW = datetime(2026, 3, 31, 15, 20)  # the refresh's clock: hours before 15:00 are rolled up, the rest is the tail
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu")
PERCENTILE_COLUMNS = {"p50", "p95", "p99", "p95_response_ms", "p95_ms", "median_resolution_s", "p90_resolution_s",
                      "p95_response_time__percentile", "median_resolution_time__percentile"}
SYSTEM_QUERIES = ("traffic", "traffic_day", "resources", "resources_now", "active_sessions", "system_kpis")
NPS_QUERIES = ("nps_trend", "nps_kpi", "nps_comment_count", "nps_detractor_comment_count", "review_candidates",
               "review_candidates_one_keyword", "review_candidates_other_keywords", "alert_NegativeReviews")
SERVICE_QUERIES = ("integrations", "service_status", "status_intervals", "uptime", "sla_services", "sla_services_month", "sla_integrations",
                   "sla_integrations_month", *SYSTEM_QUERIES, *NPS_QUERIES)
SYSTEM_KPIS = [k for k, v in kpis.KPIS.items() if v.level == "system"]
MESSAGE_KPIS = [k for k, v in kpis.KPIS.items() if v.level in ("messages", "dialogs")]
SPLIT_KPIS = tuple(k for k in kpis.KPIS if change.explained(k))


def _odd_rows() -> list[dict]:
    """Rows the demo does not make: NULL dimensions, values outside the contract, a session over
    three hours, rows without a session (the user + date key), a labelled miss."""
    rows = []
    for i, (minute, platform, intent, model) in enumerate(
            [(5, None, "refund", "gpt-4o"), (65, "web", None, None), (130, "telegram", "refund", None),
             (185, "web", "order_status", "gpt-4o")]):
        rows.append({"id": str(uuid.uuid4()), "timestamp": datetime(2026, 3, 20, 22) + timedelta(minutes=minute),
                     "user_id": "odd-user", "session_id": "odd-session" if i < 3 else None, "platform": platform,
                     "intent": intent, "expected_intent": "refund" if i % 2 else None, "confidence": [0.3, 1.0, -1, None][i],
                     "response_time_ms": [-5, 0, 99, 250_000][i], "tokens_used": [-3, 10, None, 7][i],
                     "cost_usd": [Decimal("-0.5"), Decimal("0.0001"), None, Decimal("1.2345")][i], "ai_model": model,
                     "satisfaction_score": [0, 7, 5, None][i], "helpful": [True, None, False, True][i],
                     "resolved": i == 2, "escalated": i == 1, "converted": None})
    return rows


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def rolled_template(request, tmp_path_factory) -> str:
    """A database with the demo's 30 days (and odd rows), rolled up to ``NOW``: built once per
    backend, copied for each test (``rolled_engine``)."""
    url = empty_database(request, tmp_path_factory, "rolled")
    engine = make_engine(url)
    load(engine, DemoSpec(days=30, scale=0.12, seed=11, end=END), roll_up=False)
    insert(engine, "conversation_metrics", _odd_rows())
    report = rollups.refresh(engine, now=NOW)
    assert report.status == "done" and report.watermark == datetime(2026, 3, 31, 15)
    engine.dispose()
    return url


@pytest.fixture
def rolled_engine(rolled_template, request, tmp_path):
    """A copy of ``rolled_template`` of this test's own."""
    if rolled_template.startswith("sqlite"):
        copy = tmp_path / "rolled.sqlite"
        shutil.copyfile(sa.make_url(rolled_template).database, copy)
        url = f"sqlite:///{copy}"
    else:
        url = request.getfixturevalue("postgres").copy_of(rolled_template, "rolled")
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _filter_sets(engine, count: int, seed: int) -> list[Filters]:
    options = series.filter_options(engine, discover(engine))
    rng = random.Random(seed)
    sets = [Filters.for_dates(date(2026, 3, 25), END, tz="Europe/Berlin"),  # a week to date, the tail included
            Filters.for_dates(date(2026, 3, 8), date(2026, 3, 8), tz="America/New_York"),  # a 23-hour day
            Filters.for_dates(date(2026, 4, 5), date(2026, 4, 6)),  # empty: after the data
            Filters.for_dates(date(2026, 3, 10), date(2026, 3, 12), platforms=("no-such-platform",)),  # empty, rolled up
            Filters(datetime(2026, 3, 10, 10, 17), datetime(2026, 3, 10, 10, 43), tz="Asia/Kolkata")]  # within an hour
    for _ in range(count):
        start = datetime(2026, 3, 2) + timedelta(minutes=rng.randrange(0, 28 * 24 * 60))
        if rng.random() < 0.4:
            start = start.replace(hour=0, minute=0)
        length = timedelta(minutes=rng.choice([90, 600, 2000, 6 * 1440, 12 * 1440, 20 * 1440]) + rng.randrange(0, 120))
        pick = lambda values: tuple(sorted(rng.sample(values, k=rng.choice([0, 0, 1, 2])))) if values else ()  # noqa: E731
        sets.append(Filters(start, start + length, platforms=pick(list(options.platforms)),
                            intents=pick(list(options.intents)), models=pick(list(options.models)),
                            tz=rng.choice(ZONES)))
    return sets


def _queries():
    targets = load_rules().sla
    keywords = load_rules().negative_keywords
    rules = [r for r in load_rules().rules
             if r.metric in ("avg_response_time", "avg_rating", "csat", "escalation_rate", "p95_response_time",
                             "negative_reviews")]
    # The p95 at the other step rollup_latency_p95 keeps.
    rules += [replace(r, name=f"{r.name}_1m", step=60, for_=60) for r in rules if r.metric == "p95_response_time"]
    calls = {
        "kpis": lambda e, s, f: kpis.compute(e, s, f, MESSAGE_KPIS),
        "breakdown_intent": lambda e, s, f: business.breakdown(e, s, f, "intent"),
        "breakdown_model": lambda e, s, f: business.breakdown(e, s, f, "ai_model"),
        "breakdown_platform": lambda e, s, f: business.breakdown(e, s, f, "platform"),
        "csat_trend": lambda e, s, f: business.csat_trend(e, s, f, sql_unit(f)),
        "csat_trend_platform": lambda e, s, f: business.csat_trend(e, s, f, "day", by_platform=True),
        "rating_distribution": lambda e, s, f: business.rating_distribution(e, s, f),
        "rating_distribution_platform": lambda e, s, f: business.rating_distribution(e, s, f, by_platform=True),
        "dialog_outcomes_trend": lambda e, s, f: business.dialog_outcomes_trend(e, s, f, sql_unit(f)),
        "conversion_by_platform": lambda e, s, f: business.conversion_by_platform(e, s, f),
        "resolution_histogram": lambda e, s, f: business.resolution_histogram(e, s, f),
        "top_repeat_users": lambda e, s, f: business.top_repeat_users(e, s, f),
        "latency_percentiles": lambda e, s, f: ai.latency_percentiles(e, s, f, sql_unit(f)),
        "latency_histogram": lambda e, s, f: ai.latency_histogram(e, s, f),
        "accuracy_trend": lambda e, s, f: ai.accuracy_trend(e, s, f, "day"),
        "accuracy_by_intent": lambda e, s, f: ai.accuracy_by_intent(e, s, f),
        "confusion_pairs": lambda e, s, f: ai.confusion_pairs(e, s, f),
        "calibration": lambda e, s, f: ai.calibration(e, s, f),
        "helpful_trend": lambda e, s, f: ai.helpful_trend(e, s, f, "week"),
        "usage_by_model": lambda e, s, f: ai.usage_by_model(e, s, f, "month"),
        "cost_outcomes_model": lambda e, s, f: ai.cost_outcomes(e, s, f, "ai_model"),
        "cost_outcomes_platform": lambda e, s, f: ai.cost_outcomes(e, s, f, "platform"),
        "dialogs_by_platform": lambda e, s, f: series.dialogs_by_platform(e, s, f),
        "report_series": lambda e, s, f: reports.message_series(e, s, f, "day"),
        "report_dialog_series": lambda e, s, f: reports.dialog_series(e, s, f, "day"),
        "integrations": lambda e, s, f: operational.integrations(e, s, f),
        "service_status": lambda e, s, f: operational.service_status(e, s, f),
        "status_intervals": lambda e, s, f: operational.status_intervals(e, s, f),
        "uptime": lambda e, s, f: kpis.compute(e, s, f, ["uptime"]),
        "traffic": lambda e, s, f: operational.traffic(e, s, f, sql_unit(f)),
        "traffic_day": lambda e, s, f: operational.traffic(e, s, f, "day"),
        "resources": lambda e, s, f: operational.resources(e, s, f, sql_unit(f)),
        "resources_now": lambda e, s, f: operational.resources_now(e, s, f),
        "active_sessions": lambda e, s, f: operational.active_sessions_over_time(e, s, f, "week"),
        "system_kpis": lambda e, s, f: kpis.compute(e, s, f, SYSTEM_KPIS),
        "nps_trend": lambda e, s, f: business.nps_trend(e, s, f, sql_unit(f)),
        "nps_kpi": lambda e, s, f: kpis.compute(e, s, f, ["nps"]),
        # Every explained KPI's terms per segment (data_access.change), by one dimension and a pair.
        **{f"segments_{'_'.join(dims)}": (lambda e, s, f, dims=dims: change.segment_terms(e, s, f, SPLIT_KPIS, dims))
           for dims in (("platform",), ("intent",), ("ai_model",), ("platform", "intent"))},
        "nps_comment_count": lambda e, s, f: pd.DataFrame({"n": [business.nps_comment_count(e, s, f)]}),
        "nps_detractor_comment_count": lambda e, s, f: pd.DataFrame({"n": [business.nps_comment_count(e, s, f, True)]}),
        "review_candidates": lambda e, s, f: alerts.review_candidates(e, s, f, keywords),
        # Among the kept ones (the kept rows narrowed), and one not kept (the raw rows).
        "review_candidates_one_keyword": lambda e, s, f: alerts.review_candidates(e, s, f, ("AWFUL",)),
        "review_candidates_other_keywords": lambda e, s, f: alerts.review_candidates(e, s, f, ("refund", "awful")),
        **{f"sla_{source}{'_month' if by_month else ''}": (
            lambda e, s, f, source=source, by_month=by_month: sla.compliance(e, s, f, source, targets,
                                                                             by_month=by_month, now=NOW))
           for source in ("services", "integrations") for by_month in (False, True)},
        "sla_answers": lambda e, s, f: sla.compliance(e, s, f, "answers", targets, now=NOW),
        "sla_answers_month": lambda e, s, f: sla.compliance(e, s, f, "answers", targets, by_month=True, now=NOW),
        # A target between the rolled-up latency bins: the count under it is read from the raw rows.
        "sla_answers_odd_target": lambda e, s, f: sla.compliance(e, s, f, "answers", replace(targets, response_time_ms=1500),
                                                                 now=NOW),
    }
    for rule in rules:
        calls[f"alert_{rule.name}"] = lambda e, s, f, rule=rule: alerts.metric_buckets(e, s, f, rule, keywords)
        calls[f"alert_history_{rule.name}"] = lambda e, s, f, rule=rule: alerts.rule_history(e, s, f, rule,
                                                                                             keywords).chart
    return calls


def _rule_queries():
    """Each recorded rule's alerts, keys pending and chart line (``rule_records``)."""
    return {f"rule_{rule.name}": lambda e, s, f, rule=rule: _fired(alerts.rule_history(e, s, f, rule))
            for rule in recorded_rules()}


def recorded_rules() -> list:
    """alerts.yml's rules that the refresh records (the service metrics stepping by minutes), and
    variants: a rule that fires at or above a threshold it also clears at, a rule without a
    label at a 5-minute step over an hour's window."""
    rules = [r for r in load_rules().rules if rule_records.recordable(r)]
    memory = next(r for r in rules if r.metric == "memory_percent")
    errors = next(r for r in rules if r.metric == "error_rate")
    return rules + [replace(memory, name="MemoryAtClear", operator=">=", threshold=60.0, clear=60.0),
                    replace(errors, name="ErrorsAllServices", by=None, step=300, window=3600, for_=1200,
                            threshold=1.0, clear=0.8, min_count=10)]


def _fired(history) -> pd.DataFrame:
    """A rule's alerts, the keys pending at the end and its chart line, as one frame."""
    fired = alerts.history_frame([history])
    pending = pd.DataFrame({"rule": history.rule.name, "key": list(history.pending),
                            "since": pd.to_datetime(list(history.pending.values())).astype("datetime64[us]")})
    chart = history.chart.rename(columns={"bucket": "since"})[["key", "since", "value", "n"]]
    return pd.concat([fired.assign(part="alert"), pending.assign(part="pending"), chart.assign(part="chart")],
                     ignore_index=True)


def sql_unit(filters: Filters) -> str:
    from data_access.sql import bucket_for

    return bucket_for(filters)


def _same_value(a, b, column: str, where: str) -> None:
    missing = lambda v: v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v))  # noqa: E731
    if missing(a) or missing(b):
        assert missing(a) and missing(b), f"{where} {column}: {a!r} (rollups) != {b!r} (raw)"
        return
    service_p95 = column == "p95_latency_ms" or (
        column == "p95_ms" and ("] sla_services" in where or "] sla_integrations" in where))
    if service_p95:  # service_rollups' histogram: its stated bound
        bound = service_rollups.RELATIVE_ERROR * abs(float(b)) + service_rollups.SMALL_MS / 2
        assert abs(float(a) - float(b)) <= bound, f"{where} {column}: {a} (rollups) vs {b} (raw), beyond the bound"
    elif column in PERCENTILE_COLUMNS:
        assert abs(float(a) - float(b)) <= rollups.LATENCY_RELATIVE_ERROR * abs(float(b)) + 1e-9, \
            f"{where} {column}: {a} (rollups) vs {b} (raw), beyond {rollups.LATENCY_RELATIVE_ERROR:.0%}"
    elif isinstance(a, (Decimal, int, np.integer)) and isinstance(b, (Decimal, int, np.integer)):
        assert a == b, f"{where} {column}: {a!r} (rollups) != {b!r} (raw)"
    elif isinstance(a, (float, Decimal, int, np.number)):
        assert math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9), f"{where} {column}: {a} != {b}"
    else:
        assert a == b, f"{where} {column}: {a!r} (rollups) != {b!r} (raw)"


def assert_agree(rolled, raw, where: str) -> None:
    """Equal results: KPI dicts value by value, frames row by row (in a stable order)."""
    if isinstance(raw, dict):
        assert rolled.keys() == raw.keys()
        for key in raw:
            for part in ("value", "n", "ignored", "reason"):
                percentile = key in ("p95_response_time", "median_resolution_time") and part == "value"
                _same_value(getattr(rolled[key], part), getattr(raw[key], part),
                            "p95" if percentile else f"{key}.{part}", where)
        return
    assert list(rolled.columns) == list(raw.columns), f"{where}: columns {list(rolled.columns)} != {list(raw.columns)}"
    assert len(rolled) == len(raw), f"{where}: {len(rolled)} rows (rollups) != {len(raw)} (raw)"
    keys = [c for c in raw.columns if not pd.api.types.is_numeric_dtype(raw[c]) or c in ("bucket", "bin", "score")]
    order = lambda frame: frame.astype({k: str for k in keys}).sort_values(keys, kind="stable").index  # noqa: E731
    rolled, raw = rolled.loc[order(rolled)], raw.loc[order(raw)]
    for (_, a), (_, b) in zip(rolled.iterrows(), raw.iterrows()):
        for column in raw.columns:
            _same_value(a[column], b[column], column, where)


# What a page asks of a database with only the seed's table (the rest needs columns it lacks).
SEED_QUERIES = ("kpis", "breakdown_intent", "breakdown_platform", "csat_trend", "rating_distribution",
                "latency_percentiles", "latency_histogram", "usage_by_model", "dialogs_by_platform",
                "resolution_histogram", "report_series", "calibration")


def _check_all(engine, filter_sets, expect_rolled: bool = True, only=None, queries=None) -> int:
    schema = discover(engine)
    rolled_count = 0
    for i, filters in enumerate(filter_sets):
        chosen = plans.plan(engine, schema, filters)
        rolled_count += chosen.rolled is not None
        for name, call in (queries or _queries()).items():
            if only is not None and name not in only:
                continue
            rolled = call(engine, schema, filters)
            with plans.raw_reference():
                raw = call(engine, schema, filters)
            assert_agree(rolled, raw, f"[{engine.dialect.name} set {i} {filters} {chosen.path}] {name}")
    if expect_rolled:
        assert rolled_count >= len(filter_sets) // 2, "most filter sets should read the rollups"
    return rolled_count


def test_rollups_equal_the_raw_rows_over_random_filters(rolled_engine):
    _check_all(rolled_engine, _filter_sets(rolled_engine, 14, seed=2026))


def test_the_agreement_suite_holds_every_reader_to_the_raw_rows(rolled_engine, monkeypatch):
    """Each query that reads a plan's sources (``plans.READERS``: registered by its decorator, so
    a new one is there without being listed) is among those the suite compares with the raw rows."""
    import importlib
    import pkgutil

    import data_access

    for module in pkgutil.iter_modules(data_access.__path__):  # a reader in any module registers
        importlib.import_module(f"data_access.{module.name}")
    read = set()
    reading = plans.reading
    monkeypatch.setattr(plans, "reading", lambda chosen, name: read.add(name) or reading(chosen, name))
    _check_all(rolled_engine, _filter_sets(rolled_engine, 0, seed=1)[:1])
    registered = {name.rsplit(".", 1)[1] for name in plans.READERS}
    assert len(registered) >= 30 and registered <= read, sorted(registered - read)


def test_recorded_rules_equal_the_raw_rows_over_random_ranges(rolled_engine):
    """The alerts, pending keys and chart of the rules rule_records keeps (alerts.yml's and two
    variants), from the records and the raw tail, against the raw rows."""

    report = rollups.refresh(rolled_engine, now=NOW, rules=recorded_rules())
    assert report.rules.rules == len(recorded_rules())
    # Ranges the records serve (whole days in zones of whole or half hours, the tail included or
    # not, over the DST changes), then random ones, many of which read the raw rows.
    sets = [Filters.for_dates(date(2026, 3, 1), END), Filters.for_dates(date(2026, 3, 19), date(2026, 3, 30), tz="Asia/Kolkata"),
            Filters.for_dates(date(2026, 3, 5), date(2026, 3, 24), tz="America/New_York"),
            Filters(datetime(2026, 3, 27, 6, 10), datetime(2026, 3, 31, 18, 40), tz="Europe/Berlin"),
            Filters(datetime(2026, 3, 28, 21, 5), datetime(2026, 3, 30, 9, 35), tz="Europe/Berlin"),  # 5-minute chart
            *_filter_sets(rolled_engine, 6, seed=18)]
    with logs.recording() as records:
        _check_all(rolled_engine, sets, queries=_rule_queries())
    paths = [r["path"] for r in records if r["query"].startswith("rule_history") and r["path"] != "raw (reference)"]
    assert paths.count("rule records + raw") >= 5 * len(recorded_rules()), paths


def test_discover_knows_every_table_the_rollups_keep():
    from data_access.schema import DERIVED_TABLES

    kept = {*rollups.TABLES, *rule_records.TABLES, *service_rollups.TABLES, migrations.MIGRATIONS}
    assert kept == set(DERIVED_TABLES)


def test_filter_options_from_the_rollups_are_the_tables(rolled_engine):
    """The options over all time: the combinations kept per month for the whole days, the rest as
    the other readers read it; while a late row is pending, its hour from the raw rows."""
    engine = rolled_engine
    schema = discover(engine)
    with engine.connect() as conn:
        months = conn.exec_driver_sql(f"SELECT COUNT(DISTINCT month) FROM {rollups.DIMENSION_MONTHS}").scalar()
    assert months == 1  # March's whole days

    def check(expected_platform: bool) -> None:
        rolled = series.filter_options(engine, schema)
        with plans.raw_reference():
            assert rolled == series.filter_options(engine, schema)
        assert ("late-platform" in rolled.platforms) == expected_platform

    check(False)
    late = {"id": str(uuid.uuid4()), "timestamp": datetime(2026, 3, 12, 8, 15), "user_id": "late-options",
            "session_id": "late-options", "platform": "late-platform", "intent": "late-intent", "ai_model": "late-model"}
    insert(engine, "conversation_metrics", [late])
    check(True)  # the late hour from the raw rows
    rollups.refresh(engine, now=NOW)
    with engine.connect() as conn:
        kept = conn.exec_driver_sql(f"SELECT COUNT(*) FROM {rollups.DIMENSION_MONTHS} "
                                    "WHERE platform = 'late-platform'").scalar()
    assert kept == 1
    check(True)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM conversation_metrics WHERE platform = 'late-platform'")
    check(False)  # the hour the row left is pending: raw
    rollups.refresh(engine, now=NOW)
    check(False)  # and the month's combinations made again without it


def test_late_rows_are_exact_before_and_after_the_refresh(rolled_engine):
    engine = rolled_engine
    late = [{"id": str(uuid.uuid4()), "timestamp": datetime(2026, 3, 27, 9, 30 + i), "user_id": f"late-{i}",
             "session_id": f"late-{i}", "platform": "web", "intent": "refund", "response_time_ms": 123_456,
             "tokens_used": 99, "cost_usd": Decimal("9.9999"), "ai_model": "gpt-4o", "satisfaction_score": 1,
             "escalated": True, "resolved": False} for i in range(3)]
    # And a new dialog of a known user, between two of theirs: the next one's previous dialog changes.
    with engine.connect() as conn:
        known_user = conn.execute(sa.text(
            "SELECT user_id FROM conversation_metrics WHERE user_id IS NOT NULL GROUP BY user_id "
            "HAVING MIN(\"timestamp\") < :at AND MAX(\"timestamp\") > :at ORDER BY COUNT(*) DESC, user_id LIMIT 1"),
            {"at": "2026-03-27 09:40:00"}).scalar_one()
    late.append({**late[0], "id": str(uuid.uuid4()), "timestamp": datetime(2026, 3, 27, 9, 40), "user_id": known_user,
                 "session_id": "late-known-user"})
    insert(engine, "conversation_metrics", late)
    state = rollups.read_state(engine)
    assert datetime(2026, 3, 27, 9) in state.dirty_hours
    sets = [Filters.for_dates(date(2026, 3, 26), date(2026, 3, 28), tz="Europe/Berlin"),
            Filters.for_dates(date(2026, 3, 20), date(2026, 3, 31), platforms=("web",))]
    assert datetime(2026, 3, 27, 9) in plans.plan(engine, discover(engine), sets[0]).late
    _check_all(engine, sets)  # the late hour read from the raw rows
    report = rollups.refresh(engine, now=NOW)
    assert report.late_hours == 1 and rollups.read_state(engine).dirty_hours == ()
    _check_all(engine, sets)  # and now from the rollups again
    with engine.begin() as conn:  # a deleted row's hour is noted too
        conn.execute(sa.text("DELETE FROM conversation_metrics WHERE user_id = 'late-0'"))
    assert datetime(2026, 3, 27, 9) in rollups.read_state(engine).dirty_hours
    _check_all(engine, sets)


def test_a_late_dialog_makes_the_users_next_one_a_repeat_contact(rolled_engine):
    """The user's next dialog gets the late one as its previous (``previous_started`` of the facts)."""
    engine = rolled_engine
    row = {"platform": "web", "intent": "refund", "response_time_ms": 900, "tokens_used": 10,
           "cost_usd": Decimal("0.0010"), "ai_model": "gpt-4o", "user_id": "comes-back"}
    insert(engine, "conversation_metrics", [
        {**row, "id": str(uuid.uuid4()), "timestamp": datetime(2026, 3, 10, 8), "session_id": "first-visit"},
        {**row, "id": str(uuid.uuid4()), "timestamp": datetime(2026, 3, 27, 12), "session_id": "third-visit"}])
    rollups.refresh(engine, now=NOW)
    sets = [Filters.for_dates(date(2026, 3, 1), date(2026, 3, 31)), Filters.for_dates(date(2026, 3, 20), date(2026, 3, 30))]
    only = ("kpis", "dialog_outcomes_trend", "top_repeat_users")
    _check_all(engine, sets, only=only)
    insert(engine, "conversation_metrics", [  # 17 days later the third visit had no previous one within a week; now it has
        {**row, "id": str(uuid.uuid4()), "timestamp": datetime(2026, 3, 27, 9, 40), "session_id": "second-visit"}])
    rollups.refresh(engine, now=NOW)
    assert plans.plan(engine, discover(engine), sets[0]).late == ()
    _check_all(engine, sets, only=only)


def test_dialogs_crossing_the_range_count_where_they_start(rolled_engine):
    """A dialog that starts in the range and ends after it, whose previous dialog lies before the
    range (a repeat, over all the user's dialogs), and a session id reused over weeks."""
    engine = rolled_engine
    row = {"platform": "web", "intent": "refund", "response_time_ms": 900, "tokens_used": 10,
           "cost_usd": Decimal("0.0010"), "ai_model": "gpt-4o", "user_id": "crosses-the-end"}
    insert(engine, "conversation_metrics", [
        {**row, "id": str(uuid.uuid4()), "timestamp": datetime(2026, 3, 20, 10), "session_id": "before"},
        *({**row, "id": str(uuid.uuid4()), "timestamp": datetime(2026, 3, 24, 10, 30) + timedelta(minutes=m),
           "session_id": "across"} for m in (0, 50)),
        # And a session id reused over weeks (one dialog) by another user.
        *({**row, "id": str(uuid.uuid4()), "user_id": "reuses-a-session", "timestamp": datetime(2026, 3, d, 9),
           "session_id": "weeks-long"} for d in (3, 23, 25))])
    rollups.refresh(engine, now=NOW)
    sets = [Filters(datetime(2026, 3, 22), datetime(2026, 3, 24, 11)),
            Filters(datetime(2026, 3, 22, 0, 30), datetime(2026, 3, 24, 11, 10), tz="Asia/Kolkata"),
            Filters(datetime(2026, 3, 10), datetime(2026, 3, 31)), Filters(datetime(2026, 3, 1), datetime(2026, 3, 24))]
    assert all(plans.plan(engine, discover(engine), f).rolled for f in sets)
    _check_all(engine, sets, only=("kpis", "dialog_outcomes_trend", "top_repeat_users", "dialogs_by_platform",
                                   "breakdown_intent", "resolution_histogram"))


def _facts_equal_a_grouping_from_scratch(engine) -> None:
    """rollup_dialog_facts holds exactly the facts of the rows before the watermark, grouped anew."""
    schema = discover(engine)
    watermark = rollups.read_state(engine).watermark
    raw = dialogs.raw_facts(schema, engine.dialect.name, {}, {}, where=f'WHERE {sql.TS} < :wm')
    columns = ", ".join(dialogs.FACT_COLUMNS)
    read = lambda text: pd.read_sql(sa.text(f"SELECT {columns} FROM {text} ORDER BY dialog"), engine,  # noqa: E731
                                    params={"wm": bind_timestamp(watermark, engine.dialect.name)})
    kept, fresh = read(rollups.FACTS), read(f"({raw}) f")
    for frame in (kept, fresh):
        for column in ("started", "last_seen", "first_resolved", "previous_started", "next_started"):
            frame[column] = pd.to_datetime(frame[column], utc=True, format="mixed")
        for column in ("converted_any", "escalated_any", "cost_e4", "messages"):
            frame[column] = pd.to_numeric(frame[column])
    assert len(kept) > 100
    pd.testing.assert_frame_equal(kept, fresh, check_dtype=False)
    with engine.connect() as conn:  # the repeat contacts' index column agrees with the neighbours
        wrong = conn.exec_driver_sql(f"SELECT COUNT(*) FROM {rollups.FACTS} "
                                     f"WHERE repeat <> {catalogue.repeat_flag(engine.dialect.name)}").scalar()
        # and each touch's copy of its dialog's start and lowest rating agrees with the facts
        unequal = lambda a, b: f"({a} <> {b} OR ({a} IS NULL) <> ({b} IS NULL))"  # noqa: E731
        astray = conn.exec_driver_sql(
            f"SELECT COUNT(*) FROM {rollups.TOUCHES} x LEFT JOIN {rollups.FACTS} f ON f.dialog = x.dialog "
            f"WHERE f.dialog IS NULL OR x.dialog_started <> f.started "
            f"OR {unequal('x.lowest_rating', 'f.lowest_rating')}").scalar()
        rated = conn.exec_driver_sql(f"SELECT COUNT(*) FROM {rollups.TOUCHES} WHERE lowest_rating IS NOT NULL").scalar()
    assert wrong == 0 and astray == 0 and rated > 0
    _start_hours_equal_a_grouping_of_the_facts(engine)


def _start_hours_equal_a_grouping_of_the_facts(engine) -> None:
    """The tables per start hour (and UTC day, value touched, segment) hold the dialog measures
    summed anew over the kept facts."""
    dialect = engine.dialect.name
    measures = catalogue.dialog_measures(dialect)
    sums = ", ".join(f"SUM({expr}) AS {name}" for name, expr in measures.items())
    segments = rollups.dialog_segments()
    kept_columns = ["dialog", *rollups.DIALOG_PART_COMBINE, "previous_started", "next_started"]
    facts = (f"(SELECT {', '.join(f'f.{c}' for c in kept_columns)}, "
             f"{', '.join(f'{e} AS {c}' for c, e in segments.items())} FROM {rollups.FACTS} f) f")
    for table, at, keys, source in (
            (rollups.DIALOG_HOURS, rollups.hour_of("f.started", dialect), [], facts),
            (rollups.DIALOG_DAILY, rollups.late_rows.day_of("f.started", dialect), [], facts),
            (rollups.DIALOG_SEGMENTS, rollups.hour_of("f.started", dialect), list(segments), facts),
            (rollups.DIALOG_VALUES, rollups.hour_of("f.started", dialect), ["dimension", "value"],
             f"{rollups.TOUCHES} x JOIN (SELECT * FROM {rollups.FACTS}) f ON f.dialog = x.dialog")):
        time = "day" if table == rollups.DIALOG_DAILY else "hour"
        order = ", ".join([time, *keys])
        listed = "".join(f", {k}" for k in keys)
        read = lambda text: pd.read_sql(sa.text(text), engine)  # noqa: E731
        kept = read(f"SELECT {time}{listed}, {', '.join(measures)} FROM {table} ORDER BY {order}")
        anew = read(f"SELECT {at} AS {time}{listed}, {sums} FROM {source} GROUP BY {order} ORDER BY {order}")
        for frame in (kept, anew):
            frame[time] = pd.to_datetime(frame[time], utc=True, format="mixed")
            frame[list(measures)] = frame[list(measures)].apply(pd.to_numeric)
        assert len(kept) > 0
        pd.testing.assert_frame_equal(kept, anew, check_dtype=False)


def test_dialog_facts_equal_a_grouping_from_scratch_after_every_step(rolled_engine):
    """After the first build, late rows (a dialog extended, a new one between two of a user's) and
    new hours, the kept facts are those of the rows grouped from scratch."""
    engine = rolled_engine
    _facts_equal_a_grouping_from_scratch(engine)
    row = {"platform": "web", "intent": "refund", "response_time_ms": 900, "tokens_used": 10,
           "cost_usd": Decimal("0.0010"), "ai_model": "gpt-4o", "user_id": "steps"}
    # Another user's resolved dialog, and two dialogs 11 days apart: a repeat contact and a first
    # contact's resolution that only the late rows below decide, in hours kept long before them.
    other = {**row, "user_id": "steps-other"}
    insert(engine, "conversation_metrics", [
        {**row, "timestamp": datetime(2026, 3, 12, 8), "session_id": "steps-1"},
        {**row, "timestamp": datetime(2026, 3, 14, 8), "session_id": "steps-3"},
        {**other, "timestamp": datetime(2026, 3, 1, 9), "session_id": "other-1", "resolved": True},
        {**other, "timestamp": datetime(2026, 3, 12, 9), "session_id": "other-3"}])
    rollups.refresh(engine, now=NOW)
    _facts_equal_a_grouping_from_scratch(engine)
    insert(engine, "conversation_metrics", [
        {**row, "timestamp": datetime(2026, 3, 13, 8), "session_id": "steps-2", "intent": "billing"},
        {**row, "timestamp": datetime(2026, 3, 16, 8), "session_id": "steps-1", "escalated": True},
        {**row, "timestamp": datetime(2026, 3, 31, 15, 30), "session_id": "steps-4"},
        {**other, "timestamp": datetime(2026, 3, 6, 9), "session_id": "other-2"}])
    rollups.refresh(engine, now=NOW)
    _facts_equal_a_grouping_from_scratch(engine)
    rollups.refresh(engine, now=NOW + timedelta(hours=1))
    _facts_equal_a_grouping_from_scratch(engine)
    _check_all(engine, [Filters.for_dates(date(2026, 3, 10), date(2026, 3, 31), intents=("billing",))],
               only=("kpis", "breakdown_intent", "top_repeat_users"))


def test_rows_arriving_during_a_refresh_are_not_lost(postgres, monkeypatch):
    # PostgreSQL only: SQLite has one writer, and a refresh (BEGIN IMMEDIATE) holds off every
    # insert until it commits.
    engine = make_engine(postgres.new_database("during"))
    load(engine, DemoSpec(days=30, scale=0.05, seed=11, end=END), roll_up=False)
    rollups.refresh(engine, now=NOW)
    other = make_engine(engine.url.render_as_string(hide_password=False))
    original = rollups._aggregate
    arrived = []

    def aggregate_while_rows_arrive(conn, schema, start, end, **options):
        read = original(conn, schema, start, end, **options)  # this step's snapshot is taken
        if not arrived:
            row = {"id": str(uuid.uuid4()), "timestamp": start + timedelta(minutes=7), "user_id": "during",
                   "session_id": "during", "platform": "web", "intent": "refund", "response_time_ms": 777,
                   "tokens_used": 1, "cost_usd": Decimal("0.5"), "ai_model": "gpt-4o", "satisfaction_score": 2}
            insert(other, "conversation_metrics", [row])  # commits after the snapshot
            arrived.append(row)
        return read

    monkeypatch.setattr(rollups, "_aggregate", aggregate_while_rows_arrive)
    rollups.refresh(engine, now=NOW + timedelta(hours=3))  # three new hours
    monkeypatch.setattr(rollups, "_aggregate", original)
    hour = rollups.floor_hour(arrived[0]["timestamp"])
    assert hour in rollups.read_state(engine).dirty_hours  # the refresh did not see it; its note stays
    sets = [Filters(hour - timedelta(hours=5), hour + timedelta(hours=2))]
    _check_all(engine, sets)
    rollups.refresh(engine, now=NOW + timedelta(hours=3))
    assert rollups.read_state(engine).dirty_hours == ()
    _check_all(engine, sets)
    other.dispose()
    engine.dispose()


def test_an_interrupted_first_build_answers_exactly_and_resumes(engine, monkeypatch):
    load(engine, DemoSpec(days=6, scale=0.1, seed=5, end=END), roll_up=False)
    original, steps = rollups._aggregate, []

    def fail_on_the_third_day(conn, schema, start, end, **options):
        steps.append(start)
        if len(steps) == 3:
            raise KeyboardInterrupt
        return original(conn, schema, start, end, **options)

    monkeypatch.setattr(rollups, "_aggregate", fail_on_the_third_day)
    with pytest.raises(KeyboardInterrupt):
        rollups.refresh(engine, now=NOW)
    monkeypatch.setattr(rollups, "_aggregate", original)
    state = rollups.read_state(engine)
    assert state.status == "building" and state.watermark == steps[2]  # two days kept, the third rolled back
    sets = [Filters.for_dates(date(2026, 3, 26), END), Filters.for_dates(date(2026, 3, 27), date(2026, 3, 28))]
    assert plans.plan(engine, discover(engine), sets[0]).building
    _check_all(engine, sets)
    report = rollups.refresh(engine, now=NOW)
    assert not report.full and rollups.read_state(engine).status == "ready"
    _check_all(engine, sets)


def test_a_first_build_resumed_for_its_end_analyses_the_tables(engine, monkeypatch):
    """Interrupted as it made every dialog's facts, after every hour was kept, the build resumes
    with its end alone; when it ends, the facts and their neighbours are those of the rows, the
    facts' and touches' indexes are all there, the tables it filled are analysed (and vacuumed on
    PostgreSQL: every page marked all-visible, as index-only reads need), as after a build in one
    go, and every query answers exactly."""
    load(engine, DemoSpec(days=3, scale=0.05, seed=5, end=END), roll_up=False)
    original_facts, original_analyze = rollups._make_facts, rollups._analyze
    interrupted, analysed = [], []

    def interrupt_the_first_time(conn, touched):
        if touched is None and not interrupted:
            original_facts(conn, touched)  # its indexes dropped and made again, then rolled back
            interrupted.append(True)
            raise KeyboardInterrupt
        return original_facts(conn, touched)

    monkeypatch.setattr(rollups, "_make_facts", interrupt_the_first_time)
    monkeypatch.setattr(rollups, "_analyze", lambda engine, *tables: analysed.append(tables) or original_analyze(engine, *tables))
    with pytest.raises(KeyboardInterrupt):
        rollups.refresh(engine, now=NOW)
    assert rollups.read_state(engine).status == "building" and interrupted and () not in analysed
    assert plans.plan(engine, discover(engine), Filters.for_dates(date(2026, 3, 29), END)).building
    report = rollups.refresh(engine, now=NOW)
    assert report.new_hours == 0 and rollups.read_state(engine).status == "ready"
    assert analysed[-1] == ()  # every table
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            pages = dict(conn.execute(sa.text("SELECT relname, relpages - relallvisible FROM pg_class "
                                              "WHERE relname IN :tables").bindparams(sa.bindparam("tables", expanding=True)),
                                      {"tables": list(rollups.DATA_TABLES)}).all())
        assert set(pages) == set(rollups.DATA_TABLES) and not any(pages.values()), pages
    indexes = {i["name"] for table in (rollups.FACTS, rollups.TOUCHES) for i in sa.inspect(engine).get_indexes(table)}
    assert set(rollups._dialog_indexes(engine.dialect.name)) <= indexes
    _facts_equal_a_grouping_from_scratch(engine)
    _check_all(engine, [Filters.for_dates(date(2026, 3, 29), END), Filters.for_dates(date(2026, 3, 27), END)])


def test_a_database_with_only_the_seeds_table(seed_only_url):
    engine = make_engine(seed_only_url)
    rollups.refresh(engine)
    schema = discover(engine)
    from tests.apptest import TODAY

    sets = [Filters.for_dates(TODAY - timedelta(days=1), TODAY)]
    # The one row is today; with the watermark before it everything reads raw, so roll today up too.
    rollups.refresh(engine, now=datetime.combine(TODAY, datetime.min.time()) + timedelta(hours=2), full=True)
    assert plans.plan(engine, schema, sets[0]).rolled is not None
    _check_all(engine, sets, only=SEED_QUERIES)
    engine.dispose()


def test_two_refreshes_never_run_at_once(rolled_engine):
    results = []
    with rollups.exclusive(rolled_engine) as mine:
        assert mine
        thread = threading.Thread(target=lambda: results.append(rollups.refresh(rolled_engine, now=NOW)))
        thread.start()
        thread.join()
    assert results[0].status == "busy"


def test_the_histogram_reads_within_its_bound():
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.integers(0, 100, 50), np.round(rng.lognormal(7, 1.2, 5000)).astype(int)])
    buckets = {}
    for v in values:
        b = int(v) if v < rollups.EXACT_BELOW_MS else rollups.EXACT_BELOW_MS + int(
            math.floor(math.log(v / rollups.EXACT_BELOW_MS) / math.log(rollups.LATENCY_RATIO)))
        buckets[b] = buckets.get(b, 0) + 1
    keys = sorted(buckets)
    for fraction in (0.0, 0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0):
        exact = float(np.percentile(values, fraction * 100))
        read = rollups.histogram_percentile(keys, [buckets[k] for k in keys], fraction)
        assert abs(read - exact) <= rollups.LATENCY_RELATIVE_ERROR * exact + 1e-9
    assert rollups.histogram_percentile([], [], 0.5) is None


def test_a_query_grouping_by_a_local_unit_reads_the_days_that_lie_in_one():
    """New York is UTC−5 until 8 March 2026: a UTC day runs 19:00–19:00 local, so it lies in no
    one local day, and in one local week or month unless it holds a local Monday's or the
    1st's midnight."""
    rolled = (datetime(2026, 2, 26), datetime(2026, 3, 4))  # Thursday 26 February to Wednesday 4 March
    days = lambda tz, unit: [(lo.date(), hi.date()) for lo, hi in  # noqa: E731
                             plans.Plan(Filters(*rolled, tz=tz), rolled=rolled).daily_runs(unit or True)]
    everything = [(date(2026, 2, 26), date(2026, 3, 4))]
    assert days("UTC", None) == days("UTC", "day") == days("UTC", "month") == everything
    assert days("America/New_York", None) == everything  # no grouping by time: every whole day
    assert days("America/New_York", "day") == []
    assert days("America/New_York", "month") == [(date(2026, 2, 26), date(2026, 3, 1)), (date(2026, 3, 2), date(2026, 3, 4))]
    assert days("America/New_York", "week") == [(date(2026, 2, 26), date(2026, 3, 2)), (date(2026, 3, 3), date(2026, 3, 4))]
    assert days("America/New_York", "hour") == []
    assert days("Europe/London", "day") == everything  # at UTC's offset in winter
    years = (datetime(2024, 1, 1), datetime(2027, 1, 1))  # by week: 157 runs, more than one statement takes
    plan = plans.Plan(Filters(*years, tz="Europe/Berlin"), rolled=years)
    assert plan.daily_runs("week") == [] and len(plan.daily_runs("month")) == 36


def test_raw_path_where_rollups_cannot_answer(rolled_engine):
    schema = discover(rolled_engine)
    assert plans.plan(rolled_engine, schema, Filters(datetime(2026, 3, 10, 10, 5), datetime(2026, 3, 10, 10, 50))).path \
        == "raw (no whole hour rolled up)"
    kolkata = Filters.for_dates(date(2026, 3, 10), date(2026, 3, 12), tz="Asia/Kolkata")

    with logs.recording() as records:
        business.csat_trend(rolled_engine, schema, kolkata, "day")
        kpis.compute(rolled_engine, schema, kolkata, ["csat"])
    assert records[0]["path"] == "raw (buckets finer than the rolled-up hours)"
    assert records[1]["path"] == "rollups + raw"  # a total needs no local buckets
    with plans.raw_reference():
        assert plans.plan(rolled_engine, schema, kolkata).path == "raw (reference)"


def test_the_unhappy_dialogs_name_the_kept_facts_they_read(rolled_engine):
    """As the debug panel shows them: not taken for the raw rows' reference."""
    with logs.recording() as records:
        business.unhappy_dialogs(rolled_engine, discover(rolled_engine),
                                 Filters.for_dates(date(2026, 3, 10), date(2026, 3, 12)), "refund")
    assert [r["path"] for r in records] == ["rollups + raw"]


def test_the_p95_rule_reads_the_kept_p95_unless_a_dimension_is_filtered(rolled_engine):

    schema = discover(rolled_engine)
    rule = next(r for r in load_rules().rules if r.metric == "p95_response_time")
    assert rule.step in rollups.P95_STEPS
    week = Filters.for_dates(date(2026, 3, 20), date(2026, 3, 27))
    with logs.recording() as records:
        alerts.rule_history(rolled_engine, schema, week, rule)
        alerts.rule_history(rolled_engine, schema, replace(week, platforms=("web",)), rule)
    assert [r["path"] for r in records] == ["rollups + raw", "raw (alert step finer than an hour or a percentile)"]


def test_the_service_rules_read_their_records_and_late_rows_are_recorded_again(rolled_engine):
    """The refresh records the service rules (rule_records); a page reads them with the raw tail,
    equal to the raw path. A late burst of failed checks in a recorded hour: the raw rows until
    the next refresh, then the records again, now with the outage's alert."""

    engine = rolled_engine
    schema = discover(engine)
    rule = next(r for r in load_rules().rules if r.name == "ServiceDown")
    sets = [Filters.for_dates(date(2026, 3, 1), END), Filters.for_dates(date(2026, 3, 20), END, tz="Asia/Kolkata")]
    rules = {f"rule_{rule.name}": call for rule, call in zip(recorded_rules(), _rule_queries().values())
             if rule.name == "ServiceDown"}
    with logs.recording() as records:
        alerts.rule_history(engine, schema, sets[0], rule)
        alerts.rule_history(engine, schema, Filters(datetime(2026, 3, 30, 6), datetime(2026, 3, 30, 14)),
                            rule)  # eight hours: minute chart buckets
    assert [r["path"] for r in records] == ["rule records + raw",
                                            "raw (chart buckets finer than the rule records or off their grain)"]
    _check_all(engine, sets, queries=rules)
    # Three failed checks a minute beside the one that passed: 25 % up, for five minutes.
    down = [{"timestamp": datetime(2026, 3, 18, 4, 58, k) + timedelta(minutes=i), "service": "ai-service",
             "status": "down", "latency_ms": 5000.0} for i in range(5) for k in range(3)]
    before = alerts.rule_history(engine, schema, sets[0], rule).alerts
    insert(engine, "service_health", down)
    with logs.recording() as records:
        pending = alerts.rule_history(engine, schema, sets[0], rule).alerts
    assert [r["path"] for r in records] == ["raw (late service rows pending)"]
    assert len(pending) == len(before) + 1
    _check_all(engine, sets, queries=rules)
    report = rollups.refresh(engine, now=NOW)
    assert report.rules.late_hours == 3  # 04:00 and 05:00, and 06:00 whose windows reach back
    with logs.recording() as records:
        assert alerts.rule_history(engine, schema, sets[0], rule).alerts == pending
    assert [r["path"] for r in records] == ["rule records + raw"]
    _check_all(engine, sets, queries=rules)


def test_service_rows_written_late_read_raw_until_the_refresh_keeps_them(rolled_engine):
    """Odd calls, checks, samples and NPS responses written late into kept hours: no integration,
    no status, no or negative latency, under a millisecond, an integration named "unknown", a
    quota; a service whose run of "down" starts mid-hour, two checks at its latest time, a check
    with no status; samples with values out of range, a new service, a range's last sample with
    little valid; responses below. The integrations, service status, uptime, SLA, system and NPS
    tables, tiles and reviews equal the raw path before the refresh (those hours read raw) and
    after it (kept again)."""
    engine = rolled_engine
    sets = [Filters.for_dates(date(2026, 3, 1), date(2026, 3, 18)),
            Filters.for_dates(date(2026, 3, 17), date(2026, 3, 18), tz="Asia/Kathmandu"),
            Filters(datetime(2026, 3, 16, 22, 10), datetime(2026, 3, 18, 5, 50), tz="Europe/Berlin")]
    queries = {name: call for name, call in _queries().items() if name in SERVICE_QUERIES}
    _check_all(engine, sets, queries=queries)
    at = datetime(2026, 3, 18, 4, 10)
    calls = [{"integration": None, "status_code": None, "latency_ms": None},
             {"integration": "unknown", "status_code": 200, "latency_ms": 0.3, "quota_used": 5, "quota_limit": 10},
             {"integration": "payments-api", "status_code": 408, "latency_ms": -1.0, "auth_failed": True},
             {"integration": "crm-webhook", "kind": "webhook", "status_code": 200, "latency_ms": 0.0},
             {"integration": "payments-api", "status_code": 200, "latency_ms": 98765.4, "quota_used": 990,
              "quota_limit": 1000}]
    insert(engine, "integration_calls", [{"timestamp": at + timedelta(minutes=7 * i), **row}
                                         for i, row in enumerate(calls)])
    checks = [{"timestamp": datetime(2026, 3, 18, 4, 20, 30) + timedelta(minutes=i), "service": "billing-service",
               "status": "up" if i < 3 else "down", "latency_ms": 30.0 + i} for i in range(12)]
    checks += [{"timestamp": datetime(2026, 3, 18, 4, 31, 30), "service": "search-service", "status": status,
                "latency_ms": 0.5} for status in ("up", "degraded")]  # two at one time: no run to tell
    checks += [
               {"timestamp": datetime(2026, 3, 18, 4, 40, 5), "service": "ai-service", "status": None,
                "latency_ms": None}]
    insert(engine, "service_health", checks)
    samples = [{"timestamp": datetime(2026, 3, 18, 4, 15), "service": "billing-service", "requests": -5, "errors": 3,
                "cpu_percent": 150.0, "memory_percent": None, "disk_percent": -1.0, "active_sessions": None},
               {"timestamp": datetime(2026, 3, 18, 4, 15), "service": "odd-service", "requests": 10_000_000,
                "errors": -1, "cpu_percent": 99.5, "memory_percent": 0.0, "disk_percent": 100.0,
                "active_sessions": 5000},
               # the Berlin range's last sample: one service, nothing valid but its disk
               {"timestamp": datetime(2026, 3, 18, 4, 49, 30), "service": "odd-service", "requests": None,
                "errors": None, "cpu_percent": -3.0, "memory_percent": None, "disk_percent": 42.5,
                "active_sessions": -2}]
    insert(engine, "system_metrics", samples)
    # NPS responses: a keyword in capitals and without a platform, one in Cyrillic with a score out
    # of range, a word that holds a keyword but is not one, an empty comment, none.
    insert(engine, "nps_responses", [
        {"timestamp": datetime(2026, 3, 18, 4, 12), "platform": None, "score": 2, "comment": "AWFUL, truly"},
        {"timestamp": datetime(2026, 3, 18, 4, 14), "platform": "web", "score": 11, "comment": "Ужасно долго"},
        {"timestamp": datetime(2026, 3, 18, 4, 18), "platform": "web", "score": None, "comment": "awfully good"},
        {"timestamp": datetime(2026, 3, 18, 4, 16), "platform": "telegram", "score": 9, "comment": ""},
        {"timestamp": datetime(2026, 3, 18, 4, 20), "platform": "whatsapp", "score": 6, "comment": None}])
    schema = discover(engine)
    for kept in service_rollups.KEPT:
        assert service_rollups.plan(kept, engine, schema, sets[0]).late == (datetime(2026, 3, 18, 4),)
    _check_all(engine, sets, queries=queries)
    report = rollups.refresh(engine, now=NOW)
    assert report.service_hours == {"integration_calls": 1, "service_health": 1, "system_metrics": 1,
                                    "nps_responses": 1}
    assert all(not service_rollups.plan(kept, engine, schema, sets[0]).late for kept in service_rollups.KEPT)
    _check_all(engine, sets, queries=queries)
    status = operational.service_status(engine, schema, sets[0]).set_index("service")
    assert tuple(status.loc["billing-service", ["status", "since", "whole_range"]]) == (
        "down", pd.Timestamp("2026-03-18 04:23:30"), False)  # a run that began mid-hour, in a kept hour
    runs = operational.status_intervals(engine, schema, sets[0])
    assert runs[runs["service"] == "billing-service"][["status", "checks"]].values.tolist() == [["down", 9]]
    with logs.recording() as records:
        for name in SYSTEM_QUERIES:
            queries[name](engine, schema, sets[0])
    assert {(r["query"], r["path"]) for r in records} == {
        (query, "rollups + raw") for query in ("traffic", "resources", "resources_now", "active_sessions_over_time",
                                               "compute")}
    keywords = load_rules().negative_keywords
    reviews = alerts.review_candidates(engine, schema, sets[0], keywords)
    assert reviews[reviews["timestamp"] >= datetime(2026, 3, 18, 4)][["score", "words"]].values.tolist()[:2] == [
        [2, "awful"], [11, "ужасно"]]  # the word of alerts.yml found, whatever its case
    with logs.recording() as records:
        for name in NPS_QUERIES:
            queries[name](engine, schema, sets[0])
    assert {(r["query"], r["path"]) for r in records} == {
        *((query, "rollups + raw") for query in ("nps_trend", "compute", "nps_comment_count", "review_candidates")),
        ("review_candidates", "raw (words other than the kept ones)")}


def test_a_changed_rule_reads_raw_rows_until_the_refresh_records_it(rolled_engine):
    engine = rolled_engine
    schema = discover(engine)
    rule = replace(next(r for r in load_rules().rules if r.name == "MemoryHigh"), threshold=70.0, clear=68.0)
    march = Filters.for_dates(date(2026, 3, 1), END)
    assert rule_records.recorded_until(engine, schema, rule, march.start)[1] == "rule not recorded yet"
    assert rollups.behind(engine, schema, rollups.read_state(engine).watermark, rules=[rule])
    report = rollups.refresh(engine, now=NOW, rules=[rule])
    assert report.rules.new_rules == 1
    assert not rollups.behind(engine, schema, report.watermark, rules=[rule])
    assert rule_records.recorded_until(engine, schema, rule, march.start)[0] == datetime(2026, 3, 31, 15)
    rolled = _fired(alerts.rule_history(engine, schema, march, rule))
    with plans.raw_reference():
        raw = _fired(alerts.rule_history(engine, schema, march, rule))
    assert len(raw) and (raw["part"] == "alert").any()
    assert_agree(rolled, raw, "MemoryHigh at 70 %")


def _role_owning_only_conversation_metrics(url: str, request) -> str:
    """A login role on ``url``'s database that owns conversation_metrics (and may create tables)
    but only reads system_metrics and service_health, as a team may grant; dropped after the test."""
    role = f"efa_keeper_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(sa.make_url(url), isolation_level="AUTOCOMMIT")

    def drop() -> None:  # the database goes first: the role owns things in it
        admin.dispose()
        server = sa.create_engine(sa.make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with server.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{sa.make_url(url).database}" WITH (FORCE)')
            conn.exec_driver_sql(f"DROP ROLE {role}")
        server.dispose()

    request.addfinalizer(drop)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f"GRANT CREATE ON SCHEMA public TO {role}")
        conn.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        conn.exec_driver_sql(f"ALTER TABLE conversation_metrics OWNER TO {role}")
    return sa.make_url(url).set(username=role, password=None).render_as_string(hide_password=False)


def test_a_role_that_may_not_watch_the_service_tables_still_rolls_up(postgres, request, capsys):
    """Without the right to put triggers on the service tables and nps_responses, the refresh rolls
    up conversation_metrics all the same and leaves the service rules to the raw rows (nothing
    would note their late rows); once an owner has made the triggers, the same role records them."""

    owner_url = postgres.new_database("keeper")
    load(make_engine(owner_url), DemoSpec(days=3, scale=0.05, seed=5, end=END), roll_up=False)
    keeper = make_engine(_role_owning_only_conversation_metrics(owner_url, request))
    report = rollups.refresh(keeper, now=NOW)
    assert report.status == "done" and report.watermark == datetime(2026, 3, 31, 15)
    assert (report.rules.rules, report.rules.unwatched) == (0, ("system_metrics", "service_health"))
    assert report.service_hours == {"integration_calls": 0, "service_health": 0, "system_metrics": 0,
                                    "nps_responses": 0}
    schema = discover(keeper)
    assert not rollups.behind(keeper, schema, report.watermark)  # no refresh started over and over
    rule = next(r for r in load_rules().rules if r.name == "ServiceDown")
    days = Filters.for_dates(date(2026, 3, 30), END)
    with logs.recording() as records:
        history = _fired(alerts.rule_history(keeper, schema, days, rule))
    assert [r["path"] for r in records] == ["raw (rule not recorded yet)"]
    assert service_rollups.plan(service_rollups.INTEGRATIONS, keeper, schema, days).reason == "integration_calls not rolled up"
    with logs.recording() as records:
        messages = kpis.compute_one(keeper, schema, days, "messages")
    assert {r["path"] for r in records} == {"rollups + raw"}  # conversation_metrics' rollups serve
    with plans.raw_reference():
        assert_agree(history, _fired(alerts.rule_history(keeper, schema, days, rule)), "ServiceDown")
        assert messages == kpis.compute_one(keeper, schema, days, "messages")
    assert rollups.main(["status", "--url", keeper.url.render_as_string(hide_password=False)]) == 0
    out = capsys.readouterr().out
    assert "not recorded: no trigger notes late rows in system_metrics, service_health" in out
    assert all(f"{table}: not rolled up" in out for table in ("integration_calls", "service_health", "system_metrics",
                                                             "nps_responses"))

    rollups.refresh(make_engine(owner_url), now=NOW)  # the owner makes the triggers
    report = rollups.refresh(keeper, now=NOW)
    recordable = sum(rule_records.recordable(r) for r in load_rules().rules)
    assert (report.rules.rules, report.rules.unwatched) == (recordable, ())
    for kept in service_rollups.KEPT:  # the owner's triggers watch them too
        assert service_rollups.plan(kept, keeper, discover(keeper), days).rolled, kept.raw
    assert rule_records.recorded_until(keeper, schema, rule, days.start)[0] == datetime(2026, 3, 31, 15)


def test_refresh_command_line(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    load(make_engine(url), DemoSpec(days=2, scale=0.05, seed=1), roll_up=False)
    assert rollups.main(["refresh", "--url", url]) == 0
    assert "rollups built" in capsys.readouterr().out
    assert rollups.main(["refresh", "--url", url]) == 0
    assert "rollups refreshed" in capsys.readouterr().out
    assert rollups.main(["status", "--url", url]) == 0
    out = capsys.readouterr().out
    assert "ready" in out
    recordable = sum(rule_records.recordable(r) for r in load_rules().rules)
    assert f"alert rules recorded: {recordable} of {recordable} " in out and "0 late service hour(s)" in out
    assert "integration_calls: hours before " in out and "service_health: hours before " in out
    assert rollups.main(["refresh", "--url", f"sqlite:///{tmp_path / 'missing' / 'x.sqlite'}"]) != 0
    assert "Traceback" not in capsys.readouterr().err


def test_pages_say_while_a_first_build_runs_and_answer_from_raw_rows(monkeypatch, tmp_path):
    from dashboard import rollup_upkeep
    from tests.apptest import page_text, run_app

    url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    load(make_engine(url), DemoSpec(days=3, scale=0.05, seed=2), roll_up=False)
    release, started = threading.Event(), threading.Event()
    real_refresh = rollups.refresh

    def slow_refresh(engine, **kwargs):
        started.set()
        release.wait(30)
        return real_refresh(engine, **kwargs)

    monkeypatch.setattr(rollups, "refresh", slow_refresh)
    monkeypatch.setattr(rollup_upkeep, "_upkeep", {})
    at = run_app(monkeypatch, url)
    assert started.wait(10)
    assert "rollups for this database in the background" in page_text(at)
    assert not at.exception and at.metric  # the tiles, from the raw rows
    release.set()
    engine = make_engine(url)
    for _ in range(200):
        state = rollups.read_state(engine) if discover(engine).has_table(rollups.STATE) else None
        if state is not None and state.status == "ready":
            break
        time.sleep(0.1)
    assert rollups.read_state(engine).status == "ready"
    engine.dispose()


def test_pages_say_when_a_later_refresh_runs_long():
    """A first build is "building"; a later refresh is news to the pages only once it has run
    longer than an hour's refresh takes (``SLOW_AFTER_SECONDS``), and none once it is done."""
    from dashboard import rollup_upkeep

    release = threading.Event()
    thread = threading.Thread(target=release.wait, args=(30,), daemon=True)
    thread.start()
    try:
        upkeep = rollup_upkeep._Upkeep(thread=thread, first_build=False, started=100.0)
        assert rollup_upkeep._state(upkeep, 100.0 + rollup_upkeep.SLOW_AFTER_SECONDS / 2) is None
        assert rollup_upkeep._state(upkeep, 100.0 + rollup_upkeep.SLOW_AFTER_SECONDS + 1) == "slow"
        assert rollup_upkeep._state(rollup_upkeep._Upkeep(thread=thread, first_build=True, started=100.0), 100.0) == "building"
    finally:
        release.set()
        thread.join()
    assert rollup_upkeep._state(upkeep, 1e9) is None
