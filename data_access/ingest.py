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
import math
import os
import sys
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import IO

import sqlalchemy as sa

from data_access import bulk, errors
from data_access.schema import TABLES, discover

# Ids are uuid5(namespace, line): the same line always gets the same id, in any file.
NAMESPACE = uuid.UUID("5f1d1c2e-8a4e-4f0b-9c6a-2d7e5b3a9f10")
BATCH_ROWS = 5_000
MAX_LINE_BYTES = 1_000_000
KEPT_REJECTS = 10_000  # rejects kept with their reasons (all are counted)
REJECT_TEXT_CHARS = 1_000
# The longest identifier (user, session, platform, intent, model, service) a row may carry: longer
# ones are rejects, since database indexes (PostgreSQL: about 2,700 bytes an entry) cannot hold them.
MAX_ID_CHARS = 200
# The most characters a number may have: Python's own limit (4,300 digits) costs CPU first, and an
# integer beyond 1e308 cannot even be compared as a float.
MAX_NUMBER_CHARS = 40
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
ERROR_LEVELS = ("ERROR", "CRITICAL")
MESSAGE_EVENT = "message_processed"
REQUIRED_MESSAGE = ("user_id", "platform", "intent", "confidence", "response_time_ms", "ai_tokens_used", "cost_usd")
OPTIONAL_TEXT = ("session_id", "ai_model", "expected_intent")
OPTIONAL_FLAGS = ("helpful", "resolved", "escalated", "converted")
EARLIEST, LATEST = datetime(2000, 1, 1), datetime(2100, 1, 1)


class Rejected(ValueError):
    """A line that cannot be imported; the message is the reason written to the rejects file."""


class ImportStopped(Exception):
    """The import cannot go on (the file is damaged or larger than allowed, or the database refused
    the writes); ``str()`` is one line for a person. What was committed before stays committed,
    and ``summary`` (set by ``ingest_lines``) says what that was."""

    summary: "Summary | None" = None


class FileDamaged(ImportStopped):
    """The file cannot be read past some point (a corrupt or truncated gzip stream)."""


class FileTooLarge(ImportStopped):
    """The file's content (after decompression) is larger than the import allows."""


class WriteRefused(ImportStopped):
    """The database refused the import's writes; ``problem`` says how (data_access.errors)."""

    def __init__(self, problem: errors.DatabaseProblem) -> None:
        super().__init__(problem.summary + (f" ({problem.detail})" if problem.detail else ""))
        self.problem = problem


@dataclass
class Summary:
    """What an import did. ``imported`` counts new rows, ``duplicates`` rows already present."""

    read: int = 0
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    other: int = 0
    by_table: dict = field(default_factory=dict)
    # The span of the timestamps written (UTC, naive): what cached results an import can change.
    first: datetime | None = None
    last: datetime | None = None

    def add(self, other: "Summary") -> None:
        for name in ("read", "imported", "duplicates", "rejected", "other"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for table, count in other.by_table.items():
            self.by_table[table] = self.by_table.get(table, 0) + count
        for moment in (other.first, other.last):
            if moment is not None:
                self.saw(moment)

    def saw(self, moment: datetime) -> None:
        self.first = moment if self.first is None else min(self.first, moment)
        self.last = moment if self.last is None else max(self.last, moment)

    def text(self) -> str:
        return (f"read {self.read:,} lines: imported {self.imported:,} rows, {self.duplicates:,} duplicates skipped, "
                f"{self.rejected:,} rejected, {self.other:,} other events not imported")


@dataclass(frozen=True)
class Reject:
    source: str
    line: int
    reason: str
    text: str

    def because(self, reason: str) -> "Reject":
        return Reject(self.source, self.line, reason, self.text)

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
    if len(value) > MAX_ID_CHARS:
        raise Rejected(f"field {name!r} is longer than {MAX_ID_CHARS} characters ({len(value):,})")
    return storable(value, name)


def storable(value: str, name: str) -> str:
    """``value`` if every database can store it as text; raises ``Rejected`` for a NUL character
    (PostgreSQL text cannot hold one) or a lone surrogate (not encodable as UTF-8)."""
    if "\x00" in value:
        raise Rejected(f"field {name!r} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Rejected(f"field {name!r} is not valid Unicode text") from None
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
    if not (value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)):
        raise Rejected(f"field {name!r} must be a finite number")
    # The range first: int() of a huge exponent (1e999999999) would take the memory of its digits.
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"{low if low is not None else '-∞'} … {high if high is not None else '∞'}"
        shown = str(value) if len(str(value)) <= 40 else str(value)[:37] + "…"
        raise Rejected(f"field {name!r} is out of range ({shown} not in {bounds})")
    if whole and value != int(value):
        raise Rejected(f"field {name!r} must be a whole number")
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


def _no_constant(name: str):
    raise Rejected(f"{name} is not a number JSON allows")


def _bounded(parse):
    def parsed(text: str):
        if len(text) > MAX_NUMBER_CHARS:
            raise Rejected(f"a number with too many digits (over {MAX_NUMBER_CHARS} characters: {text[:20]}…)")
        return parse(text)

    return parsed


# One decoder for every line: json.loads with hooks would build a new one each time.
_DECODER = json.JSONDecoder(parse_int=_bounded(int), parse_float=_bounded(Decimal), parse_constant=_no_constant)


def parse_line(text: str) -> list[tuple[str, dict]]:
    """The rows one log line becomes: ``[(table, row), …]`` (empty for other events). Raises
    ``Rejected`` with the reason for a line that cannot be imported."""
    try:
        record = _DECODER.decode(text)
    except Rejected:
        raise
    except (json.JSONDecodeError, InvalidOperation):
        raise Rejected("not JSON") from None
    except RecursionError:
        raise Rejected("JSON nested too deeply") from None
    except ValueError:
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
                                      "error_type": storable(str(error_type)[:200], "error_type"), "level": level,
                                      "message": storable(str(message)[:10_000], "message")}))
    return rows


