"""DataFrame → plotly Figure. Pure: no Streamlit, no database; titles come in translated.

Building a figure costs 5–20 ms of plotly's validation, and a page draws up to fifteen on every
rerun: each builder is ``reused``, so a rerun with the same data gets the figure it built before.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.format import chart_text

# One colour per platform, stable across charts and pages.
PLATFORM_COLORS = {"telegram": "#2AABEE", "whatsapp": "#25D366", "web": "#6C5CE7"}
# Plotly's qualitative palette: ten colours told apart easily.
FALLBACK_COLORS = ["#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692", "#B6E880",
                   "#FF97FF", "#FECB52"]


FIGURES_KEPT = 256
_figures: OrderedDict[tuple, go.Figure] = OrderedDict()
_figures_lock = threading.Lock()


def reused(builder: Callable[..., go.Figure]) -> Callable[..., go.Figure]:
    """``builder``, returning the figure it built before for equal arguments (the last
    ``FIGURES_KEPT`` figures of every builder are kept). The figure is shared: copy it
    (``go.Figure(fig)``) before changing it."""

    @functools.wraps(builder)
    def build(*args, **kwargs) -> go.Figure:
        """The figure, its labels from the data shown as text (``plain_labels``)."""
        try:
            # Equal pickles mean equal inputs (frames included); unequal ones only cost a rebuild.
            key = (builder.__name__, hashlib.blake2b(pickle.dumps((args, kwargs), protocol=5)).digest())
        except (pickle.PicklingError, TypeError, AttributeError):
            return plain_labels(builder(*args, **kwargs))
        with _figures_lock:
            if key in _figures:
                _figures.move_to_end(key)
                return _figures[key]
        figure = plain_labels(builder(*args, **kwargs))
        with _figures_lock:
            _figures[key] = figure
            while len(_figures) > FIGURES_KEPT:
                _figures.popitem(last=False)
        return figure

    return build


# Trace attributes that plotly draws as (pseudo-HTML) text: legend entries, category ticks, hovers.
_TEXT_ATTRIBUTES = ("x", "y", "text", "hovertext", "customdata", "labels")


def plain_labels(fig: go.Figure) -> go.Figure:
    """``fig`` with every text that came from the data escaped (``format.chart_text``): plotly
    reads ``<a href>``, ``<b>`` and friends in trace names, category values and hover texts, so
    a platform named ``<a href=…>`` would otherwise become a link in the legend. Changes ``fig``."""
    for trace in fig.data:
        if isinstance(trace.name, str):
            trace.name = chart_text(trace.name)
        for attribute in _TEXT_ATTRIBUTES:
            if attribute not in trace:
                continue
            values = trace[attribute]
            if values is not None and not isinstance(values, str) and _holds_text(values):
                trace[attribute] = _escaped(values)
    return fig


def _holds_text(values) -> bool:
    array = np.asarray(values, dtype=object)
    return any(isinstance(v, str) for v in array.ravel()[:10_000])


def _escaped(values):
    array = np.asarray(values, dtype=object)
    return np.vectorize(lambda v: chart_text(v) if isinstance(v, str) else v, otypes=[object])(array)


def color_for(name: str, index: int) -> str:
    return PLATFORM_COLORS.get(name, FALLBACK_COLORS[index % len(FALLBACK_COLORS)])


def base_layout(fig: go.Figure, x_title: str, y_title: str, legend_title: str | None = None) -> go.Figure:
    fig.update_layout(
        margin=dict(l=8, r=8, t=36, b=8),
        height=360,
        # Below the plot, at the foot of the figure: at the top it sits under the toolbar on a phone.
        legend=dict(orientation="h", yref="container", yanchor="bottom", y=0, xanchor="left", x=0,
                    title=legend_title),
        hovermode="x unified",
        xaxis_title=x_title,
        yaxis_title=y_title,
        bargap=0.15,
    )
    fig.update_yaxes(rangemode="tozero", separatethousands=True)
    return fig


def partial_bucket_start(now_local: pd.Timestamp, unit: str) -> pd.Timestamp:
    """The start of the bucket that ``now`` falls in: that bucket's data is still coming in."""
    now_local = pd.Timestamp(now_local) - pd.Timedelta(microseconds=1)  # now is rounded up to an hour
    if unit == "hour":
        return now_local.floor("h")
    day = now_local.normalize()
    return day if unit == "day" else day - pd.Timedelta(days=day.weekday())


