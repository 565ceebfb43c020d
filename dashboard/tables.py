"""Tables with a CSV download of exactly the rows and columns shown, built only on click."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import date, datetime

import numpy as np

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from data_access.spreadsheet import UTF8_BOM, frame_to_csv
from dashboard import auth, files, format as fmt
from dashboard.i18n import current_language, t
from dashboard.names import shown_value  # noqa: F401  (pages import it from here)


def table(frame: pd.DataFrame, columns: Mapping[str, object], file_name: str, key: str,
          height: int | str = "auto", highlight: pd.Series | None = None,
          cell_colors: Mapping[str, Mapping[str, str]] | None = None) -> None:
    """Show ``columns`` of ``frame`` (name → ``st.column_config`` column) and a CSV button.

    Text is shown as plain text (``st.dataframe`` never renders HTML). ``highlight`` marks rows
    (a boolean per row); ``cell_colors`` colours values of a column. The CSV has the same rows
    and columns, headed with the shown labels, and is made when the button is clicked."""
    shown = auth.shown_ids(frame[list(columns)])  # masked for a role without user ids: screen and CSV
    columns, formatters = _language_formats(columns)
    if len(columns) > 3:  # a wide table scrolls sideways on a phone: its first column (what a row is) stays
        first = next(iter(columns))
        columns = {**columns, first: {**(columns[first] or {}), "pinned": True}}
    styled = shown.style if highlight is not None or cell_colors or formatters else shown
    if formatters:
        styled = styled.format(formatters, na_rep="")
    if highlight is not None:  # rows that need attention get a light amber background
        marks = highlight.reindex(shown.index).fillna(False).astype(bool).to_numpy()
        # One frame of styles at once: a function per row costs a Series per row on every rerun.
        row_style = np.where(marks, "background-color: #FFF4D6", "")[:, None]
        styled = styled.apply(lambda part: pd.DataFrame(np.repeat(row_style, part.shape[1], axis=1),
                                                        index=part.index, columns=part.columns), axis=None)
    for column, colors in (cell_colors or {}).items():  # e.g. a status column: value → text colour
        styled = styled.map(lambda v, c=colors: f"color: {c[v]}; font-weight: 600" if v in c else "", subset=[column])
    with st.container(key=f"table_{key}"):  # a name the page's tests find the table by
        st.dataframe(styled, column_config=dict(columns), hide_index=True, width="stretch", height=height,
                     placeholder="")  # a missing value is an empty cell, not "None"
    zone = _zone()
    labels = {name: (col or {}).get("label") or name for name, col in columns.items()}
    # a time read in another program names its zone: "Time (Europe/Moscow)"
    labels = {name: f"{label} ({zone})" if zone and pd.api.types.is_datetime64_any_dtype(shown[name]) else label
              for name, label in labels.items()}

    def csv() -> bytes:  # with a byte-order mark: Excel then reads UTF-8 (Cyrillic, emoji) right
        return UTF8_BOM + frame_to_csv(_link_texts(shown, columns).rename(columns=labels))

    files.link(t("table.download_csv"), files.of_bytes(csv), _file_name(file_name), "text/csv", key=f"csv_{key}",
               event="table_download", table=file_name, rows=len(shown))


def _link_texts(frame: pd.DataFrame, columns: Mapping[str, object]) -> pd.DataFrame:
    """``frame`` with each link column whose shown text is a regex of its URL (an id shown as a
    link) holding that text, as on screen: a CSV carries the id, not the page's address."""
    from urllib.parse import unquote

    texts = {}
    for name, column in columns.items():
        config = (column or {}).get("type_config") or {}
        pattern = config.get("display_text") if config.get("type") == "link" else None
        if pattern and "(" in pattern and name in frame:
            found = frame[name].astype("string").str.extract(pattern, expand=False)
            texts[name] = [unquote(v) if isinstance(v, str) else None for v in found]
    return frame.assign(**texts) if texts else frame


def _zone() -> str | None:
    """The display timezone of the page being drawn (None outside a page)."""
    from dashboard import context

    try:
        return context.current()[1].tz
    except KeyError:
        return None


