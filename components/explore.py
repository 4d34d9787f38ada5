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

from components.figures import COLORWAY, INK_MUTED
from components.formatting import as_number
from components.tier1 import D3_FORMATS

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


def _d3(fmt: str) -> str:
    return D3_FORMATS.get(fmt, D3_FORMATS["number"])


def _axis_format(fig: go.Figure, fmt: str, axis: str = "y") -> None:
    tick = {"currency": "$~s", "percent": ".0%"}.get(fmt, "~s")
    if axis == "y2":
        fig.update_layout(yaxis2=dict(tickformat=tick))
    else:
        getattr(fig, f"update_{axis}axes")(tickformat=tick)


def chart(
    kind: str,
    frame: pd.DataFrame,
    dims: Sequence[str],
    metrics: Sequence[str],
    labels: dict[str, str],
    formats: dict[str, str],
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
        data = data.head(MAX_CHART_POINTS)
        note = f"The chart shows the first {MAX_CHART_POINTS:,} rows; the table has all."
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
        _axis_format(fig, formats[mx], "x")
        _axis_format(fig, formats[my], "y")
        fig.update_layout(showlegend=False)
        return fig, note
    x = dims[0]
    series: list[tuple[str, pd.DataFrame, str]] = []  # (name, rows, metric)
    if len(dims) >= 2:
        split = dims[1]
        totals = data.groupby(split, dropna=False)[metrics[0]].sum(min_count=1)
        keep = list(totals.sort_values(ascending=False).index[:MAX_SERIES])
        if len(totals) > MAX_SERIES:
            note = (
                f"The chart shows the {MAX_SERIES} largest {labels[split]} values; "
                "the table has all."
            )
        for value in keep:
            rows = data[data[split].isna()] if pd.isna(value) else data[data[split] == value]
            series.append((str(cell_text(value)), rows, metrics[0]))
    else:
        series = [(labels[m], data, m) for m in metrics]
    # Metrics in another unit than the first (a rate beside counts) get the right-hand axis,
    # so neither is read on the other's scale.
    first = formats.get(metrics[0]) if formats else None
    second = [m for m in metrics if formats and formats.get(m) != first] if len(dims) < 2 else []
    for i, (name, rows, metric) in enumerate(series):
        xs = [cell_text(v) for v in rows[x]]
        custom = [[metric, *[cell_text(r[d]) for d in dims]] for _, r in rows.iterrows()]
        color = SERIES_COLORS[i % len(SERIES_COLORS)]
        ys = [as_number(v) for v in rows[metric]]
        axis = "y2" if metric in second else "y"
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
    if formats:
        _axis_format(fig, formats[metrics[0]])
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
        if len(units) == 1:
            _axis_format(fig, units.pop(), "y2")
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
            col["valueFormatter"] = {
                "function": f"params.value == null ? '—' : d3.format('{_d3(fmt)}')(params.value)"
            }
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
    pattern = _d3(fmt)
    formatter = {"function": f"params.value == null ? '—' : d3.format('{pattern}')(params.value)"}
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
