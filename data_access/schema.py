"""The contract's six tables as SQLAlchemy Core objects, and discovery of what a database has.

The platform writes these tables; the dashboard reads them (the demo generator and the tests
create them) and keeps its hourly rollups beside them (data_access.rollups). ``discover`` tells which optional tables and columns a live database has,
so that queries can adapt and panels can say "not tracked in this database".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()

# UUID on PostgreSQL (as the seed's ConversationMetrics model declares it), text elsewhere.
UuidText = sa.String(36).with_variant(postgresql.UUID(as_uuid=False), "postgresql")

conversation_metrics = sa.Table(
    "conversation_metrics",
    metadata,
    sa.Column("id", UuidText, primary_key=True),
    sa.Column("timestamp", sa.DateTime, nullable=False),
    sa.Column("user_id", sa.String),
    sa.Column("session_id", sa.String),
    sa.Column("platform", sa.String),
    sa.Column("intent", sa.String),
    sa.Column("expected_intent", sa.String),
    sa.Column("confidence", sa.Float),
    sa.Column("response_time_ms", sa.Integer),
    sa.Column("tokens_used", sa.Integer),
    sa.Column("cost_usd", sa.Numeric(10, 4)),
    sa.Column("ai_model", sa.String),
    sa.Column("satisfaction_score", sa.Integer),
    sa.Column("helpful", sa.Boolean),
    sa.Column("resolved", sa.Boolean),
    sa.Column("escalated", sa.Boolean),
    sa.Column("converted", sa.Boolean),
    sa.Index("ix_conversation_metrics_timestamp", "timestamp"),
)

nps_responses = sa.Table(
    "nps_responses",
    metadata,
    sa.Column("id", UuidText, primary_key=True),
    sa.Column("timestamp", sa.DateTime, nullable=False),
    sa.Column("user_id", sa.String),
    sa.Column("platform", sa.String),
    sa.Column("score", sa.Integer),
    sa.Column("comment", sa.Text),
    sa.Index("ix_nps_responses_timestamp", "timestamp"),
)

system_metrics = sa.Table(
    "system_metrics",
    metadata,
    sa.Column("timestamp", sa.DateTime, nullable=False),
    sa.Column("service", sa.String, nullable=False),
    sa.Column("requests", sa.Integer),
    sa.Column("errors", sa.Integer),
    sa.Column("cpu_percent", sa.Float),
    sa.Column("memory_percent", sa.Float),
    sa.Column("disk_percent", sa.Float),
    sa.Column("active_sessions", sa.Integer),
    sa.Index("ix_system_metrics_timestamp", "timestamp"),
)

error_events = sa.Table(
    "error_events",
    metadata,
    sa.Column("id", UuidText, primary_key=True),
    sa.Column("timestamp", sa.DateTime, nullable=False),
    sa.Column("service", sa.String),
    sa.Column("error_type", sa.String),
    sa.Column("level", sa.String),
    sa.Column("message", sa.Text),
    sa.Index("ix_error_events_timestamp", "timestamp"),
)

service_health = sa.Table(
    "service_health",
    metadata,
    sa.Column("timestamp", sa.DateTime, nullable=False),
    sa.Column("service", sa.String, nullable=False),
    sa.Column("status", sa.String),
    sa.Column("latency_ms", sa.Float),
    sa.Index("ix_service_health_timestamp", "timestamp"),
)

integration_calls = sa.Table(
    "integration_calls",
    metadata,
    sa.Column("id", UuidText, primary_key=True),
    sa.Column("timestamp", sa.DateTime, nullable=False),
    sa.Column("integration", sa.String),
    sa.Column("kind", sa.String),
    sa.Column("status_code", sa.Integer),
    sa.Column("latency_ms", sa.Float),
    sa.Column("auth_failed", sa.Boolean),
    sa.Column("quota_used", sa.Integer),
    sa.Column("quota_limit", sa.Integer),
    sa.Index("ix_integration_calls_timestamp", "timestamp"),
)

TABLES: dict[str, sa.Table] = {t.name: t for t in metadata.sorted_tables}

REQUIRED_TABLE = "conversation_metrics"

# What data_access.rollups, rule_records, service_rollups and migrations keep in the same database (known here
# so that discover reports it; a test holds the list to their TABLES).
DERIVED_TABLES = ("rollup_messages", "rollup_latency", "rollup_dialogs", "rollup_watermarks", "rollup_dirty_hours",
                  "rollup_dialog_facts", "rollup_dialog_touches", "rollup_dialog_hours", "rollup_dialog_values",
                  "rollup_dialog_segments", "rollup_resolution_segments",
                  "rollup_resolution", "rollup_latency_p95", "rollup_messages_daily",
                  "rollup_latency_daily", "rollup_dialog_daily",
                  "rollup_message_hour_totals", "rollup_dimension_months",
                  "rollup_rule_records", "rollup_migrations",
                  "rollup_integration_hours", "rollup_integration_latency", "rollup_integration_latency_daily",
                  "rollup_integration_dirty_hours", "rollup_health_hours", "rollup_health_latency",
                  "rollup_health_latency_daily", "rollup_health_dirty_hours", "rollup_system_hours",
                  "rollup_system_samples", "rollup_system_dirty_hours",
                  "rollup_nps_hours", "rollup_nps_rows", "rollup_nps_dirty_hours")

# Columns of conversation_metrics that the seed's ConversationMetrics model lacks.
OPTIONAL_CONVERSATION_COLUMNS = (
    "session_id",
    "expected_intent",
    "ai_model",
    "helpful",
    "escalated",
    "converted",
)


@dataclass(frozen=True)
class Schema:
    """What one database holds: table name -> its column names, and which timestamps are aware."""

    columns: dict[str, frozenset[str]] = field(default_factory=dict)
    aware_timestamps: frozenset[str] = frozenset()
    # Tables the dashboard itself keeps (data_access.rollups), by name.
    derived_tables: frozenset[str] = frozenset()

    def has_table(self, table: str) -> bool:
        return table in self.columns or table in self.derived_tables

    def has(self, table: str, column: str) -> bool:
        return column in self.columns.get(table, frozenset())

    def missing_required(self) -> list[str]:
        """Required columns of the contract that the database lacks (the whole table if absent)."""
        if not self.has_table(REQUIRED_TABLE):
            return [REQUIRED_TABLE]
        required = [c.name for c in conversation_metrics.columns
                    if c.name not in OPTIONAL_CONVERSATION_COLUMNS]
        return [f"{REQUIRED_TABLE}.{c}" for c in required if not self.has(REQUIRED_TABLE, c)]

    def __hash__(self) -> int:  # frozen dataclass with dict field: hash by content
        return hash((tuple(sorted((k, tuple(sorted(v))) for k, v in self.columns.items())),
                     self.aware_timestamps, self.derived_tables))


def discover(engine: sa.Engine) -> Schema:
    """Return the contract tables and columns that ``engine``'s database has.

    Only names the contract knows are kept, so every identifier a query uses comes from this
    allow-list. Raises ``sqlalchemy.exc.OperationalError`` when the database is unreachable.
    """
    inspector = sa.inspect(engine)
    present = set(inspector.get_table_names())
    columns: dict[str, frozenset[str]] = {}
    aware: set[str] = set()
    for name, table in TABLES.items():
        if name not in present:
            continue
        found = {c["name"]: c for c in inspector.get_columns(name)}
        columns[name] = frozenset(c for c in table.columns.keys() if c in found)
        ts_type = found.get("timestamp", {}).get("type")
        if getattr(ts_type, "timezone", False):
            aware.add(name)
    return Schema(columns=columns, aware_timestamps=frozenset(aware),
                  derived_tables=frozenset(t for t in DERIVED_TABLES if t in present))


def create_all(engine: sa.Engine) -> None:
    """Create every contract table that does not exist yet (demo data and tests)."""
    metadata.create_all(engine)
