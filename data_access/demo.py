"""Deterministic, realistic demo data for every contract table, and a fast bulk loader.

``python -m data_access.demo [--days 90] [--scale 1.0] [--seed 7] (--url URL | --embedded)`` fills an
empty database: the one named, or the embedded SQLite file (never the one ``DATABASE_URL`` names, so
the demo cannot land in production by accident; ``--append`` adds to a database holding rows). The same seed, scale and end date always give the same
rows. Data is generated a week at a time with numpy and written with ``executemany`` on SQLite
and ``COPY`` on PostgreSQL, so millions of rows load in seconds to minutes.

Planted incidents, relative to the last day D, for the alert, SLA and report pages to find:
an integration outage (payments-api, D-10 14:00–15:30 UTC), an API outage (api-gateway down,
D-7 03:12–03:18), an error-rate spike (conversation-service, D-4 09:00–10:30), a CSAT dip
(D-30 … D-24), an escalation surge for refunds and payments (D-15 … D-13), an expired CRM
webhook token (auth failures, D-2 08:00–08:40), and the database's disk filling up over the
last six days.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import numpy as np
import sqlalchemy as sa

from data_access.engine import demo_path, make_engine
from data_access.bulk import copy_postgresql, insert_sqlite
from data_access.schema import TABLES, create_all

PLATFORMS = np.array(["telegram", "whatsapp", "web"])
PLATFORM_WEIGHTS = np.array([0.5, 0.3, 0.2])

INTENTS = np.array(["order_status", "delivery_time", "refund", "payment_issue", "product_info",
                    "pricing", "booking", "cancel_order", "account_access", "technical_support",
                    "complaint", "greeting"])
INTENT_WEIGHTS = np.array([0.16, 0.10, 0.08, 0.07, 0.12, 0.08, 0.09, 0.05, 0.06, 0.07, 0.04, 0.08])
INTENT_RESOLVE = np.array([0.9, 0.88, 0.62, 0.6, 0.85, 0.86, 0.8, 0.75, 0.7, 0.58, 0.45, 0.95])
INTENT_ESCALATE = np.array([0.04, 0.05, 0.18, 0.16, 0.03, 0.04, 0.06, 0.08, 0.12, 0.2, 0.3, 0.01])
INTENT_CONVERT = np.array([0.05, 0.03, 0.0, 0.1, 0.22, 0.28, 0.35, 0.0, 0.02, 0.02, 0.0, 0.01])

MODELS = np.array(["gpt-4o", "gpt-4o-mini", "claude-3-haiku"])
MODEL_WEIGHTS = np.array([0.35, 0.45, 0.20])
MODEL_LATENCY_MEDIAN_MS = np.array([1800.0, 850.0, 1100.0])
MODEL_TOKENS_MEAN = np.array([420.0, 300.0, 330.0])
MODEL_USD_PER_1K_TOKENS = np.array([0.0100, 0.0006, 0.0012])
MODEL_HELPFUL = np.array([0.84, 0.76, 0.79])

SERVICES = np.array(["api-gateway", "conversation-service", "ai-service", "database", "redis"])
SERVICE_TRAFFIC = np.array([1.0, 0.8, 0.6, 1.6, 2.4])
SERVICE_DISK = np.array([38.0, 42.0, 45.0, 58.0, 22.0])
INTEGRATIONS = np.array(["telegram-api", "whatsapp-api", "payments-api", "crm-webhook"])
INTEGRATION_KIND = np.array(["api", "api", "api", "webhook"])
INTEGRATION_LATENCY_MS = np.array([180.0, 260.0, 420.0, 350.0])
INTEGRATION_SHARE = np.array([0.45, 0.3, 0.1, 0.15])

ERROR_TYPES = [
    ("conversation-service", "TimeoutError", "ERROR", "Upstream timed out after 30 s"),
    ("ai-service", "AIProviderError", "ERROR", "Model provider returned 503 Service Unavailable"),
    ("ai-service", "RateLimitExceeded", "WARNING", "Provider rate limit reached, retrying in 2 s"),
    ("database", "DatabaseError", "CRITICAL", "could not obtain connection from pool"),
    ("api-gateway", "ValidationError", "WARNING", "Invalid payload: field 'text' is required"),
    ("conversation-service", "WebhookDeliveryFailed", "ERROR", "Webhook to CRM failed with HTTP 502"),
    ("api-gateway", "AuthenticationError", "WARNING", "Invalid bot token for platform webhook"),
]
ERROR_WEIGHTS = np.array([0.25, 0.2, 0.2, 0.05, 0.15, 0.1, 0.05])

NPS_COMMENTS = {
    "promoter": ["Fast and helpful, thank you!", "The bot solved my problem in a minute.",
                 "Очень удобно, ответили сразу.", "Great support, will order again.",
                 "Всё понятно и быстро, спасибо!"],
    "passive": ["Okay, but I had to repeat my question.", "Нормально, но долго ждал ответа.",
                "Fine for simple questions."],
    "detractor": ["Terrible: the bot did not understand me and I waited for an operator.",
                  "Ужасно, никто не помог с возвратом денег.", "Useless answers, very slow.",
                  "Плохо: бот зациклился и не перевёл на оператора.",
                  "Refund still not processed, awful experience."],
}

# Relative hourly traffic (UTC) over a day: a morning and an evening peak.
HOUR_PROFILE = np.array([0.25, 0.18, 0.14, 0.12, 0.13, 0.2, 0.35, 0.55, 0.8, 0.95, 1.0, 0.98,
                         0.92, 0.9, 0.88, 0.85, 0.82, 0.85, 0.92, 0.98, 0.95, 0.8, 0.6, 0.4])
WEEKDAY_FACTOR = np.array([1.0, 1.02, 1.0, 0.98, 0.95, 0.72, 0.65])

DIALOGS_PER_PEAK_HOUR = 100.0


@dataclass(frozen=True)
class DemoSpec:
    """What to generate: ``days`` whole UTC days ending with ``end`` (rows stop at ``until``)."""

    days: int = 90
    scale: float = 1.0
    seed: int = 7
    end: date | None = None
    until: datetime | None = None

    def last_day(self) -> date:
        return self.end or datetime.now(timezone.utc).date()

    def first_day(self) -> date:
        return self.last_day() - timedelta(days=self.days - 1)

    def stop(self) -> np.datetime64:
        """Rows after this instant are not generated (now, for a range that ends today)."""
        if self.until is not None:
            return np.datetime64(self.until.replace(tzinfo=None), "us")
        last = self.last_day()
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        end_of_last = datetime.combine(last + timedelta(days=1), datetime.min.time())
        return np.datetime64(min(now, end_of_last), "us")


def _day_offset(spec: DemoSpec, times: np.ndarray) -> np.ndarray:
    """Days before the last day (0 = D, 1 = D-1, …) for each timestamp."""
    last = np.datetime64(spec.last_day(), "D")
    return (last - times.astype("datetime64[D]")).astype(int)


def _between(times: np.ndarray, spec: DemoSpec, days_before: int, start_hm: tuple, end_hm: tuple) -> np.ndarray:
    day = np.datetime64(spec.last_day() - timedelta(days=days_before), "m")
    lo = day + np.timedelta64(start_hm[0] * 60 + start_hm[1], "m")
    hi = day + np.timedelta64(end_hm[0] * 60 + end_hm[1], "m")
    return (times >= lo) & (times < hi)


def _uuids(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.integers(0, 2**63, size=(n, 2), dtype=np.int64)
    return [f"{a:016x}{b:016x}" for a, b in raw.tolist()]


def _pretty_uuid(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-4{hex32[13:16]}-a{hex32[17:20]}-{hex32[20:]}"


def _ids(rng: np.random.Generator, n: int) -> list[str]:
    return [_pretty_uuid(h) for h in _uuids(rng, n)]


def _load_factor(hours: np.ndarray, spec: DemoSpec) -> np.ndarray:
    """Expected relative traffic for each UTC hour start (seasonality plus slow growth)."""
    hour = (hours.astype("datetime64[h]").astype(np.int64) % 24)
    weekday = (hours.astype("datetime64[D]").astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    growth = 1.0 + 0.15 * (1 - _day_offset(spec, hours) / max(spec.days, 1))
    return HOUR_PROFILE[hour] * WEEKDAY_FACTOR[weekday] * growth


Chunk = tuple[str, dict[str, object]]


def _conversations(rng: np.random.Generator, spec: DemoSpec, lo: np.datetime64, hi: np.datetime64,
                   dialog_offset: int) -> tuple[dict, dict, int]:
    """conversation_metrics and nps_responses columns for the hours in [lo, hi)."""
    hours = np.arange(lo, hi, np.timedelta64(1, "h")).astype("datetime64[us]")
    rate = DIALOGS_PER_PEAK_HOUR * spec.scale * _load_factor(hours, spec)
    per_hour = rng.poisson(rate)
    n_dialogs = int(per_hour.sum())
    start = np.repeat(hours, per_hour) + rng.integers(0, 3_600_000_000, n_dialogs).astype("timedelta64[us]")
    platform = rng.choice(len(PLATFORMS), n_dialogs, p=PLATFORM_WEIGHTS)
    intent = rng.choice(len(INTENTS), n_dialogs, p=INTENT_WEIGHTS)
    model = rng.choice(len(MODELS), n_dialogs, p=MODEL_WEIGHTS)
    # A skewed pool of customers: some come back often, most once.
    pool = max(int(DIALOGS_PER_PEAK_HOUR * 15 * spec.scale * spec.days / 1.4), 50)
    user = (pool * rng.random(n_dialogs) ** 1.6).astype(np.int64)
    days_before = _day_offset(spec, start)

    escalate_p = INTENT_ESCALATE[intent].copy()
    surge = (days_before >= 13) & (days_before <= 15) & np.isin(INTENTS[intent], ["refund", "payment_issue"])
    escalate_p[surge] = np.minimum(escalate_p[surge] * 3.0, 0.9)
    escalated = rng.random(n_dialogs) < escalate_p
    resolved = rng.random(n_dialogs) < np.where(escalated, 0.5, INTENT_RESOLVE[intent])
    converted = (~escalated) & (rng.random(n_dialogs) < INTENT_CONVERT[intent])
    n_msgs = np.minimum(1 + rng.geometric(0.38, n_dialogs) + (escalated * 2), 12)

    # Ratings: better when resolved, worse when escalated, and a dip for one week.
    rated = rng.random(n_dialogs) < 0.35
    mood = 3.9 + 0.7 * resolved - 1.1 * escalated + rng.normal(0, 0.9, n_dialogs)
    dip = (days_before >= 24) & (days_before <= 30)
    mood[dip] -= 1.0
    score = np.clip(np.rint(mood), 1, 5).astype(np.int64)

    # Expand dialogs into messages.
    d = np.repeat(np.arange(n_dialogs), n_msgs)
    pos = np.arange(d.size) - np.repeat(np.cumsum(n_msgs) - n_msgs, n_msgs)
    last = pos == (n_msgs[d] - 1)
    gaps = rng.exponential(75.0, d.size) * 1_000_000
    gaps[pos == 0] = 0
    offsets = np.cumsum(gaps)
    offsets -= np.repeat(offsets[np.cumsum(n_msgs) - n_msgs], n_msgs)
    ts = start[d] + offsets.astype("timedelta64[us]")
    keep = ts < spec.stop()

    m = model[d]
    latency = rng.lognormal(np.log(MODEL_LATENCY_MEDIAN_MS[m]), 0.45)
    tokens = np.maximum(rng.normal(MODEL_TOKENS_MEAN[m], 90.0), 20).astype(np.int64)
    cost = np.round(tokens / 1000.0 * MODEL_USD_PER_1K_TOKENS[m], 4)
    confidence = np.round(rng.beta(9, 2, d.size), 4)
    true_intent = intent[d]
    wrong = rng.random(d.size) > confidence * 0.97
    shown_intent = np.where(wrong, rng.integers(0, len(INTENTS), d.size), true_intent)
    labelled = rng.random(d.size) < 0.08
    helpful = np.where(rng.random(d.size) < 0.25,
                       (rng.random(d.size) < MODEL_HELPFUL[m] - 0.25 * wrong).astype(float), np.nan)
    resolve_at = np.where(resolved, np.maximum(n_msgs - 1 - (rng.random(n_dialogs) < 0.3), 0), 99)
    escalate_at = np.where(escalated, np.maximum(n_msgs - 2, 0), -1)
    convert_at = np.where(converted, n_msgs - 1, -1)

    conv = {
        "id": np.array(_ids(rng, d.size), dtype=object),
        "timestamp": ts,
        "user_id": user_ids(user)[d],
        "session_id": np.array([f"s{dialog_offset + i:09d}" for i in range(n_dialogs)], dtype=object)[d],
        "platform": PLATFORMS[platform][d],
        "intent": INTENTS[shown_intent],
        "expected_intent": np.where(labelled, INTENTS[true_intent], None),
        "confidence": confidence,
        "response_time_ms": np.rint(latency).astype(np.int64),
        "tokens_used": tokens,
        "cost_usd": cost,
        "ai_model": MODELS[m],
        "satisfaction_score": np.where(last & rated[d], score[d], np.nan),
        "helpful": helpful,
        "resolved": pos >= resolve_at[d],
        "escalated": pos == escalate_at[d],
        "converted": pos == convert_at[d],
    }
    conv = {k: v[keep] for k, v in conv.items()}

    # NPS: about 4 % of dialogs answer a survey an hour after they start.
    answers = (rng.random(n_dialogs) < 0.04) & (start + np.timedelta64(1, "h") < spec.stop())
    idx = np.flatnonzero(answers)
    base = np.where(escalated[idx], 5.0, 8.8) - 2.0 * dip[idx]
    nps_score = np.clip(np.rint(rng.normal(base, 2.0)), 0, 10).astype(np.int64)
    kind = np.where(nps_score >= 9, "promoter", np.where(nps_score >= 7, "passive", "detractor"))
    with_comment = rng.random(idx.size) < 0.45
    comments = np.array([NPS_COMMENTS[k][j % len(NPS_COMMENTS[k])] if c else None
                         for k, j, c in zip(kind, rng.integers(0, 100, idx.size), with_comment)],
                        dtype=object)
    nps = {
        "id": _ids(rng, idx.size),
        "timestamp": start[idx] + np.timedelta64(1, "h"),
        "user_id": user_ids(user[idx]),
        "platform": PLATFORMS[platform[idx]],
        "score": nps_score,
        "comment": comments,
    }
    return conv, nps, n_dialogs


def user_ids(users: np.ndarray) -> np.ndarray:
    """Customer numbers as the platform's user ids (``u000042``)."""
    return np.array([f"u{u:06d}" for u in users.tolist()], dtype=object)


