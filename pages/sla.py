"""SLA: uptime against its target with the error budget, and response time against its
target — per service, per partner integration and for the AI's answers; for the range and per month."""

import pandas as pd
import streamlit as st

from data_access.alert_rules import SlaTargets
from data_access.sla import verdicts
from dashboard import charts, context, data, format as fmt, service_metrics
from dashboard.i18n import t
from dashboard.tables import chart, not_tracked, shown_value, table
from dashboard.tiles import page_title

TextColumn = st.column_config.TextColumn
NumberColumn = st.column_config.NumberColumn
SOURCE_TABLES = {"services": "service_health", "integrations": "integration_calls", "answers": "conversation_metrics"}

database, filters = context.current()
url, schema = database.url, database.schema
configured = data.rule_set().sla

page_title("page.sla", filters)
verdict_lines = st.container()  # the verdicts come first; they are drawn once the targets are read
left, right = st.columns(2)
uptime_target = left.number_input(t("sla.uptime_target"), min_value=90.0, max_value=99.999,
                                  value=min(max(configured.uptime_percent, 90.0), 99.999), step=0.01,
                                  format="%.3f", key="sla_uptime_target", help=t("sla.targets_help"))
response_target = right.number_input(t("sla.response_target"), min_value=100, max_value=60_000,
                                     value=int(min(max(configured.response_time_ms, 100), 60_000)), step=100,
                                     key="sla_response_target", help=t("sla.targets_help"))
targets = SlaTargets(float(uptime_target), float(response_target))


def verdict(flag) -> str:
    """A table cell's verdict: a word with its mark, read without colour (a Styler colouring the
    tables' cells would be marshalled again on every rerun)."""
    return "—" if flag is None or pd.isna(flag) else (f"✓ {t('sla.met')}" if flag else f"✗ {t('sla.missed')}")


def minutes(value: float) -> str:
    if pd.isna(value):
        return "—"
    text = fmt.duration_s(abs(value) * 60)
    return f"−{text}" if value < 0 else text


def runs_out(row) -> str:
    if pd.isna(row.uptime):
        return "—"
    if row.budget_left_minutes <= 0:
        return t("sla.exhausted")
    if pd.isna(row.exhausted_at):
        return t("sla.not_burning")
    if row.exhausted_at > pd.Timestamp(filters.utc_bounds()[1]):
        return t("sla.after_period")
    return fmt.moment(pd.Series([row.exhausted_at]).dt.tz_localize("UTC").dt.tz_convert(filters.tz).iloc[0])


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["name_text"] = [t("sla.all_platforms") if pd.isna(n) else shown_value(n) for n in frame["name"]]
    frame["uptime_verdict"] = [verdict(f) for f in frame["uptime_ok"]]
    frame["response_verdict"] = [verdict(f) for f in frame["response_ok"]]
    frame["verdict"] = [verdict(f) for f in frame["compliant"]]
    for column in ("downtime_minutes", "budget_minutes", "budget_left_minutes"):
        frame[f"{column}_text"] = [minutes(v) for v in frame[column]]
    frame["runs_out"] = [runs_out(row) for row in frame.itertuples()]
    if "month" in frame:
        frame["month_text"] = [m.strftime("%Y-%m") for m in frame["month"]]
    return frame


def columns(source: str, by_month: bool = False) -> dict:
    shown = {"month_text": TextColumn(t("col.month"))} if by_month else {}
    shown["name_text"] = TextColumn(t(f"sla.name.{source}"))
    if source != "answers":
        shown |= {"uptime": NumberColumn(t("col.uptime"), format="%.3f %%"),
                  "uptime_verdict": TextColumn(t("col.uptime_sla")),
                  "downtime_minutes_text": TextColumn(t("col.downtime")),
                  "budget_minutes_text": TextColumn(t("col.budget")),
                  "budget_left_minutes_text": TextColumn(t("col.budget_left")),
                  "burn_rate": NumberColumn(t("col.burn_rate"), format="%.2f×", help=t("sla.burn_help"))}
        if not by_month:
            shown |= {"current_burn_rate": NumberColumn(t("col.current_burn"), format="%.2f×", help=t("sla.current_burn_help")),
                      "runs_out": TextColumn(t("col.runs_out"))}
    shown |= {"p95_ms": NumberColumn(t("col.p95_ms_short"), format="%.0f"),
              "under_target_share": NumberColumn(t("col.under_target", target=fmt.duration_ms(targets.response_time_ms)),
                                                 format="%.2f %%"),
              "response_verdict": TextColumn(t("col.response_sla")),
              "verdict": TextColumn(t("col.compliant"))}
    return shown


def verdict_line(found) -> str:
    """One SLA's verdict as a Markdown line: a coloured badge, what it is, and the figures
    (names are escaped text)."""
    badge = t("sla.verdict.met") if found.met else t("sla.verdict.missed")
    target = (fmt.percent(targets.uptime_percent, 3) if found.sla == "availability"
              else fmt.duration_ms(targets.response_time_ms))
    shown = (lambda v: fmt.percent(v, 3)) if found.sla == "availability" else fmt.duration_ms
    worst = f" ({fmt.md_text(found.worst)})" if found.worst is not None else ""
    names = [f"{fmt.md_text(name)} ({shown(value)})" for name, value in found.missed[:MISSED_SHOWN]]
    if len(found.missed) > MISSED_SHOWN:
        names.append(t("sla.verdict.more", n=fmt.number(len(found.missed) - MISSED_SHOWN)))
    detail = t(f"sla.verdict.{found.sla}.{'missed' if found.missed else 'fine'}", value=shown(found.value),
               worst=worst, target=target, count=fmt.number(len(found.missed)), total=fmt.number(found.total),
               names=", ".join(names))
    return f"{badge} **{t(f'sla.verdict.{found.sla}.{found.source}')}**: {detail}"


