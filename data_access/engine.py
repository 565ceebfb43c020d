"""Where the metrics database is, and an engine for it that speaks the same SQL on both dialects.

Resolution order (contract): ``DATABASE_URL`` → ``[connections.metrics] url`` in
``.streamlit/secrets.toml`` (another file with ``EASYFLOW_SECRETS_FILE``) → the embedded SQLite
demo file (``EASYFLOW_DEMO_DB``, default ``.easyflow/demo.sqlite`` under the project root),
built with demo data on first use (``EASYFLOW_DEMO_DAYS`` and ``EASYFLOW_DEMO_SCALE`` size it).
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEMO_PATH = PROJECT_ROOT / ".easyflow" / "demo.sqlite"


@dataclass(frozen=True)
class DatabaseConfig:
    """Where the URL came from (``env``, ``secrets`` or ``demo``) and the URL itself."""

    url: str
    source: str
    write_url: str | None = None  # where writes go when ``url`` is a read-only standby

    @property
    def is_demo(self) -> bool:
        return self.source == "demo"

    @property
    def writes_to(self) -> str:
        """The URL that rollup refreshes, imports and alert state write to: ``write_url`` (from
        ``DATABASE_WRITE_URL`` or ``[connections.metrics] write_url``) when set, else ``url``."""
        return self.write_url or self.url

    def safe_url(self) -> str:
        """The URL with any password masked, fit to show on a page or in a log."""
        try:
            return sa.make_url(self.url).render_as_string(hide_password=True)
        except Exception:  # an unparsable URL may still hold a password: show nothing of it
            return "(invalid database URL)"


def demo_path() -> Path:
    return Path(os.environ.get("EASYFLOW_DEMO_DB") or DEFAULT_DEMO_PATH)


def read_secrets(secrets_path: Path | None = None) -> dict:
    """The secrets file (``EASYFLOW_SECRETS_FILE``, default ``.streamlit/secrets.toml``) as a
    dict; empty when it is missing or unreadable."""
    secrets_path = secrets_path or Path(os.environ.get("EASYFLOW_SECRETS_FILE")
                                        or PROJECT_ROOT / ".streamlit" / "secrets.toml")
    if not secrets_path.is_file():
        return {}
    try:
        return tomllib.loads(secrets_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
        return {}


def resolve_config(secrets_path: Path | None = None) -> DatabaseConfig:
    """Return the database to use, following the contract's order of sources, and where its
    writes go (``DATABASE_WRITE_URL``: the primary, when ``DATABASE_URL`` reads a standby)."""
    metrics = read_secrets(secrets_path).get("connections", {}).get("metrics", {})
    write_url = (os.environ.get("DATABASE_WRITE_URL", "").strip()
                 or str(metrics.get("write_url", "")).strip()) or None
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        return DatabaseConfig(url, "env", write_url)
    url = str(metrics.get("url", "")).strip()
    if url:
        return DatabaseConfig(url, "secrets", write_url)
    return DatabaseConfig(f"sqlite:///{demo_path()}", "demo")


class PercentileCont:
    """SQLite aggregate ``percentile_cont(value, fraction)``: PostgreSQL's exact definition.

    Sorts the group's non-NULL values and interpolates linearly between the two nearest ranks
    at position ``fraction × (n − 1)``; NULL for an empty group.
    """

    def __init__(self) -> None:
        self.values: list[float] = []
        self.fraction: float | None = None

    def step(self, value, fraction) -> None:
        if value is not None:
            self.values.append(value)
            self.fraction = fraction

    def finalize(self):
        if not self.values or self.fraction is None:
            return None
        return percentile_cont(self.values, float(self.fraction))


def percentile_cont(values: list[float], fraction: float) -> float:
    """Linear-interpolation percentile of ``values`` (PostgreSQL ``percentile_cont``)."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (position - lower) * (ordered[upper] - ordered[lower])


def _prepare_sqlite(dbapi_connection, _record) -> None:
    dbapi_connection.create_aggregate("percentile_cont", 2, PercentileCont)
    # SQLite's lower() folds ASCII only; keyword search needs Cyrillic too.
    dbapi_connection.create_function("unicode_lower", 1, lambda s: s.lower() if isinstance(s, str) else s,
                                     deterministic=True)
    dbapi_connection.execute("PRAGMA journal_mode=WAL")


def _prepare_postgresql(dbapi_connection, _record) -> None:
    # Naive timestamps are UTC (contract); aware ones convert to UTC in this session.
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
    dbapi_connection.commit()


def make_engine(url: str, connect_timeout: int = 5) -> sa.Engine:
    """Return an engine for ``url`` with the helpers the queries rely on installed.

    SQLite gets the ``percentile_cont`` aggregate; PostgreSQL sessions run in UTC. The engine
    checks connections before use, so a database that comes back is used again.
    """
    parsed = sa.make_url(url)
    kwargs: dict = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # A writer waits up to 30 s for another's transaction (the import beside a refresh's step)
        # rather than sqlite3's 5 s; readers never wait (WAL).
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    elif parsed.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": connect_timeout}
    engine = sa.create_engine(parsed, **kwargs)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _prepare_sqlite)
    elif engine.dialect.name == "postgresql":
        sa.event.listen(engine, "connect", _prepare_postgresql)
    return engine