def _system(rng: np.random.Generator, spec: DemoSpec, lo: np.datetime64, hi: np.datetime64) -> tuple[dict, dict]:
    """system_metrics (per minute per service) and service_health for the minutes in [lo, hi)."""
    minutes = np.arange(lo, min(hi, spec.stop()), np.timedelta64(1, "m")).astype("datetime64[us]")
    ns = len(SERVICES)
    t = np.repeat(minutes, ns)
    s = np.tile(np.arange(ns), minutes.size)
    load = _load_factor(t, spec)
    requests = rng.poisson(60.0 * spec.scale * SERVICE_TRAFFIC[s] * load)
    error_p = np.full(t.size, 0.004)
    spike = _between(t, spec, 4, (9, 0), (10, 30)) & (SERVICES[s] == "conversation-service")
    error_p[spike] = 0.12
    gateway_down = _between(t, spec, 7, (3, 12), (3, 18)) & (SERVICES[s] == "api-gateway")
    requests[gateway_down] = 0
    errors = rng.binomial(requests, error_p)
    cpu = np.clip(12 + 55 * load * (0.6 + 0.4 * (s == 2)) + rng.normal(0, 4, t.size), 1, 100)
    memory = np.clip(48 + 14 * load + 6 * (s == 3) + rng.normal(0, 2, t.size), 5, 100)
    days_before = _day_offset(spec, t)
    disk = SERVICE_DISK[s] + 0.05 * (spec.days - days_before) / max(spec.days, 1) * 10
    filling = (SERVICES[s] == "database") & (days_before <= 5)
    frac_filled = (6 - days_before[filling] - 1 + (t[filling].astype("datetime64[m]").astype(np.int64) % 1440) / 1440.0) / 6.0
    disk[filling] = 60 + 33 * np.clip(frac_filled, 0, 1)
    disk = np.round(np.clip(disk + rng.normal(0, 0.2, t.size), 0, 100), 2)
    sessions = np.where(SERVICES[s] == "conversation-service",
                        rng.poisson(35 * spec.scale * load), np.nan)
    system = {"timestamp": t, "service": SERVICES[s], "requests": requests, "errors": errors,
              "cpu_percent": np.round(cpu, 1), "memory_percent": np.round(memory, 1),
              "disk_percent": disk, "active_sessions": sessions}

    # Health checks: services every minute, integrations every five minutes.
    status = np.where(rng.random(t.size) < 0.0002, "degraded", "up").astype(object)
    status[gateway_down] = "down"
    status[spike & (rng.random(t.size) < 0.5)] = "degraded"
    latency = np.round(rng.lognormal(np.log(12.0), 0.5, t.size), 1)
    latency[gateway_down] = np.nan
    five = minutes[(minutes.astype("datetime64[m]").astype(np.int64) % 5) == 0]
    ni = len(INTEGRATIONS)
    ti = np.repeat(five, ni)
    si = np.tile(np.arange(ni), five.size)
    i_status = np.where(rng.random(ti.size) < 0.0005, "degraded", "up").astype(object)
    outage = _between(ti, spec, 10, (14, 0), (15, 30)) & (INTEGRATIONS[si] == "payments-api")
    i_status[outage] = "down"
    i_latency = np.round(rng.lognormal(np.log(INTEGRATION_LATENCY_MS[si]), 0.4), 1)
    i_latency[outage] = np.nan
    health = {"timestamp": np.concatenate([t, ti]),
              "service": np.concatenate([SERVICES[s], INTEGRATIONS[si]]),
              "status": np.concatenate([status, i_status]),
              "latency_ms": np.concatenate([latency, i_latency])}
    return system, health


