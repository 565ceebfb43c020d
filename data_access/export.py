"""Export exactly the filtered rows of a contract table as CSV, JSON or XLSX.

Rows are streamed from the database in chunks (a server-side cursor on PostgreSQL), in
timestamp order, and written as they come: CSV and JSON never hold more than a chunk, XLSX is
written row by row into the zipped sheet XML (``data_access.xlsx``). Nothing is truncated silently: an XLSX export
continues on further sheets past Excel's row limit, and text cut at Excel's cell limit is
marked and counted.

Safety (``data_access.spreadsheet``): a text value that a spreadsheet would run as a formula
(starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return; OWASP ASVS 1.2.10, CWE-1236)
gets a leading ``'`` in CSV and is written as a plain string in XLSX; CSV cells holding a line
break are quoted. Numbers stay numbers.

    python -m data_access.export --table conversation_metrics --start-date 2026-10-01 \\
        --end-date 2026-10-31 [--platform telegram ...] --format csv|json|xlsx --out FILE|-

The ``dialogs`` table is one row per dialog that starts in the range (and has a message of each
filtered value), its facts over all its messages (``data_access.dialogs``); ``--outcome`` keeps
those escalated, resolved, converted or automated, ``--rated-at-most N`` those with a rating of N
stars or fewer.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import io
import json
import os
import secrets
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo, available_timezones

import sqlalchemy as sa

from data_access import catalogue, sql
from data_access.spreadsheet import CsvWriter, is_formula_like
from data_access.engine import PROJECT_ROOT, make_engine, resolve_config
from data_access.filters import Filters
from data_access.schema import TABLES, Schema, discover

FORMATS = ("csv", "json", "xlsx")
EXCEL_MAX_ROWS = 1_048_575  # data rows per sheet: Excel's 1,048,576 less the header
EXCEL_MAX_CELL = 32_767
TRUNCATION_MARK = "…[cut at 32,767 characters]"
CHUNK_ROWS = 10_000
MONEY_COLUMNS = {"cost_usd"}

# What each column holds, for the XLSX "About" sheet (docs/contract.md says more).
COLUMN_NOTES = {
    "id": "row id (UUID)", "timestamp": "when it happened (in the timezone named in the header)",
    "user_id": "end customer (a salted hash when masked)", "session_id": "the dialog the message belongs to",
    "platform": "telegram, whatsapp, web, …", "intent": "intent the AI recognised",
    "expected_intent": "intent a human reviewer assigned (empty = not reviewed)",
    "confidence": "classifier confidence 0..1", "response_time_ms": "AI generation time, ms",
    "tokens_used": "tokens for this answer", "cost_usd": "cost of this answer, USD",
    "ai_model": "model that answered", "satisfaction_score": "customer's rating 1..5",
    "helpful": "customer's thumbs up (TRUE) or down (FALSE)", "resolved": "dialog resolved at or before this message",
    "escalated": "handed to a human operator at this message", "converted": "ended with an order, booking or payment",
    "score": "NPS score 0..10", "comment": "the customer's comment", "service": "service name",
    "requests": "requests in the sampling interval", "errors": "failed requests in the interval",
    "cpu_percent": "CPU %", "memory_percent": "memory %", "disk_percent": "disk %",
    "active_sessions": "active sessions", "error_type": "error class", "level": "WARNING, ERROR or CRITICAL",
    "message": "error message", "status": "up, degraded or down", "latency_ms": "latency, ms",
    "integration": "partner API or webhook", "kind": "api or webhook", "status_code": "HTTP status",
    "auth_failed": "authentication failed", "quota_used": "quota used", "quota_limit": "quota limit",
}


# The dialogs, one row per dialog (``data_access.dialogs``): each column → its SQL over the facts.
DIALOGS = "dialogs"
DIALOGS_TABLE = sa.Table(
    DIALOGS, sa.MetaData(),
    sa.Column("dialog", sa.Text), sa.Column("started", sa.DateTime), sa.Column("ended", sa.DateTime),
    sa.Column("user_id", sa.Text), sa.Column("platforms", sa.Text), sa.Column("intents", sa.Text),
    sa.Column("ai_models", sa.Text), sa.Column("messages", sa.Integer), sa.Column("converted", sa.Boolean),
    sa.Column("escalated", sa.Boolean), sa.Column("resolved_at", sa.DateTime), sa.Column("automated", sa.Boolean),
    sa.Column("repeat_contact", sa.Boolean), sa.Column("cost_usd", sa.Numeric), sa.Column("lowest_rating", sa.Integer))


def dialog_columns(dialect: str) -> dict[str, str]:
    return {"dialog": "f.dialog", "started": "f.started", "ended": "f.last_seen", "user_id": "f.user_id",
            "messages": "f.messages",
            "converted": "f.converted_any", "escalated": "f.escalated_any", "resolved_at": "f.first_resolved",
            "automated": catalogue.dialog_measures(dialect)["automated"], "repeat_contact": catalogue.repeat_flag(dialect),
            "cost_usd": "f.cost_e4 / 10000.0", "lowest_rating": "f.lowest_rating"}


# The dialogs' outcome filters: name → the condition on an exported row.
OUTCOMES = {"escalated": "escalated = 1", "resolved": "resolved_at IS NOT NULL", "converted": "converted = 1",
            "automated": "automated = 1"}
# What each table of the export has: the contract's, and the dialogs.
EXPORT_TABLES = {**TABLES, DIALOGS: DIALOGS_TABLE}

COLUMN_NOTES.update({
    "dialog": "the dialog: its session_id (without one, user_id + UTC date)",
    "platforms": "the platforms it has a message on", "intents": "the intents of its messages",
    "ai_models": "the models that answered in it",
    "started": "its first message", "ended": "its last message", "messages": "its messages",
    "resolved_at": "its first message with resolved = true", "automated": "resolved and never escalated",
    "repeat_contact": "the same user started another dialog in the 7 × 24 hours before",
    "lowest_rating": "the lowest satisfaction_score among its messages (1–5), empty when none is rated",
})


class ExportError(ValueError):
    """A request that cannot be exported (unknown table or column, bad format); the message says why."""


@dataclass(frozen=True)
class ExportRequest:
    """Which rows and columns of which table, in which format; ``mask_user_ids`` hashes user_id."""

    table: str
    filters: Filters
    columns: tuple[str, ...] = ()
    mask_user_ids: bool = False
    user_id: str | None = None  # one user's rows only (conversation_metrics, nps_responses, dialogs)
    session_id: str | None = None  # one dialog's rows only (conversation_metrics, dialogs)
    outcomes: tuple[str, ...] = ()  # dialogs: only those with every outcome named (OUTCOMES)
    rated_at_most: int | None = None  # dialogs: only those with a rating of this many stars or fewer

    def source(self, engine: sa.Engine, schema: Schema) -> tuple[str, dict, str]:
        """``(FROM clause, its bound values, ORDER BY)`` of the export's rows."""
        dialect = engine.dialect.name
        if self.table != DIALOGS:
            where, params = self.where(schema, dialect)
            tiebreak = ', "id"' if schema.has(self.table, "id") else (', "service"' if schema.has(self.table, "service") else "")
            return f"{self.table} {where}", params, f'{sql.TS}{tiebreak}'
        from data_access import dialogs, plans

        plan = plans.plan(engine, schema, self.filters)
        rows = dialogs.rows(plan, schema, dialect, dialog_columns(dialect), lists=True, rated_at_most=self.rated_at_most)
        params = dict(rows.params)
        clauses = [OUTCOMES[o] for o in self.outcomes]
        if self.user_id is not None:
            clauses.append("user_id = :ex_user")
            params["ex_user"] = self.user_id
        if self.session_id is not None:
            clauses.append("dialog = :ex_session")
            params["ex_session"] = self.session_id
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return f"({rows.text}) d{where}", params, "started, dialog"

    def where(self, schema: Schema, dialect: str) -> tuple[str, dict]:
        """``WHERE …`` and its bound values: the filters, and the user and dialog when named."""
        where, params = sql.table_where(self.filters, self.table, schema, dialect)
        try:
            extra, drill = sql.drill_where(schema, user_id=self.user_id, session_id=self.session_id, table=self.table)
        except ValueError as error:
            raise ExportError(str(error)) from None
        return where + extra, {**params, **drill}

    def checked(self, schema: Schema) -> "ExportRequest":
        """This request with its columns resolved against the database (all present ones when
        none were named). Raises ``ExportError`` for a table or column it does not have."""
        if self.table not in EXPORT_TABLES:
            raise ExportError(f"unknown table {self.table!r}; choose one of {', '.join(EXPORT_TABLES)}")
        if not schema.has_table(self.table if self.table != DIALOGS else "conversation_metrics"):
            raise ExportError(f"this database has no {self.table} table")
        if self.table != DIALOGS and (self.outcomes or self.rated_at_most is not None):
            raise ExportError("outcome and rating filters apply to the dialogs table only")
        unknown_outcomes = [o for o in self.outcomes if o not in OUTCOMES]
        if unknown_outcomes:
            raise ExportError(f"unknown outcome(s): {', '.join(unknown_outcomes)}; choose from {', '.join(OUTCOMES)}")
        if self.rated_at_most is not None and (not 1 <= self.rated_at_most <= 5
                                               or not schema.has("conversation_metrics", "satisfaction_score")):
            raise ExportError("--rated-at-most takes 1 to 5 stars, on a database with satisfaction_score")
        present = [c for c in EXPORT_TABLES[self.table].columns.keys()
                   if self.table == DIALOGS or schema.has(self.table, c)]
        columns = self.columns or tuple(present)
        unknown = [c for c in columns if c not in present]
        if unknown:
            raise ExportError(f"unknown column(s) for {self.table}: {', '.join(unknown)}")
        return replace(self, columns=tuple(c for c in present if c in columns))


