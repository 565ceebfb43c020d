"""The alert watcher against a real Prometheus Alertmanager (Debian's ``prometheus-alertmanager``,
started here on loopback) with a webhook receiver in the test, over databases with planted
incidents, on a clock the test steps: one notification when an alert fires, one when it resolves,
none for a blip shorter than ``for:``, none duplicated by a restart, none while silenced, and the
database's outage as an alert of its own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from data_access import alert_watch
from data_access.alert_rules import parse_rules
from data_access.engine import make_engine
from data_access.schema import create_all
from tests.conftest import INCIDENT_DAY, insert
from tests.services import free_port, required, wait_until_ready
from tests.tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[1]
BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
SETTLE = 2.5  # seconds for Alertmanager to dispatch (group_wait and group_interval are 1 s here)
# The watched rule: a service is down when fewer than half its checks in a minute pass, for 3 minutes.
RULES_TEXT = """
groups:
  - name: test
    rules:
      - alert: ServiceDown
        metric: uptime
        by: service
        condition: "< 50"
        step: 1m
        for: 3m
        severity: critical
        summary: Health checks failed for three minutes.
"""
RULES = parse_rules(RULES_TEXT)
T0 = datetime.now(timezone.utc).replace(tzinfo=None, second=0, microsecond=0) - timedelta(hours=2)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


class Hook:
    """The webhook receiver: every notification Alertmanager sends, as (status, alert) pairs."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                received.extend((alert["status"], alert) for alert in body["alerts"])
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def take(self, alertname: str | None = None, expect: int = 0) -> list[tuple[str, dict]]:
        """The notifications since the last take (of ``alertname``): after waiting (up to 20 s, for a
        loaded machine) until ``expect`` of them arrived, and then ``SETTLE`` more for any extra."""
        def mine() -> list[tuple[str, dict]]:
            return [(s, a) for s, a in self.received if alertname is None or a["labels"]["alertname"] == alertname]

        deadline = time.monotonic() + 20
        while len(mine()) < expect and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(SETTLE)
        taken = mine()
        self.received[:] = [x for x in self.received if x not in taken]  # others stay for their own take
        return taken