@reused
def stacked_bars(frame: pd.DataFrame, x: str, y: str, stack: str, x_title: str, y_title: str,
                 legend_title: str, hover_format: str = ",d",
                 partial_from: pd.Timestamp | None = None) -> go.Figure:
    """One bar per ``x``, split by ``stack`` (e.g. dialogs per day by platform).

    Bars at or after ``partial_from`` (a period still in progress) are drawn lighter."""
    fig = go.Figure()
    for i, (name, part) in enumerate(frame.groupby(stack, sort=True)):
        opacity = 1.0 if partial_from is None else [0.4 if v >= partial_from else 1.0 for v in part[x]]
        fig.add_bar(x=part[x], y=part[y], name=str(name), marker_color=color_for(str(name), i),
                    marker_opacity=opacity,
                    hovertemplate=f"%{{y:{hover_format}}}<extra>%{{fullData.name}}</extra>")
    fig.update_layout(barmode="stack")
    return base_layout(fig, x_title, y_title, legend_title)


@reused
def lines(frame: pd.DataFrame, x: str, y: str, x_title: str, y_title: str, series: str | None = None,
          thresholds: Sequence[tuple[float, str]] = (), y_suffix: str = "",
          hover_format: str = ",.1f", legend_title: str | None = None, text: str | None = None,
          log_y: bool = False, markers: bool = True) -> go.Figure:
    """One line per ``series`` value (or one line), dashed ``(value, label)`` thresholds, and an
    optional ``text`` column shown on hover (a formatted duration, say). ``markers=False`` for
    long series, where dots would hide the line."""
    fig = go.Figure()
    groups = frame.groupby(series, sort=True) if series else [(y_title, frame)]
    for i, (name, part) in enumerate(groups):
        hover = "%{customdata}" if text else f"%{{y:{hover_format}}}{y_suffix}"
        fig.add_scatter(x=part[x], y=part[y], name=str(name), mode="lines+markers" if markers else "lines",
                        marker=dict(size=5), line=dict(width=2, color=color_for(str(name), i)),
                        customdata=part[text] if text else None,
                        hovertemplate=f"{hover}<extra>%{{fullData.name}}</extra>")
    for value, label in thresholds:
        add_threshold(fig, value, label)
    fig.update_yaxes(ticksuffix=y_suffix)
    fig.update_layout(showlegend=bool(series))
    base_layout(fig, x_title, y_title, legend_title)
    if log_y:
        fig.update_yaxes(type="log", rangemode="normal")
    return fig


THRESHOLD_COLORS = ("#C0392B", "#8E44AD")


def add_threshold(fig: go.Figure, value: float, label: str, **where) -> None:
    """A dashed horizontal line at ``value`` with its label (a second one in another colour)."""
    colour = THRESHOLD_COLORS[len(fig.layout.shapes) % len(THRESHOLD_COLORS)]
    fig.add_hline(y=value, line_dash="dash", line_color=colour, line_width=1.5, annotation_text=label,
                  annotation_position="top left", annotation_font_color=colour, **where)


@reused
def bars(frame: pd.DataFrame, x: str, y: str, x_title: str, y_title: str, horizontal: bool = False,
         color: str | None = None, y_suffix: str = "", hover_format: str = ",d",
         legend_title: str | None = None) -> go.Figure:
    """Bars of ``y`` by ``x`` (grouped by ``color`` when given), in the frame's order."""
    fig = go.Figure()
    groups = frame.groupby(color, sort=True) if color else [(y_title, frame)]
    for i, (name, part) in enumerate(groups):
        xs, ys = (part[y], part[x]) if horizontal else (part[x], part[y])
        fig.add_bar(x=xs, y=ys, name=str(name), orientation="h" if horizontal else "v",
                    marker_color=color_for(str(name), i) if color else "#2F6FEB",
                    hovertemplate=f"%{{{'x' if horizontal else 'y'}:{hover_format}}}{y_suffix}<extra>%{{fullData.name}}</extra>")
    fig.update_layout(showlegend=bool(color), barmode="group")
    if horizontal:
        fig.update_yaxes(autorange="reversed", type="category")
        fig.update_xaxes(ticksuffix=y_suffix)
        base_layout(fig, y_title, x_title, legend_title)
        fig.update_layout(height=max(240, 28 * frame[x].nunique() + 80))
        return fig
    fig.update_xaxes(type="category")
    fig.update_yaxes(ticksuffix=y_suffix)
    return base_layout(fig, x_title, y_title, legend_title)


