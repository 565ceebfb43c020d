"""AppTest of the Data export page: count, preview, and download buttons that return the right bytes."""

from __future__ import annotations

import csv
import io
import json

from openpyxl import load_workbook

from tests.apptest import assert_clean, download, open_page, page_text, run_app

def clicked(at, kind: str) -> bytes:
    """The bytes the page's download button for ``kind`` hands out when clicked (made then, not
    on every rerun)."""
    content, file_name = download(at, f"export_{kind}")
    assert file_name.endswith(f".{kind}")
    return content


def test_export_page_counts_previews_and_downloads(monkeypatch, demo_url):
    at = open_page(run_app(monkeypatch, demo_url, {"platform": "web"}), "export")
    count = int(at.metric[0].value.replace(",", ""))
    assert count > 0
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == min(count, 20)
    rows = list(csv.DictReader(io.StringIO(clicked(at, "csv").decode("utf-8"))))
    assert len(rows) == count and {r["platform"] for r in rows} == {"web"}
    assert len(json.loads(clicked(at, "json"))) == count
    book = load_workbook(io.BytesIO(clicked(at, "xlsx")), read_only=True)
    assert sum(1 for _ in book["data"].iter_rows()) == count + 1
    assert "python -m data_access.export --table conversation_metrics" in " ".join(c.value for c in at.code)
    assert "--platform web" in at.code[0].value


def test_export_other_tables_and_masking(monkeypatch, sqlite_demo_url):
    at = open_page(run_app(monkeypatch, sqlite_demo_url), "export")
    at.selectbox(key="export_table").set_value("nps_responses").run()
    at.toggle(key="export_mask").set_value(True).run()
    assert_clean(at)
    rows = json.loads(clicked(at, "json"))
    assert rows and all(r["user_id"].startswith("u_") for r in rows)
    assert len(rows) == int(at.metric[0].value.replace(",", ""))


def test_export_page_on_an_empty_range(monkeypatch, sqlite_demo_url):
    at = open_page(run_app(monkeypatch, sqlite_demo_url, {"start_date": "2020-01-01", "end_date": "2020-01-02"}), "export")
    assert at.metric[0].value == "0"
    assert "header only" in page_text(at)
    assert clicked(at, "csv").decode().count("\n") == 1


def test_a_log_file_uploaded_on_the_export_page_is_imported_with_its_rejects(monkeypatch, tmp_path):
    import gzip
    import shutil

    import sqlalchemy as sa

    from data_access.engine import make_engine
    from tests.test_ingest import BAD, EVENTS, hundred_lines_five_bad, structlog_lines

    monkeypatch.setenv("EASYFLOW_IMPORT", "on")
    url = f"sqlite:///{tmp_path / 'upload.sqlite'}"
    from tests.apptest import small_demo

    small_demo(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT COUNT(*) FROM conversation_metrics")).scalar()
    content = gzip.compress(("\n".join(hundred_lines_five_bad() + structlog_lines(EVENTS)) + "\n").encode())
    at = open_page(run_app(monkeypatch, url), "export")
    at.file_uploader(key="import_file").set_value(("app.log.gz", content, "application/gzip")).run()
    at.button(key="import_run").click().run()
    assert_clean(at)
    shown = {m.label: m.value for m in at.metric}
    assert (shown["Lines read"], shown["Rows added"], shown["Rejected"], shown["Other events"]) == ("107", "100", "5", "2")
    rejects = at.dataframe[-1].value
    assert rejects["line"].tolist() == list(BAD)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM conversation_metrics")).scalar() == before + 98
    at.button(key="import_run").click().run()  # again: nothing new
    shown = {m.label: m.value for m in at.metric}
    assert (shown["Rows added"], shown["Already present"]) == ("0", "100")
    engine.dispose()
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_import_is_off_unless_the_operator_allows_it(monkeypatch, postgresql_demo_url):
    monkeypatch.delenv("EASYFLOW_IMPORT", raising=False)
    at = open_page(run_app(monkeypatch, postgresql_demo_url), "export")
    assert "EASYFLOW_IMPORT=on" in page_text(at) and not at.get("file_uploader")


def test_export_and_import_on_the_seed_only_table(monkeypatch, seed_only_url):
    monkeypatch.setenv("EASYFLOW_IMPORT", "on")
    at = open_page(run_app(monkeypatch, seed_only_url), "export")
    assert "Import logs" in page_text(at) and at.get("file_uploader")
    shown = {m.label: m.value for m in at.metric}
    assert shown["Rows to export"] == "1"


def test_the_preview_shows_empty_cells_and_the_languages_numbers(monkeypatch, sqlite_demo_url):
    at = open_page(run_app(monkeypatch, sqlite_demo_url, {"lang": "ru"}), "export")
    preview = at.dataframe[0].value
    cells = [str(v) for v in preview.to_numpy().ravel()]
    assert "None" not in cells and "nan" not in cells
    confidences = [v for v in preview["confidence"] if v]
    assert confidences and all("," in v and "." not in v for v in confidences)  # 0,9755, not 0.9755


def test_the_export_page_filters_by_user_and_dialog(monkeypatch, sqlite_demo_url):
    at = open_page(run_app(monkeypatch, sqlite_demo_url, {"range": "90d"}), "export")
    everyone = int(at.metric[0].value.replace(",", ""))
    at.text_input(key="export_user").input("u000000").run()
    rows = list(csv.DictReader(io.StringIO(clicked(at, "csv").decode("utf-8-sig"))))
    assert 0 < len(rows) < everyone and {r["user_id"] for r in rows} == {"u000000"}
    assert int(at.metric[0].value.replace(",", "")) == len(rows)
    assert "--user-id u000000" in at.code[0].value
    dialog = rows[0]["session_id"]
    at.text_input(key="export_dialog").input(dialog).run()
    one = list(csv.DictReader(io.StringIO(clicked(at, "csv").decode("utf-8-sig"))))
    assert one and {r["session_id"] for r in one} == {dialog} and len(one) <= len(rows)
    at.text_input(key="export_user").input("x' OR '1'='1").run()  # a value, bound: matches nobody
    assert_clean(at)
    assert at.metric[0].value == "0"


def test_the_dialogs_table_on_the_export_page(monkeypatch, sqlite_demo_url):
    at = open_page(run_app(monkeypatch, sqlite_demo_url), "export")
    at.selectbox(key="export_table").set_value("dialogs").run()
    assert_clean(at)
    rows = lambda: int(at.metric[0].value.replace(",", ""))  # noqa: E731
    every = rows()
    assert every > 0 and at.dataframe[0].value.columns[0] == "dialog"
    at.multiselect(key="export_outcomes").set_value(["escalated"]).run()
    escalated = rows()
    at.selectbox(key="export_rated").set_value(2).run()
    rated = rows()
    assert 0 < escalated < every and rated <= escalated
    assert any("--table dialogs" in c.value and "--outcome escalated --rated-at-most 2" in c.value for c in at.code)
