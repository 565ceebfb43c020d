"""Overview: the headline KPIs across customers, AI and service, and dialogs per day."""

import streamlit as st

from dashboard import charts, context, data, headline, why
from dashboard.filters import comparison_period, local_time
from dashboard.i18n import t
from dashboard.tables import chart
from dashboard.tiles import compared_note, definitions, ignored_note, kpi_row, page_title

CUSTOMERS = ["dialogs", "csat", "nps", "escalation_rate", "conversion_rate"]
AI = ["avg_response_time", "cost"]
SERVICE = ["error_rate", "uptime"]
KEYS = tuple(CUSTOMERS + AI + SERVICE)

database, filters = context.current()
page_title("page.overview", filters)

with data.database_errors(database.config):
    rules = data.rule_set()
    panels = data.Panels(database.url, filters, volume=data.Panel("dialogs_by_platform"))
    panels.prefetch(kpi_keys=KEYS, also=headline.prefetch_calls(database.url, filters))
    headline.headline(database, filters)
    st.header(t("overview.period"))
    current = data.kpi_values(database.url, filters, KEYS)
    compared = comparison_period(filters)
    previous = data.kpi_values(database.url, compared, KEYS)
    st.subheader(t("overview.customers"))
    kpi_row(CUSTOMERS, current, previous, compared)
    left, right = st.columns(2)
    with left:
        st.subheader(t("overview.ai"))
        kpi_row(AI, current, previous, compared)
    with right:
        st.subheader(t("overview.service"))
        kpi_row(SERVICE, current, previous, compared)
    compared_note(compared)
    ignored_note(current)
    definitions(KEYS, current)
    why.offer(database.url, filters, compared, KEYS, current, previous)
    headline.period_sla(database, filters)

    frame = panels["volume"]
    unit = data.bucket_for(filters)
    st.subheader(t("overview.dialogs_chart", bucket=t(f"bucket.{unit}")))
    if frame.empty:
        st.info(t("chart.empty"))
    else:
        partial_from = charts.partial_bucket_start(local_time(filters.tz), unit)
        chart(charts.stacked_bars(frame, "bucket", "dialogs", "platform", t("chart.time", tz=filters.tz),
                                  t("chart.dialogs"), t("chart.platform"), partial_from=partial_from),
              False, "dialogs_by_platform")
        if frame["bucket"].max() >= partial_from:
            st.caption(t("chart.partial", bucket=t(f"bucket.{unit}")))

links = context.detail_pages()
if links:
    st.subheader(t("overview.more"))
    for page in links:
        st.page_link(page)
