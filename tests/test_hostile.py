"""Hostile files and hostile values: bounded imports, lines that cannot stop an import, NaN in a
table, formula-safe CSV and XLSX, quoted shell commands, text-only Markdown and chart labels,
one-line CLI errors and messages without hosts or paths (issue 17)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import shlex
import stat
import tracemalloc
from datetime import date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from data_access import errors, export as ex, ingest
from data_access.engine import make_engine
from data_access.filters import Filters
from data_access.schema import TABLES, create_all, discover
from data_access.spreadsheet import FORMULA_STARTS, frame_to_csv
from dashboard import format as fmt
from tests.conftest import insert

T0 = datetime(2026, 11, 2, 10, 0)
HOSTILE = ['=HYPERLINK("https://evil.example/?x","click")', "=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1:A9)",
           "\tleading tab", "\rleading CR", "cr\ronly", "lf\nbreak", 'a "quote" inside', "comma, inside",
           "emoji 😀 ok", "bell \x07 char", "[Re-login](https://evil.example)", "![pixel](https://evil.example/p.png)",
           "<img src=x onerror=alert(1)>", "web$(id>/tmp/efa_pwned)"]

from dashboard.auth import Principal  # noqa: E402

ADMIN = Principal("admin@example.com", "admin", "oidc")


def good(i: int, **extra) -> str:
    record = {"timestamp": (T0 + timedelta(seconds=i)).isoformat() + "Z", "level": "INFO",
              "event": "message_processed", "user_id": f"user{i % 7}", "session_id": f"s{i // 3}",
              "platform": "web", "intent": "order_status", "confidence": 0.9, "response_time_ms": 200 + i,
              "ai_tokens_used": 100, "cost_usd": 0.002, **extra}
    return json.dumps(record)


def line_with(i: int, raw_field: str) -> str:
    """A good line with one field's JSON text replaced by ``raw_field`` (``"name": value``)."""
    text = good(i)
    name = raw_field.split(":", 1)[0]
    return re.sub(f'{name}: [^,}}]+', lambda _: raw_field, text, count=1)


# --- the import's bounds ---------------------------------------------------------------------------

@pytest.fixture
def rejects() -> list:
    """Where a test's import puts its rejects."""
    return []


