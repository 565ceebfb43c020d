"""Triggers that note the closed hours a write touched: rows that arrive late into an hour already
aggregated, and rows changed or deleted there. One trigger set per raw table writes that table's
one log: the rollups (``data_access.rollups``) keep conversation_metrics' and read its log;
``data_access.service_rollups`` keeps the others', whose logs the rule records
(``data_access.rule_records``) read as well. All read the noted hours back as naive UTC and
aggregate them again in runs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from data_access import errors, logs
from data_access.filters import bind_timestamp

HOUR = timedelta(hours=1)


def naive_utc(value) -> datetime | None:
    """A stored time as naive UTC (SQLite returns text; a timestamptz column an aware value)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def hour_of(expr: str, dialect: str) -> str:
    """The start of the UTC hour of a timestamp (sessions run in UTC on PostgreSQL)."""
    return f"date_trunc('hour', {expr})" if dialect == "postgresql" else f"strftime('%Y-%m-%d %H:00:00', {expr})"


def day_of(expr: str, dialect: str) -> str:
    """The start of the UTC day of a naive UTC timestamp."""
    return f"date_trunc('day', {expr})" if dialect == "postgresql" else f"strftime('%Y-%m-%d 00:00:00', {expr})"


def floor_day(value: datetime) -> datetime:
    return value.replace(hour=0, minute=0, second=0, microsecond=0)


def floor_month(value: datetime) -> datetime:
    return datetime(value.year, value.month, 1)


def next_month(value: datetime) -> datetime:
    """The start of the month after ``value``'s."""
    return datetime(value.year + value.month // 12, value.month % 12 + 1, 1)


def days_to_remake(start: datetime, end: datetime, watermark: datetime) -> tuple[datetime, datetime] | None:
    """The [lo, hi) UTC days that hold an hour of [start, end) and are wholly before ``watermark``,
    or None when there is none."""
    lo, hi = floor_day(start), min(floor_day(end - timedelta(hours=1)) + timedelta(days=1), floor_day(watermark))
    return (lo, hi) if lo < hi else None


def run(conn: sa.Connection, statements: list[str], lo: datetime, hi: datetime) -> None:
    """Run ``statements`` with ``:lo`` and ``:hi`` bound to ``lo`` and ``hi`` (naive UTC)."""
    dialect = conn.dialect.name
    params = {"lo": bind_timestamp(lo, dialect), "hi": bind_timestamp(hi, dialect)}
    for statement in statements:
        conn.execute(sa.text(statement), params)


def remake_days(conn: sa.Connection, start: datetime, end: datetime, watermark: datetime,
                statements: list[str]) -> None:
    """Run ``statements`` (``Aggregate.remake``'s) over the days ``days_to_remake`` gives: how a
    daily table is made again after those hours were aggregated."""
    days = days_to_remake(start, end, watermark)
    if days is not None:
        run(conn, statements, *days)


def next_hour(expr: str, dialect: str) -> str:
    """An hour's start (as ``hour_of`` gives it) one hour later."""
    return f"({expr} + INTERVAL '1 hour')" if dialect == "postgresql" else f"datetime({expr}, '+1 hour')"


def runs(starts, step: timedelta) -> list[tuple[datetime, datetime]]:
    """Periods of length ``step`` (by their starts) as sorted [start, end) runs of consecutive ones."""
    merged: list[tuple[datetime, datetime]] = []
    for start in sorted(set(starts)):
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], start + step)
        else:
            merged.append((start, start + step))
    return merged


def hour_runs(hours) -> list[tuple[datetime, datetime]]:
    """Hours (whole, naive UTC) as sorted [start, end) runs of consecutive hours."""
    return runs(hours, HOUR)


