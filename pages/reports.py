"""Reports: a daily, weekly or monthly summary on the page, and as HTML, XLSX or Markdown files."""

import shlex

import streamlit as st

from data_access import reports as rp
from dashboard import context, data, files, format as fmt, reports as rendering
from dashboard.filters import local_time
from dashboard.i18n import current_language, t
from dashboard.tables import chart
from dashboard.tiles import page_title

database, filters = context.current()
lang = current_language()
page_title("page.reports", filters)

left, right = st.columns([2, 1])
kind = left.segmented_control(t("reports.kind"), rp.KINDS, default="weekly", key="report_kind",
                              format_func=lambda k: t(f"reports.kind.{k}")) or "weekly"
today = local_time(filters.tz).date()
day = right.date_input(t("reports.date"), value=rp.last_complete(kind, today).start, key=f"report_date_{kind}",
                       help=t("reports.date.help"), max_value=today)
st.caption(t("reports.filters_note"))

with data.database_errors(database.config):
    report = data.report(database.url, kind, day, filters)
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
    stem = f"report_{kind}_{report.period.start}"
    for column, kind_of_file in zip(st.columns(3), ("html", "xlsx", "md")):
        with column:
            files.link(t(f"reports.as_{kind_of_file}"),
                       files.of_bytes(lambda f=kind_of_file: rendering.render(report, f, lang)),
                       f"{stem}.{kind_of_file}",
                       {"html": "text/html", "xlsx": rendering.XLSX_MIME, "md": "text/markdown"}[kind_of_file],
                       key=f"report_{kind_of_file}", event="report_download", width="stretch", report=kind,
                       format=kind_of_file, period=str(report.period.start))
    with st.expander(t("reports.cli")):
        st.code(" ".join(shlex.quote(word) for word in (
            "python", "-m", "dashboard.reports", "--period", kind, "--date", str(report.period.start), "--format", "html",
            "--out", f"{stem}.html", "--tz", filters.tz)), language="bash")
