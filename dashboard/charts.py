"""DataFrame → plotly Figure. Pure: no Streamlit, no database; titles come in translated."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

# One colour per platform, stable across charts and pages.
PLATFORM_COLORS = {"telegram": "#2AABEE", "whatsapp": "#25D366", "web": "#6C5CE7"}
FALLBACK_COLORS = ["#F39C12", "#E74C3C", "#16A085", "#8E44AD", "#7F8C8D"]


def color_for(name: str, index: int) -> str:
    return PLATFORM_COLORS.get(name, FALLBACK_COLORS[index % len(FALLBACK_COLORS)])


def base_layout(fig: go.Figure, x_title: str, y_title: str, legend_title: str | None = None) -> go.Figure:
    fig.update_layout(
        margin=dict(l=8, r=8, t=36, b=8),
        height=360,
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0, title=legend_title),
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
