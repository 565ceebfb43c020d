"""Dialogs worked out by hand for the contract's "Dialogs" section (tests/test_dialogs.py).

Six dialogs, three users, February 2026 (UTC):

- A (u1): 31 Jan 23:50 telegram billing; 1 Feb 00:10 telegram complaint, converted and resolved
  (resolution 1,200 s). It starts in January (UTC), in February in Berlin (00:50 local).
- B (u1): 3 Feb 10:00 web complaint; 10:03 resolved (180 s); 10:05 escalated, rated 2. A repeat
  contact (A started 2 days 10 hours before, in another month).
- C (u2): 5 Feb 12:00 whatsapp order_status; 12:02 resolved (120 s), rated 4. Bot alone (automated). u2's
  next dialog (D) is 15 days later: solved at first contact.
- D (u2): 20 Feb 09:00 telegram refund, never resolved.
- E (u3, no session: the user + date key): 10 Feb 08:00 web complaint; 08:30 web billing,
  resolved (1,800 s), automated. u3 comes back 2 days later (F): not solved at first contact.
- F (u3): 12 Feb 15:00 web billing, never resolved; a repeat contact (E).
"""

from __future__ import annotations

from datetime import datetime

ROWS = [
    ("A", "u1", datetime(2026, 1, 31, 23, 50), "telegram", "billing", {}),
    ("A", "u1", datetime(2026, 2, 1, 0, 10), "telegram", "complaint", {"converted": True, "resolved": True}),
    ("B", "u1", datetime(2026, 2, 3, 10, 0), "web", "complaint", {}),
    ("B", "u1", datetime(2026, 2, 3, 10, 3), "web", "complaint", {"resolved": True}),
    ("B", "u1", datetime(2026, 2, 3, 10, 5), "web", "complaint", {"escalated": True, "score": 2}),
    ("C", "u2", datetime(2026, 2, 5, 12, 0), "whatsapp", "order_status", {}),
    ("C", "u2", datetime(2026, 2, 5, 12, 2), "whatsapp", "order_status", {"resolved": True, "score": 4}),
    ("D", "u2", datetime(2026, 2, 20, 9, 0), "telegram", "refund", {}),
    (None, "u3", datetime(2026, 2, 10, 8, 0), "web", "complaint", {}),
    (None, "u3", datetime(2026, 2, 10, 8, 30), "web", "billing", {"resolved": True}),
    ("F", "u3", datetime(2026, 2, 12, 15, 0), "web", "billing", {}),
]


# Written after a refresh whose watermark leaves F to the tail: F resolved at 15:10 (600 s), alone.
F_RESOLVED = [("F", "u3", datetime(2026, 2, 12, 15, 10), "web", "billing", {"resolved": True})]


def rows(given=ROWS) -> list[dict]:
    """The conversation_metrics rows of ``given`` (default ``ROWS``; every flag false unless set)."""
    out = []
    for session, user, at, platform, intent, flags in given:
        out.append({"timestamp": at, "user_id": user, "session_id": session,
                    "platform": platform, "intent": intent, "ai_model": "gpt-4o", "response_time_ms": 800,
                    "cost_usd": 0.01, "resolved": flags.get("resolved", False),
                    "escalated": flags.get("escalated", False), "converted": flags.get("converted", False),
                    "satisfaction_score": flags.get("score")})
    return out


# February (UTC), every dialog KPI as the contract defines it, worked by hand.
FEBRUARY = {"dialogs": 5, "conversion_rate": 0.0, "escalation_rate": 20.0, "median_resolution_time": 180.0,
            "repeat_contact_rate": 40.0, "automated_resolution_rate": 40.0}  # automated: C and E
# February with the complaint intent: B and E (whole dialogs: E's resolution is on its billing row).
FEBRUARY_COMPLAINTS = {"dialogs": 2, "escalation_rate": 50.0, "median_resolution_time": 990.0,
                       "repeat_contact_rate": 50.0, "automated_resolution_rate": 50.0}
# February in Berlin: A starts there on 1 February (00:50), with its conversion.
FEBRUARY_BERLIN = {"dialogs": 6, "conversion_rate": 100.0 / 6}
# February once F is resolved: B 180 s, C 120 s, E 1,800 s, F 600 s; automated C, E and F.
FEBRUARY_F_RESOLVED = {**FEBRUARY, "median_resolution_time": 390.0, "automated_resolution_rate": 60.0}
