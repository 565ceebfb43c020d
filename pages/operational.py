"""Operational: is it healthy right now, and since when not? Traffic, errors, resources, sessions,
service and integration health, and the dashboard's own database."""

import pandas as pd
import streamlit as st

from data_access import operational as ops
from dashboard import charts, context, data, format as fmt, service_metrics
from dashboard.i18n import t
from dashboard.tables import chart, export_link, not_tracked, table, when
from dashboard.tiles import kpi_section, page_title

TRAFFIC_KEYS = ("avg_rps", "peak_rps", "error_rate", "uptime", "active_sessions")
RESOURCE_KEYS = ("cpu", "memory", "disk")
LIVE_INTERVALS = (10, 30, 60)
NumberColumn = st.column_config.NumberColumn
TextColumn = st.column_config.TextColumn

database, filters = context.current()
schema, url = database.schema, database.url
unit = data.ops_bucket(filters)
time_title = t("chart.time", tz=filters.tz)

page_title("page.operational", filters)
source_note = service_metrics.source_caption()  # Prometheus answers the service panels when configured
if source_note:
    st.caption(source_note)
from_prometheus = service_metrics.answers("traffic")
has_system, has_health = schema.has_table("system_metrics"), schema.has_table("service_health")
rules = data.rule_set()  # the threshold lines are the alert rules' (alerts.yml): editing a rule moves its line
error_line, cpu_line, memory_line, disk_line = (rules.threshold(metric) for metric in
                                                ("error_rate", "cpu_percent", "memory_percent", "disk_percent"))
live_left, live_right = st.columns([1, 3])
live = live_left.toggle(t("ops.live"), key="ops_live", help=t("ops.live.help"))
interval = live_right.segmented_control(t("ops.live_every"), LIVE_INTERVALS, default=30, key="ops_live_every",
                                        format_func=lambda s: f"{s} {t('unit.s')}", disabled=not live) or 30


def time_column(label_key: str) -> dict:
    return when(t(label_key), seconds=True)


