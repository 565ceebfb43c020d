"""Every chart builder on a tiny frame: plotly checks each property it is given, so a misspelt
one fails here, and the traces are the ones the page expects."""

from __future__ import annotations

import pandas as pd

from dashboard import charts

DAYS = pd.date_range("2026-11-01", periods=3)


def by_platform():
    return pd.DataFrame({"bucket": DAYS.repeat(2), "platform": ["telegram", "web"] * 3, "dialogs": [1, 2, 3, 4, 5, 6]})


def test_stacked_bars_and_lines():
    fig = charts.stacked_bars(by_platform(), "bucket", "dialogs", "platform", "t", "y", "p",
                              partial_from=DAYS[-1])
    assert [trace.name for trace in fig.data] == ["telegram", "web"]
    assert list(fig.data[0].marker.opacity) == [1.0, 1.0, 0.4]
    fig = charts.lines(by_platform(), "bucket", "dialogs", "t", "y", series="platform",
                       thresholds=[(3, "limit"), (5, "target")], y_suffix=" %", log_y=True)
    assert len(fig.layout.shapes) == 2 and fig.layout.yaxis.type == "log"


def test_bars_both_ways():
    frame = pd.DataFrame({"intent": ["a", "b"], "rate": [10.0, 20.0]})
    assert charts.bars(frame, "intent", "rate", "x", "y").data[0].orientation == "v"
    assert charts.bars(frame, "intent", "rate", "x", "y", horizontal=True).data[0].orientation == "h"


def test_panels_and_special_charts():
    csat = pd.DataFrame({"bucket": DAYS, "csat": [80.0, 70.0, 75.0], "avg_rating": [4.1, 3.9, 4.0],
                         "ratings": [10, 12, 9]})
    assert len(charts.csat_panels(csat, "t", "CSAT", "Avg", 4.0, "alert").data) == 2
    nps = pd.DataFrame({"bucket": DAYS, "promoters_share": [50.0] * 3, "passives_share": [30.0] * 3,
                        "detractors_share": [20.0] * 3, "nps": [30.0] * 3, "responses": [10] * 3})
    assert len(charts.nps_mix(nps, "t", {"promoters": "P", "passives": "N", "detractors": "D"}, "NPS").data) == 4
    traffic = pd.DataFrame({"bucket": DAYS.repeat(2), "service": ["a", "b"] * 3, "rps": [1.0] * 6, "errors": [0] * 6})
    assert len(charts.traffic_panels(traffic, "t", "rps", "errors").data) == 4
    intervals = pd.DataFrame({"service": ["api"], "status": ["down"], "started": [DAYS[0]], "ended": [DAYS[1]],
                              "seconds": [86400.0]})
    assert len(charts.status_timeline(intervals, ["api"], "t", {"down": "down", "degraded": "degraded"},
                                      DAYS[0], DAYS[-1]).data) == 2
    matrix = pd.DataFrame([[2, 1], [0, 3]], index=["a", "b"], columns=["a", "b"])
    assert charts.heatmap(matrix, "x", "y", "%{z}").data[0].type == "heatmap"
    calibration = pd.DataFrame({"bucket": ["0.8–0.9"], "accuracy": [80.0], "mean_confidence": [0.85],
                                "labelled": [10], "share": [100.0]})
    assert len(charts.calibration_chart(calibration, "x", "acc", "conf", "share").data) == 2


