"""AppTest smoke tests of the Business page: demo data, an empty range, no nps_responses, seed only."""

from __future__ import annotations

import ast
from pathlib import Path

import sqlalchemy as sa

from data_access.catalogue import KPIS
from data_access.engine import make_engine

from tests.apptest import assert_clean, downloads, open_page, page_text, run_app, tiles, warnings

def _page_keys() -> tuple[str, ...]:
    """The tile keys the Business page declares (its ``KEYS``), read from its source."""
    tree = ast.parse((Path(__file__).resolve().parent.parent / "pages" / "business.py").read_text())
    return next(ast.literal_eval(node.value) for node in tree.body
                if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "KEYS")


# The tiles in the page's order, by their catalogue labels.
BUSINESS_TILES = [KPIS[key].label for key in _page_keys()]


def test_business_on_demo_data(monkeypatch, demo_url):
    at = open_page(run_app(monkeypatch, demo_url), "business")
    shown = tiles(at)
    assert list(shown) == BUSINESS_TILES and "—" not in shown.values(), shown
    # The demo ends today: the last week's resolved dialogs whose user has not come back are pending.
    pending = [c.value for c in at.caption if c.value.startswith("Not decided yet")]
    assert len(pending) == 1 and "First-contact resolution — " in pending[0] and ": " not in pending[0].split(": ", 1)[1], pending
    assert len(at.get("plotly_chart")) >= 10
    assert len(at.dataframe) >= 5
    assert not warnings(at)
    assert any(link.proto.page.endswith("export") or "Export" in link.proto.label for link in at.get("page_link"))
    # Comparing platforms and showing detractors only still render.
    at.toggle(key="business_by_platform").set_value(True).run()
    at.toggle(key="business_detractors").set_value(True).run()
    assert_clean(at)


def test_business_on_an_empty_range(monkeypatch, sqlite_demo_url):
    at = open_page(run_app(monkeypatch, sqlite_demo_url, {"start_date": "2020-01-01", "end_date": "2020-01-31"}), "business")
    shown = tiles(at)
    assert shown["Dialogs"] == "0" and shown["CSAT"] == "—" and shown["Median resolution time"] == "—"
    assert any("No data in this range." in i.value for i in at.info)


def test_business_without_nps_table(monkeypatch, tmp_path, sqlite_demo_url):
    import shutil

    copy = tmp_path / "no_nps.sqlite"
    shutil.copy(sa.make_url(sqlite_demo_url).database, copy)
    engine = make_engine(f"sqlite:///{copy}")
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE nps_responses")
    engine.dispose()
    at = open_page(run_app(monkeypatch, f"sqlite:///{copy}"), "business")
    assert tiles(at)["NPS"] == "—"
    assert "Not tracked in this database." in next(m for m in at.metric if m.label == "NPS").proto.help
    assert "nps_responses" in page_text(at)


def test_business_on_seed_only_table(monkeypatch, seed_only_url):
    at = open_page(run_app(monkeypatch, seed_only_url), "business")
    shown = tiles(at)
    assert shown["Conversion rate"] == "—" and shown["NPS"] == "—"
    assert "conversation_metrics.converted" in page_text(at)


def test_from_a_repeat_contact_user_to_their_messages(monkeypatch, sqlite_demo_url):
    """Business → "Users with the most repeat dialogs" → the user's messages (the link keeps the view)."""
    from urllib.parse import parse_qs, urlparse

    at = open_page(run_app(monkeypatch, sqlite_demo_url, {"range": "90d"}), "business")
    [users] = [d.value for d in at.dataframe
               if {"open", "repeat_dialogs"} <= set(getattr(getattr(d.value, "data", d.value), "columns", []))]
    frame = getattr(users, "data", users)
    link = frame["open"].iloc[0]
    query = parse_qs(urlparse(link).query)
    assert link.startswith("messages?") and query["user"] == [str(frame["user_id"].iloc[0])]
    assert query["range"] == ["90d"]
    messages = run_app(monkeypatch, sqlite_demo_url, {k: v[0] for k, v in query.items()})
    messages.switch_page("../pages/messages.py").run()
    assert_clean(messages)
    assert any(str(frame["user_id"].iloc[0]) in s.value.replace("\\", "") for s in messages.subheader)
    shown = tiles(messages)
    assert int(shown["Dialogs"]) == int(frame["dialogs"].iloc[0])  # the same dialogs the table counted
    table = messages.dataframe[0].value
    times = list(getattr(table, "data", table)["timestamp"])
    assert times == sorted(times)