@st.fragment(run_every=interval if live else None)
def now_panels() -> None:
    """The parts that describe "now": refreshed on their own in live mode, without the rest."""
    fetch = lambda name: panels.read(name, live)  # noqa: E731
    with data.database_errors(database.config):
        if live:
            st.caption(t("ops.live_updated", time=pd.Timestamp.now(tz=filters.tz).strftime("%Y-%m-%d %H:%M:%S"),
                         seconds=interval))
        st.header(t("ops.services"))
        if not (has_health or from_prometheus):
            not_tracked("service_health")
        else:
            status = fetch("status")
            if status.empty:
                st.info(t("chart.no_data"))
            else:
                labels = {s: t(f"status.{s}") for s in charts.STATUS_COLORS}
                status["status_label"] = status["status"].map(lambda s: labels.get(s, str(s)))
                end = min(pd.Timestamp.now(tz=filters.tz).tz_localize(None), pd.Timestamp(filters.end))
                status["for"] = [(("≥ " if whole else "") + fmt.duration_s((end - since).total_seconds()))
                                 for since, whole in zip(status["since"], status["whole_range"])]
                table(status, {"service": TextColumn(t("col.service")), "status_label": TextColumn(t("col.status")),
                               "since": time_column("col.since"), "for": TextColumn(t("col.for")),
                               "latency_ms": NumberColumn(t("col.latency_ms"), format="%.1f"),
                               "uptime": NumberColumn(t("kpi.uptime.label"), format="%.2f %%")},
                      "service_status", "service_status", highlight=status["status"] != "up",
                      cell_colors={"status_label": {labels[s]: c for s, c in charts.STATUS_COLORS.items()}})
                intervals = fetch("intervals")
                st.subheader(t("ops.status_timeline"))
                if intervals.empty:
                    st.success(t("ops.no_incidents"), icon=":material/check_circle:")
                else:
                    chart(charts.status_timeline(intervals, sorted(status["service"]), time_title,
                                                 {s: t(f"status.{s}") for s in ("down", "degraded")},
                                                 pd.Timestamp(filters.start), pd.Timestamp(filters.end)),
                          False, "status_timeline")

        if has_system and not from_prometheus:  # the latest sample's table: the tiles say it from Prometheus
            st.subheader(t("ops.resources_now"))
            now = fetch("resources_now")
            hot = ops.over_threshold(now, disk=disk_line, memory=memory_line) if not now.empty else now
            if now.empty:
                st.info(t("chart.no_data"))
            elif hot.empty:
                st.success(t("ops.none_over", disk=fmt.threshold(disk_line) if disk_line is not None else "—", memory=fmt.threshold(memory_line) if memory_line is not None else "—"),
                           icon=":material/check_circle:")
            else:
                st.warning(t("ops.over", services=", ".join(fmt.md_text(v) for v in hot["service"]), disk=fmt.threshold(disk_line) if disk_line is not None else "—",
                             memory=fmt.threshold(memory_line) if memory_line is not None else "—"), icon=":material/warning:")
            if not now.empty:
                table(now, {"service": TextColumn(t("col.service")), "timestamp": time_column("col.time"),
                            "cpu_percent": NumberColumn(t("kpi.cpu.label"), format="%.1f %%"),
                            "memory_percent": NumberColumn(t("kpi.memory.label"), format="%.1f %%"),
                            "disk_percent": NumberColumn(t("kpi.disk.label"), format="%.1f %%"),
                            "active_sessions": NumberColumn(t("kpi.active_sessions.label"), format="localized")},
                      "resources_now", "resources_now", highlight=now["service"].isin(hot["service"]))

        if schema.has_table("error_events"):
            st.subheader(t("ops.latest_errors"))
            latest = fetch("latest_errors")
            if latest.empty:
                st.info(t("ops.no_errors"))
            else:
                table(latest, {"timestamp": time_column("col.time"), "service": TextColumn(t("col.service")),
                               "error_type": TextColumn(t("col.error_type")), "level": TextColumn(t("col.level")),
                               "message": TextColumn(t("col.message"), width="large")},
                      "latest_errors", "latest_errors", height=300)

        st.header(t("ops.database"))
        health = data.database_health(url)
        ping = data.ping_ms(url)
        now_utc = pd.Timestamp.now(tz="UTC")
        health["age"] = [t("ops.no_rows") if pd.isna(n) else t("ops.age", age=fmt.duration_s(max((now_utc - n).total_seconds(), 0)))
                         for n in health["newest"]]
        health["rows_text"] = [("≈ " if not exact else "") + fmt.number(rows)
                               for rows, exact in zip(health["rows"], health["exact"])]
        health["newest"] = health["newest"].dt.tz_convert(filters.tz).dt.tz_localize(None)
        st.metric(t("ops.ping"), fmt.milliseconds(ping, 1), help=t("ops.ping.help"), border=True, width=220)
        table(health, {"table": TextColumn(t("col.table")), "rows_text": TextColumn(t("col.rows")),
                       "newest": time_column("col.newest"), "age": TextColumn(t("col.age"))},
              "database_health", "database_health")


with data.database_errors(database.config):
    errors = schema.has_table("error_events")
    panels = data.Panels(
        url, filters,
        status=data.Panel("service_status", shown=has_health or from_prometheus, live=True),
        intervals=data.Panel("status_intervals", shown=has_health or from_prometheus, live=True),
        resources_now=data.Panel("resources_now", shown=has_system and not from_prometheus, live=True),
        latest_errors=data.Panel("latest_errors", shown=errors, live=True),
        traffic=data.Panel("traffic", (unit,), has_system or from_prometheus),
        errors_over_time=data.Panel("errors_over_time", (unit,), errors or from_prometheus),
        top_errors=data.Panel("top_errors", shown=errors),
        resources=data.Panel("resources", (unit,), has_system or from_prometheus),
        sessions=data.Panel("active_sessions_over_time", (unit,), has_system or from_prometheus),
        integrations=data.Panel("integrations", shown=schema.has("integration_calls", "status_code")))
    panels.prefetch(kpi_keys=TRAFFIC_KEYS + RESOURCE_KEYS, live=live)
    kpi_section(url, filters, (TRAFFIC_KEYS, RESOURCE_KEYS))

now_panels()

