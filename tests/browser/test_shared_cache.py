"""Two deployments on one Redis whose database URLs read the same (``sqlite:///metrics.sqlite``, each
in its own working folder) but reach different databases: each dashboard shows its own numbers.
Keyed by the URL's text alone, the second one showed the first one's (dashboard/result_cache.py)."""

from __future__ import annotations

import shutil
import sqlite3

from tests.browser.conftest import serving
from tests.browser.test_pages import settle, tiles


def test_look_alike_urls_on_one_redis_each_show_their_own_database(browser, tmp_path, sqlite_demo_url, redis_url):
    folders = [tmp_path / "first", tmp_path / "second"]
    for folder in folders:
        folder.mkdir()
        shutil.copy(sqlite_demo_url.removeprefix("sqlite:///"), folder / "metrics.sqlite")
    with sqlite3.connect(folders[1] / "metrics.sqlite") as conn:  # the second database: no web messages
        conn.execute("DELETE FROM conversation_metrics WHERE platform = 'web'")
    def tiles_of(folder, redis: str | None) -> dict[str, str]:
        shared = {"EASYFLOW_REDIS_URL": redis} if redis else {}
        with serving("sqlite:///metrics.sqlite", folder / "streamlit.log", cwd=folder, EASYFLOW_ROLLUPS="off",
                     EASYFLOW_CACHE_SECRET="one secret, two deployments",
                     EASYFLOW_SESSION_DB=str(folder / "sessions.sqlite"), **shared) as (base, _):
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            page = context.new_page()
            page.goto(f"{base}/?range=90d")
            settle(page)
            shown = tiles(page)
            context.close()
        return shown

    first = tiles_of(folders[0], redis_url)  # computed there, and shared
    second = tiles_of(folders[1], redis_url)  # the same URL text, another database
    assert second == tiles_of(folders[1], None)  # what the second database shows on its own
    assert second["Dialogs"] != first["Dialogs"] and second["Cost"] != first["Cost"]
