"""The HTML report opens in Chromium with the network off and draws its charts."""

from __future__ import annotations

from datetime import datetime

from data_access import reports as rp
from data_access.alert_rules import DEFAULT_PATH, load_rules
from data_access.engine import make_engine
from data_access.filters import Filters
from data_access.schema import discover
from dashboard import reports as rendering
from tests.conftest import INCIDENT_DAY


def test_the_html_report_draws_its_charts_offline(browser, screenshots, tmp_path, sqlite_incident_url):
    engine = make_engine(sqlite_incident_url)
    report = rp.build(engine, discover(engine), "weekly", INCIDENT_DAY, Filters(datetime(2026, 1, 1), datetime(2026, 1, 1)),
                      load_rules(DEFAULT_PATH), now=datetime(2026, 11, 27))
    engine.dispose()
    path = tmp_path / "weekly.html"
    path.write_bytes(rendering.render(report, "html"))
    context = browser.new_context(viewport={"width": 1200, "height": 900}, offline=True)
    page = context.new_page()
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
    assert page.locator(".js-plotly-plot").count() == 4
    assert page.locator(".js-plotly-plot .scatterlayer .trace").count() >= 4  # lines drawn, not empty frames
    assert "Weekly report" in page.inner_text("h1")
    assert [url for url in requests if not url.startswith("file:")] == []
    page.set_viewport_size({"width": 1200, "height": min(page.evaluate("document.body.scrollHeight") + 40, 16_000)})
    page.screenshot(path=str(screenshots / "report-weekly-html.png"))
    context.close()
