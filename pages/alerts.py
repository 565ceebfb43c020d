"""Alerts: the rules of alerts.yml evaluated over the range — what is firing, what fired when,
and each rule's metric against its threshold."""

import pandas as pd
import streamlit as st

from data_access import alert_watch, alerts
from data_access.alert_rules import METRICS
from data_access.business import to_local
from dashboard import auth, charts, context, data, format as fmt, why
from dashboard.i18n import current_language, t, tn
from dashboard.tables import chart, table, when
from dashboard.tiles import page_title

SILENCE_HOURS = 2


def silence(am_url: str, labels: dict[str, str]) -> None:
    """Silence one firing alert in Alertmanager for ``SILENCE_HOURS``, as this user (``createdBy``),
    through its API: the role is checked here, and the silence audited."""
    principal = auth.current()
    if not principal.may("silence"):
        auth.audit("silence_refused", principal, labels=labels)
        return
    try:
        made = alert_watch.create_silence(am_url, labels, principal.who, t("alerts.am.silence_comment"), SILENCE_HOURS)
    except alert_watch.AlertmanagerUnavailable as error:
        auth.audit("silence", principal, labels=labels, hours=SILENCE_HOURS, failed=str(error))
        st.toast(t("alerts.am.silence_failed"), icon=":material/error:")
        return
    auth.audit("silence", principal, labels=labels, hours=SILENCE_HOURS, silence=made)
    data.alertmanager_states.clear()
    st.toast(t("alerts.am.silenced", hours=SILENCE_HOURS), icon=":material/notifications_off:")

TextColumn = st.column_config.TextColumn

database, filters = context.current()
url = database.url
rules = data.rule_set()
time_title = t("chart.time", tz=filters.tz)
now_utc = pd.Timestamp.now(tz="UTC").tz_localize(None)
range_end_utc = pd.Timestamp(filters.utc_bounds()[1])
live = range_end_utc >= now_utc

page_title("page.alerts", filters)


def shown(value: float, rule) -> str:
    """A metric value with its unit; for a baseline rule, the deviation from normal."""
    if pd.isna(value):
        return "—"
    if rule.baseline_weeks:
        return t("alerts.vs_normal", change=fmt.localized(f"{value:+.0f}"))
    unit = METRICS[rule.metric].unit
    if unit == "reviews":  # a count: "1 review", "3 отзыва", "5 отзывов"
        return tn("alerts.n.negative_reviews", round(value))
    decimals = 0 if unit == "ms" else 2
    return f"{fmt.number(value, decimals)} {t(f'alerts.unit.{rule.metric}')}".strip()


def condition(rule) -> str:
    text = f"{rule.operator} {shown(rule.threshold, rule)}"
    if rule.for_:
        text = t("alerts.condition", condition=text, duration=fmt.span(rule.for_))
    if rule.clear is not None:
        text += " · " + t("alerts.clears", value=shown(rule.clear, rule))
    return text


if rules.problems:
    listed = "\n".join(f"- {p}" for p in rules.problems)
    st.warning(t("alerts.problems", file=rules.path.rsplit("/", 1)[-1] or "alerts.yml", count=len(rules.rules))
               + "\n\n" + listed, icon=":material/rule:")

if not rules.rules:
    st.info(t("alerts.no_rules"), icon=":material/notifications_off:")
