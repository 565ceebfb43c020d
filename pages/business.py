"""Business: dialogs, intents and problems, CSAT and NPS trends, conversion, resolution, repeats."""

import pandas as pd
import streamlit as st

from data_access.business import COMMENT_ORDERS, MIN_SAMPLE, UNHAPPY_RATING
from dashboard import auth, charts, context, data, files, format as fmt, names
from dashboard.filters import download_name, from_url, to_url
from dashboard.i18n import current_language, t
from dashboard.tables import (chart, export_link, messages_link, messages_links, not_tracked, rate_by, rate_over_time,
                              table, when)
from dashboard.tiles import kpi_section, page_title

COMMENTS_PAGE = 50
KEYS = ("dialogs", "csat", "avg_rating", "nps", "conversion_rate", "median_resolution_time", "automated_resolution_rate",
        "first_contact_resolution", "repeat_contact_rate")
NumberColumn = st.column_config.NumberColumn
TextColumn = st.column_config.TextColumn

database, filters = context.current()
schema = database.schema
url = database.url
page_title("page.business", filters)
rating_line = data.rule_set().threshold("avg_rating")  # alerts.yml's rule: editing it moves the line

def comment_order() -> str:
    """The survey comments' order (a key of ``business.COMMENT_ORDERS``), kept in the URL."""
    from_url("comments_order", COMMENT_ORDERS, "newest")
    return st.session_state["comments_order"] if st.session_state["comments_order"] in COMMENT_ORDERS else "newest"


def problem_intents(intent_codes: pd.DataFrame, metric: str, ascending: bool, sample: str) -> pd.DataFrame:
    """The intents worse than the average on ``metric``, the costliest first."""
    ranked = data.problem_intents(intent_codes, metric, ascending, sample=sample)
    return ranked[ranked["impact"] > 0]


def unhappy_query(ranked: pd.DataFrame) -> pd.DataFrame:
    """The unhappy dialogs of the intent chosen, else of the worst of ``ranked`` (the CSAT
    problem intents): the panel below reads them, the prefetch runs them beside the other panels."""
    codes = list(ranked["intent"])
    chosen = st.session_state.get("unhappy_intent")
    code = chosen if chosen in codes else (codes[0] if codes else None)
    return data.query("unhappy_dialogs", url, filters, code) if code is not None else pd.DataFrame()


def unhappy_dialogs(codes: list[str]) -> None:
    """The latest dialogs rated 1–2 of one problem intent (the worst by default), each a link to
    its messages."""
    st.markdown("**" + t("business.unhappy", n=UNHAPPY_RATING) + "**")
    code = st.selectbox(t("col.intent"), codes, key="unhappy_intent", width=300,
                        format_func=lambda c, lang=current_language(): names.intent(c, lang))
    found = data.query("unhappy_dialogs", url, filters, code)
    if found.empty:
        st.info(t("business.no_unhappy", n=UNHAPPY_RATING))
        return
    st.caption(t("business.unhappy_shown", shown=fmt.number(len(found)), total=fmt.number(int(found["total"].iloc[0]))))
    columns = {}
    if schema.has("conversation_metrics", "session_id"):  # else a dialog is a user's day: no dialog to open
        # First, so that it stays on a phone's screen (a wide table's first column is pinned).
        found = found.assign(link=[messages_link(dialog=d) for d in found["dialog"]])
        columns["link"] = st.column_config.LinkColumn(t("col.dialog"), display_text=r"dialog=([^&]*)$")
    columns |= {"started": when(t("col.dialog_started")), "platforms": TextColumn(t("col.platforms")),
                "messages": NumberColumn(t("col.messages"), format="localized"),
                "escalated": st.column_config.CheckboxColumn(t("col.escalated")),
                "resolved": st.column_config.CheckboxColumn(t("col.resolved"))}
    table(found, columns, "unhappy_dialogs", "unhappy_dialogs")