def test_alert_and_sla_charts():
    history = pd.DataFrame({"row": ["Disk · db", "Down · api"], "severity": ["critical", "warning"],
                            "fired_at": [DAYS[0], DAYS[1]], "until": [DAYS[1], DAYS[2]],
                            "resolved_text": ["2026-11-02", "still firing"]})
    fig = charts.alert_timeline(history, "t", {"critical": "C", "warning": "W", "info": "I"}, DAYS[0], DAYS[-1])
    assert [trace.name for trace in fig.data] == ["C", "W"]
    assert list(fig.layout.yaxis.categoryarray) == ["Down · api", "Disk · db"]
    values = pd.DataFrame({"bucket": DAYS, "key": "", "value": [1.0, 9.0, 2.0], "baseline": [2.0, 2.0, 2.0]})
    intervals = pd.DataFrame({"start": [DAYS[1]], "end": [DAYS[1]]})  # zero width: widened to be seen
    fig = charts.rule_chart(values, intervals, "t", "y", [(5.0, "fires"), (4.0, "clears")], "firing",
                            y_suffix=" %", baseline_label="normal")
    assert [trace.name for trace in fig.data] == ["y", "normal"]
    shapes = fig.layout.shapes
    assert len(shapes) == 3 and pd.Timestamp(shapes[2].x1) > pd.Timestamp(shapes[2].x0)
    budget = pd.DataFrame({"name": ["api", "db"], "downtime_minutes": [2.0, 0.0], "budget_minutes": [1.44, 1.44],
                           "budget_left_minutes": [-0.56, 1.44]})
    fig = charts.budget_bars(budget, "min", {"used": "U", "left": "L", "over": "O"})
    assert [list(trace.x) for trace in fig.data] == [[1.44, 0.0], [0.0, 1.44], [0.56, 0.0]]


def test_a_rerun_with_equal_data_gets_the_figure_built_before():
    first = charts.lines(by_platform(), "bucket", "dialogs", "t", "y", series="platform")
    assert charts.lines(by_platform(), "bucket", "dialogs", "t", "y", series="platform") is first
    changed = by_platform().assign(dialogs=[1, 2, 3, 4, 5, 7])
    other = charts.lines(changed, "bucket", "dialogs", "t", "y", series="platform")
    assert other is not first and list(other.data[1].y) == [2, 4, 7]
    assert charts.lines(by_platform(), "bucket", "dialogs", "t", "other title", series="platform") is not first


def test_a_builder_that_extends_a_figure_leaves_the_shared_one_alone():
    values = pd.DataFrame({"bucket": DAYS, "key": ["all"] * 3, "value": [1.0, 5.0, 2.0]})
    # The very call rule_chart makes inside.
    shared = charts.lines(values, "bucket", "value", "t", "y", series=None, thresholds=[(4.0, "fire")],
                          y_suffix="", hover_format=",.2f", legend_title=None, markers=True)
    shapes = len(shared.layout.shapes)
    intervals = pd.DataFrame({"start": [DAYS[1]], "end": [DAYS[2]]})
    charts.rule_chart(values, intervals, "t", "y", [(4.0, "fire")], "firing")
    assert len(shared.layout.shapes) == shapes and not shared.layout.annotations[1:]


def test_russian_gets_its_own_copy(monkeypatch):
    from dashboard import tables

    fig = charts.lines(by_platform(), "bucket", "dialogs", "t", "russian test", series="platform")
    monkeypatch.setattr(tables, "current_language", lambda: "ru")
    russian = tables.localize(fig)
    assert russian is not fig and russian.layout.separators == ", " and fig.layout.separators is None
    assert list(russian.layout.xaxis.ticktext) and fig.layout.xaxis.ticktext is None
    assert tables.localize(fig) is russian
    monkeypatch.setattr(tables, "current_language", lambda: "en")
    assert tables.localize(fig) is fig


def test_highlighted_rows_get_the_amber_background(monkeypatch):
    from dashboard import tables

    shown = {}
    monkeypatch.setattr(tables.st, "dataframe", lambda styled, **_: shown.setdefault("styled", styled))
    monkeypatch.setattr(tables.files, "link", lambda *a, **k: None)
    monkeypatch.setattr(tables, "current_language", lambda: "en")
    frame = pd.DataFrame({"name": ["a", "b", "c"], "value": [1, 2, 3]})
    tables.table(frame, {"name": None, "value": None}, "f", "k", highlight=pd.Series([False, True, False]),
                 cell_colors={"name": {"c": "#C0392B"}})
    styler = shown["styled"]
    styler._compute()
    amber = ("background-color", "#FFF4D6")
    assert {cell for cell, styles in styler.ctx.items() if amber in styles} == {(1, 0), (1, 1)}
    assert ("color", "#C0392B") in styler.ctx[(2, 0)]
