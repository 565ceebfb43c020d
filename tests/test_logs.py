"""The dashboard's own logs: JSON lines with the seed's fields, queries and page renders with
durations, slow queries at WARNING, database errors by class — never a password or a URL."""

from __future__ import annotations

import io
import json
import logging

import pytest
import sqlalchemy as sa
import streamlit as st

from data_access import logs
from tests.apptest import run_app
from tests.conftest import ADMIN_URL


@pytest.fixture
def captured(monkeypatch):
    """The log stream as a list of parsed lines (every line must be JSON)."""
    buffer = io.StringIO()

    def lines() -> list[dict]:
        return [json.loads(line) for line in buffer.getvalue().splitlines()]

    def configure(level=logging.DEBUG):
        logs.configure(stream=buffer, level=level, force=True)

    configure()
    st.cache_data.clear()  # queries cached by an earlier test would not run (nor log)
    yield lines, configure, buffer
    logs.configure(force=True, level=logging.INFO)  # the environment may still say otherwise here


def test_page_renders_and_queries_are_logged_as_json(monkeypatch, sqlite_demo_url, captured):
    lines, _, _ = captured
    run_app(monkeypatch, sqlite_demo_url)
    found = lines()
    assert found and all({"timestamp", "level", "service", "event"} <= set(line) for line in found)
    assert all(line["service"] == "easyflow-dashboard" for line in found)
    queries = [line for line in found if line["event"] in ("query", "slow_query")]
    assert queries and all(isinstance(q["duration_ms"], float) and isinstance(q["rows"], int) for q in queries)
    assert {"compute", "filter_options", "dialogs_by_platform"} <= {q["query"] for q in queries}
    [page] = [line for line in found if line["event"] == "page_rendered"]
    assert page["level"] == "DEBUG" and page["page"] == "overview" and page["duration_ms"] > 0


def test_slow_queries_are_warnings(monkeypatch, sqlite_demo_url, captured):
    lines, _, _ = captured
    monkeypatch.setenv("EASYFLOW_SLOW_QUERY_MS", "0")
    run_app(monkeypatch, sqlite_demo_url)
    slow = [line for line in lines() if line["event"] == "slow_query"]
    assert slow and all(line["level"] == "WARNING" and line["threshold_ms"] == 0 for line in slow)


def test_the_level_comes_from_the_environment(monkeypatch, sqlite_demo_url, captured):
    lines, configure, _ = captured
    monkeypatch.setenv("EASYFLOW_LOG_LEVEL", "warning")
    configure(level=None)
    run_app(monkeypatch, sqlite_demo_url)
    assert all(line["level"] in ("WARNING", "ERROR", "CRITICAL") for line in lines())


def test_a_refused_password_is_logged_by_class_without_the_secret(monkeypatch, postgres, captured):
    lines, _, buffer = captured
    url = sa.make_url(ADMIN_URL).set(username="no_such_role", password="s3cret-pa55").render_as_string(False)
    at = run_app(monkeypatch, url)
    assert at.error
    errors = [line for line in lines() if line["event"] == "database_error"]
    assert errors and errors[0]["level"] == "ERROR" and errors[0]["error_class"] == "OperationalError"
    assert errors[0]["dialect"] == "postgresql"
    text = buffer.getvalue()
    assert "s3cret-pa55" not in text and "no_such_role" not in text and "postgresql+psycopg2://" not in text