@dataclass
class ExportStats:
    """What an export wrote: rows, sheets (XLSX), cells cut at Excel's limit, formula-like texts."""

    rows: int = 0
    sheets: int = 0
    truncated_cells: int = 0
    neutralised_cells: int = 0
    notes: list[str] = field(default_factory=list)


def _column(table: str, name: str) -> str:
    """An export column, allow-listed and quoted."""
    if name not in EXPORT_TABLES[table].columns:
        raise KeyError(f"{table}.{name} is not an export column")
    return f'"{name}"'


def count_rows(engine: sa.Engine, schema: Schema, request: ExportRequest) -> int:
    """How many rows the export will hold."""
    request = request.checked(schema)
    source, params, _ = request.source(engine, schema)
    return int(sql.read_row(engine, f"SELECT COUNT(*) AS n FROM {source}", params)["n"])


def iter_rows(engine: sa.Engine, schema: Schema, request: ExportRequest,
              chunk_rows: int = CHUNK_ROWS) -> Iterator[list[tuple]]:
    """Yield the export's rows as lists of tuples, ``chunk_rows`` at a time, in timestamp order.

    PostgreSQL streams them through a server-side cursor, so memory stays bounded."""
    request = request.checked(schema)
    source, params, order = request.source(engine, schema)
    cols = ", ".join(_column(request.table, c) for c in request.columns)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(
            sa.text(f"SELECT {cols} FROM {source} ORDER BY {order}"), params)
        for partition in result.partitions(chunk_rows):
            yield [tuple(row) for row in partition]


