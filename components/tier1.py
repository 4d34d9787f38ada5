"""Tier 1 figures and widgets: lines with anomaly markers, clickable and stacked bars,
funnels, cohort heatmaps, breakdown and sortable tables.

Every figure uses the "starboard" template and palette of ``components.figures`` and stays
in SVG with at most ``MAX_POINTS`` points a series. Clickable figures carry the category
in each point's ``customdata`` so a click can become a filter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import dash_ag_grid as dag
import plotly.graph_objects as go
from dash import html
from dash.development.base_component import Component

from components.figures import (
    ACCENT,
    BAD,
    COLORWAY,
    INK_MUTED,
    LINE,
    _cap,
    _figure,
    value_axis,
)
from components.formatting import (
    as_number,
    column_decimals,
    dimension_text,
    duration_scale,
    format_value,
    format_values,
)


@dataclass(frozen=True)
class LineSeries:
    """One line: name, x, y and the days flagged as anomalies (with their expected value)."""

    name: str
    x: Sequence[Any]
    y: Sequence[float | None]
    value: str | None = None  # the dimension value, for click-to-filter
    flagged: Sequence[tuple[date, float, float]] = ()  # (day, value, expected)


def anomaly_lines(series: Sequence[LineSeries], *, fmt: str = "number") -> go.Figure:
    """Lines over time with each anomaly marked by a red ring (hover: value vs expected)."""
    fig = _figure(hovermode="x unified")
    everything: list[float | None] = []
    for i, line in enumerate(series):
        ys = [as_number(v) for v in line.y]
        _cap(len(ys), line.name)
        everything += ys
        color = COLORWAY[i % len(COLORWAY)]
        fig.add_trace(
            go.Scatter(
                x=list(line.x),
                y=ys,
                name=line.name,
                line=dict(color=color, width=2),
                customdata=[[line.value or line.name, format_value(v, fmt)] for v in ys],
                hovertemplate=f"{line.name}: %{{customdata[1]}}<extra></extra>",
            )
        )
    for line in series:
        if not line.flagged:
            continue
        fig.add_trace(
            go.Scatter(
                x=[d for d, _, _ in line.flagged],
                y=[v for _, v, _ in line.flagged],
                mode="markers",
                name=f"{line.name}: stands out",
                showlegend=False,
                marker=dict(size=11, color="rgba(0,0,0,0)", line=dict(color=BAD, width=2.5)),
                customdata=[[line.value or "", format_value(e, fmt)] for _, _, e in line.flagged],
                hovertemplate=f"{line.name} stands out (expected %{{customdata[1]}})"
                "<extra></extra>",
            )
        )
    fig.update_yaxes(**value_axis(fmt, everything), rangemode="tozero")
    if len(series) > 1:
        fig.update_layout(showlegend=True, margin=dict(t=28))
    return fig


def click_bars(
    categories: Sequence[Any],
    values: Sequence[Any],
    *,
    fmt: str = "number",
    selected: Sequence[str] = (),
    name: str = "",
) -> go.Figure:
    """Horizontal bars, first category on top, each clickable (customdata = category; a
    NULL category is labelled "(none)")."""
    labels = [dimension_text(c) for c in categories]
    vals = [as_number(v) for v in values]
    _cap(len(vals), name or "bar chart")
    wanted = set(selected)
    colors = [ACCENT if not wanted or label in wanted else "#b9c9ec" for label in labels]
    text = format_values(vals, fmt)  # one number of decimals (and unit) for every bar
    fig = _figure(hovermode="closest")
    fig.add_trace(
        go.Bar(
            x=vals,
            y=labels,
            orientation="h",
            marker=dict(color=colors),
            name=name,
            text=text,
            textposition="outside",
            cliponaxis=False,
            textfont=dict(size=11, color=INK_MUTED),
            customdata=[[label, t] for label, t in zip(labels, text, strict=True)],
            hovertemplate="%{y}: %{customdata[1]} · click to filter<extra></extra>",
        )
    )
    settings = value_axis(fmt, vals)
    known = [v for v in vals if v is not None]
    if known and min(known) >= 0 and max(known) > 0:
        settings["range"] = [0, max(known) * 1.2]
    fig.update_xaxes(showgrid=True, gridcolor=LINE, showline=False, nticks=5, **settings)
    fig.update_yaxes(
        showgrid=False,
        showline=True,
        linecolor=LINE,
        type="category",
        autorange="reversed",
        nticks=0,
    )
    return fig


def stacked_bars(series: Sequence[LineSeries], *, fmt: str = "number") -> go.Figure:
    """Bars over time stacked by a dimension's values (each stack clickable)."""
    fig = _figure(barmode="stack", hovermode="x unified", showlegend=True, margin=dict(t=28))
    total: dict[Any, float] = {}
    for i, part in enumerate(series):
        ys = [as_number(v) for v in part.y]
        _cap(len(ys), part.name)
        for x, y in zip(part.x, ys, strict=True):
            total[x] = total.get(x, 0.0) + (y or 0.0)
        fig.add_trace(
            go.Bar(
                x=list(part.x),
                y=ys,
                name=part.name,
                marker=dict(color=COLORWAY[i % len(COLORWAY)]),
                customdata=[[part.value or part.name, format_value(v, fmt)] for v in ys],
                hovertemplate=f"{part.name}: %{{customdata[1]}}<extra></extra>",
            )
        )
    fig.update_yaxes(**value_axis(fmt, list(total.values())))
    return fig