@reused
def csat_panels(frame: pd.DataFrame, x_title: str, csat_title: str, rating_title: str, threshold: float | None,
                threshold_label: str, series: str | None = None) -> go.Figure:
    """CSAT (top-2 %) above and Avg rating below on one time axis, with the rating threshold."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=(csat_title, rating_title))
    groups = frame.groupby(series, sort=True) if series else [(csat_title, frame)]
    for i, (name, part) in enumerate(groups):
        colour = color_for(str(name), i)
        fig.add_scatter(x=part["bucket"], y=part["csat"], name=str(name), legendgroup=str(name),
                        mode="lines+markers", marker=dict(size=5), line=dict(color=colour, width=2),
                        customdata=part["ratings"], showlegend=bool(series),
                        hovertemplate="%{y:.1f} % (n = %{customdata:,d})<extra>%{fullData.name}</extra>",
                        row=1, col=1)
        fig.add_scatter(x=part["bucket"], y=part["avg_rating"], name=str(name), legendgroup=str(name),
                        mode="lines+markers", marker=dict(size=5), line=dict(color=colour, width=2, dash="dot"),
                        showlegend=False, hovertemplate="%{y:.2f} / 5<extra>%{fullData.name}</extra>",
                        row=2, col=1)
    if threshold is not None:
        add_threshold(fig, threshold, threshold_label, row=2, col=1)
    fig.update_yaxes(ticksuffix=" %", row=1, col=1)
    fig.update_yaxes(range=[1, 5.1], row=2, col=1)
    base_layout(fig, "", "")
    fig.update_xaxes(title_text=x_title, row=2, col=1)
    fig.update_layout(height=540, hovermode="x unified", margin=dict(t=64))
    return fig


@reused
def nps_mix(frame: pd.DataFrame, x_title: str, labels: dict[str, str], nps_label: str) -> go.Figure:
    """Shares of promoters, passives and detractors (stacked to 100 %) with NPS as a line."""
    fig = go.Figure()
    colours = {"promoters": "#27AE60", "passives": "#BDC3C7", "detractors": "#E74C3C"}
    for part in ("detractors", "passives", "promoters"):
        fig.add_bar(x=frame["bucket"], y=frame[f"{part}_share"], name=labels[part], marker_color=colours[part],
                    hovertemplate="%{y:.1f} %<extra>%{fullData.name}</extra>")
    fig.add_scatter(x=frame["bucket"], y=frame["nps"], name=nps_label, yaxis="y2", mode="lines+markers",
                    line=dict(color="#1F2430", width=2), customdata=frame["responses"],
                    hovertemplate="%{y:+.0f} (n = %{customdata:,d})<extra>%{fullData.name}</extra>")
    fig.update_layout(barmode="stack", yaxis=dict(range=[0, 100], ticksuffix=" %"),
                      yaxis2=dict(overlaying="y", side="right", range=[-100, 100], showgrid=False,
                                  zeroline=True, title=nps_label))
    return base_layout(fig, x_title, "")


STATUS_COLORS = {"down": "#E74C3C", "degraded": "#F39C12", "up": "#27AE60"}


@reused
def traffic_panels(frame: pd.DataFrame, x_title: str, rps_title: str, errors_title: str,
                   rps_unit: str = "rps", errors_unit: str = "errors") -> go.Figure:
    """Requests per second per service above, errors per service below, on one time axis."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.65, 0.35],
                        subplot_titles=(rps_title, errors_title))
    for i, (service, part) in enumerate(frame.groupby("service", sort=True)):
        colour = FALLBACK_COLORS[i % len(FALLBACK_COLORS)]
        fig.add_scatter(x=part["bucket"], y=part["rps"], name=str(service), legendgroup=str(service),
                        mode="lines", line=dict(width=1.8, color=colour),
                        hovertemplate=f"%{{y:,.2f}} {rps_unit}<extra>%{{fullData.name}}</extra>", row=1, col=1)
        fig.add_bar(x=part["bucket"], y=part["errors"], name=str(service), legendgroup=str(service),
                    marker_color=colour, showlegend=False,
                    hovertemplate=f"%{{y:,d}} {errors_unit}<extra>%{{fullData.name}}</extra>", row=2, col=1)
    base_layout(fig, "", "")
    fig.update_layout(barmode="stack", height=500, margin=dict(t=64))
    fig.update_xaxes(title_text=x_title, row=2, col=1)
    return fig


