"""The Operational and SLA pages' service metrics from Prometheus, through its HTTP API.

Used when ``PROMETHEUS_URL`` (or ``[prometheus] url`` in the secrets) is set; the tables
(system_metrics, service_health, error_events) stay the source otherwise. Every panel's PromQL is
in ``QUERIES`` (documented in docs/contract.md, "Prometheus"); each function here returns the frame
its table twin in ``data_access.operational`` (or the KPI in ``data_access.kpis``) returns, so the
page draws either.

How the numbers line up with the tables'. The tables hold one row per service per sampling
interval (``scrape``, a minute), a row at ``M`` describing the interval that ends at ``M``;
Prometheus holds a sample at each scrape. A bucket ``[b, b + step)`` holds the rows at
``b … b + step - scrape``, so it is read at ``t = b + step - scrape`` over a window of ``step``:
``increase(counter[step])`` there is exactly the sum of those rows' counts when a sample sits on
every scrape (Prometheus 2.x windows include their left edge; with samples on both edges nothing is
extrapolated). Averages over a bucket are subqueries at the scrape's resolution over
``step - scrape``. Where scrapes are late or missing, ``increase`` extrapolates, as Prometheus does
everywhere; the page then differs from a sum of rows by that extrapolation.

What Prometheus cannot say: ``up`` is 1 or 0, so a service is up or down, never "degraded"; buckets
are fixed lengths from the range start (a day that changes daylight saving time is 24 hours).

Faults are one-line named exceptions (``PrometheusError``): unreachable, timed out, refused. None
of their messages holds the server's address.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pandas as pd

from data_access.filters import Filters

# Prometheus refuses a range query of more than 11,000 points per series; a longer one is split.
MAX_POINTS = 11_000
CHUNK_POINTS = 10_000
BUCKET_SECONDS = {"minute": 60, "10min": 600, "hour": 3600, "day": 86400}


class PrometheusError(Exception):
    """Base class: Prometheus did not answer a query; ``str()`` is one line for a person."""

    summary = "Prometheus did not answer"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.summary)


class PrometheusUnreachable(PrometheusError):
    """Nothing answers at the configured address (down, wrong address, network)."""

    summary = "Prometheus cannot be reached"


class PrometheusTimeout(PrometheusError):
    """Prometheus did not answer within the configured timeout."""

    summary = "Prometheus did not answer in time"


class PrometheusRefused(PrometheusError):
    """Prometheus answered with an error: a query it refuses, a failed sign-in, an overload."""

    summary = "Prometheus refused the query"


@dataclass(frozen=True)
class PrometheusConfig:
    """Where Prometheus is and how to ask it. ``service_label``: the label that names a service
    (``job`` by default; ``instance`` where one job scrapes several services). ``scrape``: the
    scrape interval in seconds, the resolution the panels read at."""

    url: str
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    service_label: str = "job"
    scrape: int = 60


def config_from(secrets: Mapping, env: Mapping[str, str] = os.environ) -> PrometheusConfig | None:
    """The configuration from ``PROMETHEUS_URL`` (winning) or ``[prometheus]`` in the secrets
    (url, token, username, password, timeout, service_label, scrape); None when neither names a
    URL. Raises ``ValueError`` for a URL that is not http(s) or a label that is not a label name."""
    section = dict(secrets.get("prometheus", {}) or {})
    url = (env.get("PROMETHEUS_URL") or section.get("url") or "").strip()
    if not url:
        return None
    if not url.startswith(("http://", "https://")):
        raise ValueError("the Prometheus URL must start with http:// or https://")
    label = str(section.get("service_label", env.get("PROMETHEUS_SERVICE_LABEL", "job")))
    import re

    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", label):
        raise ValueError(f"{label!r} is not a Prometheus label name")
    return PrometheusConfig(url=url.rstrip("/"), token=section.get("token") or env.get("PROMETHEUS_TOKEN"),
                            username=section.get("username"), password=section.get("password"),
                            timeout=float(section.get("timeout", 10)), service_label=label,
                            scrape=int(section.get("scrape", 60)))


# --- the PromQL of each panel ----------------------------------------------------------------
# ``{s}``: the service label; ``{w}``: a window (a bucket's length, or the range's); ``{r}``: the
# scrape interval; ``{sub}``: a subquery window (a bucket less one scrape). Documented in
# docs/contract.md ("Prometheus"); the seed's metrics and node_exporter's standard ones.
CPU_BUSY = '100 * (1 - avg by ({s}) (rate(node_cpu_seconds_total{{mode="idle"}}[{r}s])))'
MEMORY_USED = "100 * (1 - max by ({s}) (node_memory_MemAvailable_bytes) / max by ({s}) (node_memory_MemTotal_bytes))"
DISK_USED = ('100 * (1 - min by ({s}) (node_filesystem_avail_bytes{{mountpoint="/"}} '
             '/ node_filesystem_size_bytes{{mountpoint="/"}}))')
QUERIES = {
    "requests": "sum by ({s}) (increase(messages_total{sel}[{w}s]))",
    "errors": "sum by ({s}) (increase(errors_total{sel}[{w}s]))",
    "errors_by_type": 'sum by (error_type) (increase(errors_total{sel}[{w}s]))',
    "scrapes": "max(count_over_time(messages_total{sel}[{sub}s]))",
    "peak_rps": "max_over_time((sum(increase(messages_total{sel}[{r}s])) / {r})[{sub}s:{r}s])",
    "sessions_mean": "avg_over_time(sum(active_sessions)[{sub}s:{r}s])",
    "sessions_peak": "max_over_time(sum(active_sessions)[{sub}s:{r}s])",
    "sessions_now": "sum(active_sessions)",
    "cpu": f"avg_over_time(({CPU_BUSY})[{{sub}}s:{{r}}s])",
    "memory": f"avg_over_time(({MEMORY_USED})[{{sub}}s:{{r}}s])",
    "disk": f"max_over_time(({DISK_USED})[{{sub}}s:{{r}}s])",
    "cpu_now": CPU_BUSY,
    "memory_now": MEMORY_USED,
    "disk_now": DISK_USED,
    "sessions_by_service_now": "sum by ({s}) (active_sessions)",
    "up": "max by ({s}) (up)",
    "down": "max by ({s}) (up) == 0",
    "last_scrape": "max by ({s}) (timestamp(up))",
    "checks_ok": "sum by ({s}) (sum_over_time(up[{sub}s]))",
    "checks": "sum by ({s}) (count_over_time(up[{sub}s]))",
}


# The panels over a bucket of one scrape read that scrape alone (a subquery needs a window).
SINGLE_SCRAPE = {"cpu": "cpu_now", "memory": "memory_now", "disk": "disk_now", "sessions_mean": "sessions_now",
                 "sessions_peak": "sessions_now"}


def promql(name: str, config: PrometheusConfig, *, window: int = 0, filters: Filters | None = None) -> str:
    """The PromQL of panel ``name`` (``QUERIES``) for a window of ``window`` seconds, with the
    filters' platforms and intents as label matchers where the metric has those labels."""
    selector = _selector(filters) if name in ("requests", "peak_rps", "scrapes") else ""
    sub = int(window) - config.scrape
    if sub <= 0 and name in SINGLE_SCRAPE:  # a bucket of one scrape: that scrape's value, no subquery
        name = SINGLE_SCRAPE[name]
    return QUERIES[name].format(s=config.service_label, w=int(window), r=config.scrape, sub=max(sub, 0),
                                sel=selector)


