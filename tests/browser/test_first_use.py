"""What a manager and a support lead do first, in Chromium: the Overview's "right now" headline
names a service that is down and its firing alert and takes them to it; "Last month" means the
calendar month; a repeat-contact user's messages are two clicks from the Overview."""

from __future__ import annotations

import re
from datetime import date, timedelta

from data_access.engine import make_engine
from tests.browser.conftest import serve
from tests.browser.test_pages import assert_no_error, settle


def test_the_headline_names_the_down_service_and_its_alert_and_links_there(browser, tmp_path):
    from tests.test_alert_watch import RULES_TEXT, planted

    database = f"sqlite:///{tmp_path / 'metrics.sqlite'}"
    engine = make_engine(database)
    planted(engine)  # "web" down for the last 70 minutes, checks every 15 s
    engine.dispose()
    rules = tmp_path / "alerts.yml"
    rules.write_text(RULES_TEXT, encoding="utf-8")
    with serve(database, tmp_path / "streamlit.log", EASYFLOW_ALERTS_FILE=str(rules)) as base:
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.goto(f"{base}/?range=7d")
        settle(page)
        assert_no_error(page)
        body = page.inner_text("body")
        assert "Right now" in body and "web since" in body and "Needs attention now" in body
        # The rule under its title (alerts.yml's ``title``; here its name in words), since when it fires.
        link = page.get_by_role("link", name=re.compile(r"^Critical · Service down · web — since "))
        link.click()
        page.wait_for_url("**/alerts?**", timeout=15_000)
        settle(page, after_action=True)
        assert "range=7d" in page.url and "Service down" in page.inner_text("body")
        context.close()


def test_last_month_is_the_calendar_month(browser, dashboard):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(dashboard.url)
    settle(page)
    page.locator("[data-testid=stSidebar]").get_by_text("Last month", exact=True).click()
    settle(page, after_action=True)
    page.wait_for_function("() => location.search.includes('range=last_month')", timeout=15_000)
    first_of_this_month = date.today().replace(day=1)
    last_month_end = first_of_this_month - timedelta(days=1)
    shown = f"{last_month_end.replace(day=1):%Y-%m-%d} – {last_month_end:%Y-%m-%d}"
    assert shown in page.inner_text("[data-testid=stMain]")
    context.close()


def test_from_the_overview_to_a_repeat_users_messages_in_two_clicks(browser, dashboard):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(f"{dashboard.url}/?range=90d")
    settle(page)
    page.locator("[data-testid=stSidebarNav]").get_by_text("Business", exact=True).click()  # click one
    settle(page, after_action=True)
    grid = page.locator("[data-testid=stDataFrame]").filter(has_text="Repeat dialogs")
    grid.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # the grid settles where it scrolled to
    box = grid.bounding_box()
    # The link column is the last; the first data row sits under a 35 px header (glide data grid),
    # whose link is live once hovered.
    link = (box["x"] + box["width"] - 40, box["y"] + 35 + 17)
    page.mouse.move(*link)
    page.wait_for_timeout(300)
    with context.expect_page(timeout=15_000) as opened:
        page.mouse.click(*link)  # click two
    messages = opened.value
    settle(messages)
    assert "/messages?" in messages.url and "user=" in messages.url and "range=90d" in messages.url
    assert_no_error(messages)
    assert "Messages of user" in messages.inner_text("body")
    context.close()
