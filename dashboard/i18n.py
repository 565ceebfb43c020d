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
from dashboard.i18n_ru import PLURALS_RU, RU

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
    "filters.period.this_week": "This week",
    "filters.period.last_week": "Last week",
    "filters.period.this_month": "This month",
    "filters.period.last_month": "Last month",
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
    "warn.unknown_value": "Ignored unknown values of `{name}` ({count}): {values}.",
    "warn.unknown_timezone": "Ignored `tz`: `{value}` is not a known timezone; using {default}.",
    "warn.unknown_period": "Ignored `range`: `{value}` is not a known period.",
    "warn.unknown_language": "Ignored `lang`: `{value}` is not a known language.",
    "demo.banner": ("**Demo data**, generated for illustration. To see your platform's numbers, set "
                    "`DATABASE_URL` or `[connections.metrics] url` in `.streamlit/secrets.toml` and restart."),
    "demo.building": "Building the demo database (first start only)…",
    "demo.built": "Demo database ready: {rows} rows in {seconds} s.",
    "db.unreachable": ("Cannot reach the metrics database. Check that it is running and that the configured "
                       "address is right; the page recovers by itself when it is back."),
    "db.login_refused": ("The metrics database refused the login. Check the user name and password in the "
                         "configuration."),
    "db.access_denied": ("The metrics database refused this operation to the configured user ({kind}). Grant "
                         "the user the rights it needs, or use another user."),
    "db.too_complex": ("This query is too complex for the database (a very long range in a timezone with daylight "
                       "saving, say). Choose a shorter range or UTC."),
    "db.bad_value": "The metrics database refused a value ({kind}). Nothing was changed.",
    "db.timeout": "The query took too long and was cancelled. Choose a shorter range or fewer filters.",
    "db.error": ("The metrics database returned an error ({kind}). The rest of the page may be incomplete; try "
                 "again, and if it persists check the server's log."),
    "db.bad_url": "The configured database URL cannot be used ({kind}). Check `DATABASE_URL` or `.streamlit/secrets.toml`.",
    "db.retry": "Retry now",
    "db.no_table": ("This database has no `conversation_metrics` table, so there is nothing to show. "
                    "Point the dashboard at the platform's metrics database, or load demo data with "
                    "`python -m data_access.demo --url …`."),
    "db.missing_columns": "The `conversation_metrics` table lacks required columns: {columns}.",
    "kpi.no_data": "No data in this range.",
    "kpi.not_tracked": "Not tracked in this database.",
    "kpi.help": "{definition}\n\nBased on {n_units}. Compared with {previous}.",
    "kpi.help_none": "{definition}\n\n{reason}",
    "kpi.ignored": "Rows ignored for values outside the contract's range: {items}.",
    "headline.title": "Right now",
    "headline.down": "Services down",
    "headline.down.help": "Services whose latest health check in the last 24 hours says down, of {total} checked.",
    "headline.degraded": "Degraded",
    "headline.firing": "Alerts firing",
    "headline.firing.help": "The rules of alerts.yml firing now (evaluated over the last 24 hours). Each is listed below with a link to the Alerts page.",
    "headline.sla_missed": "SLAs missed",
    "headline.sla_missed.help": "Services that missed their SLA over the range on screen (uptime under {target}, or the response-time target), of all services with checks.",
    "headline.worst_uptime": "Worst uptime",
    "headline.worst_uptime.help": "The lowest uptime of any service over the range on screen: {service}. The Uptime tile below is the mean of all checks.",
    "headline.service_down": ":red-badge[:material/cloud_off: down] **{service}** since {since}",
    "headline.service_degraded": ":orange-badge[:material/cloud_sync: degraded] **{service}** since {since}",
    "headline.firing_list": "Alerts firing now",
    "headline.alert_line": "{severity} · {rule}{where}",
    "headline.no_alerts": ":green-badge[:material/check_circle: no alert is firing]",
    "headline.sla_missed_list": ":red-badge[:material/verified: SLA missed] in this range: {services}",
    "headline.sla_at_risk_list": ":orange-badge[:material/hourglass_bottom: SLA at risk] less than a quarter of the error budget left: {services}",
    "headline.last_hour": "Last hour, {start}–{end}, against the same hour a week before",
    "overview.period": "In the period",
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
    "business.rating_threshold": "alert below {value} / 5",
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
    "ops.none_over": "No service is over the thresholds (disk {disk} %, memory {memory} %).",
    "ops.over": "Over the thresholds (disk {disk} %, memory {memory} %): {services}.",
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
    "ops.error_threshold": "alert above {value} %",
    "ops.errors_by_type": "Errors by type and service",
    "ops.resources": "Resource usage",
    "ops.threshold": "threshold {value} %",
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
    "ai.alert_line": "alert above {value} s",
    "ai.sla_line": "SLA target {value} s",
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
    "export.long_cells": "Text cells longer than Excel's 32,767 characters: {n}. The XLSX file cuts them with a marker (CSV and JSON keep them whole).",
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
    "debug.title": "Queries this run: {count}, {sql} in SQL, page {page}",
    "debug.note": ("Every SQL statement this page ran, slowest first (worker threads included, so SQL time can "
                   "exceed the page's). Results served from the cache ran earlier and are not listed."),
    "debug.query": "Query (data_access function)",
    "debug.path": "Read from",
    "debug.path_help": ("Rollups + raw: whole hours from the rollups, the rest of the range (its edges, the hour "
                        "now open, late rows not yet rolled up) from the raw rows. Raw (why): every row read."),
    "rollups.building": ("Building the rollups for this database in the background: until they are ready pages "
                         "read the raw rows (the same numbers, more slowly)."),
    "debug.ms": "Time, ms",
    "page.reports": "Reports",
    "page.reports.caption": "Daily, weekly and monthly summaries with trends, anomalies and recommendations.",
    "reports.kind": "Report",
    "reports.kind.daily": "Daily",
    "reports.kind.weekly": "Weekly",
    "reports.kind.monthly": "Monthly",
    "reports.date": "Period containing",
    "reports.date.help": "Any day of the period; the default is the last complete one.",
    "reports.download": "Download",
    "reports.as_html": "HTML (opens offline)",
    "reports.as_xlsx": "XLSX (a sheet per section)",
    "reports.as_md": "Markdown",
    "reports.cli": "The same from the command line (cron, e-mail)",
    "reports.filters_note": "The sidebar's platform, intent and model filters and timezone apply; its dates do not.",
    "reports.title.daily": "Daily report · {span}",
    "reports.title.weekly": "Weekly report · {span}",
    "reports.title.monthly": "Monthly report · {span}",
    "reports.compared": "Compared with {previous}.",
    "reports.scope": "Timezone {tz}; {filters}.",
    "reports.all_data": "all platforms, intents and models",
    "reports.targets": "Targets: uptime {uptime}, response time {response}.",
    "reports.partial": "Partial: this period is not over yet, so counts and sums are not final.",
    "reports.no_data": "No data in this period.",
    "reports.recommendations": "Recommendations",
    "reports.kpis": "KPIs",
    "reports.by_platform": "By platform",
    "reports.by_intent": "By intent",
    "reports.anomalies": "Anomalies ({n})",
    "reports.alerts": "Alerts ({count} fired, {critical} critical)",
    "reports.models": "Models and cost",
    "reports.sla": "SLA compliance (uptime target {target})",
    "reports.trends": "Trends",
    "reports.none": "None.",
    "reports.sheet.summary": "Summary",
    "reports.col.kpi": "KPI",
    "reports.col.current": "This period",
    "reports.col.previous": "Previous period",
    "reports.col.change": "Change",
    "reports.col.n": "Based on",
    "reports.col.escalation_before": "Escalation rate before",
    "reports.col.when": "When",
    "reports.col.value": "Value",
    "reports.col.normal": "Normal (median)",
    "reports.col.deviation": "Deviation",
    "reports.col.z": "Robust z",
    "rec.csat_fell": "CSAT fell from {previous} to {current} (n = {n} ratings); read the detractors' comments on the Business page.",
    "rec.escalations_rose": "The escalation rate rose from {previous} to {current} (n = {n} dialogs); see which intents drive it below.",
    "rec.intent_escalations": "Escalations for intent {intent} rose from {previous} to {current} (n = {n} dialogs); review the {intent} flow.",
    "rec.slow_answers": "The p95 AI response time is {current}, above the {target} target; compare models on the AI performance page.",
    "rec.critical_alerts": "Critical alerts fired: {count} ({rules}); check that each has a post-mortem.",
    "rec.anomaly": "{kpi} at {when} was {value} against a normal {normal}; look into what changed then.",
    "rec.cost_rose": "Cost rose from {previous} to {current}; check the model mix and tokens per answer.",
    "rec.all_normal": "Nothing needs action: the KPIs stayed within their normal bands.",
    "import.header": "Import logs",
    "import.caption": ("A log file of the platform — JSON lines in its log format, gzip allowed — into the metrics "
                       "tables: message_processed lines become messages, ERROR and CRITICAL lines error events. "
                       "Importing the same file again adds nothing. The same from the command line: "
                       "`python -m data_access.ingest FILE`."),
    "auth.sign_in": "Sign in",
    "auth.sign_in.body": ("The dashboard shows customer ids, survey comments and costs, so it asks who you are. "
                          "Sign in with your company account."),
    "auth.sign_out": "Sign out",
    "auth.signed_in_as": "Signed in as **{email}** · {role}",
    "auth.role.viewer": "viewer",
    "auth.role.analyst": "analyst",
    "auth.role.admin": "admin",
    "auth.no_role": ("You are signed in as {email}, but your account has no role in Easy Flow Analytics. "
                     "Ask an administrator to give you the viewer, analyst or admin role."),
    "auth.proxy_missing": ("This dashboard expects a sign-in proxy in front of it, and this request did not come "
                           "through it (no `{header}` header). Open the dashboard at the proxy's address."),
    "auth.page_refused": ("This page is not part of your role ({role}): it needs the {needed} role. "
                          "Ask an administrator if you need it."),
    "auth.anonymous_banner": ("**Sign-in is off** (`EASYFLOW_AUTH=none`): anyone who can reach this address sees "
                              "this data."),
    "auth.config_error": "The sign-in settings cannot be used: {problem}. Nothing is shown until they are fixed.",
    "auth.locked.title": "Sign-in is not configured",
    "auth.locked.body": (
        "This dashboard is connected to a real metrics database, which holds customer ids, survey comments and "
        "costs, so it shows nothing until the operator chooses who may see it. Choose one of three ways:\n\n"
        "1. **Sign-in with your identity provider (OIDC)**: add an `[auth]` section to `.streamlit/secrets.toml` "
        "(Google, Microsoft Entra, Okta, Keycloak, …) and give users roles with `[easyflow.auth.roles]`.\n"
        "2. **Behind an authenticating proxy** (oauth2-proxy, nginx `auth_request`): set `EASYFLOW_AUTH=proxy`; "
        "the user and groups are read from its headers.\n"
        "3. **No sign-in**, knowingly: set `EASYFLOW_AUTH=none`; every page then says that anyone can see the "
        "data.\n\nThe README's section \"Sign-in and roles\" shows each setting."),
    "import.role": "Importing is for the admin role; yours is {role}.",
    "import.disabled": ("Importing writes to the metrics database, so it is off unless the operator turns it on: "
                        "start the dashboard with `EASYFLOW_IMPORT=on` (the demo database too), or import with "
                        "`python -m data_access.ingest FILE`."),
    "import.file": "Log file",
    "import.file.help": "JSON lines (.jsonl, .log, .json, .txt) or the same gzipped (.gz), up to {mb} MB.",
    "import.run": "Import",
    "import.running": "Importing…",
    "import.result": "Imported {file}",
    "import.read": "Lines read",
    "import.imported": "Rows added",
    "import.duplicates": "Already present",
    "import.rejected": "Rejected",
    "import.other": "Other events",
    "import.no_rejects": "Every line could be read.",
    "import.rejects": "Lines not imported: {n}; the rows around them were imported:",
    "import.rejects_first": "Lines not imported: {n} (the first {shown} are below); the rows around them were imported:",
    "import.stopped": "The import stopped early: {reason}.",
    "col.line": "Line",
    "col.reason": "Reason",
    "col.line_text": "Text",
    "bucket.month": "month",
    "page.alerts": "Alerts",
    "page.alerts.caption": "The rules of alerts.yml over the range: what is firing, what fired when, and why.",
    "alerts.problems": ("Some rules in `{file}` cannot be used and are skipped; the valid ones ({count}) are "
                        "evaluated. Fix these and the page picks the file up again:"),
    "alerts.no_rules": "No valid alert rules. Add rules to alerts.yml (see docs/alerts.md).",
    "alerts.am.state": "In Alertmanager: **{state}**",
    "alerts.am.state.active": "active, notifying",
    "alerts.am.state.suppressed": "suppressed",
    "alerts.am.state.silenced": "silenced",
    "alerts.am.state.inhibited": "inhibited by a critical alert",
    "alerts.am.state.unprocessed": "received, not yet routed",
    "alerts.am.state.absent": "not received (is the watcher running?)",
    "alerts.am.silence": "Silence in Alertmanager",
    "alerts.am.unreachable": "Alertmanager cannot be reached: the alerts' states there are not shown.",
    "alerts.firing_now": "Firing now",
    "alerts.firing_at_end": "Firing at the end of the range",
    "alerts.tile.firing": "Firing",
    "alerts.tile.firing.help": "Alerts whose condition still held at the last observed step of the range.",
    "alerts.tile.pending": "Pending",
    "alerts.tile.pending.help": "Conditions that hold but not yet for the rule's pending period ('for').",
    "alerts.tile.in_range": "Alerts in range",
    "alerts.tile.in_range.help": "Alerts that fired or were firing within the range.",
    "alerts.tile.critical": "Critical",
    "alerts.tile.critical.help": "Alerts in range whose rule has severity critical.",
    "alerts.none_firing": "Nothing is firing.",
    "alerts.firing_line": ("**{severity} · {rule}{where}** — since {since} ({duration}); value {value}; "
                           "fires when {threshold}."),
    "alerts.pending_line": "Pending: **{rule}{where}** since {since}; fires if it lasts {duration}.",
    "alerts.timeline": "Timeline",
    "alerts.none_in_range": "No alert fired in this range.",
    "alerts.still_firing": "still firing",
    "alerts.history": "History",
    "alerts.rules": "Rules",
    "alerts.rules_note": ("Each rule's metric over the range, the worst value per point (highest for an upper "
                          "limit, lowest for a lower one), with its threshold; red bands are the firing intervals. "
                          "Rules live in `{file}`."),
    "alerts.condition": "{condition} for {duration}",
    "alerts.clears": "clears at {value}",
    "alerts.step": "evaluated every {step} over {window}",
    "alerts.by.service": "per service",
    "alerts.by.platform": "per platform",
    "alerts.by.intent": "per intent",
    "alerts.by.ai_model": "per AI model",
    "alerts.vs_normal": "{change} % vs normal",
    "alerts.too_few": "No data in this range with at least {n} observations per window, the fewest this rule evaluates.",
    "alerts.threshold_line": "fires",
    "alerts.clear_line": "clears",
    "alerts.firing_band": "firing",
    "alerts.alert_level": "alert level (normal + threshold)",
    "alerts.reviews": "**{count} reviews** with negative keywords while the alert was active:",
    "alerts.severity.critical": "Critical",
    "alerts.severity.warning": "Warning",
    "alerts.severity.info": "Info",
    "alerts.metric.error_rate": "Error rate",
    "alerts.metric.uptime": "Uptime",
    "alerts.metric.disk_percent": "Disk",
    "alerts.metric.memory_percent": "Memory",
    "alerts.metric.cpu_percent": "CPU",
    "alerts.metric.p95_response_time": "p95 AI response time",
    "alerts.metric.avg_response_time": "Avg AI response time",
    "alerts.metric.avg_rating": "Avg rating",
    "alerts.metric.csat": "CSAT",
    "alerts.metric.escalation_rate": "Escalation rate",
    "alerts.metric.negative_reviews": "Reviews with negative keywords",
    "alerts.unit.error_rate": "%",
    "alerts.unit.uptime": "%",
    "alerts.unit.disk_percent": "%",
    "alerts.unit.memory_percent": "%",
    "alerts.unit.cpu_percent": "%",
    "alerts.unit.p95_response_time": "ms",
    "alerts.unit.avg_response_time": "ms",
    "alerts.unit.avg_rating": "/ 5",
    "alerts.unit.csat": "%",
    "alerts.unit.escalation_rate": "%",
    "alerts.unit.negative_reviews": "reviews",
    "col.severity": "Severity",
    "col.rule": "Rule",
    "col.label": "Where",
    "col.active_since": "Active since",
    "col.fired_at": "Fired",
    "col.resolved_at": "Resolved",
    "col.duration": "Duration",
    "col.peak": "Worst value",
    "col.condition": "Condition",
    "col.words": "Keywords",
    "page.sla": "SLA",
    "page.sla.caption": "Uptime and response time against their targets, with the error budget left.",
    "sla.uptime_target": "Uptime target, %",
    "sla.response_target": "Response time target, ms",
    "sla.targets_help": "Defaults come from the sla section of alerts.yml; a change here applies to this view only.",
    "sla.met": "Met",
    "sla.missed": "Missed",
    "sla.exhausted": "spent",
    "sla.not_burning": "not at the current rate",
    "sla.after_period": "after this period",
    "sla.all_platforms": "All platforms",
    "sla.name.services": "Service",
    "sla.name.integrations": "Integration",
    "sla.name.answers": "Platform",
    "sla.section.services": "Services",
    "sla.section.services.note": ("From health checks: uptime = checks up or degraded; response time = the "
                                  "checks' latency."),
    "sla.section.integrations": "Partner integrations",
    "sla.section.integrations.note": ("From partner API and webhook calls: uptime = calls without a 5xx, timeout "
                                      "or missing status; response time = the calls' latency."),
    "sla.section.answers": "AI answers",
    "sla.section.answers.note": "The AI's response_time_ms per answer, under the platform, intent and model filters.",
    "sla.tile.services_met": "Services meeting SLA",
    "sla.tile.services_met.help": "Services whose uptime is at least {target} and whose check p95 is within target.",
    "sla.tile.lowest_uptime": "Lowest uptime",
    "sla.tile.lowest_uptime.help": "The service with the lowest uptime in the range: {name}.",
    "sla.tile.budget_left": "Least budget left",
    "sla.tile.budget_left.help": "{name}: minutes of downtime still allowed in the range, of {budget}.",
    "sla.tile.answers_p95": "p95 AI response time",
    "sla.tile.answers_p95.help": "95th percentile of response_time_ms (linear interpolation); target {target}.",
    "sla.tile.answers_under": "Answers under target",
    "sla.tile.answers_under.help": "Share of answers with response_time_ms under {target}.",
    "sla.budget_chart": "Error budget at {target}: used and left",
    "sla.budget.used": "Used",
    "sla.budget.left": "Left",
    "sla.budget.over": "Over budget",
    "sla.minutes": "Minutes",
    "sla.burn_help": "(100 − uptime) / (100 − target) over the range: 1 spends the budget exactly by the period's end.",
    "sla.current_burn_help": "The burn rate over the last hour of the covered time.",
    "sla.per_month": "Per month",
    "sla.definitions": "Definitions",
    "sla.definitions.text": (
        "- **Uptime** — health checks with status up or degraded among checks with a known status; for a partner "
        "integration, calls without a 5xx, a timeout or a missing status.\n"
        "- **Error budget** — (100 % − target) of the range's length: at {target}, 30 days allow {budget} of "
        "downtime. **Downtime** = (100 % − uptime) × the covered time (from the first check in the range to the "
        "last plus one check interval, at most to the range's end or now). **Left** = budget − downtime.\n"
        "- **Burn rate** — (100 − uptime) / (100 − target). At 1 the budget lasts exactly the period; the "
        "**current** burn rate is over the last hour, and at that rate the budget runs out after left / "
        "((100 % − target) × burn rate).\n"
        "- **Response time** — p95 (linear interpolation) and the share under {response}; met when the p95 is at "
        "or under the target. Compliant = every known part met."),
    "col.month": "Month",
    "col.uptime": "Uptime",
    "col.uptime_sla": "Uptime SLA",
    "col.downtime": "Downtime",
    "col.budget": "Budget",
    "col.budget_left": "Budget left",
    "col.burn_rate": "Burn rate",
    "col.current_burn": "Burn rate, last hour",
    "col.runs_out": "Budget runs out",
    "col.p95_ms_short": "p95, ms",
    "col.under_target": "Under {target}",
    "col.response_sla": "Response SLA",
    "col.compliant": "Compliant",
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