# --- many lines -----------------------------------------------------------------------------------

class Writer:
    """Inserts rows in batches, one transaction each, skipping ids already present.

    A batch the database refuses for a value is written again row by row, so that only the rows
    it refuses become rejects (``on_reject``); any other refusal raises ``WriteRefused``."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        try:
            for name in ("conversation_metrics", "error_events"):
                TABLES[name].create(engine, checkfirst=True)
            schema = discover(engine)
        except errors.DATABASE_ERRORS as error:
            raise WriteRefused(errors.classify(error)) from None
        self.columns = {name: [c for c in TABLES[name].columns.keys() if schema.has(name, c)]
                        for name in ("conversation_metrics", "error_events")}
        # table → [(reject to report if the database refuses the row, row)]
        self.pending: dict[str, list[tuple[Reject, dict]]] = {name: [] for name in self.columns}

    def add(self, table: str, row: dict, summary: Summary, origin: Reject,
            on_reject: Callable[[Reject], None]) -> None:
        self.pending[table].append((origin, {c: row.get(c) for c in self.columns[table]}))
        if len(self.pending[table]) >= BATCH_ROWS:
            self.flush(summary, on_reject)

    def flush(self, summary: Summary, on_reject: Callable[[Reject], None] = lambda r: None) -> None:
        if not any(self.pending.values()):
            return
        pending, self.pending = self.pending, {name: [] for name in self.columns}
        try:
            self._write(pending, summary)
        except errors.DATABASE_ERRORS as error:
            problem = errors.classify(error)
            if not isinstance(problem, errors.BadValue):
                raise WriteRefused(problem) from None
            # One row spoils the batch: write each row alone, and reject those refused.
            for table, items in pending.items():
                for origin, row in items:
                    try:
                        self._write({table: [(origin, row)]}, summary)
                    except errors.DATABASE_ERRORS as row_error:
                        row_problem = errors.classify(row_error)
                        if not isinstance(row_problem, errors.BadValue):
                            raise WriteRefused(row_problem) from None
                        on_reject(origin.because(f"the database refused a value ({row_problem.detail})"))

    def _write(self, pending: dict[str, list[tuple[Reject, dict]]], summary: Summary) -> None:
        dialect = self.engine.dialect.name
        if dialect not in ("postgresql", "sqlite"):
            raise WriteRefused(errors.DatabaseFailed(f"importing into {dialect} is not supported"))
        added_by_table = {}
        with self.engine.begin() as conn:
            raw = conn.connection.driver_connection
            for table, items in pending.items():
                if not items:
                    continue
                rows = [row for _, row in items]
                columns = {c: [_driver_value(r[c], dialect) for r in rows] for c in self.columns[table]}
                if dialect == "postgresql":
                    added = bulk.insert_new_postgresql(raw, table, columns)
                else:
                    added = bulk.insert_sqlite(raw, table, columns, or_ignore=True)
                added_by_table[table] = (added, rows)
        for table, (added, rows) in added_by_table.items():  # counted once committed
            summary.imported += added
            summary.duplicates += len(rows) - added
            summary.by_table[table] = summary.by_table.get(table, 0) + added
            for row in rows:
                summary.saw(row["timestamp"])


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


class LineTooLong(bytes):
    """The first bytes of a line longer than ``MAX_LINE_BYTES`` (the rest was read and dropped)."""


def bounded_lines(stream: IO[bytes], max_bytes: int | None = None,
                  max_line_bytes: int = MAX_LINE_BYTES, max_lines: int | None = None) -> Iterator[bytes]:
    """The lines of ``stream``, never holding more than ``max_line_bytes`` of one: a longer line
    comes as a ``LineTooLong`` of its first bytes. Raises ``FileTooLarge`` past ``max_bytes`` of
    content or ``max_lines`` lines (blank ones included: each costs CPU), and ``FileDamaged``
    where the stream cannot be read (corrupt or truncated gzip)."""
    total = count = 0
    while True:
        try:
            line = stream.readline(max_line_bytes + 1)
            if len(line) > max_line_bytes and not line.endswith(b"\n"):
                head = line[:REJECT_TEXT_CHARS]
                while line and not line.endswith(b"\n"):  # drop the rest of it, a piece at a time
                    total += len(line)
                    if max_bytes is not None and total > max_bytes:
                        break
                    line = stream.readline(max_line_bytes + 1)
                total += len(line)
                line = LineTooLong(head)
            else:
                total += len(line)
        except (EOFError, zlib.error, gzip.BadGzipFile) as error:
            raise FileDamaged(f"the file is damaged after {total:,} bytes ({type(error).__name__}); "
                              "the lines before that point were imported") from None
        if max_bytes is not None and total > max_bytes:
            shown = f"{max_bytes / 1e6:,.0f} MB" if max_bytes >= 1e7 else f"{max_bytes / 1e3:,.0f} KB"
            raise FileTooLarge(f"the file's content is larger than {shown}; the lines before that point were imported")
        if not line:
            return
        count += 1
        if max_lines is not None and count > max_lines:
            raise FileTooLarge(f"the file holds more than {max_lines:,} lines for its size; "
                               "the lines before that point were imported")
        yield line


def ingest_lines(engine: sa.Engine, lines: Iterable[bytes | str], source: str = "-",
                 on_reject: Callable[[Reject], None] = lambda r: None,
                 progress: Callable[[Summary], None] | None = None, writer: Writer | None = None) -> Summary:
    """Import ``lines`` (the lines of one file); returns what was done. Every bad line is counted
    in ``rejected`` and passed to ``on_reject``. Raises ``ImportStopped`` (the file cannot be read
    on, or the database refused the writes): committed batches stay committed, and the rows of the
    batch under way are written first where the database still takes them."""
    writer = writer or Writer(engine)
    summary = Summary()

    def rejected(reject: Reject) -> None:
        summary.rejected += 1
        on_reject(reject)

    try:
        for number, raw in enumerate(lines, start=1):
            if isinstance(raw, LineTooLong):
                text, error = raw.decode("utf-8", "replace"), f"line longer than {MAX_LINE_BYTES:,} bytes"
            elif isinstance(raw, bytes):
                try:
                    text, error = raw.decode("utf-8"), None
                except UnicodeDecodeError:
                    text, error = raw[:REJECT_TEXT_CHARS * 4].decode("utf-8", "replace"), "not UTF-8 text"
            else:
                text, error = raw, None
            if not text.strip() and error is None:
                continue  # blank lines are not lines of the log
            summary.read += 1
            origin = Reject(source, number, "", text.strip()[:REJECT_TEXT_CHARS])
            try:
                if error:
                    raise Rejected(error)
                rows = parse_line(text)
            except Rejected as reason:
                rejected(origin.because(str(reason)))
                continue
            if not rows:
                summary.other += 1
            for table, row in rows:
                writer.add(table, row, summary, origin, rejected)
            if progress is not None and summary.read % 10_000 == 0:
                progress(summary)
        writer.flush(summary, rejected)
    except ImportStopped as error:
        if not isinstance(error, WriteRefused):
            try:
                writer.flush(summary, rejected)  # keep what was read before the file stopped
            except ImportStopped:
                pass
        error.summary = summary  # what was done before it stopped
        raise
    return summary


class KeptRejects:
    """Collects the first ``keep`` rejects (their count is the summary's); for an upload."""

    def __init__(self, keep: int = KEPT_REJECTS) -> None:
        self.keep = keep
        self.items: list[Reject] = []

    def __call__(self, reject: Reject) -> None:
        if len(self.items) < self.keep:
            self.items.append(reject)


def open_lines(path: str, max_bytes: int | None = None) -> tuple[Iterator[bytes], Callable[[], float | None]]:
    """The lines of ``path`` (gzip-compressed or not; ``-`` = standard input; see
    ``bounded_lines``) and a function giving the fraction read so far (None when the size is
    unknown). Raises ``OSError`` when the file cannot be opened."""
    if path == "-":
        return bounded_lines(sys.stdin.buffer, max_bytes), lambda: None
    raw = open(path, "rb")
    size = os.path.getsize(path)
    return bounded_lines(decompressed(raw), max_bytes), lambda: raw.tell() / size if size else None


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


class RejectsFile:
    """Writes the first ``keep`` rejects to ``path`` as JSON lines (all are counted); for the CLI."""

    def __init__(self, path: str, keep: int | None = None) -> None:
        self.path, self.keep, self.written = path, keep or KEPT_REJECTS, 0
        self.file = open(path, "w", encoding="utf-8")

    def __call__(self, reject: Reject) -> None:
        if self.written < self.keep:
            self.file.write(reject.json() + "\n")
            self.written += 1

    def close(self) -> None:
        self.file.close()


def main(argv: list[str] | None = None) -> int:
    """The command line; every failure is one line on standard error and a non-zero exit."""
    parser = argparse.ArgumentParser(prog="python -m data_access.ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", help="JSON-lines log files (.gz allowed); - for standard input")
    parser.add_argument("--url", default=None, help="database URL (default: as the dashboard resolves it)")
    parser.add_argument("--rejects", default="ingest-rejects.jsonl",
                        help="where rejected lines go, one JSON object each, the first "
                             f"{KEPT_REJECTS:,} of them (default: ingest-rejects.jsonl)")
    parser.add_argument("--max-mb", type=float, default=None,
                        help="stop a file whose content (decompressed) is larger than this many MB")
    args = parser.parse_args(argv)
    from data_access.engine import make_engine, resolve_config

    max_bytes = int(args.max_mb * 1e6) if args.max_mb else None
    try:
        engine = make_engine(args.url or resolve_config().url)
        writer = Writer(engine)
    except WriteRefused as error:
        print(f"error: cannot use the database: {error}", file=sys.stderr)
        return 2
    except (errors.DATABASE_ERRORS + (ValueError,)) as error:
        print(f"error: cannot use the database: {errors.classify(error)}", file=sys.stderr)
        return 2
    try:
        rejects = RejectsFile(args.rejects)
    except OSError as error:
        print(f"error: cannot write the rejects file {args.rejects}: {error.strerror or type(error).__name__}",
              file=sys.stderr)
        return 2
    total = Summary()
    try:
        for path in args.files:
            try:
                lines, fraction = open_lines(path, max_bytes)
            except OSError as error:
                print(f"error: cannot read {path}: {error.strerror or type(error).__name__}", file=sys.stderr)
                return 2
            show = terminal_progress(path, fraction)
            try:
                summary = ingest_lines(engine, lines, path, rejects, show, writer)
            except WriteRefused as error:
                again = " (what was committed stays; running the same command again completes it)" \
                    if isinstance(error.problem, errors.DatabaseUnavailable) else ""
                print(f"\nerror: import of {path} stopped: {error}{again}", file=sys.stderr)
                return 1
            except ImportStopped as error:
                print(f"\nerror: import of {path} stopped: {error}", file=sys.stderr)
                return 1
            except OSError as error:
                print(f"\nerror: import of {path} stopped: cannot read it ({error.strerror or type(error).__name__})",
                      file=sys.stderr)
                return 1
            if show:
                sys.stderr.write("\n")
            print(f"{path}: {summary.text()}")
            total.add(summary)
    finally:
        rejects.close()
        engine.dispose()
    if len(args.files) > 1:
        print(f"total: {total.text()}")
    if total.rejected > rejects.written:
        print(f"the first {rejects.written:,} of {total.rejected:,} rejected lines are in {args.rejects}")
    elif total.rejected:
        print(f"rejected lines are in {args.rejects}")
    else:
        os.remove(args.rejects)
    return 0


if __name__ == "__main__":
    sys.exit(main())
