"""Import the platform's structured JSON logs into the metrics tables.

``python -m data_access.ingest FILE [FILE ...] [--url DB] [--rejects FILE]`` reads JSON lines in
the seed's log format (files may be gzipped; ``-`` reads standard input):

- ``event = "message_processed"`` → ``conversation_metrics`` (``ai_tokens_used`` → ``tokens_used``;
  ``ai_model``, ``expected_intent``, ``satisfaction_score``, ``helpful``, ``resolved``, ``escalated``,
  ``converted`` when present);
- level ERROR or CRITICAL → ``error_events``;
- other lines are read and counted, not imported.

Each imported row's id is derived from the line's text, and rows are inserted with "on conflict do
nothing", so importing a file again adds nothing and an interrupted import completes on a rerun.
Rows go in batches, one transaction each. A bad line (not JSON, a missing required field, a wrong
type, an impossible value) is not imported: it goes to the rejects file with its line number and
the reason, and the good lines around it still go in. Missing tables are created.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import IO

import sqlalchemy as sa

from data_access import bulk
from data_access.schema import TABLES, discover

# Ids are uuid5(namespace, line): the same line always gets the same id, in any file.
NAMESPACE = uuid.UUID("5f1d1c2e-8a4e-4f0b-9c6a-2d7e5b3a9f10")
BATCH_ROWS = 5_000
MAX_LINE_BYTES = 1_000_000
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
ERROR_LEVELS = ("ERROR", "CRITICAL")
MESSAGE_EVENT = "message_processed"
REQUIRED_MESSAGE = ("user_id", "platform", "intent", "confidence", "response_time_ms", "ai_tokens_used", "cost_usd")
OPTIONAL_TEXT = ("session_id", "ai_model", "expected_intent")
OPTIONAL_FLAGS = ("helpful", "resolved", "escalated", "converted")
EARLIEST, LATEST = datetime(2000, 1, 1), datetime(2100, 1, 1)


class Rejected(ValueError):
    """A line that cannot be imported; the message is the reason written to the rejects file."""


@dataclass
class Summary:
    """What an import did. ``imported`` counts new rows, ``duplicates`` rows already present."""

    read: int = 0
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    other: int = 0
    by_table: dict = field(default_factory=dict)

    def add(self, other: "Summary") -> None:
        for name in ("read", "imported", "duplicates", "rejected", "other"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for table, count in other.by_table.items():
            self.by_table[table] = self.by_table.get(table, 0) + count

    def text(self) -> str:
        return (f"read {self.read:,} lines: imported {self.imported:,} rows, {self.duplicates:,} duplicates skipped, "
                f"{self.rejected:,} rejected, {self.other:,} other events not imported")


@dataclass(frozen=True)
class Reject:
    source: str
    line: int
    reason: str
    text: str

    def json(self) -> str:
        return json.dumps({"file": self.source, "line": self.line, "reason": self.reason, "text": self.text},
                          ensure_ascii=False)


# --- one line ---------------------------------------------------------------------------------------

def _text(record: dict, name: str, required: bool = False) -> str | None:
    value = record.get(name)
    if value is None:
        if required:
            raise Rejected(f"missing field {name!r}")
        return None
    if not isinstance(value, str) or not value.strip():
        raise Rejected(f"field {name!r} must be non-empty text")
    return value


def _number(record: dict, name: str, low: float | None = 0, high: float | None = None,
            whole: bool = False, required: bool = True):
    value = record.get(name)
    if value is None:
        if required:
            raise Rejected(f"missing field {name!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise Rejected(f"field {name!r} must be a number")
    if whole and value != int(value):
        raise Rejected(f"field {name!r} must be a whole number")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"{low if low is not None else '-∞'} … {high if high is not None else '∞'}"
        raise Rejected(f"field {name!r} is out of range ({value} not in {bounds})")
    return int(value) if whole else value


def _flag(record: dict, name: str) -> bool | None:
    value = record.get(name)
    if value is not None and not isinstance(value, bool):
        raise Rejected(f"field {name!r} must be true, false or null")
    return value


def _timestamp(record: dict) -> datetime:
    value = record.get("timestamp")
    if value is None:
        raise Rejected("missing field 'timestamp'")
    if not isinstance(value, str):
        raise Rejected("field 'timestamp' must be ISO 8601 text")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Rejected(f"field 'timestamp' is not ISO 8601: {value[:40]!r}") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    if not EARLIEST <= parsed < LATEST:
        raise Rejected(f"field 'timestamp' is out of range ({value[:40]})")
    return parsed


def parse_line(text: str) -> list[tuple[str, dict]]:
    """The rows one log line becomes: ``[(table, row), …]`` (empty for other events). Raises
    ``Rejected`` with the reason for a line that cannot be imported."""
    try:
        record = json.loads(text, parse_float=Decimal)
    except (json.JSONDecodeError, InvalidOperation):
        raise Rejected("not JSON") from None
    if not isinstance(record, dict):
        raise Rejected("not a JSON object")
    level = record.get("level")
    if not isinstance(level, str) or level.upper() not in LEVELS:
        raise Rejected(f"field 'level' must be one of {', '.join(LEVELS)}")
    level = level.upper()
    event = _text(record, "event", required=True)
    timestamp = _timestamp(record)
    line_id = str(uuid.uuid5(NAMESPACE, text.strip()))
    rows: list[tuple[str, dict]] = []
    if event == MESSAGE_EVENT:
        row = {"id": line_id, "timestamp": timestamp,
               "user_id": _text(record, "user_id", True), "platform": _text(record, "platform", True),
               "intent": _text(record, "intent", True),
               "confidence": float(_number(record, "confidence", 0, 1)),
               "response_time_ms": _number(record, "response_time_ms", 0, 86_400_000, whole=True),
               "tokens_used": _number(record, "ai_tokens_used", 0, 10_000_000, whole=True),
               "cost_usd": Decimal(str(_number(record, "cost_usd", 0, 999_999))).quantize(Decimal("0.0001")),
               "satisfaction_score": _number(record, "satisfaction_score", 1, 5, whole=True, required=False)}
        for name in OPTIONAL_TEXT:
            row[name] = _text(record, name)
        for name in OPTIONAL_FLAGS:
            row[name] = _flag(record, name)
        rows.append(("conversation_metrics", row))
    if level in ERROR_LEVELS:
        exception = record.get("exception")
        message = record.get("message") or (exception.strip().splitlines()[-1] if isinstance(exception, str)
                                            and exception.strip() else None) or event
        error_type = record.get("error_type") or record.get("error") or event
        rows.append(("error_events", {"id": str(uuid.uuid5(NAMESPACE, "error:" + text.strip())),
                                      "timestamp": timestamp, "service": _text(record, "service"),
                                      "error_type": str(error_type)[:200], "level": level,
                                      "message": str(message)[:10_000]}))
    return rows


# --- many lines -----------------------------------------------------------------------------------

class Writer:
    """Inserts rows in batches, one transaction each, skipping ids already present."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        for name in ("conversation_metrics", "error_events"):
            TABLES[name].create(engine, checkfirst=True)
        schema = discover(engine)
        self.columns = {name: [c for c in TABLES[name].columns.keys() if schema.has(name, c)]
                        for name in ("conversation_metrics", "error_events")}
        self.pending: dict[str, list[dict]] = {name: [] for name in self.columns}

    def add(self, table: str, row: dict, summary: Summary) -> None:
        self.pending[table].append({c: row.get(c) for c in self.columns[table]})
        if len(self.pending[table]) >= BATCH_ROWS:
            self.flush(summary)

    def flush(self, summary: Summary) -> None:
        if not any(self.pending.values()):
            return
        dialect = self.engine.dialect.name
        with self.engine.begin() as conn:
            raw = conn.connection.driver_connection
            for table, rows in self.pending.items():
                if not rows:
                    continue
                columns = {c: [_driver_value(r[c], dialect) for r in rows] for c in self.columns[table]}
                if dialect == "postgresql":
                    added = bulk.insert_new_postgresql(raw, table, columns)
                elif dialect == "sqlite":
                    added = bulk.insert_sqlite(raw, table, columns, or_ignore=True)
                else:
                    raise ValueError(f"importing into {dialect} is not supported (PostgreSQL and SQLite are)")
                summary.imported += added
                summary.duplicates += len(rows) - added
                summary.by_table[table] = summary.by_table.get(table, 0) + added
        self.pending = {name: [] for name in self.columns}