def _file_name(stem: str) -> str:
    """The table's CSV name with the view's filters when a page runs (``filters.download_name``)."""
    from dashboard import context
    from dashboard.filters import download_name

    try:
        _, filters = context.current()
    except KeyError:
        return f"{stem}.csv"
    return download_name(stem, filters, "csv")


def _language_formats(columns: Mapping[str, object]) -> tuple[dict, dict]:
    """For Russian, number columns are formatted here (``81,2 %``, ``1 234``) instead of by
    ``st.dataframe``, whose printf formats know only the decimal point. Returns the column
    configs without those formats and the Styler formatters that replace them."""
    if current_language() == "en":
        return dict(columns), {}
    from dashboard import format as fmt

    configs, formatters = {}, {}
    for name, config in columns.items():
        number_format = (config or {}).get("type_config", {}).get("format") if isinstance(config, dict) else None
        if config and config.get("type_config", {}).get("type") == "number" and number_format:
            if number_format == "localized":
                formatters[name] = lambda v: fmt.number(v)
            else:
                formatters[name] = lambda v, f=number_format: fmt.localized(f % v)
            config = {**config, "type_config": {**config["type_config"], "format": None}}
        configs[name] = config
    return configs, formatters


def chart(fig: go.Figure | None, empty: bool, key: str) -> None:
    """A plotly chart in the session's language, or the "no data in this range" note."""
    if empty or fig is None:
        st.info(t("chart.no_data"), icon=":material/bar_chart:")
        return
    # No Plotly toolbar: English-only, on every chart, and over the data on a phone.
    st.plotly_chart(localize(fig), width="stretch", key=key, config={"displayModeBar": False})


def localize(fig: go.Figure) -> go.Figure:
    """Number separators, dates and month names of the session's language (Russian: ``1 234,5``,
    ticks ``3 нояб.``, hover ``27.11.2026 09:00``); plotly.js itself knows only English names.
    Russian gets a copy (``fig`` may be shared, see ``charts.reused``), made once per figure."""
    if current_language() != "ru":
        return fig
    return _russian(fig)


_RUSSIAN_KEPT = 128
_russian_copies: dict[int, tuple[go.Figure, go.Figure]] = {}  # id(shared figure) -> (it, its copy)
_russian_lock = threading.Lock()


def _russian(shared: go.Figure) -> go.Figure:
    with _russian_lock:
        kept = _russian_copies.get(id(shared))
    if kept is not None and kept[0] is shared:
        return kept[1]
    fig = go.Figure(shared)
    fig.update_layout(separators=", ")
    times = [value for trace in fig.data if _on_a_time_axis(trace)
             for value in (trace.base if getattr(trace, "base", None) is not None else trace.x)]
    if times:
        # Ticks over the axis's own range where it has one (a timeline spans the period, not
        # only its bars), else over the data.
        span = pd.to_datetime(pd.Series(fig.layout.xaxis.range or times))
        values, labels = fmt.time_ticks(span.min(), span.max())
        fig.update_xaxes(tickmode="array", tickvals=values, ticktext=labels, hoverformat="%d.%m.%Y %H:%M")
    with _russian_lock:
        if len(_russian_copies) >= _RUSSIAN_KEPT:
            _russian_copies.pop(next(iter(_russian_copies)))
        _russian_copies[id(shared)] = (shared, fig)  # holding ``shared`` keeps its id from being reused
    return fig


def _on_a_time_axis(trace) -> bool:
    x = getattr(trace, "x", None)
    if getattr(trace, "base", None) is not None:  # the status timeline's bars start at times
        return True
    return x is not None and len(x) > 0 and isinstance(x[0], (datetime, date, np.datetime64, pd.Timestamp))


def when(label: str, seconds: bool = False) -> dict:
    """A date-time column in the language's date order."""
    order = "DD.MM.YYYY" if current_language() == "ru" else "YYYY-MM-DD"
    return st.column_config.DatetimeColumn(label, format=f"{order} HH:mm{':ss' if seconds else ''}")


