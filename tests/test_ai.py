"""The AI performance page's queries against values worked out by hand (dataset: tests/test_kpis.py)."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from data_access import ai, business
from data_access.schema import discover
from tests.conftest import insert
from tests.test_business import records
from tests.test_kpis import MESSAGES, RANGE

D1, D2 = pd.Timestamp("2026-11-01"), pd.Timestamp("2026-11-02")


@pytest.fixture
def ai_data(engine):
    insert(engine, "conversation_metrics", MESSAGES)
    return engine, discover(engine)


def test_latency_percentiles_per_model(ai_data):
    frame = ai.latency_percentiles(*ai_data, RANGE, "day")
    assert records(frame, ["bucket", "model", "messages", "p50", "p95", "p99"]) == [
        (D1, "gpt-4o", 2, 1500.0, 1950.0, 1990.0),          # 1000, 2000
        (D1, "gpt-4o-mini", 2, 3500.0, 3950.0, 3990.0),     # 3000, 4000
        (D2, "claude-3-haiku", 1, 10000.0, 10000.0, 10000.0),  # the -5 ms is left out
        (D2, "gpt-4o", 1, 500.0, 500.0, 500.0),
    ]


def test_latency_histogram(ai_data):
    frame = ai.latency_histogram(*ai_data, RANGE)
    assert records(frame, ["model", "bin_label", "messages", "share"]) == [
        ("claude-3-haiku", "≥ 10 s", 1, 100.0),
        ("gpt-4o", "0.5–1 s", 1, round(100 / 3, 6)), ("gpt-4o", "1–2 s", 1, round(100 / 3, 6)),
        ("gpt-4o", "2–3 s", 1, round(100 / 3, 6)),
        ("gpt-4o-mini", "3–5 s", 2, 100.0),
    ]


def test_accuracy(ai_data):
    assert records(ai.accuracy_trend(*ai_data, RANGE, "day"), ["bucket", "labelled", "correct", "accuracy"]) == [
        (D1, 2, 1, 50.0), (D2, 1, 1, 100.0)]
    assert records(ai.accuracy_by_intent(*ai_data, RANGE), ["intent", "labelled", "correct", "accuracy"]) == [
        ("order_status", 3, 2, round(200 / 3, 6))]


def test_confusion(ai_data):
    pairs = ai.confusion_pairs(*ai_data, RANGE)
    assert records(pairs, ["expected", "recognised", "rows"]) == [("order_status", "order_status", 2),
                                                                   ("order_status", "refund", 1)]
    matrix = ai.confusion_matrix(pairs)
    assert matrix.index.tolist() == ["order_status", "other"] == matrix.columns.tolist()
    assert matrix.values.tolist() == [[2, 1], [0, 0]]


def test_confusion_matrix_folds_the_tail_into_other():
    pairs = pd.DataFrame({"expected": ["a", "a", "b", "c", "c", "d"], "recognised": ["a", "b", "b", "c", "a", "x"],
                          "rows": [10, 2, 5, 4, 1, 3]})
    matrix = ai.confusion_matrix(pairs, top=2)  # a (12 labelled) and b (5); c (5) and d (3) fold
    assert matrix.index.tolist() == ["a", "b", "other"]
    assert matrix.values.tolist() == [[10, 2, 0], [0, 5, 0], [1, 0, 7]]
    assert matrix.values.sum() == pairs["rows"].sum()


def test_calibration(ai_data):
    frame = ai.calibration(*ai_data, RANGE)
    assert list(frame["bucket"]) == ["0.0–0.5", "0.5–0.6", "0.6–0.7", "0.7–0.8", "0.8–0.9", "0.9–1.0"]
    last = frame.iloc[-1]  # every test message has confidence 0.9
    assert (last["messages"], last["labelled"], last["correct"], last["share"]) == (7, 3, 2, 100.0)
    assert last["accuracy"] == pytest.approx(200 / 3) and last["mean_confidence"] == pytest.approx(0.9)
    assert frame["messages"].iloc[:-1].sum() == 0 and frame["accuracy"].iloc[:-1].isna().all()


def test_helpful_trend(ai_data):
    assert records(ai.helpful_trend(*ai_data, RANGE, "day"), ["bucket", "model", "voted", "helpful_share"]) == [
        (D1, "gpt-4o", 1, 100.0), (D1, "gpt-4o-mini", 1, 0.0), (D2, "claude-3-haiku", 1, 100.0), (D2, "gpt-4o", 1, 100.0)]


def test_usage_by_model_is_exact(ai_data):
    frame = ai.usage_by_model(*ai_data, RANGE, "day")
    assert records(frame, ["bucket", "model", "messages", "tokens", "cost", "cost_per_message"]) == [
        (D1, "gpt-4o", 2, 300, Decimal("0.0030"), Decimal("0.0015")),
        (D1, "gpt-4o-mini", 2, 700, Decimal("0.0070"), Decimal("0.0035")),
        (D2, "claude-3-haiku", 2, 1010, Decimal("0.0101"), Decimal("0.0051")),  # 0.00505, half up
        (D2, "gpt-4o", 1, 50, Decimal("0.0005"), Decimal("0.0005")),
    ]
    assert sum(frame["cost"]) == Decimal("0.0206")


def test_cost_tied_to_outcomes_per_model(ai_data):
    frame = ai.cost_outcomes(*ai_data, RANGE, "ai_model")
    assert records(frame, ["ai_model", "dialogs", "cost", "cost_per_dialog", "cost_per_resolved",
                           "cost_per_conversion", "cost_per_escalated"]) == [
        ("claude-3-haiku", 1, Decimal("0.0101"), Decimal("0.0101"), Decimal("0.0101"), None, None),
        # A and C: $0.0035 for two dialogs, one resolved and converted
        ("gpt-4o", 2, Decimal("0.0035"), Decimal("0.0018"), Decimal("0.0035"), Decimal("0.0035"), None),
        ("gpt-4o-mini", 1, Decimal("0.0070"), Decimal("0.0070"), Decimal("0.0070"), None, Decimal("0.0070")),
    ]


def test_cost_tied_to_outcomes_per_platform(ai_data):
    frame = ai.cost_outcomes(*ai_data, RANGE, "platform")
    assert records(frame, ["platform", "dialogs", "cost"]) == [
        ("telegram", 2, Decimal("0.0035")), ("web", 1, Decimal("0.0101")), ("whatsapp", 1, Decimal("0.0070"))]


def test_model_breakdown(ai_data):
    frame = business.breakdown(*ai_data, RANGE, "ai_model")
    assert records(frame, ["ai_model", "messages", "avg_response_ms", "p95_response_ms", "intent_accuracy",
                           "helpful_share", "escalation_rate", "tokens", "cost"]) == [
        ("gpt-4o", 3, round(3500 / 3, 6), 1900.0, 100.0, 100.0, 0.0, 350, Decimal("0.0035")),
        ("claude-3-haiku", 2, 10000.0, 10000.0, None, 100.0, 0.0, 1010, Decimal("0.0101")),
        ("gpt-4o-mini", 2, 3500.0, 3950.0, 0.0, 0.0, 100.0, 700, Decimal("0.0070")),
    ]


def test_seed_only_table(seed_only_for_queries):
    engine, schema = seed_only_for_queries
    assert ai.latency_percentiles(engine, schema, RANGE, "day")["model"].unique().tolist() == ["(all)"]
    frame = ai.cost_outcomes(engine, schema, RANGE, "ai_model")
    assert frame["cost_per_escalated"].isna().all() and frame["cost_per_conversion"].isna().all()
    assert frame["cost_per_resolved"].notna().all()
    assert ai.calibration(engine, schema, RANGE)["accuracy"].isna().all()
    breakdown = business.breakdown(engine, schema, RANGE, "intent")
    assert breakdown["intent_accuracy"].isna().all() and breakdown["helpful_share"].isna().all()


def test_latest_escalations_newest_first_with_their_dialog(ai_data):
    frame = ai.latest_escalations(*ai_data, RANGE)
    assert records(frame, ["timestamp", "session_id", "user_id", "platform", "intent"]) == [
        (pd.Timestamp("2026-11-01 12:00"), "sB", "u2", "whatsapp", "refund")]  # the only hand-over
    assert ai.latest_escalations(*ai_data, RANGE, limit=0).empty
