"""The migrations remove what an older version left: applied once each, in order, by the refresh."""

from datetime import datetime

import sqlalchemy as sa

from data_access import late_rows, migrations, rollups, rule_records, service_rollups, watermarks
from data_access.schema import discover

from tests.conftest import insert

NOW = datetime(2026, 3, 3, 12, 30)


def _sample(at: datetime) -> dict:
    return {"timestamp": at, "service": "api", "requests": 10, "errors": 1, "cpu_percent": 20.0,
            "memory_percent": 30.0, "disk_percent": 40.0, "active_sessions": 3}


def _old_version(engine) -> None:
    """What the version before one log per service table left: the alert rules' own trigger set
    on system_metrics writing into their own log, and system_metrics' empty latency histograms."""
    with engine.begin() as conn:
        for table in ("rollup_service_dirty_hours", "rollup_system_latency", "rollup_system_latency_daily",
                      "rollup_repeats"):
            conn.exec_driver_sql(f"CREATE TABLE {table} (id INTEGER, hour TEXT)")
        conn.exec_driver_sql("CREATE TABLE rollup_dialog_touches (dialog TEXT, dimension TEXT, value TEXT, "
                             "dialog_started TEXT)")
        conn.exec_driver_sql("CREATE INDEX ix_rollup_dialog_touches_dialog ON rollup_dialog_touches (dialog)")
    assert late_rows.watch(engine, "system_metrics", "rollup_service_dirty_hours", False,
                           function="easyflow_note_system_metrics", trigger="easyflow_note_system_metrics_{event}")