def _integrations_and_errors(rng: np.random.Generator, spec: DemoSpec, lo: np.datetime64,
                             hi: np.datetime64) -> tuple[dict, dict]:
    hours = np.arange(lo, hi, np.timedelta64(1, "h")).astype("datetime64[us]")
    per_hour = rng.poisson(60.0 * spec.scale * _load_factor(hours, spec))
    t = np.repeat(hours, per_hour) + rng.integers(0, 3_600_000_000, int(per_hour.sum())).astype("timedelta64[us]")
    integ = rng.choice(len(INTEGRATIONS), t.size, p=INTEGRATION_SHARE)
    # The CRM webhook retries every two minutes while its token is expired (see below).
    expired_day = np.datetime64(spec.last_day() - timedelta(days=2), "m")
    retries = np.arange(expired_day + np.timedelta64(480, "m"), expired_day + np.timedelta64(520, "m"),
                        np.timedelta64(2, "m")).astype("datetime64[us]")
    retries = retries[(retries >= lo) & (retries < hi)]
    t = np.concatenate([t, retries])
    integ = np.concatenate([integ, np.full(retries.size, list(INTEGRATIONS).index("crm-webhook"))])
    order = np.argsort(t, kind="stable")
    t, integ = t[order], integ[order]
    keep = t < spec.stop()
    t, integ = t[keep], integ[keep]
    status = np.where(rng.random(t.size) < 0.0005, 500, 200)
    status = np.where(rng.random(t.size) < 0.01, 429, status)
    # The CRM webhook's token expires on D-2 08:00 and is renewed at 08:40.
    auth_failed = _between(t.astype("datetime64[m]"), spec, 2, (8, 0), (8, 40)) & (INTEGRATIONS[integ] == "crm-webhook")
    status = np.where(auth_failed, 401, status)
    outage = _between(t.astype("datetime64[m]"), spec, 10, (14, 0), (15, 30)) & (INTEGRATIONS[integ] == "payments-api")
    status[outage] = np.where(rng.random(int(outage.sum())) < 0.5, 503, 504)
    latency = np.round(rng.lognormal(np.log(INTEGRATION_LATENCY_MS[integ]), 0.5), 1)
    latency[outage] = 30000.0
    day = t.astype("datetime64[D]")
    quota_used = np.full(t.size, np.nan)
    quota_limit = np.full(t.size, np.nan)
    wa = INTEGRATIONS[integ] == "whatsapp-api"
    if wa.any():
        # Running count of whatsapp calls per UTC day, against a daily quota.
        wa_days = day[wa]
        first = np.r_[True, wa_days[1:] != wa_days[:-1]]
        group_start = np.maximum.accumulate(np.where(first, np.arange(wa_days.size), 0))
        quota_used[wa] = (np.arange(wa_days.size) - group_start + 1) * 10
        quota_limit[wa] = int(12000 * max(spec.scale, 0.01))
    calls = {"id": _ids(rng, t.size), "timestamp": t, "integration": INTEGRATIONS[integ],
             "kind": INTEGRATION_KIND[integ], "status_code": status, "latency_ms": latency,
             "auth_failed": auth_failed, "quota_used": quota_used, "quota_limit": quota_limit}

    per_hour_err = rng.poisson(1.5 * spec.scale, hours.size)
    et = np.repeat(hours, per_hour_err) + rng.integers(0, 3_600_000_000, int(per_hour_err.sum())).astype("timedelta64[us]")
    kinds = rng.choice(len(ERROR_TYPES), et.size, p=ERROR_WEIGHTS)
    # Bursts during the incidents.
    spike_minutes = np.arange(np.datetime64(spec.last_day() - timedelta(days=4), "m") + np.timedelta64(540, "m"),
                              np.datetime64(spec.last_day() - timedelta(days=4), "m") + np.timedelta64(630, "m"),
                              np.timedelta64(1, "m")).astype("datetime64[us]")
    outage_minutes = np.arange(np.datetime64(spec.last_day() - timedelta(days=10), "m") + np.timedelta64(840, "m"),
                               np.datetime64(spec.last_day() - timedelta(days=10), "m") + np.timedelta64(930, "m"),
                               np.timedelta64(3, "m")).astype("datetime64[us]")
    extra_t = [x for x in (spike_minutes, outage_minutes)]
    extra_k = [np.zeros(spike_minutes.size, dtype=np.int64), np.full(outage_minutes.size, 5)]
    et = np.concatenate([et] + extra_t)
    kinds = np.concatenate([kinds] + extra_k)
    keep = (et >= np.datetime64(lo, "us")) & (et < np.datetime64(hi, "us")) & (et < spec.stop())
    et, kinds = et[keep], kinds[keep]
    order = np.argsort(et, kind="stable")
    et, kinds = et[order], kinds[order]
    errors = {"id": _ids(rng, et.size), "timestamp": et,
              "service": np.array([ERROR_TYPES[k][0] for k in kinds.tolist()], dtype=object),
              "error_type": np.array([ERROR_TYPES[k][1] for k in kinds.tolist()], dtype=object),
              "level": np.array([ERROR_TYPES[k][2] for k in kinds.tolist()], dtype=object),
              "message": np.array([ERROR_TYPES[k][3] for k in kinds.tolist()], dtype=object)}
    return calls, errors