else:
    by_name = {rule.name: rule for rule in rules.rules}
    title = {rule.name: rule.title_in(current_language()) for rule in rules.rules}  # the names people read
    with data.database_errors(database.config):
        histories = data.alert_histories(url, filters, rules)
        history = alerts.history_frame(histories)
        firing = history[history["firing"]]
        pending = [(h.rule, key, since) for h in histories for key, since in h.pending.items()]
        end_local = min(pd.Timestamp(filters.end), to_local(pd.Series([now_utc]), filters.tz).iloc[0])

        st.subheader(t("alerts.firing_now") if live else t("alerts.firing_at_end"))
        with st.container(horizontal=True, gap="small"):
            st.metric(t("alerts.tile.firing"), fmt.number(len(firing)), border=True, width=170,
                      help=t("alerts.tile.firing.help"))
            st.metric(t("alerts.tile.pending"), fmt.number(len(pending)), border=True, width=170,
                      help=t("alerts.tile.pending.help"))
            st.metric(t("alerts.tile.in_range"), fmt.number(len(history)), border=True, width=170,
                      help=t("alerts.tile.in_range.help"))
            st.metric(t("alerts.tile.critical"), fmt.number(int((history["severity"] == "critical").sum())),
                      border=True, width=170, help=t("alerts.tile.critical.help"))
        if firing.empty:
            st.success(t("alerts.none_firing"), icon=":material/check_circle:")
        am_url = data.alertmanager_url() if live else None
        am_states = data.alertmanager_states(am_url) if am_url else None
        if am_url and am_states is None and not firing.empty:
            st.caption(t("alerts.am.unreachable"))
        for row in firing.itertuples():
            rule = by_name[row.rule]
            # Firing since it fired; its condition held from ``since`` (the pending time before it).
            since = to_local(pd.Series([row.fired_at]), filters.tz).iloc[0]
            held = to_local(pd.Series([row.since]), filters.tz).iloc[0]
            icon = ":material/error:" if rule.severity == "critical" else ":material/warning:"
            message = t("alerts.firing_line", severity=t(f"alerts.severity.{rule.severity}"), rule=fmt.md_text(title[rule.name]),
                        where=f" · {fmt.md_text(row.key)}" if row.key else "", since=fmt.moment(since),
                        held=fmt.moment(held), duration=fmt.duration_s(max((end_local - since).total_seconds(), 0)),
                        value=shown(row.last, rule), threshold=condition(rule))
            found = data.alert_driver(url, rule, row.key or None, min(range_end_utc, now_utc).floor(f"{rule.step}s").to_pydatetime())
            if found is not None and found.segments and found.delta:
                message += "\n\n" + t("alerts.driver", window=fmt.span(max(rule.window, rule.step)),
                                        sentence=why.sentence(found))
            (st.error if rule.severity == "critical" else st.warning)(message + (f"\n\n{rule.summary_in(current_language())}" if rule.summary else ""),
                                                                      icon=icon)
            if am_states is not None:
                labels = alert_watch.labels_for(rule, row.key)
                state = am_states.get(alert_watch.fingerprint(labels), "absent")
                with st.container(horizontal=True, gap="small", vertical_alignment="center"):
                    st.caption(t("alerts.am.state", state=t(f"alerts.am.state.{state}")))
                    if state != "silenced" and auth.current().may("silence"):
                        st.button(t("alerts.am.silence", hours=SILENCE_HOURS), icon=":material/notifications_off:",
                                  type="tertiary", key=f"silence_{alert_watch.fingerprint(labels)}",
                                  on_click=silence, args=(am_url, labels))
        for rule, key, since in pending:
            since_local = to_local(pd.Series([since]), filters.tz).iloc[0]
            st.info(t("alerts.pending_line", rule=fmt.md_text(title[rule.name]), where=f" · {fmt.md_text(key)}" if key else "",
                      since=fmt.moment(since_local), duration=fmt.span(rule.for_)),
                    icon=":material/hourglass_top:")

        st.header(t("alerts.timeline"))
        if history.empty:
            st.info(t("alerts.none_in_range"), icon=":material/check_circle:")
        else:
            shown_history = history.copy()
            for column in ("since", "fired_at", "resolved_at"):
                shown_history[column] = to_local(shown_history[column], filters.tz)
            shown_history["until"] = shown_history["resolved_at"].fillna(end_local)
            shown_history["row"] = [f"{title.get(r, r)} · {k}" if k else title.get(r, r)
                                    for r, k in zip(shown_history["rule"], shown_history["key"])]
            shown_history["resolved_text"] = [t("alerts.still_firing") if pd.isna(r) else fmt.moment(r)
                                              for r in shown_history["resolved_at"]]
            chart(charts.alert_timeline(shown_history, time_title,
                                        {s: t(f"alerts.severity.{s}") for s in charts.SEVERITY_COLORS},
                                        pd.Timestamp(filters.start), pd.Timestamp(filters.end)),
                  False, "alert_timeline")

            st.subheader(t("alerts.history"))
            shown_history["severity_text"] = [t(f"alerts.severity.{s}") for s in shown_history["severity"]]
            shown_history["duration"] = [fmt.duration_s((u - s).total_seconds())
                                         for s, u in zip(shown_history["since"], shown_history["until"])]
            shown_history["peak_text"] = [shown(v, by_name[r]) for v, r in zip(shown_history["peak"], shown_history["rule"])]
            shown_history["threshold_text"] = [condition(by_name[r]) for r in shown_history["rule"]]
            shown_history = shown_history.sort_values("fired_at", ascending=False)
            shown_history["rule_text"] = [title.get(r, r) for r in shown_history["rule"]]
            table(shown_history, {"severity_text": TextColumn(t("col.severity")), "rule_text": TextColumn(t("col.rule")),
                                  "key": TextColumn(t("col.label")), "since": when(t("col.active_since")),
                                  "fired_at": when(t("col.fired_at")), "resolved_text": TextColumn(t("col.resolved_at")),
                                  "duration": TextColumn(t("col.duration")), "peak_text": TextColumn(t("col.peak")),
                                  "threshold_text": TextColumn(t("col.condition"))},
                  "alert_history", "alert_history", highlight=shown_history["firing"],
                  cell_colors={"severity_text": {t(f"alerts.severity.{s}"): c for s, c in charts.SEVERITY_COLORS.items()}})

        st.header(t("alerts.rules"))
        # Where the rules are set speaks to whoever may change the setup, not to every reader.
        st.caption(t("alerts.rules_note") + (" " + t("alerts.rules_file", file=rules.path.rsplit("/", 1)[-1] or "alerts.yml")
                                             if auth.current().may("setup") else ""))
        for item in histories:
            rule = item.rule
            metric = METRICS[rule.metric]
            st.subheader(f"{fmt.md_text(title[rule.name])} · {t(f'alerts.severity.{rule.severity}')}")
            split = " (" + t(f"alerts.by.{rule.by}") + ")" if rule.by else ""
            st.caption(" · ".join(part for part in (
                rule.summary_in(current_language()), t(f"alerts.metric.{rule.metric}") + split,
                condition(rule), t("alerts.step", step=fmt.span(rule.step), window=fmt.span(rule.window)))
                if part))
            if not database.schema.has_table(metric.table):
                st.info(t("panel.not_tracked", what=metric.table), icon=":material/visibility_off:")
                continue
            values = item.chart.copy()
            if values.empty:
                st.info(t("alerts.too_few", n=fmt.number(rule.min_count)) if rule.min_count else t("chart.no_data"),
                        icon=":material/bar_chart:")
                continue
            values["bucket"] = to_local(values["bucket"], filters.tz)
            own = item.alerts
            intervals = pd.DataFrame({"start": to_local(pd.Series([a.since for a in own], dtype="datetime64[us]"), filters.tz),
                                      "end": to_local(pd.Series([a.resolved_at or range_end_utc for a in own],
                                                                dtype="datetime64[us]"), filters.tz)})
            # Times in seconds, as every other time on the pages (ms would read "10k ms").
            scale = 1000.0 if metric.unit == "ms" and not rule.baseline_weeks else 1.0
            suffix = {"%": " %", "ms": " " + t("unit.s") if scale > 1 else ""}.get(metric.unit, "")
            values["value"] = values["value"] / scale
            if rule.baseline_weeks:
                values["baseline"] = values["baseline"] * (1 + rule.threshold / 100.0)
                thresholds = []
            else:
                thresholds = [(rule.threshold / scale, t("alerts.threshold_line"))]
                if rule.clear is not None:
                    thresholds.append((rule.clear / scale, t("alerts.clear_line")))
            chart(charts.rule_chart(values, intervals, time_title, t(f"alerts.metric.{rule.metric}"), thresholds,
                                    t("alerts.firing_band"), y_suffix=suffix,
                                    baseline_label=t("alerts.alert_level") if rule.baseline_weeks else None,
                                    legend_title=t(f"col.{rule.by}") if rule.by else None),
                  False, f"rule_{rule.name}")
            if rule.metric == "negative_reviews" and own:
                found = data.query("review_candidates", url, filters, rules.negative_keywords)
                inside = pd.Series(False, index=found.index)
                for alert in own:  # the reviews of the hours the alert was active
                    until = pd.Timestamp(alert.resolved_at or range_end_utc)
                    inside |= (found["timestamp"] >= alert.since) & (found["timestamp"] < until)
                found = found[inside].copy()
                found["timestamp"] = to_local(found["timestamp"], filters.tz)
                st.markdown(t("alerts.reviews", count=fmt.number(len(found))))
                table(found.sort_values("timestamp", ascending=False),
                      {"timestamp": when(t("col.time")), "platform": TextColumn(t("col.platform")),
                       "score": st.column_config.NumberColumn(t("col.score"), format="%d"),
                       "words": TextColumn(t("col.words")), "comment": TextColumn(t("col.comment"), width="large")},
                      "negative_reviews", "negative_reviews", height=300)