def _tables(engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_a_refresh_removes_what_an_older_version_left(engine):
    insert(engine, "conversation_metrics", [{"timestamp": datetime(2026, 3, 2, 9), "user_id": "u", "session_id": "s"}])
    insert(engine, "system_metrics", [_sample(datetime(2026, 3, 2, 9, m)) for m in range(3)])
    _old_version(engine)

    rollups.refresh(engine, now=NOW, rules=())

    left = _tables(engine)
    assert not left & {"rollup_service_dirty_hours", "rollup_system_latency", "rollup_system_latency_daily",
                       "rollup_repeats"}
    indexes = {i["name"] for i in sa.inspect(engine).get_indexes(rollups.TOUCHES)}
    assert "ix_rollup_dialog_touches_dialog_value" in indexes and "ix_rollup_dialog_touches_dialog" not in indexes
    with engine.connect() as conn:
        assert migrations.applied(conn) == migrations.STEPS[-1].number
        assert not late_rows.has_triggers(conn, "system_metrics", trigger="easyflow_note_system_metrics_{event}")
        assert late_rows.has_triggers(conn, "system_metrics", trigger=service_rollups.SYSTEM.triggers["trigger"])
    # A late sample is noted once, in system_metrics' one log, which both its keepers read.
    insert(engine, "system_metrics", [_sample(datetime(2026, 3, 2, 10, 5))])
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT COUNT(*) FROM {service_rollups.SYSTEM.dirty}")).scalar() == 1
        assert service_rollups.noted(conn, discover(engine))["system_metrics"][0][1] == datetime(2026, 3, 2, 10)
    assert migrations.migrate(engine) == []  # each once


def test_one_log_is_forgotten_once_both_keepers_read_it(engine):
    """The rule records and the kept hours of service_health read its one log of changed hours;
    the refresh empties it after both, and the rules' records read the raw rows until then."""
    checks = [{"timestamp": datetime(2026, 3, 2, h, m), "service": "api", "status": "up", "latency_ms": 5.0}
              for h in range(8, 11) for m in (0, 30)]
    insert(engine, "conversation_metrics", [{"timestamp": datetime(2026, 3, 2, 9), "user_id": "u", "session_id": "s"}])
    insert(engine, "service_health", checks)
    from data_access.alert_rules import load_rules

    rules = [r for r in load_rules().rules if rule_records.recordable(r) and r.metric == "uptime"]
    assert rules
    rollups.refresh(engine, now=NOW, rules=rules)
    schema = discover(engine)
    assert not rollups.behind(engine, schema, rollups.read_state(engine).watermark, rules=rules)
    insert(engine, "service_health", [{**checks[0], "timestamp": datetime(2026, 3, 2, 9, 45), "status": "down"}])
    log = service_rollups.HEALTH.dirty
    until, why = rule_records.recorded_until(engine, schema, rules[0], datetime(2026, 3, 2, 8))
    assert until is None and why == "late service rows pending"
    report = rollups.refresh(engine, now=NOW, rules=rules)
    assert report.rules.late_hours == 2 and report.service_hours["service_health"] == 1  # the hour, and the next for the rules
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT COUNT(*) FROM {log}")).scalar() == 0
    assert rule_records.recorded_until(engine, schema, rules[0], datetime(2026, 3, 2, 8))[0] is not None


def test_the_watermarks_of_an_older_version_carry_over(engine):
    """Each keeper's own state table of the version before gives its row to the one table of
    watermarks: nothing is built again."""
    from data_access.alert_rules import load_rules

    rules = [r for r in load_rules().rules if rule_records.recordable(r) and r.metric == "uptime"]
    insert(engine, "conversation_metrics", [{"timestamp": datetime(2026, 3, 2, 9), "user_id": "u", "session_id": "s"}])
    insert(engine, "service_health", [{"timestamp": datetime(2026, 3, 2, 9), "service": "api", "status": "up"}])
    rollups.refresh(engine, now=NOW, rules=rules)
    ts = "TIMESTAMP" if engine.dialect.name == "postgresql" else "TEXT"
    with engine.begin() as conn:
        marks = watermarks.read_all(conn, "")
        cm = marks["conversation_metrics"]
        conn.exec_driver_sql(f"CREATE TABLE rollup_state (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, "
                             f"fingerprint TEXT NOT NULL, watermark {ts}, status TEXT NOT NULL, refreshed_at {ts})")
        conn.execute(sa.text("INSERT INTO rollup_state VALUES (1, :v, :fp, :upto, 'ready', :upto)"),
                     {"v": rollups.VERSION, "fp": cm.fingerprint.partition(";")[2], "upto": _bound(engine, cm.upto)})
        conn.exec_driver_sql(f"CREATE TABLE rollup_health_state (id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL, "
                             f"upto {ts} NOT NULL)")
        health = marks["service_health"]
        conn.execute(sa.text("INSERT INTO rollup_health_state VALUES (1, :fp, :upto)"),
                     {"fp": health.fingerprint, "upto": _bound(engine, health.upto)})
        conn.exec_driver_sql(f"CREATE TABLE rollup_rule_state (rule TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, "
                             f"upto {ts} NOT NULL)")
        for name, mark in marks.items():
            if name.startswith(rule_records.RULE):
                conn.execute(sa.text("INSERT INTO rollup_rule_state VALUES (:rule, :fp, :upto)"),
                             {"rule": name[len(rule_records.RULE):], "fp": mark.fingerprint,
                              "upto": _bound(engine, mark.upto)})
        conn.exec_driver_sql(f"DROP TABLE {watermarks.TABLE}")
        for table, column in GRAINS.items():  # the daily and monthly tables' time column as it was named
            conn.exec_driver_sql(f"DROP INDEX ix_{table}_{column}")
            conn.exec_driver_sql(f"ALTER TABLE {table} RENAME COLUMN {column} TO hour")
            conn.exec_driver_sql(f"CREATE INDEX ix_{table}_hour ON {table} (hour)")
        conn.exec_driver_sql(f"UPDATE {migrations.MIGRATIONS} SET number = 3")

    report = rollups.refresh(engine, now=NOW, rules=rules)

    assert not report.full and report.new_hours == 0 and report.rules.new_rules == 0
    assert report.service_hours["service_health"] == 0
    with engine.connect() as conn:
        after = watermarks.read_all(conn, "")
    assert {n: (m.fingerprint, m.upto) for n, m in after.items()} == {n: (m.fingerprint, m.upto) for n, m in marks.items()}
    assert not _tables(engine) & {"rollup_state", "rollup_health_state", "rollup_rule_state"}
    inspector = sa.inspect(engine)
    for table, column in GRAINS.items():
        assert column in {c["name"] for c in inspector.get_columns(table)}
        assert {i["name"] for i in inspector.get_indexes(table)} == {f"ix_{table}_{column}"}


GRAINS = {"rollup_messages_daily": "day", "rollup_latency_daily": "day", "rollup_dialog_daily": "day",
          "rollup_health_latency_daily": "day", "rollup_dimension_months": "month"}


def _bound(engine, value: datetime):
    from data_access.filters import bind_timestamp

    return bind_timestamp(value, engine.dialect.name)


def test_the_touches_get_their_ratings_without_a_first_build(engine):
    """A database whose touches were kept without their dialog's lowest rating gets it from the
    facts: no first build, and the unhappy dialogs of an intent answer as before."""
    from datetime import timedelta

    from data_access import business
    from data_access.filters import Filters

    base = datetime(2026, 3, 2, 9)
    insert(engine, "conversation_metrics", [
        {"timestamp": base + timedelta(minutes=i), "user_id": f"u{i % 3}", "session_id": f"s{i // 2}",
         "intent": ("complaint", "billing")[i % 2], "platform": "web", "satisfaction_score": (1, 4, None)[i % 3]}
        for i in range(12)])
    rollups.refresh(engine, now=NOW, rules=())
    filters = Filters(datetime(2026, 3, 1), datetime(2026, 3, 3))
    before = business.unhappy_dialogs(engine, discover(engine), filters, "complaint")
    assert len(before) > 0
    with engine.begin() as conn:  # the touches as the version before kept them
        conn.exec_driver_sql(f"DROP INDEX ix_{rollups.TOUCHES}_rated")
        conn.exec_driver_sql(f"ALTER TABLE {rollups.TOUCHES} DROP COLUMN lowest_rating")
        conn.exec_driver_sql(f"UPDATE {migrations.MIGRATIONS} SET number = 6")

    report = rollups.refresh(engine, now=NOW, rules=())

    assert not report.full and report.new_hours == 0
    with engine.connect() as conn:
        astray = conn.exec_driver_sql(
            f"SELECT COUNT(*) FROM {rollups.TOUCHES} x JOIN {rollups.FACTS} f ON f.dialog = x.dialog "
            f"WHERE x.lowest_rating <> f.lowest_rating OR (x.lowest_rating IS NULL) <> (f.lowest_rating IS NULL)").scalar()
        rated = conn.exec_driver_sql(f"SELECT COUNT(*) FROM {rollups.TOUCHES} WHERE lowest_rating = 1").scalar()
    assert astray == 0 and rated > 0
    assert f"ix_{rollups.TOUCHES}_rated" in {i["name"] for i in sa.inspect(engine).get_indexes(rollups.TOUCHES)}
    after = business.unhappy_dialogs(engine, discover(engine), filters, "complaint")
    assert after.equals(before)
