"""Data export: exactly the filtered rows of a table as CSV, JSON or XLSX, made on click."""

from decimal import Decimal

import pandas as pd
import streamlit as st

from data_access import export as ex
from data_access.sql import MAX_VALUE
from dashboard import auth, context, data, files, format as fmt, upload
from dashboard.filters import download_name
from dashboard.i18n import current_language, t
from dashboard.tables import table as show_table
from dashboard.tiles import page_title

PREVIEW_ROWS = 20

database, filters = context.current()
principal = auth.current()
schema, url = database.schema, database.url
page_title("page.export", filters)

dialogs_shown = schema.has_table("conversation_metrics")
tables = [name for name in ex.EXPORT_TABLES if schema.has_table(name) or (name == ex.DIALOGS and dialogs_shown)]
left, right = st.columns([1, 2])
table = left.selectbox(t("export.table"), tables, key="export_table", format_func=lambda n: t(f"table.{n}"))
is_dialogs = table == ex.DIALOGS
present = [c for c in ex.EXPORT_TABLES[table].columns.keys() if is_dialogs or schema.has(table, c)]
# No "Select all" (Streamlit's text, in English only): every column is the default.
columns = right.multiselect(t("export.columns"), present, default=present, key=f"export_columns_{table}",
                            select_all=False)
mask = ((is_dialogs or schema.has(table, "user_id"))
        and st.toggle(t("export.mask"), key="export_mask", help=t("export.mask.help")))
applies = {"conversation_metrics": "export.filters_all", "nps_responses": "export.filters_platform",
           ex.DIALOGS: "export.filters_dialogs"}
st.caption(t(applies.get(table, "export.filters_dates")))
outcomes: tuple[str, ...] = ()
rated_at_most = None
if is_dialogs:
    out_left, out_right = st.columns([2, 1])
    outcomes = tuple(out_left.multiselect(t("export.outcomes"), list(ex.OUTCOMES), key="export_outcomes", select_all=False,
                                          format_func=lambda o: t(f"export.outcome.{o}"),
                                          placeholder=t("export.any"), help=t("export.outcomes.help")))
    if schema.has("conversation_metrics", "satisfaction_score"):
        rated = out_right.selectbox(t("export.rated_at_most"), [None, 1, 2, 3, 4], key="export_rated",
                                    format_func=lambda n: t("export.rated.any") if n is None else t("export.stars", n=n))
        rated_at_most = None if rated is None else int(rated)


def one_id(label: str, help_text: str, column: str, key: str) -> str | None:
    """A text field for one id (user or dialog) when the table has the column; None when empty."""
    if not (is_dialogs and column in ("user_id", "session_id")) and not schema.has(table, column):
        return None
    value = st.text_input(label, key=key, max_chars=MAX_VALUE, placeholder=t("export.any"), help=help_text).strip()
    return value or None


id_left, id_right = st.columns(2)
with id_left:
    user_id = one_id(t("export.user"), t("export.user.help"), "user_id", "export_user")
with id_right:
    session_id = one_id(t("export.dialog"), t("export.dialog.help"), "session_id", "export_dialog")


def preview_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """The preview as the file will hold it, written the language's way: an empty cell for a
    missing value (not "None"), numbers with the language's decimal mark (``0,9755``)."""
    def cell(value):
        if value is None or (isinstance(value, float) and value != value):
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float, Decimal)):
            return fmt.localized(str(value))
        return str(value)

    return frame.map(cell)


def export_section() -> None:
    try:
        with data.database_errors(database.config):
            export_panels()
    except ex.ExportError as error:  # one line that says what to do (no path, no trace)
        st.error(fmt.md_text(str(error)), icon=":material/block:")


