"""Reads from a standby, writes to the primary: ``DATABASE_URL`` may name a read-only connection
(a PostgreSQL hot standby, or a role that cannot write) and ``DATABASE_WRITE_URL`` the primary;
the pages read the first, the rollup refresh and the log import write the second."""

from __future__ import annotations

import io
import time
import uuid

import sqlalchemy as sa

from data_access import rollups
from data_access.engine import make_engine, resolve_config
from tests.apptest import assert_clean, run_app, small_demo, tiles


def read_only_url(primary: str, request) -> str:
    """A role on ``primary``'s database that may read and never write (as on a hot standby),
    dropped after the test."""
    role = f"efa_reader_{uuid.uuid4().hex[:8]}"

    def drop() -> None:
        engine = sa.create_engine(sa.make_url(primary), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
        engine.dispose()

    request.addfinalizer(drop)
    target = sa.make_url(primary)
    admin = sa.create_engine(target, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f"ALTER ROLE {role} SET default_transaction_read_only = on")
        conn.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        conn.exec_driver_sql(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {role}")
    admin.dispose()
    return target.set(username=role, password=None).render_as_string(hide_password=False)


def test_the_write_url_comes_from_the_environment_or_the_secrets(monkeypatch, tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[connections.metrics]\nurl = "postgresql://r@standby/m"\nwrite_url = "postgresql://w@primary/m"\n')
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_WRITE_URL", raising=False)
    config = resolve_config(secrets)
    assert (config.url, config.writes_to) == ("postgresql://r@standby/m", "postgresql://w@primary/m")
    monkeypatch.setenv("DATABASE_WRITE_URL", "postgresql://w@elsewhere/m")
    assert resolve_config(secrets).writes_to == "postgresql://w@elsewhere/m"
    monkeypatch.delenv("DATABASE_WRITE_URL")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///x.sqlite")
    assert resolve_config(tmp_path / "none.toml").writes_to == "sqlite:///x.sqlite"  # no standby: one URL


def test_pages_read_the_standby_and_refresh_and_import_write_the_primary(monkeypatch, postgres, request):
    from dashboard import auth, upload

    primary = postgres.new_database("primary")
    small_demo(primary)
    standby = read_only_url(primary, request)
    with make_engine(standby).connect() as conn:  # the reader really cannot write
        try:
            conn.exec_driver_sql("CREATE TABLE nope (a int)")
            raise AssertionError("the read-only role could write")
        except sa.exc.DBAPIError:
            pass
    monkeypatch.setenv("DATABASE_WRITE_URL", primary)
    at = run_app(monkeypatch, standby, {"range": "7d"})
    assert_clean(at)
    assert tiles(at)["Dialogs"] != "—"
    engine = make_engine(primary)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the background refresh built the rollups on the primary
        state = rollups.read_state(engine) if sa.inspect(engine).has_table(rollups.STATE) else None
        if state is not None and state.status == "ready":
            break
        time.sleep(0.5)
    assert state is not None and state.status == "ready"

    from tests.test_ingest import message, structlog_lines

    [line] = structlog_lines([("info", "message_processed", message(0, user_id="standby-test"))])
    file = io.BytesIO((line + "\n").encode())
    file.name, file.size = "one.jsonl", len(file.getvalue())
    monkeypatch.setenv("EASYFLOW_IMPORT", "on")
    principal = auth.Principal(email="admin@example.com", role="admin", via="anonymous")
    result = upload.import_log(standby, file, lambda _: None, principal=principal, write_url=primary)
    assert result.summary.imported == 1 and result.stopped is None
    with engine.connect() as conn:
        assert conn.exec_driver_sql(
            "SELECT COUNT(*) FROM conversation_metrics WHERE user_id = 'standby-test'").scalar() == 1
    engine.dispose()
