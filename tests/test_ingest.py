"""Log import on SQLite and PostgreSQL, from lines written by structlog's own JSONRenderer."""

from __future__ import annotations

import gzip
import io
import json
import logging
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
import structlog

from data_access import ingest
from data_access.engine import make_engine
from data_access.ingest import Rejected, ingest_lines, parse_line
from data_access.schema import TABLES

T0 = datetime(2026, 11, 2, 10, 0)


def structlog_lines(events: list[tuple[str, str, dict]], exception: bool = False) -> list[str]:
    """What a platform service logging with structlog (JSONRenderer, upper-case levels) writes."""
    out = io.StringIO()
    processors = [structlog.processors.add_log_level,
                  lambda _, __, event: {**event, "level": event["level"].upper()},
                  structlog.processors.format_exc_info, structlog.processors.JSONRenderer(ensure_ascii=False)]
    # Its own level filter: the dashboard's global structlog configuration must not drop DEBUG here.
    log = structlog.wrap_logger(structlog.PrintLogger(file=out), processors=processors,
                                wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    for level, event, fields in events:
        if exception and level == "error":
            try:
                raise TimeoutError("upstream timed out after 30 s")
            except TimeoutError:
                log.exception(event, **fields)
        else:
            getattr(log, level)(event, **fields)
    return out.getvalue().splitlines()


def message(i: int, **extra) -> dict:
    return {"timestamp": (T0 + timedelta(seconds=i)).isoformat() + "Z", "service": "conversation-service",
            "user_id": f"user{i % 7}", "session_id": f"sess{i // 3}", "platform": ("telegram", "whatsapp", "web")[i % 3],
            "intent": "order_status", "confidence": 0.95, "response_time_ms": 245 + i, "ai_tokens_used": 150,
            "cost_usd": 0.003, **extra}


EVENTS = [
    ("info", "message_processed", message(0)),
    ("info", "message_processed", message(1, ai_model="gpt-4o", expected_intent="refund", satisfaction_score=4,
                                           helpful=True, resolved=True, escalated=False, converted=True)),
    ("info", "message_processed", message(2, timestamp="2026-11-02T13:00:02+03:00", cost_usd=0.0125)),
    ("warning", "rate_limited", {"timestamp": T0.isoformat(), "service": "ai-service"}),
    ("debug", "cache_miss", {"timestamp": T0.isoformat(), "service": "redis"}),
    ("error", "webhook_failed", {"timestamp": (T0 + timedelta(minutes=1)).isoformat(), "service": "crm",
                                 "error_type": "WebhookDeliveryFailed", "message": "CRM answered 502"}),
    ("critical", "db_pool_exhausted", {"timestamp": (T0 + timedelta(minutes=2)).isoformat(), "service": "database"}),
]


def rows(engine: sa.Engine, table: str) -> list[dict]:
    with engine.connect() as conn:
        tbl = TABLES[table]  # typed: SQLite hands back datetimes and booleans too
        return [dict(r) for r in conn.execute(sa.select(tbl).order_by(tbl.c.timestamp, tbl.c.user_id
                                                                       if "user_id" in tbl.c else tbl.c.id)).mappings()]


def test_structlog_lines_import_field_by_field(engine):
    lines = structlog_lines(EVENTS)
    summary = ingest_lines(engine, lines, "app.log")
    assert (summary.read, summary.imported, summary.duplicates, summary.rejected, summary.other) == (7, 5, 0, 0, 2)
    assert summary.by_table == {"conversation_metrics": 3, "error_events": 2}
    got = rows(engine, "conversation_metrics")
    assert [r["user_id"] for r in got] == ["user0", "user1", "user2"]
    first, second, third = got
    assert first["timestamp"] == T0 and third["timestamp"] == T0 + timedelta(seconds=2)  # +03:00 → UTC
    assert (first["session_id"], first["platform"], first["intent"], first["confidence"], first["response_time_ms"],
            first["tokens_used"], Decimal(first["cost_usd"])) == ("sess0", "telegram", "order_status", 0.95, 245, 150,
                                                                  Decimal("0.0030"))
    assert (first["ai_model"], first["satisfaction_score"], first["helpful"], first["resolved"]) == (None, None, None, None)
    assert (second["ai_model"], second["expected_intent"], second["satisfaction_score"]) == ("gpt-4o", "refund", 4)
    assert [bool(second[f]) for f in ("helpful", "resolved", "escalated", "converted")] == [True, True, False, True]
    assert Decimal(third["cost_usd"]) == Decimal("0.0125")
    errors = rows(engine, "error_events")
    assert [(e["service"], e["error_type"], e["level"], e["message"]) for e in errors] == [
        ("crm", "WebhookDeliveryFailed", "ERROR", "CRM answered 502"),
        ("database", "db_pool_exhausted", "CRITICAL", "db_pool_exhausted")]


def test_an_exception_logged_by_structlog_keeps_its_last_line(engine):
    lines = structlog_lines([("error", "upstream_failed", {"timestamp": T0.isoformat(), "service": "api"})],
                            exception=True)
    assert "Traceback" in json.loads(lines[0])["exception"]
    ingest_lines(engine, lines)
    [error] = rows(engine, "error_events")
    assert error["message"] == "TimeoutError: upstream timed out after 30 s"


def test_the_timestamper_format_parses():
    out = io.StringIO()
    log = structlog.wrap_logger(structlog.PrintLogger(file=out), processors=[
        structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.JSONRenderer()], wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    log.info("message_processed", **{k: v for k, v in message(0).items() if k != "timestamp"})
    [(table, row)] = parse_line(out.getvalue())
    assert table == "conversation_metrics" and abs(row["timestamp"] - datetime.utcnow()) < timedelta(minutes=1)


BAD = {  # line number (1-based) → (what is wrong, the reason given)
    7: (lambda line: line[:-9], "not JSON"),
    23: (lambda line: line.replace('"user_id": "user1", ', ""), "missing field 'user_id'"),
    41: (lambda line: line.replace('"confidence": 0.95', '"confidence": "high"'), "field 'confidence' must be a number"),
    66: (lambda line: line.replace('"response_time_ms": 310', '"response_time_ms": -310'),
         "field 'response_time_ms' is out of range (-310 not in 0 … 86400000)"),
    88: (lambda line: line.replace('"escalated": false', '"escalated": "no"'),
         "field 'escalated' must be true, false or null"),
}


def hundred_lines_five_bad() -> list[str]:
    lines = structlog_lines([("info", "message_processed", message(i, escalated=False)) for i in range(100)])
    for number, (spoil, _) in BAD.items():
        lines[number - 1] = spoil(lines[number - 1])
    return lines


def test_five_percent_malformed_lines_are_rejected_exactly_and_the_rest_imported(engine):
    rejects = []
    summary = ingest_lines(engine, hundred_lines_five_bad(), "app.log", rejects.append)
    assert (summary.read, summary.imported, summary.rejected) == (100, 95, 5)
    assert [(r.line, r.reason) for r in rejects] == [(n, reason) for n, (_, reason) in BAD.items()]
    assert all(r.source == "app.log" and r.text for r in rejects)
    assert len(rows(engine, "conversation_metrics")) == 95


def test_reimport_adds_nothing(engine):
    lines = hundred_lines_five_bad()
    ingest_lines(engine, lines)
    again = ingest_lines(engine, lines)
    assert (again.imported, again.duplicates, again.rejected) == (0, 95, 5)
    assert len(rows(engine, "conversation_metrics")) == 95


def test_an_interrupted_import_completes_on_rerun_without_duplicates(engine, monkeypatch):
    monkeypatch.setattr(ingest, "BATCH_ROWS", 10)
    lines = structlog_lines([("info", "message_processed", message(i)) for i in range(100)])

    def crashing():
        for i, line in enumerate(lines):
            if i == 57:
                raise OSError("the disk went away")
            yield line

    with pytest.raises(OSError):
        ingest_lines(engine, crashing())
    committed = len(rows(engine, "conversation_metrics"))
    assert committed == 50  # five whole batches; the sixth was never flushed
    rerun = ingest_lines(engine, lines)
    assert (rerun.imported, rerun.duplicates) == (50, 50)
    got = rows(engine, "conversation_metrics")
    assert len(got) == 100 and len({r["id"] for r in got}) == 100


@pytest.mark.parametrize("line, reason", [
    ('[1, 2]', "not a JSON object"),
    ('{"level": "LOUD", "event": "x", "timestamp": "2026-11-02T10:00:00"}', "field 'level' must be one of"),
    ('{"level": "INFO", "timestamp": "2026-11-02T10:00:00"}', "missing field 'event'"),
    ('{"level": "INFO", "event": "x", "timestamp": "yesterday"}', "is not ISO 8601"),
    ('{"level": "INFO", "event": "x", "timestamp": "1970-01-01T00:00:00"}', "out of range"),
    ('{"level": "INFO", "event": "message_processed", "timestamp": "2026-11-02T10:00:00", "user_id": "u",'
     ' "platform": "web", "intent": "x", "confidence": 1.5, "response_time_ms": 1, "ai_tokens_used": 1,'
     ' "cost_usd": 0}', "field 'confidence' is out of range"),
    ('{"level": "INFO", "event": "message_processed", "timestamp": "2026-11-02T10:00:00", "user_id": "u",'
     ' "platform": "web", "intent": "x", "confidence": 0.5, "response_time_ms": 1.5, "ai_tokens_used": 1,'
     ' "cost_usd": 0}', "must be a whole number"),
    ('{"level": "INFO", "event": "message_processed", "timestamp": "2026-11-02T10:00:00", "user_id": "u",'
     ' "platform": "web", "intent": "x", "confidence": 0.5, "response_time_ms": 1, "ai_tokens_used": true,'
     ' "cost_usd": 0}', "field 'ai_tokens_used' must be a number"),
    ('{"level": "INFO", "event": "message_processed", "timestamp": "2026-11-02T10:00:00", "user_id": "u",'
     ' "platform": "web", "intent": "x", "confidence": 0.5, "response_time_ms": ' + "9" * 400 + ','
     ' "ai_tokens_used": 1, "cost_usd": 0}', "a number with too many digits (over 40 characters"),
    ('{"level": "INFO", "event": "x", "timestamp": "2026-11-02T10:00:00", "n": ' + "7" * 4000 + '}',
     "a number with too many digits (over 40 characters"),
    ('{"level": "INFO", "event": "message_processed", "timestamp": "2026-11-02T10:00:00", "user_id": "'
     + "u" * 12_800 + '", "platform": "web", "intent": "x", "confidence": 0.5, "response_time_ms": 1,'
     ' "ai_tokens_used": 1, "cost_usd": 0}', "field 'user_id' is longer than 200 characters (12,800)"),
])
def test_reasons(line, reason):
    with pytest.raises(Rejected, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_line(line)


def test_the_command_line_with_a_gzipped_file_and_its_rejects(tmp_path, capsys):
    log = tmp_path / "app.log.gz"
    with gzip.open(log, "wt", encoding="utf-8") as out:
        out.write("\n".join(hundred_lines_five_bad() + structlog_lines(EVENTS)) + "\n")
    url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"  # no tables yet: they are created
    rejects = tmp_path / "rejects.jsonl"
    assert ingest.main([str(log), "--url", url, "--rejects", str(rejects)]) == 0
    printed = capsys.readouterr().out
    assert "read 107 lines: imported 100 rows, 0 duplicates skipped, 5 rejected, 2 other events" in printed
    assert [json.loads(line)["line"] for line in rejects.read_text().splitlines()] == list(BAD)
    assert ingest.main([str(log), "--url", url, "--rejects", str(rejects)]) == 0
    assert "imported 0 rows, 100 duplicates skipped" in capsys.readouterr().out
    engine = make_engine(url)
    assert len(rows(engine, "conversation_metrics")) == 98 and len(rows(engine, "error_events")) == 2
    engine.dispose()


def test_the_command_line_says_what_is_wrong_in_one_line(tmp_path, capsys):
    assert ingest.main([str(tmp_path / "missing.log"), "--url", f"sqlite:///{tmp_path / 'x.sqlite'}",
                        "--rejects", str(tmp_path / "r.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read") and "Traceback" not in err
