"""The result cache the replicas share through Redis (dashboard/result_cache.py): frames cross as
Arrow, never as pickles; a page computed by one process is drawn by another from Redis without
running its queries; an import invalidates; Redis away costs nothing but speed. A real Redis is
required under CI=true (127.0.0.1:6379, or EASYFLOW_TEST_REDIS)."""

from __future__ import annotations

import pickle
from datetime import datetime
from decimal import Decimal

import pandas as pd
import pytest

from dashboard import result_cache
from tests.apptest import assert_clean, open_page, run_app, tiles
from tests.services import free_port



SECRET = "result-cache-tests-secret"


@pytest.fixture(autouse=True)
def cache_secret(monkeypatch):
    monkeypatch.setenv("EASYFLOW_CACHE_SECRET", SECRET)


def test_frames_cross_as_arrow_exactly():
    frame = pd.DataFrame({"bucket": pd.to_datetime(["2026-11-01 10:00", "2026-11-01 11:00"]),
                          "platform": ["web", None], "cost": [Decimal("0.0123"), None],
                          "resolved": [True, None], "n": [3, 4], "share": [0.5, float("nan")]})
    back = result_cache.from_arrow(result_cache.to_arrow(frame))
    assert list(back.columns) == list(frame.columns)
    assert list(back["cost"]) == [Decimal("0.0123"), None]
    assert back["platform"].equals(frame["platform"]) and back["resolved"].tolist() == [True, None]
    assert back["bucket"].tolist() == frame["bucket"].tolist() and back["n"].tolist() == [3, 4]
    assert result_cache.to_arrow(pd.DataFrame({"mixed": [1, "a"]})) is None  # not shared, not broken
    assert result_cache.to_arrow({"rows": 3}) is None


def test_a_pickle_in_redis_is_never_run(tmp_path):
    class Planted:
        def __reduce__(self):
            return (open, (str(tmp_path / "ran"), "w"))

    assert result_cache.from_arrow(pickle.dumps(Planted())) is None
    assert not (tmp_path / "ran").exists()


def test_redis_away_computes_here_and_says_so_once():
    from structlog.testing import capture_logs

    from data_access import logs

    logs.configure()  # configured before the capture, which then stands in for its output
    cache = result_cache.SharedCache(f"redis://127.0.0.1:{free_port()}/0", ttl_seconds=60, secret=b"k")
    computed = []
    with capture_logs() as logged:
        for _ in range(3):
            frame = cache.fetch("q", ("q",), lambda: computed.append(1) or pd.DataFrame({"a": [1]}), "db")
            assert frame["a"].tolist() == [1]
    assert len(computed) == 3
    assert [e["event"] for e in logged].count("shared_cache_unavailable") == 1


def test_one_process_computes_the_other_draws_from_redis_and_an_import_invalidates(monkeypatch, redis_url,
                                                                                  sqlite_demo_url):
    import streamlit as st

    from dashboard import data

    monkeypatch.setenv("EASYFLOW_REDIS_URL", redis_url)
    st.cache_data.clear()
    first = open_page(run_app(monkeypatch, sqlite_demo_url, {"debug": "1", "range": "90d"}), "business")
    st.cache_data.clear()  # another replica: nothing in its own cache
    second = open_page(run_app(monkeypatch, sqlite_demo_url, {"debug": "1", "range": "90d"}), "business")
    assert_clean(second)
    assert tiles(second) == tiles(first)
    queries = second.dataframe[-1].value
    shared = queries[queries["path"] == result_cache.SHARED_PATH]
    assert {"breakdown", "kpis", "dialog_outcomes_trend"} <= set(shared["query"])
    ran = set(queries[queries["path"] != result_cache.SHARED_PATH]["query"])
    assert not ran & set(shared["query"])  # no SQL for those

    data.note_import(sqlite_demo_url, datetime(2026, 1, 1), datetime(2026, 1, 2))  # any write: a new generation
    st.cache_data.clear()
    third = open_page(run_app(monkeypatch, sqlite_demo_url, {"debug": "1", "range": "90d"}), "business")
    queries = third.dataframe[-1].value
    assert "breakdown" in set(queries[queries["path"] != result_cache.SHARED_PATH]["query"])  # asked again


