"""AI performance: latency per model, intent accuracy with confusion and calibration, answer
quality, escalations, and tokens and cost tied to outcomes."""

import pandas as pd
import streamlit as st

from data_access import ai
from dashboard import charts, context, data, format as fmt, names
from dashboard.i18n import t
from dashboard.tables import (chart, export_link, messages_links, not_tracked, rate_by, rate_over_time, shown_value,
                              table, when)
from dashboard.tiles import kpi_section, page_title

KEYS = ("messages", "avg_response_time", "p95_response_time", "intent_accuracy", "helpful_answers",
        "escalation_rate", "tokens", "cost")
NumberColumn = st.column_config.NumberColumn
TextColumn = st.column_config.TextColumn
CM = "conversation_metrics"


def money_columns(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """Exact Decimal amounts as floats for display (formatting to cents or 1/10,000 USD is exact)."""
    shown = frame.copy()
    for column in columns:
        shown[column] = [None if v is None else float(v) for v in shown[column]]
    return shown


def usd(label_key: str, places: int = 2) -> dict:
    return NumberColumn(t(label_key), format=f"$%.{places}f")


database, filters = context.current()
schema, url = database.schema, database.url
unit = data.trend_bucket(filters)
time_title = t("chart.time", tz=filters.tz)
has = lambda column: schema.has(CM, column)  # noqa: E731

page_title("page.ai_performance", filters)
rules = data.rule_set()  # the threshold lines are the alert rule's and the SLA target of alerts.yml
alert_ms = rules.threshold("p95_response_time")
latency_lines = ([(alert_ms / 1000, t("ai.alert_line", value=fmt.threshold(alert_ms / 1000)))] if alert_ms is not None
                 else []) + [(rules.sla.response_time_ms / 1000,
                              t("ai.sla_line", value=fmt.threshold(rules.sla.response_time_ms / 1000)))]

with data.database_errors(database.config):
    labelled = has("expected_intent")
    panels = data.Panels(
        url, filters,
        models=data.Panel("breakdown", ("ai_model",), has("ai_model")),
        intents=data.Panel("breakdown", ("intent",)),
        latency=data.Panel("latency_percentiles", (unit,)),
        latency_bins=data.Panel("latency_histogram"),
        accuracy=data.Panel("accuracy_trend", (unit,), labelled),
        accuracy_by_intent=data.Panel("accuracy_by_intent", shown=labelled),
        confusion=data.Panel("confusion_pairs", shown=labelled),
        calibration=data.Panel("calibration", shown=labelled),
        helpful=data.Panel("helpful_trend", (unit,), has("helpful")),
        outcomes=data.Panel("dialog_outcomes_trend", (unit,), has("escalated")),
        escalations=data.Panel("latest_escalations", shown=has("escalated")),
        usage=data.Panel("usage_by_model", (unit,)),
        cost_by_model=data.Panel("cost_outcomes", ("ai_model",)),
        cost_by_platform=data.Panel("cost_outcomes", ("platform",)))
    panels.prefetch(kpi_keys=tuple(KEYS))
    kpi_section(url, filters, (KEYS[:4], KEYS[4:]))
    models = panels["models"] if has("ai_model") else None
    intents = names.with_intent_names(panels["intents"])

    st.header(t("ai.latency"))
    percentile = st.segmented_control(t("ai.percentile"), ["p50", "p95", "p99"], default="p95",
                                      key="ai_percentile", required=True) or "p95"
    latency = panels["latency"].copy()
    latency["model"] = latency["model"].map(shown_value)
    left, right = st.columns([3, 2])
    with left:
        st.subheader(t("ai.latency_trend", percentile=percentile, bucket=t(f"bucket.{unit}")))
        latency["seconds"] = latency[percentile] / 1000.0
        chart(None if latency.empty else charts.lines(
            latency, "bucket", "seconds", time_title, t("ai.seconds"), series="model", y_suffix=" " + t("unit.s"),
            hover_format=".2f", legend_title=t("col.model"),
            thresholds=latency_lines),
            latency.empty, "latency_trend")
    with right:
        st.subheader(t("ai.latency_distribution"))
        histogram = panels["latency_bins"].copy()
        histogram["bin_label"] = [t(f"bin.latency.{int(i)}") for i in histogram["bin"]]
        histogram["model"] = histogram["model"].map(shown_value)
        chart(None if histogram.empty else charts.bars(
            histogram, "bin_label", "share", t("ai.response_time"), t("ai.share_of_messages"),
            color="model", y_suffix=" %", hover_format=".1f", legend_title=t("col.model")),
            histogram.empty, "latency_histogram")

    st.header(t("kpi.intent_accuracy.label"))
    if not has("expected_intent"):
        not_tracked("conversation_metrics.expected_intent")
    else:
        st.caption(t("ai.labelled_note"))
        left, right = st.columns(2)
        with left:
            st.subheader(t("business.over_time", bucket=t(f"bucket.{unit}")))
            trend = panels["accuracy"]
            rate_over_time(trend, "accuracy", t("kpi.intent_accuracy.label"), time_title, "accuracy_trend")
        with right:
            st.subheader(t("ai.accuracy_by_intent"))
            by_intent = names.with_intent_names(panels["accuracy_by_intent"])
            if by_intent.empty:
                st.info(t("chart.no_data"))
            else:
                table(by_intent, {"intent": TextColumn(t("col.expected_intent")),
                                  "labelled": NumberColumn(t("col.labelled"), format="localized"),
                                  "correct": NumberColumn(t("col.correct"), format="localized"),
                                  "accuracy": NumberColumn(t("kpi.intent_accuracy.label"), format="%.1f %%")},
                      "accuracy_by_intent", "accuracy_by_intent", height=320)
        left, right = st.columns(2)
        with left:
            st.subheader(t("ai.confusion"))
            pairs = panels["confusion"]
            matrix = ai.confusion_matrix(pairs) if not pairs.empty else None
            if matrix is not None:
                matrix = matrix.rename(index=names.intent, columns=names.intent)
            chart(None if matrix is None else charts.heatmap(
                matrix, t("ai.recognised"), t("ai.expected"), t("ai.confusion_hover")),
                matrix is None, "confusion")
        with right:
            st.subheader(t("ai.calibration"))
            calibration = panels["calibration"].copy()
            calibration["bucket"] = [f"{fmt.localized(f'{lo:.1f}')}–{fmt.localized(f'{hi:.1f}')}"
                                     for lo, hi in zip(calibration["lower"], calibration["upper"])]
            chart(charts.calibration_chart(calibration, t("ai.confidence"), t("kpi.intent_accuracy.label"),
                                           t("ai.mean_confidence"), t("ai.share_of_messages")),
                  calibration["labelled"].fillna(0).sum() == 0, "calibration")
            st.caption(t("ai.calibration_note"))

    st.header(t("ai.quality"))
    if not has("helpful"):
        not_tracked("conversation_metrics.helpful")
    else:
        helpful = panels["helpful"]
        left, mid, right = st.columns([2, 1, 1])
        with left:
            st.subheader(t("ai.helpful_trend", bucket=t(f"bucket.{unit}")))
            rate_over_time(helpful, "helpful_share", t("kpi.helpful_answers.label"), time_title, "helpful_trend",
                           series="model", legend_title=t("col.model"))
        for column, frame, dimension in ((mid, models, "ai_model"), (right, intents, "intent")):
            with column:
                st.subheader(t(f"ai.by_{dimension}"))
                rate_by(frame, dimension, "helpful_share", t("kpi.helpful_answers.label"), f"helpful_{dimension}")

    st.header(t("ai.escalations"))
    if not has("escalated"):
        not_tracked("conversation_metrics.escalated")
    else:
        outcomes = panels["outcomes"]
        left, mid, right = st.columns([2, 1, 1])
        with left:
            st.subheader(t("business.over_time", bucket=t(f"bucket.{unit}")))
            rate_over_time(outcomes, "escalation_rate", t("kpi.escalation_rate.label"), time_title,
                           "escalation_trend")
        for column, frame, dimension in ((mid, models, "ai_model"), (right, intents, "intent")):
            with column:
                st.subheader(t(f"ai.by_{dimension}"))
                rate_by(frame, dimension, "escalation_rate", t("kpi.escalation_rate.label"), f"escalation_{dimension}")
        st.subheader(t("ai.handed_over"))
        handed = intents.dropna(subset=["escalated"]).sort_values(["escalated", "intent"], ascending=[False, True])
        handed = handed[handed["escalated"] > 0].head(10)
        if handed.empty:
            st.info(t("ai.no_escalations"))
        else:
            table(handed, {"intent": TextColumn(t("col.intent")),
                           "escalated": NumberColumn(t("col.escalated_dialogs"), format="localized"),
                           "dialogs": NumberColumn(t("col.dialogs"), format="localized"),
                           "escalation_rate": NumberColumn(t("kpi.escalation_rate.label"), format="%.1f %%")},
                  "handed_over", "handed_over")
        st.subheader(t("ai.latest_escalations"))
        escalations = names.with_intent_names(panels["escalations"])
        if escalations.empty:
            st.info(t("ai.no_escalations"))
        else:
            columns = {"timestamp": when(t("col.time")),
                       **{c: TextColumn(t(label)) for c, label in (("session_id", "col.dialog"), ("user_id", "col.user"),
                                                                  ("platform", "col.platform"), ("intent", "col.intent"))
                          if c in escalations}}
            links = messages_links(escalations)
            if links is not None:
                escalations = escalations.assign(open=links)
                columns["open"] = st.column_config.LinkColumn(t("col.open"), display_text=t("business.open_messages"))
            table(escalations, columns, "latest_escalations", "latest_escalations")

    st.header(t("ai.cost"))
    usage = panels["usage"]
    left, right = st.columns(2)
    with left:
        st.subheader(t("ai.cost_per_bucket", bucket=t(f"bucket.{unit}")))
        chart(None if usage.empty else charts.stacked_bars(usage, "bucket", "cost_usd", "model", time_title,
                                                           t("ai.usd"), t("col.model"), hover_format="$,.2f"),
              usage.empty, "cost_per_day")
    with right:
        st.subheader(t("ai.tokens_per_bucket", bucket=t(f"bucket.{unit}")))
        chart(None if usage.empty else charts.stacked_bars(usage, "bucket", "tokens", "model", time_title,
                                                           t("kpi.tokens.label"), t("col.model")),
              usage.empty, "tokens_per_day")
    st.subheader(t("ai.cost_per_message"))
    per_message = usage.assign(cost_per_message_usd=[None if v is None else float(v) for v in usage["cost_per_message"]])
    chart(None if usage.empty else charts.lines(per_message, "bucket", "cost_per_message_usd", time_title, t("ai.usd"),
                                                series="model", hover_format="$.4f", legend_title=t("col.model")),
          usage.empty, "cost_per_message")

    st.subheader(t("ai.cost_outcomes"))
    st.caption(t("ai.cost_outcomes_note"))
    outcome_columns = {"dialogs": NumberColumn(t("col.dialogs"), format="localized"), "cost": usd("col.cost"),
                       "cost_per_dialog": usd("col.cost_per_dialog", 4),
                       "cost_per_resolved": usd("col.cost_per_resolved", 4),
                       "cost_per_conversion": usd("col.cost_per_conversion", 4),
                       "cost_per_escalated": usd("col.cost_per_escalated", 4)}
    money = ["cost", "cost_per_dialog", "cost_per_resolved", "cost_per_conversion", "cost_per_escalated"]
    by_model_tab, by_platform_tab = st.tabs([t("ai.by_ai_model"), t("ai.by_platform")], key="cost_tab",
                                            bind="query-params")
    for tab, dimension, panel in ((by_model_tab, "ai_model", "cost_by_model"),
                                  (by_platform_tab, "platform", "cost_by_platform")):
        with tab:
            outcomes_cost = panels[panel]
            if outcomes_cost.empty:
                st.info(t("chart.no_data"))
            else:
                table(money_columns(outcomes_cost, money), {dimension: TextColumn(t(f"col.{dimension}")),
                                                            **outcome_columns},
                      f"cost_outcomes_{dimension}", f"cost_outcomes_{dimension}")

    st.header(t("ai.model_comparison"))
    if models is None:
        not_tracked("conversation_metrics.ai_model")
    elif models.empty:
        st.info(t("chart.no_data"))
    else:
        per_model = panels["cost_by_model"][["ai_model", "cost_per_resolved"]]
        comparison = money_columns(models.merge(per_model, on="ai_model", how="left"), ["cost", "cost_per_resolved"])
        # In seconds, as the tiles and the latency chart above.
        comparison = comparison.assign(avg_response_s=comparison["avg_response_ms"] / 1000,
                                       p95_response_s=comparison["p95_response_ms"] / 1000)
        st.caption(t("ai.comparison_note"))
        table(comparison, {"ai_model": TextColumn(t("col.ai_model")),
                           "messages": NumberColumn(t("col.messages"), format="localized"),
                           "avg_response_s": NumberColumn(t("col.avg_s"), format="%.2f"),
                           "p95_response_s": NumberColumn(t("col.p95_s"), format="%.2f"),
                           "intent_accuracy": NumberColumn(t("kpi.intent_accuracy.label"), format="%.1f %%"),
                           "helpful_share": NumberColumn(t("kpi.helpful_answers.label"), format="%.1f %%"),
                           "escalation_rate": NumberColumn(t("kpi.escalation_rate.label"), format="%.1f %%"),
                           "cost": usd("col.cost"),
                           "cost_per_resolved": usd("col.cost_per_resolved", 4)},
              "model_comparison", "model_comparison")

export_link()
