"""The alert watcher: ``alerts.yml`` evaluated against the metrics database by the same evaluator
as the Alerts page (``alerts.evaluated``), the firing and resolved alerts handed to Prometheus
Alertmanager through its API v2 (``POST /api/v2/alerts``), as Prometheus hands over its own.

Alertmanager owns grouping, routing, silences, inhibition and delivery; the watcher only says
what fires. Like Prometheus it re-sends every active alert each round with an ``endsAt`` a few
rounds ahead, so Alertmanager never times one out while the watcher lives, and resolves it
within minutes when the watcher dies (the ``Watchdog`` alert, always firing, then stops: that is
how a dead pipeline is noticed). What it has sent as firing is kept in a state file, so a
restart neither loses an alert that resolved meanwhile nor changes one's ``startsAt``.

Run: ``python -m data_access.alerts watch --alertmanager URL [--every 60] [--once] [--now T]``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib import error as urlerror
from urllib import parse, request

import sqlalchemy as sa

from data_access import alerts, change, errors, logs, sql
from data_access.alert_rules import METRICS, Rule, RuleSet
from data_access.engine import PROJECT_ROOT
from data_access.filters import Filters
from data_access.schema import discover

DEFAULT_STATE = PROJECT_ROOT / ".easyflow" / "alert-watch.json"
DATABASE_ALERT = "MetricsDatabaseUnavailable"
WATCHDOG = "Watchdog"
# Each round reads this much before "now" (plus each rule's own lookback): enough to know what
# fires now; an alert older than that keeps the startsAt the state file remembers.
SPAN = timedelta(hours=6)
RESEND_ROUNDS = 4  # endsAt = now + this many rounds (Prometheus: 4 × max(interval, resend delay))
SEND_ATTEMPTS = 4  # per round, 1 s, 2 s, 4 s apart; then the next round tries again


class AlertmanagerUnavailable(ConnectionError):
    """Alertmanager did not take the alerts (down, refusing, or an HTTP error); one line."""


def _iso(moment: datetime) -> str:
    """A naive UTC (or aware) time as RFC 3339 with Z."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds") + "Z"


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def fingerprint(labels: dict[str, str]) -> str:
    return json.dumps(labels, sort_keys=True, ensure_ascii=False)


def labels_for(rule: Rule, key: str) -> dict[str, str]:
    """An alert's labels in Alertmanager: ``alertname``, ``severity`` and the rule's ``by`` label
    (``service``, ``platform``, ``intent`` or ``ai_model``) with the alert's value."""
    labels = {"alertname": rule.name, "severity": rule.severity}
    if rule.by:
        labels[rule.by] = key
    return labels


@dataclass(frozen=True)
class Firing:
    """An alert firing at the round's moment: its labels, annotations and start."""

    labels: dict
    annotations: dict
    starts_at: datetime  # naive UTC

    @property
    def key(self) -> str:
        return fingerprint(self.labels)


def _unit(rule: Rule) -> str:
    """What the rule's compared value is in: % off normal for a baseline rule, else the metric's unit."""
    return "%" if rule.baseline_weeks else METRICS[rule.metric].unit


def _value_text(rule: Rule, value: float) -> str:
    if rule.baseline_weeks:
        return f"{value:+.1f} % against the same hour of the previous {rule.baseline_weeks} weeks"
    return f"{value:.4g} {_unit(rule)}".strip()


def _condition_text(rule: Rule) -> str:
    text = f"{rule.metric} {rule.operator} {rule.threshold:g} {_unit(rule)}".strip()
    if rule.for_:
        text += f" for {rule.for_ // 60} min" if rule.for_ % 60 == 0 else f" for {rule.for_} s"
    return text


