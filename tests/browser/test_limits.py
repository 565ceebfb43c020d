"""What a visitor can make the server hold: a 140 MB export goes out through ``/files/`` from a
temporary file (the server's peak memory grows by far less than the file), and with the import
off, uploads to Streamlit's upload endpoint from an anonymous session are refused before they are
read (twenty just under the import's maximum size leave the server's memory where it was; with the
import on, they grew it by 2 GB)."""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from data_access.schema import create_all
from data_access.engine import make_engine
from tests.browser.conftest import fetch_download, serving
from tests.browser.test_pages import settle

MB = 1 << 20


def peak_rss(pid: int) -> int:
    """The process's peak resident memory so far (``VmHWM``), in bytes."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1)) * 1024


def rss(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1)) * 1024


def _big_database(path: Path, rows: int) -> str:
    """An SQLite database whose conversation_metrics export as JSON is about ``rows`` KB."""
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    create_all(engine)
    engine.dispose()
    start = datetime.now().replace(microsecond=0) - timedelta(days=2)
    pad = "x" * 600  # a long (but storable) session id: a kilobyte a row
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO conversation_metrics (id, timestamp, user_id, session_id, platform, intent, confidence,"
            " response_time_ms, tokens_used, cost_usd, resolved) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((f"row-{i}", (start + timedelta(seconds=i % 86_400)).isoformat(sep=" "), f"user-{i % 5000}",
              f"s-{i // 4}-{pad}", "web", "order_status", 0.9, 800, 120, 0.002, 1) for i in range(rows)))
    return url


def test_a_140_mb_export_streams_through_the_route_in_bounded_memory(browser, tmp_path):
    url = _big_database(tmp_path / "big.sqlite", 160_000)
    with serving(url, tmp_path / "streamlit.log", EASYFLOW_ROLLUPS="off") as (base, process):
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{base}/export?range=7d")
        settle(page, timeout=180_000)
        before = peak_rss(process.pid)
        content, name = fetch_download(page, "export_json", timeout=300_000)
        grown = peak_rss(process.pid) - before
        context.close()
    assert name.endswith(".json") and len(content) > 140 * MB
    assert content.lstrip().startswith(b"[") and content.rstrip().endswith(b"]")
    assert content.count(b'"row-') == 160_000  # every row, whole
    assert grown < 64 * MB, f"the server's peak memory grew by {grown / MB:.0f} MB for a {len(content) / MB:.0f} MB file"


UPLOAD = """async ([url, size]) => {
    const xsrf = document.cookie.split('; ').find(c => c.startsWith('_streamlit_xsrf=')).split('=')[1];
    const body = new FormData();
    body.append('file', new Blob([new Uint8Array(size)]), 'big.jsonl');
    try {
        const answer = await fetch(url, {method: 'PUT', body, headers: {'X-Xsrftoken': xsrf}});
        return answer.status;
    } catch (error) {
        return 0;  // the server closed the connection before taking the body
    }
}"""


def test_anonymous_uploads_with_the_import_off_leave_memory_flat(browser, tmp_path, sqlite_demo_url):
    import shutil

    database = tmp_path / "metrics.sqlite"
    shutil.copy(sqlite_demo_url.removeprefix("sqlite:///"), database)
    log = tmp_path / "streamlit.log"
    with serving(f"sqlite:///{database}", log, args=("--logger.level", "debug"), EASYFLOW_IMPORT="",
                 EASYFLOW_AUTH="none", EASYFLOW_ANONYMOUS_ROLE="viewer") as (base, process):
        context = browser.new_context()
        page = context.new_page()
        page.goto(base)
        settle(page)
        [session] = re.findall(r"Session ID: ([0-9a-f-]{36})", log.read_text(errors="replace"))[-1:]
        before = rss(process.pid)
        statuses = [page.evaluate(UPLOAD, [f"{base}/_stcore/upload_file/{session}/file-{i}", 99 * MB])
                    for i in range(20)]
        grown = rss(process.pid) - before
        context.close()
    assert all(status in (0, 413) for status in statuses), statuses  # refused, never taken
    assert grown < 50 * MB, f"the server grew by {grown / MB:.0f} MB"
