"""No tile cuts its label, value or chip and no button cuts its text, on any page, in English and
Russian, at two desktop widths and a phone's (scroll width against client width)."""

from __future__ import annotations

import pytest

from tests.browser.test_pages import PAGES, settle

# Every element of a tile or a main-area button that clips its content (overflow not visible: the
# label's Markdown container cuts with an ellipsis, its <p> inside is inline and measures 0).
CUT = """() => Array.from(document.querySelectorAll(
    '[data-testid=stMetric], [data-testid=stMetric] *, [data-testid=stMain] button, [data-testid=stMain] button *'))
  .filter(el => el.offsetParent !== null && el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1
                && getComputedStyle(el).overflowX !== 'visible')
  .map(el => el.innerText)"""


WIDTHS = (1366, 1440, 390)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_no_tile_is_cut(browser, dashboard, lang):
    """Each page loads once and is measured at each width in turn, as a window resized or a phone
    turned: the layout is CSS (Streamlit's columns stack by a media query), so it reflows without
    a new run."""
    context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
    page = context.new_page()
    cut = {}
    for name, path in PAGES.items():
        page.goto(f"{dashboard.url}/{path}?lang={lang}")
        settle(page)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(400)  # the reflow and a chart's own resize
            found = page.evaluate(CUT)
            if found:
                cut[f"{name} at {width} px"] = found
    context.close()
    assert cut == {}, cut
