"""Database problems on a page: a message that says what went wrong and what to do, by the
problem's type (data_access.errors), never a host, port, path, password or trace; the page goes on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
import streamlit as st

from data_access import errors, logs
from data_access.engine import DatabaseConfig
from dashboard.i18n import t

# The message for each kind of database problem (data_access.errors names them by type).
_PROBLEM_MESSAGES = {errors.BadDatabaseUrl: "db.bad_url", errors.LoginRefused: "db.login_refused",
                     errors.DatabaseUnavailable: "db.unreachable", errors.AccessDenied: "db.access_denied",
                     errors.QueryTooComplex: "db.too_complex", errors.BadValue: "db.bad_value",
                     errors.QueryTimeout: "db.timeout"}


def describe_error(error: BaseException) -> str:
    """A message for the page: what went wrong and what to do; never a host, port, path,
    password or trace (the driver's exception class at most)."""
    problem = errors.classify(error)
    return t(_PROBLEM_MESSAGES.get(type(problem), "db.error"), kind=problem.detail or type(problem).__name__)


def show_database_error(error: BaseException, config: DatabaseConfig) -> None:
    # The class only: driver messages can echo connection details.
    problem = errors.classify(error)
    logs.get("easyflow.db").error("database_error", problem=type(problem).__name__,
                                  error_class=type(errors.driver_error(error)).__name__, dialect=_dialect(config.url))
    st.error(describe_error(problem), icon=":material/database:")
    st.button(t("db.retry"), key=f"retry_{id(error)}", icon=":material/refresh:")


def _dialect(url: str) -> str:
    try:
        return sa.make_url(url).get_backend_name()
    except Exception:
        return "unknown"


@contextmanager
def database_errors(config: DatabaseConfig) -> Iterator[None]:
    """Show a database failure inside a block as a message, not a trace; the page goes on."""
    try:
        yield
    except errors.DATABASE_ERRORS as error:
        show_database_error(error, config)
