"""What this version changes in the derived tables and triggers an older one left in a database:
a list, applied in order, each once, before the rollups' refresh reads its state (``migrate``).
``rollup_migrations`` holds the number of the last one applied.

A change of a kept table's shape needs no entry: each keeper remakes its tables when the version
in its state is not its own. An entry removes what no version makes any more (tables, triggers)
and so would otherwise stay, fed by nobody or, worse, by a trigger writing into a dropped table;
or adds a column that can be filled from what is kept, which spares a first build.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from data_access import errors, late_rows, logs, watermarks

MIGRATIONS = "rollup_migrations"
SERVICE_TABLES = ("system_metrics", "service_health")


@dataclass(frozen=True)
class Migration:
    """Number ``number``: ``statements(tables, dialect)`` (``tables``: each table the database
    holds → its columns) run in one transaction."""

    number: int
    why: str
    statements: Callable[[dict[str, set[str]], str], list[str]]


def _dropped(*names: str) -> Callable[[dict[str, set[str]], str], list[str]]:
    return lambda tables, dialect: [f"DROP TABLE IF EXISTS {name}" for name in names]


def _one_log_per_service_table(tables: dict[str, set[str]], dialect: str) -> list[str]:
    """The alert rules' records read each service table's one log of changed hours (the one its
    kept hours read): their own trigger sets and log go."""
    statements = []
    for table in SERVICE_TABLES:
        if table in tables:
            statements += late_rows.drop_triggers(table, dialect, function=f"easyflow_note_{table}",
                                                   trigger=f"easyflow_note_{table}_{{event}}")
    return statements + ["DROP TABLE IF EXISTS rollup_service_dirty_hours"]


def _one_table_of_watermarks(tables: dict[str, set[str]], dialect: str) -> list[str]:
    """Each keeper's own state table gives its rows to the one table of watermarks."""
    columns = f"INSERT INTO {watermarks.TABLE} (name, fingerprint, upto, status, refreshed_at)"
    statements = watermarks.ddl(dialect)
    if "rollup_state" in tables:
        statements += [f"{columns} SELECT 'conversation_metrics', 'v' || CAST(version AS TEXT) || ';' || fingerprint, "
                       f"watermark, status, refreshed_at FROM rollup_state WHERE id = 1"]
    for raw, stem in (("integration_calls", "integration"), ("service_health", "health"),
                      ("system_metrics", "system"), ("nps_responses", "nps")):
        if f"rollup_{stem}_state" in tables:
            statements += [f"{columns} SELECT '{raw}', fingerprint, upto, 'ready', NULL FROM rollup_{stem}_state "
                           f"WHERE id = 1"]
    if "rollup_rule_state" in tables:
        statements += [f"{columns} SELECT 'rule:' || rule, fingerprint, upto, 'ready', NULL FROM rollup_rule_state"]
    return statements + _dropped("rollup_state", "rollup_integration_state", "rollup_health_state",
                                 "rollup_system_state", "rollup_nps_state", "rollup_rule_state")(tables, dialect)


def _time_columns_named_for_their_grain(tables: dict[str, set[str]], dialect: str) -> list[str]:
    """The daily tables' ``hour`` (a UTC day's start) becomes ``day``, the months' ``month``; their
    indexes follow (the refresh makes the new ones)."""
    renamed = {"rollup_messages_daily": "day", "rollup_latency_daily": "day", "rollup_dialog_daily": "day",
               "rollup_integration_latency_daily": "day", "rollup_health_latency_daily": "day",
               "rollup_dimension_months": "month"}
    statements = []
    for table, column in renamed.items():
        if "hour" in tables.get(table, ()):
            statements += [f"DROP INDEX IF EXISTS ix_{table}_hour", f"ALTER TABLE {table} RENAME COLUMN hour TO {column}"]
    return statements


def _touches_hold_their_rating(tables: dict[str, set[str]], dialect: str) -> list[str]:
    """Each touch holds its dialog's lowest rating, filled from the facts (the refresh makes the
    index that reads it)."""
    touches, facts = "rollup_dialog_touches", "rollup_dialog_facts"
    if touches not in tables or "lowest_rating" in tables[touches]:
        return []
    statements = [f"ALTER TABLE {touches} ADD COLUMN lowest_rating SMALLINT"]
    if facts in tables:
        statements.append(f"UPDATE {touches} SET lowest_rating = f.lowest_rating FROM {facts} f "
                          f"WHERE f.dialog = {touches}.dialog AND f.lowest_rating IS NOT NULL")
    return statements


STEPS = (
    Migration(1, "repeat contacts and first-week corrections are read from the dialogs' facts",
              _dropped("rollup_dialog_hour_totals", "rollup_repeats", "rollup_user_month_repeats",
                       "rollup_user_repeats")),
    Migration(2, "one trigger set and one log of changed hours per service table", _one_log_per_service_table),
    Migration(3, "system_metrics has no latency to keep a histogram of",
              _dropped("rollup_system_latency", "rollup_system_latency_daily")),
    Migration(4, "one table of watermarks", _one_table_of_watermarks),
    Migration(5, "a time column named for its grain", _time_columns_named_for_their_grain),
    Migration(6, "the touches' index by dialog holds the dimension and value (the refresh makes it)",
              lambda tables, dialect: ["DROP INDEX IF EXISTS ix_rollup_dialog_touches_dialog"]),
    Migration(7, "the touches hold their dialog's lowest rating: the rated dialogs of a value by index",
              _touches_hold_their_rating),
)


def applied(conn: sa.Connection) -> int:
    """The number of the last migration applied (0: none)."""
    conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {MIGRATIONS} (id INTEGER PRIMARY KEY, number INTEGER NOT NULL)")
    return conn.execute(sa.text(f"SELECT number FROM {MIGRATIONS} WHERE id = 1")).scalar() or 0


def migrate(engine: sa.Engine) -> list[int]:
    """Apply the migrations after the last one applied, each in a transaction of its own; returns
    their numbers. One the role may not apply (a trigger only the table's owner may drop) stops
    the list with a warning in the log, to be tried again by the next refresh."""
    with engine.begin() as conn:
        last = applied(conn)
    done = []
    for step in STEPS:
        if step.number <= last:
            continue
        try:
            inspector = sa.inspect(engine)  # the tables as the migrations before left them
            tables = {name: {c["name"] for c in inspector.get_columns(name)} for name in inspector.get_table_names()}
            with engine.begin() as conn:
                for statement in step.statements(tables, engine.dialect.name):
                    conn.exec_driver_sql(statement)
                if conn.execute(sa.text(f"UPDATE {MIGRATIONS} SET number = :n WHERE id = 1"),
                                {"n": step.number}).rowcount == 0:
                    conn.execute(sa.text(f"INSERT INTO {MIGRATIONS} (id, number) VALUES (1, :n)"), {"n": step.number})
        except errors.DATABASE_ERRORS as error:
            if not isinstance(errors.classify(error), errors.AccessDenied):
                raise
            logs.get("easyflow.rollups").warning("migration_refused", number=step.number, why=step.why)
            break
        done.append(step.number)
    return done