def _span(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def generator_url(base: str | None, since: datetime, now: datetime) -> str:
    """The dashboard's Alerts page over the alert's days (UTC), or "" without a base URL."""
    if not base:
        return ""
    query = parse.urlencode({"start_date": since.date().isoformat(), "end_date": now.date().isoformat(), "tz": "UTC"})
    return f"{base.rstrip('/')}/alerts?{query}"


def firing_at(engine: sa.Engine, rules: RuleSet, now: datetime) -> list[Firing]:
    """Every alert of ``rules`` firing at ``now`` (naive UTC), evaluated over the rows before
    ``now`` only. Raises what the database raises (``errors.DATABASE_ERRORS``)."""
    schema = discover(engine)
    filters = Filters(start=now - SPAN, end=now, tz="UTC")
    # A rule on a table this database lacks watches nothing (the Alerts page says so).
    watched = [rule for rule in rules.rules
               if rule.metric not in METRICS or schema.has_table(METRICS[rule.metric].table)]

    def evaluate(rule: Rule):
        with logs.about(rule.name):
            return alerts.evaluated(engine, schema, filters, rule, rules.negative_keywords)[0]

    found = []
    # One statement per rule, on up to four connections at once (as the Alerts page does).
    for rule, history in zip(watched, sql.concurrently([lambda r=r: evaluate(r) for r in watched], 4)):
        for alert in history:
            if alert.fired_at <= now and (alert.resolved_at is None or alert.resolved_at > now):
                annotations = {
                    "summary": rule.summary or rule.name,
                    "description": (f"{rule.name}{' for ' + alert.key if alert.key else ''}: "
                                    f"{_value_text(rule, alert.last)} (fires when {_condition_text(rule)}; "
                                    f"worst {_value_text(rule, alert.peak)})"),
                    "value": f"{alert.last:.6g}",
                }
                contributor = _top_contributor(engine, schema, rule, alert.key, now)
                if contributor:
                    annotations["top_contributor"] = contributor
                found.append(Firing(labels_for(rule, alert.key), annotations, alert.since))
    return found


def _top_contributor(engine: sa.Engine, schema, rule: Rule, key: str, now: datetime) -> str:
    """The segment that explains most of a KPI rule's value against a week before, in a line
    (``alerts.driver``); "" for none, or when the database fails to say (the alert goes out)."""
    try:
        found = alerts.driver(engine, schema, rule, key or None, now)
    except errors.DATABASE_ERRORS as error:
        logs.get("easyflow.alerts").warning("top_contributor_failed", rule=rule.name, problem=str(errors.classify(error)))
        return ""
    described = change.describe(found)
    return f"{described}; against the same {_span(max(rule.window, rule.step))} a week before" if described else ""


@dataclass
class WatchState:
    """What Alertmanager holds as active from this watcher: fingerprint → the alert as last sent
    (``labels``, ``annotations``, ``startsAt``; ``endsAt`` once resolved and not yet delivered),
    and when the watcher first started (the Watchdog's ``startsAt``)."""

    active: dict = field(default_factory=dict)
    started: str = ""

    @classmethod
    def load(cls, path: Path) -> "WatchState":
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(dict(raw.get("active") or {}), str(raw.get("started") or ""))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as error:  # unreadable: start afresh, say so once
            logs.get("easyflow.alerts").warning("watch_state_unreadable", error=type(error).__name__)
            return cls()

    def save(self, path: Path) -> None:
        """Written to a temporary file and renamed, so a crash leaves the old state or the new."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps({"active": self.active, "started": self.started}, ensure_ascii=False, indent=1),
                           encoding="utf-8")
        os.replace(partial, path)


def post_alerts(alertmanager: str, payload: list[dict], timeout: float = 10.0) -> None:
    """POST ``payload`` to Alertmanager's API v2. Raises ``AlertmanagerUnavailable``."""
    _post(alertmanager, "alerts", payload, timeout)


def create_silence(alertmanager: str, labels: dict[str, str], created_by: str, comment: str, hours: float,
                   now: datetime | None = None, timeout: float = 10.0) -> str:
    """A silence in Alertmanager (API v2) matching ``labels`` exactly for ``hours`` from ``now``,
    made by ``created_by``; returns its id. Raises ``AlertmanagerUnavailable``."""
    now = now or datetime.now(timezone.utc)
    body = {"matchers": [{"name": name, "value": value, "isRegex": False, "isEqual": True}
                         for name, value in sorted(labels.items())],
            "startsAt": _iso(now), "endsAt": _iso(now + timedelta(hours=hours)),
            "createdBy": created_by, "comment": comment}
    return str(json.loads(_post(alertmanager, "silences", body, timeout))["silenceID"])


def _post(alertmanager: str, path: str, payload, timeout: float) -> bytes:
    body = json.dumps(payload).encode("utf-8")
    req = request.Request(f"{alertmanager.rstrip('/')}/api/v2/{path}", data=body, method="POST",
                          headers={"Content-Type": "application/json"})
    try:
        with request.urlopen(req, timeout=timeout) as answer:
            return answer.read()
    except urlerror.HTTPError as error:
        raise AlertmanagerUnavailable(f"Alertmanager refused the {path}: HTTP {error.code}") from None
    except (urlerror.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise AlertmanagerUnavailable(f"Alertmanager cannot be reached ({type(reason).__name__})") from None


@dataclass(frozen=True)
class RoundResult:
    """What a round did: the alerts firing, resolved, whether the database answered, delivered."""

    firing: tuple[str, ...]
    resolved: tuple[str, ...]
    database_ok: bool
    delivered: bool


class Watcher:
    """One watcher: the database, Alertmanager, the rules, the state file, the round length."""

    def __init__(self, engine: sa.Engine, alertmanager: str, rules: Callable[[], RuleSet], *,
                 state_path: Path = DEFAULT_STATE, every: float = 60.0, dashboard_url: str | None = None,
                 send: Callable[[str, list[dict]], None] = post_alerts, sleep: Callable[[float], None] = time.sleep,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc).replace(tzinfo=None)) -> None:
        self.engine, self.alertmanager, self.rules = engine, alertmanager, rules
        self.state_path, self.every, self.dashboard_url = Path(state_path), every, dashboard_url
        self.send, self.sleep, self.wall_clock = send, sleep, wall_clock
        self.state = WatchState.load(self.state_path)
        self.log = logs.get("easyflow.alerts")

    def _payload(self, alert: dict, ends_at: datetime | None, wall: datetime) -> dict:
        ends = ends_at if ends_at is not None else wall + timedelta(seconds=RESEND_ROUNDS * max(self.every, 60.0))
        return {"labels": alert["labels"], "annotations": alert["annotations"], "startsAt": alert["startsAt"],
                "endsAt": _iso(ends), "generatorURL": alert.get("generatorURL", "")}

    def round(self, now: datetime | None = None) -> RoundResult:
        """Evaluate at ``now`` (naive UTC; default the wall clock) and hand the result to
        Alertmanager. Never raises for the database or Alertmanager: both are logged, and the
        database's failure is itself an alert."""
        wall = self.wall_clock()
        now = _utc(now) if now is not None else wall
        if not self.state.started:
            self.state.started = _iso(now)
        database_ok = True
        try:
            firing = firing_at(self.engine, self.rules(), now)
        except errors.DATABASE_ERRORS as error:
            problem = errors.classify(error)
            database_ok = False
            self.log.error("watch_database_unavailable", problem=type(problem).__name__)
            # What fired before stays firing (it is not known to have ended), and the outage fires.
            firing = [Firing(a["labels"], a["annotations"], datetime.fromisoformat(a["startsAt"].rstrip("Z")))
                      for a in self.state.active.values()
                      if not a.get("endsAt") and a["labels"].get("alertname") != DATABASE_ALERT]
            firing.append(Firing({"alertname": DATABASE_ALERT, "severity": "critical", "service": "metrics-database"},
                                 {"summary": "The alert watcher cannot read the metrics database.",
                                  "description": f"The database answered: {problem.detail or type(problem).__name__}. "
                                                 "Alerts on its metrics are not evaluated until it is back."},
                                 now))
        active: dict = {}
        for alert in firing:
            known = self.state.active.get(alert.key)
            starts = known["startsAt"] if known and not known.get("endsAt") else _iso(alert.starts_at)
            active[alert.key] = {"labels": alert.labels, "annotations": alert.annotations, "startsAt": starts,
                                 "generatorURL": generator_url(self.dashboard_url, alert.starts_at, now)}
        resolved = {key: {**alert, "endsAt": alert.get("endsAt") or _iso(now)}
                    for key, alert in self.state.active.items() if key not in active}
        watchdog = {"labels": {"alertname": WATCHDOG, "severity": "none"},
                    "annotations": {"summary": "Always firing while the alert watcher runs: its silence means "
                                               "the alerting pipeline is down."},
                    "startsAt": self.state.started}
        payload = ([self._payload(a, None, wall) for a in active.values()]
                   + [self._payload(a, datetime.fromisoformat(a["endsAt"].rstrip("Z")), wall) for a in resolved.values()]
                   + [self._payload(watchdog, None, wall)])
        delivered = self._deliver(payload)
        # Resolved alerts leave the state only once Alertmanager has them; until then they are
        # sent again each round (with their first endsAt).
        self.state.active = {**active, **({} if delivered else resolved)}
        self.state.save(self.state_path)
        result = RoundResult(tuple(sorted(active)), tuple(sorted(resolved)), database_ok, delivered)
        self.log.info("watch_round", at=_iso(now), firing=len(active), resolved=len(resolved),
                      database_ok=database_ok, delivered=delivered)
        return result

    def _deliver(self, payload: list[dict]) -> bool:
        for attempt in range(SEND_ATTEMPTS):
            try:
                self.send(self.alertmanager, payload)
                return True
            except AlertmanagerUnavailable as error:
                self.log.warning("alertmanager_unavailable", problem=str(error), attempt=attempt + 1)
                if attempt + 1 < SEND_ATTEMPTS:
                    self.sleep(2 ** attempt)
        return False

    def run(self, rounds: int | None = None) -> None:
        """Rounds every ``every`` seconds on the wall clock (``rounds`` of them; forever by default)."""
        done = 0
        while rounds is None or done < rounds:
            began = time.monotonic()
            self.round()
            done += 1
            if rounds is None or done < rounds:
                self.sleep(max(0.0, self.every - (time.monotonic() - began)))


def active_alerts(alertmanager: str, timeout: float = 5.0) -> list[dict]:
    """Alertmanager's alerts (``GET /api/v2/alerts``): each with ``labels`` and ``status``
    (``state``: active, suppressed; ``silencedBy``, ``inhibitedBy``). Raises
    ``AlertmanagerUnavailable``."""
    try:
        with request.urlopen(f"{alertmanager.rstrip('/')}/api/v2/alerts", timeout=timeout) as answer:
            return json.loads(answer.read().decode("utf-8"))
    except urlerror.HTTPError as error:
        raise AlertmanagerUnavailable(f"Alertmanager refused the query: HTTP {error.code}") from None
    except (urlerror.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise AlertmanagerUnavailable(f"Alertmanager cannot be reached ({type(reason).__name__})") from None


# What an alert can be in Alertmanager (its status.state, with silenced and inhibited told apart),
# and "absent" for one the dashboard sees firing that Alertmanager does not hold.
STATES = ("active", "suppressed", "silenced", "inhibited", "unprocessed", "absent")


def alert_states(alerts_from_am: Iterable[dict]) -> dict[str, str]:
    """fingerprint of labels (without Alertmanager's own) → ``active``, ``silenced`` or ``inhibited``."""
    states = {}
    for alert in alerts_from_am:
        status = alert.get("status") or {}
        state = ("silenced" if status.get("silencedBy") else "inhibited" if status.get("inhibitedBy")
                 else str(status.get("state") or "active"))
        state = state if state in STATES else "active"
        states[fingerprint(dict(alert.get("labels") or {}))] = state
    return states