class Alertmanager:
    def __init__(self, url: str, hook: Hook) -> None:
        self.url, self.hook = url, hook

    def silence(self, **labels) -> str:
        now = datetime.now(timezone.utc)
        body = {"matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in labels.items()],
                "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
                "createdBy": "tests", "comment": "maintenance"}
        req = urllib.request.Request(f"{self.url}/api/v2/silences", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as answer:
            return json.loads(answer.read())["silenceID"]


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory):
    if not BINARY:
        required("Alertmanager is not installed (apt-get install -y prometheus-alertmanager)")
    folder = tmp_path_factory.mktemp("alertmanager")
    hook = Hook()
    config = folder / "alertmanager.yml"
    config.write_text(f"""
route:
  receiver: hook
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 24h
  routes:
    - matchers: ['alertname = "Watchdog"']
      receiver: heartbeat
receivers:
  - name: hook
    webhook_configs:
      - url: "{hook.url}"
        send_resolved: true
  - name: heartbeat
""", encoding="utf-8")
    port = free_port()
    log = (folder / "alertmanager.log").open("w")
    process = subprocess.Popen([BINARY, f"--config.file={config}", f"--storage.path={folder / 'data'}",
                                f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_until_ready(f"{url}/-/ready", process, "Alertmanager", log.name, seconds=30)
    yield Alertmanager(url, hook)
    process.terminate()
    process.wait(timeout=10)
    hook.server.shutdown()
    log.close()


def planted(engine: sa.Engine) -> None:
    """Checks every 15 s for an hour from T0: "api" down for 2 minutes (a blip) at +10 and for
    10 minutes at +30; "web" down from +50 to the end (still down)."""
    create_all(engine)
    rows = []
    for second in range(0, 120 * 60, 15):
        moment = T0 + timedelta(seconds=second)
        minute = second / 60
        rows.append({"timestamp": moment, "service": "api", "latency_ms": 40.0,
                     "status": "down" if 10 <= minute < 12 or 30 <= minute < 40 else "up"})
        rows.append({"timestamp": moment, "service": "web", "latency_ms": 40.0,
                     "status": "down" if minute >= 50 else "up"})
    insert(engine, "service_health", rows)


@pytest.fixture
def watched(tmp_path, alertmanager):
    """A watcher of RULES over a fresh SQLite database with the planted checks."""
    engine = make_engine(f"sqlite:///{tmp_path / 'metrics.sqlite'}")
    planted(engine)
    alertmanager.hook.take()  # start from silence

    def watcher() -> alert_watch.Watcher:  # a new process, as far as the state goes
        return alert_watch.Watcher(engine, alertmanager.url, lambda: RULES, state_path=tmp_path / "state.json",
                                   every=60, dashboard_url="https://analytics.example.com")

    yield watcher
    engine.dispose()


def test_one_notification_when_it_fires_one_when_it_resolves_none_for_a_blip(watched, alertmanager):
    hook, watcher = alertmanager.hook, watched()
    for minute in range(8, 16):  # the 2-minute blip at +10 (for: 3m): pending, never firing
        assert watcher.round(at(minute)).firing == ()
    assert hook.take("ServiceDown") == []

    for minute in (30, 31, 32):  # down from +30: pending for three minutes
        watcher.round(at(minute))
    assert hook.take("ServiceDown") == []
    watcher.round(at(33))  # the third minute [+32, +33) is complete: it fires now
    [(status, alert)] = hook.take("ServiceDown", expect=1)
    assert status == "firing"
    assert alert["labels"] == {"alertname": "ServiceDown", "severity": "critical", "service": "api"}
    assert alert["annotations"]["summary"] == "Health checks failed for three minutes."
    assert alert["annotations"]["value"] == "0" and "uptime < 50 %" in alert["annotations"]["description"]
    assert alert["startsAt"].startswith(at(30).isoformat())
    assert alert["generatorURL"].startswith("https://analytics.example.com/alerts?start_date=")

    watcher.round(at(34))
    restarted = watched()  # a restart mid-incident: the same alert, no second notification
    restarted.round(at(35))
    restarted.round(at(39.5))
    assert hook.take("ServiceDown") == []

    restarted.round(at(40.5))  # up again from +40
    [(status, alert)] = hook.take("ServiceDown", expect=1)
    assert status == "resolved" and alert["labels"]["service"] == "api"
    assert alert["endsAt"].startswith(at(40).isoformat()[:16]) or alert["endsAt"].startswith(at(40.5).isoformat()[:16])


def test_a_resolution_while_the_watcher_was_down_is_not_lost(watched, alertmanager):
    hook = alertmanager.hook
    watched().round(at(34))
    assert [s for s, _ in hook.take("ServiceDown", expect=1)] == ["firing"]
    watched().round(at(45))  # the watcher was away from +34 to +45; the outage ended at +40
    assert [s for s, _ in hook.take("ServiceDown", expect=1)] == ["resolved"]


def test_a_silence_made_in_alertmanager_suppresses_the_notification(watched, alertmanager):
    hook = alertmanager.hook
    silence = alertmanager.silence(alertname="ServiceDown", service="web")
    try:
        watched().round(at(60))  # web down since +50
        assert hook.take("ServiceDown") == []
        with urllib.request.urlopen(f"{alertmanager.url}/api/v2/alerts", timeout=5) as answer:
            held = json.loads(answer.read())
        [web] = [a for a in held if a["labels"].get("service") == "web"]
        assert web["status"]["state"] == "suppressed" and web["status"]["silencedBy"] == [silence]
        states = alert_watch.alert_states(held)
        assert states[alert_watch.fingerprint(web["labels"])] == "silenced"
    finally:
        urllib.request.urlopen(urllib.request.Request(f"{alertmanager.url}/api/v2/silence/{silence}",
                                                      method="DELETE"), timeout=5).close()


def test_the_watchdog_always_fires(watched, alertmanager):
    watched().round(at(5))
    with urllib.request.urlopen(f"{alertmanager.url}/api/v2/alerts?filter=alertname%3D%22Watchdog%22",
                                timeout=5) as answer:
        [watchdog] = json.loads(answer.read())
    assert watchdog["status"]["state"] == "active" and watchdog["labels"]["severity"] == "none"


def test_the_database_down_is_an_alert_and_recovers(postgres, alertmanager, tmp_path):
    url = postgres.new_database("watch")
    planted(make_engine(url))
    target = sa.make_url(url)
    proxy = TcpProxy((target.host or "127.0.0.1", target.port or 5432))
    proxy.start()
    engine = make_engine(target.set(port=proxy.port).render_as_string(hide_password=False))
    hook = alertmanager.hook
    hook.take()
    watcher = alert_watch.Watcher(engine, alertmanager.url, lambda: RULES, state_path=tmp_path / "state.json")
    try:
        assert watcher.round(at(34)).database_ok
        assert [s for s, _ in hook.take("ServiceDown", expect=1)] == ["firing"]
        proxy.stop()
        result = watcher.round(at(35))
        assert not result.database_ok and result.delivered
        [(status, alert)] = hook.take(alert_watch.DATABASE_ALERT, expect=1)
        assert status == "firing" and alert["labels"]["severity"] == "critical"
        assert "127.0.0.1" not in json.dumps(alert) and str(proxy.port) not in json.dumps(alert)
        assert hook.take("ServiceDown") == []  # what fired stays firing: not known to have ended
        proxy.start()
        assert watcher.round(at(36)).database_ok
        assert [s for s, _ in hook.take(alert_watch.DATABASE_ALERT, expect=1)] == ["resolved"]
    finally:
        proxy.stop()
        engine.dispose()


def test_alertmanager_down_is_retried_and_the_alerts_are_kept(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'metrics.sqlite'}")
    planted(engine)
    waits = []
    watcher = alert_watch.Watcher(engine, f"http://127.0.0.1:{free_port()}", lambda: RULES,
                                  state_path=tmp_path / "state.json", sleep=waits.append)
    result = watcher.round(at(34))
    assert not result.delivered and waits == [1, 2, 4]  # backoff between the attempts
    later = watcher.round(at(45))  # resolved meanwhile: kept until Alertmanager takes it
    assert not later.delivered and later.resolved
    assert any(a.get("endsAt") for a in json.loads((tmp_path / "state.json").read_text())["active"].values())
    engine.dispose()


def test_the_command_line_watches_the_demo_incident_at_its_minute(sqlite_incident_url, alertmanager, tmp_path):
    """``python -m data_access.alerts watch --once --now``: the shipped rules over the demo's
    planted API outage (api-gateway down from D-7 03:12; ServiceDown fires at 03:13)."""
    hook = alertmanager.hook
    hook.take()
    day = INCIDENT_DAY - timedelta(days=7)
    command = [sys.executable, "-m", "data_access.alerts", "watch", "--alertmanager", alertmanager.url, "--once",
               "--state", str(tmp_path / "state.json"), "--url", sqlite_incident_url]
    env = {**os.environ, "EASYFLOW_ALERTS_FILE": str(ROOT / "alerts.yml")}
    before = subprocess.run([*command, "--now", f"{day}T03:12:30Z"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert before.returncode == 0, before.stderr
    assert [a for s, a in hook.take("ServiceDown") if a["labels"]["service"] == "api-gateway"] == []
    fired = subprocess.run([*command, "--now", f"{day}T03:13:00Z"], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=120)
    assert fired.returncode == 0 and "delivered" in fired.stdout, fired.stderr
    [(status, alert)] = [(s, a) for s, a in hook.take("ServiceDown", expect=1) if a["labels"]["service"] == "api-gateway"]
    assert status == "firing" and alert["startsAt"] == f"{day}T03:12:00Z"


def test_the_shipped_alertmanager_config_passes_amtool():
    amtool = shutil.which("amtool")
    if not amtool:
        required("amtool is not installed (apt-get install -y prometheus-alertmanager)")
    checked = subprocess.run([amtool, "check-config", str(ROOT / "alertmanager.yml")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_alerts_page_shows_each_alert_state_in_alertmanager(alertmanager, tmp_path, monkeypatch):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from tests.apptest import APP, assert_clean

    database = f"sqlite:///{tmp_path / 'metrics.sqlite'}"
    engine = make_engine(database)
    planted(engine)  # "web" down from T0 + 50 min to now: firing now on the page too
    (tmp_path / "alerts.yml").write_text(RULES_TEXT, encoding="utf-8")
    for name, value in (("DATABASE_URL", database), ("EASYFLOW_ALERTS_FILE", str(tmp_path / "alerts.yml")),
                        ("EASYFLOW_ALERTMANAGER_URL", alertmanager.url)):
        monkeypatch.setenv(name, value)
    alert_watch.Watcher(engine, alertmanager.url, lambda: RULES, state_path=tmp_path / "state.json").round()

    def alerts_page() -> AppTest:
        st.cache_data.clear()
        at = AppTest.from_file(APP, default_timeout=90)
        at.switch_page("../pages/alerts.py").run()
        assert_clean(at)
        return at

    page = alerts_page()
    assert "In Alertmanager: **active, notifying**" in [c.value for c in page.caption]
    assert not [b for b in page.link_button if "silences" in b.proto.url]  # no link a URL's values could rewrite
    monkeypatch.setenv("EASYFLOW_ANONYMOUS_ROLE", "analyst")
    assert not [b for b in alerts_page().button if b.label == "Silence for 2 h"]  # not the analyst's to do
    monkeypatch.setenv("EASYFLOW_ANONYMOUS_ROLE", "admin")
    page = alerts_page()
    [button] = [b for b in page.button if b.label == "Silence for 2 h"]
    button.click().run()
    with urllib.request.urlopen(f"{alertmanager.url}/api/v2/silences", timeout=5) as answer:
        [made] = [s for s in json.loads(answer.read()) if s["status"]["state"] == "active"]
    try:
        assert made["createdBy"] == "anonymous" and "Easy Flow Analytics" in made["comment"]
        assert {(m["name"], m["value"], m["isRegex"]) for m in made["matchers"]} == {
            ("alertname", "ServiceDown", False), ("service", "web", False), ("severity", "critical", False)}
        page = alerts_page()
        assert "In Alertmanager: **silenced**" in [c.value for c in page.caption]
        assert not [b for b in page.button if b.label == "Silence for 2 h"]
    finally:
        urllib.request.urlopen(urllib.request.Request(f"{alertmanager.url}/api/v2/silence/{made['id']}",
                                                      method="DELETE"), timeout=5).close()
    monkeypatch.setenv("EASYFLOW_ALERTMANAGER_URL", f"http://127.0.0.1:{free_port()}")  # down: said, not raised
    assert "Alertmanager cannot be reached" in " ".join(c.value for c in alerts_page().caption)
    engine.dispose()



def test_a_kpi_alert_names_its_top_contributing_segment(tmp_path, alertmanager, monkeypatch):
    """tests/change_data.py's hour: whatsapp's ratings fell to 2.0. The LowRating alert's
    annotation in Alertmanager, and the Alerts page, name whatsapp's rate."""
    from streamlit.testing.v1 import AppTest

    from tests import change_data
    from tests.apptest import APP, assert_clean

    wall = datetime.now(timezone.utc)
    if wall.minute == 59:  # the page below reads the hour before its own clock's: the same hour as here
        time.sleep(61 - wall.second)
    database = f"sqlite:///{tmp_path / 'metrics.sqlite'}"
    engine = make_engine(database)
    create_all(engine)
    now = datetime.now(timezone.utc).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    insert(engine, "conversation_metrics", change_data.rating_drop_rows(now))
    rules = parse_rules(change_data.LOW_RATING_RULES)
    alertmanager.hook.take()
    # Evaluated some minutes into the next hour: the hour's window is the last complete one.
    alert_watch.Watcher(engine, alertmanager.url, lambda: rules, state_path=tmp_path / "state.json").round(
        now + timedelta(minutes=17))
    (status, alert), = alertmanager.hook.take("LowRating", expect=1)
    assert status == "firing"
    assert alert["annotations"]["top_contributor"] == (
        "platform=whatsapp: -0.83 of the -0.83 change in avg_rating (its own value 4.50 -> 2.00: rate -0.83, "
        "mix 0.00); against the same 1 h a week before")
    (tmp_path / "alerts.yml").write_text(change_data.LOW_RATING_RULES, encoding="utf-8")
    for name, value in (("DATABASE_URL", database), ("EASYFLOW_ALERTS_FILE", str(tmp_path / "alerts.yml"))):
        monkeypatch.setenv(name, value)
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["range"] = "24h"
    at.switch_page("../pages/alerts.py").run()
    assert_clean(at)
    assert any("Against the same 1 h a week before: Avg rating fell 0.83: 0.83 of it from whatsapp, whose avg rating "
               "went from 4.50 / 5 to 2.00 / 5" in w.value for w in at.warning), [w.value for w in at.warning]
    engine.dispose()
