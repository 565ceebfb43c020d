"""Sign-in in Chromium through a real local OIDC provider (PyPI ``oidc-provider-mock``): a viewer,
an analyst and an admin each sign in, meet what their role allows where the data leaves (the page
router, the table and export downloads, the import), and sign out; a tampered session cookie is
refused. The dashboard reads a copy of the small demo database as a real database (DATABASE_URL).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from data_access import export as ex
from data_access.business import top_repeat_users
from data_access.engine import make_engine
from dashboard.filters import Selection, default_timezone, utc_now
from data_access.schema import discover
from tests.apptest import TODAY
from tests.browser.conftest import fetch_download, serve
from tests.browser.test_pages import settle
from tests.services import free_port

SALT = "browser-tests"  # serve() sets EASYFLOW_MASK_SALT to this
ROLES = {"vera": "viewer", "anna": "analyst", "adam": "admin"}


class SignInApp:
    def __init__(self, base: str, database_url: str, log: Path) -> None:
        self.base, self.database_url, self.log = base, database_url, log

    def audit(self) -> list[dict]:
        lines = []
        for raw in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            if raw.startswith("{"):
                line = json.loads(raw)
                if line.get("audit"):
                    lines.append(line)
        return lines


@pytest.fixture(scope="module")
def sign_in_app(sqlite_demo_url, tmp_path_factory) -> Iterator[SignInApp]:
    try:
        from oidc_provider_mock import User, run_server_in_thread
    except ImportError:  # a dev requirement: fail, as any missing dependency does
        pytest.fail("oidc-provider-mock is not installed (pip install -r requirements-dev.txt)")
    folder = tmp_path_factory.mktemp("sign_in")
    database = folder / "metrics.sqlite"  # a copy: the admin's import writes into it
    shutil.copy(sqlite_demo_url.removeprefix("sqlite:///"), database)
    users = [User(sub=sub, claims={"email": f"{sub}@example.com", "roles": [role]}) for sub, role in ROLES.items()]
    users.append(User(sub="stranger", claims={"email": "stranger@example.com", "roles": ["marketing"]}))
    with run_server_in_thread(port=0, user_claims=users) as provider:
        port = free_port()
        secrets = folder / "secrets.toml"
        secrets.write_text(f"""