def export_panels() -> None:
    summary = data.query("export_summary", url, filters, table, tuple(columns), bool(mask), user_id, session_id,
                         outcomes, rated_at_most)
    rows = summary["rows"]
    sizes = summary["sizes"]
    st.metric(t("export.rows"), fmt.number(rows), border=True, width=240, help=t("export.rows.help"))
    if rows == 0:
        st.info(t("export.empty"))
    else:
        st.subheader(t("export.preview", n=min(PREVIEW_ROWS, rows)))
        st.dataframe(preview_cells(pd.DataFrame(summary["preview"], columns=list(summary["columns"]))),
                     hide_index=True, width="stretch", placeholder="")
        if summary["long_cells"]:
            st.warning(t("export.long_cells", n=fmt.number(summary["long_cells"])))
        if summary["sheets"] > 1:
            st.warning(t("export.sheets", sheets=summary["sheets"], limit=fmt.number(ex.EXCEL_MAX_ROWS)))
    request = ex.ExportRequest(table, filters, tuple(summary["columns"]), bool(mask), user_id, session_id, outcomes,
                               rated_at_most)
    st.subheader(t("export.download"))
    for column, kind in zip(st.columns(3), ex.FORMATS):
        with column:
            files.link(t(f"export.as_{kind}", size=fmt.file_size(sizes[kind])),
                       lambda out, kind=kind, lang=current_language(): data.write_export(
                           url, request, kind, lang, out, principal=principal),
                       download_name(table, filters, kind), ex.MIME[kind], key=f"export_{kind}", event="export",
                       action="export", width="stretch")
    st.caption(t("export.notes"))
    with st.expander(t("export.cli")):
        st.code(ex.command_line(request, "csv"), language="bash")


def import_section() -> None:
    """Upload a log file of the platform (JSON lines, gzip allowed) into the metrics tables."""
    st.divider()
    st.header(t("import.header"))
    st.caption(t("import.caption"))
    if not upload.import_allowed():
        st.info(t("import.disabled"), icon=":material/lock:")
        return
    if not principal.may("import"):
        st.info(t("import.role", role=t(f"auth.role.{principal.role}")), icon=":material/lock:")
        return
    max_mb = upload.import_max_mb()
    file = st.file_uploader(t("import.file"), type=["jsonl", "log", "json", "txt", "gz"], key="import_file",
                            max_upload_size=max_mb, help=t("import.file.help", mb=max_mb))
    if file is not None and st.button(t("import.run"), key="import_run", icon=":material/upload:", type="primary"):
        bar = st.progress(0.0, text=t("import.running"))
        with data.database_errors(database.config):
            st.session_state["import_result"] = upload.import_log(
                url, file, lambda f: bar.progress(f, text=t("import.running")), principal=principal,
                write_url=database.config.writes_to)
        bar.empty()
    result = st.session_state.get("import_result")
    if result:
        summary = result.summary
        st.subheader(t("import.result", file=fmt.md_text(result.file_name)))
        if result.stopped:
            st.error(t("import.stopped", reason=fmt.md_text(result.stopped)), icon=":material/block:")
        with st.container(horizontal=True, gap="small"):
            for key in ("read", "imported", "duplicates", "rejected", "other"):
                st.metric(t(f"import.{key}"), fmt.number(getattr(summary, key)), border=True, width=170)
        if not summary.rejected and not result.stopped:
            st.success(t("import.no_rejects"), icon=":material/check_circle:")
        elif summary.rejected:
            shown = len(result.rejects)
            st.warning(t("import.rejects", n=fmt.number(summary.rejected)) if shown == summary.rejected
                       else t("import.rejects_first", n=fmt.number(summary.rejected), shown=fmt.number(shown)),
                       icon=":material/rule:")
            show_table(result.rejects, {"line": st.column_config.NumberColumn(t("col.line"), format="%d"),
                                        "reason": st.column_config.TextColumn(t("col.reason")),
                                        "text": st.column_config.TextColumn(t("col.line_text"), width="large")},
                       "import_rejects", "import_rejects", height=300)


if not columns:
    st.warning(t("export.no_columns"))
else:
    export_section()

import_section()