def _selector(filters: Filters | None) -> str:
    """``{platform=~"a|b",intent=~"c"}`` for the filters' values (messages_total has these labels),
    each value quoted as a PromQL string and its regex characters escaped."""
    if filters is None:
        return ""
    import re

    parts = []
    for label, values in (("platform", filters.platforms), ("intent", filters.intents)):
        if values:
            pattern = "|".join(re.escape(v) for v in values)
            quoted = pattern.replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f'{label}=~"{quoted}"')
    return "{" + ",".join(parts) + "}" if parts else ""


# --- the client -----------------------------------------------------------------------------

class Prometheus:
    """A client of one Prometheus server's HTTP API (``/api/v1/query``, ``/api/v1/query_range``)."""

    def __init__(self, config: PrometheusConfig) -> None:
        import requests

        self.config = config
        self.session = requests.Session()
        if config.token:
            self.session.headers["Authorization"] = f"Bearer {config.token}"
        elif config.username:
            self.session.auth = (config.username, config.password or "")

    def _get(self, path: str, params: dict) -> list[dict]:
        import requests

        try:
            response = self.session.post(self.config.url + path, data=params, timeout=self.config.timeout)
        except requests.Timeout:
            raise PrometheusTimeout() from None
        except requests.RequestException:
            raise PrometheusUnreachable() from None
        try:
            body = response.json()
        except ValueError:
            raise PrometheusRefused(f"Prometheus answered HTTP {response.status_code}") from None
        if response.status_code != 200 or body.get("status") != "success":
            kind = str(body.get("errorType") or response.status_code)
            if kind == "timeout":
                raise PrometheusTimeout()
            raise PrometheusRefused(f"Prometheus refused the query ({kind})")
        return body["data"]["result"]

    def instant(self, query: str, at: datetime) -> list[dict]:
        """The vector of ``query`` at ``at`` (a UTC datetime, naive or aware)."""
        return self._get("/api/v1/query", {"query": query, "time": _epoch(at)})

    def range(self, query: str, start: datetime, end: datetime, step: int) -> list[dict]:
        """The matrix of ``query`` from ``start`` to ``end`` (both evaluated) every ``step``
        seconds, split into queries of at most ``CHUNK_POINTS`` points; series merged by labels."""
        series: dict[tuple, dict] = {}
        first, last = _epoch(start), _epoch(end)
        while first <= last:
            chunk_end = min(last, first + (CHUNK_POINTS - 1) * step)
            for item in self._get("/api/v1/query_range",
                                  {"query": query, "start": first, "end": chunk_end, "step": step}):
                key = tuple(sorted(item["metric"].items()))
                series.setdefault(key, {"metric": item["metric"], "values": []})["values"] += item["values"]
            first = chunk_end + step
        return list(series.values())

    def ready(self) -> bool:
        """Whether the server answers its readiness endpoint."""
        import requests

        try:
            return self.session.get(self.config.url + "/-/ready", timeout=self.config.timeout).status_code == 200
        except requests.RequestException:
            return False


