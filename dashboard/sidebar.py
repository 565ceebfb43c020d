"""The shared filter widgets, drawn once in the entry point and read by every page.

On a session's first run the URL decides the widgets' values (after validation); from then on
the widgets decide and the URL follows, so a page switch keeps the filters and the address bar
always holds a link to the current view.
"""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from data_access.filters import Filters
from dashboard.data import Database
from dashboard.filters import (COMMON_TIMEZONES, DIMENSION_PARAMS, PERIODS, Selection, Warning_, default_timezone,
                               matching_period, parse_query, quote, utc_now)
from dashboard import names
from dashboard.i18n import LANGUAGES, t

KEYS = {"period": "f_period", "dates": "f_dates", "platforms": "f_platform", "intents": "f_intent",
        "models": "f_ai_model", "tz": "f_tz"}
WARNINGS_KEY = "f_warnings"
# The pages' widgets kept in the URL (bind="query-params"; the parameter is the widget's key): the
# filters' URL is rewritten each run, and these stay in it, so a copied link reopens the whole view.
VIEW_KEYS = ("problem_tab", "business_detractors", "business_by_platform", "cost_tab", "sla_tab", "why", "why_by",
             "report_kind", "report_date", "comments_order")
# What a drill-down page shows (pages/messages.py): kept in the URL as it is, read by that page.
DRILL_KEYS = ("user", "dialog")
LANG_KEY = "lang"  # the session's language: read by dashboard.i18n.current_language


def resolve_language() -> None:
    """On a session's first run: the language from ``lang`` in the URL, else the browser's
    preferred language (Russian for ``ru-*``), else English. Call before any text is drawn."""
    if LANG_KEY in st.session_state:
        return
    raw = st.query_params.get_all("lang")
    if raw and raw[-1] in LANGUAGES:
        st.session_state[LANG_KEY] = raw[-1]
        return
    locale = str(getattr(st.context, "locale", "") or "").lower()
    st.session_state[LANG_KEY] = "ru" if locale.startswith("ru") else "en"
    if raw:
        st.session_state["lang_warning"] = Warning_("warn.unknown_language", {"value": quote(raw[-1])})


def language_picker() -> None:
    """The language switch, first in the sidebar; the URL keeps the choice (``lang=``)."""
    st.sidebar.selectbox(t("filters.language"), list(LANGUAGES), key=LANG_KEY, format_func=LANGUAGES.get)
    warning = st.session_state.pop("lang_warning", None)
    if warning:
        st.warning(t(warning.key, **warning.values), icon=":material/link_off:")


def _from_url(db: Database, now) -> None:
    raw = {name: st.query_params.get_all(name) for name in st.query_params.keys()}
    selection, warnings = parse_query(raw, db.options, now, default_timezone())
    state = st.session_state
    state[KEYS["period"]] = selection.period
    current = selection.filters(now)
    state[KEYS["dates"]] = (current.start_date, current.end_date)
    for attr in DIMENSION_PARAMS.values():
        state[KEYS[attr]] = list(getattr(selection, attr))
    state[KEYS["tz"]] = selection.tz
    state[WARNINGS_KEY] = warnings


def _clear_warnings() -> None:
    st.session_state[WARNINGS_KEY] = []


def _period_changed() -> None:
    """Switching to Custom starts from the range that was showing."""
    _clear_warnings()
    state = st.session_state
    if state.get(KEYS["period"]) == "custom":
        shown = Selection(period=state.get("f_last_period", "30d"), tz=state.get(KEYS["tz"]) or "UTC").filters(utc_now())
        state[KEYS["dates"]] = (shown.start_date, shown.end_date)
    else:
        state["f_last_period"] = state.get(KEYS["period"])


def _selection(now) -> Selection:
    state = st.session_state
    period = state.get(KEYS["period"]) or "30d"
    start = end = None
    if period == "custom":
        dates = tuple(state.get(KEYS["dates"]) or ())
        if len(dates) == 2 and dates[0] and dates[1]:
            start, end = dates
        elif len(dates) == 1 and dates[0]:  # the user has picked a start only so far
            start = end = dates[0]
        else:
            period = "30d"
    return matching_period(Selection(
        period=period, start=start, end=end,
        platforms=tuple(state.get(KEYS["platforms"]) or ()), intents=tuple(state.get(KEYS["intents"]) or ()),
        models=tuple(state.get(KEYS["models"]) or ()), tz=state.get(KEYS["tz"]) or "UTC"), now)