def generate(spec: DemoSpec) -> Iterator[tuple[float, list[Chunk]]]:
    """Yield ``(fraction_done, [(table, columns), …])`` a week of data at a time."""
    first = np.datetime64(spec.first_day(), "h")
    last = np.datetime64(spec.last_day() + timedelta(days=1), "h")
    week = np.timedelta64(7 * 24, "h")
    total = (last - first) / week
    dialog_offset = 0
    for i, lo in enumerate(np.arange(first, last, week)):
        hi = min(lo + week, last)
        rng = np.random.default_rng([spec.seed, i])
        if lo >= spec.stop():
            break
        conv, nps, n = _conversations(rng, spec, lo, hi, dialog_offset)
        dialog_offset += n
        system, health = _system(rng, spec, lo.astype("datetime64[m]"), hi.astype("datetime64[m]"))
        calls, errors = _integrations_and_errors(rng, spec, lo, hi)
        yield min((i + 1) / total, 1.0), [("conversation_metrics", conv), ("nps_responses", nps),
                                          ("system_metrics", system), ("service_health", health),
                                          ("integration_calls", calls), ("error_events", errors)]


def _column_values(table: str, name: str, values, dialect: str) -> list:
    """A column as a list of Python values the driver takes, NULLs as None."""
    kind = TABLES[table].columns[name].type
    if isinstance(values, list):
        return values
    if isinstance(kind, sa.DateTime):
        text = np.datetime_as_string(values.astype("datetime64[us]"), unit="us")
        return [v.replace("T", " ") for v in text.tolist()]
    if isinstance(kind, sa.Boolean):
        if values.dtype == bool:
            out = values.tolist()
        else:
            out = [None if v != v else bool(v) for v in values.tolist()]
        if dialect == "sqlite":
            return [None if v is None else int(v) for v in out]
        return out
    if isinstance(kind, sa.Integer) and values.dtype.kind == "f":
        return [None if v != v else int(v) for v in values.tolist()]
    if values.dtype.kind == "f":
        return [None if v != v else v for v in values.tolist()]
    return values.tolist()


