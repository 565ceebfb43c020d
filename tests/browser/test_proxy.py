"""Proxy mode (``EASYFLOW_AUTH=proxy``) trusts only its proxy: Chromium sends forged identity headers
straight to Streamlit and through the shipped ``deploy/nginx.conf`` (rendered by
``deploy/replicas.py``), and sees no data either way; the user named by nginx's authentication step
(a small ``auth_request`` backend here, as oauth2-proxy would be) signs in, whatever the client
adds. nginx reaches Streamlit from 127.0.0.2 (``proxy_bind``), the one trusted address, so the
browser's own loopback address stands for a client on the network.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.browser.conftest import ROOT, serve
from tests.browser.test_pages import settle
from tests.services import free_port, required, wait_until_ready

sys.path.insert(0, str(ROOT / "deploy"))
import replicas  # noqa: E402  (deploy/replicas.py)

PROXY_ADDRESS = "127.0.0.2"
FORGED = {"X-Forwarded-Email": "mallory@example.com", "X-Forwarded-Groups": "admin"}


class AuthStep(BaseHTTPRequestHandler):
    """nginx's ``auth_request`` backend: ``Authorization: Bearer anna`` is anna, an analyst."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.headers.get("Authorization") == "Bearer anna":
            self.send_response(202)
            self.send_header("X-Auth-Request-Email", "anna@example.com")
            self.send_header("X-Auth-Request-Groups", "analyst")
        else:
            self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def _nginx(folder: Path, streamlit_port: int, listen: int, auth_port: int | None):
    """deploy/nginx.conf rendered for one replica, reaching it from PROXY_ADDRESS; with
    ``auth_port``, its commented authentication step switched on against that backend."""
    text = replicas.render_nginx([streamlit_port], listen, folder)
    text = text.replace("        proxy_pass http://easyflow_dashboard;",
                        f"        proxy_bind {PROXY_ADDRESS};\n        proxy_pass http://easyflow_dashboard;", 1)
    if auth_port is not None:
        text, switched = re.subn(r"(?m)^        # (auth_request.*)$", r"        \1", text)
        assert switched == 3, "deploy/nginx.conf's authentication step has changed"
        text = text.replace("    location / {", f"""    location = /oauth2/auth {{
        internal;
        proxy_pass http://127.0.0.1:{auth_port}/auth;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
    }}

    location / {{""", 1)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "temp").mkdir(exist_ok=True)
    config = folder / "nginx.conf"
    config.write_text(text, encoding="utf-8")
    nginx = os.environ.get("EASYFLOW_NGINX", "/usr/sbin/nginx")
    subprocess.run([nginx, "-t", "-q", "-p", str(folder), "-c", str(config), "-g", "daemon off;"], check=True)
    return subprocess.Popen([nginx, "-p", str(folder), "-c", str(config), "-g", "daemon off;"])


@pytest.fixture(scope="module")
def behind_nginx(sqlite_demo_url, tmp_path_factory):
    if not Path(os.environ.get("EASYFLOW_NGINX", "/usr/sbin/nginx")).is_file():
        required("nginx is not installed (apt-get install -y nginx)")
    folder = tmp_path_factory.mktemp("proxy")
    database = folder / "metrics.sqlite"
    shutil.copy(sqlite_demo_url.removeprefix("sqlite:///"), database)
    auth_server = ThreadingHTTPServer(("127.0.0.1", 0), AuthStep)
    threading.Thread(target=auth_server.serve_forever, daemon=True).start()
    port = free_port()
    log = folder / "streamlit.log"
    with serve(f"sqlite:///{database}", log, port=port, EASYFLOW_AUTH="proxy",
               EASYFLOW_TRUSTED_PROXIES=PROXY_ADDRESS) as direct:
        plain, authenticated = free_port(), free_port()
        nginxes = [_nginx(folder / "plain", port, plain, None),
                   _nginx(folder / "auth", port, authenticated, auth_server.server_address[1])]
        for process, listen, name in zip(nginxes, (plain, authenticated), ("plain", "auth")):
            wait_until_ready(f"http://127.0.0.1:{listen}/healthz", process, "nginx", str(folder / name / "error.log"))
        yield {"direct": direct, "plain": f"http://127.0.0.1:{plain}",
               "authenticated": f"http://127.0.0.1:{authenticated}", "log": log}
        for process in nginxes:
            process.terminate()
            process.wait(timeout=15)
    auth_server.shutdown()


def _open(browser, url: str, headers: dict):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, extra_http_headers=headers)
    page = context.new_page()
    page.goto(url)
    settle(page)
    return context, page


def _audit(log: Path) -> list[dict]:
    return [line for line in (json.loads(raw) for raw in log.read_text(errors="replace").splitlines()
                              if raw.startswith("{")) if line.get("audit")]


def _shows_no_data(page) -> None:
    body = page.inner_text("body")
    assert "mallory" not in body
    assert page.locator("[data-testid=stMetric]").count() == 0
    assert page.locator("[data-testid=stDataFrame]").count() == 0


def test_forged_headers_straight_to_streamlit_show_nothing_and_are_audited(browser, behind_nginx, screenshots):
    for extra, reason in ((FORGED, "untrusted_peer"),
                          # uvicorn would take the peer from X-Forwarded-For: refused, never believed
                          ({**FORGED, "X-Forwarded-For": PROXY_ADDRESS}, "forwarded_for")):
        context, page = _open(browser, f"{behind_nginx['direct']}/export?debug=1", extra)
        page.get_by_text("did not come through the sign-in proxy").wait_for(timeout=60_000)
        _shows_no_data(page)
        if reason == "untrusted_peer":
            page.screenshot(path=str(screenshots / "proxy-forged-direct.png"))
        context.close()
        assert any(line["event"] == "access_refused" and line["reason"] == reason
                   for line in _audit(behind_nginx["log"])), reason


def test_forged_headers_through_nginx_never_pass(browser, behind_nginx):
    """The shipped configuration without an authentication step: the identity headers arrive empty."""
    context, page = _open(browser, f"{behind_nginx['plain']}/export?debug=1", FORGED)
    page.get_by_text("did not come through it").wait_for(timeout=60_000)  # no user: nginx emptied the header
    _shows_no_data(page)
    context.close()


def test_the_user_nginx_authenticates_is_the_one_signed_in(browser, behind_nginx):
    context, page = _open(browser, f"{behind_nginx['authenticated']}/export",
                          {**FORGED, "Authorization": "Bearer anna", "X-Real-IP": "10.6.6.6"})
    page.get_by_text("Signed in as").first.wait_for(timeout=60_000)
    sidebar = page.locator("[data-testid=stSidebar]").inner_text().replace("\u2060", "")
    assert "anna@example.com" in sidebar and "analyst" in sidebar and "mallory" not in page.inner_text("body")
    context.close()
    [sign_in] = [x for x in _audit(behind_nginx["log"]) if x["event"] == "sign_in"]
    assert sign_in["user"] == "anna@example.com" and sign_in["role"] == "analyst"
    assert sign_in["client"] == "127.0.0.1" and sign_in["session"]  # nginx's $remote_addr, not the client's claim
    unauthenticated = urllib.request.Request(f"{behind_nginx['authenticated']}/", headers=FORGED)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(unauthenticated, timeout=10)
    assert refused.value.code == 401


def test_nginx_forbids_framing_and_keeps_its_version_to_itself(behind_nginx):
    with urllib.request.urlopen(f"{behind_nginx['plain']}/", timeout=10) as answer:
        headers = answer.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Server"] == "nginx"  # server_tokens off: no version