def rate_over_time(frame: pd.DataFrame, rate: str, label: str, time_title: str, key: str,
                   series: str | None = None, legend_title: str | None = None) -> None:
    """A percentage per time bucket (one line per ``series`` value), or the empty note."""
    from dashboard import charts

    chart(None if frame.empty else charts.lines(frame, "bucket", rate, time_title, label, series=series,
                                                y_suffix=" %", legend_title=legend_title),
          frame.empty, key)


def rate_by(frame: pd.DataFrame | None, dimension: str, rate: str, label: str, key: str) -> None:
    """A percentage per value of ``dimension`` (intent, model, …) as bars, highest first."""
    from dashboard import charts

    shown = None if frame is None else frame.dropna(subset=[rate])
    empty = shown is None or shown.empty
    chart(None if empty else charts.bars(shown.sort_values(rate, ascending=False), dimension, rate,
                                         t(f"col.{dimension}"), label, horizontal=True, y_suffix=" %",
                                         hover_format=".1f"), empty, key)


def not_tracked(what: str) -> None:
    """The note for a panel whose table or column this database lacks."""
    st.info(t("panel.not_tracked", what=what), icon=":material/visibility_off:")


def messages_link(*, user: str | None = None, dialog: str | None = None) -> str:
    """The Messages page for one user or one dialog, with this view's filters: a relative link
    (same host), the ids bound as URL values."""
    from urllib.parse import urlencode

    from dashboard.sidebar import DRILL_KEYS, VIEW_KEYS

    query = [(k, v) for k in st.query_params.keys() if k not in VIEW_KEYS + DRILL_KEYS
             for v in st.query_params.get_all(k)]
    query += [(name, str(value)) for name, value in (("user", user), ("dialog", dialog)) if value is not None]
    return "messages?" + urlencode(query)


def messages_links(frame: pd.DataFrame) -> list[str | None] | None:
    """Per row, a link to its dialog's messages (``session_id``), else to its user's (``user_id``,
    for the roles that see ids); ``None`` when no row can have one."""
    may_users = "user_id" in frame and auth.current().may("user_ids")
    if "session_id" not in frame and not may_users:
        return None
    links = []
    for _, row in frame.iterrows():
        dialog = row.get("session_id")
        user = row.get("user_id") if may_users else None
        links.append(messages_link(dialog=dialog) if isinstance(dialog, str) and dialog
                     else messages_link(user=user) if isinstance(user, str) and user else None)
    return links


def export_link() -> None:
    """A pointer from a chart page's tables to the full-data export page."""
    from dashboard import context

    target = context.page("export.py")
    if target is not None:
        st.divider()
        st.page_link(target, label=t("export.link"), icon=":material/download:")


def query_panel(queries: list[dict], page_ms: float) -> None:
    """The ``debug=1`` panel: every SQL statement this run executed, slowest first, with its
    time and rows; results of this process's cache ran earlier and are not listed, those the
    replicas' shared cache handed over are, with that path."""
    from dashboard.result_cache import SHARED_PATH

    frame = pd.DataFrame(queries, columns=["query", "path", "dialect", "duration_ms", "rows"])
    in_sql = frame.loc[frame["path"] != SHARED_PATH, "duration_ms"].sum()  # not what Redis handed over
    with st.expander(t("debug.title", count=len(frame), sql=fmt.milliseconds(in_sql),
                       page=fmt.milliseconds(page_ms)), expanded=True, icon=":material/bug_report:"):
        st.caption(t("debug.note"))
        if not frame.empty:
            table(frame.sort_values("duration_ms", ascending=False),
                  {"query": st.column_config.TextColumn(t("debug.query")),
                   "path": st.column_config.TextColumn(t("debug.path"), help=t("debug.path_help")),
                   "duration_ms": st.column_config.NumberColumn(t("debug.ms"), format="%.1f"),
                   "rows": st.column_config.NumberColumn(t("col.rows"), format="localized")},
                  "queries", "debug_queries")
