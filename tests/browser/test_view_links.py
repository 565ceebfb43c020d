"""A copied link reopens the whole view: the filters, a toggle and a selected tab (widgets bound
to the URL with bind="query-params"), in a new browser context; and each page has its own
browser-tab title."""

from __future__ import annotations

from tests.browser.test_pages import settle


def test_a_link_with_a_tab_and_a_toggle_set_reopens_the_same_view(browser, dashboard):
    first = browser.new_context(viewport={"width": 1440, "height": 900})
    page = first.new_page()
    page.goto(f"{dashboard.url}/business?range=7d&platform=telegram")
    settle(page)
    page.locator(".st-key-business_detractors label").click()
    settle(page, after_action=True)
    page.get_by_role("tab", name="Most escalated").click()
    settle(page, after_action=True)
    page.wait_for_function("() => location.search.includes('problem_tab')", timeout=10_000)
    link = page.url
    assert "business_detractors=true" in link and "range=7d" in link and "platform=telegram" in link
    first.close()

    second = browser.new_context(viewport={"width": 1440, "height": 900})  # someone else opens the link
    page = second.new_page()
    page.goto(link)
    settle(page)
    assert page.locator(".st-key-business_detractors input[type=checkbox]").is_checked()
    assert page.get_by_role("tab", name="Most escalated").get_attribute("aria-selected") == "true"
    second.close()


def test_each_page_has_its_own_browser_tab_title(browser, dashboard):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    titles = {}
    for path, name in (("", "Overview"), ("business", "Business"), ("sla", "SLA")):
        page.goto(f"{dashboard.url}/{path}")
        settle(page)
        titles[name] = page.title()
    context.close()
    assert titles == {name: f"{name} · Easy Flow Analytics" for name in titles}


def test_nothing_the_dashboard_shows_needs_the_internet(browser, dashboard):
    """Every request a page makes goes to the dashboard itself (the tab icon ships with it)."""
    from urllib.parse import urlparse

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    for path in ("", "business", "ai_performance"):
        page.goto(f"{dashboard.url}/{path}")
        settle(page)
    icon = page.evaluate("() => document.querySelector('link[rel*=icon]')?.href || ''")
    context.close()
    own = urlparse(dashboard.url).netloc
    elsewhere = sorted({urlparse(url).netloc for url in requested if urlparse(url).scheme in ("http", "https")} - {own})
    assert elsewhere == [], elsewhere
    assert icon.startswith(dashboard.url) or icon.startswith("data:"), icon
