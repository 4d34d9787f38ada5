"""The explorer's pieces: result charts, the pivot grid, the paged detail grid.

Presentational only: values and DataFrames in, figures and components out. Every chart
point carries ``customdata = [metric, dimension values…]`` so a click can be turned into
the filters of a drill to detail rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash_ag_grid as dag
import pandas as pd
import plotly.graph_objects as go
from dash import html
from dash.development.base_component import Component

from components.figures import COLORWAY, INK_MUTED, value_axis
from components.formatting import (
    NONE_LABEL,
    as_number,
    cut_note,
    dimension_text,
    duration_scale,
)
from components.tier1 import column_pattern, duration_js

MAX_SERIES = 12
SERIES_COLORS = (*COLORWAY, "#3c9d5d", "#d1495b", "#00798c", "#8d6a9f", "#edae49", "#30638e")
MAX_CHART_POINTS = 2000


def cell_text(value: Any) -> Any:
    """A dimension value as the grid and the drill see it (dates as ISO text)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def _formatter(fmt: str, values: Sequence[Any] = ()) -> dict[str, str]:
    """A grid column's valueFormatter: the column's one number of decimals; durations as
    the tiles write them."""
    if duration_scale(fmt) is not None:
        return {"function": duration_js(fmt)}
    pattern = column_pattern(fmt, values)
    return {"function": f"params.value == null ? '—' : d3.format('{pattern}')(params.value)"}


# A NULL dimension value in a grid reads "(none)"; the row keeps its null for the drill.
NONE_FORMATTER = {"function": f"params.value == null ? '{NONE_LABEL}' : params.value"}


def _axis_format(
    fig: go.Figure, fmt: str, axis: str = "y", values: Sequence[float | None] = ()
) -> None:
    """Ticks labelled like the metric's values (``figures.value_axis``: $, %, durations on
    round steps), on the right-hand axis as on the left."""
    settings = value_axis(fmt, list(values))
    if axis == "y2":
        fig.update_layout(yaxis2=settings)
    else:
        getattr(fig, f"update_{axis}axes")(**settings)


