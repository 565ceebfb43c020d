"""What a Russian page may show in Latin script, and the Latin words of a page's text: shared by
the AppTest and the browser checks of the Russian pages."""

from __future__ import annotations

import re

# Latin words a Russian page may show: names of products, formats and standards, units and
# statistics' notation, and the names a user types or reads elsewhere (SQL, YAML keys, log levels).
LATIN_ALLOWED = {
    "Easy", "Flow", "Analytics", "PostgreSQL", "SQLite", "Prometheus", "Alertmanager", "Excel", "BI",
    "CSV", "XLSX", "JSON", "HTML", "Markdown", "gzip", "API", "URL", "UTC", "USD", "NaN", "Jupyter",
    "CSAT", "NPS", "SLA", "RPS", "CPU", "top-2", "box", "n", "p50", "p90", "p95", "p99",
    "SELECT", "sum", "percentile_cont", "for", "alerts.yml", "health", "ERROR", "CRITICAL", "WARNING", "true",
    "false",
}
# Streamlit's markdown directives and icon names (":material/verified:", ":small[…]", ":red-badge[…]").
DIRECTIVES = re.compile(r":material/[a-z_]+:|:[a-z-]+\[")
# Plotly's hover syntax, and code spans (commands and settings a user types, as they are typed).
NOT_PROSE = re.compile(r"%\{[^}]*\}|<[^>]*>|`[^`]*`")
LATIN_WORD = re.compile(r"(?<![A-Za-z0-9_/])[A-Za-z][A-Za-z0-9_./-]*")


def database_words(url: str) -> set[str]:
    """Every Latin word in the database's text values and names: data, shown as it is."""
    import sqlalchemy as sa

    from data_access.engine import make_engine
    from data_access.schema import TABLES

    words = {c for table in TABLES.values() for c in table.columns.keys()} | set(TABLES)
    engine = make_engine(url)
    with engine.connect() as conn:
        for name, table in TABLES.items():
            for column in table.columns:
                if isinstance(column.type, sa.String):
                    rows = conn.execute(sa.text(f'SELECT DISTINCT "{column.name}" FROM {name} LIMIT 5000'))
                    words |= {part for (value,) in rows if value for w in LATIN_WORD.findall(str(value))
                              for part in [w, *re.split(r"[-_./]", w)]}
    engine.dispose()
    from data_access.alert_rules import load_rules

    return words | {rule.name for rule in load_rules().rules} | {"up", "degraded", "down"}


def latin_words(text: str) -> set[str]:
    text = NOT_PROSE.sub(" ", DIRECTIVES.sub(" ", text))
    return {w.rstrip(".-/") for w in LATIN_WORD.findall(text)}
