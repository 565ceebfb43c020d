"""Sign-in and roles: the settings, the role mapping, every role on every page (AppTest with a faked
signed-in user), the proxy-header mode, the default with nothing configured, and the audit lines.

The sign-in through a real OIDC provider in Chromium is tests/browser/test_sign_in.py.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import sqlite3
import time

import pytest
from streamlit.testing.v1 import AppTest

from data_access import export as ex
from data_access import logs
from data_access.filters import Filters
from dashboard import auth
from dashboard.auth import AuthConfigError, Principal, settings_from
from tests.apptest import APP, TODAY, assert_clean, downloads, page_text

AUTH_SECTION = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "a-cookie-secret-of-tests",
                "client_id": "easyflow", "client_secret": "client-secret-of-tests",
                "server_metadata_url": "http://localhost:9/.well-known/openid-configuration"}
PAGES = ["overview", "operational", "business", "ai_performance", "alerts", "sla", "reports", "export"]
SALT = "salt-of-the-auth-tests"


def run_page(page: str, prepare=lambda at: None) -> AppTest:
    """Run the app on ``pages/<page>.py`` after ``prepare(at)`` (secrets, user, URL); check it ran clean."""
    at = AppTest.from_file(APP, default_timeout=90)
    prepare(at)
    if page != "overview":
        at.switch_page(f"../pages/{page}.py")
    at.run()
    assert_clean(at)
    return at


# --- settings and roles (no Streamlit) ---------------------------------------------------------------

def test_nothing_configured_locks_a_real_database_and_leaves_the_demo_open():
    assert settings_from({}, {}, is_demo=False).mode == "locked"
    demo = settings_from({}, {}, is_demo=True)
    assert demo.mode == "demo" and demo.anonymous and demo.anonymous_role == "admin"


def test_an_auth_section_turns_oidc_on_and_the_environment_wins():
    assert settings_from({"auth": AUTH_SECTION}, {}, is_demo=False).mode == "oidc"
    assert settings_from({"auth": AUTH_SECTION}, {"EASYFLOW_AUTH": "none"}, is_demo=False).mode == "none"
    assert settings_from({}, {"EASYFLOW_AUTH": "Proxy"}, is_demo=False).mode == "proxy"
    assert settings_from({"easyflow": {"auth": {"mode": "none"}}}, {}, is_demo=False).mode == "none"


@pytest.mark.parametrize("secrets, env, message", [
    ({}, {"EASYFLOW_AUTH": "off"}, "EASYFLOW_AUTH must be one of oidc, proxy, none"),
    ({}, {"EASYFLOW_AUTH": "oidc"}, "needs an [auth] section"),
    ({"easyflow": {"auth": {"roles": {"ops": "superuser"}}}}, {}, "must be one of viewer, analyst, admin"),
    ({"easyflow": {"auth": {"default_role": "root"}}}, {}, "default_role must be one of"),
    ({}, {"EASYFLOW_AUTH": "none", "EASYFLOW_ANONYMOUS_ROLE": "owner"}, "EASYFLOW_ANONYMOUS_ROLE"),
])
def test_settings_that_cannot_be_used_say_which_in_one_line(secrets, env, message):
    with pytest.raises(AuthConfigError, match=message.replace("[", r"\[").replace("]", r"\]")) as raised:
        settings_from(secrets, env, is_demo=False)
    assert "\n" not in str(raised.value)


def test_a_named_provider_is_used_when_it_is_the_only_one():
    named = {"auth": {"redirect_uri": "x", "cookie_secret": "y", "keycloak": {"client_id": "c"}}}
    assert settings_from(named, {}, is_demo=False).provider == "keycloak"
    assert settings_from({"auth": AUTH_SECTION}, {}, is_demo=False).provider is None


def test_roles_map_from_claim_values_and_the_highest_wins():
    config = settings_from({"easyflow": {"auth": {"roles": {"support-leads": "viewer", "data-team": "analyst",
                                                             "platform-ops": "admin"}}}}, {}, is_demo=False)
    assert auth.role_for(["data-team", "support-leads"], config) == "analyst"
    assert auth.role_for(["platform-ops", "data-team"], config) == "admin"
    assert auth.role_for(["analyst"], config) is None  # a configured map is the only one
    assert auth.role_for(["someone-else"], config) is None  # refused, unless default_role says otherwise
    lenient = settings_from({"easyflow": {"auth": {"default_role": "viewer"}}}, {}, is_demo=False)
    assert auth.role_for([], lenient) == "viewer"
    assert auth.role_for(["analyst"], lenient) == "analyst"  # nothing configured: the role names, exactly
    assert auth.claim_values("data-team, platform-ops") == ["data-team", "platform-ops"]
    assert auth.claim_values(["a", " ", "b"]) == ["a", "b"] and auth.claim_values(None) == []


@pytest.mark.parametrize("groups", ["not admin yet", ["not admin yet"], "admins", "Admin", "admin-candidates"])
def test_a_group_grants_a_role_only_by_its_exact_name(groups):
    config = settings_from({}, {"EASYFLOW_AUTH": "proxy"}, is_demo=False)
    assert auth.role_for(auth.claim_values(groups), config) is None
    assert auth.principal_from_headers({"X-Forwarded-Email": "m@example.com", "X-Forwarded-Groups": groups
                                        if isinstance(groups, str) else ",".join(groups)}, config) == (
        "m@example.com", None)


def test_anonymous_visitors_are_viewers_unless_configured_or_on_the_demo():
    assert settings_from({}, {"EASYFLOW_AUTH": "none"}, is_demo=False).anonymous_role == "viewer"
    assert settings_from({}, {"EASYFLOW_AUTH": "none", "EASYFLOW_ANONYMOUS_ROLE": "analyst"},
                         is_demo=False).anonymous_role == "analyst"
    assert settings_from({}, {}, is_demo=True).anonymous_role == "admin"


def test_a_user_claim_and_proxy_headers_become_principals():
    config = settings_from({"easyflow": {"auth": {"roles_claim": "groups"}}}, {"EASYFLOW_AUTH": "proxy"},
                           is_demo=False)
    assert auth.principal_from_user({"email": "a@example.com", "groups": ["analyst"]}, config) == Principal(
        "a@example.com", "analyst", "oidc")
    assert auth.principal_from_user({"email": "a@example.com", "roles": ["admin"]}, config) is None  # other claim
    headers = {"X-Forwarded-Email": "b@example.com", "X-Forwarded-Groups": "viewer,admin"}
    assert auth.principal_from_headers(headers, config) == ("b@example.com", Principal("b@example.com", "admin", "proxy"))
    assert auth.principal_from_headers({"X-Forwarded-Groups": "admin"}, config) == (None, None)
    assert auth.principal_from_headers({"X-Forwarded-Email": "c@example.com"}, config) == ("c@example.com", None)


def _headers(*pairs: tuple[str, str]):
    from streamlit.runtime.context import StreamlitHeaders

    return StreamlitHeaders(pairs)


def test_proxy_headers_count_only_from_a_trusted_peer_once_each():
    config = settings_from({}, {"EASYFLOW_AUTH": "proxy", "EASYFLOW_TRUSTED_PROXIES": "10.0.0.2, 127.0.0.2"},
                           is_demo=False)
    good = _headers(("X-Forwarded-Email", "ana@example.com"), ("X-Forwarded-Groups", "analyst"))
    assert auth.principal_from_headers(good, config, "10.0.0.2")[1] == Principal("ana@example.com", "analyst", "proxy")
    assert auth.principal_from_headers(good, config, "127.0.0.2")[1].role == "analyst"
    refusals = [
        (good, "127.0.0.1", "untrusted_peer"),  # loopback, but not the configured proxy
        (good, "10.0.0.3", "untrusted_peer"),
        (good, "not an address", "untrusted_peer"),
        (_headers(("X-Forwarded-Email", "ana@example.com"), ("X-Forwarded-For", "10.0.0.2")), "10.0.0.2",
         "forwarded_for"),  # the server may have taken the peer from it
        (_headers(("X-Forwarded-Email", "mallory@example.com"), ("x-forwarded-email", "ana@example.com")),
         "10.0.0.2", "repeated_header"),
        (_headers(("X-Forwarded-Email", "ana@example.com"), ("X-Forwarded-Groups", "admin"),
                  ("X-Forwarded-Groups", "viewer")), "10.0.0.2", "repeated_header"),
    ]
    for headers, peer, reason in refusals:
        with pytest.raises(auth.ProxyRefusal) as refused:
            auth.principal_from_headers(headers, config, peer)
        assert refused.value.reason == reason, (peer, reason)
    default = settings_from({}, {"EASYFLOW_AUTH": "proxy"}, is_demo=False)
    assert auth.trusted_peer("127.0.0.1", default) and auth.trusted_peer("::1", default)
    assert not auth.trusted_peer("192.168.1.7", default)
    with pytest.raises(AuthConfigError, match="EASYFLOW_TRUSTED_PROXIES"):
        settings_from({}, {"EASYFLOW_TRUSTED_PROXIES": "nginx.local"}, is_demo=False)


def test_proxy_mode_refuses_a_listener_anyone_could_reach_unless_the_proxy_is_elsewhere():
    proxy = settings_from({}, {"EASYFLOW_AUTH": "proxy"}, is_demo=False)
    for address in ("127.0.0.1", "::1", "localhost", "127.0.0.5"):
        assert auth.listener_problem(proxy, address) is None, address
    for address in (None, "", "0.0.0.0", "::", "192.168.1.7"):
        assert "EASYFLOW_TRUSTED_PROXIES" in auth.listener_problem(proxy, address), address
    elsewhere = settings_from({}, {"EASYFLOW_AUTH": "proxy", "EASYFLOW_TRUSTED_PROXIES": "10.0.0.2"}, is_demo=False)
    assert auth.listener_problem(elsewhere, "0.0.0.0") is None
    oidc = settings_from({"auth": AUTH_SECTION}, {}, is_demo=False)
    assert auth.listener_problem(oidc, "0.0.0.0") is None


def test_what_each_role_may_do():
    viewer, analyst, admin = (Principal("x@example.com", role, "oidc") for role in auth.ROLES)
    assert [viewer.may(a) for a in ("user_ids", "export", "import", "debug")] == [False, False, False, False]
    assert [analyst.may(a) for a in ("user_ids", "export", "import", "debug")] == [True, True, False, False]
    assert [admin.may(a) for a in ("user_ids", "export", "import", "debug")] == [True, True, True, True]
    with pytest.raises(KeyError):
        admin.may("drop_tables")


# --- the pages (AppTest) --------------------------------------------------------------------------------

@pytest.fixture
def signed_in(monkeypatch, sqlite_demo_url):
    """An app on the small demo database (as a real database: DATABASE_URL) with OIDC configured;
    ``signed_in(role, page, **query)`` runs ``page`` as a user with that role (None: signed out)."""
    monkeypatch.delenv("EASYFLOW_AUTH", raising=False)
    monkeypatch.setenv("DATABASE_URL", sqlite_demo_url)
    monkeypatch.setenv("EASYFLOW_MASK_SALT", SALT)

    def run(role: str | None, page: str = "overview", **query) -> AppTest:
        def sign_in(at: AppTest) -> None:
            at.secrets["auth"] = AUTH_SECTION
            at.user = ({"is_logged_in": True, "email": f"{role}@example.com", "roles": [role], "iat": time.time()} if role
                       else {"is_logged_in": False})
            for key, value in query.items():
                at.query_params[key] = value

        return run_page(page, sign_in)

    return run


def _nav_pages(at: AppTest) -> list[str]:
    return [p.url_path for p in at.session_state["_pages"]]


def _refused(at: AppTest) -> bool:
    return any("This page is not part of your role" in e.value for e in at.error)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("role", auth.ROLES)
def test_every_role_on_every_page(signed_in, role, page):
    at = signed_in(role, page)
    text = page_text(at).replace("\\", "").replace("\u2060", "")  # the e-mail is escaped as text (md_text)
    assert f"Signed in as **{role}@example.com**" in text
    assert "Sign-in is off" not in text
    refused = page == "export" and role == "viewer"
    assert _refused(at) == refused
    if refused:
        assert not at.metric and not at.dataframe and not downloads(at)  # nothing read, nothing to take
    else:
        assert at.title or at.header
    assert ("export" in _nav_pages(at)) == (role != "viewer")
    if page == "business":  # the pointer to the export page only where the role has it
        assert bool(at.get("page_link")) == (role != "viewer")


def test_signed_out_visitors_see_only_the_sign_in(signed_in):
    for page in ("overview", "business", "export"):
        at = signed_in(None, page)
        assert [b.label for b in at.button] == ["Sign in"]
        assert not at.metric and not at.dataframe and not at.get("plotly_chart")


def test_a_user_without_a_role_is_refused_and_can_sign_out(signed_in, monkeypatch):
    at = AppTest.from_file(APP, default_timeout=90)
    at.secrets["auth"] = AUTH_SECTION
    at.user = {"is_logged_in": True, "email": "stranger@example.com", "roles": ["marketing"], "iat": time.time()}
    at.run()
    assert any("has no role in Easy Flow Analytics" in e.value for e in at.error)
    assert not at.metric and [b.label for b in at.button] == ["Sign out"]


def _repeat_users(at: AppTest):
    [frame] = [d.value for d in at.dataframe if "User" in getattr(d.value, "columns", [])
               or "user_id" in getattr(d.value, "columns", [])]
    data = getattr(frame, "data", frame)  # a Styler when the table is styled
    return list(data["user_id"])


def test_user_ids_are_masked_for_a_viewer_and_whole_for_an_analyst(signed_in):
    viewer_ids = _repeat_users(signed_in("viewer", "business"))
    analyst_ids = _repeat_users(signed_in("analyst", "business"))
    assert analyst_ids and len(viewer_ids) == len(analyst_ids)
    assert viewer_ids == [ex.mask(v, SALT.encode()) for v in analyst_ids]  # the export's stable salted hash
    assert not set(viewer_ids) & set(analyst_ids)


def test_the_debug_panel_is_for_admins(signed_in):
    for role, shown in (("viewer", False), ("analyst", False), ("admin", True)):
        at = signed_in(role, debug="1")
        assert any(e.label.startswith("Queries this run") for e in at.expander) == shown, role


def test_the_import_is_for_admins(signed_in, monkeypatch):
    monkeypatch.setenv("EASYFLOW_IMPORT", "on")
    analyst = signed_in("analyst", "export")
    assert "Importing is for the admin role; yours is analyst." in page_text(analyst)
    assert not analyst.get("file_uploader")
    admin = signed_in("admin", "export")
    assert admin.get("file_uploader")


def test_the_downloads_check_the_role_where_the_rows_leave(sqlite_demo_url, monkeypatch):
    from dashboard import data, upload

    request = ex.ExportRequest("nps_responses", Filters.for_dates(TODAY, TODAY))
    with pytest.raises(auth.Refused):
        data.export_file(sqlite_demo_url, request, "csv", principal=Principal("v@example.com", "viewer", "oidc"))

    class Upload(io.BytesIO):
        name, size = "log.jsonl", 10

    with pytest.raises(auth.Refused):
        upload.import_log(sqlite_demo_url, Upload(b"{}\n"), lambda f: None,
                          principal=Principal("a@example.com", "analyst", "oidc"))


# --- nothing configured, anonymous by choice, the demo -------------------------------------------------

def test_a_real_database_with_nothing_configured_shows_no_data(monkeypatch, sqlite_demo_url):
    monkeypatch.delenv("EASYFLOW_AUTH", raising=False)
    monkeypatch.setenv("DATABASE_URL", sqlite_demo_url)
    for page in ("overview", "export"):
        at = AppTest.from_file(APP, default_timeout=90)
        if page != "overview":
            at.switch_page(f"../pages/{page}.py")
        at.run()
        assert_clean(at)
        assert [x.value for x in at.title] == ["Sign-in is not configured"]
        text = page_text(at)
        assert "EASYFLOW_AUTH=proxy" in text and "EASYFLOW_AUTH=none" in text and "[auth]" in text
        assert not at.metric and not at.dataframe and not at.get("plotly_chart") and not at.sidebar.multiselect


def test_anonymous_access_by_choice_shows_the_data_under_a_banner(monkeypatch, sqlite_demo_url):
    monkeypatch.setenv("EASYFLOW_AUTH", "none")
    monkeypatch.setenv("DATABASE_URL", sqlite_demo_url)
    monkeypatch.delenv("EASYFLOW_ANONYMOUS_ROLE")
    at = AppTest.from_file(APP, default_timeout=90).run()
    assert_clean(at)
    assert any("Sign-in is off" in w.value for w in at.warning) and at.metric
    assert "export" not in _nav_pages(at)  # a viewer, unless the operator says otherwise
    monkeypatch.setenv("EASYFLOW_ANONYMOUS_ROLE", "analyst")
    at = AppTest.from_file(APP, default_timeout=90).run()
    assert "export" in _nav_pages(at)


def test_the_demo_needs_nothing(monkeypatch, sqlite_demo_url, tmp_path):
    """The embedded demo (no DATABASE_URL, no secrets): open, no banner, no sign-in."""
    demo = tmp_path / "demo.sqlite"
    shutil.copy(sqlite_demo_url.removeprefix("sqlite:///"), demo)
    with sqlite3.connect(demo) as conn:  # built today, so it is used as it is
        conn.execute(f"PRAGMA user_version = {TODAY.toordinal()}")
    monkeypatch.delenv("EASYFLOW_AUTH", raising=False)
    monkeypatch.delenv("EASYFLOW_ANONYMOUS_ROLE", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("EASYFLOW_DEMO_DB", str(demo))
    monkeypatch.setenv("EASYFLOW_SECRETS_FILE", str(tmp_path / "none.toml"))
    at = AppTest.from_file(APP, default_timeout=90).run()
    assert_clean(at)
    assert at.metric and not [b for b in at.button if b.label == "Sign in"]
    assert not any("Sign-in" in w.value for w in at.warning)
    assert "export" in _nav_pages(at)


# --- the proxy-header mode --------------------------------------------------------------------------------

@pytest.fixture
def behind_proxy(monkeypatch, sqlite_demo_url):
    """``behind_proxy(headers, enabled)`` runs the Overview with these request headers."""
    monkeypatch.setenv("DATABASE_URL", sqlite_demo_url)

    def run(headers: dict, enabled: bool = True, page: str = "overview", peer: str = "127.0.0.1") -> AppTest:
        if enabled:
            monkeypatch.setenv("EASYFLOW_AUTH", "proxy")
        else:
            monkeypatch.delenv("EASYFLOW_AUTH", raising=False)
        monkeypatch.setattr(auth, "request_headers", lambda: headers)
        monkeypatch.setattr(auth, "peer_address", lambda: peer)
        return run_page(page)

    return run


def test_proxy_headers_are_ignored_unless_enabled(behind_proxy):
    at = behind_proxy({"X-Forwarded-Email": "boss@example.com", "X-Forwarded-Groups": "admin"}, enabled=False)
    assert [x.value for x in at.title] == ["Sign-in is not configured"] and not at.metric


def test_proxy_headers_apply_roles_when_enabled(behind_proxy):
    at = behind_proxy({"X-Forwarded-Email": "lead@example.com", "X-Forwarded-Groups": "viewer"}, page="export")
    assert _refused(at) and "Signed in as **lead@example.com** · viewer" in page_text(at).replace("\\", "").replace("\u2060", "")
    at = behind_proxy({"X-Forwarded-Email": "ana@example.com", "X-Forwarded-Groups": "analyst"}, page="export")
    assert not _refused(at) and downloads(at)


def test_a_request_without_the_proxy_user_is_refused(behind_proxy):
    at = behind_proxy({"X-Forwarded-Groups": "admin"})
    assert any("did not come through it" in e.value for e in at.error) and not at.metric


def test_forged_proxy_headers_from_anyone_but_the_proxy_show_nothing(behind_proxy, audit_lines):
    lines, _ = audit_lines
    forged = {"X-Forwarded-Email": "mallory@example.com", "X-Forwarded-Groups": "admin", "X-Real-IP": "10.9.9.9"}
    at = behind_proxy(forged, page="export", peer="192.168.1.66")
    assert any("did not come through the sign-in proxy" in e.value for e in at.error)
    assert not at.metric and not at.dataframe and not downloads(at)
    [refusal] = [x for x in lines() if x["event"] == "access_refused"]
    assert refusal["reason"] == "untrusted_peer" and refusal["client"] == "192.168.1.66" and refusal["session"]
    assert "mallory" not in page_text(at)


# --- the audit trail ------------------------------------------------------------------------------------------

@pytest.fixture
def audit_lines():
    buffer = io.StringIO()
    logs.configure(stream=buffer, level=logging.INFO, force=True)

    def lines() -> list[dict]:
        return [line for line in map(json.loads, buffer.getvalue().splitlines()) if line.get("audit")]

    yield lines, buffer
    logs.configure(force=True, level=logging.INFO)


def test_sign_in_and_refusals_are_audited_once(signed_in, audit_lines):
    lines, _ = audit_lines
    at = signed_in("viewer", "export")
    at.run()  # a rerun is not a second sign-in
    events = [(line["event"], line["user"], line["role"]) for line in lines()]
    assert events.count(("sign_in", "viewer@example.com", "viewer")) == 1
    assert ("page_refused", "viewer@example.com", "viewer") in events


def test_exports_and_imports_are_audited_with_who_what_and_how_many(postgresql_demo_url, audit_lines, monkeypatch):
    from dashboard import data, upload

    lines, buffer = audit_lines
    monkeypatch.setenv("EASYFLOW_MASK_SALT", SALT)
    analyst = Principal("ana@example.com", "analyst", "oidc")
    filters = Filters.for_dates(TODAY.replace(day=1) if TODAY.day > 1 else TODAY, TODAY, platforms=("telegram",))
    request = ex.ExportRequest("conversation_metrics", filters, ("timestamp", "user_id", "platform"), True)
    content = data.export_file(postgresql_demo_url, request, "csv", principal=analyst)
    [line] = [x for x in lines() if x["event"] == "export"]
    assert line["user"] == "ana@example.com" and line["role"] == "analyst"
    assert line["table"] == "conversation_metrics" and line["format"] == "csv" and line["masked"] is True
    assert line["rows"] == len(content.decode("utf-8-sig").strip().splitlines()) - 1 > 0
    assert line["filters"]["platforms"] == ["telegram"] and line["filters"]["tz"] == "UTC"

    class Upload(io.BytesIO):
        name = "platform-2026-11-30.jsonl"

    good = json.dumps({"timestamp": f"{TODAY}T10:00:00Z", "level": "INFO", "event": "message_processed",
                       "user_id": "u-audit", "session_id": "s-audit", "platform": "web", "intent": "order_status",
                       "confidence": 0.9, "response_time_ms": 900, "ai_tokens_used": 100, "cost_usd": 0.002})
    body = (good + "\nnot json\n").encode()
    file = Upload(body)
    file.size = len(body)
    admin = Principal("root@example.com", "admin", "proxy")
    result = upload.import_log(postgresql_demo_url, file, lambda f: None, principal=admin)
    [line] = [x for x in lines() if x["event"] == "import"]
    assert line["user"] == "root@example.com" and line["via"] == "proxy"
    assert line["file"] == "platform-2026-11-30.jsonl" and line["rows_read"] == result.summary.read == 2
    assert line["rejected"] == result.summary.rejected == 1
    text = buffer.getvalue()
    for secret in (SALT, "postgresql", "127.0.0.1", AUTH_SECTION["cookie_secret"]):
        assert secret not in text


def test_looking_a_user_up_is_for_roles_that_see_ids(signed_in):
    viewer = signed_in("viewer", "messages", user="some-user")
    assert any("for the analyst and admin roles" in e.value for e in viewer.error) and not viewer.dataframe
    analyst = signed_in("analyst", "messages", user="some-user")
    assert not analyst.error  # an unknown user: "no messages in this range", not a refusal
    business = signed_in("viewer", "business")
    links = [link for d in business.dataframe if "open" in getattr(getattr(d.value, "data", d.value), "columns", [])
             for link in getattr(d.value, "data", d.value)["open"].dropna()]
    # a viewer may open a comment's dialog, never look a user up
    assert links and all("dialog=" in link and "user=" not in link for link in links)


def test_the_audit_file_answers_who_looked_up_and_exported_whose_rows_from_where(sqlite_demo_url, monkeypatch,
                                                                                tmp_path, capsys):
    from dashboard import audit, data

    trail = tmp_path / "audit.jsonl"
    monkeypatch.setenv("EASYFLOW_AUDIT_FILE", str(trail))
    monkeypatch.setenv("EASYFLOW_MASK_SALT", SALT)
    analyst = {"X-Forwarded-Email": "ana@example.com", "X-Forwarded-Groups": "analyst", "X-Real-IP": "10.1.2.3"}
    monkeypatch.setattr(auth, "request_headers", lambda: analyst)
    monkeypatch.setattr(auth, "peer_address", lambda: "127.0.0.1")
    monkeypatch.setenv("EASYFLOW_AUTH", "proxy")
    monkeypatch.setenv("DATABASE_URL", sqlite_demo_url)
    at = AppTest.from_file(APP, default_timeout=90)
    at.switch_page("../pages/messages.py")
    at.query_params["user"] = "user-42"
    at.run()
    assert_clean(at)
    filters = Filters.for_dates(TODAY, TODAY, platforms=("whatsapp",))
    request = ex.ExportRequest("dialogs", filters, outcomes=("escalated",), mask_user_ids=True)
    data.export_file(sqlite_demo_url, request, "csv", principal=Principal("ana@example.com", "analyst", "proxy"))
    lines = list(audit.read(trail, user="ana@example.com"))
    events = [line["event"] for line in lines]
    assert events[:2] == ["sign_in", "lookup"] and "export" in events
    sign_in, lookup = lines[0], lines[1]
    assert sign_in["client"] == lookup["client"] == "10.1.2.3" and sign_in["session"] == lookup["session"]
    assert lookup["user_id"] == "user-42" and lookup["role"] == "analyst" and lookup["time"].endswith("Z")
    [export] = [line for line in lines if line["event"] == "export"]
    assert export["table"] == "dialogs" and export["masked"] is True and export["bytes"] > 0
    assert export["filters"]["platforms"] == ["whatsapp"] and export["filters"]["outcomes"] == ["escalated"]
    assert audit.main(["--file", str(trail), "--event", "lookup"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and "ana@example.com" in printed[0] and "10.1.2.3" in printed[0]
    assert 'user_id="user-42"' in printed[0]


def test_a_session_past_its_lifetime_or_signed_out_elsewhere_asks_to_sign_in(signed_in_as, audit_lines, monkeypatch):
    from dashboard import sessions

    lines, _ = audit_lines
    now = time.time()
    assert page_text(signed_in_as({"iat": now - 60})).count("Signed in as") == 1
    old = signed_in_as({"iat": now - 13 * 3600})  # the default lifetime is 12 hours
    assert "Your session has ended" in page_text(old) and [b.label for b in old.button] == ["Sign in"]
    assert not old.metric and not old.dataframe
    monkeypatch.setenv("EASYFLOW_SESSION_HOURS", "24")
    assert "Signed in as" in page_text(signed_in_as({"iat": now - 13 * 3600}))
    sessions.revoke({"sub": "ana-sub"}, at=now - 30)  # signed out on another device half a minute ago
    replayed = signed_in_as({"iat": now - 60})
    assert "Your session has ended" in page_text(replayed) and not replayed.metric
    assert "Signed in as" in page_text(signed_in_as({"iat": now - 10}))  # a sign-in since: a new session
    assert sessions.ended({"sub": "x"}) == "expired"  # no sign-in time: over
    ended = [(x["event"], x["reason"]) for x in lines() if x["event"] == "session_ended"]
    assert ("session_ended", "expired") in ended and ("session_ended", "signed_out") in ended


@pytest.fixture
def signed_in_as(monkeypatch, sqlite_demo_url):
    """Run the Overview as ana (an analyst) with these extra claims (``iat``: when she signed in)."""
    monkeypatch.delenv("EASYFLOW_AUTH", raising=False)
    monkeypatch.setenv("DATABASE_URL", sqlite_demo_url)

    def run(claims: dict) -> AppTest:
        def sign_in(at: AppTest) -> None:
            at.secrets["auth"] = AUTH_SECTION
            at.user = {"is_logged_in": True, "email": "ana@example.com", "sub": "ana-sub", "roles": ["analyst"],
                       **claims}

        return run_page("overview", sign_in)

    return run
