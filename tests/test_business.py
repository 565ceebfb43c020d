"""The Business page's queries against values worked out by hand (dataset: tests/test_kpis.py)."""

from __future__ import annotations

import math
from datetime import date, datetime

import pandas as pd
import pytest

from data_access import business, kpis
from data_access.filters import Filters
from data_access.schema import discover
from tests.conftest import insert
from tests.test_kpis import MESSAGES, NPS, RANGE, message


@pytest.fixture
def business_data(engine):
    insert(engine, "conversation_metrics", MESSAGES)
    insert(engine, "nps_responses", NPS)
    return engine, discover(engine)


def records(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    def clean(v):
        if isinstance(v, float) and math.isnan(v):
            return None
        return round(v, 6) if isinstance(v, float) else v
    return [tuple(clean(v) for v in row) for row in frame[columns].itertuples(index=False)]


def test_intent_breakdown(business_data):
    frame = business.breakdown(*business_data, RANGE, "intent")
    assert records(frame, ["intent", "messages", "dialogs", "ratings", "csat", "avg_rating", "escalation_rate",
                           "resolution_rate", "conversion_rate"]) == [
        # order_status: A and C; ratings 5 and 4; A resolved and converted
        ("order_status", 3, 2, 2, 100.0, 4.5, 0.0, 50.0, 50.0),
        # pricing: D without a session; its only rating is 7, out of range
        ("pricing", 2, 1, 0, None, None, 0.0, 100.0, 0.0),
        # refund: B; rating 2; escalated and resolved
        ("refund", 2, 1, 1, 0.0, 2.0, 100.0, 100.0, 0.0),
    ]
    assert frame["low_sample"].all()


def test_problem_intents_rank_small_samples_last():
    breakdown = pd.DataFrame({"intent": ["a", "b", "c"], "dialogs": [100, 5, 40],
                              "escalation_rate": [10.0, 80.0, 20.0]})
    ranked = business.problem_intents(breakdown, "escalation_rate", worst_first_ascending=False)
    assert list(ranked["intent"]) == ["c", "a", "b"]  # b has the highest rate but only 5 dialogs
    assert list(ranked["low_sample"]) == [False, False, True]


def test_problem_intents_rank_by_what_they_cost_not_by_rate_alone():
    """x: 1,000 dialogs at 30 %, y: 50 at 50 %, z: 1,000 at 10 %. The average over all is
    (300 + 25 + 100) / 2,050 = 20.73 %; x escalates (30 − 20.73) % × 1,000 = 92.7 dialogs more
    than that, y (50 − 20.73) % × 50 = 14.6, z 107.3 fewer: x ranks first, though y's rate is higher."""
    breakdown = pd.DataFrame({"intent": ["x", "y", "z"], "dialogs": [1000, 50, 1000],
                              "escalation_rate": [30.0, 50.0, 10.0]})
    ranked = business.problem_intents(breakdown, "escalation_rate", worst_first_ascending=False)
    assert list(ranked["intent"]) == ["x", "y", "z"]
    assert list(ranked["impact"].round(1)) == [92.7, 14.6, -107.3]
    # For a rate that should be high (CSAT over ratings), the shortfall: the same numbers mirrored.
    csat = pd.DataFrame({"intent": ["x", "y", "z"], "ratings": [1000, 50, 1000], "csat": [70.0, 50.0, 90.0]})
    ranked = business.problem_intents(csat, "csat", worst_first_ascending=True, sample="ratings")
    assert list(ranked["intent"]) == ["x", "y", "z"] and list(ranked["impact"].round(1)) == [92.7, 14.6, -107.3]


def test_unhappy_dialogs_of_an_intent(business_data):
    """sB (refund, whatsapp, two messages) is rated 2, escalated and resolved; order_status's
    dialogs are rated 5 and 4: none unhappy. Times in the filters' zone (Moscow: UTC+3)."""
    frame = business.unhappy_dialogs(*business_data, RANGE, "refund")
    assert records(frame, ["dialog", "started", "platforms", "messages", "escalated", "resolved", "total"]) == [
        ("sB", pd.Timestamp("2026-11-01 12:00"), "whatsapp", 2, True, True, 1)]
    assert business.unhappy_dialogs(*business_data, RANGE, "order_status").empty
    moscow = Filters.for_dates(date(2026, 11, 1), date(2026, 11, 2), tz="Europe/Moscow")
    assert list(business.unhappy_dialogs(*business_data, moscow, "refund")["started"]) == [pd.Timestamp("2026-11-01 15:00")]


def test_csat_trend(business_data):
    frame = business.csat_trend(*business_data, RANGE, "day")
    assert records(frame, ["bucket", "ratings", "csat", "avg_rating"]) == [
        (pd.Timestamp("2026-11-01"), 2, 50.0, 3.5),   # 5 and 2
        (pd.Timestamp("2026-11-02"), 1, 100.0, 4.0),  # 4; the 7 is left out
    ]


def test_csat_trend_by_platform(business_data):
    frame = business.csat_trend(*business_data, RANGE, "day", by_platform=True)
    assert records(frame, ["bucket", "platform", "ratings", "csat", "avg_rating"]) == [
        (pd.Timestamp("2026-11-01"), "telegram", 1, 100.0, 5.0),
        (pd.Timestamp("2026-11-01"), "whatsapp", 1, 0.0, 2.0),
        (pd.Timestamp("2026-11-02"), "telegram", 1, 100.0, 4.0),
    ]


def test_rating_distribution(business_data):
    frame = business.rating_distribution(*business_data, RANGE)
    assert records(frame, ["score", "ratings"]) == [(2, 1), (4, 1), (5, 1)]


def test_nps_trend(business_data):
    frame = business.nps_trend(*business_data, RANGE, "day")
    assert records(frame, ["bucket", "responses", "promoters", "passives", "detractors", "nps"]) == [
        (pd.Timestamp("2026-11-01"), 2, 2, 0, 0, 100.0),   # 10, 9
        (pd.Timestamp("2026-11-02"), 3, 1, 1, 1, 0.0),     # 9, 7, 3; the 11 is left out
    ]


def test_nps_comments_newest_first_and_detractors_only(business_data):
    frame = business.nps_comments(*business_data, RANGE)
    assert records(frame, ["timestamp", "score", "comment"]) == [
        (pd.Timestamp("2026-11-02 10:00"), 3, "slow"), (pd.Timestamp("2026-11-01 11:00"), 10, "great")]
    only = business.nps_comments(*business_data, RANGE, detractors_only=True)
    assert list(only["comment"]) == ["slow"]
    moscow = business.nps_comments(*business_data, Filters(RANGE.start, RANGE.end, tz="Europe/Moscow"))
    assert moscow["timestamp"].iloc[0] == pd.Timestamp("2026-11-02 13:00")


def test_comment_dialogs_the_same_users_last_message_on_that_platform_within_a_day(business_data):
    frame = business.nps_comments(*business_data, RANGE)
    # "slow" (u6) has no messages; "great" (u1, telegram, 11:00) follows u1's 10:05 message in sA
    assert records(frame, ["comment", "intent", "session_id"]) == [("slow", None, None),
                                                                   ("great", "order_status", "sA")]
    engine, schema = business_data
    comments = pd.DataFrame({
        "timestamp": [datetime(2026, 11, 2, 9, 30), datetime(2026, 11, 1, 12, 5), datetime(2026, 11, 2, 12, 11),
                      datetime(2026, 11, 2, 12, 9), datetime(2026, 11, 2, 15, 0), datetime(2026, 11, 1, 11)],
        "platform": ["telegram", "telegram", "whatsapp", "whatsapp", "web", "whatsapp"],
        "user_id": ["u1", "u2", "u2", "u2", "u3", "u1"]})
    found = business.comment_dialogs(engine, schema, comments)
    assert records(found, ["intent", "session_id"]) == [
        ("order_status", "sC"),  # the latest of u1's telegram messages before 09:30 (sC at 09:00, not sA)
        ("refund", "sZ"),        # u2's telegram dialog of the evening before (its time, not the range, counts)
        (None, None),            # 24 h 1 min after u2's last message: another occasion
        ("refund", "sB"),        # 23 h 59 min after it
        ("pricing", None),       # u3's dialog has no session_id (keyed by user and day): intent, no link
        (None, None),            # u1 has no whatsapp messages
    ]


def test_dialog_outcomes_trend(business_data):
    frame = business.dialog_outcomes_trend(*business_data, RANGE, "day")
    assert records(frame, ["bucket", "dialogs", "conversion_rate", "repeats", "repeat_rate", "resolved",
                           "median_resolution_s", "p90_resolution_s"]) == [
        # A (300 s, converted) and B (600 s; u2's sZ started 12 hours before, the day before the
        # range: a repeat, counted over all the user's dialogs)
        (pd.Timestamp("2026-11-01"), 2, 50.0, 1, 50.0, 2, 450.0, 300 + 0.9 * 300),
        # C (u1 again, 23 h after A: a repeat, never resolved) and D (resolved at once)
        (pd.Timestamp("2026-11-02"), 2, 0.0, 1, 50.0, 1, 0.0, 0.0),
    ]
    assert frame["dialogs"].sum() == kpis.compute_one(*business_data, RANGE, "dialogs").value


def test_median_with_ties(engine):
    # Four dialogs resolved after 60, 60, 60 and 120 s: median 60, p90 at rank 2.7 = 60 + 0.7 × 60.
    rows = []
    for i, seconds in enumerate([60, 60, 60, 120]):
        start = datetime(2026, 11, 1, 10 + i)
        rows.append(message(start, f"t{i}", f"tie{i}", "web", "refund", "gpt-4o", 100, 1, "0.0001"))
        rows.append(message(start.replace(second=0) + pd.Timedelta(seconds=seconds).to_pytimedelta(), f"t{i}",
                            f"tie{i}", "web", "refund", "gpt-4o", 100, 1, "0.0001", resolved=True))
    insert(engine, "conversation_metrics", rows)
    schema = discover(engine)
    assert kpis.compute_one(engine, schema, RANGE, "median_resolution_time").value == pytest.approx(60.0)
    frame = business.dialog_outcomes_trend(engine, schema, RANGE, "day")
    assert records(frame, ["median_resolution_s", "p90_resolution_s"]) == [(60.0, 102.0)]


def test_conversion_by_platform(business_data):
    frame = business.conversion_by_platform(*business_data, RANGE)
    assert records(frame, ["platform", "dialogs", "converted", "conversion_rate"]) == [
        ("telegram", 2, 1, 50.0), ("web", 1, 0, 0.0), ("whatsapp", 1, 0, 0.0)]


def test_resolution_histogram(business_data):
    frame = business.resolution_histogram(*business_data, RANGE)
    assert dict(zip(frame["bin"], frame["dialogs"])) == {
        "< 1 min": 1, "1–2 min": 0, "2–5 min": 0, "5–10 min": 1, "10–30 min": 1, "30–60 min": 0, "1–4 h": 0, "≥ 4 h": 0}


def test_top_repeat_users(business_data):
    frame = business.top_repeat_users(*business_data, RANGE)
    assert records(frame, ["user_id", "dialogs", "repeat_dialogs", "last_dialog"]) == [
        ("u1", 2, 1, pd.Timestamp("2026-11-02 09:00")),
        ("u2", 1, 1, pd.Timestamp("2026-11-01 12:00"))]  # sB: sZ (before the range) 12 hours before


def test_empty_range_gives_empty_frames(business_data):
    empty = Filters.for_dates(date(2025, 1, 1), date(2025, 1, 2))
    assert business.csat_trend(*business_data, empty, "day").empty
    assert business.nps_trend(*business_data, empty, "day").empty
    assert business.dialog_outcomes_trend(*business_data, empty, "day").empty
    assert business.breakdown(*business_data, empty, "intent").empty
    assert business.resolution_histogram(*business_data, empty)["dialogs"].sum() == 0
    assert business.top_repeat_users(*business_data, empty).empty


def test_one_users_and_one_dialogs_messages_in_order(engine):
    day = datetime(2026, 11, 1)
    rows = [message(day.replace(hour=9), "ann", "s1", "web", "refund", "m1", 900, 10, "0.001", escalated=True),
            message(day.replace(hour=8), "ann", "s1", "web", "billing", "m1", 700, 10, "0.001", score=2),
            message(day.replace(hour=10), "ann", "s2", "telegram", "refund", "m2", 500, 10, "0.001", resolved=True),
            message(day.replace(hour=11), "bob", "s3", "web", "refund", "m1", 400, 10, "0.001"),
            message(datetime(2026, 11, 5, 9), "ann", "s4", "web", "refund", "m1", 400, 10, "0.001")]  # outside
    insert(engine, "conversation_metrics", rows)
    schema = discover(engine)
    ann = business.messages_of(engine, schema, RANGE, user_id="ann")
    assert list(ann["session_id"]) == ["s1", "s1", "s2"] and list(ann["intent"]) == ["billing", "refund", "refund"]
    assert list(ann["response_time_ms"]) == [700, 900, 500] and ann["escalated"].tolist() == [False, True, False]
    assert ann["satisfaction_score"].iloc[0] == 2 and pd.isna(ann["satisfaction_score"].iloc[1])
    dialog = business.messages_of(engine, schema, RANGE, session_id="s1")
    assert len(dialog) == 2 and set(dialog["platform"]) == {"web"}
    assert len(business.messages_of(engine, schema, RANGE, user_id="ann", session_id="s2")) == 1
    assert business.messages_of(engine, schema, RANGE, user_id="x' OR '1'='1").empty  # a bound value
    with pytest.raises(ValueError):
        business.messages_of(engine, schema, RANGE, user_id="u" * 201)
    with pytest.raises(ValueError):
        business.messages_of(engine, schema, RANGE)
