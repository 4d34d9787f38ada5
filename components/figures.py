"""One plotly template ("starboard") and the figure factory every chart goes through.

Charts stay small and drawn in SVG (``go.Scatter``/``go.Bar``, never WebGL): a series
holds at most ``MAX_POINTS`` points, so aggregation happens in SQL, not in the browser.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from dash import dcc

from components.formatting import (
    as_number,
    dimension_text,
    duration_scale,
    format_value,
    format_values,
)

MAX_POINTS = 400  # per series; a chart has at most two series

# The palette mirrors assets/starboard.css (:root variables).
ACCENT = "#2458c6"
ACCENT_LIGHT = "#b9c9ec"
MUTED = "#9aa5b1"  # comparison series, de-emphasised bars
INK = "#1f2933"
INK_MUTED = "#616e7c"
LINE = "#e4e7eb"
GOOD = "#1a7f4b"
BAD = "#c53030"
WARN = "#b7791f"
COLORWAY = (ACCENT, "#168a8a", "#7b4fc9", "#c27c0e", "#52606d", "#b83280")
TONE_COLORS = {"good": GOOD, "bad": BAD, "warn": WARN, "neutral": ACCENT}
FONT = '-apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'

_AXIS = dict(
    automargin=True,
    zeroline=False,
    fixedrange=True,
    ticks="",
    tickfont=dict(color=INK_MUTED, size=11),
    title=dict(text=""),
)

TEMPLATE = go.layout.Template(
    layout=go.Layout(
        font=dict(family=FONT, size=12, color=INK),
        paper_bgcolor="#ffffff",
        plot_bgcolor="#ffffff",
        colorway=list(COLORWAY),
        margin=dict(l=4, r=8, t=8, b=4, pad=2),
        xaxis=dict(_AXIS, showgrid=False, showline=True, linecolor=LINE),
        yaxis=dict(_AXIS, showgrid=True, gridcolor=LINE, gridwidth=1, showline=False, nticks=5),
        hovermode="x unified",
        hoverlabel=dict(
            bgcolor="#ffffff", bordercolor=LINE, font=dict(family=FONT, size=12, color=INK)
        ),
        legend=dict(
            orientation="h",
            x=0,
            xanchor="left",
            y=1.0,
            yanchor="bottom",
            font=dict(size=11, color=INK_MUTED),
            bgcolor="rgba(0,0,0,0)",
        ),
        showlegend=False,
        bargap=0.3,
        dragmode=False,
    ),
    data=dict(
        scatter=[go.Scatter(line=dict(width=2), mode="lines")],
        bar=[go.Bar(marker=dict(line=dict(width=0)))],
    ),
)
pio.templates["starboard"] = TEMPLATE


def tone_color(tone: str) -> str:
    """The hex colour of a tone (good, bad, warn; anything else: the accent)."""
    return TONE_COLORS.get(tone, ACCENT)


def _values(y: Sequence[Any], what: str) -> list[float | None]:
    values = [as_number(v) for v in y]
    _cap(len(values), what)
    return values


def _cap(n: int, what: str) -> None:
    if n > MAX_POINTS:
        raise ValueError(
            f"{what} has {n} points; charts take at most {MAX_POINTS}: "
            "aggregate in SQL (a coarser grain or a top-N)"
        )


def _pair(x: Sequence[Any], y: Sequence[Any], what: str) -> tuple[list[Any], list[float | None]]:
    xs = list(x)
    ys = _values(y, what)
    if len(xs) != len(ys):
        raise ValueError(f"{what}: {len(xs)} x values but {len(ys)} y values")
    return xs, ys


def _nice_step(span: float, target: int = 4) -> float:
    raw = span / target
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _duration_ticks(values: Sequence[float | None], scale: float = 1.0) -> dict[str, Any]:
    """Tick positions on round durations (30 s, 5 min, 1 h …) labelled like the tiles;
    ``scale`` is seconds per unit of the values (60 for a metric in minutes)."""
    known = [v * scale for v in values if v is not None]
    top = max([0.0, *known])
    bottom = min([0.0, *known])
    if top == bottom:
        return {}
    span = top - bottom
    steps = (
        1,
        2,
        5,
        10,
        15,
        30,
        60,
        120,
        300,
        600,
        900,
        1800,
        3600,
        7200,
        4 * 3600,
        6 * 3600,
        12 * 3600,
        86400,
        2 * 86400,
        7 * 86400,
    )
    step = next((s for s in steps if span / s <= 5), _nice_step(span))
    first = math.floor(bottom / step) * step
    ticks = [first + i * step for i in range(int((top - first) / step) + 2)]
    return dict(
        tickvals=[t / scale for t in ticks], ticktext=[format_value(t, "duration") for t in ticks]
    )


def value_axis(fmt: str, values: Sequence[float | None] = ()) -> dict[str, Any]:
    """Axis settings that label values by the metric's format ($, %, durations)."""
    if fmt == "currency":
        return dict(tickprefix="$", tickformat="", exponentformat="B", separatethousands=True)
    if fmt == "percent":
        known = [abs(v) for v in values if v is not None]
        fine = not known or max(known) - min(known) < 0.05 or max(known) < 0.1
        return dict(tickformat=".1~%" if fine else ".0%")
    scale = duration_scale(fmt)
    if scale is not None:
        return _duration_ticks(values, scale)
    return dict(tickformat="", exponentformat="B", separatethousands=True)