def _epoch(value: datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def _number(text: str) -> float:
    value = float(text)
    return value if math.isfinite(value) else float("nan")


def _matrix_frame(result: list[dict], label: str, name: str) -> pd.DataFrame:
    """``[{metric, values}]`` as rows (UTC time, the label's value, ``name``)."""
    rows = [(pd.Timestamp(t, unit="s", tz="UTC"), item["metric"].get(label, ""), _number(v))
            for item in result for t, v in item["values"]]
    frame = pd.DataFrame(rows, columns=["at", label, name])
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    frame[name] = frame[name].astype("float64")
    return frame


def _vector_values(result: list[dict], label: str | None = None) -> dict[str, float]:
    return {(item["metric"].get(label, "") if label else ""): _number(item["value"][1]) for item in result}


# --- the panels -----------------------------------------------------------------------------

def _local_floor(moment: datetime, unit: str) -> datetime:
    if unit == "minute":
        return moment.replace(second=0, microsecond=0)
    if unit == "10min":
        return moment.replace(minute=moment.minute - moment.minute % 10, second=0, microsecond=0)
    if unit == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Bucket:
    """One bucket of a panel: its local start (the label the tables give it) and the UTC instants
    it covers, ``[start, end)``."""

    local: datetime
    start: datetime
    end: datetime

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())