# Texts with a count: one template per CLDR plural category of the language (English: one,
# other; Russian: one, few, many, other — 1, 21 диалог; 2, 22 диалога; 5, 11, 25 диалогов), chosen
# by Babel's plural rules. ``{n}`` is the number as the language writes it.
PLURALS_EN: dict[str, dict[str, str]] = {
    "unit.points": {"one": "{n} pt", "other": "{n} pts"},
    "kpi.n.messages": {"one": "{n} message", "other": "{n} messages"},
    "kpi.n.ratings": {"one": "{n} rating", "other": "{n} ratings"},
    "kpi.n.dialogs": {"one": "{n} dialog", "other": "{n} dialogs"},
    "kpi.n.responses": {"one": "{n} survey response", "other": "{n} survey responses"},
    "kpi.n.samples": {"one": "{n} sample timestamp", "other": "{n} sample timestamps"},
    "kpi.n.requests": {"one": "{n} request", "other": "{n} requests"},
    "kpi.n.checks": {"one": "{n} health check", "other": "{n} health checks"},
    "kpi.n.labelled": {"one": "{n} labelled message", "other": "{n} labelled messages"},
    "kpi.n.votes": {"one": "{n} vote", "other": "{n} votes"},
    "kpi.n.resolved": {"one": "{n} resolved dialog", "other": "{n} resolved dialogs"},
}
PLURALS: dict[str, dict[str, dict[str, str]]] = {"en": PLURALS_EN, "ru": PLURALS_RU}


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


def tn(key: str, n: float, lang: str | None = None, **values) -> str:
    """The text for ``key`` (a ``PLURALS`` entry) in the form the language uses for ``n``
    (CLDR plural rules through Babel), with ``{n}`` written the language's way. Raises
    ``KeyError`` for a key missing from the English plurals."""
    from babel import Locale

    from dashboard import format as fmt

    lang = lang if lang in CATALOGUES else current_language()
    forms = PLURALS.get(lang, PLURALS_EN).get(key) or PLURALS_EN[key]
    if key not in PLURALS_EN:
        raise KeyError(key)
    category = Locale.parse(lang).plural_form(abs(n))
    template = forms.get(category) or forms["other"]
    decimals = 0 if float(n).is_integer() else 1
    return template.format(n=fmt.number(n, decimals, lang), **values)
