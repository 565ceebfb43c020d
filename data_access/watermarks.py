"""The one table of watermarks: for each thing the refresh keeps, what it was made from and until
when every hour of it is kept.

A row per name: ``rollups`` keeps "conversation_metrics", ``service_rollups`` each other raw
table's name, ``rule_records`` "rule:" and a rule's signature. ``fingerprint`` says what the kept
rows were made from (the keeper's version, the source's columns and more); a reader that finds
another fingerprint than its own treats the thing as not kept. ``upto`` (naive UTC): every hour
before it is kept. ``status`` is "building" while a first build runs, else "ready".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa

from data_access.filters import bind_timestamp
from data_access.late_rows import naive_utc

TABLE = "rollup_watermarks"


@dataclass(frozen=True)
class Watermark:
    fingerprint: str
    upto: datetime | None
    status: str = "ready"
    refreshed_at: datetime | None = None


def ddl(dialect: str) -> list[str]:
    ts = "TIMESTAMP" if dialect == "postgresql" else "TEXT"  # naive UTC
    return [f"CREATE TABLE IF NOT EXISTS {TABLE} (name TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, upto {ts}, "
            f"status TEXT NOT NULL, refreshed_at {ts})"]


def read(conn: sa.Connection, name: str) -> Watermark | None:
    """``name``'s watermark, or None when nothing is kept under it."""
    row = conn.execute(sa.text(f"SELECT fingerprint, upto, status, refreshed_at FROM {TABLE} WHERE name = :name"),
                       {"name": name}).first()
    return None if row is None else Watermark(row[0], naive_utc(row[1]), row[2], naive_utc(row[3]))


def read_all(conn: sa.Connection, prefix: str) -> dict[str, Watermark]:
    """The watermarks whose name starts with ``prefix``, by the rest of their name."""
    rows = conn.execute(sa.text(f"SELECT name, fingerprint, upto, status, refreshed_at FROM {TABLE}")).all()
    return {row[0][len(prefix):]: Watermark(row[1], naive_utc(row[2]), row[3], naive_utc(row[4]))
            for row in rows if row[0].startswith(prefix)}


def write(conn: sa.Connection, name: str, fingerprint: str, upto: datetime | None, status: str = "ready") -> None:
    """Set ``name``'s watermark (and the time of this refresh)."""
    dialect = conn.dialect.name
    params = {"name": name, "fingerprint": fingerprint, "status": status,
              "upto": None if upto is None else bind_timestamp(upto, dialect),
              "now": bind_timestamp(datetime.now(timezone.utc).replace(tzinfo=None), dialect)}
    if conn.execute(sa.text(f"UPDATE {TABLE} SET fingerprint = :fingerprint, upto = :upto, status = :status, "
                            f"refreshed_at = :now WHERE name = :name"), params).rowcount == 0:
        conn.execute(sa.text(f"INSERT INTO {TABLE} (name, fingerprint, upto, status, refreshed_at) "
                             f"VALUES (:name, :fingerprint, :upto, :status, :now)"), params)


def forget(conn: sa.Connection, name: str) -> None:
    """Nothing is kept under ``name`` any more."""
    conn.execute(sa.text(f"DELETE FROM {TABLE} WHERE name = :name"), {"name": name})
