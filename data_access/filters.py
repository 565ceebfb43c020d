"""Filters as data: one frozen, hashable value that every query takes.

``Filters`` holds the half-open range in the dashboard's timezone and the dimension values.
``where`` compiles it, for one table, to ``(where_clauses, params)``: identifiers come from the
contract's allow-list, values are always bound.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from data_access.schema import Schema

# Which filter applies to which column, per table (contract: system tables only by date range).
DIMENSIONS: dict[str, dict[str, str]] = {
    "conversation_metrics": {"platforms": "platform", "intents": "intent", "models": "ai_model"},
    "nps_responses": {"platforms": "platform"},
    "system_metrics": {},
    "error_events": {},
    "service_health": {},
    "integration_calls": {},
}


@dataclass(frozen=True)
class Filters:
    """A range ``[start, end)`` of local wall-clock times in ``tz`` plus dimension values.

    An empty tuple means "all values". Build one from dates with ``Filters.for_dates``.
    """

    start: datetime
    end: datetime
    platforms: tuple[str, ...] = ()
    intents: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    tz: str = "UTC"
    # The calendar unit the range is, or runs to date of ("month", "week"; a calendar preset),
    # which decides what it is compared with (``previous``); None for any other range.
    calendar: str | None = None

    @classmethod
    def for_dates(cls, start: date, end: date, tz: str = "UTC", **dimensions) -> "Filters":
        """The contract's range for inclusive dates: [start 00:00, end + 1 day 00:00)."""
        return cls(datetime.combine(start, time()), datetime.combine(end + timedelta(days=1), time()),
                   tz=tz, **dimensions)

    @property
    def start_date(self) -> date:
        return self.start.date()

    @property
    def end_date(self) -> date:
        """The last day the range touches (inclusive)."""
        return (self.end - timedelta(microseconds=1)).date()

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def previous(self, now: datetime | None = None) -> "Filters":
        """The period a change is measured against, the one rule of every page, report and split:
        a calendar month (``calendar`` "month") against the month before, and a month to date
        against the same days of the month before; a calendar week alike; any other range against
        the same length just before it. With ``now`` (local wall-clock time) inside the range or
        at its end, only the part of that period that has elapsed in this one: a range that ends
        with today is still running in the day's last hour, when this hour's end is its end."""
        running = now is not None and self.start < now <= self.end
        if self.calendar == "month":
            start = _month_before(self.start)
        elif self.calendar == "week":
            start = self.start - timedelta(weeks=1)
        else:
            start = self.start - self.length
        end = start + (now - self.start) if running else self.start
        return replace(self, start=start, end=min(end, self.start))

    def to_utc(self, local: datetime) -> datetime:
        """A local wall-clock time in ``tz`` as a naive UTC datetime."""
        aware = local.replace(tzinfo=ZoneInfo(self.tz))
        return aware.astimezone(timezone.utc).replace(tzinfo=None)

    def to_local(self, utc: datetime) -> datetime:
        """A naive UTC datetime as the local wall-clock time in ``tz``."""
        return utc.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(self.tz)).replace(tzinfo=None)

    def utc_bounds(self) -> tuple[datetime, datetime]:
        return self.to_utc(self.start), self.to_utc(self.end)


def _month_before(moment: datetime) -> datetime:
    """The 1st of the month before ``moment``'s, at 00:00."""
    first = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first - timedelta(days=1)).replace(day=1)


def bind_timestamp(value: datetime, dialect: str):
    """A naive UTC datetime as the driver should receive it.

    SQLite keeps timestamps as ISO text (``YYYY-MM-DD HH:MM:SS[.ffffff]``), so the bound value
    is text of the same shape and compares correctly.
    """
    if dialect == "sqlite":
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return value


def where(filters: Filters, table: str, schema: Schema, dialect: str,
          prefix: str = "") -> tuple[list[str], dict]:
    """Compile ``filters`` for ``table`` to ``(where_clauses, params)``.

    Clauses reference columns unqualified; parameter names start with ``prefix`` so that
    several compiled filters can share one statement. A dimension the table does not have is
    not applied. Raises ``KeyError`` for a table outside the contract.
    """
    start, end = filters.utc_bounds()
    clauses = [f'"timestamp" >= :{prefix}start', f'"timestamp" < :{prefix}end']
    params: dict = {f"{prefix}start": bind_timestamp(start, dialect),
                    f"{prefix}end": bind_timestamp(end, dialect)}
    dimensions, dimension_params = dimension_where(filters, table, schema, prefix)
    return clauses + dimensions, {**params, **dimension_params}


def dimension_where(filters: Filters, table: str, schema: Schema, prefix: str = "") -> tuple[list[str], dict]:
    """The dimension part of ``where`` alone: ``(clauses, params)`` for the platform, intent and
    model values of ``filters`` that ``table`` has (no time range)."""
    clauses: list[str] = []
    params: dict = {}
    for field_name, column in DIMENSIONS[table].items():
        values = getattr(filters, field_name)
        if not values or not schema.has(table, column):
            continue
        names = [f"{prefix}{column}_{i}" for i in range(len(values))]
        clauses.append(f"{column} IN ({', '.join(':' + n for n in names)})")
        params.update(zip(names, values))
    return clauses, params
