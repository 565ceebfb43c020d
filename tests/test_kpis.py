"""Every contract KPI against a value worked out by hand, on SQLite and on PostgreSQL.

The dataset (``small_dataset``) is small enough to check on paper:

Range 2026-11-01 … 2026-11-02 (UTC). Four dialogs inside it:
  A  session sA, user u1, telegram, gpt-4o   10:00 (1000 ms, 100 tok, $0.0010, helpful, labelled right)
                                             10:05 (2000 ms, 200 tok, $0.0020, score 5, resolved, converted)
  B  session sB, user u2, whatsapp, mini     12:00 (3000 ms, 300 tok, $0.0030, unhelpful, escalated, labelled wrong)
                                             12:10 (4000 ms, 400 tok, $0.0040, score 2, resolved)
  C  session sC, user u1, telegram, gpt-4o   11-02 09:00 (500 ms, 50 tok, $0.0005, score 4, helpful, labelled right)
  D  no session, user u3, web, claude        11-02 15:00 (10000 ms, 1000 tok, $0.0100, score 7 = invalid, helpful, resolved)
                                             11-02 15:01 (-5 ms = invalid, 10 tok, $0.0001, resolved)
Outside: u2 on 10-31 23:59:59 (so B is no repeat within the filtered rows) and 11-03 00:00:00.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from data_access import dialogs, kpis
from data_access.filters import Filters
from data_access.schema import discover
from tests.conftest import insert

RANGE = Filters.for_dates(date(2026, 11, 1), date(2026, 11, 2))


def message(ts, user, session, platform, intent, model, rt, tokens, cost, score=None, helpful=None,
            resolved=False, escalated=False, converted=False, expected=None):
    return {"timestamp": ts, "user_id": user, "session_id": session, "platform": platform,
            "intent": intent, "expected_intent": expected, "confidence": 0.9, "response_time_ms": rt,
            "tokens_used": tokens, "cost_usd": Decimal(cost), "ai_model": model,
            "satisfaction_score": score, "helpful": helpful, "resolved": resolved,
            "escalated": escalated, "converted": converted}


MESSAGES = [
    message(datetime(2026, 11, 1, 10, 0), "u1", "sA", "telegram", "order_status", "gpt-4o", 1000, 100, "0.0010",
            helpful=True, expected="order_status"),
    message(datetime(2026, 11, 1, 10, 5), "u1", "sA", "telegram", "order_status", "gpt-4o", 2000, 200, "0.0020",
            score=5, resolved=True, converted=True),
    message(datetime(2026, 11, 1, 12, 0), "u2", "sB", "whatsapp", "refund", "gpt-4o-mini", 3000, 300, "0.0030",
            helpful=False, escalated=True, expected="order_status"),
    message(datetime(2026, 11, 1, 12, 10), "u2", "sB", "whatsapp", "refund", "gpt-4o-mini", 4000, 400, "0.0040",
            score=2, resolved=True),
    message(datetime(2026, 11, 2, 9, 0), "u1", "sC", "telegram", "order_status", "gpt-4o", 500, 50, "0.0005",
            score=4, helpful=True, expected="order_status"),
    message(datetime(2026, 11, 2, 15, 0), "u3", None, "web", "pricing", "claude-3-haiku", 10000, 1000, "0.0100",
            score=7, helpful=True, resolved=True),
    message(datetime(2026, 11, 2, 15, 1), "u3", None, "web", "pricing", "claude-3-haiku", -5, 10, "0.0001",
            resolved=True),
    # outside the range
    message(datetime(2026, 10, 31, 23, 59, 59), "u2", "sZ", "telegram", "refund", "gpt-4o", 100, 10, "0.0001"),
    message(datetime(2026, 11, 3, 0, 0, 0), "u1", "sY", "telegram", "refund", "gpt-4o", 100, 10, "0.0001"),
]

NPS = [
    {"timestamp": datetime(2026, 11, 1, 11), "user_id": "u1", "platform": "telegram", "score": 10, "comment": "great"},
    {"timestamp": datetime(2026, 11, 1, 13), "user_id": "u2", "platform": "whatsapp", "score": 9, "comment": None},
    {"timestamp": datetime(2026, 11, 2, 8), "user_id": "u4", "platform": "telegram", "score": 9, "comment": None},
    {"timestamp": datetime(2026, 11, 2, 9), "user_id": "u5", "platform": "web", "score": 7, "comment": None},
    {"timestamp": datetime(2026, 11, 2, 10), "user_id": "u6", "platform": "telegram", "score": 3, "comment": "slow"},
    {"timestamp": datetime(2026, 11, 2, 11), "user_id": "u7", "platform": "web", "score": 11, "comment": None},
    {"timestamp": datetime(2026, 11, 3, 1), "user_id": "u8", "platform": "web", "score": 0, "comment": None},
]


def sample(minute, service, requests, errors, sessions, cpu=50.0, memory=60.0, disk=70.0):
    return {"timestamp": datetime(2026, 11, 1, 10, minute), "service": service, "requests": requests,
            "errors": errors, "cpu_percent": cpu, "memory_percent": memory, "disk_percent": disk,
            "active_sessions": sessions}


# At the latest sample (10:02) service a has CPU 35, memory 91, disk 40 and b has CPU 20,
# memory 101 (out of range: ignored), disk 86; earlier samples peak higher and do not count.
SYSTEM = [sample(0, "a", 60, 0, 5, cpu=99.0), sample(0, "b", 120, 3, None),
          sample(1, "a", 180, 6, 7), sample(1, "b", 60, 0, None, disk=99.0),
          sample(2, "a", 0, 0, 2, cpu=35.0, memory=91.0, disk=40.0),
          sample(2, "b", 30, 1, 1, cpu=20.0, memory=101.0, disk=86.0)]

HEALTH = [{"timestamp": datetime(2026, 11, 1, 10, i), "service": "api", "status": s, "latency_ms": 10.0}
          for i, s in enumerate(["up", "up", "degraded", "down", "rebooting"])]


@pytest.fixture
def small_dataset(engine):
    insert(engine, "conversation_metrics", MESSAGES)
    insert(engine, "nps_responses", NPS)
    insert(engine, "system_metrics", SYSTEM)
    insert(engine, "service_health", HEALTH)
    return engine


# key: (value, n, ignored) worked out by hand from the module docstring's dataset
EXPECTED = {
    "messages": (7, 7, 0),
    "csat": (100 * 2 / 3, 3, 1),                       # 5 and 4 among 5, 2, 4; the 7 is ignored
    "avg_rating": ((5 + 2 + 4) / 3, 3, 1),
    "avg_response_time": ((1000 + 2000 + 3000 + 4000 + 500 + 10000) / 6, 6, 1),
    "p95_response_time": (4000 + 0.75 * (10000 - 4000), 6, 1),  # rank 0.95 × 5 = 4.75
    "intent_accuracy": (100 * 2 / 3, 3, 0),
    "helpful_answers": (75.0, 4, 0),
    "tokens": (2060, 7, 0),
    "cost": (Decimal("0.0206"), 7, 0),
    "dialogs": (4, 4, 0),
    "conversion_rate": (25.0, 4, 0),
    "escalation_rate": (25.0, 4, 0),
    "median_resolution_time": (300.0, 3, 0),          # A 300 s, B 600 s, D 0 s
    "automated_resolution_rate": (50.0, 4, 0),        # A and D; B resolved but escalated, C never resolved
    "first_contact_resolution": (100 * 2 / 3, 3, 0),  # B and D; u1 came back 23 h after A (C)
    "repeat_contact_rate": (50.0, 4, 0),              # C: u1 again 23 h after A; B: u2's sZ 12 h before
    "nps": (100 * (3 - 1) / 5, 5, 1),                 # 10, 9, 9 | 7 | 3; the 11 is ignored
    "avg_rps": (450 / (3 * 60), 3, 0),
    "peak_rps": (240 / 60, 3, 0),
    "error_rate": (100 * 10 / 450, 450, 0),
    "active_sessions": (3, 3, 0),
    "uptime": (75.0, 4, 1),
    "cpu": (35.0, 3, 0),
    "memory": (91.0, 3, 0),
    "disk": (86.0, 3, 0),
}


def test_every_contract_kpi_has_a_hand_computed_case():
    assert set(EXPECTED) == set(kpis.KPIS)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_kpi_matches_hand_computed_value(small_dataset, key):
    result = kpis.compute_one(small_dataset, discover(small_dataset), RANGE, key)
    value, n, ignored = EXPECTED[key]
    if isinstance(value, Decimal):
        assert result.value == value
    else:
        assert result.value == pytest.approx(value, rel=1e-9)
    assert (result.n, result.ignored, result.reason) == (n, ignored, None)


def test_all_kpis_in_one_call_agree_with_one_at_a_time(small_dataset):
    schema = discover(small_dataset)
    together = kpis.compute(small_dataset, schema, RANGE, list(kpis.KPIS))
    for key in kpis.KPIS:
        assert together[key] == kpis.compute_one(small_dataset, schema, RANGE, key)


@pytest.mark.parametrize("key, value, n", [
    ("messages", 3, 3),                 # a1, a2, c1
    ("dialogs", 2, 2),                  # A, C
    ("repeat_contact_rate", 50.0, 2),   # C repeats A
    ("csat", 100.0, 2),                 # 5 and 4
    ("nps", 100 * (2 - 1) / 3, 3),      # telegram: 10, 9, 3
    ("error_rate", 100 * 10 / 450, 450),  # system tables ignore the platform filter
])
def test_platform_filter(small_dataset, key, value, n):
    filters = Filters.for_dates(date(2026, 11, 1), date(2026, 11, 2), platforms=("telegram",))
    result = kpis.compute_one(small_dataset, discover(small_dataset), filters, key)
    assert result.value == pytest.approx(value)
    assert result.n == n


def test_intent_and_model_filters(small_dataset):
    filters = Filters.for_dates(date(2026, 11, 1), date(2026, 11, 2), intents=("refund", "pricing"),
                                models=("gpt-4o-mini",))
    result = kpis.compute(small_dataset, discover(small_dataset), filters, ["messages", "cost"])
    assert result["messages"].value == 2
    assert result["cost"].value == Decimal("0.0070")


def test_display_timezone_moves_the_range(small_dataset):
    # Moscow is UTC+3: the local days 11-01 … 11-02 are UTC 10-31 21:00 … 11-02 21:00.
    filters = Filters.for_dates(date(2026, 11, 1), date(2026, 11, 2), tz="Europe/Moscow")
    assert kpis.compute_one(small_dataset, discover(small_dataset), filters, "messages").value == 8


def test_empty_range_says_no_data_never_zero(small_dataset):
    filters = Filters.for_dates(date(2025, 1, 1), date(2025, 1, 2))
    result = kpis.compute(small_dataset, discover(small_dataset), filters, list(kpis.KPIS))
    for key in ("csat", "avg_rating", "avg_response_time", "p95_response_time", "intent_accuracy",
                "helpful_answers", "tokens", "cost", "conversion_rate", "escalation_rate",
                "median_resolution_time", "automated_resolution_rate", "first_contact_resolution",
                "repeat_contact_rate", "nps", "avg_rps", "peak_rps",
                "error_rate", "active_sessions", "uptime", "cpu", "memory", "disk"):
        assert result[key].value is None and result[key].reason == kpis.NO_DATA, key
    assert result["messages"].value == 0 and result["dialogs"].value == 0


def test_first_contact_resolution_leaves_young_dialogs_pending(small_dataset, monkeypatch):
    # A week before 8 Nov 12:00 is 1 Nov 12:00: A (10:00, u1 back 23 h later) is decided and not
    # solved; B (12:00) and D (2 Nov), resolved with no return yet, are pending.
    monkeypatch.setattr(dialogs, "now", lambda: datetime(2026, 11, 8, 12, 30))
    found = kpis.compute_one(small_dataset, discover(small_dataset), RANGE, "first_contact_resolution")
    assert (found.value, found.n, found.pending) == (0.0, 1, 2)


def test_previous_period_is_the_same_length_just_before():
    previous = RANGE.previous()
    assert (previous.start, previous.end) == (datetime(2026, 10, 30), datetime(2026, 11, 1))


def test_kpi_definitions_are_the_contracts():
    # The tile labels of the contract (and the Operational page's CPU, Memory, Disk), exactly.
    labels = {k.key: k.label for k in kpis.KPIS.values()}
    assert labels == {
        "dialogs": "Dialogs", "messages": "Messages", "csat": "CSAT", "avg_rating": "Avg rating",
        "nps": "NPS", "conversion_rate": "Conversion rate", "escalation_rate": "Escalation rate",
        "median_resolution_time": "Median resolution time", "automated_resolution_rate": "Automated resolution rate",
        "first_contact_resolution": "First-contact resolution", "repeat_contact_rate": "Repeat contact rate",
        "avg_response_time": "Avg AI response time", "p95_response_time": "p95 AI response time",
        "intent_accuracy": "Intent accuracy", "helpful_answers": "Helpful answers", "tokens": "Tokens",
        "cost": "Cost", "avg_rps": "Avg RPS", "peak_rps": "Peak RPS", "error_rate": "Error rate",
        "uptime": "Uptime", "active_sessions": "Active sessions", "cpu": "CPU", "memory": "Memory", "disk": "Disk"}
    for item in kpis.KPIS.values():
        assert len(item.definition) > 20
