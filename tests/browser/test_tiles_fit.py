"""No tile cuts its label or value, on any page, in English and Russian, at desktop and phone width
(each tile's label and value: scroll width against client width)."""

from __future__ import annotations

import pytest

from tests.browser.test_pages import PAGES, settle

CUT = """() => Array.from(document.querySelectorAll('[data-testid=stMetric]')).flatMap(tile =>
  ['[data-testid=stMetricLabel] p', '[data-testid=stMetricValue] div', '[data-testid=stMetricValue]']
    .map(selector => tile.querySelector(selector)).filter(Boolean)
    .filter(el => el.scrollWidth > el.clientWidth + 1)
    .map(el => el.innerText))"""


@pytest.mark.parametrize("lang", ["en", "ru"])
@pytest.mark.parametrize("width", [1440, 390])
def test_no_tile_is_cut(browser, dashboard, lang, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    cut = {}
    for name, path in PAGES.items():
        page.goto(f"{dashboard.url}/{path}?lang={lang}")
        settle(page)
        found = page.evaluate(CUT)
        if found:
            cut[name] = found
    context.close()
    assert cut == {}, cut