@pytest.mark.parametrize("page", ["overview", "operational", "business", "ai_performance", "alerts", "sla",
                                  "reports", "export"])
def test_every_page_draws_the_same_from_redis(monkeypatch, redis_url, sqlite_demo_url, page):
    import streamlit as st

    monkeypatch.setenv("EASYFLOW_REDIS_URL", redis_url)
    st.cache_data.clear()
    computed = run_app(monkeypatch, sqlite_demo_url, {"range": "90d"})
    computed = open_page(computed, page) if page != "overview" else computed
    st.cache_data.clear()
    served = run_app(monkeypatch, sqlite_demo_url, {"range": "90d"})
    served = open_page(served, page) if page != "overview" else served
    assert_clean(served)
    measured_now = ("Database round trip",)  # a live measurement, not a cached result
    assert ({k: v for k, v in tiles(served).items() if k not in measured_now}
            == {k: v for k, v in tiles(computed).items() if k not in measured_now})
    assert [h.value for h in served.header] == [h.value for h in computed.header]


def test_redis_stopped_pages_still_render(monkeypatch, sqlite_demo_url):
    import streamlit as st

    monkeypatch.setenv("EASYFLOW_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    st.cache_data.clear()
    at = open_page(run_app(monkeypatch, sqlite_demo_url, {"range": "90d"}), "business")
    assert_clean(at)
    assert tiles(at)["Dialogs"] != "—"


def test_a_tampered_entry_is_ignored_logged_and_computed_here(redis_url):
    import redis
    from structlog.testing import capture_logs

    from data_access import logs

    logs.configure()
    cache = result_cache.SharedCache(redis_url, ttl_seconds=60, secret=SECRET.encode())
    honest = pd.DataFrame({"csat": [81.5]})
    assert cache.fetch("kpis", ("kpis",), lambda: honest, "db")["csat"].tolist() == [81.5]
    client = redis.Redis.from_url(redis_url)
    [key] = client.keys(result_cache.PREFIX + "*[0-9a-f]")
    stored = client.get(key)
    forged = result_cache.to_arrow(pd.DataFrame({"csat": [99.9]}))
    for planted in (stored[: result_cache.SIGNATURE_BYTES] + forged, forged, b""):  # kept signature; none
        client.set(key, planted)
        with capture_logs() as logged:
            shown = cache.fetch("kpis", ("kpis",), lambda: honest, "db")
        assert shown["csat"].tolist() == [81.5]
        assert not planted or [e["event"] for e in logged] == ["shared_cache_entry_refused"]
    other = result_cache.SharedCache(redis_url, ttl_seconds=60, secret=b"another deployment")
    assert other.get(key.decode().removeprefix(result_cache.PREFIX)) is None  # signed with another secret


def test_no_secret_no_sharing(monkeypatch, redis_url):
    monkeypatch.delenv("EASYFLOW_CACHE_SECRET")
    monkeypatch.setenv("EASYFLOW_REDIS_URL", redis_url)
    assert result_cache.shared(60) is None
    assert result_cache.shared(60, {"auth": {"cookie_secret": "shared by the replicas"}}) is not None


def test_look_alike_urls_of_different_databases_never_share(tmp_path, monkeypatch, sqlite_demo_url, postgres):
    import shutil

    from data_access.engine import make_engine

    identities = []
    for folder in ("a", "b"):  # the same URL text, two files: two deployments' working folders
        (tmp_path / folder).mkdir()
        shutil.copy(sqlite_demo_url.removeprefix("sqlite:///"), tmp_path / folder / "metrics.sqlite")
        monkeypatch.chdir(tmp_path / folder)
        engine = make_engine("sqlite:///metrics.sqlite")
        identities.append(result_cache.database_id("sqlite:///metrics.sqlite", result_cache.database_identity(engine)))
        engine.dispose()
    assert identities[0] != identities[1]
    url = postgres.new_database("identity")
    engine = make_engine(url)
    identity = result_cache.database_identity(engine)
    engine.dispose()
    kind, system, name = identity.split(":")
    assert kind == "postgresql" and system.isdigit() and name == engine.url.database