def funnel(
    steps: Sequence[str],
    values: Sequence[float | None],
    from_previous: Sequence[float | None],
    from_first: Sequence[float | None],
    *,
    fmt: str = "number",
) -> go.Figure:
    """A funnel: each step's value, its conversion from the step before and from the top."""
    vals = [as_number(v) for v in values]
    _cap(len(vals), "funnel")
    text, hover = [], []
    for i, v in enumerate(vals):
        value = format_value(v, fmt)
        step = f"{format_value(from_previous[i], 'percent')} of previous" if i else ""
        text.append(f"{value} · {step}" if i else value)
        hover.append(
            f"{value} · {step} · {format_value(from_first[i], 'percent')} of first" if i else value
        )
    fig = _figure(hovermode="closest", margin=dict(l=4, r=24, t=4, b=4))
    fig.add_trace(
        go.Funnel(
            y=list(steps),
            x=vals,
            text=text,
            textinfo="text",
            textposition="auto",
            outsidetextfont=dict(color=INK_MUTED, size=12),
            marker=dict(color=[COLORWAY[0]] * len(vals)),
            connector=dict(line=dict(color=LINE)),
            insidetextfont=dict(color="#ffffff", size=12),
            customdata=hover,
            hovertemplate="%{y}: %{customdata}<extra></extra>",
        )
    )
    fig.update_yaxes(showline=False)
    fig.update_xaxes(showline=False, showgrid=False)
    return fig


def cohort_heatmap(
    cohorts: Sequence[str],
    ages: Sequence[int],
    shares: Sequence[Sequence[float | None]],
    sizes: Sequence[float | None],
    *,
    cohort_label: str = "the cohort's start",
) -> go.Figure:
    """Cohorts (rows) × months since the cohort's start (columns, named after the cohort
    dimension's ``cohort_label``), coloured by share active."""
    _cap(len(cohorts) * max(1, len(ages)), "cohort heatmap")
    labels = [f"{c} ({format_value(s, 'number')})" for c, s in zip(cohorts, sizes, strict=True)]
    text = [[format_value(v, "percent") if v is not None else "" for v in row] for row in shares]
    fig = _figure(hovermode="closest", margin=dict(l=4, r=8, t=4, b=28))
    fig.add_trace(
        go.Heatmap(
            z=[[as_number(v) for v in row] for row in shares],
            x=[str(a) for a in ages],
            y=labels,
            text=text,
            texttemplate="%{text}",
            textfont=dict(size=10),
            colorscale=[[0, "#f4f7fc"], [0.25, "#b9c9ec"], [1, ACCENT]],
            zmin=0,
            showscale=False,
            xgap=1,
            ygap=1,
            hovertemplate="%{y}, month %{x}: %{text} active<extra></extra>",
        )
    )
    since = f"Months since {cohort_label[:1].lower()}{cohort_label[1:]}"
    fig.update_xaxes(type="category", title=dict(text=since), showline=False, side="bottom")
    fig.update_yaxes(type="category", autorange="reversed", showgrid=False, nticks=0)
    return fig