def buckets(filters: Filters, unit: str, scrape: int, now: datetime | None = None) -> list[Bucket]:
    """The range's buckets as the tables group it: local calendar units (a first or last one cut
    by the range, a day changing daylight saving time 23 or 25 hours), up to the scrape now."""
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    step = timedelta(seconds=BUCKET_SECONDS[unit])
    out = []
    local = _local_floor(filters.start, unit)
    while local < filters.end:
        following = local + step  # wall-clock arithmetic: a local day is 24 wall-clock hours
        start, end = filters.to_utc(max(local, filters.start)), filters.to_utc(min(following, filters.end))
        if start > now:
            break
        out.append(Bucket(local, start, end))
        local = following
    return out


def _per_bucket(client: Prometheus, name: str, filters: Filters, unit: str, label: str, column: str,
                now: datetime | None) -> pd.DataFrame:
    """Panel ``name`` per bucket (``local`` start, the label's value, ``column``): the buckets of
    the unit's full length in one range query (split where long), the others (cut by the range,
    or by daylight saving time) one instant query each, read at their end less one scrape."""
    scrape = client.config.scrape
    step = BUCKET_SECONDS[unit]
    parts = buckets(filters, unit, scrape, now)
    regular = [b for b in parts if b.seconds == step]
    frames = []
    if regular:
        at = {b.end - timedelta(seconds=scrape): b.local for b in regular}
        query = promql(name, client.config, window=step, filters=filters)
        frame = _matrix_frame(client.range(query, min(at), max(at), step), label, column)
        frame["local"] = frame["at"].dt.tz_localize(None).map(at)
        frames.append(frame.dropna(subset=["local"]))  # evaluations between regular runs (an odd day)
    for part in parts:
        if part.seconds != step:
            query = promql(name, client.config, window=part.seconds, filters=filters)
            values = _vector_values(client.instant(query, part.end - timedelta(seconds=scrape)), label)
            frames.append(pd.DataFrame([(part.local, key, value) for key, value in values.items()],
                                       columns=["local", label, column]))
    if not frames:
        return pd.DataFrame(columns=["local", label, column])
    return pd.concat(frames, ignore_index=True)[["local", label, column]]


def _buckets_frame(client: Prometheus, names: dict[str, str], filters: Filters, unit: str, label: str,
                   now: datetime | None) -> pd.DataFrame:
    """Several panels per bucket (column → panel name), joined on bucket and label."""
    frame = None
    for column, name in names.items():
        part = _per_bucket(client, name, filters, unit, label, column, now)
        frame = part if frame is None else frame.merge(part, on=["local", label], how="outer")
    frame = frame.rename(columns={"local": "bucket"})
    frame["bucket"] = pd.to_datetime(frame["bucket"])
    return frame


def traffic(client: Prometheus, filters: Filters, unit: str, now: datetime | None = None) -> pd.DataFrame:
    """``operational.traffic``'s frame: per local bucket and service, requests, errors, samples
    (scrapes in the bucket), RPS and error rate %."""
    config = client.config
    columns = ["bucket", "service", "requests", "errors", "samples", "rps", "error_rate"]
    frame = _buckets_frame(client, {"requests": "requests"}, filters, unit, config.service_label, now)
    errors = _buckets_frame(client, {"errors": "errors"}, filters, unit, config.service_label, now)
    frame = frame.merge(errors, on=["bucket", config.service_label], how="left").rename(
        columns={config.service_label: "service"})
    if frame.empty:
        return pd.DataFrame(columns=columns)
    lengths = {pd.Timestamp(b.local): b.seconds for b in buckets(filters, unit, config.scrape, now)}
    seconds = frame["bucket"].map(lengths).astype(float)
    frame["errors"] = frame["errors"].fillna(0.0)
    frame["samples"] = seconds / config.scrape
    frame["rps"] = frame["requests"] / seconds
    frame["error_rate"] = 100.0 * frame["errors"] / frame["requests"].where(frame["requests"] > 0)
    return frame[columns].sort_values(["bucket", "service"], ignore_index=True)