def preview(engine: sa.Engine, schema: Schema, request: ExportRequest, limit: int = 20) -> list[dict]:
    """The first ``limit`` rows as the export will write them (masked, local times)."""
    request = request.checked(schema)
    convert = RowConverter(request, engine.dialect.name)
    rows: list[dict] = []
    for chunk in iter_rows(engine, schema, request, chunk_rows=limit):
        rows += [dict(zip(request.columns, convert(row))) for row in chunk[: limit - len(rows)]]
        break
    return rows


def mask_salt() -> bytes:
    """The salt of user-id masking: ``EASYFLOW_MASK_SALT``, else one made once and kept in
    ``.easyflow/mask_salt`` so that the same user gets the same hash in every export."""
    configured = os.environ.get("EASYFLOW_MASK_SALT")
    if configured:
        return configured.encode("utf-8")
    path = Path(os.environ.get("EASYFLOW_MASK_SALT_FILE") or PROJECT_ROOT / ".easyflow" / "mask_salt")
    try:
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:  # readable by its owner only (0600), and never over a file made meanwhile
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(descriptor, "w") as file:
                    file.write(secrets.token_hex(32))
        salt = path.read_text().strip()
    except OSError as error:
        raise ExportError("user ids cannot be masked: the masking salt cannot be kept "
                          f"({type(error).__name__}); set EASYFLOW_MASK_SALT") from None
    if not salt:
        raise ExportError("user ids cannot be masked: the masking salt file is empty; set EASYFLOW_MASK_SALT")
    return salt.encode("utf-8")


