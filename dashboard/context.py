"""What the entry point hands to the page it runs: the database and this run's filters."""

from __future__ import annotations

import streamlit as st

from data_access.filters import Filters
from dashboard.data import Database

_DB_KEY = "_database"
_FILTERS_KEY = "_filters"
_PAGES_KEY = "_pages"


def set_current(database: Database, filters: Filters) -> None:
    st.session_state[_DB_KEY] = database
    st.session_state[_FILTERS_KEY] = filters


def current() -> tuple[Database, Filters]:
    """The database and filters for this run. Raises ``KeyError`` outside the entry point."""
    return st.session_state[_DB_KEY], st.session_state[_FILTERS_KEY]


def register_pages(pages: list) -> None:
    st.session_state[_PAGES_KEY] = pages


def detail_pages() -> list:
    """The registered pages after the default one (the Overview links to them)."""
    return list(st.session_state.get(_PAGES_KEY, []))[1:]


def page(file_name: str):
    """The registered page served from ``pages/<file_name>``, or None."""
    for registered in st.session_state.get(_PAGES_KEY, []):
        if registered.url_path == file_name.removesuffix(".py"):
            return registered
    return None