def peak_bytes(work) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = work()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_gzip_bomb_of_bad_lines_imports_in_flat_memory(engine):
    bad = ("x" * 900 + "\n").encode()
    lines = 150_000  # 135 MB of rejects if each were kept; a few hundred KB compressed
    bomb = io.BytesIO(gzip.compress(bad * lines, compresslevel=9))
    assert len(bomb.getvalue()) < 1_000_000
    kept = ingest.KeptRejects(100)
    summary, peak = peak_bytes(lambda: ingest.ingest_lines(engine, ingest.bounded_lines(ingest.decompressed(bomb)),
                                                           "bomb.gz", kept))
    assert summary.rejected == lines and summary.imported == 0
    assert len(kept.items) == 100 and kept.items[0].reason == "not JSON"
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_the_decompressed_size_is_bounded_and_what_came_before_stays(engine):
    content = ("\n".join(good(i) for i in range(2000)) + "\n").encode()
    stream = ingest.bounded_lines(io.BytesIO(content), max_bytes=len(content) // 2)
    with pytest.raises(ingest.FileTooLarge) as stopped:
        ingest.ingest_lines(engine, stream)
    assert 900 <= stopped.value.summary.imported <= 1010
    assert "larger than" in str(stopped.value)


def test_a_very_long_line_is_one_reject_read_in_bounded_memory(engine, rejects):
    huge = b'{"level": "INFO", "event": "' + b"A" * 40_000_000 + b'"}\n'
    content = huge + (good(1) + "\n").encode()
    summary, peak = peak_bytes(lambda: ingest.ingest_lines(engine, ingest.bounded_lines(io.BytesIO(content)),
                                                           on_reject=rejects.append))
    assert (summary.read, summary.rejected, summary.imported) == (2, 1, 1)
    assert rejects[0].line == 1 and "longer than" in rejects[0].reason and len(rejects[0].text) <= 1000
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MiB"


ODD_LINES = {
    line_with(100, '"cost_usd": NaN'): "NaN is not a number JSON allows",
    line_with(101, '"confidence": Infinity'): "Infinity is not a number JSON allows",
    line_with(102, '"response_time_ms": -Infinity'): "-Infinity is not a number JSON allows",
    line_with(103, '"ai_tokens_used": ' + "9" * 5000): "a number with too many digits (over 40 characters: 99999999999999999999…)",
    line_with(104, '"cost_usd": 1e999999999'): "field 'cost_usd' is out of range (1E+999999999 not in 0 … 999999)",
    "[" * 100_000 + "]" * 100_000: "JSON nested too deeply",
    line_with(105, '"intent": "order\\u0000status"'): "field 'intent' contains a NUL character",
    line_with(106, '"user_id": "\\ud800"'): "field 'user_id' is not valid Unicode text",
}


def test_odd_lines_are_rejects_with_their_reasons_and_the_rest_goes_in(engine, rejects):
    lines = [good(i) for i in range(40)] + list(ODD_LINES) + [good(i) for i in range(40, 80)]
    summary = ingest.ingest_lines(engine, [line.encode() for line in lines], on_reject=rejects.append)
    assert (summary.imported, summary.rejected) == (80, len(ODD_LINES))
    assert [r.reason for r in rejects] == list(ODD_LINES.values())
    assert [r.line for r in rejects] == list(range(41, 41 + len(ODD_LINES)))
    again = ingest.ingest_lines(engine, [line.encode() for line in lines])
    assert (again.imported, again.duplicates, again.rejected) == (0, 80, len(ODD_LINES))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM conversation_metrics").scalar() == 80


def test_rows_the_database_refuses_become_rejects_and_the_batch_goes_in(engine, monkeypatch, rejects):
    monkeypatch.setattr(ingest, "BATCH_ROWS", 10)
    with engine.begin() as conn:  # a rule the database enforces that the importer does not know
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE conversation_metrics ADD CONSTRAINT small CHECK (tokens_used < 1000)")
        else:
            conn.exec_driver_sql("DROP TABLE conversation_metrics")
            ddl = str(sa.schema.CreateTable(TABLES["conversation_metrics"]).compile(engine)).rstrip().rstrip(")")
            conn.exec_driver_sql(ddl + ", CHECK (tokens_used < 1000))")
    lines = [good(i, ai_tokens_used=5000 if i in (3, 14) else 100).encode() for i in range(25)]
    summary = ingest.ingest_lines(engine, lines, on_reject=rejects.append)
    assert (summary.imported, summary.rejected) == (23, 2)
    assert [r.line for r in rejects] == [4, 15]
    assert all(r.reason.startswith("the database refused a value") for r in rejects)


def test_a_role_without_insert_gets_one_clear_message(postgres, tmp_path, capsys):
    url = postgres.new_database("readonly_import")
    owner = make_engine(url)
    create_all(owner)
    role = f"efa_reader_{os.getpid()}"
    with owner.begin() as conn:
        conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    reader_url = sa.make_url(url).set(username=role).render_as_string(hide_password=False)
    log = tmp_path / "app.jsonl"
    log.write_text("\n".join(good(i) for i in range(30)) + "\n")
    try:
        code = ingest.main([str(log), "--url", reader_url, "--rejects", str(tmp_path / "r.jsonl")])
        err = capsys.readouterr().err
        assert code == 1 and len(err.strip().splitlines()) == 1
        assert "refused this operation to this user" in err and "Traceback" not in err
        assert "running the same command again" not in err
        with pytest.raises(ingest.WriteRefused) as refused:
            ingest.ingest_lines(make_engine(reader_url), [good(1).encode()])
        assert isinstance(refused.value.problem, errors.AccessDenied)
    finally:
        make_engine(reader_url).dispose()
        with owner.begin() as conn:
            conn.exec_driver_sql(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
        owner.dispose()


def test_the_cli_bounds_the_rejects_file_and_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(ingest, "KEPT_REJECTS", 5)
    log = tmp_path / "bad.jsonl"
    log.write_text("nope\n" * 12 + good(1) + "\n")
    rejects_file = tmp_path / "rejects.jsonl"
    assert ingest.main([str(log), "--url", f"sqlite:///{tmp_path / 'x.sqlite'}", "--rejects", str(rejects_file)]) == 0
    assert "the first 5 of 12 rejected lines" in capsys.readouterr().out
    assert len(rejects_file.read_text().splitlines()) == 5


def test_a_corrupt_gzip_stops_in_one_line_without_promising_a_rerun(tmp_path, capsys):
    content = gzip.compress(("\n".join(good(i) for i in range(20_000)) + "\n").encode())
    damaged = tmp_path / "damaged.jsonl.gz"
    damaged.write_bytes(content[: len(content) // 2] + b"\x00garbage" * 64)
    code = ingest.main([str(damaged), "--url", f"sqlite:///{tmp_path / 'x.sqlite'}",
                        "--rejects", str(tmp_path / "r.jsonl")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "damaged" in err
    assert "again completes" not in err and "Traceback" not in err


@pytest.mark.parametrize("argv, words", [
    (["--rejects", "/nonexistent/dir/r.jsonl"], "cannot write the rejects file"),
    (["--url", "garbage"], "cannot use the database"),
])
def test_ingest_cli_errors_are_one_line(tmp_path, capsys, argv, words):
    log = tmp_path / "a.jsonl"
    log.write_text(good(1) + "\n")
    base = ["--url", f"sqlite:///{tmp_path / 'x.sqlite'}"]
    code = ingest.main([str(log), *base, *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and words in err and "Traceback" not in err


# --- NaN already in a table (PostgreSQL's numeric holds NaN) ------------------------------------

def test_a_nan_cost_in_the_table_is_ignored_and_counted(postgres):
    from data_access import ai, business, kpis

    eng = make_engine(postgres.new_database("nan_cost"))
    create_all(eng)
    base = {"user_id": "u1", "platform": "web", "intent": "x", "confidence": 0.9, "response_time_ms": 100,
            "tokens_used": 10, "resolved": False}
    insert(eng, "conversation_metrics", [{**base, "timestamp": T0, "cost_usd": Decimal("0.0100")},
                                         {**base, "timestamp": T0 + timedelta(minutes=1), "cost_usd": Decimal("0.0250")}])
    with eng.begin() as conn:
        conn.exec_driver_sql("INSERT INTO conversation_metrics (id, timestamp, user_id, platform, intent, confidence, "
                             "response_time_ms, tokens_used, cost_usd, resolved) VALUES (gen_random_uuid(), "
                             "'2026-11-02 10:05', 'u2', 'web', 'x', 0.5, 10, 1, 'NaN', false)")
    schema = discover(eng)
    f = Filters.for_dates(T0.date(), T0.date())
    cost = kpis.compute(eng, schema, f, ("cost",))["cost"]
    assert cost.value == Decimal("0.0350") and cost.ignored == 1
    assert business.breakdown(eng, schema, f, "platform")["cost"].iloc[0] == Decimal("0.0350")
    assert ai.usage_by_model(eng, schema, f, "day")["cost"].sum() == Decimal("0.0350")
    eng.dispose()


# --- spreadsheets: one neutralising writer ----------------------------------------------------------

def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def assert_safe_cells(cells: list[str], originals: list[str]) -> None:
    assert len(cells) == len(originals)
    for cell, original in zip(cells, originals):
        assert not cell.startswith(FORMULA_STARTS), cell
        assert cell == ("'" + original if original.startswith(FORMULA_STARTS) else original)


def test_every_table_csv_keeps_hostile_cells_as_text_one_row_each():
    frame = pd.DataFrame({"intent": HOSTILE, "n": range(len(HOSTILE)), "share": [1.5] * len(HOSTILE)})
    rows = read_csv(frame_to_csv(frame))
    assert rows[0] == ["intent", "n", "share"] and len(rows) == len(HOSTILE) + 1
    assert_safe_cells([r[0] for r in rows[1:]], HOSTILE)
    assert [r[1] for r in rows[1:]] == [str(i) for i in range(len(HOSTILE))]  # numbers stay numbers
    assert pd.read_csv(io.BytesIO(frame_to_csv(frame))).shape == (len(HOSTILE), 3)


@pytest.fixture
def hostile_export(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'hostile.sqlite'}")
    create_all(eng)
    insert(eng, "conversation_metrics", [
        {"timestamp": T0 + timedelta(minutes=i), "user_id": text, "platform": "web", "intent": text,
         "confidence": 0.5, "response_time_ms": 10, "tokens_used": 1, "cost_usd": Decimal("0.0010"), "resolved": False}
        for i, text in enumerate(HOSTILE)])
    request = ex.ExportRequest("conversation_metrics", Filters.for_dates(T0.date(), T0.date()),
                               ("timestamp", "user_id", "intent", "cost_usd"))
    yield eng, request
    eng.dispose()


def test_export_csv_and_xlsx_read_back_with_hostile_cells_intact(hostile_export):
    eng, request = hostile_export
    schema = discover(eng)
    rows = read_csv(ex.export_bytes(eng, schema, request, "csv"))
    assert len(rows) == len(HOSTILE) + 1
    assert_safe_cells([r[2] for r in rows[1:]], HOSTILE)
    book = load_workbook(io.BytesIO(ex.export_bytes(eng, schema, request, "xlsx")))
    cells = [row[2] for row in book["data"].iter_rows(min_row=2)]
    assert all(c.data_type == "s" for c in cells)  # never a formula
    assert [c.value for c in cells] == [h.replace("\x07", "") for h in HOSTILE]  # XML cannot hold a bell


def test_the_export_file_is_written_once_through_a_temporary_file(hostile_export):
    eng, request = hostile_export
    schema = discover(eng)
    with ex.export_file(eng, schema, request, "json") as file:
        assert json.loads(file.read())[0]["intent"] == HOSTILE[0]


def test_the_shown_command_line_quotes_every_value():
    filters = Filters.for_dates(date(2026, 11, 1), date(2026, 11, 2), platforms=("web$(id>/tmp/efa_pwned)", "a b"),
                                intents=("it's",))
    command = ex.command_line(ex.ExportRequest("conversation_metrics", filters), "csv")
    words = shlex.split(command)
    assert words[words.index("--platform") + 1] == "web$(id>/tmp/efa_pwned)"
    assert "a b" in words and "it's" in words
    assert "$(" not in command.replace("'web$(id>/tmp/efa_pwned)'", "")


# --- text, never markup ------------------------------------------------------------------------------

LIVE = re.compile(r"(?<!\\)\]\(|(?<!\\)<[a-zA-Z/!]|(?<!\\)!\[|https?(?<!\\):(?!\\)//")


def test_markdown_text_escapes_links_images_html_and_line_breaks():
    for value in HOSTILE + ["\r\r[Re-login](https://evil.example)", "www.evil.example", ":red[alarm]",
                            "boss@evil.example"]:
        escaped = fmt.md_text(value)
        assert not LIVE.search(escaped) and "\r" not in escaped and "\n" not in escaped
        # read back: the escapes dropped, and the invisible word joiner that stops e-mail autolinks
        assert re.sub(r"\\(.)", r"\1", escaped).replace("\u2060", "") == fmt.plain_text(value)
    assert "@\u2060" in fmt.md_text("boss@evil.example")
    # GFM autolinks need "scheme:" or "www." whole: a word joiner splits both
    assert ":\u2060" in fmt.md_text("https://evil.example") and ":\u2060" in fmt.md_text("mailto:a")
    assert "www\u2060" in fmt.md_text("see WWW.evil.example").lower() and "www\\." not in fmt.md_text("www.x").lower()


def test_chart_labels_from_data_are_text():
    from dashboard import charts

    frame = pd.DataFrame({"day": pd.to_datetime(["2026-11-01", "2026-11-02"]), "dialogs": [3, 4],
                          "platform": ['<a href="https://evil.example">web</a>', "<b>bold</b>"]})
    fig = charts.stacked_bars(frame, "day", "dialogs", "platform", "x", "y", "platform")
    assert {t.name for t in fig.data} == {'&lt;a href="https://evil.example"&gt;web&lt;/a&gt;', "&lt;b&gt;bold&lt;/b&gt;"}
    bars = charts.bars(frame, "platform", "dialogs", "p", "d")
    assert all("<" not in str(x) for x in bars.data[0].x)


# --- reports: files and page carry the data as text ----------------------------------------------

@pytest.fixture(scope="module")
def hostile_report_url(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('hostile_report') / 'r.sqlite'}"
    eng = make_engine(url)
    create_all(eng)
    today = datetime.now().date()
    week_start = today - timedelta(days=today.weekday() + 7)
    rows = []
    for day in range(7):
        for i, text in enumerate(HOSTILE):
            for n in range(3):
                rows.append({"timestamp": datetime.combine(week_start + timedelta(days=day), datetime.min.time())
                             + timedelta(hours=9 + n, minutes=i), "user_id": f"u{i}-{n}", "session_id": f"{day}-{i}-{n}",
                             "platform": text, "intent": text, "ai_model": text, "confidence": 0.5,
                             "response_time_ms": 100, "tokens_used": 1, "cost_usd": Decimal("0.0010"),
                             "satisfaction_score": 1 + (i + n) % 5, "resolved": n == 2, "escalated": i % 3 == 0})
    insert(eng, "conversation_metrics", rows)
    eng.dispose()
    return url, week_start


def test_report_files_carry_hostile_names_as_text(hostile_report_url):
    from data_access import reports as rp
    from data_access.alert_rules import load_rules
    from dashboard import reports as rendering

    url, week_start = hostile_report_url
    eng = make_engine(url)
    report = rp.build(eng, discover(eng), "weekly", week_start, Filters(T0, T0), load_rules(),
                      now=datetime.combine(week_start + timedelta(days=8), datetime.min.time()))
    eng.dispose()
    markdown = rendering.to_markdown(report)
    assert not LIVE.search(markdown), LIVE.search(markdown)
    assert "\\[Re\\-login\\]" in markdown
    html = rendering.to_html(report)
    assert "<img src=x" not in html and "&lt;img src=x" in html
    book = load_workbook(io.BytesIO(rendering.to_xlsx(report)))
    texts = [c for sheet in book for row in sheet.iter_rows() for c in row if c.value is not None]
    assert texts and all(c.data_type != "f" for c in texts)
    assert any(c.value == HOSTILE[0] for c in texts)


def test_the_reports_page_shows_hostile_names_as_text(hostile_report_url, monkeypatch):
    from tests.apptest import open_page, run_app

    url, _ = hostile_report_url
    at = open_page(run_app(monkeypatch, url, {"intent": "[Re-login](https://evil.example)"}), "reports")
    shown = [e.value for kind in ("markdown", "caption", "warning", "info", "error") for e in getattr(at, kind)]
    assert any("\\[Re\\-login\\]\\(https\\:" in str(text) for text in shown)  # the filter's value, escaped
    for text in shown:
        assert not LIVE.search(str(text)), text


def test_a_timezone_in_the_url_cannot_put_a_link_on_the_page(sqlite_demo_url, monkeypatch):
    from tests.apptest import run_app

    at = run_app(monkeypatch, sqlite_demo_url, {"tz": "\r\r[Re-login](https://evil.example)"})
    warnings = [w.value for w in at.warning]
    assert any("not a known timezone" in w for w in warnings)
    for text in warnings:
        for span in re.split(r"`[^`\r\n]*`", text):  # outside code spans
            assert not LIVE.search(span), text
        assert "\r" not in text


# --- errors that say what happened, and nothing of where --------------------------------------------

def test_a_decade_in_a_daylight_saving_timezone_runs_on_sqlite(sqlite_demo_url):
    from data_access import kpis, series

    eng = make_engine(sqlite_demo_url)
    f = Filters.for_dates(date(2016, 1, 1), date.today(), tz="Europe/Berlin")
    assert kpis.compute(eng, discover(eng), f, ("messages",))["messages"].value > 0
    assert not series.dialogs_by_platform(eng, discover(eng), f).empty
    eng.dispose()


@pytest.mark.parametrize("url, kind, key", [
    ("postgresql+psycopg2://nobody_here@127.0.0.1:5432/postgres", errors.LoginRefused, "db.login_refused"),
    ("postgresql+psycopg2://postgres@127.0.0.1:1/efa_secret_db", errors.DatabaseUnavailable, "db.unreachable"),
    ("notadb://x", errors.BadDatabaseUrl, "db.bad_url"),
])
def test_database_problems_are_named_by_type_and_shown_without_where(postgres, url, kind, key):
    from dashboard.data import describe_error
    from dashboard.i18n import t

    with pytest.raises(errors.DATABASE_ERRORS) as raised:
        with make_engine(url).connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    assert isinstance(errors.classify(raised.value), kind)
    message = describe_error(raised.value)
    assert message.split(" (")[0] == t(key, kind="").split(" (")[0]
    for secret in ("127.0.0.1", "5432", ":1", "nobody_here", "efa_secret_db", "notadb"):
        assert secret not in message


def test_the_salt_file_is_private_and_an_unwritable_folder_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("EASYFLOW_MASK_SALT", raising=False)
    monkeypatch.setenv("EASYFLOW_MASK_SALT_FILE", str(tmp_path / "salt" / "mask_salt"))
    salt = ex.mask_salt()
    assert len(salt) == 64 and stat.S_IMODE((tmp_path / "salt" / "mask_salt").stat().st_mode) == 0o600
    assert ex.mask_salt() == salt
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    monkeypatch.setenv("EASYFLOW_MASK_SALT_FILE", str(locked / "sub" / "mask_salt"))
    try:
        if os.geteuid() == 0:  # root writes anywhere: make the folder a file instead
            monkeypatch.setenv("EASYFLOW_MASK_SALT_FILE", str(tmp_path / "salt" / "mask_salt" / "inside"))
        with pytest.raises(ex.ExportError, match="set EASYFLOW_MASK_SALT") as refused:
            ex.mask_salt()
        assert str(tmp_path) not in str(refused.value)
    finally:
        locked.chmod(0o700)


# --- the command lines ---------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["--url", "garbage"],
    ["--end-date", "9999-12-31"],
    ["--start-date", "0001-01-01", "--tz", "Asia/Tokyo"],
])
def test_export_cli_errors_are_one_line(tmp_path, capsys, argv):
    base = {"--table": "conversation_metrics", "--start-date": "2026-11-01", "--end-date": "2026-11-02",
            "--format": "csv", "--out": str(tmp_path / "o.csv"), "--url": f"sqlite:///{tmp_path / 'x.sqlite'}"}
    for name, value in zip(argv[::2], argv[1::2]):
        base[name] = value
    try:
        code = ex.main([word for pair in base.items() for word in pair])
    except SystemExit as exit_:  # argparse's own refusal
        code = exit_.code
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and err.startswith("error:") and "Traceback" not in err


@pytest.mark.parametrize("argv, words", [
    (["--out", "/nonexistent/dir/r.html"], "does not exist"),
    (["--date", "9999-12-15"], "outside"),
])
def test_report_cli_errors_are_one_line(tmp_path, capsys, argv, words):
    from dashboard import reports as rendering

    base = {"--out": str(tmp_path / "r.html"), "--url": f"sqlite:///{tmp_path / 'x.sqlite'}"}
    base.update(dict(zip(argv[::2], argv[1::2])))
    try:
        code = rendering.main([word for pair in base.items() for word in pair])
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and words in err and "Traceback" not in err


def test_the_demo_needs_a_target_and_an_empty_database(tmp_path, capsys, monkeypatch):
    from data_access import demo

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'production.sqlite'}")
    with pytest.raises(SystemExit):
        demo.main(["--days", "2"])  # DATABASE_URL alone is never the target
    assert not (tmp_path / "production.sqlite").exists()
    url = f"sqlite:///{tmp_path / 'held.sqlite'}"
    eng = make_engine(url)
    create_all(eng)
    insert(eng, "nps_responses", [{"timestamp": T0, "user_id": "real", "platform": "web", "score": 9}])
    eng.dispose()
    assert demo.main(["--days", "2", "--scale", "0.01", "--url", url]) == 2
    assert "refusing" in capsys.readouterr().err
    assert demo.main(["--days", "2", "--scale", "0.01", "--url", url, "--append"]) == 0


# --- the upload --------------------------------------------------------------------------------------

def test_the_server_refuses_uploads_over_the_configured_size(monkeypatch):
    from streamlit import config

    from dashboard import upload

    monkeypatch.setenv("EASYFLOW_IMPORT_MAX_MB", "1")
    monkeypatch.delenv("EASYFLOW_IMPORT", raising=False)
    before = config.get_option("server.maxUploadSize")
    try:
        upload.apply_server_limit()  # the import off: the server takes no upload from anyone
        assert config.get_option("server.maxUploadSize") == 0
        monkeypatch.setenv("EASYFLOW_IMPORT", "on")
        upload.apply_server_limit()
        assert config.get_option("server.maxUploadSize") == 1
    finally:
        config.set_option("server.maxUploadSize", before)


def test_the_upload_is_off_unless_the_operator_turns_it_on(sqlite_demo_url, monkeypatch):
    from dashboard import upload
    from tests.apptest import open_page, run_app

    monkeypatch.delenv("EASYFLOW_IMPORT", raising=False)
    assert not upload.import_allowed()
    at = open_page(run_app(monkeypatch, sqlite_demo_url), "export")
    assert any("EASYFLOW_IMPORT=on" in i.value for i in at.info) and not at.get("file_uploader")
    monkeypatch.setenv("EASYFLOW_IMPORT", "on")
    assert upload.import_allowed()


class Upload(io.BytesIO):
    def __init__(self, content: bytes, name: str = "app.jsonl") -> None:
        super().__init__(content)
        self.name, self.size = name, len(content)


def test_an_upload_changes_only_the_cached_ranges_it_wrote_into(tmp_path, monkeypatch):
    from dashboard import data, upload

    url = f"sqlite:///{tmp_path / 'up.sqlite'}"
    week = Filters.for_dates(T0.date(), T0.date())
    other = Filters.for_dates(date(2026, 10, 1), date(2026, 10, 2))
    versions = (data.data_version(url, week), data.data_version(url, other), data.data_version(url))
    nothing = upload.import_log(url, Upload(b"not json\n" * 3), lambda f: None, principal=ADMIN)
    assert nothing.summary.rejected == 3 and nothing.stopped is None
    assert (data.data_version(url, week), data.data_version(url, other), data.data_version(url)) == versions
    some = upload.import_log(url, Upload(("\n".join(good(i) for i in range(5)) + "\n").encode()), lambda f: None,
                             principal=ADMIN)
    assert some.summary.imported == 5
    assert data.data_version(url, week) == versions[0] + 1
    assert data.data_version(url, other) == versions[1] and data.data_version(url) == versions[2] + 1


def test_an_upload_over_the_limit_is_refused_on_the_server(tmp_path, monkeypatch):
    from dashboard import upload

    monkeypatch.setenv("EASYFLOW_IMPORT_MAX_MB", "1")
    big = Upload(b"x" * (2 * 1024 * 1024))
    result = upload.import_log(f"sqlite:///{tmp_path / 'big.sqlite'}", big, lambda f: None, principal=ADMIN)
    assert result.stopped and "larger than 1 MB" in result.stopped and result.summary.read == 0


def test_a_small_gzip_of_many_lines_stops_after_one_line_per_four_of_its_bytes(tmp_path, monkeypatch):
    """A 19 KB gzip of ten million bad (or blank) lines was minutes of CPU: its lines are bounded
    by its own size now, and the lines before the stop count."""
    from dashboard import upload

    monkeypatch.setenv("EASYFLOW_IMPORT", "on")
    url = f"sqlite:///{tmp_path / 'bomb.sqlite'}"
    for content in (b"x\n" * 10_000_000, b"\n" * 20_000_000, (good(1) + "\n").encode() + b"\n" * 20_000_000):
        bomb = Upload(gzip.compress(content, compresslevel=9), "bomb.log.gz")
        assert bomb.size < 20_000
        result = upload.import_log(url, bomb, lambda f: None, principal=ADMIN)
        assert result.stopped and "lines for its size" in result.stopped
        assert result.summary.read <= bomb.size // upload.COMPRESSED_BYTES_PER_LINE + 1
    assert result.summary.imported == 1  # the good line before the stop stays
    plain = Upload(("\n".join(good(i) for i in range(1000)) + "\n").encode())  # a plain file: its size bounds it
    assert upload.import_log(url, plain, lambda f: None, principal=ADMIN).stopped is None
    logs = Upload(gzip.compress(("\n".join(good(i) for i in range(2000, 12_000)) + "\n").encode()), "day.log.gz")
    real = upload.import_log(url, logs, lambda f: None, principal=ADMIN)  # a real log's lines pass whole
    assert real.stopped is None and real.summary.imported == 10_000


def test_hostile_numbers_and_identifiers_are_rejects_with_their_reasons(postgres, monkeypatch):
    """A 400-digit integer aborted the import with a traceback (and a rerun stopped at the same
    line); a 12,800-character user id is refused at import with its reason."""
    from dashboard import upload

    monkeypatch.setenv("EASYFLOW_IMPORT", "on")
    digits = good(1).replace('"response_time_ms": 201', '"response_time_ms": ' + "9" * 400)
    assert digits != good(1)
    long_id = json.dumps({**json.loads(good(2)), "user_id": "u" * 12_800})
    content = "\n".join([digits, long_id, good(3)]) + "\n"
    url = postgres.new_database("hostile_import")
    for attempt in (1, 2):
        result = upload.import_log(url, Upload(content.encode()), lambda f: None, principal=ADMIN)
        assert result.stopped is None and result.summary.rejected == 2
        assert result.summary.imported == (1 if attempt == 1 else 0)
        assert list(result.rejects["reason"]) == ["a number with too many digits (over 40 characters: 99999999999999999999…)",
                                                  "field 'user_id' is longer than 200 characters (12,800)"]


def test_over_long_keys_written_by_sql_never_stop_the_refresh(postgres):
    """A 12,800-character user id (and session id) written by plain SQL stopped every rollup
    refresh (an index entry too large), and the pages read the raw rows for good. Kept tables hold
    such keys by their start and a hash: the refresh goes on and the numbers stay the raw rows'."""
    import secrets

    from data_access import kpis, plans, rollups

    engine = make_engine(postgres.new_database("long_keys"))
    create_all(engine)
    day = datetime.now().replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=3)
    long_user, long_sessions = secrets.token_hex(6400), [secrets.token_hex(6400) for _ in range(2)]
    message = {"platform": "web", "intent": "order_status", "confidence": 0.9, "response_time_ms": 500,
               "tokens_used": 10, "cost_usd": Decimal("0.0010"), "resolved": None}
    insert(engine, "conversation_metrics", [
        {**message, "timestamp": day, "user_id": "u-short", "session_id": "s-1", "resolved": True},
        {**message, "timestamp": day + timedelta(days=1), "user_id": "u-short", "session_id": "s-2"},
        {**message, "timestamp": day, "user_id": long_user, "session_id": long_sessions[0], "resolved": True},
        {**message, "timestamp": day + timedelta(minutes=5), "user_id": long_user, "session_id": long_sessions[0]},
        {**message, "timestamp": day + timedelta(days=1), "user_id": long_user, "session_id": long_sessions[1],
         "intent": secrets.token_hex(6400)},  # a platform's value too: the touches index holds it
    ])
    assert rollups.refresh(engine).status == "done"
    with engine.begin() as conn:  # a later row of the same kind: the incremental refresh takes it too
        conn.execute(sa.text("INSERT INTO conversation_metrics (id, timestamp, user_id, session_id, platform, intent,"
                             " confidence, response_time_ms, tokens_used, cost_usd) VALUES (gen_random_uuid(), :t, :u,"
                             " :s, 'web', 'order_status', 0.9, 500, 10, 0.001)"),
                     {"t": day + timedelta(days=1, hours=1), "u": long_user, "s": secrets.token_hex(6400)})
    refreshed = rollups.refresh(engine)
    assert refreshed.status == "done" and refreshed.late_hours == 1
    schema = discover(engine)
    filters = Filters.for_dates(day.date(), (day + timedelta(days=2)).date())
    keys = ["dialogs", "repeat_contact_rate", "messages"]
    kept = kpis.compute(engine, schema, filters, keys)
    with plans.raw_reference():
        raw = kpis.compute(engine, schema, filters, keys)
    assert {k: kept[k].value for k in keys} == {k: raw[k].value for k in keys}
    from data_access import business

    by_intent = business.breakdown(engine, schema, filters, "intent")
    with plans.raw_reference():
        reference = business.breakdown(engine, schema, filters, "intent")
    pd.testing.assert_frame_equal(by_intent, reference, check_exact=False, rtol=0.01)  # percentiles within 1 %
    assert sorted(by_intent["dialogs"]) == [1, 4]  # the long intent's dialog joins its messages
    assert kept["dialogs"].value == 5 and kept["messages"].value == 6
    assert kept["repeat_contact_rate"].value == pytest.approx(3 / 5 * 100)  # s-2, the long user's 2nd and 3rd
    with engine.connect() as conn:
        longest = conn.execute(sa.text("SELECT MAX(length(dialog)), MAX(length(user_id)) FROM rollup_dialog_facts")).one()
    assert longest == (257, 257)
    engine.dispose()
