"""What a user sees in a real browser: every page renders, links carry the filters, downloads
arrive, and the app says so when its database goes away and recovers when it is back."""

from __future__ import annotations

import csv
import io
from urllib.parse import parse_qs, urlparse

import pytest
from openpyxl import load_workbook

from tests.browser.conftest import fetch_download

PAGES = {"overview": "", "operational": "operational", "business": "business",
         "ai_performance": "ai_performance", "alerts": "alerts", "sla": "sla", "reports": "reports",
         "export": "export"}
VIEWPORTS = {"desktop": (1440, 900), "phone": (390, 844)}


IDLE = ("() => { const app = document.querySelector('[data-testid=stApp]');"
        " return app && app.dataset.testScriptState === 'notRunning'"
        " && !document.querySelector('[data-testid=stSkeleton]'); }")


def settle(page, timeout: float = 90_000, after_action: bool = False) -> None:
    """Wait until the script run has finished and the page holds no skeletons (twice, apart,
    since a run that an action starts may not have begun yet)."""
    page.wait_for_selector("[data-testid=stApp]", timeout=timeout)
    if after_action:
        try:
            page.wait_for_function("() => document.querySelector('[data-testid=stApp]')"
                                   ".dataset.testScriptState === 'running'", timeout=3_000)
        except Exception:  # the run may have started and finished already
            pass
    for _ in range(2):
        page.wait_for_function(IDLE, timeout=timeout)
        page.wait_for_timeout(500)


def full_page_screenshot(page, width: int, path) -> None:
    """Streamlit scrolls inside its main container, so the viewport grows to the content first."""
    height = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": width, "height": min(int(height) + 40, 16_000)})
    settle(page)
    page.screenshot(path=str(path))


def tiles(page) -> dict[str, str]:
    labels = page.locator("[data-testid=stMetricLabel]").all_inner_texts()
    values = page.locator("[data-testid=stMetricValue]").all_inner_texts()
    return {label.strip(): value.strip() for label, value in zip(labels, values)}


def assert_no_error(page) -> None:
    assert page.locator("[data-testid=stException]").count() == 0
    assert "Traceback" not in page.inner_text("body")


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_renders_at_desktop_and_phone_width(browser, dashboard, screenshots, name):
    for viewport, (width, height) in VIEWPORTS.items():
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.goto(f"{dashboard.url}/{PAGES[name]}")
        settle(page)
        assert_no_error(page)
        if name == "reports":  # tables and trend charts, no tiles
            page.wait_for_selector("[data-testid=stPlotlyChart] .js-plotly-plot", timeout=30_000)
            assert page.locator("[data-testid=stDataFrame]").count() >= 4
            assert page.locator(".st-key-report_html a, .st-key-report_xlsx a, .st-key-report_md a").count() == 3
        elif name != "export":
            page.wait_for_selector("[data-testid=stPlotlyChart] .js-plotly-plot", timeout=30_000)
            assert page.locator("[data-testid=stPlotlyChart]").count() >= 1
            assert tiles(page) and "—" not in list(tiles(page).values())[0]
        else:
            assert page.locator(".st-key-export_csv a, .st-key-export_json a, .st-key-export_xlsx a").count() == 3
        full_page_screenshot(page, width, screenshots / f"{name}-{viewport}.png")
        context.close()


FOLDED = ("() => !!document.querySelector('[data-testid=stExpandSidebarButton]')"
          " && !document.querySelector('[data-testid=stSidebarCollapseButton] button[aria-expanded=true]')")
NAVIGATION = ("Operational", "Business", "AI performance", "Alerts", "SLA", "Reports", "Data export", "Overview")


def open_sidebar(page) -> None:
    page.locator("[data-testid=stExpandSidebarButton]").click()
    page.wait_for_selector("[data-testid=stSidebarCollapseButton] button[aria-expanded=true]", timeout=10_000)