D3_FORMATS = {
    "number": ",.2~f",
    "currency": "$,.2f",
    "percent": ".1%",
    "duration": ",.0f",
    "change": "+.1%",
    "ratio": ",.2f",
}


def column_pattern(fmt: str, values: Sequence[Any] = ()) -> str:
    """The d3 format of a grid column: numbers and currency with the one number of
    decimals the column's values need (``column_decimals``), so every row reads alike."""
    if fmt in ("number", "currency"):
        decimals = column_decimals(values, fmt)
        return f"{'$' if fmt == 'currency' else ''},.{decimals}f"
    return D3_FORMATS.get(fmt, D3_FORMATS["number"])


def duration_js(fmt: str) -> str:
    """A grid valueFormatter for a duration column (assets/starboard.js ``sbDuration``:
    seconds as "2m 05s"); a metric in minutes or hours is scaled to seconds first."""
    return f"sbDuration(params.value, {duration_scale(fmt) or 1:g})"


def _col(field: str, header: str, fmt: str | None, values: Sequence[Any] = ()) -> dict[str, Any]:
    col: dict[str, Any] = {
        "field": field,
        "headerName": header,
        "sortable": True,
        "resizable": True,
    }
    if fmt is not None:
        col["type"] = "rightAligned"
        if duration_scale(fmt) is not None:
            col["valueFormatter"] = {"function": duration_js(fmt)}
        else:
            pattern = column_pattern(fmt, values)
            col["valueFormatter"] = {
                "function": f"params.value == null ? '—' : d3.format('{pattern}')(params.value)"
            }
    else:
        col["pinned"] = "left"
        col["minWidth"] = 140
    return col


def grid(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str, str | None]],
    *,
    id_: str | dict[str, Any] | None = None,
    height: int = 320,
) -> Component:
    """A sortable dash-ag-grid table; ``columns`` are (field, header, format or None)."""
    kwargs: dict[str, Any] = {} if id_ is None else {"id": id_}
    return dag.AgGrid(
        rowData=list(rows),
        columnDefs=[_col(f, h, fmt, [r.get(f) for r in rows]) for f, h, fmt in columns],
        defaultColDef={"flex": 1, "minWidth": 90, "sortable": True},
        columnSize="responsiveSizeToFit",
        className="sb-grid",
        dashGridOptions={"animateRows": False, "suppressCellFocus": True, "domLayout": "normal"},
        style={"height": f"{height}px", "width": "100%"},
        **kwargs,
    )


def stand_out_list(items: Sequence[tuple[str, str, date, str, str, str]]) -> Component:
    """The "what stands out" panel: (chart, series, day, value, expected, change) lines."""
    if not items:
        return html.P(
            "Nothing stands out in this range.", className="sb-empty", id="t1-standout-empty"
        )
    return html.Ul(
        [
            html.Li(
                [
                    html.Span(f"{day:%a %d %b %Y}", className="sb-t1-so-day"),
                    html.Span(f"{series} · {chart}", className="sb-t1-so-what"),
                    html.Span(
                        f"{value} vs {expected} expected ({change})", className="sb-t1-so-value"
                    ),
                ],
                className="sb-t1-so-item",
            )
            for chart, series, day, value, expected, change in items
        ],
        className="sb-t1-so",
    )
