"""Exports read back (csv module, json, openpyxl) and compared cell by cell with the database rows."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from data_access import export as ex
from data_access.filters import Filters
from data_access.schema import discover
from tests.conftest import insert

RANGE = Filters.for_dates(date(2026, 11, 1), date(2026, 11, 2))
NASTY = [
    "Привет, бот не понял меня 😡",
    'He said "refund"\nthen left, twice',
    "=HYPERLINK(\"http://evil\",\"click\")",
    "+7 999 123-45-67",
    "-2+3",
    "@SUM(A1:A2)",
    "\tstarts with a tab",
    None,
]


def rows_for(engine):
    rows = []
    for i, comment in enumerate(NASTY):
        rows.append({"id": f"00000000-0000-4000-8000-{i:012d}", "timestamp": datetime(2026, 11, 1, 10, i, 30, 250000),
                     "user_id": f"user{i % 3}", "platform": "telegram" if i % 2 else "web",
                     "score": i, "comment": comment})
    rows.append({"id": "00000000-0000-4000-8000-999999999999", "timestamp": datetime(2026, 11, 3, 0, 0),
                 "user_id": "later", "platform": "web", "score": 10, "comment": "outside the range"})
    insert(engine, "nps_responses", rows)
    return rows[:-1]


MESSAGE = {"id": "11111111-1111-4111-8111-111111111111", "timestamp": datetime(2026, 11, 1, 9, 0),
           "user_id": "u1", "session_id": None, "platform": "web", "intent": "refund", "expected_intent": None,
           "confidence": 0.875, "response_time_ms": 1200, "tokens_used": 321, "cost_usd": Decimal("0.0123"),
           "ai_model": "gpt-4o", "satisfaction_score": None, "helpful": None, "resolved": True,
           "escalated": False, "converted": None}


@pytest.fixture
def export_data(engine):
    expected = rows_for(engine)
    insert(engine, "conversation_metrics", [MESSAGE])
    return engine, discover(engine), expected


def nps_request(**kw):
    return ex.ExportRequest("nps_responses", kw.pop("filters", RANGE), **kw)


def csv_text(value):
    if value is None:
        return ""
    return "'" + value if value.startswith(("=", "+", "-", "@", "\t", "\r")) else value


def test_csv_round_trip(export_data):
    engine, schema, expected = export_data
    data = ex.export_bytes(engine, schema, nps_request(), "csv")
    read = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    assert read[0] == ["id", "timestamp", "user_id", "platform", "score", "comment"]
    assert len(read) == 1 + len(expected)
    for got, row in zip(read[1:], expected):
        assert got == [row["id"], row["timestamp"].replace(tzinfo=timezone.utc).isoformat(), row["user_id"],
                       row["platform"], str(row["score"]), csv_text(row["comment"])]


def test_json_round_trip(export_data):
    engine, schema, expected = export_data
    read = json.loads(ex.export_bytes(engine, schema, nps_request(), "json"))
    assert len(read) == len(expected)
    for got, row in zip(read, expected):
        assert got == {"id": row["id"], "timestamp": row["timestamp"].replace(tzinfo=timezone.utc).isoformat(),
                       "user_id": row["user_id"], "platform": row["platform"], "score": row["score"],
                       "comment": row["comment"]}


def test_xlsx_round_trip_with_a_sheet_split(export_data):
    engine, schema, expected = export_data
    data = ex.export_bytes(engine, schema, nps_request(), "xlsx", max_rows_per_sheet=3)
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["data", "data 2", "data 3", "About"]
    read = []
    for name in ("data", "data 2", "data 3"):
        sheet_rows = list(book[name].iter_rows(values_only=True))
        assert sheet_rows[0] == ("id", "timestamp (UTC)", "user_id", "platform", "score", "comment")
        read += sheet_rows[1:]
    assert len(read) == len(expected)
    for got, row in zip(read, expected):
        assert got == (row["id"], row["timestamp"], row["user_id"], row["platform"], row["score"], row["comment"])
    for sheet in ("data", "data 2", "data 3"):  # text that looks like a formula is stored as text
        assert all(cell.data_type != "f" for r in book[sheet].iter_rows() for cell in r)
    about_rows = list(book["About"].iter_rows(values_only=True))
    about = dict(about_rows)
    assert about["rows"] == len(expected) and about["table"] == "nps_responses" and about["sheets"] == 3
    # the "column / meaning" header heads the column list, in bold, right above it
    columns = [row[0] for row in about_rows[-6:]]
    assert columns == ["id", "timestamp", "user_id", "platform", "score", "comment"]
    header = book["About"].cell(row=len(about_rows) - 6, column=1)
    assert (header.value, header.font.b) == (ex.ABOUT_LABELS["column"], True)
    # a date-time and an id show whole: columns at least as wide as their values
    widths = {book["data"].cell(row=1, column=i + 1).value: book["data"].column_dimensions[chr(65 + i)].width
              for i in range(6)}
    assert widths["timestamp (UTC)"] >= len("2026-11-01 09:00:00") + 1 and widths["user_id"] >= 36 + 1


def test_conversation_types_in_every_format(export_data):
    engine, schema, _ = export_data
    request = ex.ExportRequest("conversation_metrics", RANGE)
    row = json.loads(ex.export_bytes(engine, schema, request, "json"))[0]
    assert row["cost_usd"] == pytest.approx(0.0123) and '"cost_usd": 0.0123' in ex.export_bytes(
        engine, schema, request, "json").decode()
    assert (row["resolved"], row["escalated"], row["converted"], row["helpful"]) == (True, False, None, None)
    assert row["confidence"] == 0.875 and row["tokens_used"] == 321 and row["id"] == MESSAGE["id"]
    read = list(csv.DictReader(io.StringIO(ex.export_bytes(engine, schema, request, "csv").decode())))
    assert (read[0]["cost_usd"], read[0]["resolved"], read[0]["converted"]) == ("0.0123", "true", "")
    book = load_workbook(io.BytesIO(ex.export_bytes(engine, schema, request, "xlsx")))
    header, values = list(book["data"].iter_rows(values_only=True))
    cells = dict(zip(header, values))
    assert Decimal(str(cells["cost_usd"])) == Decimal("0.0123") and cells["resolved"] is True
    assert cells["timestamp (UTC)"] == datetime(2026, 11, 1, 9, 0)


def test_filters_columns_timezone_and_masking(export_data):
    engine, schema, expected = export_data
    moscow = Filters.for_dates(date(2026, 11, 1), date(2026, 11, 2), tz="Europe/Moscow", platforms=("telegram",))
    request = nps_request(filters=moscow, columns=("timestamp", "user_id", "comment"), mask_user_ids=True)
    read = json.loads(ex.export_bytes(engine, schema, request, "json"))
    telegram = [r for r in expected if r["platform"] == "telegram"]
    assert len(read) == len(telegram) and list(read[0]) == ["timestamp", "user_id", "comment"]
    assert read[0]["timestamp"] == "2026-11-01T13:01:30.250000+03:00"
    salt = ex.mask_salt()
    assert [r["user_id"] for r in read] == [ex.mask(r["user_id"], salt) for r in telegram]
    assert all(r["user_id"].startswith("u_") and "user" not in r["user_id"] for r in read)
    assert ex.mask("user1", salt) == ex.mask("user1", salt) != ex.mask("user2", salt)


def test_zero_rows_in_every_format(export_data):
    engine, schema, _ = export_data
    empty = nps_request(filters=Filters.for_dates(date(2020, 1, 1), date(2020, 1, 1)))
    assert ex.count_rows(engine, schema, empty) == 0
    assert ex.export_bytes(engine, schema, empty, "csv").decode().splitlines() == [
        "id,timestamp,user_id,platform,score,comment"]
    assert json.loads(ex.export_bytes(engine, schema, empty, "json")) == []
    book = load_workbook(io.BytesIO(ex.export_bytes(engine, schema, empty, "xlsx")))
    assert list(book["data"].iter_rows(values_only=True)) == [("id", "timestamp (UTC)", "user_id", "platform",
                                                              "score", "comment")]


def test_long_text_is_cut_with_a_marker_and_counted(engine):
    insert(engine, "error_events", [{"timestamp": datetime(2026, 11, 1, 10), "service": "api", "error_type": "Big",
                                     "level": "ERROR", "message": "x" * 40_000}])
    schema = discover(engine)
    buffer = io.BytesIO()
    stats = ex.export(engine, schema, ex.ExportRequest("error_events", RANGE), "xlsx", buffer)
    assert stats.truncated_cells == 1 and stats.notes
    cell = list(load_workbook(buffer)["data"].iter_rows(values_only=True))[1][-1]
    assert len(cell) == ex.EXCEL_MAX_CELL and cell.endswith(ex.TRUNCATION_MARK)
    assert len(json.loads(ex.export_bytes(engine, schema, ex.ExportRequest("error_events", RANGE), "json"))[0]
               ["message"]) == 40_000  # CSV and JSON keep the whole text
    assert ex.count_long_cells(engine, schema, ex.ExportRequest("error_events", RANGE)) == 1  # the page says so


def test_bad_requests_say_why(export_data):
    engine, schema, _ = export_data
    with pytest.raises(ex.ExportError, match="unknown table"):
        ex.count_rows(engine, schema, ex.ExportRequest("users", RANGE))
    with pytest.raises(ex.ExportError, match="unknown column"):
        ex.count_rows(engine, schema, nps_request(columns=("score", "password")))
    with pytest.raises(ex.ExportError, match="unknown format"):
        ex.export(engine, schema, nps_request(), "pdf", io.StringIO())


def test_aware_timestamps(postgres):
    from data_access.engine import make_engine

    eng = make_engine(postgres.new_database("export_aware"))
    with eng.begin() as conn:
        conn.exec_driver_sql('CREATE TABLE nps_responses (id uuid primary key, "timestamp" timestamptz, '
                             "user_id text, platform text, score integer, comment text)")
        conn.exec_driver_sql("INSERT INTO nps_responses VALUES ('22222222-2222-4222-8222-222222222222', "
                             "'2026-11-01 12:00:00+09', 'u', 'web', 9, 'ok')")
    schema = discover(eng)
    read = json.loads(ex.export_bytes(eng, schema, nps_request(), "json"))
    assert read == [{"id": "22222222-2222-4222-8222-222222222222", "timestamp": "2026-11-01T03:00:00+00:00",
                     "user_id": "u", "platform": "web", "score": 9, "comment": "ok"}]
    eng.dispose()


def test_command_line(export_data, tmp_path, capsys):
    engine, schema, expected = export_data
    url = engine.url.render_as_string(hide_password=False)
    out = tmp_path / "nps.csv"
    assert ex.main(["--table", "nps_responses", "--start-date", "2026-11-01", "--end-date", "2026-11-02",
                    "--platform", "telegram,web", "--format", "csv", "--out", str(out), "--url", url]) == 0
    assert len(list(csv.reader(out.open(encoding="utf-8")))) == 1 + len(expected)
    assert ex.main(["--table", "nps_responses", "--start-date", "2026-11-01", "--end-date", "2026-11-02",
                    "--format", "json", "--out", "-", "--url", url]) == 0
    assert len(json.loads(capsys.readouterr().out)) == len(expected)
    for bad in (["--table", "users"], ["--start-date", "2026-13-01"], ["--end-date", "2026-10-01"],
                ["--format", "pdf"]):
        args = {"--table": "nps_responses", "--start-date": "2026-11-01", "--end-date": "2026-11-02",
                "--format": "csv", "--out": str(out), "--url": url}
        args.update(dict(zip(bad[::2], bad[1::2])))
        with pytest.raises(SystemExit) as stop:
            ex.main([x for kv in args.items() for x in kv])
        assert stop.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "\n" not in err


@pytest.fixture(params=["reference", "kept"])
def dialogs_engine(request, engine):
    """The hand-worked dialogs of tests/dialog_data.py, read as the reference or from rollups
    whose watermark leaves the last ones to the tail."""
    from data_access import rollups
    from tests import dialog_data

    insert(engine, "conversation_metrics", dialog_data.rows())
    if request.param == "kept":
        assert rollups.refresh(engine, now=datetime(2026, 2, 11, 0, 10)).status == "done"
    return engine


FEBRUARY = Filters.for_dates(date(2026, 2, 1), date(2026, 2, 28))


def _dialog_rows(engine, **options) -> list[dict]:
    request = ex.ExportRequest("dialogs", options.pop("filters", FEBRUARY), **options)
    text = ex.export_bytes(engine, discover(engine), request, "csv").decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def test_the_dialogs_table_has_a_row_per_dialog_that_starts_in_the_range(dialogs_engine):
    rows = _dialog_rows(dialogs_engine)
    # B, C, E (no session: user + date), F, D, by start; A starts on 31 January.
    assert [r["dialog"] for r in rows] == ["B", "C", "u3:2026-02-10", "F", "D"]
    b = rows[0]
    assert (b["started"], b["ended"], b["resolved_at"]) == (
        "2026-02-03T10:00:00+00:00", "2026-02-03T10:05:00+00:00", "2026-02-03T10:03:00+00:00")
    assert (b["messages"], b["escalated"], b["automated"], b["repeat_contact"], b["cost_usd"]) == (
        "3", "true", "false", "true", "0.0300")
    # The lowest rating among a dialog's messages: B's 2, C's 4; the others are not rated.
    assert [r["lowest_rating"] for r in rows] == ["2", "4", "", "", ""]
    e = rows[2]
    assert (e["intents"], e["platforms"], e["resolved_at"], e["automated"]) == (
        "billing, complaint", "web", "2026-02-10T08:30:00+00:00", "true")  # resolved on its billing message


def test_the_dialogs_table_filters_by_touch_outcome_and_rating(dialogs_engine):
    complaints = Filters.for_dates(date(2026, 2, 1), date(2026, 2, 28), intents=("complaint",))
    assert [r["dialog"] for r in _dialog_rows(dialogs_engine, filters=complaints)] == ["B", "u3:2026-02-10"]
    assert [r["dialog"] for r in _dialog_rows(dialogs_engine, outcomes=("escalated",))] == ["B"]
    assert [r["dialog"] for r in _dialog_rows(dialogs_engine, outcomes=("resolved", "automated"))] == [
        "C", "u3:2026-02-10"]
    assert [r["dialog"] for r in _dialog_rows(dialogs_engine, rated_at_most=2)] == ["B"]
    assert [r["dialog"] for r in _dialog_rows(dialogs_engine, rated_at_most=4)] == ["B", "C"]


def test_the_dialogs_table_masks_the_user_in_a_dialog_key_too(dialogs_engine, monkeypatch):
    monkeypatch.setenv("EASYFLOW_MASK_SALT", "pepper")
    rows = _dialog_rows(dialogs_engine, mask_user_ids=True)
    masked = ex.mask("u3", b"pepper")
    assert rows[2]["dialog"] == f"{masked}:2026-02-10" and rows[2]["user_id"] == masked
    assert rows[0]["dialog"] == "B" and "u1" not in {r["user_id"] for r in rows}


def test_the_dialogs_command_line(dialogs_engine, tmp_path, capsys):
    url = dialogs_engine.url.render_as_string(hide_password=False)
    out = tmp_path / "escalated.csv"
    assert ex.main(["--table", "dialogs", "--start-date", "2026-02-01", "--end-date", "2026-02-28", "--outcome",
                    "escalated", "--rated-at-most", "2", "--format", "csv", "--out", str(out), "--url", url]) == 0
    assert [r["dialog"] for r in csv.DictReader(out.open())] == ["B"]
    assert ex.main(["--table", "nps_responses", "--start-date", "2026-02-01", "--end-date", "2026-02-28",
                    "--outcome", "escalated", "--format", "csv", "--out", "-", "--url", url]) == 2
    assert "dialogs table only" in capsys.readouterr().err
    request = ex.ExportRequest("dialogs", FEBRUARY, outcomes=("escalated",), rated_at_most=2)
    assert "--outcome escalated --rated-at-most 2" in ex.command_line(request, "csv")