def test_survey_comments_page_through_all_and_the_csv_holds_all(monkeypatch, sqlite_incident_url):
    from data_access import business
    from data_access.engine import make_engine
    from data_access.schema import discover
    from tests.apptest import download

    at = open_page(run_app(monkeypatch, sqlite_incident_url, {"range": "90d"}), "business")
    engine = make_engine(sqlite_incident_url)
    total = business.nps_comment_count(engine, discover(engine), at.session_state["_filters"])
    engine.dispose()
    assert total > 50, "the demo should have more comments than one page"
    [page] = [n for n in at.number_input if n.key == "comments_page"]
    assert f"{-(-total // 50)}" in page.label
    first = comments_shown(at)
    page.set_value(2).run()
    second = comments_shown(at)
    assert len(first) == 50 and second and not set(first) & set(second)
    assert "all_comments" in downloads(at)
    [label] = [b.proto.label for b in at.get("link_button") if b.proto.label.startswith("Download all")]
    assert f"{total:,}" in label
    content, name = download(at, "all_comments")
    lines = content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Time,Platform,Score,Comment") and len(lines) >= total + 1, lines[:3]
    assert name.startswith("nps_comments_all_") and name.endswith(".csv")


def test_a_survey_comment_shows_its_dialogs_intent_and_opens_that_dialog(monkeypatch, sqlite_demo_url):
    from urllib.parse import parse_qs, urlparse

    at = open_page(run_app(monkeypatch, sqlite_demo_url, {"range": "90d"}), "business")
    [frame] = [d.value for d in at.dataframe if "comment" in getattr(getattr(d.value, "data", d.value), "columns", [])]
    frame = getattr(frame, "data", frame)
    row = frame[frame["open"].str.contains("dialog=")].iloc[0]
    assert row["intent"]
    query = parse_qs(urlparse(row["open"]).query)
    assert "user" not in query and query["range"] == ["90d"]
    [dialog] = query["dialog"]
    messages = run_app(monkeypatch, sqlite_demo_url, {k: v[0] for k, v in query.items()})
    messages.switch_page("../pages/messages.py").run()
    assert_clean(messages)
    table = getattr(messages.dataframe[0].value, "data", messages.dataframe[0].value)
    assert set(table["session_id"]) == {dialog} and row["intent"] in set(table["intent"])


def test_latest_escalations_open_their_dialogs(monkeypatch, sqlite_demo_url):
    at = open_page(run_app(monkeypatch, sqlite_demo_url, {"range": "90d"}), "ai_performance")
    assert any(s.value == "Latest hand-overs to a person" for s in at.subheader)
    [frame] = [d.value for d in at.dataframe
               if {"session_id", "open"} <= set(getattr(getattr(d.value, "data", d.value), "columns", []))]
    frame = getattr(frame, "data", frame)
    assert len(frame) == 20 and list(frame["timestamp"]) == sorted(frame["timestamp"], reverse=True)
    assert all(link.endswith(f"dialog={sid}") for link, sid in zip(frame["open"], frame["session_id"]))


def comments_shown(at) -> list[tuple]:
    [frame] = [d.value for d in at.dataframe if "comment" in getattr(getattr(d.value, "data", d.value), "columns", [])]
    frame = getattr(frame, "data", frame)
    return list(zip(frame["timestamp"], frame["comment"]))


def messages_pages_run(monkeypatch, url: str) -> None:
    for query in ({"user": "u1"}, {"dialog": "s1"}, {}):
        at = run_app(monkeypatch, url, query)
        at.switch_page("../pages/messages.py").run()
        assert_clean(at)
        assert page_text(at)


def test_the_messages_page_on_an_empty_database(monkeypatch, blank_url):
    from data_access.engine import make_engine
    from data_access.schema import create_all

    engine = make_engine(blank_url)
    create_all(engine)
    engine.dispose()
    messages_pages_run(monkeypatch, blank_url)


