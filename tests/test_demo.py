"""The demo generator: deterministic, realistic in shape, and with its incidents planted."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from data_access import kpis
from data_access.demo import DemoSpec, generate, load, main
from data_access.filters import Filters
from data_access.schema import discover

SPEC = DemoSpec(days=35, scale=0.1, seed=11, end=date(2026, 11, 26))


def first_week_digest(spec):
    _, chunks = next(generate(spec))
    return {table: (len(cols["timestamp"]), str(cols["timestamp"][:3])) for table, cols in chunks}


def test_same_seed_same_data_other_seed_other_data():
    assert first_week_digest(SPEC) == first_week_digest(SPEC)
    assert first_week_digest(SPEC) != first_week_digest(DemoSpec(35, 0.1, 12, SPEC.end))


@pytest.fixture(scope="module")
def demo_engine(tmp_path_factory):
    from data_access.engine import make_engine

    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('gen') / 'd.sqlite'}")
    counts = load(eng, SPEC)
    assert all(counts[t] > 0 for t in counts), counts
    yield eng
    eng.dispose()


def day(n_before):
    d = SPEC.end - timedelta(days=n_before)
    return Filters.for_dates(d, d)


def kpi(engine, filters, key):
    return kpis.compute_one(engine, discover(engine), filters, key).value


def test_rows_span_the_requested_days(demo_engine):
    with demo_engine.connect() as conn:
        lo, hi = conn.exec_driver_sql('SELECT MIN("timestamp"), MAX("timestamp") FROM conversation_metrics').one()
    assert lo.startswith(str(SPEC.first_day())) and hi.startswith(str(SPEC.end))


def test_weekends_are_quieter_than_weekdays(demo_engine):
    weekday = kpi(demo_engine, Filters.for_dates(date(2026, 11, 16), date(2026, 11, 20)), "messages") / 5
    weekend = kpi(demo_engine, Filters.for_dates(date(2026, 11, 21), date(2026, 11, 22)), "messages") / 2
    assert weekend < 0.85 * weekday


def test_planted_incidents(demo_engine):
    # Error spike: conversation-service at D-4 09:00–10:30.
    spike = Filters(datetime.combine(SPEC.end - timedelta(days=4), datetime.min.time()) + timedelta(hours=9),
                    datetime.combine(SPEC.end - timedelta(days=4), datetime.min.time()) + timedelta(hours=10))
    assert kpi(demo_engine, spike, "error_rate") > 2 * kpi(demo_engine, day(20), "error_rate")
    # API down on D-7 and the integration outage on D-10 lower uptime those days.
    assert kpi(demo_engine, day(7), "uptime") < 100 and kpi(demo_engine, day(10), "uptime") < 100
    # CSAT dip from D-30 to D-24.
    dip = Filters.for_dates(SPEC.end - timedelta(days=30), SPEC.end - timedelta(days=24))
    normal = Filters.for_dates(SPEC.end - timedelta(days=21), SPEC.end - timedelta(days=16))
    assert kpi(demo_engine, dip, "csat") < kpi(demo_engine, normal, "csat") - 5
    # Escalation surge for refunds from D-15 to D-13.
    surge = Filters.for_dates(SPEC.end - timedelta(days=15), SPEC.end - timedelta(days=13), intents=("refund",))
    calm = Filters.for_dates(SPEC.end - timedelta(days=12), SPEC.end - timedelta(days=5), intents=("refund",))
    assert kpi(demo_engine, surge, "escalation_rate") > 1.5 * kpi(demo_engine, calm, "escalation_rate")
    # The database's disk fills up over the last days.
    with demo_engine.connect() as conn:
        disk = conn.exec_driver_sql("SELECT MAX(disk_percent) FROM system_metrics WHERE service = 'database' "
                                    "AND \"timestamp\" >= ?", (str(SPEC.end),)).scalar()
    assert disk > 85


def test_models_differ_in_latency_and_cost(demo_engine):
    f = Filters.for_dates(SPEC.first_day(), SPEC.end)
    by_model = {m: kpi(demo_engine, Filters(f.start, f.end, models=(m,)), "avg_response_time")
                for m in ("gpt-4o", "gpt-4o-mini", "claude-3-haiku")}
    assert by_model["gpt-4o"] > by_model["claude-3-haiku"] > by_model["gpt-4o-mini"]


def test_command_line(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    assert main(["--days", "3", "--scale", "0.02", "--url", url, "--end", "2026-11-01"]) == 0
    assert "conversation_metrics" in capsys.readouterr().out
    with sa.create_engine(url).connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM nps_responses").scalar() >= 0
    with pytest.raises(SystemExit):
        main(["--days", "0"])


def test_loads_into_postgresql(postgres):
    from data_access.engine import make_engine

    eng = make_engine(postgres.new_database("demo_pg"))
    counts = load(eng, DemoSpec(days=3, scale=0.05, seed=1, end=date(2026, 11, 1)))
    with eng.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM conversation_metrics").scalar() == counts["conversation_metrics"]
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM conversation_metrics WHERE helpful IS NULL").scalar() > 0
    eng.dispose()