def errors_over_time(client: Prometheus, filters: Filters, unit: str, now: datetime | None = None) -> pd.DataFrame:
    """``operational.errors_over_time``'s frame: errors per local bucket and error type."""
    frame = _buckets_frame(client, {"events": "errors_by_type"}, filters, unit, "error_type", now)
    frame = frame[frame["events"] > 0]
    return frame[["bucket", "error_type", "events"]].sort_values(["bucket", "error_type"], ignore_index=True)


def resources(client: Prometheus, filters: Filters, unit: str, now: datetime | None = None) -> pd.DataFrame:
    """``operational.resources``'s frame: per local bucket and service, mean CPU and memory %,
    highest disk %."""
    label = client.config.service_label
    frame = _buckets_frame(client, {"cpu": "cpu", "memory": "memory", "disk": "disk"}, filters, unit, label, now)
    return frame.rename(columns={label: "service"})[["bucket", "service", "cpu", "memory", "disk"]].sort_values(
        ["bucket", "service"], ignore_index=True)


def active_sessions_over_time(client: Prometheus, filters: Filters, unit: str,
                              now: datetime | None = None) -> pd.DataFrame:
    """``operational.active_sessions_over_time``'s frame: per local bucket, the mean and the peak
    of the sessions summed over services per scrape."""
    frame = _buckets_frame(client, {"mean_sessions": "sessions_mean", "peak_sessions": "sessions_peak"},
                           filters, unit, "_", now)
    return frame[["bucket", "mean_sessions", "peak_sessions"]].sort_values("bucket", ignore_index=True)


def _checks(client: Prometheus, filters: Filters, now: datetime | None) -> tuple[pd.DataFrame, datetime | None]:
    """Each service's ``up`` at every scrape of the range (UTC ``at``, ``service``, ``up``), and
    the last scrape time read."""
    config = client.config
    start, end = filters.utc_bounds()
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    last = min(end - timedelta(seconds=config.scrape), now)
    if last < start:
        return pd.DataFrame(columns=["at", "service", "up"]), None
    frame = _matrix_frame(client.range(promql("up", config), start, last, config.scrape), config.service_label, "up")
    return frame.rename(columns={config.service_label: "service"}), last


def _down_runs(client: Prometheus, filters: Filters, now: datetime | None) -> tuple[pd.DataFrame, datetime | None]:
    """Each run of scrapes with ``up`` 0 in the range (UTC ``started``, ``last_down``, ``checks``)
    and the last scrape time read. Only the scrapes at 0 cross the wire (``up == 0``)."""
    config = client.config
    start, end = filters.utc_bounds()
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    last = min(end - timedelta(seconds=config.scrape), now)
    columns = ["service", "started", "last_down", "checks"]
    if last < start:
        return pd.DataFrame(columns=columns), None
    down = _matrix_frame(client.range(promql("down", config), start, last, config.scrape), config.service_label, "up")
    rows = []
    gap = pd.Timedelta(seconds=config.scrape)
    for service, part in down.sort_values("at").groupby(config.service_label, sort=True):
        times = list(part["at"].dt.tz_localize(None))
        first = previous = times[0]
        count = 1
        for moment in times[1:]:
            if moment - previous > gap:  # an up scrape between: a new run
                rows.append((service, first, previous, count))
                first, count = moment, 0
            previous, count = moment, count + 1
        rows.append((service, first, previous, count))
    return pd.DataFrame(rows, columns=columns), last


