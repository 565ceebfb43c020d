"""Reports by e-mail: ``python -m dashboard.reports --mail-to`` sends the weekly report to a real
local SMTP server (aiosmtpd), and the test reads it back: subject, the HTML body with the KPI
table, the HTML report attached with its charts, and the XLSX attachment that openpyxl opens."""

from __future__ import annotations

import email
from datetime import timedelta
import io
import os
import socket
import subprocess
import sys
from email import policy
from pathlib import Path

import pytest
from openpyxl import load_workbook

from data_access import reports as rp
from dashboard.report_mail import MailError, SmtpSettings, recipients
from tests.conftest import INCIDENT_DAY
from tests.services import required

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def smtp_server():
    """A local SMTP server; yields (port, the messages it received as parsed e-mails)."""
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        required("aiosmtpd is not installed (pip install -r requirements-dev.txt)")
    received = []

    class Keep:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
            received.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=policy.default)))
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, received
    controller.stop()


def _mail(url: str, port: int, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "EASYFLOW_SMTP_HOST": "127.0.0.1", "EASYFLOW_SMTP_PORT": str(port),
           "EASYFLOW_SMTP_SECURITY": "none", "EASYFLOW_SMTP_FROM": "reports@easyflow.example",
           "EASYFLOW_SECRETS_FILE": os.devnull}
    return subprocess.run([sys.executable, "-m", "dashboard.reports", "--period", "weekly", "--date",
                           str(INCIDENT_DAY), "--url", url, *extra], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def test_the_weekly_report_is_mailed_and_reads_back(sqlite_incident_url, smtp_server):
    port, received = smtp_server
    done = _mail(sqlite_incident_url, port, "--mail-to", "lead@example.com, cto@example.com")
    assert done.returncode == 0, done.stderr
    assert "mailed to lead@example.com, cto@example.com" in done.stdout
    [(to, message)] = received
    assert sorted(to) == ["cto@example.com", "lead@example.com"]
    assert message["Subject"].startswith("Weekly report") and message["From"] == "reports@easyflow.example"
    html = message.get_body(("html",)).get_content()
    assert "<table" in html and "Dialogs" in html and "CSAT" in html  # the KPI table
    assert "<script" not in html  # mail readers run no scripts: the charts travel as an attachment
    assert message.get_body(("plain",)).get_content().startswith("# Weekly report")
    attachments = {part.get_filename(): part for part in message.iter_attachments()}
    week = rp.period_containing('weekly', INCIDENT_DAY)
    stem = f"report_weekly_{week.start}_{week.end - timedelta(days=1)}"  # the period's first and last day
    assert set(attachments) == {f"{stem}.html", f"{stem}.xlsx"}
    assert "Plotly" in attachments[f"{stem}.html"].get_content()  # the charts, inline, offline
    book = load_workbook(io.BytesIO(attachments[f"{stem}.xlsx"].get_content()))
    assert "Summary" in book.sheetnames and len(book.sheetnames) > 2


def test_a_mail_failure_is_one_line_and_a_non_zero_exit(sqlite_incident_url, smtp_server):
    port, received = smtp_server
    with socket.socket() as probe:  # a port with no server behind it
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    done = _mail(sqlite_incident_url, closed, "--mail-to", "lead@example.com")
    assert done.returncode == 3 and received == []
    # The dashboard's JSON log records (a slow query, on a busy machine) share stderr: the error is the one other line.
    [line] = [text for text in done.stderr.strip().splitlines() if not text.startswith('{"')]
    assert line.startswith("error: cannot send through 127.0.0.1:") and "Traceback" not in done.stderr
    bad = _mail(sqlite_incident_url, port, "--mail-to", "lead@example.com\r\nBcc: all@example.com")
    assert bad.returncode == 2 and "not an e-mail address" in bad.stderr and received == []


def test_smtp_settings_and_recipients():
    settings = SmtpSettings.from_config({"EASYFLOW_SMTP_HOST": "smtp.example.com", "EASYFLOW_SMTP_USER": "bot"},
                                        {"smtp": {"password": "from-secrets", "security": "ssl"}})
    assert (settings.port, settings.security, settings.password, settings.sender) == (465, "ssl", "from-secrets", "bot")
    with pytest.raises(MailError, match="no SMTP server"):
        SmtpSettings.from_config({}, {})
    with pytest.raises(MailError, match="EASYFLOW_SMTP_SECURITY"):
        SmtpSettings.from_config({"EASYFLOW_SMTP_HOST": "h", "EASYFLOW_SMTP_SECURITY": "tls1.0"}, {})
    assert recipients(" a@example.com,b@example.com ,") == ["a@example.com", "b@example.com"]
    for bad in ("", "nobody", "a@example.com\nBcc: x@example.com", "<a@example.com>"):
        with pytest.raises(MailError):
            recipients(bad)
