"""Overview: the headline KPIs across customers, AI and service, and dialogs per day."""

import streamlit as st

from dashboard import charts, context, data
from dashboard.i18n import t
from dashboard.tiles import ignored_note, kpi_row

GROUPS = {
    "overview.customers": ["dialogs", "csat", "nps", "escalation_rate"],
    "overview.ai": ["avg_response_time", "cost"],
    "overview.service": ["error_rate", "uptime"],
}
KEYS = tuple(key for keys in GROUPS.values() for key in keys)

database, filters = context.current()
st.title(t("page.overview"))
st.caption(t("page.overview.caption"))

with data.database_errors(database.config):
    current = data.kpi_values(database.url, filters, KEYS)
    previous = data.kpi_values(database.url, filters.previous(), KEYS)
    for title, keys in GROUPS.items():
        st.subheader(t(title))
        kpi_row(keys, current, previous, filters)
    ignored_note(current)

    frame = data.dialogs_by_platform(database.url, filters)
    unit = data.bucket_for(filters)
    st.subheader(t("overview.dialogs_chart", bucket=t(f"bucket.{unit}")))
    if frame.empty:
        st.info(t("chart.empty"))
    else:
        st.plotly_chart(charts.stacked_bars(frame, "bucket", "dialogs", "platform",
                                            t("chart.time", tz=filters.tz), t("chart.dialogs"),
                                            t("chart.platform")), width="stretch")

links = context.detail_pages()
if links:
    st.subheader(t("overview.more"))
    for page in links:
        st.page_link(page)
