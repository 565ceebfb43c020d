"""The Operational page from a real Prometheus in Chromium: the source named, every chart drawn,
a notice (not an error) while Prometheus is away, the charts back when it returns."""

from __future__ import annotations

from urllib.parse import urlparse

from tests.browser.conftest import serve
from tests.browser.test_pages import assert_no_error, settle, tiles
from tests.tcp_proxy import TcpProxy


def test_operational_from_prometheus_in_a_browser(browser, prometheus_metrics, tmp_path, screenshots):
    database_url, prometheus_url = prometheus_metrics
    target = urlparse(prometheus_url)
    proxy = TcpProxy((target.hostname, target.port))
    proxy.start()
    try:
        with serve(database_url, tmp_path / "streamlit.log", PROMETHEUS_URL=f"http://127.0.0.1:{proxy.port}") as base:
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            page = context.new_page()
            page.goto(f"{base}/operational?start_date=2026-10-05&end_date=2026-10-05")
            settle(page)
            assert_no_error(page)
            assert "Service metrics (traffic, errors, resources, sessions, status) from Prometheus" in page.inner_text("body")
            page.wait_for_selector("[data-testid=stPlotlyChart] .js-plotly-plot", timeout=30_000)
            assert page.locator("[data-testid=stPlotlyChart]").count() >= 6  # status, traffic, error rate, errors, 3 resources…
            assert tiles(page)["Uptime"] == "99.68 %"
            page.screenshot(path=str(screenshots / "operational-prometheus.png"), full_page=True)
            proxy.stop()
            page.goto(f"{base}/operational?start_date=2026-10-04&end_date=2026-10-05")  # not cached
            settle(page)
            assert_no_error(page)
            assert "Prometheus cannot be reached" in page.inner_text("body")
            proxy.start()
            page.reload()
            settle(page)
            assert "Prometheus cannot be reached" not in page.inner_text("body")
            assert tiles(page)["Uptime"] != "—"
            context.close()
    finally:
        proxy.stop()
