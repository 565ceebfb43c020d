"""The Overview's "right now" headline, above the period's KPIs: one verdict line (does anything
need attention now, and since when), what is down or degraded now, the alerts firing now by name
and severity (each a link to the Alerts page), and the last complete hour against the same hour a
week before. Under the period (``period_sla``): the SLAs missed or at risk in the range, with the
worst service's uptime.

"Now" is the last 24 hours up to the next whole hour in the display timezone, whatever the range:
the state at its end is the state now (nothing is written in the future).
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from data_access.business import to_local
from data_access.filters import Filters
from dashboard import context, data, format as fmt
from dashboard.filters import local_now, local_time
from dashboard.i18n import current_language, t, tn
from dashboard.tiles import kpi_row

HOUR_KEYS = ("messages", "csat", "error_rate", "avg_response_time")
AT_RISK_SHARE = 0.25  # an SLA is at risk when less than this share of its error budget is left
WEEK = timedelta(days=7)
SERVICE_LINES = {"down": "headline.service_down", "degraded": "headline.service_degraded"}
FIRING_LIST = "headline.firing_list"


def now_range(filters: Filters) -> Filters:
    """The last 24 hours up to the next whole hour, in the filters' timezone (cached per hour)."""
    end = local_now(filters.tz)
    return Filters(end - timedelta(days=1), end, tz=filters.tz)


def last_hour(filters: Filters) -> tuple[Filters, Filters]:
    """The last complete hour and the same hour a week before, in the filters' timezone (no
    dimension filter: the headline is the whole service's)."""
    end = local_time(filters.tz).replace(minute=0, second=0, microsecond=0)
    current = Filters(end - timedelta(hours=1), end, tz=filters.tz)
    return current, Filters(current.start - WEEK, current.end - WEEK, tz=filters.tz)


def prefetch_calls(url: str, filters: Filters) -> list[tuple[str, object]]:
    """The headline's reads, for the page's prefetch (``also``)."""
    recent = now_range(filters)
    hour, week_before = last_hour(filters)
    rules = data.rule_set()
    return [("now_alerts", lambda: data.alert_histories(url, recent, rules)),
            ("now_status", lambda: data.query("service_status", url, recent)),
            ("sla", lambda: data.sla_compliance(url, filters, "services", rules.sla, False)),
            ("hour", lambda: data.kpi_values(url, hour, HOUR_KEYS)),
            ("hour_week_before", lambda: data.kpi_values(url, week_before, HOUR_KEYS))]


def _sla(database, filters: Filters, rules) -> pd.DataFrame:
    """The services' SLA compliance over the range, one row per service (none without checks)."""
    if not database.schema.has_table("service_health"):
        return pd.DataFrame()
    sla = data.sla_compliance(database.url, filters, "services", rules.sla, False)
    return sla[sla["name"].notna()] if not sla.empty else sla


def verdict(down: pd.DataFrame, degraded: pd.DataFrame, firing: pd.DataFrame, tz: str) -> str:
    """The headline's first line: all is well, or what needs attention now and since when (the
    earliest of the current outages' and firing alerts' starts, in the display timezone)."""
    problems = [tn("headline.n.down", len(down)) if len(down) else None,
                tn("headline.n.degraded", len(degraded)) if len(degraded) else None,
                tn("headline.n.firing", len(firing)) if len(firing) else None]
    problems = [p for p in problems if p]
    if not problems:
        return t("headline.verdict.fine")
    starts = [*down["since"].dropna(), *degraded["since"].dropna()]
    if not firing.empty:
        starts += list(to_local(firing["fired_at"], tz).dropna())
    since = fmt.moment(min(starts)) if starts else "—"
    serious = len(down) or (not firing.empty and (firing["severity"] == "critical").any())
    return t("headline.verdict.serious" if serious else "headline.verdict.attention", since=since,
             problems=", ".join(problems))