def _hover(values: Sequence[float | None], fmt: str) -> list[str]:
    return [format_value(v, fmt) for v in values]


def _figure(**layout: Any) -> go.Figure:
    return go.Figure(layout=dict(template="starboard", **layout))


def _goal_line(fig: go.Figure, goal: float | None, fmt: str) -> None:
    if as_number(goal) is None:
        return
    fig.add_hline(
        y=goal,
        line=dict(color=INK_MUTED, width=1, dash="dot"),
        annotation_text=f"Goal {format_value(goal, fmt)}",
        annotation_position="top left",
        annotation_font=dict(size=11, color=INK_MUTED),
    )


def line_chart(
    x: Sequence[Any],
    y: Sequence[Any],
    *,
    name: str,
    compare: tuple[Sequence[Any], Sequence[Any], str] | None = None,
    goal: float | None = None,
    fmt: str = "number",
) -> go.Figure:
    """A line over time, optionally with a grey comparison series and a dotted goal line.

    ``compare`` is (x, y, label) on the same x axis as the main series (e.g. last year's
    values placed on this year's dates), so the two lines can be read against each other.
    """
    xs, ys = _pair(x, y, name)
    fig = _figure()
    everything = list(ys)
    if compare is not None:
        cx, cy, label = compare
        cxs, cys = _pair(cx, cy, label)
        everything += cys
        fig.add_trace(
            go.Scatter(
                x=cxs,
                y=cys,
                name=label,
                customdata=_hover(cys, fmt),
                line=dict(color=MUTED, width=1.5, dash="dash"),
                hovertemplate=f"{label}: %{{customdata}}<extra></extra>",
            )
        )
        fig.update_layout(showlegend=True, margin=dict(t=24))
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            name=name,
            customdata=_hover(ys, fmt),
            line=dict(color=ACCENT, width=2.25),
            hovertemplate=f"{name}: %{{customdata}}<extra></extra>",
        )
    )
    if goal is not None:
        everything.append(as_number(goal))
    fig.update_yaxes(**value_axis(fmt, everything))
    _goal_line(fig, goal, fmt)
    return fig


def area_chart(
    x: Sequence[Any], y: Sequence[Any], *, name: str, fmt: str = "number", goal: float | None = None
) -> go.Figure:
    """A single series over time, filled to zero: for totals whose size matters."""
    xs, ys = _pair(x, y, name)
    fig = _figure()
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            name=name,
            customdata=_hover(ys, fmt),
            line=dict(color=ACCENT, width=2),
            fill="tozeroy",
            fillcolor="rgba(36, 88, 198, 0.12)",
            hovertemplate=f"{name}: %{{customdata}}<extra></extra>",
        )
    )
    fig.update_yaxes(**value_axis(fmt, [*ys, as_number(goal)]), rangemode="tozero")
    _goal_line(fig, goal, fmt)
    return fig


LONG_LABEL = 10  # category labels longer than this: horizontal bars


