"""A team at once (deploy/): two dashboard replicas sharing a Redis result cache behind nginx
(deploy/nginx.conf, rendered by deploy/replicas.py), driven by Chromium through nginx, signed in
through a real local OIDC provider. The replica serving a session is killed mid-session: the next
interaction shows the same view (its filters and toggle from the URL) from the other replica,
still signed in, drawn from what the first one left in Redis (``debug=1`` lists those panels as
served from the shared cache, not run as SQL). Redis stopped: pages still render."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.browser.conftest import fetch_download
from tests.browser.test_pages import assert_no_error, settle, tiles
from tests.services import free_port, required, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy"))
import replicas  # noqa: E402  (deploy/replicas.py)


class Team:
    def __init__(self, base: str, processes: dict, logs: dict, redis: subprocess.Popen) -> None:
        self.base, self.processes, self.logs, self.redis = base, processes, logs, redis

    def renders(self) -> dict[int, int]:
        """Page runs per replica port so far (``page_rendered`` lines of each one's log)."""
        return {port: sum(1 for line in log.read_text(errors="replace").splitlines()
                          if line.startswith("{") and json.loads(line).get("event") == "page_rendered")
                for port, log in self.logs.items()}


@pytest.fixture(scope="module")
def team(postgresql_demo_url, tmp_path_factory):
    if not Path(os.environ.get("EASYFLOW_NGINX", "/usr/sbin/nginx")).is_file():
        required("nginx is not installed (apt-get install -y nginx)")
    if not shutil.which("redis-server"):
        required("redis-server is not installed (apt-get install -y redis-server)")
    try:
        from oidc_provider_mock import User, run_server_in_thread
    except ImportError:
        pytest.fail("oidc-provider-mock is not installed (pip install -r requirements-dev.txt)")
    folder = tmp_path_factory.mktemp("team")
    redis_port = free_port()
    redis = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "",
                              "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    users = [User(sub="vera", claims={"email": "vera@example.com", "roles": ["admin"]})]
    with run_server_in_thread(port=0, user_claims=users) as provider:
        listen = free_port()
        secrets = folder / "secrets.toml"  # one file, one cookie secret: a sign-in is valid on every replica
        secrets.write_text(f"""
[auth]
redirect_uri = "http://127.0.0.1:{listen}/oauth2callback"
cookie_secret = "team-tests-cookie-secret-0123456789abcdef"
client_id = "easyflow-dashboard"
client_secret = "team-tests-client-secret"
server_metadata_url = "http://localhost:{provider.server_port}/.well-known/openid-configuration"
""", encoding="utf-8")
        env = dict(os.environ, DATABASE_URL=postgresql_demo_url, EASYFLOW_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
                   EASYFLOW_AUTH="", EASYFLOW_LOG_LEVEL="DEBUG", EASYFLOW_MASK_SALT="team-tests")
        ports = [free_port(), free_port()]
        logs = {port: folder / f"replica-{port}.log" for port in ports}
        processes = {port: replicas.start_replica(port, secrets, logs[port], env) for port in ports}
        for port in ports:
            wait_until_ready(f"http://127.0.0.1:{port}/_stcore/health", processes[port], "streamlit", str(logs[port]))
        nginx = replicas.start_nginx(ports, listen, folder / "nginx")
        base = f"http://127.0.0.1:{listen}"
        wait_until_ready(f"{base}/healthz", nginx, "nginx", str(folder / "nginx" / "error.log"))
        team = Team(base, processes, logs, redis)
        team.secrets, team.env = secrets, env
        yield team
        for process in [*team.processes.values(), nginx]:
            process.terminate()
            process.wait(timeout=15)
    redis.terminate()
    redis.wait(timeout=10)


def sign_in(page, base: str) -> None:
    page.goto(base)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("input[name=sub]", timeout=30_000)
    page.fill("input[name=sub]", "vera")
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{base}/**", timeout=30_000)
    page.get_by_text("Signed in as").first.wait_for(timeout=60_000)


def test_a_replica_dies_mid_session_and_the_other_shows_the_same_view_from_redis(browser, team):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    page = context.new_page()
    sign_in(page, team.base)
    view = f"{team.base}/business?range=90d&business_detractors=true&debug=1"
    before = team.renders()
    page.goto(view)
    settle(page)
    assert_no_error(page)
    served = [port for port, n in team.renders().items() if n > before[port]]
    assert len(served) == 1, "one replica serves a session (the route cookie)"
    [serving] = served
    [other] = [port for port in team.processes if port != serving]
    shown = tiles(page)
    assert page.locator(".st-key-business_detractors input").is_checked()

    team.processes[serving].kill()  # the replica dies; the browser reconnects to the other
    team.processes[serving].wait(timeout=10)
    time.sleep(3)
    before = team.renders()
    page.locator("[data-testid=stSidebarNav]").get_by_text("Business", exact=True).click()  # the next interaction
    settle(page, after_action=True)
    assert team.renders()[other] > before[other]
    assert_no_error(page)
    assert "range=90d" in page.url and "business_detractors=true" in page.url
    assert page.locator(".st-key-business_detractors input").is_checked()  # the toggle, from the URL
    assert tiles(page) == shown
    assert "vera" in page.locator("[data-testid=stSidebar]").inner_text().replace("\u2060", "")  # still signed in
    content, _ = fetch_download(page, "csv_debug_queries")  # the debug panel's table, as its CSV
    listed = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    shared = {row["Query (data_access function)"] for row in listed if row["Read from"] == "shared cache (Redis)"}
    ran = {row["Query (data_access function)"] for row in listed if row["Read from"] != "shared cache (Redis)"}
    assert {"breakdown", "kpis"} <= shared and not shared & ran  # drawn from what the dead replica computed
    context.close()

    # the dead replica back, for the next test
    team.processes[serving] = replicas.start_replica(serving, team.secrets, team.logs[serving], team.env)
    wait_until_ready(f"http://127.0.0.1:{serving}/_stcore/health", team.processes[serving], "streamlit",
                     str(team.logs[serving]))


def test_redis_stopped_pages_still_render(browser, team):
    team.redis.terminate()
    team.redis.wait(timeout=10)
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    sign_in(page, team.base)
    page.goto(f"{team.base}/ai_performance?range=7d")
    settle(page)
    assert_no_error(page)
    assert tiles(page) and "—" not in list(tiles(page).values())[0]
    context.close()
