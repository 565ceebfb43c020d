"""Bulk writes on the driver's own connection: ``executemany`` on SQLite, ``COPY`` on PostgreSQL.

``columns`` maps column names (from the contract's tables, never from input) to equal-length
lists of values the driver takes; None is NULL.
"""

from __future__ import annotations

import csv
import io


def insert_sqlite(raw, table: str, columns: dict[str, list], or_ignore: bool = False) -> int:
    """Insert the rows (skipping those whose key exists, with ``or_ignore``); returns rows added.
    Only a duplicate key is skipped: a row that breaks another rule (CHECK, NOT NULL) raises, as on
    PostgreSQL (SQLite's ``INSERT OR IGNORE`` would drop it silently)."""
    names = ", ".join(f'"{n}"' for n in columns)
    marks = ", ".join("?" for _ in columns)
    # rowcount counts this table's rows only (total_changes would add the rollups' trigger notes).
    cursor = raw.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}){' ON CONFLICT DO NOTHING' if or_ignore else ''}",
                             zip(*columns.values()))
    return cursor.rowcount


def copy_postgresql(raw, table: str, columns: dict[str, list]) -> None:
    """``COPY`` the rows into ``table`` (CSV; text values are never empty strings here)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in zip(*columns.values()):
        writer.writerow(["" if v is None else ("t" if v is True else "f" if v is False else v) for v in row])
    buffer.seek(0)
    names = ", ".join(f'"{n}"' for n in columns)
    with raw.cursor() as cursor:
        cursor.copy_expert(f"COPY {table} ({names}) FROM STDIN WITH (FORMAT csv)", buffer)


def insert_new_postgresql(raw, table: str, columns: dict[str, list]) -> int:
    """Insert the rows whose ``id`` is not in ``table`` yet (COPY into a temporary table, then
    ``INSERT … ON CONFLICT DO NOTHING``); returns rows added. Inside the caller's transaction."""
    staging = f"staging_{table}"
    names = ", ".join(f'"{n}"' for n in columns)
    with raw.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} (LIKE {table}) ON COMMIT DELETE ROWS")
    copy_postgresql(raw, staging, columns)
    with raw.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} ON CONFLICT (id) DO NOTHING")
        added = cursor.rowcount
        cursor.execute(f"TRUNCATE {staging}")
    return added