# The share of a demo build's progress bar that its rollups take (the rest: writing rows).
ROLLUP_SHARE = 0.15


def load(engine: sa.Engine, spec: DemoSpec,
         progress: Callable[[float, str], None] | None = None, roll_up: bool = True,
         complete: bool = False) -> dict[str, int]:
    """Create the contract's tables, fill them with ``spec``'s demo data and (``roll_up``)
    build their rollups (data_access.rollups), as the dashboard would on first use; with
    ``complete`` also the alert rules' records and the service tables' hours, so that no
    background refresh follows (the dashboard's own demo: ``dashboard.demo_build``).

    Returns rows written per table. Existing rows are kept (load into an empty database).
    """
    counts = _write(engine, spec, None if progress is None else
                    (lambda fraction, note: progress(fraction * (1 - ROLLUP_SHARE if roll_up else 1), note)))
    if roll_up:
        from data_access import rollups

        # ``complete``: everything the dashboard keeps, the demo opens with no background refresh
        # slowing its first pages; else (tests, benches) the rest is left to the dashboard's upkeep.
        lean = {} if complete else {"rules": (), "service_tables": False}
        rollups.refresh(engine, **lean, progress=None if progress is None else (
            lambda fraction, note: progress(1 - ROLLUP_SHARE + ROLLUP_SHARE * fraction, f"rollups: {note}")))
    return counts