def mask(user_id: str | None, salt: bytes) -> str | None:
    """A stable, salted hash of a user id (``u_`` + 16 hex digits); None stays None."""
    if user_id is None:
        return None
    return "u_" + hmac.new(salt, str(user_id).encode("utf-8"), hashlib.sha256).hexdigest()[:16]


class RowConverter:
    """Database values → export values: timestamps in the filters' timezone (naive UTC and aware
    inputs alike), UUIDs as text, booleans as booleans, money as Decimal, user ids masked."""

    def __init__(self, request: ExportRequest, dialect: str) -> None:
        self.zone = ZoneInfo(request.filters.tz)
        self.columns = request.columns
        self.dialect = dialect
        self.salt = mask_salt() if request.mask_user_ids else None
        kinds = EXPORT_TABLES[request.table].columns
        self.converters: list[Callable] = []
        for name in request.columns:
            column_type = kinds[name].type
            if isinstance(column_type, sa.DateTime):
                self.converters.append(self._timestamp)
            elif name == "user_id" and self.salt is not None:
                self.converters.append(lambda v: mask(v, self.salt))
            elif name == "dialog" and self.salt is not None:
                self.converters.append(self._dialog)
            elif request.table == DIALOGS and name in ("platforms", "intents", "ai_models"):
                self.converters.append(lambda v: None if v is None else ", ".join(sorted(set(str(v).split(",")))))
            elif isinstance(column_type, sa.Boolean):
                self.converters.append(lambda v: None if v is None else bool(v))
            elif name in MONEY_COLUMNS:
                self.converters.append(lambda v: None if v is None else Decimal(str(v)).quantize(Decimal("0.0001")))
            elif isinstance(column_type, sa.Integer):
                self.converters.append(lambda v: None if v is None else int(v))
            elif isinstance(column_type, sa.Float):
                self.converters.append(lambda v: None if v is None else float(v))
            else:
                self.converters.append(lambda v: None if v is None else str(v) if isinstance(v, uuid.UUID) else v)

    def _dialog(self, value: str | None) -> str | None:
        """A dialog key made of a user id and a date (a dialog without a session) with the user
        id masked; a session id as it is."""
        if value is None:
            return None
        user, separator, day = str(value).rpartition(":")
        if separator and len(day) == 10 and day[4] == day[7] == "-" and day.replace("-", "").isdigit():
            return f"{mask(user, self.salt)}:{day}"
        return value

    def _timestamp(self, value) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(self.zone)

    def __call__(self, row: Sequence) -> list:
        return [convert(value) for convert, value in zip(self.converters, row)]


def write_csv(rows: Iterator[list[tuple]], request: ExportRequest, out: IO[str], dialect: str,
              progress: Callable[[int], None] | None = None) -> ExportStats:
    """CSV (RFC 4180, ``data_access.spreadsheet``) with a header of column names; timestamps ISO
    8601 with their UTC offset; booleans true/false; NULL as an empty field; formula-like text
    prefixed with ``'``."""
    stats = ExportStats(sheets=0)
    writer = CsvWriter(out)
    writer.header(request.columns)
    convert = RowConverter(request, dialect)
    for chunk in rows:
        for row in chunk:
            writer.row(("true" if value else "false") if isinstance(value, bool)
                       else value.isoformat() if isinstance(value, datetime) else value
                       for value in convert(row))
        stats.rows += len(chunk)
        if progress:
            progress(stats.rows)
    stats.neutralised_cells = writer.neutralised
    return stats


