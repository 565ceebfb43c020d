"""A table declared once: its DDL, and a coarser table's rows made again from a finer one's."""

from datetime import datetime

import sqlalchemy as sa

from data_access.aggregates import Aggregate, Column
from data_access.filters import bind_timestamp
from data_access.late_rows import run

HOURS = Aggregate("t_hours", "hour", (Column("platform"), Column("intent")), (
    Column("messages", "INTEGER", null=False, combine="SUM"), Column("first_at", "TIME", null=False, combine="MIN"),
    Column("last_at", "TIME", null=False, combine="MAX")))
DAYS = HOURS.coarser("t_days", "day")
TOTALS = HOURS.coarser("t_totals", grouped=())
MONTHS = DAYS.coarser("t_months", "month", keys=("platform",), measures=())

ROWS = [  # hour, platform, intent, messages, first_at, last_at
    (datetime(2026, 3, 1, 9), "web", "refund", 2, datetime(2026, 3, 1, 9, 5), datetime(2026, 3, 1, 9, 50)),
    (datetime(2026, 3, 1, 9), "web", "order", 1, datetime(2026, 3, 1, 9, 1), datetime(2026, 3, 1, 9, 1)),
    (datetime(2026, 3, 1, 23), "web", "refund", 4, datetime(2026, 3, 1, 23, 0), datetime(2026, 3, 1, 23, 59)),
    (datetime(2026, 3, 2, 0), "telegram", None, 3, datetime(2026, 3, 2, 0, 10), datetime(2026, 3, 2, 0, 20)),
]


def _rows(engine, query: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.exec_driver_sql(query).all()]


def _time(value) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def test_coarser_tables_are_made_again_from_the_finer_ones(engine):
    dialect = engine.dialect.name
    with engine.begin() as conn:
        for aggregate in (HOURS, DAYS, TOTALS, MONTHS):
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {aggregate.table}")
            for statement in aggregate.ddl(dialect):
                conn.exec_driver_sql(statement)
        for hour, platform, intent, n, first, last in ROWS:
            conn.execute(sa.text("INSERT INTO t_hours VALUES (:h, :p, :i, :n, :f, :l)"),
                         {"h": bind_timestamp(hour, dialect), "p": platform, "i": intent, "n": n,
                          "f": bind_timestamp(first, dialect), "l": bind_timestamp(last, dialect)})
        conn.execute(sa.text("INSERT INTO t_days VALUES (:d, 'stale', NULL, 99, :d, :d)"),
                     {"d": bind_timestamp(datetime(2026, 3, 1), dialect)})
        run(conn, DAYS.remake(HOURS, dialect), datetime(2026, 3, 1), datetime(2026, 3, 3))
        run(conn, TOTALS.remake(HOURS, dialect), datetime(2026, 3, 1, 9), datetime(2026, 3, 1, 10))
        run(conn, MONTHS.remake(DAYS, dialect), datetime(2026, 3, 1), datetime(2026, 4, 1))

    days = sorted((_time(d), p, i, n, _time(f), _time(la))
                  for d, p, i, n, f, la in _rows(engine, "SELECT * FROM t_days"))
    assert days == [  # the stale row gone; per day, platform and intent: sums, the first and last times
        (datetime(2026, 3, 1), "web", "order", 1, datetime(2026, 3, 1, 9, 1), datetime(2026, 3, 1, 9, 1)),
        (datetime(2026, 3, 1), "web", "refund", 6, datetime(2026, 3, 1, 9, 5), datetime(2026, 3, 1, 23, 59)),
        (datetime(2026, 3, 2), "telegram", None, 3, datetime(2026, 3, 2, 0, 10), datetime(2026, 3, 2, 0, 20)),
    ]
    assert [(_time(h), p, i, n) for h, p, i, n, _, _ in _rows(engine, "SELECT * FROM t_totals")] == [
        (datetime(2026, 3, 1, 9), None, None, 3)]  # over the keys, kept NULL
    assert sorted((_time(m), p) for m, p in _rows(engine, "SELECT * FROM t_months")) == [
        (datetime(2026, 3, 1), "telegram"), (datetime(2026, 3, 1), "web")]
    index = next(i for i in sa.inspect(engine).get_indexes("t_days"))
    assert index["name"] == "ix_t_days_day" and index["column_names"] == ["day"]