def chart(
    kind: str,
    frame: pd.DataFrame,
    dims: Sequence[str],
    metrics: Sequence[str],
    labels: dict[str, str],
    formats: dict[str, str],
    additive: dict[str, bool] | None = None,
) -> tuple[go.Figure, str | None]:
    """A line, bar, stacked-bar or scatter figure of an exploration, and a note when it
    had to leave points out. ``dims`` and ``metrics`` are column names of ``frame``."""
    fig = go.Figure(
        layout=dict(
            template="starboard",
            hovermode="closest",
            showlegend=True,
            margin=dict(l=4, r=8, t=28, b=4),
        )
    )
    note = None
    data = frame
    if len(data) > MAX_CHART_POINTS:
        note = (
            f"The chart shows the first {MAX_CHART_POINTS:,} of {len(data):,} rows "
            f"({len(data) - MAX_CHART_POINTS:,} not drawn); the table has all."
        )
        data = data.head(MAX_CHART_POINTS)
    if kind == "scatter":
        mx, my = metrics[0], metrics[1]
        custom = [[my, *[cell_text(r[d]) for d in dims]] for _, r in data.iterrows()]
        text = [" · ".join(str(cell_text(r[d])) for d in dims) for _, r in data.iterrows()]
        fig.add_trace(
            go.Scatter(
                x=[as_number(v) for v in data[mx]],
                y=[as_number(v) for v in data[my]],
                mode="markers",
                text=text,
                customdata=custom,
                name=labels[my],
                marker=dict(size=9, color=COLORWAY[0], opacity=0.8),
                hovertemplate="%{text}<br>"
                + labels[mx]
                + ": %{x}<br>"
                + labels[my]
                + ": %{y}<extra></extra>",
            )
        )
        fig.update_xaxes(title=dict(text=labels[mx]))
        fig.update_yaxes(title=dict(text=labels[my]))
        _axis_format(fig, formats[mx], "x", [as_number(v) for v in data[mx]])
        _axis_format(fig, formats[my], "y", [as_number(v) for v in data[my]])
        fig.update_layout(showlegend=False)
        return fig, note
    x = dims[0]
    series: list[tuple[str, pd.DataFrame, str]] = []  # (name, rows, metric)
    if len(dims) >= 2:
        split = dims[1]
        totals = data.groupby(split, dropna=False)[metrics[0]].sum(min_count=1)
        ordered = totals.sort_values(ascending=False, na_position="last")
        keep = list(ordered.index[:MAX_SERIES])
        if len(totals) > MAX_SERIES:
            rest = ordered.iloc[MAX_SERIES:]
            size = float(rest.sum()) if (additive or {}).get(metrics[0]) else None
            note = cut_note(
                len(rest),
                labels[split],
                size=size,
                fmt=formats.get(metrics[0], "number") if formats else "number",
                metric_label=labels[metrics[0]],
                where="in the chart (the table has all)",
            )
        for value in keep:
            rows = data[data[split].isna()] if pd.isna(value) else data[data[split] == value]
            series.append((dimension_text(value), rows, metrics[0]))
    else:
        series = [(labels[m], data, m) for m in metrics]
    # Metrics in another unit than the first (a rate beside counts) get the right-hand axis,
    # so neither is read on the other's scale.
    first = formats.get(metrics[0]) if formats else None
    second = [m for m in metrics if formats and formats.get(m) != first] if len(dims) < 2 else []
    left: list[float | None] = []
    right: list[float | None] = []
    stacks: dict[Any, float] = {}
    for i, (name, rows, metric) in enumerate(series):
        xs = [cell_text(v) for v in rows[x]]
        if kind != "line":  # a category axis: a NULL category reads "(none)"
            xs = [NONE_LABEL if v is None else v for v in xs]
        custom = [[metric, *[cell_text(r[d]) for d in dims]] for _, r in rows.iterrows()]
        color = SERIES_COLORS[i % len(SERIES_COLORS)]
        ys = [as_number(v) for v in rows[metric]]
        axis = "y2" if metric in second else "y"
        (right if axis == "y2" else left).extend(ys)
        for xv, yv in zip(xs, ys, strict=True):
            stacks[xv] = stacks.get(xv, 0.0) + (yv or 0.0)
        if kind == "line":
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    name=name,
                    customdata=custom,
                    yaxis=axis,
                    mode="lines+markers",
                    marker=dict(size=5),
                    line=dict(color=color, width=2),
                )
            )
        else:
            fig.add_trace(
                go.Bar(
                    x=xs,
                    y=ys,
                    name=name,
                    customdata=custom,
                    yaxis=axis,
                    marker=dict(color=color),
                    **({"offsetgroup": str(i)} if second else {}),
                )
            )
    fig.update_layout(
        barmode="stack" if kind == "stacked" and not second else "group", showlegend=len(series) > 1
    )
    if kind == "stacked" and not second:
        left = [*left, *stacks.values()]
    if formats:
        _axis_format(fig, formats[metrics[0]], "y", left)
    if second:
        units = {formats[m] for m in second}
        fig.update_layout(
            yaxis2=dict(
                overlaying="y",
                side="right",
                showgrid=False,
                rangemode="tozero",
                title=dict(
                    text=", ".join(labels[m] for m in second), font=dict(size=11, color=INK_MUTED)
                ),
            )
        )
        if len(units) == 1:  # ticks like the metric: "$1.2K", "35%", "2m 30s"
            _axis_format(fig, units.pop(), "y2", right)
    fig.update_xaxes(type="category" if kind != "line" else "-", tickfont=dict(color=INK_MUTED))
    return fig, note


def result_grid(
    frame: pd.DataFrame,
    columns: Sequence[tuple[str, str, str | None]],
    grid_id: str,
    height: int = 420,
) -> Component:
    """The result as a sortable grid; ``columns`` are (field, header, format or None for
    a dimension). A click on a row drills into it."""
    rows = [{f: cell_text(v) for f, v in rec.items()} for rec in frame.to_dict("records")]
    defs = []
    for field, header, fmt in columns:
        col: dict[str, Any] = {
            "field": field,
            "headerName": header,
            "sortable": True,
            "resizable": True,
        }
        if fmt is not None:
            col["type"] = "rightAligned"
            col["valueFormatter"] = _formatter(fmt, [r.get(field) for r in rows])
        else:
            col["valueFormatter"] = NONE_FORMATTER
        defs.append(col)
    return dag.AgGrid(
        id=grid_id,
        rowData=rows,
        columnDefs=defs,
        defaultColDef={"flex": 1, "minWidth": 110},
        className="sb-grid sb-t2-grid",
        dashGridOptions={
            "animateRows": False,
            "rowSelection": {
                "mode": "singleRow",
                "checkboxes": False,
                "enableClickSelection": True,
            },
            "tooltipShowDelay": 300,
        },
        style={"height": f"{height}px", "width": "100%"},
    )


