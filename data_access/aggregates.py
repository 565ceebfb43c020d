"""A kept table of aggregates declared once: its grain (an hour, a UTC day or month: the time
column that holds its start), the keys it groups by and its measures, each with how rows of it
combine. From the declaration come the table and its index (``ddl``), the statement that adds its
rows from the raw ones (``fill``) and, for a table kept from another one at a coarser grain or
over fewer keys (``coarser``: the daily tables, the hours' totals over the dimensions, the
months' combinations), the statements that make its rows of a range again from that one's
(``remake``), as a hierarchical continuous aggregate does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from data_access import late_rows, sql

GRAINS = ("hour", "day", "month")


@dataclass(frozen=True)
class Column:
    """A column: its name, its SQL type (``TIME``: the table's time type; ``BIG``: a 64-bit
    integer; ``REAL``: a float; ``KEY``: text compared byte-wise), whether NULL is allowed, and
    for a measure the aggregate that combines its rows (SUM, MIN, MAX)."""

    name: str
    type: str = "TEXT"
    null: bool = True
    combine: str = ""


def sql_type(column: Column, dialect: str, time: str) -> str:
    """The column's SQL type on ``dialect`` (``time``: the table's time type)."""
    pg = dialect == "postgresql"
    kind = {"TIME": time, "BIG": "BIGINT" if pg else "INTEGER", "REAL": "DOUBLE PRECISION" if pg else "REAL",
            "KEY": 'TEXT COLLATE "C"' if pg else "TEXT"}
    return kind.get(column.type, column.type)


def _type(column: Column, dialect: str, time: str) -> str:
    return sql_type(column, dialect, time) + ("" if column.null else " NOT NULL")


@dataclass(frozen=True)
class Aggregate:
    """``table``: per ``grain`` × ``keys``, the ``measures``. ``lead``: the keys its time index
    leads with (a reader always names them, as rollup_latency's dimension); ``only``: a condition
    on them that every row meets, which lets a statement over a range use that index. ``grouped``:
    the keys it groups by, the others kept NULL (None: all of them)."""

    table: str
    grain: str
    keys: tuple[Column, ...]
    measures: tuple[Column, ...]
    lead: tuple[str, ...] = ()
    only: str | None = None
    grouped: tuple[str, ...] | None = None

    def ddl(self, dialect: str, time: str = "TIMESTAMP") -> list[str]:
        """The table and its time index; ``time``: the type of its times on PostgreSQL (text on
        SQLite)."""
        time = time if dialect == "postgresql" else "TEXT"
        columns = [Column(self.grain, "TIME", null=False), *self.keys, *self.measures]
        return [f"CREATE TABLE IF NOT EXISTS {self.table} "
                f"({', '.join(f'{c.name} {_type(c, dialect, time)}' for c in columns)})",
                f"CREATE INDEX IF NOT EXISTS ix_{self.table}_{self.grain} ON {self.table} "
                f"({', '.join([*self.lead, self.grain])})"]

    def coarser(self, table: str, grain: str | None = None, keys: tuple[str, ...] | None = None,
                grouped: tuple[str, ...] | None = None, measures: tuple[Column, ...] | None = None) -> "Aggregate":
        """The same aggregates per a coarser ``grain`` (default: this one's), with ``keys`` of
        this one's (default: all), grouped by ``grouped`` only (the others kept NULL), of
        ``measures`` (default: all)."""
        assert grain is None or GRAINS.index(grain) >= GRAINS.index(self.grain)
        kept = self.keys if keys is None else tuple(k for k in self.keys if k.name in keys)
        return replace(self, table=table, grain=grain or self.grain, keys=kept, grouped=grouped,
                       measures=self.measures if measures is None else measures)

    def _columns(self) -> str:
        return ", ".join([self.grain, *(k.name for k in self.keys), *(m.name for m in self.measures)])

    def _within(self) -> str:
        """The condition on a row of lying in [:lo, :hi) (on this table's grain)."""
        return f"{self.only + ' AND ' if self.only else ''}{self.grain} >= :lo AND {self.grain} < :hi"

    def clear(self) -> str:
        """The statement that removes the rows of [:lo, :hi) (bounds on this table's grain)."""
        return f"DELETE FROM {self.table} WHERE {self._within()}"

    def fill(self, source: str, at: str, keys: list[str], values: dict[str, str]) -> str:
        """The statement that adds this table's rows from raw rows: ``source``, a FROM item with
        its WHERE; ``at``, the SQL of a row's time at this grain; ``keys``, each key's SQL over a
        row, in order; ``values``, each measure's, combined by its aggregate."""
        select = ", ".join([at, *keys, *(f"{m.combine}({values[m.name]})" for m in self.measures)])
        return (f"INSERT INTO {self.table} ({self._columns()}) SELECT {select} FROM {source} "
                f"GROUP BY {', '.join(str(i + 1) for i in range(len(keys) + 1))}")

    def remake(self, source: "Aggregate", dialect: str) -> list[str]:
        """The statements that make again, from ``source``'s rows, this table's rows whose time
        lies in [:lo, :hi) (bounds on this table's grain)."""
        at = self.grain
        bucket = (source.grain if at == source.grain else late_rows.day_of(source.grain, dialect) if at == "day"
                  else sql.bucket(source.grain, "month", dialect))
        grouped = [k.name for k in self.keys if self.grouped is None or k.name in self.grouped]
        keys = [k.name if self.grouped is None or k.name in self.grouped else "NULL" for k in self.keys]
        values = ", ".join([bucket, *keys, *(f"{m.combine}({m.name})" for m in self.measures)])
        return [self.clear(), f"INSERT INTO {self.table} ({self._columns()}) SELECT {values} FROM {source.table} "
                              f"WHERE {source._within()} GROUP BY {', '.join([bucket, *grouped])}"]
