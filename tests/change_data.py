"""A change to explain, small enough to split by hand: two weeks of March 2026 (UTC).

Messages (each its own dialog, every one rated; 4 or 5 stars counts good):

    week 1 (1–7 March)                          week 2 (8–14 March)
    telegram order   10 rated, 8 good, 1000 ms  telegram order  10 rated, 4 good, 2000 ms
    web      order   10 rated, 5 good,  500 ms  web      order  20 rated, 10 good, 500 ms
    whatsapp refund   5 rated, 5 good,  500 ms  web      pricing 10 rated, 5 good,  500 ms

CSAT 72 % → 47.5 % (−24.5 points). By platform: telegram's own CSAT falls (rate), web grows at
50 % (mix), whatsapp vanishes. By intent: order's CSAT falls, refund vanishes, pricing appears.
Every message costs $0.01: messages 25 → 40, cost $0.25 → $0.40.

Dialogs of several messages (``DIALOGS``), for the escalation rate by intent, in week 2 only
beside week 1's: see ``dialog_rows``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from data_access.filters import Filters

WEEK_1 = Filters.for_dates(date(2026, 3, 1), date(2026, 3, 7))
WEEK_2 = Filters.for_dates(date(2026, 3, 8), date(2026, 3, 14))

# (week, platform, intent, ratings, good ones, response time ms)
GROUPS = [
    (1, "telegram", "order", 10, 8, 1000), (1, "web", "order", 10, 5, 500), (1, "whatsapp", "refund", 5, 5, 500),
    (2, "telegram", "order", 10, 4, 2000), (2, "web", "order", 20, 10, 500), (2, "web", "pricing", 10, 5, 500),
]


def message(ts: datetime, platform: str, intent: str, score: int | None, rt: int, session: str, user: str,
            escalated: bool = False) -> dict:
    return {"timestamp": ts, "user_id": user, "session_id": session, "platform": platform, "intent": intent,
            "expected_intent": None, "confidence": 0.9, "response_time_ms": rt, "tokens_used": 100,
            "cost_usd": Decimal("0.01"), "ai_model": "gpt-4o", "satisfaction_score": score, "helpful": None,
            "resolved": False, "escalated": escalated, "converted": False}


def rows() -> list[dict]:
    """The rated messages of ``GROUPS``, one dialog each, spread over the week's days."""
    found = []
    for week, platform, intent, ratings, good, rt in GROUPS:
        first = datetime(2026, 3, 1 if week == 1 else 8, 9)
        for i in range(ratings):
            found.append(message(first + timedelta(days=i % 7, minutes=i), platform, intent, 5 if i < good else 2, rt,
                                 f"{platform}-{intent}-{week}-{i}", f"user-{platform}-{intent}-{week}-{i}"))
    return found


def dialog_rows() -> list[dict]:
    """Unrated dialogs for the escalation rate by intent (dialogs start on week days at 15:00):

        week 1: 4 order dialogs (1 escalated), 4 refund (0)            → 1 / 8 escalated
        week 2: 4 order (3 escalated), 4 refund (0), and 2 dialogs with
                an order and a refund message (several intents, both escalated) → 5 / 10

    With ``rows()``' 65 dialogs (none escalated): 1 / 33 → 5 / 50."""
    found = []
    for week, intent, count, escalated in ((1, "order", 4, 1), (1, "refund", 4, 0), (2, "order", 4, 3),
                                           (2, "refund", 4, 0)):
        first = datetime(2026, 3, 1 if week == 1 else 8, 15)
        for i in range(count):
            found.append(message(first + timedelta(days=i), "web", intent, None, 800, f"d-{intent}-{week}-{i}",
                                 f"d-user-{intent}-{week}-{i}", escalated=i < escalated))
    for i in range(2):
        start = datetime(2026, 3, 9 + i, 15)
        found.append(message(start, "web", "order", None, 800, f"d-mixed-{i}", f"d-user-mixed-{i}"))
        found.append(message(start + timedelta(minutes=3), "web", "refund", None, 800, f"d-mixed-{i}",
                             f"d-user-mixed-{i}", escalated=True))
    return found


# A planted change, large enough to tell (100 ratings and more a segment), for the pages and
# reports: from ISO week 10 (2–8 March) to week 11 (9–15 March), telegram's CSAT falls 90 % → 60 % (rate), web grows threefold at
# 40 % (mix: more of a low segment), whatsapp stays 70 % on 100 ratings. CSAT 66.7 % → 50 %:
#   telegram: rate (60 − 90) · (1/3 + 1/5) / 2 = −8.0, mix (1/5 − 1/3) · (75 − 58.33) = −2.22
#   web:      mix (3/5 − 1/3) · (40 − 58.33) = −4.89
#   whatsapp: mix (1/5 − 1/3) · (70 − 58.33) = −1.56           sum −16.67
# Every answer takes 900 ms but telegram's in week 2, 1,500 ms: the p95 goes 900 → 1,500 ms, the
# mean 900 → 1,020 ms (telegram +128 ms: rate +160, mix −32; web −16, whatsapp +8).
PLANTED = [(1, "telegram", 100, 90), (1, "web", 100, 40), (1, "whatsapp", 100, 70),
           (2, "telegram", 100, 60), (2, "web", 300, 120), (2, "whatsapp", 100, 70)]


def planted_rows() -> list[dict]:
    found = []
    for week, platform, ratings, good in PLANTED:
        first = datetime(2026, 3, 2 if week == 1 else 9, 8)
        for i in range(ratings):
            rt = 1500 if (week, platform) == (2, "telegram") else 900
            found.append(message(first + timedelta(days=i % 7, minutes=i), platform, "order", 5 if i < good else 1,
                                 rt, f"p-{platform}-{week}-{i}", f"p-user-{platform}-{week}-{i}"))
    return found


# An hour's ratings, for the alerts: 4.5 on average on every platform the same hour a week before
# and in the hour before ``now``, but whatsapp's at 2.0 in it. The hour's average (3.67) is below
# 4.0, and whatsapp's rate explains all of its −0.83.
LOW_RATING_RULES = """
groups:
  - name: test
    rules:
      - alert: LowRating
        metric: avg_rating
        condition: "< 4.0"
        step: 1h
        severity: warning
        summary: Average rating below 4.0 over an hour.
"""


def rating_drop_rows(now: datetime) -> list[dict]:
    found = []
    for start in (now - timedelta(hours=1), now - timedelta(weeks=1, hours=1)):
        for platform in ("telegram", "web", "whatsapp"):
            for i in range(40):
                fell = platform == "whatsapp" and start == now - timedelta(hours=1)
                found.append(message(start + timedelta(minutes=i), platform, "order", 2 if fell else 4 + i % 2, 900,
                                     f"{platform}-{start:%d}-{i}", f"u-{platform}-{i}"))
    return found
