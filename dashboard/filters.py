"""The shared filters: parsed from the URL, drawn in the sidebar, written back to the URL.

``parse_query`` is pure: raw query parameters in, a valid ``Filters`` and the warnings for
what was dropped out. Nothing from the URL reaches SQL except through ``Filters``, whose
values are all checked against the option lists the database offers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, available_timezones

from data_access.filters import Filters
from data_access.series import FilterOptions

PERIODS = ("24h", "7d", "30d", "90d", "this_week", "last_week", "this_month", "last_month", "custom")
PERIOD_DAYS = {"7d": 7, "30d": 30, "90d": 90}
CALENDAR_PERIODS = ("this_week", "last_week", "this_month", "last_month")  # weeks start on Monday
DEFAULT_PERIOD = "30d"
DIMENSION_PARAMS = {"platform": "platforms", "intent": "intents", "ai_model": "models"}
EARLIEST = date(2000, 1, 1)
MAX_VALUE_LENGTH = 200
MAX_VALUES = 100
COMMON_TIMEZONES = ("UTC", "Europe/London", "Europe/Berlin", "Europe/Moscow", "Asia/Dubai",
                    "Asia/Kolkata", "Asia/Singapore", "America/New_York", "America/Los_Angeles")


def default_timezone() -> str:
    """The display timezone from ``EASYFLOW_TIMEZONE`` (default UTC)."""
    name = os.environ.get("EASYFLOW_TIMEZONE", "UTC")
    return name if name in available_timezones() else "UTC"


@dataclass(frozen=True)
class Selection:
    """What the user chose: a period preset or custom dates, dimension values, a timezone."""

    period: str = DEFAULT_PERIOD
    start: date | None = None  # only for period == "custom"
    end: date | None = None
    platforms: tuple[str, ...] = ()
    intents: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    tz: str = "UTC"

    def filters(self, now: datetime) -> Filters:
        """The ``Filters`` this selection means at ``now`` (an aware datetime)."""
        dims = dict(platforms=self.platforms, intents=self.intents, models=self.models)
        local_now = now.astimezone(ZoneInfo(self.tz)).replace(tzinfo=None)
        today = local_now.date()
        if self.period == "24h":
            end = local_now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            return Filters(end - timedelta(hours=24), end, tz=self.tz, **dims)
        if self.period == "custom" and self.start and self.end:
            return Filters.for_dates(self.start, self.end, tz=self.tz, **dims)
        if self.period in CALENDAR_PERIODS:
            return Filters.for_dates(*calendar_dates(self.period, today), tz=self.tz,
                                     calendar="month" if self.period.endswith("month") else "week", **dims)
        days = PERIOD_DAYS.get(self.period, PERIOD_DAYS[DEFAULT_PERIOD])
        return Filters.for_dates(today - timedelta(days=days - 1), today, tz=self.tz, **dims)

    def to_query(self) -> dict[str, list[str] | str]:
        """The URL query parameters for this selection (the contract's names)."""
        query: dict[str, list[str] | str] = {}
        if self.period == "custom" and self.start and self.end:
            query["start_date"] = self.start.isoformat()
            query["end_date"] = self.end.isoformat()
        elif self.period != DEFAULT_PERIOD:
            query["range"] = self.period
        for param, attr in DIMENSION_PARAMS.items():
            if getattr(self, attr):
                query[param] = list(getattr(self, attr))
        if self.tz != "UTC":
            query["tz"] = self.tz
        return query


@dataclass(frozen=True)
class Warning_:
    """A message key and its values, translated when shown."""

    key: str
    values: dict = field(default_factory=dict)


def quote(value: str) -> str:
    """A hostile value made safe to show inside a Markdown code span: one short line (no control
    character: a carriage return would end the span as a line feed does), no backticks."""
    from dashboard.format import plain_text

    value = plain_text(value).replace("`", "'")
    return value if len(value) <= 40 else value[:37] + "…"


def split_values(raw: Sequence[str]) -> list[str]:
    """Repeated keys and comma-separated values, flattened, stripped, de-duplicated in order."""
    seen: dict[str, None] = {}
    for item in raw:
        for part in str(item).split(","):
            part = part.strip()
            if part:
                seen.setdefault(part, None)
    return list(seen)


def _parse_date(name: str, raw: Sequence[str], today: date, warnings: list[Warning_]) -> date | None:
    if not raw:
        return None
    text = str(raw[-1]).strip()
    try:
        value = date.fromisoformat(text) if len(text) <= 10 else None
    except ValueError:
        value = None
    if value is None:
        warnings.append(Warning_("warn.bad_date", {"name": name, "value": quote(text)}))
        return None
    high = today + timedelta(days=366)
    if not EARLIEST <= value <= high:
        warnings.append(Warning_("warn.date_out_of_range", {"name": name, "value": text,
                                                           "low": EARLIEST.isoformat(), "high": high.isoformat()}))
        return None
    return value


def parse_query(query: Mapping[str, Sequence[str]], options: FilterOptions, now: datetime,
                default_tz: str = "UTC") -> tuple[Selection, list[Warning_]]:
    """Validate raw URL parameters (each a list of strings) against ``options``.

    Returns the selection to use and a warning for everything that was dropped. Unknown
    parameters are ignored. Never raises on any input.
    """
    warnings: list[Warning_] = []
    tz = default_tz
    raw_tz = [str(v) for v in query.get("tz", [])]
    if raw_tz:
        if raw_tz[-1] in available_timezones():
            tz = raw_tz[-1]
        else:
            warnings.append(Warning_("warn.unknown_timezone", {"value": quote(raw_tz[-1]), "default": default_tz}))
    today = now.astimezone(ZoneInfo(tz)).date()

    period = DEFAULT_PERIOD
    raw_range = [str(v) for v in query.get("range", [])]
    if raw_range:
        if raw_range[-1] in PERIODS and raw_range[-1] != "custom":
            period = raw_range[-1]
        else:
            warnings.append(Warning_("warn.unknown_period", {"value": quote(raw_range[-1])}))

    start = _parse_date("start_date", query.get("start_date", []), today, warnings)
    end = _parse_date("end_date", query.get("end_date", []), today, warnings)
    if start and end:
        if end < start:
            warnings.append(Warning_("warn.end_before_start", {"start": start.isoformat(), "end": end.isoformat()}))
        else:
            period = "custom"
    elif start or end:
        # One side given: the other defaults to a 30-day range around it.
        if start:
            end = min(start + timedelta(days=29), today) if start <= today else start
        else:
            start = end - timedelta(days=29)
        period = "custom"

    dims: dict[str, tuple[str, ...]] = {}
    for param, attr in DIMENSION_PARAMS.items():
        allowed = set(getattr(options, attr))
        values = split_values(query.get(param, []))[:MAX_VALUES]
        good = tuple(v for v in values if len(v) <= MAX_VALUE_LENGTH and v in allowed)
        bad = [v for v in values if v not in good]
        if bad:
            warnings.append(Warning_("warn.unknown_value", {
                "name": param, "count": len(bad),
                "values": ", ".join(f"`{quote(v)}`" for v in bad[:5]) + (" …" if len(bad) > 5 else "")}))
        dims[attr] = good
    selection = Selection(period=period, start=start if period == "custom" else None,
                          end=end if period == "custom" else None, tz=tz, **dims)
    return selection, warnings


def calendar_dates(period: str, today: date) -> tuple[date, date]:
    """The inclusive dates of a calendar period (``CALENDAR_PERIODS``) as seen on ``today``: this
    week from Monday to today, last week Monday to Sunday, this month from the 1st to today, last
    month whole. Raises ``KeyError`` for another period."""
    monday = today - timedelta(days=today.weekday())
    first = today.replace(day=1)
    previous_first = (first - timedelta(days=1)).replace(day=1)
    return {"this_week": (monday, today), "last_week": (monday - timedelta(days=7), monday - timedelta(days=1)),
            "this_month": (first, today), "last_month": (previous_first, first - timedelta(days=1))}[period]


def matching_period(selection: Selection, now: datetime) -> Selection:
    """A custom selection that equals a preset becomes that preset (so the URL stays short): the
    rolling ones first, then the calendar ones."""
    if selection.period != "custom" or not selection.start or not selection.end:
        return selection
    today = now.astimezone(ZoneInfo(selection.tz)).date()
    for period, days in PERIOD_DAYS.items():
        if selection.end == today and selection.start == today - timedelta(days=days - 1):
            return replace(selection, period=period, start=None, end=None)
    for period in CALENDAR_PERIODS:
        if (selection.start, selection.end) == calendar_dates(period, today):
            return replace(selection, period=period, start=None, end=None)
    return selection


def download_name(stem: str, filters: Filters, extension: str) -> str:
    """A file name that carries the view: ``dialogs_whatsapp_2026-11-24_2026-11-30.csv``, so two
    downloads of different filters do not overwrite each other. Dimension values (up to three per
    dimension, else their count) are reduced to letters, digits, ``_``, ``+`` and ``-``."""
    parts = [stem]
    for name, values in (("platforms", filters.platforms), ("intents", filters.intents), ("models", filters.models)):
        if values:
            parts.append("+".join(values) if len(values) <= 3 else f"{len(values)}-{name}")
    parts += [filters.start_date.isoformat(), filters.end_date.isoformat()]
    name = re.sub(r"[^A-Za-z0-9_+-]+", "-", "_".join(parts)).strip("-")[:150]
    return f"{name}.{extension}"


def from_url(key: str, options, default: str | None = None) -> None:
    """A page widget's value from the URL on its first run: one of ``options`` (a key, never a
    label, so a link works in either language), else ``default``. Its key is in ``sidebar.VIEW_KEYS``."""
    import streamlit as st

    if key not in st.session_state:
        raw = st.query_params.get(key)
        st.session_state[key] = raw if raw in options else default


def to_url(key: str, value: str | None) -> None:
    """The URL holds a page widget's value, even its default (a shared link opens the same view)."""
    import streamlit as st

    if value is None:
        if key in st.query_params:
            del st.query_params[key]
    elif st.query_params.get(key) != value:
        st.query_params[key] = value


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def local_time(tz: str, now: datetime | None = None) -> datetime:
    """Wall-clock time in ``tz`` (naive), as it is: what "today" and "not over yet" mean."""
    return (now or utc_now()).astimezone(ZoneInfo(tz)).replace(tzinfo=None)


def local_now(tz: str, now: datetime | None = None) -> datetime:
    """Wall-clock time in ``tz`` (naive), rounded up to the next whole hour.

    Rounded so that cached comparison queries are reused for an hour; not for "today" or "is the
    period over" (``local_time``): in the day's last hour this is already tomorrow."""
    local = local_time(tz, now)
    floor = local.replace(minute=0, second=0, microsecond=0)
    return floor if floor == local else floor + timedelta(hours=1)


def comparison_period(filters: Filters, now: datetime | None = None) -> Filters:
    """The period a KPI's delta compares with (``Filters.previous``), with "now" this hour's end."""
    return filters.previous(now=local_now(filters.tz, now))