with data.database_errors(database.config):
    unit = data.trend_bucket(filters)
    by_platform_now = bool(st.session_state.get("business_by_platform", False))
    nps_tracked = schema.has_table("nps_responses")
    panels = data.Panels(
        url, filters,
        volume=data.Panel("dialogs_by_platform"),
        intents=data.Panel("breakdown", ("intent",)),
        csat=data.Panel("csat_trend", (unit, by_platform_now)),
        ratings=data.Panel("rating_distribution", (by_platform_now,)),
        nps=data.Panel("nps_trend", (unit,), nps_tracked),
        comments=data.Panel("nps_comments", (bool(st.session_state.get("business_detractors", False)), COMMENTS_PAGE,
                                             COMMENTS_PAGE * (int(st.session_state.get("comments_page") or 1) - 1),
                                             comment_order()),
                            nps_tracked),
        comment_count=data.Panel("nps_comment_count", (bool(st.session_state.get("business_detractors", False)),),
                                 nps_tracked),
        outcomes=data.Panel("dialog_outcomes_trend", (unit,)),
        conversion=data.Panel("conversion_by_platform", shown=schema.has("conversation_metrics", "converted")),
        resolution=data.Panel("resolution_histogram"),
        repeat_users=data.Panel("top_repeat_users"))
    panels.prefetch(kpi_keys=KEYS, also=[("unhappy dialogs", lambda: unhappy_query(
        problem_intents(panels["intents"], "csat", True, sample="ratings")))])
    kpi_section(url, filters, (KEYS[:4], KEYS[4:]))
    time_title = t("chart.time", tz=filters.tz)

    st.header(t("business.dialogs"))
    volume = panels["volume"]
    left, right = st.columns([2, 1])
    with left:
        st.subheader(t("overview.dialogs_chart", bucket=t(f"bucket.{data.bucket_for(filters)}")))
        chart(None if volume.empty else charts.stacked_bars(
            volume, "bucket", "dialogs", "platform", time_title, t("chart.dialogs"), t("chart.platform")),
            volume.empty, "dialogs_volume")
    with right:
        st.subheader(t("business.platform_split"))
        split = volume.groupby("platform", as_index=False)["dialogs"].sum().sort_values("dialogs", ascending=False)
        split["share"] = 100.0 * split["dialogs"] / max(int(split["dialogs"].sum()), 1)
        chart(None if split.empty else charts.bars(split, "platform", "dialogs", t("chart.platform"),
                                                   t("chart.dialogs"), horizontal=True),
              split.empty, "platform_split")

    st.header(t("business.intents"))
    intent_codes = panels["intents"]  # ranked by code; shown by name
    intents = names.with_intent_names(intent_codes)
    st.caption(t("business.intents_note", n=MIN_SAMPLE))
    intent_columns = {
        "intent": TextColumn(t("col.intent")), "messages": NumberColumn(t("col.messages"), format="localized"),
        "dialogs": NumberColumn(t("col.dialogs"), format="localized"),
        "ratings": NumberColumn(t("col.ratings"), format="localized"),
        "csat": NumberColumn(t("kpi.csat.label"), format="%.1f %%"),
        "avg_rating": NumberColumn(t("kpi.avg_rating.label"), format="%.2f"),
        "escalation_rate": NumberColumn(t("kpi.escalation_rate.label"), format="%.1f %%"),
        "resolution_rate": NumberColumn(t("col.resolution_rate"), format="%.1f %%"),
        "conversion_rate": NumberColumn(t("kpi.conversion_rate.label"), format="%.1f %%"),
    }
    if intents.empty:
        st.info(t("chart.no_data"))
    else:
        st.subheader(t("business.top_intents"))
        table(intents, intent_columns, "intents", "intents")
        st.subheader(t("business.problem_intents"))
        problems = [("csat", True, "ratings", "satisfaction_score", "business.worst_csat"),
                    ("escalation_rate", False, "dialogs", "escalated", "business.most_escalated"),
                    ("resolution_rate", True, "dialogs", "resolved", "business.least_resolved")]
        st.caption(t("business.problem_note"))
        for tab, (metric, ascending, sample, source, title) in zip(st.tabs(
                [t(p[4]) for p in problems], key="problem_tab", bind="query-params"), problems):
            with tab:
                ranked = problem_intents(intent_codes, metric, ascending, sample=sample)
                if not schema.has("conversation_metrics", source):
                    not_tracked(f"conversation_metrics.{source}")
                    continue
                if ranked.empty:
                    st.info(t("business.no_problem"))
                    continue
                columns = {"intent": TextColumn(t("col.intent")),
                           "impact": NumberColumn(t(f"business.impact.{metric}"), format="%.0f",
                                                  help=t(f"business.impact.{metric}.help")),
                           metric: intent_columns[metric], sample: intent_columns[sample]}
                if ranked["low_sample"].any():
                    ranked["sample_note"] = ranked["low_sample"].map({True: t("business.few", n=MIN_SAMPLE), False: ""})
                    columns["sample_note"] = TextColumn(t("col.note"))
                table(names.with_intent_names(ranked), columns, f"problem_{metric}", f"problem_{metric}")
                if metric == "csat":
                    unhappy_dialogs(list(ranked["intent"]))

    st.header(t("business.satisfaction"))
    by_platform = st.toggle(t("business.compare_platforms"), key="business_by_platform", bind="query-params")
    csat = panels["csat"]
    left, right = st.columns([2, 1])
    with left:
        st.subheader(t("business.csat_trend", bucket=t(f"bucket.{unit}")))
        chart(None if csat.empty else charts.csat_panels(
            csat, time_title, t("kpi.csat.label"), t("kpi.avg_rating.label"), rating_line,
            t("business.rating_threshold", value=fmt.threshold(rating_line or 0)), "platform" if by_platform else None), csat.empty, "csat_trend")
    with right:
        st.subheader(t("business.rating_distribution"))
        ratings = panels["ratings"]
        chart(None if ratings.empty else charts.bars(
            ratings, "score", "ratings", t("col.score"), t("col.ratings"),
            color="platform" if by_platform else None, legend_title=t("chart.platform")),
            ratings.empty, "rating_distribution")

    st.header(t("kpi.nps.label"))
    if not schema.has_table("nps_responses"):
        not_tracked("nps_responses")
    else:
        nps = panels["nps"]
        st.subheader(t("business.nps_trend", bucket=t(f"bucket.{unit}")))
        chart(None if nps.empty else charts.nps_mix(
            nps, time_title, {p: t(f"business.{p}") for p in ("promoters", "passives", "detractors")},
            t("kpi.nps.label")), nps.empty, "nps_trend")
        st.subheader(t("business.comments"))
        with st.container(horizontal=True, gap="medium", vertical_alignment="bottom"):
            detractors = st.toggle(t("business.detractors_only"), key="business_detractors", bind="query-params")
            # Sorted in the database, over every comment: a table's own sort would sort one page.
            order = st.selectbox(t("business.comments_order"), list(COMMENT_ORDERS), key="comments_order", width=240,
                                 format_func=lambda o, lang=current_language(): t(f"business.order.{o}", lang))
            to_url("comments_order", order)
        if filters.intents or filters.models:  # a survey carries its platform only
            st.caption(t("business.comments_unfiltered"))
        total = int(panels["comment_count"]["n"].iloc[0])
        pages = max(1, -(-total // COMMENTS_PAGE))
        if total > COMMENTS_PAGE:  # page through them all, never a silent cap
            st.number_input(t("business.comments_page", pages=fmt.number(pages), total=fmt.number(total)),
                            min_value=1, max_value=pages, step=1, key="comments_page")
        comments = names.with_intent_names(panels["comments"])
        if comments.empty:
            st.info(t("business.no_comments"))
        else:
            columns = {"timestamp": when(t("col.time")), "platform": TextColumn(t("col.platform")),
                       "score": NumberColumn(t("col.score")), "comment": TextColumn(t("col.comment"), width="large")}
            if "intent" in comments:  # the comment's dialog (data_access.business.comment_dialogs)
                columns["intent"] = TextColumn(t("col.dialog_intent"), help=t("business.comment_dialog_help"))
            links = messages_links(comments)
            if links is not None:
                comments = comments.assign(open=links)
                columns["open"] = st.column_config.LinkColumn(t("col.open"), display_text=t("business.open_messages"))
            table(comments, columns, "nps_comments", "nps_comments")
            labels = {k: v["label"] for k, v in columns.items() if k != "open"}
            files.link(t("business.all_comments", n=fmt.number(total)),
                       files.of_bytes(lambda: data.all_comments_csv(database.url, filters, detractors, labels, order)),
                       download_name("nps_comments_all", filters, "csv"), "text/csv", key="all_comments",
                       event="table_download", table="nps_comments_all", rows=total)

    outcomes = panels["outcomes"]
    st.header(t("kpi.conversion_rate.label"))
    if not schema.has("conversation_metrics", "converted"):
        not_tracked("conversation_metrics.converted")
    else:
        left, mid, right = st.columns(3)
        with left:
            st.subheader(t("business.over_time", bucket=t(f"bucket.{unit}")))
            rate_over_time(outcomes, "conversion_rate", t("kpi.conversion_rate.label"), time_title,
                           "conversion_trend")
        with mid:
            st.subheader(t("business.by_platform"))
            by_plat = panels["conversion"]
            chart(None if by_plat.empty else charts.bars(by_plat, "platform", "conversion_rate", t("chart.platform"),
                                                         t("kpi.conversion_rate.label"), y_suffix=" %", hover_format=".1f"),
                  by_plat.empty, "conversion_platform")
        with right:
            st.subheader(t("business.by_intent"))
            rate_by(intents, "intent", "conversion_rate", t("kpi.conversion_rate.label"), "conversion_intent")

    st.header(t("kpi.median_resolution_time.label"))
    left, right = st.columns(2)
    with left:
        st.subheader(t("business.resolution_distribution"))
        histogram = panels["resolution"].copy()
        histogram["bin"] = [t(f"bin.resolution.{i}") for i in range(len(histogram))]
        chart(charts.bars(histogram, "bin", "dialogs", t("col.resolution_time"), t("col.resolved_dialogs")),
              int(histogram["dialogs"].sum()) == 0, "resolution_histogram")
    with right:
        st.subheader(t("business.resolution_trend", bucket=t(f"bucket.{unit}")))
        resolved = outcomes.dropna(subset=["median_resolution_s"]).melt(
            id_vars=["bucket"], value_vars=["median_resolution_s", "p90_resolution_s"], var_name="series",
            value_name="seconds")
        resolved["minutes"] = resolved["seconds"] / 60.0
        resolved["text"] = resolved["seconds"].map(fmt.duration_s)
        resolved["series"] = resolved["series"].map({"median_resolution_s": t("business.median"),
                                                     "p90_resolution_s": t("business.p90")})
        chart(None if resolved.empty else charts.lines(resolved, "bucket", "minutes", time_title, t("col.minutes"),
                                                       series="series", text="text"),
              resolved.empty, "resolution_trend")

    st.header(t("kpi.repeat_contact_rate.label"))
    st.caption(t("business.repeat_note"))
    left, right = st.columns(2)
    with left:
        st.subheader(t("business.over_time", bucket=t(f"bucket.{unit}")))
        rate_over_time(outcomes, "repeat_rate", t("kpi.repeat_contact_rate.label"), time_title, "repeat_trend")
    with right:
        st.subheader(t("business.top_repeat_users"))
        users = panels["repeat_users"]
        if users.empty:
            st.info(t("business.no_repeats"))
        else:
            columns = {}
            if auth.current().may("user_ids"):  # a viewer's ids are masked: nothing to look up
                users = users.assign(open=[messages_link(user=u) for u in users["user_id"]])
                columns["open"] = st.column_config.LinkColumn(t("col.open"), display_text=t("business.open_messages"))
            table(users, {"user_id": TextColumn(t("col.user")),
                          "dialogs": NumberColumn(t("col.dialogs"), format="localized"),
                          "repeat_dialogs": NumberColumn(t("col.repeat_dialogs"), format="localized"),
                          "last_dialog": when(t("col.last_dialog")), **columns},
                  "repeat_users", "repeat_users")

export_link()