def mark(met: bool | None) -> dict:
    """A tile's mark for a target: a green "met" or red "missed" chip, none when not measured."""
    if met is None:
        return {}
    return {"delta": t("sla.met") if met else t("sla.missed"), "delta_color": "green" if met else "red",
            "delta_arrow": "off"}


MISSED_SHOWN = 5
from_prometheus = service_metrics.answers_sla()  # the services' uptime from Prometheus's ``up``


def tracked(source: str) -> bool:
    return schema.has_table(SOURCE_TABLES[source]) or (source == "services" and from_prometheus)


with data.database_errors(database.config):
    # Both reads of the answers (the conversation rows: the heavy ones) first, one per connection.
    data.prefetch(url, filters, also=[
        (f"sla {source} {by_month}", lambda s=source, m=by_month: data.sla_compliance(url, filters, s, targets, m))
        for source in ("answers", "services", "integrations") for by_month in (False, True)
        if schema.has_table(SOURCE_TABLES[source]) and not (source == "services" and from_prometheus)])
    frames = {source: data.sla_compliance(url, filters, source, targets, False) for source in SOURCE_TABLES}
    services, answers = frames["services"], frames["answers"]
    found = verdicts(frames)
    with verdict_lines:
        st.markdown("  \n".join(verdict_line(v) for v in found) if found else t("sla.verdict.none"))
    marks = {(v.sla, v.source): v.met for v in found}
    with st.container(horizontal=True, gap="small"):
        if not services.empty:
            met = services["compliant"].fillna(False).astype(bool)
            st.metric(t("sla.tile.services_met"), f"{fmt.number(int(met.sum()))} / {fmt.number(len(services))}",
                      border=True, width=220, help=t("sla.tile.services_met.help", target=fmt.percent(targets.uptime_percent, 3)),
                      **mark(bool(met.all())))
        checked = [f for f in (services, frames["integrations"]) if not f.empty and f["uptime"].notna().any()]
        if checked:
            checked = pd.concat(checked, ignore_index=True)
            worst = checked.loc[checked["uptime"].idxmin()]
            # The name rides in the delta's chip (plain text, no arrow, no colour).
            st.metric(t("sla.tile.lowest_uptime"), fmt.percent(worst["uptime"], 3), delta=fmt.plain_text(worst["name"]),
                      delta_color="off", delta_arrow="off", border=True, width=220,
                      help=t("sla.tile.lowest_uptime.help", name=fmt.md_text(worst["name"])))
        if not services.empty:
            tightest = services.sort_values("budget_left_minutes").iloc[0]
            # Wider: a spent budget reads "−46 мин 47 с", which 220 px cut.
            st.metric(t("sla.tile.budget_left"), minutes(tightest["budget_left_minutes"]), border=True, width=270,
                      help=t("sla.tile.budget_left.help", name=fmt.md_text(tightest["name"]),
                             budget=minutes(tightest["budget_minutes"])))
        overall = answers[answers["name"].isna()] if not answers.empty else answers
        if not overall.empty and pd.notna(overall["p95_ms"].iloc[0]):
            st.metric(t("sla.tile.answers_p95"), fmt.duration_ms(overall["p95_ms"].iloc[0]), border=True, width=220,
                      help=t("sla.tile.answers_p95.help", target=fmt.duration_ms(targets.response_time_ms)),
                      **mark(marks.get(("response", "answers"))))
            st.metric(t("sla.tile.answers_under"), fmt.percent(overall["under_target_share"].iloc[0], 1), border=True,
                      width=220, help=t("sla.tile.answers_under.help", target=fmt.duration_ms(targets.response_time_ms)))

    for source, frame in frames.items():
        st.header(t(f"sla.section.{source}"))
        st.caption(t("sla.section.services.prometheus") if source == "services" and from_prometheus
                   else t(f"sla.section.{source}.note"))
        if not tracked(source):
            not_tracked(SOURCE_TABLES[source])
            continue
        if frame.empty:
            st.info(t("chart.no_data"), icon=":material/bar_chart:")
            continue
        shown = readable(frame)
        table(shown, columns(source), f"sla_{source}", f"sla_{source}")
        if source != "answers":
            st.subheader(t("sla.budget_chart", target=fmt.percent(targets.uptime_percent, 3)))
            chart(charts.budget_bars(shown.assign(name=shown["name_text"]), t("sla.minutes"),
                                     {p: t(f"sla.budget.{p}") for p in ("used", "left", "over")}, t("unit.min")),
                  False, f"budget_{source}")

    st.header(t("sla.per_month"))
    tabs = st.tabs([t(f"sla.section.{source}") for source in SOURCE_TABLES], key="sla_tab", bind="query-params")
    for tab, source in zip(tabs, SOURCE_TABLES):
        with tab:
            if not tracked(source):
                not_tracked(SOURCE_TABLES[source])
                continue
            monthly = data.sla_compliance(url, filters, source, targets, True)
            if monthly.empty:
                st.info(t("chart.no_data"), icon=":material/bar_chart:")
                continue
            shown = readable(monthly)
            table(shown, columns(source, by_month=True), f"sla_{source}_monthly", f"sla_{source}_monthly")

with st.expander(t("sla.definitions"), icon=":material/menu_book:"):
    st.markdown(t("sla.definitions.text", target=fmt.percent(targets.uptime_percent, 3),
                  budget=minutes((100 - targets.uptime_percent) / 100 * 30 * 24 * 60),
                  response=fmt.duration_ms(targets.response_time_ms)))