def keep_in_url(wanted: dict) -> None:
    """Make the URL hold exactly ``wanted`` (name → value or list of values) besides the pages'
    widgets bound to it (``VIEW_KEYS``: Streamlit refuses to set those, and they must stay).
    Only what differs is written."""
    for key in list(st.query_params.keys()):
        if key not in wanted and key not in VIEW_KEYS + DRILL_KEYS:
            del st.query_params[key]
    for key, value in wanted.items():
        values = [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
        if st.query_params.get_all(key) != values:
            st.query_params[key] = values if len(values) > 1 else values[0]


def shared_filters(db: Database) -> Filters:
    """Draw the filters in the sidebar; return the ``Filters`` every page uses this run."""
    now = utc_now()
    if KEYS["period"] not in st.session_state:
        _from_url(db, now)
    for warning in st.session_state.get(WARNINGS_KEY, []):
        st.warning(t(warning.key, **warning.values), icon=":material/link_off:")

    with st.sidebar:
        st.header(t("filters.header"))
        st.segmented_control(t("filters.period"), PERIODS, key=KEYS["period"], required=True,
                             format_func=lambda p: t(f"filters.period.{p}"), on_change=_period_changed)
        if st.session_state.get(KEYS["period"]) == "custom":
            today = now.date()
            st.date_input(t("filters.dates"), key=KEYS["dates"], help=t("filters.dates.help"),
                          max_value=today + timedelta(days=366), on_change=_clear_warnings,
                          format="DD.MM.YYYY" if st.session_state.get(LANG_KEY) == "ru" else "YYYY-MM-DD")
        for attr, label in (("platforms", "filters.platform"), ("intents", "filters.intent"),
                            ("models", "filters.ai_model")):
            options = getattr(db.options, attr)
            # Intents by their names (the URL keeps the codes). No "Select all": its text is
            # Streamlit's, in English only, and every value chosen is no filter ("All").
            if options:
                shown = ((lambda code, lang=st.session_state.get(LANG_KEY): names.intent(code, lang))
                         if attr == "intents" else str)
                st.multiselect(t(label), options, key=KEYS[attr], placeholder=t("filters.all"),
                               format_func=shown, select_all=False, on_change=_clear_warnings)
        zones = list(COMMON_TIMEZONES)
        if st.session_state.get(KEYS["tz"]) not in zones:
            zones.append(st.session_state.get(KEYS["tz"]) or "UTC")
        st.selectbox(t("filters.timezone"), zones, key=KEYS["tz"], help=t("filters.timezone.help"),
                     on_change=_clear_warnings)
        st.caption(t("filters.share"))

    selection = _selection(now)
    extra = {"debug": "1"} if st.query_params.get("debug") == "1" else {}  # the query panel stays on
    keep_in_url({**selection.to_query(), "lang": st.session_state.get(LANG_KEY, "en"), **extra})
    return selection.filters(now)


# On a screen narrower than Streamlit's mobile breakpoint the open sidebar covers most of the page
# and stays open after every choice. This folds it (a click on its own "collapse" button) once a
# choice has changed the view. Static text, no value from the data or the URL in it.
FOLD_ON_PHONE = """<script data-choice="{choice}">
setTimeout(function () {
  if (window.innerWidth >= 768) return;
  var button = document.querySelector('[data-testid="stSidebarCollapseButton"] button[aria-expanded="true"]');
  if (button) button.click();
}, 50);
</script>"""
VIEW_STATE = "_sidebar_view"


def fold_on_phone(page: str) -> None:
    """After a choice changed the view (another page, period, filter or language), fold the sidebar
    away on a phone. Not on a session's first run: the sidebar starts folded there."""
    view = repr((page, sorted((k, tuple(st.query_params.get_all(k))) for k in st.query_params.keys()
                              if k not in VIEW_KEYS)))
    previous, choices = st.session_state.get(VIEW_STATE, (None, 0))
    if previous is not None and previous != view:
        choices += 1  # a new element each time: the same one again would not run its script again
        st.sidebar.html(FOLD_ON_PHONE.replace("{choice}", str(choices)), unsafe_allow_javascript=True)
    st.session_state[VIEW_STATE] = (view, choices)

