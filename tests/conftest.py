"""Fixtures: one empty database per test on each dialect, and tiny datasets, one per scenario.

PostgreSQL tests use a fresh database made for this run on the server named by
``EASYFLOW_TEST_PG`` (default: the local server, trust auth). Where it cannot be reached they
are skipped, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from data_access.engine import make_engine
from data_access.schema import TABLES, create_all, metadata
from datetime import date

from data_access import rollups
from data_access.demo import DemoSpec, load
from tests.apptest import TODAY, small_demo

# The page tests run the dashboard as an operator who turned sign-in off knowingly (its banner shows)
# and gave anonymous visitors every page; tests/test_auth.py and tests/browser/test_sign_in.py set
# the sign-in modes and roles themselves.
os.environ.setdefault("EASYFLOW_AUTH", "none")
os.environ.setdefault("EASYFLOW_ANONYMOUS_ROLE", "admin")
# Sign-outs kept by the tests' dashboards go to a file of this run, not the checkout's .easyflow/.
os.environ.setdefault("EASYFLOW_SESSION_DB", os.path.join(tempfile.mkdtemp(prefix="efa-sessions-"), "sessions.sqlite"))
# A shell's own settings must not steer the tests: the tests that want these set them themselves.
for _name in ("EASYFLOW_REDIS_URL", "PROMETHEUS_URL", "DATABASE_WRITE_URL"):
    os.environ.pop(_name, None)
ADMIN_URL = os.environ.get("EASYFLOW_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _admin_engine() -> sa.Engine:
    return sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})


class PostgresServer:
    """Makes throwaway databases on the test server and drops them at the end of the run."""

    def __init__(self) -> None:
        self.admin = _admin_engine()
        self.created: list[str] = []

    def new_database(self, label: str = "t") -> str:
        name = f"efa_test_{label}_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def copy_of(self, url: str, label: str = "copy") -> str:
        """A new database made from the one at ``url`` (a file copy: no connection may be open to it)."""
        name = f"efa_test_{label}_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{sa.make_url(url).database}"')
        self.created.append(name)
        return sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in self.created:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
        with server.admin.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError as error:
        message = f"PostgreSQL not reachable at {sa.make_url(ADMIN_URL).render_as_string()}: {error.orig}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    yield server
    server.drop_all()


@pytest.fixture(scope="session")
def pg_database_url(postgres) -> str:
    """One PostgreSQL database shared by the tests that empty it before use."""
    return postgres.new_database("shared")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path) -> Iterator[sa.Engine]:
    """An engine on an empty database holding the contract's tables (no rows)."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'metrics.sqlite'}")
    else:
        eng = make_engine(request.getfixturevalue("pg_database_url"))
        rollups.drop(eng)  # a test before may have rolled this database up
        metadata.drop_all(eng)
    create_all(eng)
    yield eng
    eng.dispose()


def empty_database(request, tmp_path_factory, label: str) -> str:
    """The URL of a new database of the backend ``request.param`` names ("sqlite" or
    "postgresql") holding the contract's tables (no rows): for a module's own fixture."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp(label) / f'{label}.sqlite'}"
    else:
        url = request.getfixturevalue("postgres").new_database(label)
    engine = make_engine(url)
    create_all(engine)
    engine.dispose()
    return url


def insert(engine: sa.Engine, table: str, rows: list[dict]) -> None:
    """Insert ``rows`` (dicts of column values) into a contract table, ids made up where missing."""
    tbl = TABLES[table]
    if "id" in tbl.columns:
        rows = [{"id": str(uuid.uuid4()), **row} for row in rows]
    with engine.begin() as conn:
        conn.execute(tbl.insert(), rows)


@pytest.fixture(scope="session")
def sqlite_demo_url(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.sqlite'}"
    small_demo(url)
    return url


@pytest.fixture(scope="session")
def postgresql_demo_url(postgres) -> str:
    url = postgres.new_database("demo")
    small_demo(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def demo_url(request) -> str:
    return request.getfixturevalue(f"{request.param}_demo_url")


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_url(request, tmp_path) -> str:
    """A new database with nothing in it."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'blank.sqlite'}"
    return request.getfixturevalue("postgres").new_database("blank")


@pytest.fixture
def seed_only_url(blank_url) -> str:
    """A database with only the seed's conversation_metrics table and one message today."""
    from datetime import datetime

    from tests.test_queries import SeedBase

    engine = make_engine(blank_url)
    SeedBase.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(SeedBase.metadata.tables["conversation_metrics"].insert(), [
            {"id": uuid.uuid4(), "timestamp": datetime.combine(TODAY, datetime.min.time()),
             "user_id": "u1", "platform": "web", "intent": "refund", "confidence": 0.9, "response_time_ms": 1200,
             "tokens_used": 100, "cost_usd": 0.0125, "satisfaction_score": 5, "resolved": True}])
    engine.dispose()
    return blank_url


@pytest.fixture
def seed_only_for_queries(engine):
    """``(engine, schema)`` of a database holding only the seed's conversation_metrics table,
    filled with the test messages (tests/test_kpis.py) less the columns the seed lacks."""
    from data_access.schema import discover
    from tests.test_kpis import MESSAGES
    from tests.test_queries import SEED_COLUMNS, SeedBase

    metadata.drop_all(engine)
    SeedBase.metadata.create_all(engine)
    rows = [{k: v for k, v in m.items() if k in SEED_COLUMNS} | {"id": uuid.uuid4()} for m in MESSAGES]
    with engine.begin() as conn:
        conn.execute(SeedBase.metadata.tables["conversation_metrics"].insert(), rows)
    return engine, discover(engine)


# A 46-day demo at full scale ending on INCIDENT_DAY: every planted incident, with four weeks of
# history before the escalation surge (alert baselines and report anomalies need them).
INCIDENT_DAY = date(2026, 11, 20)


def _incident_demo(url: str) -> str:
    engine = make_engine(url)
    load(engine, DemoSpec(days=46, scale=1.0, seed=11, end=INCIDENT_DAY))
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def sqlite_incident_url(tmp_path_factory) -> str:
    return _incident_demo(f"sqlite:///{tmp_path_factory.mktemp('incidents') / 'demo.sqlite'}")


@pytest.fixture(scope="session")
def postgresql_incident_url(postgres) -> str:
    return _incident_demo(postgres.new_database("incidents"))


@pytest.fixture(scope="session")
def prometheus_metrics(tmp_path_factory):
    """(database URL, Prometheus URL): the same service metrics in SQLite tables and in a real
    Prometheus (tests/prometheus_data.py)."""
    from tests.prometheus_data import backfilled

    folder = tmp_path_factory.mktemp("prometheus")
    with backfilled(folder) as (database_url, prometheus_url, _):
        yield database_url, prometheus_url



REDIS = os.environ.get("EASYFLOW_TEST_REDIS", "redis://127.0.0.1:6379/14")


@pytest.fixture
def redis_url():
    """A Redis database of the tests' own (``EASYFLOW_TEST_REDIS``), emptied before and after."""
    import redis

    from tests.services import required

    client = redis.Redis.from_url(REDIS, socket_connect_timeout=1)
    try:
        client.flushdb()
    except redis.RedisError:
        required(f"Redis is not reachable at {REDIS} (apt-get install -y redis-server)")
    yield REDIS
    client.flushdb()