def test_the_messages_page_on_the_seed_only_table(monkeypatch, seed_only_url):
    """The seed's table has no session_id: asking for a dialog says so instead of failing."""
    messages_pages_run(monkeypatch, seed_only_url)


def test_a_dialog_drill_down_shows_the_whole_dialog_whatever_the_filters(monkeypatch, sqlite_demo_url):
    """A dialog opened under an intent filter it has no message of, and a range that ends before
    its last message: the page still shows every message of it, and says so. The id box opens
    a dialog; a user's dialog ids open their dialogs; their CSV holds the ids."""
    from urllib.parse import parse_qs, urlparse

    import sqlalchemy as sa

    from dashboard import names
    from data_access.engine import make_engine
    from tests.apptest import download

    engine = make_engine(sqlite_demo_url)
    with engine.connect() as conn:
        # A dialog of two messages or more, all of one intent, and another intent it does not touch.
        dialog, intent, count, first_day = conn.execute(sa.text(
            "SELECT session_id, MIN(intent), COUNT(*), DATE(MIN(timestamp)) FROM conversation_metrics "
            "WHERE session_id IS NOT NULL GROUP BY session_id HAVING COUNT(*) >= 2 AND MIN(intent) = MAX(intent) "
            "ORDER BY session_id LIMIT 1")).one()
        other = conn.execute(sa.text("SELECT MIN(intent) FROM conversation_metrics WHERE intent <> :i"),
                             {"i": intent}).scalar()
        user = conn.execute(sa.text("SELECT user_id FROM conversation_metrics WHERE session_id = :d LIMIT 1"),
                            {"d": dialog}).scalar()
    engine.dispose()
    at = run_app(monkeypatch, sqlite_demo_url, {"range": "custom", "start": first_day, "end": first_day,
                                                "intent": other, "dialog": dialog})
    at = open_page(at, "messages")
    shown = getattr(at.dataframe[0].value, "data", at.dataframe[0].value)
    assert set(shown["session_id"]) == {dialog} and len(shown) == count
    assert set(shown["intent"]) == {names.intent(intent, "en")}  # by its name
    assert any("The whole dialog, whatever the platform, intent and AI model filters" in c.value for c in at.caption)

    # The id box: a user by id; their messages link each dialog id to its dialog.
    at.selectbox(key="lookup_kind").set_value("user")
    at.text_input(key="lookup_id").set_value(f"  {user} ")
    [submit] = [b for b in at.button if b.label == "Open"]
    submit.click().run()
    assert at.query_params["user"] == user and "dialog" not in at.query_params
    shown = getattr(at.dataframe[0].value, "data", at.dataframe[0].value)
    opened = {parse_qs(urlparse(v).query)["dialog"][0] for v in shown["session_id"] if v}
    assert dialog in opened
    content, _ = download(at, "csv_messages")
    text = content.decode("utf-8-sig")
    assert dialog in text and "messages?" not in text  # the ids, not the links


def test_survey_comments_sort_over_all_of_them_not_one_page(monkeypatch, sqlite_incident_url):
    """"Lowest score first" is the database's order over every comment of the range: the first
    page holds the lowest scores of all, the last page the highest; the URL keeps the order."""
    from data_access import business
    from data_access.engine import make_engine
    from data_access.schema import discover

    at = open_page(run_app(monkeypatch, sqlite_incident_url, {"range": "90d"}), "business")
    at.selectbox(key="comments_order").set_value("lowest").run()
    assert at.query_params["comments_order"] == "lowest"
    engine = make_engine(sqlite_incident_url)
    every = business.nps_comments(engine, discover(engine), at.session_state["_filters"], limit=None)
    engine.dispose()

    def scores(page) -> list:
        [frame] = [d.value for d in page.dataframe if "comment" in getattr(getattr(d.value, "data", d.value), "columns", [])]
        return list(getattr(frame, "data", frame)["score"])

    first = scores(at)
    assert first == sorted(every["score"])[:len(first)] and len(first) == 50
    last_page = -(-len(every) // 50)
    [page] = [n for n in at.number_input if n.key == "comments_page"]
    page.set_value(last_page).run()
    assert max(scores(at)) == every["score"].max()
