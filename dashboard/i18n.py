"""The one translation helper: every user-facing string is looked up here by key.

English is the default and the reference catalogue; another language falls back to English for
a key it lacks. KPI labels and definitions come from ``data_access.kpis`` (one definition each),
so the English catalogue takes them from there instead of restating them.
"""

from __future__ import annotations

from data_access.business import RESOLUTION_BINS
from data_access.export import COLUMN_NOTES
from data_access.kpis import KPIS
from data_access.ai import LATENCY_BINS
from dashboard.i18n_ru import RU

DEFAULT_LANGUAGE = "en"
LANGUAGES = {"en": "English", "ru": "Русский"}

EN: dict[str, str] = {
    "app.title": "Easy Flow Analytics",
    "page.overview": "Overview",
    "page.overview.caption": "Is the service healthy, is it getting better, what does it cost — at a glance.",
    "filters.header": "Filters",
    "filters.period": "Period",
    "filters.period.24h": "24 h",
    "filters.period.7d": "7 d",
    "filters.period.30d": "30 d",
    "filters.period.90d": "90 d",
    "filters.period.custom": "Custom",
    "filters.dates": "Dates",
    "filters.dates.help": "Inclusive, in the display timezone.",
    "filters.platform": "Platform",
    "filters.intent": "Intent",
    "filters.ai_model": "AI model",
    "filters.all": "All",
    "filters.timezone": "Display timezone",
    "filters.timezone.help": "Dates in the filters and times on the charts use this timezone.",
    "filters.language": "Language",
    "filters.summary": "{start} – {end} ({tz})",
    "filters.summary_24h": "{start} – {end} ({tz})",
    "filters.share": "The address bar holds these filters: copy it to share this view.",
    "warn.bad_date": "Ignored `{name}`: `{value}` is not a date (YYYY-MM-DD); using the default range.",
    "warn.date_out_of_range": "Ignored `{name}`: `{value}` is outside {low} … {high}; using the default range.",
    "warn.end_before_start": "Ignored the dates: the end `{end}` is before the start `{start}`; using the default range.",
    "warn.unknown_value": "Ignored {count} unknown value(s) of `{name}`: {values}.",
    "warn.unknown_timezone": "Ignored `tz`: `{value}` is not a known timezone; using {default}.",
    "warn.unknown_period": "Ignored `range`: `{value}` is not a known period.",
    "warn.unknown_language": "Ignored `lang`: `{value}` is not a known language.",
    "demo.banner": ("**Demo data**, generated for illustration. To see your platform's numbers, set "
                    "`DATABASE_URL` or `[connections.metrics] url` in `.streamlit/secrets.toml` and restart."),
    "demo.building": "Building the demo database (first start only)…",
    "demo.built": "Demo database ready: {rows} rows in {seconds} s.",
    "db.unreachable": ("Cannot reach the metrics database at `{where}`. Check that it is running and "
                       "that the address is right; the page recovers by itself when it is back."),
    "db.login_refused": ("The metrics database at `{where}` refused the login. Check the user name "
                         "and password in the configuration."),
    "db.error": ("The metrics database at `{where}` returned an error ({kind}). The rest of the page "
                 "may be incomplete; try again, and if it persists check the server's log."),
    "db.bad_url": "The configured database URL cannot be used ({kind}). Check `DATABASE_URL` or `.streamlit/secrets.toml`.",
    "db.retry": "Retry now",
    "db.no_table": ("This database has no `conversation_metrics` table, so there is nothing to show. "
                    "Point the dashboard at the platform's metrics database, or load demo data with "
                    "`python -m data_access.demo --url …`."),
    "db.missing_columns": "The `conversation_metrics` table lacks required columns: {columns}.",
    "kpi.no_data": "No data in this range.",
    "kpi.not_tracked": "Not tracked in this database.",
    "kpi.help": "{definition}\n\nBased on {n} {unit_of_n}. Compared with {previous}.",
    "kpi.help_none": "{definition}\n\n{reason}",
    "kpi.ignored": "Rows ignored for values outside the contract's range: {items}.",
    "kpi.n.messages": "messages",
    "kpi.n.ratings": "ratings",
    "kpi.n.dialogs": "dialogs",
    "kpi.n.responses": "survey responses",
    "kpi.n.samples": "sample timestamps",
    "kpi.n.requests": "requests",
    "kpi.n.checks": "health checks",
    "kpi.n.labelled": "labelled messages",
    "kpi.n.votes": "votes",
    "kpi.n.resolved": "resolved dialogs",
    "overview.customers": "Customers",
    "overview.ai": "AI",
    "overview.service": "Service",
    "overview.dialogs_chart": "Dialogs per {bucket} by platform",
    "overview.more": "More detail",
    "bucket.hour": "hour",
    "bucket.day": "day",
    "bucket.week": "week",
    "chart.dialogs": "Dialogs",
    "chart.time": "Time ({tz})",
    "chart.platform": "Platform",
    "chart.empty": "No dialogs in this range.",
    "chart.partial": "The last {bucket} is still in progress (lighter bars).",
    "page.business": "Business",
    "page.business.caption": "Dialogs, satisfaction, conversion, resolution and repeat contacts.",
    "business.dialogs": "Dialogs",
    "business.platform_split": "Platform split",
    "business.intents": "Intents",
    "business.intents_note": ("Per intent: the dialogs that contain a message with it. Intents with fewer "
                              "than {n} ratings or dialogs are marked and ranked after the others."),
    "business.top_intents": "Top intents by volume",
    "business.problem_intents": "Problem intents",
    "business.worst_csat": "Worst CSAT",
    "business.most_escalated": "Most escalated",
    "business.least_resolved": "Least resolved",
    "business.few": "fewer than {n}: not ranked",
    "business.satisfaction": "Customer satisfaction",
    "business.compare_platforms": "Compare platforms",
    "business.csat_trend": "CSAT and Avg rating per {bucket}",
    "business.rating_threshold": "alert below 4.0 / 5",
    "business.rating_distribution": "Ratings 1–5",
    "business.nps_trend": "Promoters, passives, detractors and NPS per {bucket}",
    "business.promoters": "Promoters (9–10)",
    "business.passives": "Passives (7–8)",
    "business.detractors": "Detractors (0–6)",
    "business.comments": "Latest survey comments",
    "business.detractors_only": "Detractors only",
    "business.no_comments": "No survey comments in this range.",
    "business.over_time": "Per {bucket}",
    "business.by_platform": "By platform",
    "business.by_intent": "By intent",
    "business.resolution_distribution": "Resolution time of resolved dialogs",
    "business.resolution_trend": "Median and p90 resolution time per {bucket}",
    "business.median": "Median",
    "business.p90": "p90",
    "business.repeat_note": ("Counted within the filtered rows, as the contract defines it: a dialog is a repeat "
                             "when the same user's previous dialog in the range started at most 7 days before, "
                             "so the first days of a range read low."),
    "business.top_repeat_users": "Users with the most repeat dialogs",
    "business.no_repeats": "No repeat contacts in this range.",
    "col.intent": "Intent",
    "col.messages": "Messages",
    "col.dialogs": "Dialogs",
    "col.ratings": "Ratings",
    "col.score": "Score",
    "col.platform": "Platform",
    "col.comment": "Comment",
    "col.time": "Time",
    "col.note": "Note",
    "col.user": "User",
    "col.repeat_dialogs": "Repeat dialogs",
    "col.last_dialog": "Last dialog",
    "col.resolution_rate": "Resolution rate",
    "col.resolution_time": "Resolution time",
    "col.resolved_dialogs": "Resolved dialogs",
    "col.minutes": "Minutes",
    "chart.no_data": "No data in this range.",
    "chart.rps": "rps",
    "chart.errors": "errors",
    "panel.not_tracked": "Not tracked in this database (no `{what}`).",
    "table.download_csv": "Download CSV",
    "page.operational": "Operational",
    "page.operational.caption": "Is it healthy right now, and since when not?",
    "ops.live": "Live mode",
    "ops.live.help": "Refreshes the service status, resources now, latest errors and database panels on their own.",
    "ops.live_every": "Refresh every",
    "ops.live_updated": "Live: updated {time}, every {seconds} s.",
    "ops.services": "Services now",
    "ops.status_timeline": "Down and degraded intervals",
    "ops.no_incidents": "No down or degraded checks in this range.",
    "ops.resources_now": "Resources at the latest sample",
    "ops.none_over": "No service is over the thresholds (disk {disk:.0f} %, memory {memory:.0f} %).",
    "ops.over": "Over the thresholds (disk {disk:.0f} %, memory {memory:.0f} %): {services}.",
    "ops.latest_errors": "Latest error events",
    "ops.no_errors": "No error events in this range.",
    "ops.database": "Dashboard database",
    "ops.ping": "Database round trip",
    "ops.ping.help": "Time of one SELECT 1 from the dashboard to its database, measured now.",
    "ops.no_rows": "no rows",
    "ops.age": "newest data {age} old",
    "ops.traffic": "Traffic",
    "ops.rps_and_errors": "Requests per second and errors per service, per {bucket}",
    "ops.rps": "Requests per second",
    "ops.errors": "Errors",
    "ops.error_rate_trend": "Error rate, all services",
    "ops.error_threshold": "alert above 5 %",
    "ops.errors_by_type": "Errors by type and service",
    "ops.resources": "Resource usage",
    "ops.threshold": "threshold {value:.0f} %",
    "ops.mean": "Mean",
    "ops.peak": "Peak",
    "ops.integrations": "Integrations",
    "ops.integrations_attention": "Needs attention (auth failures or quota above 80 %): {names}.",
    "ops.integrations_note": ("Availability: calls without a 5xx, timeout (408) or missing status. Quota: the "
                              "latest reported use against the limit."),
    "status.up": "up",
    "status.degraded": "degraded",
    "status.down": "down",
    "bucket.minute": "minute",
    "bucket.10min": "10 minutes",
    "col.service": "Service",
    "col.status": "Status",
    "col.since": "Since",
    "col.for": "For",
    "col.latency_ms": "Latency, ms",
    "col.error_type": "Error type",
    "col.level": "Level",
    "col.message": "Message",
    "col.events": "Events",
    "col.critical": "Critical",
    "col.last_seen": "Last seen",
    "col.table": "Table",
    "col.rows": "Rows",
    "col.newest": "Newest data",
    "col.age": "Age",
    "col.integration": "Integration",
    "col.calls": "Calls",
    "col.availability": "Availability",
    "col.p95_latency_ms": "p95 latency, ms",
    "col.webhook_ms": "Webhook response, ms",
    "col.auth_failures": "Auth failures",
    "col.quota_used": "Quota used",
    "col.quota_limit": "Quota limit",
    "col.quota_left": "Quota left",
    "page.ai_performance": "AI performance",
    "page.ai_performance.caption": "Latency, accuracy and answer quality per model, and what the answers cost.",
    "ai.latency": "Response time",
    "ai.percentile": "Percentile",
    "ai.latency_trend": "{percentile} AI response time per {bucket} and model",
    "ai.seconds": "Seconds",
    "ai.alert_line": "alert above 10 s",
    "ai.sla_line": "SLA target 2 s",
    "ai.latency_distribution": "Distribution per model",
    "ai.response_time": "Response time",
    "ai.share_of_messages": "share of messages",
    "ai.labelled_note": "On the labelled sample: the messages a reviewer assigned an expected intent to.",
    "ai.accuracy_by_intent": "Per expected intent",
    "ai.confusion": "Confusion matrix (labelled messages)",
    "ai.recognised": "Recognised intent",
    "ai.expected": "Expected intent",
    "ai.confusion_hover": "expected %{y}, recognised %{x}: %{z:,d}",
    "ai.calibration": "Accuracy by confidence",
    "ai.confidence": "Classifier confidence",
    "ai.mean_confidence": "Mean confidence (calibrated)",
    "ai.calibration_note": ("Bars: accuracy of the labelled messages in each confidence bucket; the dashed line is "
                            "their mean confidence, where a calibrated classifier's bars would end. Hover for n and "
                            "the bucket's share of all messages."),
    "ai.quality": "Answer quality",
    "ai.helpful_trend": "Helpful answers per {bucket} and model",
    "ai.by_ai_model": "By model",
    "ai.by_intent": "By intent",
    "ai.by_platform": "By platform",
    "ai.escalations": "Escalations",
    "ai.handed_over": "Intents the bot hands over most",
    "ai.no_escalations": "No escalated dialogs in this range.",
    "ai.cost": "Tokens and cost",
    "ai.usd": "USD",
    "ai.cost_per_bucket": "Cost per {bucket} and model",
    "ai.tokens_per_bucket": "Tokens per {bucket} and model",
    "ai.cost_per_message": "Cost per message",
    "ai.cost_outcomes": "Cost tied to outcomes",
    "ai.cost_outcomes_note": ("Per dialog's model or platform. Per resolved dialog and per conversion: all cost over the "
                              "dialogs with that outcome. Per escalated dialog: the cost of the escalated dialogs over "
                              "their number."),
    "ai.model_comparison": "Model comparison",
    "ai.comparison_note": "Click a column header to sort.",
    "col.model": "Model",
    "col.ai_model": "Model",
    "col.expected_intent": "Expected intent",
    "col.labelled": "Labelled",
    "col.correct": "Correct",
    "col.escalated_dialogs": "Escalated dialogs",
    "col.cost": "Cost",
    "col.cost_per_dialog": "Per dialog",
    "col.cost_per_resolved": "Per resolved dialog",
    "col.cost_per_conversion": "Per conversion",
    "col.cost_per_escalated": "Per escalated dialog",
    "col.avg_ms": "Avg response, ms",
    "col.p95_ms": "p95 response, ms",
    "page.export": "Data export",
    "page.export.caption": "Exactly the rows behind the dashboard, for Excel, BI tools and notebooks.",
    "export.table": "Table",
    "export.columns": "Columns",
    "export.mask": "Mask user ids",
    "export.mask.help": "Replaces user_id with a stable salted hash, for sharing outside the support team.",
    "export.filters_all": "The date range, platform, intent and AI model filters apply.",
    "export.filters_platform": "The date range and platform filters apply.",
    "export.filters_dates": "The date range applies (this table has no platform, intent or model).",
    "export.no_columns": "Choose at least one column.",
    "export.rows": "Rows to export",
    "export.rows.help": "Every row that passes the filters, in timestamp order; nothing is left out.",
    "export.empty": "No rows pass the filters: the files will hold the header only.",
    "export.preview": "Preview: the first {n} rows",
    "export.sheets": ("XLSX holds {limit} rows per sheet: this export continues on {sheets} sheets "
                      "(data, data 2, …)."),
    "export.long_cells": "{n} text cell(s) are longer than Excel's 32,767 characters: the XLSX file cuts them with a marker (CSV and JSON keep them whole).",
    "export.download": "Download",
    "export.as_csv": "CSV (≈ {size})",
    "export.as_json": "JSON (≈ {size})",
    "export.as_xlsx": "XLSX (≈ {size})",
    "export.notes": ("Times are in the display timezone (named in the XLSX header, with their offset in CSV and "
                     "JSON). Text that a spreadsheet would run as a formula is written as text. The file is made "
                     "when you click."),
    "export.link": "Export the rows behind these numbers (CSV, JSON, XLSX)",
    "export.cli": "The same export from the command line",
    "export.about.title": "Easy Flow Analytics export",
    "export.about.table": "table",
    "export.about.range": "range",
    "export.about.range_value": "{start} – {end} ({tz}), end excluded",
    "export.about.platform": "platform",
    "export.about.intent": "intent",
    "export.about.ai_model": "ai_model",
    "export.about.all": "all",
    "export.about.user_ids": "user ids",
    "export.about.masked": "masked (salted hash)",
    "export.about.as_stored": "as stored",
    "export.about.exported_at": "exported at (UTC)",
    "export.about.rows": "rows",
    "export.about.sheets": "sheets",
    "export.about.truncated": "cells cut at 32,767 characters",
    "export.about.column": "column",
    "export.about.meaning": "meaning",
    "value.none": "(none)",
    "value.all": "(all)",
    "value.unknown": "unknown",
    "value.other": "other",
    "table.conversation_metrics": "Conversation metrics",
    "table.nps_responses": "NPS responses",
    "table.system_metrics": "System metrics",
    "table.error_events": "Error events",
    "table.service_health": "Service health",
    "table.integration_calls": "Integration calls",
    "unit.s": "s",
    "unit.pp": "pp",
    "unit.points": "pts",
}