def service_status(client: Prometheus, filters: Filters, now: datetime | None = None) -> pd.DataFrame:
    """``operational.service_status``'s frame from ``up``: each service's last status (up or
    down) and its time, since when (the first scrape of the current run), and its uptime % over
    the range's scrapes. No latency (NaN). Reads counts and the scrapes at 0, not every scrape."""
    from data_access.business import to_local

    config = client.config
    columns = ["service", "status", "last_check", "since", "whole_range", "latency_ms", "ok", "known", "uptime"]
    runs, last = _down_runs(client, filters, now)
    counts = uptime_by_service(client, filters, now)
    if last is None or counts.empty:
        return pd.DataFrame(columns=columns)
    latest = client.instant(promql("up", config), last)
    state = {item["metric"].get(config.service_label, ""): (float(item["value"][1]), None) for item in latest}
    stamps = client.instant(promql("last_scrape", config), last)
    for item in stamps:
        name = item["metric"].get(config.service_label, "")
        if name in state:
            state[name] = (state[name][0], datetime.fromtimestamp(float(item["value"][1]), timezone.utc).replace(tzinfo=None))
    step = timedelta(seconds=config.scrape)
    rows = []
    for row in counts.itertuples(index=False):
        value, checked = state.get(row.service, (None, None))
        if value is None or checked is None:
            continue
        mine = runs[runs["service"] == row.service]
        first_scrape = checked - step * (int(row.known) - 1)
        if value >= 1:
            status, whole = "up", mine.empty
            since = first_scrape if mine.empty else mine["last_down"].iloc[-1] + step
        else:
            status, whole = "down", row.ok == 0
            since = mine["started"].iloc[-1] if not mine.empty else checked
        rows.append((row.service, status, checked, since, whole, float("nan"), row.ok, row.known, row.uptime))
    frame = pd.DataFrame(rows, columns=columns)
    order = frame["status"].map({"down": 0, "up": 3})
    frame = frame.assign(_order=order).sort_values(["_order", "service"]).drop(columns="_order").reset_index(drop=True)
    for column in ("last_check", "since"):
        frame[column] = to_local(frame[column], filters.tz)
    return frame


def status_intervals(client: Prometheus, filters: Filters, now: datetime | None = None,
                     limit: int = 2000) -> pd.DataFrame:
    """``operational.status_intervals``'s frame from ``up``: each run of scrapes at 0, from its
    first scrape to the next scrape after it (or its last, at the range's end)."""
    from data_access.business import to_local

    runs, last = _down_runs(client, filters, now)
    step = timedelta(seconds=client.config.scrape)
    frame = pd.DataFrame({"service": runs["service"], "status": "down", "started": runs["started"],
                          "ended": [d + step if last is not None and d + step <= last else d for d in runs["last_down"]],
                          "checks": runs["checks"]})
    frame = frame.sort_values("started", ignore_index=True).head(limit)
    for column in ("started", "ended"):
        frame[column] = to_local(pd.to_datetime(frame[column]), filters.tz)
    frame["seconds"] = (frame["ended"] - frame["started"]).dt.total_seconds()
    return frame


def uptime_by_service(client: Prometheus, filters: Filters, now: datetime | None = None) -> pd.DataFrame:
    """Per service: scrapes with ``up`` 1 (``ok``) among all (``known``) in the range and the
    uptime % (the SLA page's service uptime)."""
    config = client.config
    start, end = filters.utc_bounds()
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    at = min(end - timedelta(seconds=config.scrape), now)
    window = int((at - start).total_seconds()) + config.scrape  # ``sub`` takes one scrape off again
    if at < start:
        return pd.DataFrame(columns=["service", "ok", "known", "uptime"])
    ok = _vector_values(client.instant(promql("checks_ok", config, window=window), at), config.service_label)
    known = _vector_values(client.instant(promql("checks", config, window=window), at), config.service_label)
    frame = pd.DataFrame([(s, ok.get(s, 0.0), n) for s, n in sorted(known.items())],
                         columns=["service", "ok", "known"])
    frame["uptime"] = 100.0 * frame["ok"] / frame["known"].where(frame["known"] > 0)
    return frame