with data.database_errors(database.config):
    st.header(t("ops.traffic"))
    if not (has_system or from_prometheus):
        not_tracked("system_metrics")
    else:
        traffic = panels["traffic"]
        st.subheader(t("ops.rps_and_errors", bucket=t(f"bucket.{unit}")))
        chart(None if traffic.empty else charts.traffic_panels(traffic, time_title, t("ops.rps"), t("ops.errors"),
                                                               t("chart.rps"), t("chart.errors")),
              traffic.empty, "traffic")
        st.subheader(t("ops.error_rate_trend"))
        totals = ops.error_rate_over_time(traffic) if not traffic.empty else traffic
        chart(None if totals.empty else charts.lines(
            totals.dropna(subset=["error_rate"]), "bucket", "error_rate", time_title, t("kpi.error_rate.label"),
            thresholds=[(error_line, t("ops.error_threshold", value=fmt.threshold(error_line)))] if error_line is not None else (), y_suffix=" %",
            hover_format=".2f"), totals.empty, "error_rate")

    st.header(t("ops.errors_by_type"))
    if not (errors or from_prometheus):
        not_tracked("error_events")
    else:
        events = panels["errors_over_time"]
        left, right = st.columns([3, 2])
        with left:
            chart(None if events.empty else charts.stacked_bars(events, "bucket", "events", "error_type", time_title,
                                                                t("col.events"), t("col.error_type")),
                  events.empty, "errors_over_time")
        with right:
            top = panels["top_errors"] if errors else pd.DataFrame()
            if top.empty:
                st.info(t("ops.no_errors"))
            else:
                table(top, {"error_type": TextColumn(t("col.error_type")), "service": TextColumn(t("col.service")),
                            "events": NumberColumn(t("col.events"), format="localized"),
                            "critical": NumberColumn(t("col.critical"), format="localized"),
                            "last_seen": time_column("col.last_seen")}, "top_errors", "top_errors")

    st.header(t("ops.resources"))
    if not (has_system or from_prometheus):
        not_tracked("system_metrics")
    else:
        usage = panels["resources"]
        thresholds = {"cpu": cpu_line, "memory": memory_line, "disk": disk_line}
        for column, (name, threshold) in zip(st.columns(3), thresholds.items()):
            with column:
                st.subheader(t(f"kpi.{name}.label"))
                part = usage.dropna(subset=[name])
                chart(None if part.empty else charts.lines(
                    part, "bucket", name, time_title, t(f"kpi.{name}.label"), series="service", y_suffix=" %",
                    thresholds=[(threshold, t("ops.threshold", value=fmt.threshold(threshold)))] if threshold is not None else (),
                    legend_title=t("col.service")), part.empty, f"resource_{name}")

        st.header(t("kpi.active_sessions.label"))
        sessions = panels["sessions"]
        sessions = sessions.melt(id_vars=["bucket"], value_vars=["mean_sessions", "peak_sessions"],
                                 var_name="series", value_name="sessions")
        sessions["series"] = sessions["series"].map({"mean_sessions": t("ops.mean"), "peak_sessions": t("ops.peak")})
        chart(None if sessions.empty else charts.lines(sessions, "bucket", "sessions", time_title,
                                                       t("kpi.active_sessions.label"), series="series",
                                                       hover_format=",.0f"),
              sessions.empty, "active_sessions")

    st.header(t("ops.integrations"))
    if not schema.has("integration_calls", "status_code"):
        not_tracked("integration_calls")
    else:
        partners = panels["integrations"]
        if partners.empty:
            st.info(t("chart.no_data"))
        else:
            attention = partners[partners["attention"]]
            if not attention.empty:
                st.warning(t("ops.integrations_attention", names=", ".join(fmt.md_text(v) for v in attention["integration"])),
                           icon=":material/warning:")
            table(partners, {"integration": TextColumn(t("col.integration")),
                             "calls": NumberColumn(t("col.calls"), format="localized"),
                             "availability": NumberColumn(t("col.availability"), format="%.2f %%"),
                             "p95_latency_ms": NumberColumn(t("col.p95_latency_ms"), format="%.0f"),
                             "webhook_ms": NumberColumn(t("col.webhook_ms"), format="%.0f"),
                             "auth_failures": NumberColumn(t("col.auth_failures"), format="localized"),
                             "quota_used": NumberColumn(t("col.quota_used"), format="localized"),
                             "quota_limit": NumberColumn(t("col.quota_limit"), format="localized"),
                             "quota_left_share": st.column_config.ProgressColumn(
                                 t("col.quota_left"), format="%.0f %%", min_value=0, max_value=100)},
                  "integrations", "integrations", highlight=partners["attention"])
            st.caption(t("ops.integrations_note"))

export_link()