def _write(engine: sa.Engine, spec: DemoSpec, progress: Callable[[float, str], None] | None) -> dict[str, int]:
    create_all(engine)
    counts = {name: 0 for name in TABLES}
    dialect = engine.dialect.name
    raw = engine.raw_connection()
    try:
        for fraction, chunks in generate(spec):
            for table, data in chunks:
                columns = {name: _column_values(table, name, values, dialect) for name, values in data.items()}
                rows = len(next(iter(columns.values())))
                if rows:
                    (insert_sqlite if dialect == "sqlite" else copy_postgresql)(raw, table, columns)
                counts[table] += rows
            raw.commit()
            if progress:
                progress(fraction, f"{sum(counts.values()):,} rows")
        if dialect == "postgresql":
            with raw.cursor() as cursor:
                cursor.execute("ANALYZE")
            raw.commit()
    finally:
        raw.close()
    return counts


def terminal_progress(stream=sys.stderr) -> Callable[[float, str], None]:
    """A one-line progress bar for a terminal (plain lines when not a terminal)."""
    started = time.monotonic()

    def show(fraction: float, note: str) -> None:
        bar = "#" * int(fraction * 30)
        line = f"[{bar:<30}] {fraction:5.0%}  {note}  {time.monotonic() - started:5.1f}s"
        if stream.isatty():
            stream.write("\r" + line + ("\n" if fraction >= 1 else ""))
        else:
            stream.write(line + "\n")
        stream.flush()

    return show