def _driver_value(value, dialect: str):
    """A row value as the bulk writers take it: SQLite keeps timestamps as the ISO text SQLAlchemy
    writes, booleans as 0/1 and money as a number; PostgreSQL's COPY reads text."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if dialect == "sqlite":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, Decimal):
            return float(value)
    return value


def ingest_lines(engine: sa.Engine, lines: Iterable[bytes | str], source: str = "-",
                 on_reject: Callable[[Reject], None] = lambda r: None,
                 progress: Callable[[Summary], None] | None = None, writer: Writer | None = None) -> Summary:
    """Import ``lines`` (the lines of one file); returns what was done. Committed batches stay
    committed if this raises part way (a rerun then adds only what is missing)."""
    writer = writer or Writer(engine)
    summary = Summary()
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, bytes):
            if len(raw) > MAX_LINE_BYTES:
                text, error = "", f"line longer than {MAX_LINE_BYTES:,} bytes"
            else:
                try:
                    text, error = raw.decode("utf-8"), None
                except UnicodeDecodeError:
                    text, error = raw.decode("utf-8", "replace"), "not UTF-8 text"
        else:
            text, error = raw, None
        if not text.strip() and error is None:
            continue  # blank lines are not lines of the log
        summary.read += 1
        try:
            if error:
                raise Rejected(error)
            rows = parse_line(text)
        except Rejected as reason:
            summary.rejected += 1
            on_reject(Reject(source, number, str(reason), text.strip()[:1000]))
            continue
        if not rows:
            summary.other += 1
        for table, row in rows:
            writer.add(table, row, summary)
        if progress is not None and summary.read % 10_000 == 0:
            progress(summary)
    writer.flush(summary)
    return summary


def open_lines(path: str) -> tuple[Iterator[bytes], Callable[[], float | None]]:
    """The lines of ``path`` (gzip-compressed or not; ``-`` = standard input) and a function giving
    the fraction read so far (None when the size is unknown)."""
    if path == "-":
        return iter(sys.stdin.buffer), lambda: None
    raw = open(path, "rb")
    size = os.path.getsize(path)
    return iter(decompressed(raw)), lambda: raw.tell() / size if size else None


def decompressed(raw: IO[bytes]) -> IO[bytes]:
    """``raw`` (a seekable binary file) itself, or its decompressed content when it is gzip."""
    magic = raw.read(2)
    raw.seek(0)
    return gzip.GzipFile(fileobj=raw) if magic == b"\x1f\x8b" else raw


def terminal_progress(path: str, fraction: Callable[[], float | None], stream=sys.stderr):
    """A one-line progress bar for a terminal (nothing when ``stream`` is not one)."""
    if not stream.isatty():
        return None
    started = time.monotonic()

    def show(summary: Summary) -> None:
        done = fraction()
        rate = summary.read / max(time.monotonic() - started, 1e-9)
        bar = "" if done is None else f"[{'#' * int(done * 30):<30}] {done:5.1%} "
        stream.write(f"\r{os.path.basename(path)} {bar}{summary.read:,} lines ({rate:,.0f}/s)")
        stream.flush()

    return show


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data_access.ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", help="JSON-lines log files (.gz allowed); - for standard input")
    parser.add_argument("--url", default=None, help="database URL (default: as the dashboard resolves it)")
    parser.add_argument("--rejects", default="ingest-rejects.jsonl",
                        help="where rejected lines go, one JSON object each (default: ingest-rejects.jsonl)")
    args = parser.parse_args(argv)
    from data_access.engine import make_engine, resolve_config

    url = args.url or resolve_config().url
    try:
        engine = make_engine(url)
        writer = Writer(engine)
    except (sa.exc.SQLAlchemyError, OSError, ValueError) as error:
        print(f"error: cannot use the database ({type(error).__name__})", file=sys.stderr)
        return 2
    total = Summary()
    with open(args.rejects, "w", encoding="utf-8") as rejects:
        for path in args.files:
            try:
                lines, fraction = open_lines(path)
            except OSError as error:
                print(f"error: cannot read {path}: {error.strerror or error}", file=sys.stderr)
                return 2
            show = terminal_progress(path, fraction)
            try:
                summary = ingest_lines(engine, lines, path, lambda r: rejects.write(r.json() + "\n"), show, writer)
            except (sa.exc.SQLAlchemyError, OSError, EOFError) as error:
                print(f"\nerror: import of {path} stopped ({type(error).__name__}); what was committed stays, "
                      "and running the same command again completes it", file=sys.stderr)
                return 1
            if show:
                sys.stderr.write("\n")
            print(f"{path}: {summary.text()}")
            total.add(summary)
    if len(args.files) > 1:
        print(f"total: {total.text()}")
    if total.rejected:
        print(f"rejected lines are in {args.rejects}")
    else:
        os.remove(args.rejects)
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