def bar_chart(
    categories: Sequence[Any],
    values: Sequence[Any],
    *,
    fmt: str = "number",
    highlight: str | Sequence[str] | None = None,
    horizontal: bool | None = None,
    name: str = "",
) -> go.Figure:
    """Bars by category, labelled with their values; ``highlight`` stands out, the rest
    are muted. Horizontal by default when a label is long (first category on top)."""
    labels = [dimension_text(c) for c in categories]  # a NULL category: "(none)"
    vals = _values(values, name or "bar chart")
    if len(labels) != len(vals):
        raise ValueError(f"bar chart: {len(labels)} categories but {len(vals)} values")
    if horizontal is None:
        horizontal = any(len(label) > LONG_LABEL for label in labels)
    wanted = {highlight} if isinstance(highlight, str) else set(highlight or ())
    colors = [ACCENT if not wanted or label in wanted else ACCENT_LIGHT for label in labels]
    text = format_values(vals, fmt)  # one number of decimals (and unit) for every bar
    bar = go.Bar(
        x=vals if horizontal else labels,
        y=labels if horizontal else vals,
        orientation="h" if horizontal else "v",
        marker=dict(color=colors),
        name=name,
        text=text,
        textposition="outside",
        cliponaxis=False,
        customdata=text,
        textfont=dict(size=11, color=INK_MUTED),
        hovertemplate=("%{y}" if horizontal else "%{x}") + ": %{customdata}<extra></extra>",
    )
    fig = _figure(hovermode="closest")
    fig.add_trace(bar)
    value_settings = value_axis(fmt, vals)
    known = [v for v in vals if v is not None]
    if known and min(known) >= 0 and max(known) > 0:
        value_settings["range"] = [0, max(known) * 1.15]  # room for the outside labels
    if horizontal:
        fig.update_xaxes(showgrid=True, gridcolor=LINE, showline=False, nticks=5, **value_settings)
        fig.update_yaxes(
            showgrid=False,
            showline=True,
            linecolor=LINE,
            type="category",
            autorange="reversed",
            nticks=0,
        )  # every category labelled
    else:
        fig.update_xaxes(type="category", nticks=0)
        fig.update_yaxes(**value_settings)
    return fig


def sparkline(
    values: Sequence[Any],
    *,
    tone: str = "neutral",
    labels: Sequence[str] | None = None,
    fmt: str = "number",
) -> go.Figure:
    """A tiny line for a BAN tile: no axes, no grid, the last point marked in ``tone``."""
    ys = _values(values, "sparkline")
    xs: list[Any] = list(labels) if labels is not None else list(range(len(ys)))
    if len(xs) != len(ys):
        raise ValueError(f"sparkline: {len(xs)} labels but {len(ys)} values")
    color = tone_color(tone)
    fig = _figure(
        margin=dict(l=2, r=4, t=3, b=3, pad=0),
        hovermode=False,
        xaxis=dict(visible=False, type="category"),
        yaxis=dict(visible=False),
    )
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines",
            line=dict(color=color, width=1.75),
            hoverinfo="skip",
            connectgaps=False,
        )
    )
    last = next((i for i in range(len(ys) - 1, -1, -1) if ys[i] is not None), None)
    if last is not None:
        fig.add_trace(
            go.Scatter(
                x=[xs[last]],
                y=[ys[last]],
                mode="markers",
                marker=dict(color=color, size=5),
                hoverinfo="skip",
            )
        )
    return fig


GRAPH_CONFIG = {"displayModeBar": False, "responsive": True}
STATIC_CONFIG = {"displayModeBar": False, "responsive": True, "staticPlot": True}


def graph(
    figure: go.Figure,
    *,
    id_: str | dict[str, str] | None = None,
    height: int | str = 260,
    static: bool = False,
    class_name: str = "sb-graph",
) -> dcc.Graph:
    """A ``dcc.Graph`` without the mode bar that fills its container's width."""
    kwargs: dict[str, Any] = {} if id_ is None else {"id": id_}
    return dcc.Graph(
        figure=figure,
        config=STATIC_CONFIG if static else GRAPH_CONFIG,
        style={"height": f"{height}px" if isinstance(height, int) else height},
        className=class_name,
        **kwargs,
    )
