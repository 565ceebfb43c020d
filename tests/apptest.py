"""Helpers for AppTest page tests: run the app against a database URL, read what a user sees."""

from __future__ import annotations

from datetime import datetime, timezone

from streamlit.testing.v1 import AppTest

from data_access.demo import DemoSpec, load
from data_access.engine import make_engine

APP = "../dashboard/app.py"
# The "right now" headline's own tiles, then (as a dict of labels: each label once, in order of first
# appearance) the last hour's KPIs and the period's, then the period's SLA tiles.
HEADLINE_TILES = ["Services down", "Degraded", "Alerts firing"]
PERIOD_SLA_TILES = ["SLAs missed", "Worst uptime"]
OVERVIEW_TILES = HEADLINE_TILES + ["Messages", "CSAT", "Error rate", "Avg AI response time", "Dialogs", "NPS",
                                   "Escalation rate", "Conversion rate", "Cost", "Uptime"] + PERIOD_SLA_TILES
TODAY = datetime.now(timezone.utc).date()


def run_app(monkeypatch, url: str, query: dict | None = None) -> AppTest:
    monkeypatch.setenv("DATABASE_URL", url)
    at = AppTest.from_file(APP, default_timeout=90)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def page_text(at: AppTest) -> str:
    parts = []
    for kind in ("markdown", "caption", "warning", "error", "info", "title", "subheader", "header"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value} {m.delta} {m.proto.help}" for m in at.metric]
    return "\n".join(parts)


def warnings(at: AppTest) -> list[str]:
    """The page's warnings but the sign-in-off banner (the page tests run with EASYFLOW_AUTH=none)."""
    return [w.value for w in at.warning if w.icon != ":material/lock_open:"]


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    text = page_text(at)
    assert "Traceback" not in text and 'File "' not in text
    # every table shows a missing value as an empty cell, not "None"
    assert all(d.proto.HasField("placeholder") and d.proto.placeholder == "" for d in at.dataframe)


def tiles(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def small_demo(url: str) -> None:
    engine = make_engine(url)
    load(engine, DemoSpec(days=21, scale=0.03, seed=3, end=TODAY))
    engine.dispose()




def open_page(at: AppTest, name: str) -> AppTest:
    """Switch a running app to ``pages/<name>.py``, run it, and check it ran clean."""
    at.switch_page(f"../pages/{name}.py").run()
    assert_clean(at)
    return at


def downloads(at: AppTest) -> dict[str, str]:
    """The page's download buttons (``dashboard.files.link``): key → the offer's token."""
    return {b.proto.id.rsplit("-", 1)[-1] if not b.key else b.key: b.proto.url.rsplit("/", 1)[-1]
            for b in at.get("link_button") if b.proto.url.startswith("files/")}


def download(at: AppTest, key: str) -> tuple[bytes, str]:
    """What the download button ``key`` hands out when clicked, as the route makes it (the role
    was checked when the page offered it): ``(content, file name)``. The offer is used up."""
    import io

    from dashboard import files

    offer = files.claim(downloads(at)[key])
    assert offer is not None, f"no live offer behind {key}"
    out = io.BytesIO()
    offer.make(out)
    return out.getvalue(), offer.filename
