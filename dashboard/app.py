"""The pages' script: one router, the shared filters, the demo banner.

``streamlit run dashboard/server.py`` serves it, with the dashboard's own routes."""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # Streamlit puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from data_access import logs  # noqa: E402
from data_access.engine import resolve_config  # noqa: E402
from dashboard import auth, context, upload  # noqa: E402
from dashboard.data import open_database  # noqa: E402
from dashboard.tables import query_panel  # noqa: E402
from dashboard.i18n import t  # noqa: E402
from dashboard.sidebar import fold_on_phone, language_picker, resolve_language, shared_filters  # noqa: E402

# (file under pages/, title key, icon, what the role must include: a key of auth.LEAST_ROLE or
# None for every role). The file name is the URL path (contract).
PAGES = [
    ("overview.py", "page.overview", ":material/dashboard:", None),
    ("operational.py", "page.operational", ":material/monitor_heart:", None),
    ("business.py", "page.business", ":material/groups:", None),
    ("ai_performance.py", "page.ai_performance", ":material/smart_toy:", None),
    ("alerts.py", "page.alerts", ":material/notifications_active:", None),
    ("sla.py", "page.sla", ":material/verified:", None),
    ("reports.py", "page.reports", ":material/summarize:", None),
    ("export.py", "page.export", ":material/download:", "export"),
    ("messages.py", "page.messages", ":material/forum:", None),
]
DRILL_DOWN = {"messages.py"}  # reached by links from other pages, not listed in the navigation


def page_for(principal: auth.Principal, i: int, name: str, title: str, icon: str, needs: str | None):
    """The page, or where the role lacks it a hidden page at the same URL that says so."""
    if needs is None or principal.may(needs):
        return st.Page(ROOT / "pages" / name, title=t(title), icon=icon, default=(i == 0),
                       visibility="hidden" if name in DRILL_DOWN else "visible")
    return st.Page(auth.refused_page(title, needs), title=t(title), icon=icon,
                   url_path=name.removesuffix(".py"), visibility="hidden")


DEMO_BANNER_HIDDEN = "demo_banner_hidden"


def demo_banner(principal: auth.Principal) -> None:
    """The demo's note: for an admin, with how to connect the platform's database, in full until
    hidden; then, and for every other role, one small line on every page."""
    if st.session_state.get(DEMO_BANNER_HIDDEN) or not principal.may("setup"):
        st.caption(t("demo.banner_short"))
        return
    st.info(t("demo.banner"), icon=":material/science:")
    st.button(t("demo.hide"), key="demo_banner_hide", type="tertiary", icon=":material/close:",
              on_click=lambda: st.session_state.update({DEMO_BANNER_HIDDEN: True}))


logs.configure()
upload.apply_server_limit()
queries = logs.start_recording()  # every statement of this run, for the debug=1 panel
started = time.perf_counter()
resolve_language()
# The tab icon ships with the app: a Material icon would be fetched from a font CDN (nothing the
# dashboard shows may need the internet).
st.set_page_config(page_title=t("app.title"), page_icon=str(ROOT / "dashboard" / "assets" / "icon.png"), layout="wide")

language_picker()
principal = auth.gate(is_demo=resolve_config().is_demo)  # before anything reads data
if principal is None:
    st.stop()

pages = [page_for(principal, i, *entry) for i, entry in enumerate(PAGES)]
navigation = st.navigation(pages)
st.set_page_config(page_title=f"{navigation.title} · {t('app.title')}")  # each page its own browser-tab title
context.register_pages([page for page in pages if page.visibility == "visible"])
auth.account(principal)

database = open_database()
if database is None:
    st.stop()
if database.config.is_demo:
    demo_banner(principal)
context.set_current(database, shared_filters(database))
fold_on_phone(navigation.url_path)
navigation.run()
elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
logs.get("easyflow.page").debug("page_rendered", page=navigation.url_path or "overview", duration_ms=elapsed_ms,
                                queries=len(queries))
if st.query_params.get("debug") == "1" and principal.may("debug"):
    query_panel(queries, elapsed_ms)
