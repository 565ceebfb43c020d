"""In a real browser, names from the data are text: a platform named with HTML puts no link or
image in a chart's legend, and a link planted in the URL appears only as text, bare URLs and
e-mail addresses included (GFM autolinks)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from data_access.engine import make_engine
from data_access.schema import create_all
from tests.browser.conftest import serve
from tests.browser.test_pages import assert_no_error, settle
from tests.conftest import insert

LINK = '<a href="https://evil.example/x">web</a>'
IMAGE = '<img src="https://evil.example/pixel.png">'
BOLD = "<b>bold</b>"


def test_html_in_platform_names_is_shown_as_text_in_the_legend(browser, tmp_path, screenshots):
    url = f"sqlite:///{tmp_path / 'hostile.sqlite'}"
    engine = make_engine(url)
    create_all(engine)
    now = datetime.now(timezone.utc).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    insert(engine, "conversation_metrics", [
        {"timestamp": now - timedelta(days=day, hours=1 + i), "user_id": f"u{i}", "platform": platform,
         "intent": "order_status", "confidence": 0.9, "response_time_ms": 300, "tokens_used": 10,
         "cost_usd": Decimal("0.0010"), "resolved": True}
        for day in range(3) for i, platform in enumerate((LINK, IMAGE, BOLD))])
    engine.dispose()
    with serve(url, tmp_path / "streamlit.log") as base:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(f"{base}/?tz=%0D%0D[Re-login](https://evil.example/login)")
        settle(page)
        assert_no_error(page)
        page.wait_for_selector("[data-testid=stPlotlyChart] .legendtext", timeout=60_000)
        legend = " ".join(page.locator(".legendtext").all_text_contents())
        assert LINK in legend and BOLD in legend  # the names, literally
        assert page.locator("a[href*='evil.example']").count() == 0
        assert page.locator("img[src*='evil.example']").count() == 0
        assert "[Re-login](https://evil.example/login)" in page.inner_text("body")  # shown, not followed
        page.screenshot(path=str(screenshots / "hostile-labels.png"))
        for query in ("dialog=https://evil.example/refund", "user=www.evil.example", "user=boss@evil.example"):
            page.goto(f"{base}/messages?{query}")  # a crafted drill-down link: its value is text
            settle(page)
            assert_no_error(page)
            assert query.split("=", 1)[1] in page.inner_text("body").replace("\u2060", "")
            assert page.locator("a[href*='evil.example']").count() == 0, query
        context.close()