def headline(database, filters: Filters) -> None:
    """Draw the headline. Database errors are left to the caller's ``data.database_errors``."""
    from data_access.alerts import history_frame

    url, schema = database.url, database.schema
    recent = now_range(filters)
    st.header(t("headline.title"))
    status = (data.query("service_status", url, recent) if schema.has_table("service_health")
              else pd.DataFrame(columns=["service", "status", "since", "uptime"]))
    rules = data.rule_set()
    firing = pd.DataFrame(columns=["rule", "key", "severity", "fired_at"])
    if rules.rules:
        history = history_frame(data.alert_histories(url, recent, rules))
        firing = history[history["firing"]].sort_values(["severity", "rule", "key"])
    down = status[status["status"] == "down"] if not status.empty else status
    degraded = status[status["status"] == "degraded"] if not status.empty else status
    st.markdown(verdict(down, degraded, firing, filters.tz))

    with st.container(horizontal=True, gap="small"):
        # 220 px: "Работают с перебоями" needs them.
        st.metric(t("headline.down"), fmt.number(len(down)), border=True, width=220,
                  help=t("headline.down.help", total=fmt.number(len(status))))
        st.metric(t("headline.degraded"), fmt.number(len(degraded)), border=True, width=220)
        st.metric(t("headline.firing"), fmt.number(len(firing)), border=True, width=220,
                  help=t("headline.firing.help"))

    # Compact lines, not boxes: the headline is read at a glance.
    lines = [t(SERVICE_LINES[row.status], service=fmt.md_text(row.service),
               since=fmt.moment(row.since) if pd.notna(row.since) else "—")
             for row in (pd.concat([down, degraded]).itertuples() if not status.empty else ())]
    if lines:
        st.markdown("\n".join(f"- {line}" for line in lines))
    alerts_page = context.page("alerts.py")
    if not firing.empty:
        titles = {rule.name: rule.title_in(current_language()) for rule in rules.rules}
        st.markdown(f"**{t(FIRING_LIST)}**")
        for row in firing.itertuples():
            # st.page_link renders Markdown in its label: the rule and the key are escaped text.
            label = t("headline.alert_line", severity=t(f"alerts.severity.{row.severity}"), rule=fmt.md_text(titles.get(row.rule, row.rule)),
                      where=f" · {fmt.md_text(row.key)}" if row.key else "",
                      since=fmt.moment(to_local(pd.Series([row.fired_at]), filters.tz).iloc[0]))
            icon = ":material/error:" if row.severity == "critical" else ":material/warning:"
            if alerts_page is not None:  # to the Alerts page with this view's filters
                st.page_link(alerts_page, label=label, icon=icon, query_params=dict(st.query_params.to_dict()))
            else:
                st.text(label)

    hour, week_before = last_hour(filters)
    st.subheader(t("headline.last_hour", start=fmt.moment(hour.start)[-5:], end=fmt.moment(hour.end)[-5:]))
    kpi_row(HOUR_KEYS, data.kpi_values(url, hour, HOUR_KEYS), data.kpi_values(url, week_before, HOUR_KEYS),
            week_before)


def period_sla(database, filters: Filters) -> None:
    """The services' SLAs over the range on screen: how many were missed, the worst uptime, and
    the services that missed it or are at risk. Nothing without health checks."""
    rules = data.rule_set()
    sla = _sla(database, filters, rules)
    if sla.empty:
        return
    missed = sla[~sla["compliant"].fillna(True).astype(bool)]
    at_risk = sla[sla["compliant"].fillna(True).astype(bool)
                  & (sla["budget_left_minutes"] < AT_RISK_SHARE * sla["budget_minutes"])]
    st.subheader(t("overview.sla"))
    with st.container(horizontal=True, gap="small"):
        st.metric(t("headline.sla_missed"), f"{fmt.number(len(missed))} / {fmt.number(len(sla))}", border=True,
                  width=200, help=t("headline.sla_missed.help", target=fmt.percent(rules.sla.uptime_percent, 2)))
        if sla["uptime"].notna().any():
            worst = sla.loc[sla["uptime"].idxmin()]
            # The service rides in the delta's chip (plain text, no arrow, no colour).
            st.metric(t("headline.worst_uptime"), fmt.percent(worst["uptime"], 2), delta=fmt.plain_text(worst["name"]),
                      delta_color="off", delta_arrow="off", border=True, width=200,
                      help=t("headline.worst_uptime.help", service=fmt.md_text(worst["name"])))
    lines = []
    if not missed.empty:
        lines.append(t("headline.sla_missed_list", services=", ".join(
            f"{fmt.md_text(r.name)} ({fmt.percent(r.uptime, 2)})" for r in missed.itertuples())))
    if not at_risk.empty:
        lines.append(t("headline.sla_at_risk_list", services=", ".join(fmt.md_text(n) for n in at_risk["name"])))
    if lines:
        st.markdown("\n".join(f"- {line}" for line in lines))