def sla_checks(client: Prometheus, filters: Filters, *, by_month: bool = False,
               now: datetime | None = None, recent: timedelta = timedelta(hours=1)) -> pd.DataFrame:
    """What ``sla.compliance`` counts for the services, from ``up``: per service (and local
    month), the first and last scrape, scrapes known and up, and those of the last ``recent``.
    No health-check latency (NaN). Feed to ``sla.compliance_from_checks``."""
    checks, last = _checks(client, filters, now)
    columns = (["month"] if by_month else []) + ["name", "first_seen", "last_seen", "known", "ok", "recent_known",
                                                 "recent_ok", "p95_ms", "under_target", "timed"]
    if checks.empty:
        return pd.DataFrame(columns=columns)
    checks = checks.assign(at=checks["at"].dt.tz_localize(None), good=(checks["up"] >= 1).astype(int))
    checks["recent"] = checks["at"] >= (last + timedelta(seconds=client.config.scrape) - recent)
    keys = ["name"]
    checks = checks.rename(columns={"service": "name"})
    if by_month:
        local = checks["at"].dt.tz_localize("UTC").dt.tz_convert(filters.tz).dt.tz_localize(None)
        checks["month"] = local.dt.to_period("M").dt.to_timestamp()
        keys = ["month", "name"]
    grouped = checks.groupby(keys, sort=True)
    frame = grouped.agg(first_seen=("at", "min"), last_seen=("at", "max"), known=("good", "size"), ok=("good", "sum"))
    recent_rows = checks[checks["recent"]].groupby(keys).agg(recent_known=("good", "size"), recent_ok=("good", "sum"))
    frame = frame.join(recent_rows).fillna({"recent_known": 0, "recent_ok": 0}).reset_index()
    frame["p95_ms"], frame["under_target"], frame["timed"] = float("nan"), 0.0, 0.0
    return frame[columns].astype({"known": float, "ok": float, "recent_known": float, "recent_ok": float})


def kpis(client: Prometheus, filters: Filters, keys: tuple[str, ...], now: datetime | None = None) -> dict:
    """The Operational page's KPIs over ``filters`` as ``kpis.KpiValue`` (no value, reason
    "no_data", where Prometheus has none): avg_rps, peak_rps, error_rate, uptime,
    active_sessions (the sum at the last scrape), cpu, memory, disk (the highest service at the
    last scrape). ``n``: the scrapes, requests or checks behind each."""
    from data_access.kpis import NO_DATA, KpiValue

    config = client.config
    start, end = filters.utc_bounds()
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    at = min(end - timedelta(seconds=config.scrape), now)
    if at < start:
        return {key: KpiValue(key, None, reason=NO_DATA) for key in keys}
    window = int((at - start).total_seconds()) + config.scrape
    scrapes = window // config.scrape

    def values(name: str, **options) -> list[float]:
        found = _vector_values(client.instant(promql(name, config, **options), at), config.service_label)
        return [v for v in found.values() if not math.isnan(v)]

    def value(key: str, number: float | None, n: int) -> KpiValue:
        return KpiValue(key, number, n) if number is not None else KpiValue(key, None, reason=NO_DATA)

    out = {}
    requests = sum(values("requests", window=window, filters=filters)) if {"avg_rps", "error_rate"} & set(keys) else 0
    for key in keys:
        if key == "avg_rps":  # over the scrapes that happened, as the tables divide by the samples taken
            taken = int(max(values("scrapes", window=window, filters=filters), default=0))
            out[key] = value(key, requests / (taken * config.scrape) if requests and taken else None, taken)
        elif key == "error_rate":
            out[key] = value(key, 100.0 * sum(values("errors", window=window)) / requests if requests else None,
                             int(requests))
        elif key == "peak_rps":
            out[key] = value(key, max(values("peak_rps", window=window, filters=filters), default=None), scrapes)
        elif key == "uptime":
            frame = uptime_by_service(client, filters, now)
            known = int(frame["known"].sum())
            out[key] = value(key, 100.0 * frame["ok"].sum() / known if known else None, known)
        elif key in ("active_sessions", "cpu", "memory", "disk"):
            # n: the sample timestamps of the range (the tables' n of these gauges), not the series.
            found = values("sessions_now" if key == "active_sessions" else f"{key}_now")
            out[key] = value(key, max(found, default=None), scrapes)
        else:
            raise KeyError(key)
    return out