@reused
def status_timeline(intervals: pd.DataFrame, services: list[str], x_title: str, labels: dict[str, str],
                    start: pd.Timestamp, end: pd.Timestamp) -> go.Figure:
    """Down and degraded intervals as bars on a time axis, one row per service (gaps = up)."""
    fig = go.Figure()
    for status in ("down", "degraded"):
        part = intervals[intervals["status"] == status]
        # A bar needs some width to be seen: at least a thousandth of the range.
        minimum = (end - start).total_seconds() / 1000
        width_ms = part["seconds"].clip(lower=minimum) * 1000
        fig.add_bar(y=part["service"], x=width_ms, base=part["started"], orientation="h", name=labels[status],
                    marker_color=STATUS_COLORS[status], customdata=part[["ended", "seconds"]],
                    hovertemplate="%{base|%Y-%m-%d %H:%M} – %{customdata[0]|%H:%M}<extra>%{fullData.name}</extra>")
    return timeline_layout(fig, services, x_title, start, end)


def timeline_layout(fig: go.Figure, rows: list[str], x_title: str, start: pd.Timestamp,
                    end: pd.Timestamp) -> go.Figure:
    """Horizontal interval bars on a date axis over [start, end), ``rows`` top to bottom."""
    fig.update_xaxes(type="date", range=[start, end])
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(rows)), type="category")
    base_layout(fig, x_title, "")
    fig.update_layout(height=max(200, 32 * len(rows) + 115), barmode="overlay", hovermode="closest")
    fig.update_yaxes(rangemode="normal")
    return fig


@reused
def heatmap(matrix: pd.DataFrame, x_title: str, y_title: str, hover: str) -> go.Figure:
    """A count matrix (rows × columns) as a heatmap with the counts written in the cells."""
    fig = go.Figure(go.Heatmap(z=matrix.values, x=list(matrix.columns), y=list(matrix.index),
                               colorscale="Blues", text=matrix.values, texttemplate="%{text:,d}",
                               hovertemplate=hover + "<extra></extra>", showscale=False))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", tickangle=-35)
    base_layout(fig, x_title, y_title)
    fig.update_layout(height=max(320, 36 * len(matrix.index) + 140), hovermode="closest")
    fig.update_yaxes(rangemode="normal")
    return fig


@reused
def calibration_chart(frame: pd.DataFrame, x_title: str, accuracy_label: str, confidence_label: str,
                      share_label: str) -> go.Figure:
    """Accuracy per confidence bucket (bars) against the bucket's mean confidence (the line a
    calibrated classifier would follow), with each bucket's share of messages on hover."""
    fig = go.Figure()
    fig.add_bar(x=frame["bucket"], y=frame["accuracy"], name=accuracy_label, marker_color="#2F6FEB",
                customdata=frame[["labelled", "share"]],
                hovertemplate=("%{y:.1f} % (n = %{customdata[0]:,d}; " + share_label +
                               " %{customdata[1]:.1f} %)<extra></extra>"))
    fig.add_scatter(x=frame["bucket"], y=100.0 * frame["mean_confidence"], name=confidence_label,
                    mode="lines+markers", line=dict(color="#C0392B", dash="dash"),
                    hovertemplate="%{y:.1f} %<extra>%{fullData.name}</extra>")
    fig.update_xaxes(type="category")
    fig.update_yaxes(range=[0, 100], ticksuffix=" %")
    return base_layout(fig, x_title, "")


SEVERITY_COLORS = {"critical": "#E74C3C", "warning": "#F39C12", "info": "#3498DB"}


@reused
def alert_timeline(alerts: pd.DataFrame, x_title: str, labels: dict[str, str], start: pd.Timestamp,
                   end: pd.Timestamp) -> go.Figure:
    """Each alert as a bar from when it fired to when it resolved (or ``end`` while firing), one
    row per ``row`` value (rule, and label value), coloured by severity. ``alerts`` has row,
    severity, fired_at, until, resolved_text."""
    fig = go.Figure()
    rows = list(dict.fromkeys(alerts.sort_values("fired_at")["row"]))
    minimum = (end - start).total_seconds() / 500  # a bar needs some width to be seen
    for severity, colour in SEVERITY_COLORS.items():
        part = alerts[alerts["severity"] == severity]
        if part.empty:
            continue
        seconds = (part["until"] - part["fired_at"]).dt.total_seconds()
        fig.add_bar(y=part["row"], x=seconds.clip(lower=minimum) * 1000, base=part["fired_at"], orientation="h",
                    name=labels[severity], marker_color=colour, customdata=part[["resolved_text"]],
                    hovertemplate="%{base|%Y-%m-%d %H:%M} – %{customdata[0]}<extra>%{y}</extra>")
    return timeline_layout(fig, rows, x_title, start, end)