def test_on_a_phone_the_sidebar_folds_after_each_choice_and_stays_open_on_a_desktop(browser, dashboard):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(dashboard.url)
    settle(page)
    assert page.evaluate(FOLDED)  # it starts folded on a phone
    open_sidebar(page)
    page.locator("[data-testid=stSidebar]").get_by_text("7 d", exact=True).click()
    settle(page, after_action=True)
    page.wait_for_function(FOLDED, timeout=10_000)
    assert "range=7d" in page.url
    for title in NAVIGATION:  # every page, reached from the sidebar: the page is in view, not the menu
        open_sidebar(page)
        page.locator("[data-testid=stSidebarNav]").get_by_text(title, exact=True).click()
        settle(page, after_action=True)
        page.wait_for_function(FOLDED, timeout=10_000)
        assert_no_error(page)
        assert "range=7d" in page.url, title
    context.close()

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(dashboard.url)
    settle(page)
    page.locator("[data-testid=stSidebar]").get_by_text("7 d", exact=True).click()
    settle(page, after_action=True)
    page.wait_for_timeout(500)
    assert page.locator("[data-testid=stSidebar]").get_by_text("Business", exact=True).is_visible()
    context.close()


def choose_platform(page, platform: str) -> None:
    page.locator("[data-testid=stSidebar] [data-testid=stMultiSelect]").first.click()
    page.get_by_role("option", name=platform, exact=True).click()
    page.keyboard.press("Escape")
    settle(page, after_action=True)


def test_a_filter_lives_in_the_url_and_the_link_can_be_shared(browser, dashboard):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(dashboard.url)
    settle(page)
    before = tiles(page)["Dialogs"]
    choose_platform(page, "web")
    page.wait_for_function("() => location.search.includes('platform=web')", timeout=15_000)
    after = tiles(page)
    assert after["Dialogs"] != before
    shared = page.url
    assert parse_qs(urlparse(shared).query)["platform"] == ["web"]

    other = browser.new_context(viewport={"width": 1440, "height": 900})  # someone who got the link
    their_page = other.new_page()
    their_page.goto(shared)
    settle(their_page)
    assert tiles(their_page) == after
    assert "web" in their_page.locator("[data-testid=stSidebar] [data-testid=stMultiSelect]").first.inner_text()

    # Moving to another page keeps the filters, in the widgets and in the URL.
    their_page.locator("[data-testid=stSidebarNav] a", has_text="Business").click()
    settle(their_page, after_action=True)
    their_page.wait_for_function("() => location.pathname.endsWith('/business')", timeout=15_000)
    assert parse_qs(urlparse(their_page.url).query)["platform"] == ["web"]
    assert tiles(their_page)["Dialogs"] == after["Dialogs"]
    context.close()
    other.close()


def test_csv_and_xlsx_downloads_arrive_whole(browser, dashboard):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{dashboard.url}/export?platform=telegram")
    settle(page)
    expected = int(tiles(page)["Rows to export"].replace(",", ""))
    assert expected > 0
    content, name = fetch_download(page, "export_csv")
    assert name.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert len(rows) == expected and {r["platform"] for r in rows} == {"telegram"}
    content, name = fetch_download(page, "export_xlsx")
    assert name.endswith(".xlsx")
    book = load_workbook(io.BytesIO(content), read_only=True)
    assert sum(1 for _ in book["data"].iter_rows()) == expected + 1
    # a table's CSV: UTF-8 with a byte-order mark (Excel reads Cyrillic right), its times naming their zone
    page.goto(f"{dashboard.url}/business?tz=Europe/Moscow&range=90d")
    settle(page)
    raw, _ = fetch_download(page, "csv_nps_comments")
    assert raw.startswith(b"\xef\xbb\xbf")
    header = next(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert header[0] == "Time (Europe/Moscow)" and "Dialog intent" in header
    context.close()


def test_the_database_going_away_and_coming_back(browser, dashboard):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(dashboard.url)
    settle(page)
    assert tiles(page)
    dashboard.proxy.stop()
    try:
        page.locator("[data-testid=stSidebar] button", has_text="7 d").click()  # any rerun
        settle(page, after_action=True)
        assert "Cannot reach the metrics database" in page.inner_text("body")
        assert_no_error(page)
        assert page.locator("[data-testid=stMetricValue]").count() == 0
    finally:
        dashboard.proxy.start()
    page.locator("button", has_text="Retry now").click()
    settle(page, after_action=True)
    assert "Cannot reach the metrics database" not in page.inner_text("body")
    assert tiles(page)["Dialogs"] != "—"
    context.close()
