"""What went wrong with the metrics database, as named exceptions.

``classify`` turns any error raised while using the database (SQLAlchemy's, the drivers', the
operating system's) into one ``DatabaseProblem`` subclass, so that callers choose a message by
type and never by reading driver text, which can echo hosts, ports, paths or values. The
subclasses say *what* happened; none of their messages holds a host, a port, a path or a value.
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa

try:  # psycopg2 is installed with the project, but data_access also runs on SQLite alone
    import psycopg2
    import psycopg2.errors as pg_errors
except ImportError:  # pragma: no cover - the requirements install it
    psycopg2 = None
    pg_errors = None


class DatabaseProblem(Exception):
    """Base class: a database operation failed; ``str()`` is one line for a person."""

    summary = "the metrics database failed"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.summary)
        self.detail = detail


class BadDatabaseUrl(DatabaseProblem):
    """The configured URL is not a database URL this project can open."""

    summary = "the database URL cannot be used"


class LoginRefused(DatabaseProblem):
    """The server refused the user name or password."""

    summary = "the database refused the login"


class DatabaseUnavailable(DatabaseProblem):
    """The server cannot be reached, or the connection broke."""

    summary = "the database cannot be reached"


class AccessDenied(DatabaseProblem):
    """The database refused this user the operation (no INSERT, a read-only file or standby)."""

    summary = "the database refused this operation to this user"


class QueryTooComplex(DatabaseProblem):
    """The database could not plan the statement (SQLite's parser or expression limits)."""

    summary = "the query is too complex for this database"


class BadValue(DatabaseProblem):
    """The database refused a value (out of range, not valid text, a constraint)."""

    summary = "the database refused a value"


class QueryTimeout(DatabaseProblem):
    """The statement was cancelled (a statement timeout)."""

    summary = "the query took too long and was cancelled"


class DatabaseFailed(DatabaseProblem):
    """Any other database error."""

    summary = "the database returned an error"


# SQLite reports every failure as OperationalError: its text is the only thing that tells them apart.
_SQLITE_TOO_COMPLEX = ("parser stack overflow", "expression tree is too large", "too many sql variables",
                       "too many terms")
_SQLITE_DENIED = ("readonly database", "read-only", "authorization denied")
_LOGIN_WORDS = ("password authentication failed", "authentication failed", "no password supplied",
                "role \"", "pg_hba.conf")


def driver_error(error: BaseException) -> BaseException:
    """The driver's own exception behind a SQLAlchemy wrapper (or ``error`` itself)."""
    return getattr(error, "orig", None) or error


def classify(error: BaseException) -> DatabaseProblem:
    """``error`` as the ``DatabaseProblem`` it is (already one: itself). The detail names the
    driver's exception class only."""
    if isinstance(error, DatabaseProblem):
        return error
    inner = driver_error(error)
    kind = type(inner).__name__
    text = str(inner).lower()
    if isinstance(error, (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ModuleNotFoundError)):
        return BadDatabaseUrl(kind)
    if pg_errors is not None and isinstance(inner, psycopg2.Error):
        if isinstance(inner, pg_errors.InsufficientPrivilege) or isinstance(inner, pg_errors.ReadOnlySqlTransaction):
            return AccessDenied(kind)
        if isinstance(inner, pg_errors.QueryCanceled):
            return QueryTimeout(kind)
        if isinstance(inner, (pg_errors.StatementTooComplex, pg_errors.ProgramLimitExceeded)):
            return QueryTooComplex(kind)
        if isinstance(inner, (psycopg2.DataError, psycopg2.IntegrityError)):
            return BadValue(kind)
        if isinstance(inner, pg_errors.InvalidAuthorizationSpecification) or (
                inner.pgcode is None and isinstance(inner, psycopg2.OperationalError)
                and any(word in text for word in _LOGIN_WORDS)):
            return LoginRefused(kind)
        if isinstance(inner, (psycopg2.OperationalError, psycopg2.InterfaceError)):
            return DatabaseUnavailable(kind)
        return DatabaseFailed(kind)
    if isinstance(inner, sqlite3.Error):
        if any(words in text for words in _SQLITE_TOO_COMPLEX):
            return QueryTooComplex(kind)
        if any(words in text for words in _SQLITE_DENIED):
            return AccessDenied(kind)
        if isinstance(inner, (sqlite3.DataError, sqlite3.IntegrityError)):
            return BadValue(kind)
        if isinstance(inner, sqlite3.OperationalError) and ("unable to open" in text or "disk i/o" in text
                                                             or "locked" in text):
            return DatabaseUnavailable(kind)
        return DatabaseFailed(kind)
    if isinstance(error, (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DisconnectionError,
                          sa.exc.TimeoutError, ConnectionError, TimeoutError)):
        return DatabaseUnavailable(kind)
    if isinstance(error, PermissionError):
        return AccessDenied(kind)
    if isinstance(error, OSError):
        return DatabaseUnavailable(kind)
    return DatabaseFailed(kind)


# What callers catch around a database operation: everything ``classify`` knows how to name.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (sa.exc.SQLAlchemyError, sqlite3.Error, OSError,
                                                   DatabaseProblem, ModuleNotFoundError) + (
    (psycopg2.Error,) if psycopg2 is not None else ())