@reused
def rule_chart(values: pd.DataFrame, intervals: pd.DataFrame, x_title: str, y_title: str,
               thresholds: Sequence[tuple[float, str]], firing_label: str, y_suffix: str = "",
               baseline_label: str | None = None, legend_title: str | None = None,
               max_shaded: int = 200) -> go.Figure:
    """A rule's metric (one line per ``key``; the ``baseline`` line when given) with its
    thresholds, and the intervals it was firing shaded (``intervals``: start, end)."""
    series = "key" if values["key"].nunique() > 1 else None
    fig = lines.__wrapped__(values, "bucket", "value", x_title, y_title, series=series, thresholds=thresholds,
                y_suffix=y_suffix, hover_format=",.2f", legend_title=legend_title, markers=len(values) < 200)
    if baseline_label and "baseline" in values and values["baseline"].notna().any():
        for name, part in (values.groupby("key", sort=True) if series else [("", values)]):
            fig.add_scatter(x=part["bucket"], y=part["baseline"], mode="lines", name=f"{baseline_label} {name}".strip(),
                            line=dict(color="#7F8C8D", dash="dot", width=1.5),
                            hovertemplate=f"%{{y:,.2f}}{y_suffix}<extra>%{{fullData.name}}</extra>")
        fig.update_layout(showlegend=True)
    if values.empty:
        return fig
    # A band needs some width to be seen: at least 1/300 of the time axis. The bands go in as
    # one list: add_vrect per band validates the whole layout each time (~10 ms a band).
    minimum = (values["bucket"].max() - values["bucket"].min()) / 300
    bands = [dict(type="rect", xref="x", yref="paper", x0=start, x1=max(end, start + minimum), y0=0, y1=1,
                  fillcolor="#E74C3C", opacity=0.18, line_width=0, layer="below")
             for start, end in list(zip(intervals["start"], intervals["end"]))[:max_shaded]]
    if bands:
        fig.update_layout(shapes=list(fig.layout.shapes) + bands)
        fig.add_annotation(x=bands[0]["x0"], y=1, xref="x", yref="paper", text=firing_label, showarrow=False,
                           xanchor="left", yanchor="bottom", font=dict(color="#C0392B"))
    return fig


@reused
def budget_bars(frame: pd.DataFrame, x_title: str, labels: dict[str, str], minutes_unit: str = "min") -> go.Figure:
    """Per name, the error budget as a horizontal bar: minutes used, left, and spent beyond it
    (``minutes_unit``: the word after the minutes on hover, in the page's language)."""
    fig = go.Figure()
    used = frame[["downtime_minutes", "budget_minutes"]].min(axis=1)
    parts = {"used": (used, "#E67E22"), "left": (frame["budget_left_minutes"].clip(lower=0), "#27AE60"),
             "over": ((-frame["budget_left_minutes"]).clip(lower=0), "#C0392B")}
    for part, (values, colour) in parts.items():
        fig.add_bar(y=frame["name"], x=values, orientation="h", name=labels[part], marker_color=colour,
                    hovertemplate=f"%{{x:,.1f}} {minutes_unit}<extra>%{{fullData.name}}</extra>")
    fig.update_layout(barmode="stack")
    fig.update_yaxes(autorange="reversed", type="category")
    base_layout(fig, x_title, "")
    fig.update_layout(height=max(220, 30 * len(frame) + 110), hovermode="closest", legend_traceorder="normal")
    return fig


@reused
def waterfall(start_label: str, end_label: str, start: float, end: float, labels: Sequence[str],
              steps: Sequence[float], step_texts: Sequence[str], start_text: str, end_text: str,
              y_title: str) -> go.Figure:
    """A change as a waterfall: the bar of ``start``, a floating bar per step (up green, down red),
    the bar of ``end``; each bar labelled with its text."""
    fig = go.Figure(go.Waterfall(
        x=[start_label, *labels, end_label], y=[start, *steps, end],
        measure=["absolute", *(["relative"] * len(steps)), "total"],
        text=[start_text, *step_texts, end_text], textposition="outside", cliponaxis=False,
        increasing={"marker": {"color": "#2E9E5B"}}, decreasing={"marker": {"color": "#D64545"}},
        totals={"marker": {"color": "#2F6FEB"}}, connector={"line": {"color": "#B0B7C3", "width": 1}},
        hovertemplate="%{x}: %{text}<extra></extra>"))
    levels = [start, end, *np.cumsum([start, *steps])]
    low, high = min(levels), max(levels)
    pad = (high - low) * 0.25 or abs(high) * 0.05 or 1.0
    fig.update_xaxes(type="category", automargin=True)
    base_layout(fig, "", y_title)
    # The bars float: the axis spans the levels they reach, not zero.
    fig.update_yaxes(range=[low - pad, high + pad], rangemode="normal")
    fig.update_layout(showlegend=False, hovermode="closest")
    return fig