def pivot_grid(
    pivot: pd.DataFrame, row_label: str, fmt: str, grid_id: str, total_label: str = "Total"
) -> Component:
    """Rows × columns of one metric with a Total column and a pinned Total row; sortable.

    Fields are positional (``c0``, ``c1``…) so any value can be a column; each column
    definition keeps the value it stands for (``context``) for drilling.
    """
    body = pivot.drop(index=total_label, errors="ignore")
    formatter = _formatter(fmt, [v for v in pivot.to_numpy().ravel()])
    defs: list[dict[str, Any]] = [
        {
            "field": "row",
            "headerName": row_label,
            "pinned": "left",
            "minWidth": 150,
            "sortable": True,
        }
    ]
    for i, col in enumerate(pivot.columns):
        defs.append(
            {
                "field": f"c{i}",
                "headerName": str(col),
                "sortable": True,
                "type": "rightAligned",
                "valueFormatter": formatter,
                "minWidth": 110,
                "headerTooltip": str(col),
                "context": {"value": str(col)},
                "cellClass": "sb-pivot-total" if col == total_label else None,
            }
        )

    def row_of(label: Any, values: Sequence[Any]) -> dict[str, Any]:
        row: dict[str, Any] = {"row": str(label)}
        row.update({f"c{i}": as_number(v) for i, v in enumerate(values)})
        return row

    rows = [row_of(label, list(values)) for label, values in body.iterrows()]
    pinned = (
        [row_of(total_label, list(pivot.loc[total_label]))] if total_label in pivot.index else []
    )
    height = min(520, 52 + 42 * (len(rows) + len(pinned)))
    return dag.AgGrid(
        id=grid_id,
        rowData=rows,
        columnDefs=defs,
        defaultColDef={"resizable": True, "flex": 1},
        className="sb-grid sb-t2-pivot",
        getRowId="params.data.row",
        dashGridOptions={
            "animateRows": False,
            "pinnedBottomRowData": pinned,
            "suppressCellFocus": False,
        },
        style={"height": f"{height}px", "width": "100%"},
    )


def pivot_columns(pivot: pd.DataFrame) -> list[str]:
    """The values of the pivot's columns, in grid order (``c0``, ``c1``…)."""
    return [str(c) for c in pivot.columns]


def detail_grid(
    columns: Sequence[tuple[str, str, bool, bool]], grid_id: str, page_size: int = 100
) -> Component:
    """A server-side paged grid (AG Grid's infinite row model): only the rows in view are
    requested (``getRowsRequest``) and sent (``getRowsResponse``). ``columns`` are
    (field, header, is numeric, sortable)."""
    defs = [
        {
            "field": key,
            "headerName": label,
            "sortable": sortable,
            "resizable": True,
            "minWidth": 120,
            **({"type": "rightAligned"} if numeric else {}),
            **({} if sortable else {"headerTooltip": "Personal data: masked, not sortable"}),
        }
        for key, label, numeric, sortable in columns
    ]
    return dag.AgGrid(
        id=grid_id,
        columnDefs=defs,
        rowModelType="infinite",
        defaultColDef={"resizable": True},
        className="sb-grid sb-t2-detail",
        dashGridOptions={
            "cacheBlockSize": page_size,
            "maxBlocksInCache": 20,
            "infiniteInitialRowCount": page_size,
            "rowBuffer": 0,
            "animateRows": False,
            "maxConcurrentDatasourceRequests": 1,
        },
        style={"height": "420px", "width": "100%"},
    )


def chips(
    items: Sequence[tuple[str, str]],
    *,
    id_prefix: str,
    joiner: str | None = None,
    title: str = "Remove this filter",
) -> html.Div | None:
    """Removable filter chips: (text, href without that filter); ``joiner`` ("and", "or")
    is written between them when given."""
    from dash import dcc

    if not items:
        return None
    parts: list[Any] = []
    for i, (text, href) in enumerate(items):
        if joiner and i:
            parts.append(html.Span(joiner, className="sb-t2-joiner"))
        parts.append(
            dcc.Link(
                f"{text} ✕", href=href, className="sb-t1-chip", id=f"{id_prefix}-{i}", title=title
            )
        )
    return html.Div(parts, className="sb-t1-chips")


def code_block(text: str, block_id: str) -> html.Pre:
    return html.Pre(html.Code(text), id=block_id, className="sb-t2-code")