def tables_with_rows(engine: sa.Engine) -> list[str]:
    """The contract's tables in ``engine`` that hold at least one row."""
    present = set(sa.inspect(engine).get_table_names())
    with engine.connect() as conn:  # table names come from the contract's allow-list
        return [table for table in TABLES
                if table in present and conn.exec_driver_sql(f"SELECT 1 FROM {table} LIMIT 1").first() is not None]


def _write_openmetrics(url: str, path: str, days: int) -> int:
    """``--openmetrics``: the service metrics of the last ``days`` days of ``url`` to ``path``."""
    from datetime import datetime, timedelta, timezone

    from data_access import errors, openmetrics
    from data_access.schema import discover

    since = datetime.now(timezone.utc).replace(tzinfo=None, second=0, microsecond=0) - timedelta(days=days)
    try:
        engine = make_engine(url)
        with open(path, "w", encoding="utf-8") as out:
            samples = openmetrics.write(engine, discover(engine), out, start=since)
        engine.dispose()
    except errors.DATABASE_ERRORS as error:
        print(f"error: cannot read the database: {errors.classify(error)}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: cannot write {path}: {error.strerror}", file=sys.stderr)
        return 2
    if not samples:
        print(f"error: the database has no service metrics since {since:%Y-%m-%d %H:%M} UTC", file=sys.stderr)
        return 1
    print(f"{path}: {samples:,} samples since {since:%Y-%m-%d %H:%M} UTC")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data_access.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=None,
                        help="days of data, ending today (default 90; with --openmetrics the last 7)")
    parser.add_argument("--scale", type=float, default=1.0, help="traffic multiplier (default 1.0)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--end", type=date.fromisoformat, default=None, help="last day, YYYY-MM-DD (default today)")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", default=None, help="database URL to fill (never taken from DATABASE_URL)")
    target.add_argument("--embedded", action="store_true",
                        help="fill the embedded demo file (EASYFLOW_DEMO_DB, default .easyflow/demo.sqlite)")
    parser.add_argument("--append", action="store_true",
                        help="add to a database that already holds rows (refused otherwise)")
    parser.add_argument("--openmetrics", metavar="FILE", default=None,
                        help="instead of filling: write the database's service metrics of the last --days days "
                             "as OpenMetrics, for `promtool tsdb create-blocks-from openmetrics FILE DIR`")
    args = parser.parse_args(argv)
    if args.openmetrics:
        if not args.url and not demo_path().is_file():
            print("error: there is no demo database yet: start the dashboard once, or run with --embedded alone",
                  file=sys.stderr)
            return 2
        return _write_openmetrics(args.url or f"sqlite:///{demo_path()}", args.openmetrics, args.days or 7)
    args.days = args.days or 90
    if args.days < 1 or args.scale <= 0:
        parser.error("--days must be at least 1 and --scale above 0")
    from data_access import errors

    url = args.url or f"sqlite:///{demo_path()}"
    try:
        engine = make_engine(url)
        held = [] if args.append else tables_with_rows(engine)
    except errors.DATABASE_ERRORS as error:
        print(f"error: cannot use the database: {errors.classify(error)}", file=sys.stderr)
        return 2
    if held:
        print(f"error: refusing to write demo data into a database that holds rows ({', '.join(held)}); "
              "demo data goes into an empty database (--append adds to it anyway)", file=sys.stderr)
        return 2
    try:
        counts = load(engine, DemoSpec(args.days, args.scale, args.seed, args.end), terminal_progress())
    except errors.DATABASE_ERRORS as error:
        print(f"error: could not write demo data: {errors.classify(error)}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    for table, rows in counts.items():
        print(f"{table:22} {rows:>12,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
