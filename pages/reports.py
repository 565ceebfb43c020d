"""Reports: a daily, weekly or monthly summary on the page, and as HTML, XLSX or Markdown files.
The URL holds the kind and the day (``report_kind``, ``report_date``): a shared link opens the
same report."""

import shlex
from datetime import date

import streamlit as st

from data_access import reports as rp
from dashboard import context, data, files, format as fmt, reports as rendering
from dashboard.filters import from_url, local_time, quote, to_url
from dashboard.i18n import current_language, t
from dashboard.tables import chart
from dashboard.tiles import range_summary

KIND_KEY, DATE_KEY = "report_kind", "report_date"  # in the URL (sidebar.VIEW_KEYS)
database, filters = context.current()
lang = current_language()
st.title(t("page.reports"))
caption = st.empty()  # the page's caption names the report's own period, known below


def day_from_url(today: date) -> date | None:
    """The day in the URL (ISO, not after today), or None with a warning for one that is not."""
    raw = st.query_params.get(DATE_KEY)
    if raw is None:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        day = None
    if day is None or day > today:
        st.warning(t("reports.bad_date", value=quote(raw)), icon=":material/link_off:")
        return None
    return day


left, right = st.columns([2, 1])
from_url(KIND_KEY, rp.KINDS, "weekly")
kind = left.segmented_control(t("reports.kind"), rp.KINDS, key=KIND_KEY, required=True,
                              format_func=lambda k, lang=lang: t(f"reports.kind.{k}", lang)) or "weekly"
to_url(KIND_KEY, kind)
today = local_time(filters.tz).date()
date_key = f"{DATE_KEY}_{kind}"  # each kind keeps its own day while the user switches between them
if date_key not in st.session_state:
    st.session_state[date_key] = day_from_url(today) or rp.last_complete(kind, today).start
day = right.date_input(t("reports.date"), key=date_key, help=t("reports.date.help"), max_value=today)
to_url(DATE_KEY, day.isoformat())
st.caption(t("reports.filters_note"))

with data.database_errors(database.config):
    report = data.report(database.url, kind, day, filters)
    caption.caption(f"{t('page.reports.caption')} · {range_summary(report.period.filters(filters))}")
    st.header(rendering.title(report, lang))
    for line in rendering.header_lines(report, lang, fmt.md_text):
        if line == t("reports.partial", lang):
            st.warning(line, icon=":material/hourglass_top:")
        elif line == t("reports.no_data", lang):
            st.info(line, icon=":material/event_busy:")
        else:
            st.caption(line)
    if report.has_data:
        st.subheader(t("reports.recommendations"))
        st.markdown("\n".join(f"- {s}" for s in rendering.sentences(report, lang, fmt.md_text)))
    sections = rendering.sections(report, lang)
    for heading, frame in sections:
        st.subheader(heading)
        if frame.empty:
            st.caption(t("reports.none"))
        else:
            # Every row on screen (a report is read top to bottom), long tables scroll past ~20.
            st.dataframe(frame, hide_index=True, width="stretch", height=min(35 * (len(frame) + 1) + 3, 743),
                         placeholder="")
    figures = rendering.trend_figures(report, lang)
    if figures:
        st.subheader(t("reports.trends"))
        for i, (name, fig) in enumerate(figures):
            st.markdown(f"**{name}**")
            chart(fig, False, f"report_trend_{i}")

    st.subheader(t("reports.download"))
    for column, kind_of_file in zip(st.columns(3), ("html", "xlsx", "md")):
        with column:
            files.link(t(f"reports.as_{kind_of_file}"),
                       files.of_bytes(lambda f=kind_of_file: rendering.render(report, f, lang)),
                       rendering.file_name(report, kind_of_file),
                       {"html": "text/html", "xlsx": rendering.XLSX_MIME, "md": "text/markdown"}[kind_of_file],
                       key=f"report_{kind_of_file}", event="report_download", width="stretch", report=kind,
                       format=kind_of_file, period=str(report.period.start))
    with st.expander(t("reports.cli")):
        st.code(" ".join(shlex.quote(word) for word in (
            "python", "-m", "dashboard.reports", "--period", kind, "--date", str(report.period.start), "--format", "html",
            "--out", rendering.file_name(report, "html"), "--tz", filters.tz)), language="bash")
