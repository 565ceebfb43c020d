"""'Why did it change?' as a user opens it: a shared link with the KPI and the split in its URL
opens the split (sentence, waterfall, table) at desktop and phone width, in both languages; a
click on another KPI's pill changes the split and the URL. Screenshots for a person to look at."""

from __future__ import annotations

import pytest

from tests.browser.test_pages import full_page_screenshot, settle

SENTENCE = {"en": ("CSAT rose", "CSAT fell", "CSAT did not change"), "ru": ("Показатель «CSAT»",)}


@pytest.mark.parametrize("lang", ["en", "ru"])
@pytest.mark.parametrize("width", [1440, 390])
def test_a_shared_link_opens_the_split(browser, dashboard, screenshots, lang, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{dashboard.url}/?range=7d&why=csat&why_by=platform&lang={lang}")
    settle(page)
    sentence = page.locator("[data-testid=stMarkdownContainer] p").filter(has_text=SENTENCE[lang][0] if lang == "ru"
                                                                        else "CSAT ")
    texts = [s for s in sentence.all_inner_texts() if s.startswith(SENTENCE[lang])]
    assert texts, page.locator("[data-testid=stMarkdownContainer] p").all_inner_texts()
    assert page.locator(".st-key-why_table_csat, [data-testid=stDataFrame]").count() >= 1
    assert page.locator("[data-testid=stPlotlyChart] .js-plotly-plot").count() >= 2  # dialogs and the waterfall
    # Nothing of it runs off a phone's screen sideways.
    wide = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollWidth")
    assert wide <= width + 1, wide
    full_page_screenshot(page, width, screenshots / f"why-csat-{lang}-{width}.png")
    context.close()


def test_picking_another_kpi_changes_the_split_and_the_link(browser, dashboard):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(f"{dashboard.url}/?range=7d")
    settle(page)
    page.locator(".st-key-why button").filter(has_text="Escalation rate").click()
    settle(page, after_action=True)
    page.wait_for_function("() => location.search.includes('why=escalation_rate')", timeout=10_000)
    page.locator(".st-key-why_by button").filter(has_text="Intent").click()
    settle(page, after_action=True)
    page.wait_for_function("() => location.search.includes('why_by=intent')", timeout=10_000)
    texts = page.locator("[data-testid=stMarkdownContainer] p").all_inner_texts()
    assert any(text.startswith(("Escalation rate rose", "Escalation rate fell", "Escalation rate did not change"))
               for text in texts), texts
    context.close()