# --- the alert rules as Prometheus rules ------------------------------------------------------
# alerts.yml's service-level metrics in PromQL (``{s}``: the service label, ``{w}``: the rule's
# window in seconds); the rules over dialogs, ratings and reviews stay with the dashboard's watcher.
RULE_EXPRESSIONS = {
    "uptime": "100 * avg by ({s}) (avg_over_time(up[{w}s]))",
    "error_rate": "100 * sum by ({s}) (increase(errors_total[{w}s])) / sum by ({s}) (increase(messages_total[{w}s]))",
    "disk_percent": DISK_USED,
    "memory_percent": MEMORY_USED,
    "cpu_percent": CPU_BUSY.replace("{r}", "{w}"),
    "p95_response_time": "1000 * histogram_quantile(0.95, sum by (le) (rate(response_time_seconds_bucket[{w}s])))",
    "avg_response_time": ("1000 * sum(rate(response_time_seconds_sum[{w}s])) "
                          "/ sum(rate(response_time_seconds_count[{w}s]))"),
}
# What ``min_count`` counts per metric: fewer in the window and the rule stays quiet.
RULE_COUNTS = {"error_rate": "sum by ({s}) (increase(messages_total[{w}s]))",
               "p95_response_time": "sum(increase(response_time_seconds_count[{w}s]))",
               "avg_response_time": "sum(increase(response_time_seconds_count[{w}s]))"}


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def rules_document(rule_set, service_label: str = "job") -> dict:
    """alerts.yml's rules that Prometheus can evaluate (``RULE_EXPRESSIONS``; grouped by a service
    or not at all) as a Prometheus rules document, each rule with
    its severity and both summaries, in one group. Hysteresis (``clear``) has no Prometheus equivalent: such an
    alert resolves as soon as its condition stops holding."""
    rules: list[dict] = []
    for rule in rule_set.rules:
        if rule.metric not in RULE_EXPRESSIONS or rule.by not in (None, "service") or rule.baseline_weeks:
            continue
        window = max(rule.window, rule.step)
        values = dict(s=service_label, w=window, r=window)
        expr = f"{RULE_EXPRESSIONS[rule.metric].format(**values)} {rule.operator} {rule.threshold:g}"
        if rule.min_count and rule.metric in RULE_COUNTS:
            expr = f"({expr}) and {RULE_COUNTS[rule.metric].format(**values)} >= {rule.min_count}"
        entry = {"alert": rule.name, "expr": expr}
        if rule.for_:
            entry["for"] = _duration(rule.for_)
        entry["labels"] = {"severity": rule.severity}
        entry["annotations"] = {"summary": rule.summary, "summary_ru": rule.summary_ru or rule.summary}
        rules.append(entry)
    return {"groups": [{"name": "easyflow-service-alerts", "interval": "1m", "rules": rules}]}


RULES_HEADER = """# Generated from alerts.yml by `python -m data_access.prometheus rules --out prometheus-rules.yml`:
# the service-level alerts for teams that alert in Prometheus. Edit alerts.yml, then regenerate;
# a test fails while the two differ. Checked by `promtool check rules prometheus-rules.yml`.
"""


def rules_text(rule_set, service_label: str = "job") -> str:
    import yaml

    return RULES_HEADER + yaml.safe_dump(rules_document(rule_set, service_label), sort_keys=False,
                                         allow_unicode=True, width=200)


def main(argv: list[str] | None = None) -> int:
    """``python -m data_access.prometheus rules [--out FILE]``: alerts.yml as Prometheus rules."""
    import argparse
    import sys

    from data_access.alert_rules import load_rules, rules_path

    parser = argparse.ArgumentParser(prog="python -m data_access.prometheus",
                                     description="alerts.yml's service-level rules as a Prometheus rules file.")
    parser.add_argument("command", choices=["rules"])
    parser.add_argument("--out", help="write here (default: print)")
    parser.add_argument("--service-label", default="job", help="the label naming a service (default job)")
    args = parser.parse_args(argv)
    text = rules_text(load_rules(rules_path()), args.service_label)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