def note_triggers(table: str, dirty: str, dialect: str, *, function: str, trigger: str, hour: str | None = None,
                  closed: str | None = None) -> list[str]:
    """The statements that make triggers on ``table`` insert into ``dirty`` (column ``hour``) the
    hour of each written row older than the current hour; a PostgreSQL TRUNCATE inserts NULL.

    On PostgreSQL one statement-level trigger per event (named ``trigger`` with ``{event}`` in
    it) runs the plpgsql ``function``; ``hour`` is a row's hour and ``closed`` the condition on a
    row of being before the current hour (both over the row's ``"timestamp"``). On SQLite
    row-level triggers note each hour once."""
    if dialect == "postgresql":
        hour = hour or "date_trunc('hour', \"timestamp\")"
        statements = [f"""
        CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $body$
        BEGIN
          IF TG_OP = 'TRUNCATE' THEN
            INSERT INTO {dirty} (hour) VALUES (NULL);
            RETURN NULL;
          END IF;
          IF TG_OP IN ('INSERT', 'UPDATE') THEN
            INSERT INTO {dirty} (hour) SELECT DISTINCT {hour} FROM new_rows WHERE {closed};
          END IF;
          IF TG_OP IN ('UPDATE', 'DELETE') THEN
            INSERT INTO {dirty} (hour) SELECT DISTINCT {hour} FROM old_rows WHERE {closed};
          END IF;
          RETURN NULL;
        END $body$"""]
        for event, referencing in (("insert", "REFERENCING NEW TABLE AS new_rows"),
                                   ("update", "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"),
                                   ("delete", "REFERENCING OLD TABLE AS old_rows"), ("truncate", "")):
            name = trigger.format(event=event)
            statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            statements.append(f"CREATE TRIGGER {name} AFTER {event.upper()} ON {table} {referencing} "
                              f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()")
        return statements
    now = "strftime('%Y-%m-%d %H:00:00', 'now')"

    def note(row: str) -> str:
        row_hour = f"strftime('%Y-%m-%d %H:00:00', {row}.\"timestamp\")"
        return (f"INSERT INTO {dirty} (hour) SELECT {row_hour} WHERE {row}.\"timestamp\" < {now} "
                f"AND NOT EXISTS (SELECT 1 FROM {dirty} WHERE hour = {row_hour});")

    return [f"CREATE TRIGGER IF NOT EXISTS {trigger.format(event='insert')} AFTER INSERT ON {table} BEGIN {note('NEW')} END",
            f"CREATE TRIGGER IF NOT EXISTS {trigger.format(event='update')} AFTER UPDATE ON {table} BEGIN {note('OLD')} "
            f"{note('NEW')} END",
            f"CREATE TRIGGER IF NOT EXISTS {trigger.format(event='delete')} AFTER DELETE ON {table} BEGIN {note('OLD')} END"]


def _events(dialect: str) -> tuple[str, ...]:
    return ("insert", "update", "delete", "truncate") if dialect == "postgresql" else ("insert", "update", "delete")


def drop_triggers(table: str, dialect: str, *, function: str, trigger: str) -> list[str]:
    """The statements that remove what ``note_triggers`` made."""
    if dialect == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {trigger.format(event=event)} ON {table}"
                for event in _events(dialect)] + [f"DROP FUNCTION IF EXISTS {function}()"]
    return [f"DROP TRIGGER IF EXISTS {trigger.format(event=event)}" for event in _events(dialect)]


def has_triggers(conn: sa.Connection, table: str, *, trigger: str) -> bool:
    """Whether every trigger ``note_triggers`` makes on ``table`` (named ``trigger``) is there."""
    names = [trigger.format(event=event) for event in _events(conn.dialect.name)]
    params = {f"name_{i}": name for i, name in enumerate(names)}
    listed = ", ".join(f":{n}" for n in params)
    if conn.dialect.name == "postgresql":
        query = (f"SELECT COUNT(*) FROM pg_trigger WHERE tgrelid = to_regclass(:table) AND NOT tgisinternal "
                 f"AND tgname IN ({listed})")
    else:
        query = f"SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :table AND name IN ({listed})"
    return conn.execute(sa.text(query), {"table": table, **params}).scalar() == len(names)


def watch(engine: sa.Engine, table: str, dirty: str, aware: bool, *, function: str, trigger: str) -> bool:
    """Make (again) ``note_triggers`` on ``table`` noting in ``dirty`` the UTC hours (naive) of
    its timestamp, aware or not; returns whether they are there. Where the role may not put
    triggers on the table (on PostgreSQL only its owner may) and no owner made them before, False,
    with a warning in the log: what depends on them must read the raw rows. Raises SQLAlchemy
    errors other than such a refusal."""
    utc = "\"timestamp\" AT TIME ZONE 'UTC'" if aware else '"timestamp"'
    statements = note_triggers(table, dirty, engine.dialect.name, function=function, trigger=trigger,
                               hour=f"date_trunc('hour', {utc})",
                               closed=f"{utc} < date_trunc('hour', clock_timestamp() AT TIME ZONE 'UTC')")
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    except errors.DATABASE_ERRORS as error:
        if not isinstance(errors.classify(error), errors.AccessDenied):
            raise
        with engine.connect() as conn:
            if has_triggers(conn, table, trigger=trigger):  # an owner made them: they note all the same
                return True
        logs.get("easyflow.rollups").warning("late_rows_unwatched", table=table,
                                             reason="the role may not create triggers on it")
        return False
    return True