def _json_value(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return str(value)  # a JSON number, exactly the stored digits
    if isinstance(value, datetime):
        return json.dumps(value.isoformat())
    if isinstance(value, float):
        return json.dumps(value) if value == value and value not in (float("inf"), float("-inf")) else "null"
    return json.dumps(value, ensure_ascii=False)


def write_json(rows: Iterator[list[tuple]], request: ExportRequest, out: IO[str], dialect: str,
               progress: Callable[[int], None] | None = None) -> ExportStats:
    """A JSON array of objects keyed by column name, streamed; Decimal money as numbers,
    timestamps as ISO 8601 strings with their offset, UUIDs as strings."""
    stats = ExportStats()
    convert = RowConverter(request, dialect)
    keys = [json.dumps(c) for c in request.columns]
    out.write("[")
    first = True
    for chunk in rows:
        for row in chunk:
            body = ", ".join(f"{k}: {_json_value(v)}" for k, v in zip(keys, convert(row)))
            out.write(("\n" if first else ",\n") + "{" + body + "}")
            first = False
        stats.rows += len(chunk)
        if progress:
            progress(stats.rows)
    out.write("\n]\n" if not first else "]\n")
    return stats


ABOUT_LABELS = {"title": "Easy Flow Analytics export", "table": "table", "range": "range",
                "range_value": "{start} – {end} ({tz}), end excluded", "platform": "platform",
                "intent": "intent", "ai_model": "ai_model", "all": "all", "user_ids": "user ids",
                "masked": "masked (salted hash)", "as_stored": "as stored", "exported_at": "exported at (UTC)",
                "rows": "rows", "sheets": "sheets", "truncated": "cells cut at 32,767 characters",
                "column": "column", "meaning": "meaning"}


def column_width(column: str, header: str) -> float:
    """A data sheet column's width in characters: a date-time or an id shows whole (a UUID is 36
    characters), text gets room, a number the width of its header."""
    if column == "timestamp":
        return max(len(header) + 2.0, 21.0)
    if column.endswith("_id") or column == "id":
        return 38.0
    if column in ("message", "comment", "error_message"):
        return 60.0
    return max(len(header) + 3.0, 12.0)


def write_xlsx(rows: Iterator[list[tuple]], request: ExportRequest, out: IO[bytes], dialect: str,
               progress: Callable[[int], None] | None = None, max_rows_per_sheet: int = EXCEL_MAX_ROWS,
               exported_at: datetime | None = None, about: dict[str, str] | None = None,
               column_notes: dict[str, str] | None = None) -> ExportStats:
    """XLSX, streamed (``data_access.xlsx``): sheets "data", "data 2", … of at most
    ``max_rows_per_sheet`` rows, native dates (the timezone named in the header) and numbers,
    money to 1/10,000 USD, text as text (never a formula), and an "About" sheet with the
    filters, time, rows and columns, in the words of ``about`` and ``column_notes`` (English
    by default: ``ABOUT_LABELS``, ``COLUMN_NOTES``)."""
    from data_access.xlsx import STYLE_HEADER, StreamingXlsx

    about = {**ABOUT_LABELS, **(about or {})}
    notes = {**COLUMN_NOTES, **(column_notes or {})}
    stats = ExportStats()
    book = StreamingXlsx(out)
    convert = RowConverter(request, dialect)
    tz = request.filters.tz
    header = [f"timestamp ({tz})" if c == "timestamp" else c for c in request.columns]
    money = [i for i, c in enumerate(request.columns) if c in MONEY_COLUMNS]
    in_sheet = 0

    widths = [column_width(name, shown) for name, shown in zip(request.columns, header)]

    def new_sheet() -> None:
        nonlocal in_sheet
        stats.sheets += 1
        book.start_sheet("data" if stats.sheets == 1 else f"data {stats.sheets}", header, money, widths=widths)
        in_sheet = 0

    new_sheet()
    for chunk in rows:
        for row in chunk:
            if in_sheet == max_rows_per_sheet:
                new_sheet()
            values = convert(row)
            for i, value in enumerate(values):
                if isinstance(value, datetime):
                    values[i] = value.replace(tzinfo=None)
                elif isinstance(value, str):
                    if len(value) > EXCEL_MAX_CELL:
                        values[i] = value[: EXCEL_MAX_CELL - len(TRUNCATION_MARK)] + TRUNCATION_MARK
                        stats.truncated_cells += 1
                    stats.neutralised_cells += is_formula_like(value)
            book.write_row(values)
            in_sheet += 1
        stats.rows += len(chunk)
        if progress:
            progress(stats.rows)
    f = request.filters
    exported_at = exported_at or datetime.now(timezone.utc)
    lines = [(about["title"], None), (about["table"], request.table),
             (about["range"], about["range_value"].format(start=f"{f.start:%Y-%m-%d %H:%M}",
                                                          end=f"{f.end:%Y-%m-%d %H:%M}", tz=tz)),
             (about["platform"], ", ".join(f.platforms) or about["all"]),
             (about["intent"], ", ".join(f.intents) or about["all"]),
             (about["ai_model"], ", ".join(f.models) or about["all"]),
             (about["user_ids"], about["masked"] if request.mask_user_ids else about["as_stored"]),
             (about["exported_at"], exported_at.strftime("%Y-%m-%d %H:%M:%S")), (about["rows"], stats.rows),
             (about["sheets"], stats.sheets), (about["truncated"], stats.truncated_cells), (None, None)]
    book.start_sheet("About", freeze_header=False, widths=(24, 80))
    for key, value in lines:
        book.write_row([key, value])
    book.write_row([about["column"], about["meaning"]], style=STYLE_HEADER)  # heads the column list below it
    for column in request.columns:
        book.write_row([column, notes.get(column, "")])
    book.close()
    if stats.truncated_cells:
        stats.notes.append(f"{stats.truncated_cells} cell(s) cut at Excel's 32,767 characters")
    return stats


WRITERS = {"csv": write_csv, "json": write_json, "xlsx": write_xlsx}
MIME = {"csv": "text/csv", "json": "application/json",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def export(engine: sa.Engine, schema: Schema, request: ExportRequest, fmt: str, out: IO,
           progress: Callable[[int], None] | None = None, **options) -> ExportStats:
    """Write ``request``'s rows to ``out`` (text for csv/json, binary for xlsx) in ``fmt``.

    Raises ``ExportError`` for an unknown format, table or column."""
    if fmt not in WRITERS:
        raise ExportError(f"unknown format {fmt!r}; choose csv, json or xlsx")
    request = request.checked(schema)
    return WRITERS[fmt](iter_rows(engine, schema, request), request, out, engine.dialect.name, progress, **options)


def export_bytes(engine: sa.Engine, schema: Schema, request: ExportRequest, fmt: str, **options) -> bytes:
    """The whole export as bytes (for a download button); UTF-8 for csv and json. Written to a
    temporary file first, so the bytes are held once, not as text and then as bytes."""
    return written(engine, schema, request, fmt, **options)[0]


def written(engine: sa.Engine, schema: Schema, request: ExportRequest, fmt: str,
            **options) -> tuple[bytes, ExportStats]:
    """``export_bytes`` and what the export wrote (rows, sheets, …), for an audit line."""
    file, stats = _export_to_temporary_file(engine, schema, request, fmt, **options)
    with file:
        return file.read(), stats


def export_file(engine: sa.Engine, schema: Schema, request: ExportRequest, fmt: str, **options) -> IO[bytes]:
    """The whole export written to a temporary file (deleted when closed), positioned at its
    start: the export never holds more than a chunk of rows in memory, whatever its size."""
    return _export_to_temporary_file(engine, schema, request, fmt, **options)[0]


def export_binary(engine: sa.Engine, schema: Schema, request: ExportRequest, fmt: str, out: IO[bytes],
                  **options) -> ExportStats:
    """``export`` to a binary file (csv and json as UTF-8), left open."""
    if fmt == "xlsx":
        return export(engine, schema, request, fmt, out, **options)
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    stats = export(engine, schema, request, fmt, text, **options)
    text.flush()
    text.detach()
    return stats


def _export_to_temporary_file(engine: sa.Engine, schema: Schema, request: ExportRequest, fmt: str,
                              **options) -> tuple[IO[bytes], ExportStats]:
    import tempfile

    file = tempfile.TemporaryFile()
    try:
        stats = export_binary(engine, schema, request, fmt, file, **options)
        file.seek(0)
    except BaseException:
        file.close()
        raise
    return file, stats


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):  # one line on stderr, exit 2
        self.exit(2, f"error: {message}\n")


# Dates the command line takes: any day whose range, shifted by any timezone, is a valid datetime.
CLI_DATES = (date(1900, 1, 1), date(9998, 12, 31))


def _date(text: str) -> date:
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None
    if not CLI_DATES[0] <= value <= CLI_DATES[1]:
        raise argparse.ArgumentTypeError(f"{text} is outside {CLI_DATES[0]} … {CLI_DATES[1]}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m data_access.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", required=True, choices=list(EXPORT_TABLES))
    parser.add_argument("--start-date", required=True, type=_date)
    parser.add_argument("--end-date", required=True, type=_date)
    parser.add_argument("--platform", action="append", default=[])
    parser.add_argument("--intent", action="append", default=[])
    parser.add_argument("--ai-model", action="append", default=[])
    parser.add_argument("--columns", default="", help="comma-separated (default: all)")
    parser.add_argument("--tz", default="UTC", help="timezone of the dates and of the exported times")
    parser.add_argument("--mask-user-ids", action="store_true")
    parser.add_argument("--user-id", help="one user's rows only")
    parser.add_argument("--session-id", help="one dialog's rows only (conversation_metrics, dialogs)")
    parser.add_argument("--outcome", action="append", default=[], choices=list(OUTCOMES),
                        help="dialogs: only those escalated, resolved, converted or automated (repeatable: all of them)")
    parser.add_argument("--rated-at-most", type=int, choices=range(1, 6), metavar="1-5",
                        help="dialogs: only those with a rating of this many stars or fewer")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--out", required=True, help="file, or - for stdout (csv and json)")
    parser.add_argument("--url", default=None, help="database URL (default: as the dashboard resolves it)")
    args = parser.parse_args(argv)
    if args.end_date < args.start_date:
        parser.error("--end-date is before --start-date")
    if args.tz not in available_timezones():
        parser.error(f"unknown timezone {args.tz!r}")
    if args.out == "-" and args.format == "xlsx":
        parser.error("xlsx cannot go to stdout; give --out FILE")
    split = lambda values: tuple(v.strip() for item in values for v in item.split(",") if v.strip())  # noqa: E731
    filters = Filters.for_dates(args.start_date, args.end_date, tz=args.tz, platforms=split(args.platform),
                                intents=split(args.intent), models=split(args.ai_model))
    request = ExportRequest(args.table, filters, split([args.columns]), args.mask_user_ids,
                            args.user_id or None, args.session_id or None, tuple(dict.fromkeys(args.outcome)),
                            args.rated_at_most)
    from data_access import errors

    try:
        engine = make_engine(args.url or resolve_config().url)
    except errors.DATABASE_ERRORS + (ValueError,) as error:
        print(f"error: cannot use the database: {errors.classify(error)}", file=sys.stderr)
        return 2
    try:
        schema = discover(engine)
        total = count_rows(engine, schema, request)
        show = _progress(total) if args.out != "-" and sys.stderr.isatty() else None
        if args.out == "-":
            stats = export(engine, schema, request, args.format, sys.stdout)
        else:
            mode = ("wb", {}) if args.format == "xlsx" else ("w", {"encoding": "utf-8", "newline": ""})
            with open(args.out, mode[0], **mode[1]) as out:
                stats = export(engine, schema, request, args.format, out, show)
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        if isinstance(error, (ConnectionError, TimeoutError)):
            print(f"error: {errors.classify(error)}", file=sys.stderr)
        else:
            print(f"error: cannot write {args.out}: {error.strerror or type(error).__name__}", file=sys.stderr)
        return 1
    except errors.DATABASE_ERRORS as error:
        print(f"error: {errors.classify(error)}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    if args.out != "-":
        extra = f", {stats.sheets} sheet(s)" if args.format == "xlsx" else ""
        print(f"{stats.rows:,} rows written to {args.out}{extra}" + "".join(f"; {n}" for n in stats.notes),
              file=sys.stderr)
    return 0


def _progress(total: int) -> Callable[[int], None]:
    def show(done: int) -> None:
        fraction = done / total if total else 1.0
        sys.stderr.write(f"\r[{'#' * int(fraction * 30):<30}] {done:,} / {total:,} rows")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()
    return show


if __name__ == "__main__":
    sys.exit(main())


def estimate_sizes(engine: sa.Engine, schema: Schema, request: ExportRequest, total: int,
                   sample_rows: int = 500) -> dict[str, int]:
    """Estimated file size in bytes per format: the first ``sample_rows`` rows written in each
    format, scaled to ``total`` rows (XLSX compresses, so its estimate is the roughest)."""
    request = request.checked(schema)
    sample = next(iter_rows(engine, schema, request, chunk_rows=sample_rows), [])[:sample_rows]
    sizes = {}
    for fmt, writer in WRITERS.items():
        buffer = io.BytesIO() if fmt == "xlsx" else io.StringIO()
        writer(iter([sample]), request, buffer, engine.dialect.name)
        size = len(buffer.getvalue()) if fmt == "xlsx" else len(buffer.getvalue().encode("utf-8"))
        empty = io.BytesIO() if fmt == "xlsx" else io.StringIO()
        writer(iter([]), request, empty, engine.dialect.name)
        fixed = len(empty.getvalue()) if fmt == "xlsx" else len(empty.getvalue().encode("utf-8"))
        per_row = (size - fixed) / len(sample) if sample else 0
        sizes[fmt] = int(fixed + per_row * total)
    return sizes


def page_summary(engine: sa.Engine, schema: Schema, filters: Filters, table: str, columns: tuple[str, ...],
                 mask_user_ids: bool, user_id: str | None = None, session_id: str | None = None,
                 outcomes: tuple[str, ...] = (), rated_at_most: int | None = None) -> dict:
    """What the export page shows before a download: row count, preview rows, size estimates."""
    request = ExportRequest(table, filters, columns, mask_user_ids, user_id, session_id, outcomes,
                            rated_at_most).checked(schema)
    total = count_rows(engine, schema, request)
    return {"rows": total, "columns": request.columns, "preview": preview(engine, schema, request),
            "sizes": estimate_sizes(engine, schema, request, total),
            "sheets": max(1, -(-total // EXCEL_MAX_ROWS)), "long_cells": count_long_cells(engine, schema, request)}


def count_long_cells(engine: sa.Engine, schema: Schema, request: ExportRequest) -> int:
    """How many text cells of the export are longer than Excel's 32,767 characters (XLSX cuts them)."""
    request = request.checked(schema)
    texts = [c for c in request.columns
             if isinstance(EXPORT_TABLES[request.table].columns[c].type, (sa.String, sa.Text)) and c != "id"]
    if not texts:
        return 0
    source, params, _ = request.source(engine, schema)
    long_cells = " + ".join(f"SUM(CASE WHEN LENGTH({_column(request.table, c)}) > {EXCEL_MAX_CELL} THEN 1 ELSE 0 END)"
                            for c in texts)
    value = sql.read_row(engine, f"SELECT {long_cells} AS n FROM {source}", params)["n"]
    return int(value or 0)


def command_line(request: ExportRequest, fmt: str) -> str:
    """The ``python -m data_access.export`` command that writes the same file; every value is
    quoted for a POSIX shell (``shlex.quote``), so a value from the data stays one word."""
    import shlex

    f = request.filters
    words = ["python", "-m", "data_access.export", "--table", request.table,
             "--start-date", f.start_date.isoformat(), "--end-date", f.end_date.isoformat()]
    for option, values in (("--platform", f.platforms), ("--intent", f.intents), ("--ai-model", f.models)):
        for value in values:
            words += [option, value]
    if f.tz != "UTC":
        words += ["--tz", f.tz]
    if request.columns:
        words += ["--columns", ",".join(request.columns)]
    if request.mask_user_ids:
        words.append("--mask-user-ids")
    for option, value in (("--user-id", request.user_id), ("--session-id", request.session_id)):
        if value:
            words += [option, value]
    for outcome in request.outcomes:
        words += ["--outcome", outcome]
    if request.rated_at_most is not None:
        words += ["--rated-at-most", str(int(request.rated_at_most))]
    words += ["--format", fmt, "--out", f"{request.table}.{fmt}"]
    return " ".join(shlex.quote(word) for word in words)
