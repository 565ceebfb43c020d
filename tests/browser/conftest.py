"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, and the dashboard served
by ``streamlit run`` on a free port against a fresh PostgreSQL database of small demo data, through
a TCP proxy that a test can cut to take the database away.

Marked ``browser``: skipped locally when Chromium or Playwright is missing (``pytest -m "not browser"``
leaves them out on purpose); required, and failing, under ``CI=true``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.services import free_port, required, wait_until_ready
from tests.tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("EASYFLOW_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("EASYFLOW_SCREENSHOTS", ROOT / "screenshots"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        required("playwright is not installed (pip install -r requirements-dev.txt)")
    if not Path(CHROMIUM).is_file():
        required(f"Chromium is not at {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Dashboard:
    """A running ``streamlit run dashboard/server.py`` (at ``url``) and the proxy in front of its database."""

    def __init__(self, url: str, proxy: TcpProxy, database_url: str = "") -> None:
        self.url = url
        self.proxy = proxy
        self.database_url = database_url  # the database itself, for the tests' own reads


@contextmanager
def serve(database_url: str, log_path: Path, *, port: int | None = None, args: tuple[str, ...] = (),
          **env) -> Iterator[str]:
    """``streamlit run dashboard/server.py`` on ``port`` (default: a free loopback port) against
    ``database_url``, with more command-line ``args``; yields its base URL once it answers its
    health check, and stops it afterwards."""
    with serving(database_url, log_path, port=port, args=args, **env) as (base, _):
        yield base


@contextmanager
def serving(database_url: str, log_path: Path, *, port: int | None = None, args: tuple[str, ...] = (),
            cwd: Path = ROOT, **env) -> Iterator[tuple[str, subprocess.Popen]]:
    """``serve``, yielding the server's process too: ``(base URL, process)``; ``cwd``: the
    working folder it runs in (another deployment's)."""
    port = port or free_port()
    env = dict(os.environ, DATABASE_URL=database_url, EASYFLOW_MASK_SALT="browser-tests", **env)
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "server.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", *args],
        cwd=cwd, env={**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))},
        stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_until_ready(f"{base}/_stcore/health", process, "streamlit", log.name)
    try:
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def dashboard(postgres, tmp_path_factory) -> Iterator[Dashboard]:
    from tests.apptest import small_demo

    database_url = postgres.new_database("browser")
    small_demo(database_url)
    target = sa.make_url(database_url)
    proxy = TcpProxy((target.host or "127.0.0.1", target.port or 5432))
    proxy.start()
    proxied = target.set(port=proxy.port).render_as_string(hide_password=False)
    with serve(proxied, tmp_path_factory.mktemp("streamlit") / "streamlit.log") as base:
        yield Dashboard(base, proxy, database_url)
    proxy.stop()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def fetch_download(page, key: str, timeout: float = 90_000) -> tuple[bytes, str]:
    """The file behind the download button ``key`` (``dashboard.files.link``), fetched in the
    page's own browser context (its cookies, its open session), as the button's new tab would:
    ``(content, file name)``. The link is used up; the page draws a fresh one at its next run."""
    import re
    from urllib.parse import urljoin

    link = page.locator(f".st-key-{key} a")
    link.wait_for(timeout=timeout)
    response = page.context.request.get(urljoin(page.url, link.get_attribute("href")), timeout=timeout)
    assert response.status == 200, f"{key}: {response.status}"
    name = re.search(r'filename="([^"]*)"', response.headers["content-disposition"]).group(1)
    return response.body(), name