[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "browser-tests-cookie-secret-0123456789"
client_id = "easyflow-dashboard"
client_secret = "browser-tests-client-secret"
server_metadata_url = "http://localhost:{provider.server_port}/.well-known/openid-configuration"
""", encoding="utf-8")
        log = folder / "streamlit.log"
        url = f"sqlite:///{database}"
        with serve(url, log, port=port, args=("--secrets.files", str(secrets)), EASYFLOW_AUTH="",
                   EASYFLOW_IMPORT="on") as base:
            app = SignInApp(base, url, log)
            app.provider = f"http://localhost:{provider.server_port}"
            yield app


def sign_in(browser, app: SignInApp, sub: str):
    """A new browser context signed in as ``sub``; returns (context, page) on the Overview."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.goto(app.base)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("input[name=sub]", timeout=30_000)
    page.fill("input[name=sub]", sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{app.base}/**", timeout=30_000)
    page.get_by_text("Signed in as").first.wait_for(timeout=60_000)
    assert f"{sub}@example.com" in page.locator("[data-testid=stSidebar]").inner_text().replace("\u2060", "")
    return context, page


def _download(page, key: str) -> bytes:
    return fetch_download(page, key)[0]


def _repeat_user_ids(app: SignInApp) -> list[str]:
    """The Business page's "Users with the most repeat dialogs", as stored (its default period)."""
    engine = make_engine(app.database_url)
    try:
        filters = Selection(period="30d", tz=default_timezone()).filters(utc_now())
        frame = top_repeat_users(engine, discover(engine), filters)
    finally:
        engine.dispose()
    return [str(v) for v in frame["user_id"]]


def _csv_column(content: bytes, column: str) -> list[str]:
    return [row[column] for row in csv.DictReader(io.StringIO(content.decode("utf-8-sig")))]


def test_a_viewer_sees_dashboards_with_masked_ids_and_no_export(browser, sign_in_app, screenshots):
    context, page = sign_in(browser, sign_in_app, "vera")
    page.get_by_text("Signed in as").first.wait_for()
    nav = page.locator("[data-testid=stSidebarNav]")
    nav.wait_for()
    assert "Business" in nav.inner_text() and "Data export" not in nav.inner_text()
    assert page.locator("[data-testid=stSidebar] a[href^='mailto']").count() == 0  # the e-mail is text, not a link
    page.screenshot(path=str(screenshots / "sign-in-viewer-overview.png"))

    page.goto(f"{sign_in_app.base}/export")
    page.get_by_text("This page is not part of your role (viewer)").wait_for(timeout=60_000)
    assert page.locator(".st-key-export_csv").count() == 0
    page.screenshot(path=str(screenshots / "sign-in-viewer-export-refused.png"))

    page.goto(f"{sign_in_app.base}/business")
    page.locator(".st-key-csv_repeat_users a").wait_for(timeout=90_000)
    shown = _csv_column(_download(page, "csv_repeat_users"), "User")
    raw = _repeat_user_ids(sign_in_app)
    assert shown and shown == [ex.mask(v, SALT.encode()) for v in raw[: len(shown)]]
    assert not set(shown) & set(raw)
    context.close()
    events = [(line["event"], line["user"]) for line in sign_in_app.audit()]
    assert ("sign_in", "vera@example.com") in events and ("page_refused", "vera@example.com") in events
    [download] = [x for x in sign_in_app.audit() if x["event"] == "table_download" and x["user"] == "vera@example.com"]
    assert download["table"] == "repeat_users" and download["rows"] == len(shown)


def test_an_analyst_exports_with_ids_as_stored(browser, sign_in_app):
    context, page = sign_in(browser, sign_in_app, "anna")
    page.goto(f"{sign_in_app.base}/business")
    page.locator(".st-key-csv_repeat_users a").wait_for(timeout=90_000)
    shown = _csv_column(_download(page, "csv_repeat_users"), "User")
    assert shown and shown == _repeat_user_ids(sign_in_app)[: len(shown)]

    page.goto(f"{sign_in_app.base}/export")
    page.locator(".st-key-export_csv a").wait_for(timeout=90_000)
    content = _download(page, "export_csv")
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows and "timestamp" in rows[0]
    assert "Importing is for the admin role" in page.inner_text("body")
    context.close()
    [line] = [x for x in sign_in_app.audit() if x["event"] == "export" and x["user"] == "anna@example.com"]
    assert line["rows"] == len(rows) and line["format"] == "csv" and line["table"] == "conversation_metrics"


def test_an_admin_imports_a_log(browser, sign_in_app, tmp_path, screenshots):
    context, page = sign_in(browser, sign_in_app, "adam")
    page.goto(f"{sign_in_app.base}/export")
    page.locator("[data-testid=stFileUploaderDropzoneInput]").wait_for(state="attached", timeout=90_000)
    log = tmp_path / "platform.jsonl"
    record = {"timestamp": f"{TODAY}T09:30:00Z", "level": "INFO", "event": "message_processed", "user_id": "u-browser",
              "session_id": "s-browser", "platform": "web", "intent": "order_status", "confidence": 0.9,
              "response_time_ms": 700, "ai_tokens_used": 90, "cost_usd": 0.001}
    log.write_text(json.dumps(record) + "\n", encoding="utf-8")
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(log))
    page.locator(".st-key-import_run button").click()
    page.get_by_text("Result of platform.jsonl").or_(page.get_by_text("platform.jsonl")).first.wait_for(timeout=60_000)
    page.get_by_text("No line was rejected").or_(page.get_by_text("Imported")).first.wait_for(timeout=60_000)
    page.screenshot(path=str(screenshots / "sign-in-admin-import.png"))
    context.close()
    [line] = [x for x in sign_in_app.audit() if x["event"] == "import"]
    assert line["user"] == "adam@example.com" and line["rows_read"] == 1 and line["imported"] == 1
    assert line["file"] == "platform.jsonl"


def test_sign_out_ends_the_session(browser, sign_in_app):
    context, page = sign_in(browser, sign_in_app, "anna")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(lambda url: not url.startswith(sign_in_app.base), timeout=30_000)  # the provider's end-session page
    page.goto(sign_in_app.base)
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    assert "Signed in as" not in page.inner_text("body")
    context.close()
    assert any(x["event"] == "sign_out" and x["user"] == "anna@example.com" for x in sign_in_app.audit())


def test_a_tampered_session_cookie_is_refused(browser, sign_in_app):
    context, page = sign_in(browser, sign_in_app, "vera")
    [cookie] = [c for c in context.cookies() if c["name"] == "_streamlit_user"]
    payload, signature = cookie["value"].rsplit(".", 1)
    # The signature's first character: every one of its 6 bits counts. (The last character of the
    # base64 signature holds only 4 bits, so changing "1" to "0" there can leave it valid.)
    tampered = f"{payload}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"
    context.clear_cookies()
    context.add_cookies([{**cookie, "value": tampered}])
    page.goto(sign_in_app.base)
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    assert "vera@" not in page.inner_text("body")
    context.close()


def test_a_user_without_a_role_is_refused(browser, sign_in_app, screenshots):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(sign_in_app.base)
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    page.screenshot(path=str(screenshots / "sign-in-page.png"))
    page.get_by_role("button", name="Sign in").click()
    page.fill("input[name=sub]", "stranger")
    page.get_by_role("button", name="Authorize").click()
    page.get_by_text("has no role in Easy Flow Analytics").wait_for(timeout=60_000)
    page.screenshot(path=str(screenshots / "sign-in-no-role.png"))
    assert page.locator("[data-testid=stMetric]").count() == 0
    context.close()


# --- downloads go only to whoever the page was drawn for; sessions that end -----------------------------

def _href(page, key: str) -> str:
    from urllib.parse import urljoin

    link = page.locator(f".st-key-{key} a")
    link.wait_for(timeout=90_000)
    return urljoin(page.url, link.get_attribute("href"))


def _refusals(app: SignInApp) -> list[str]:
    return [x["reason"] for x in app.audit() if x["event"] == "download_refused"]


def test_a_download_link_works_once_for_its_own_signed_in_session(browser, sign_in_app, screenshots):
    anna, page = sign_in(browser, sign_in_app, "anna")
    page.goto(f"{sign_in_app.base}/export")
    stolen = _href(page, "export_csv")
    strangers = browser.new_context()  # the link alone, as an access log or a shoulder would give it
    assert strangers.request.get(stolen).status == 404
    vera, _ = sign_in(browser, sign_in_app, "vera")  # a viewer, signed in
    assert vera.request.get(stolen).status == 404
    adam, _ = sign_in(browser, sign_in_app, "adam")  # another user, even an admin
    assert adam.request.get(stolen).status == 404
    assert _refusals(sign_in_app)[-3:] == ["signed_out", "other_user", "other_user"]

    page.reload()  # the refused fetches used the link up: the page draws a fresh one
    settle(page)
    own = _href(page, "export_csv")
    answer = anna.request.get(own)
    assert answer.status == 200 and answer.headers["cache-control"] == "no-store"
    assert answer.headers["content-disposition"].startswith('attachment; filename="conversation_metrics_')
    assert anna.request.get(own).status == 404  # a second time
    assert _refusals(sign_in_app)[-1] == "unknown_or_used"

    page.reload()
    settle(page)
    before_sign_out = _href(page, "export_csv")
    saved = anna.cookies()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(lambda url: not url.startswith(sign_in_app.base), timeout=30_000)
    replay = browser.new_context()
    replay.add_cookies(saved)  # the identity cookie, saved before the sign-out
    assert replay.request.get(before_sign_out).status == 404
    replayed = replay.new_page()
    replayed.goto(sign_in_app.base)
    replayed.get_by_text("Your session has ended").wait_for(timeout=60_000)
    assert "Signed in as" not in replayed.inner_text("body")
    assert replayed.locator("[data-testid=stMetric]").count() == 0
    replayed.screenshot(path=str(screenshots / "sign-in-session-ended.png"))
    replayed.goto(f"{sign_in_app.base}/?lang=ru")
    replayed.get_by_text("Сеанс завершён").wait_for(timeout=60_000)
    replayed.screenshot(path=str(screenshots / "sign-in-session-ended-ru.png"))
    for context in (anna, strangers, vera, adam, replay):
        context.close()
    assert any(x["event"] == "session_ended" and x["user"] == "anna@example.com" and x["reason"] == "signed_out"
               for x in sign_in_app.audit())


def test_a_role_removed_at_the_provider_is_gone_at_the_next_sign_in(browser, sign_in_app):
    import urllib.request

    def set_roles(roles: list[str]) -> None:
        body = json.dumps({"email": "ivan@example.com", "roles": roles}).encode()
        request = urllib.request.Request(f"{sign_in_app.provider}/users/ivan", data=body, method="PUT",
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).close()

    set_roles(["analyst"])
    context, page = sign_in(browser, sign_in_app, "ivan")
    assert "analyst" in page.locator("[data-testid=stSidebar]").inner_text()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(lambda url: not url.startswith(sign_in_app.base), timeout=30_000)
    context.close()
    set_roles([])
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(sign_in_app.base)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("input[name=sub]", timeout=30_000)
    page.fill("input[name=sub]", "ivan")
    page.get_by_role("button", name="Authorize").click()
    page.get_by_text("has no role in Easy Flow Analytics").wait_for(timeout=60_000)
    assert page.locator("[data-testid=stMetric]").count() == 0
    context.close()