# Texts whose one English source lives in data_access: KPI labels and definitions (the KPI
# functions' docstrings), histogram bins, and the export's column notes.
for _key, _kpi in KPIS.items():
    EN[f"kpi.{_key}.label"] = _kpi.label
    EN[f"kpi.{_key}.definition"] = _kpi.definition
for _i, (_, _label) in enumerate(RESOLUTION_BINS):
    EN[f"bin.resolution.{_i}"] = _label
for _i, (_, _label) in enumerate(LATENCY_BINS):
    EN[f"bin.latency.{_i}"] = _label
for _column, _note in COLUMN_NOTES.items():
    EN[f"colnote.{_column}"] = _note

CATALOGUES: dict[str, dict[str, str]] = {"en": EN, "ru": RU}


def current_language() -> str:
    """The language of the running Streamlit session (English outside one)."""
    try:
        import streamlit as st

        lang = st.session_state.get("lang", DEFAULT_LANGUAGE)
    except Exception:  # no Streamlit session: command-line tools and tests
        lang = DEFAULT_LANGUAGE
    return lang if lang in CATALOGUES else DEFAULT_LANGUAGE


def t(key: str, lang: str | None = None, **values) -> str:
    """The text for ``key`` in ``lang`` (default: the session's), formatted with ``values``.

    Raises ``KeyError`` for a key missing from the English catalogue, so a typo fails tests.
    """
    catalogue = CATALOGUES.get(lang or current_language(), EN)
    text = catalogue.get(key)
    if text is None:
        text = EN[key]
    return text.format(**values) if values else text
