"""Pieces of the SQL page: the schema panel, the editor, the result grid and its notes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import dash_ag_grid as dag
from dash import dcc, html
from dash.development.base_component import Component


def schema_panel(tables: Sequence[Any], *, panel_id: str) -> html.Div:
    """Every table with its columns and types; PII columns carry a badge.

    ``tables`` are objects with ``name``, ``in_model`` and ``columns`` as
    (column, type, pii) triples (queries.sql.SchemaTable).
    """
    items = []
    for table in tables:
        columns = [html.Li([html.Code(col), html.Span(kind.lower(), className="sb-sql-type"),
                            html.Span("PII", className="sb-badge sb-badge-fail",
                                      title="Personal data: needs the pii permission")
                            if pii else None], className="sb-sql-col")
                   for col, kind, pii in table.columns]
        label = [html.Code(table.name), html.Span(f"{len(table.columns)} columns",
                                                  className="sb-sql-type")]
        if not table.in_model:
            label.append(html.Span("not in model", className="sb-badge sb-badge-muted"))
        items.append(html.Details([html.Summary(label), html.Ul(columns)],
                                  className="sb-sql-table"))
    return html.Div(items or html.P("The warehouse has no tables.", className="sb-empty"),
                    id=panel_id, className="sb-sql-schema")


def editor(editor_id: str, value: str) -> dcc.Textarea:
    """A monospace statement box (Ctrl+Enter runs it: assets/t2_sql.js)."""
    return dcc.Textarea(id=editor_id, value=value, spellCheck=False,
                        placeholder="SELECT … FROM fct_… LIMIT 100",
                        className="sb-sql-editor")


def _cell(value: Any) -> Any:
    """A value the grid can show as JSON: dates as ISO text, NaN as empty."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def result_grid(grid_id: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
                ) -> Component:
    """The statement's rows in a sortable grid; duplicate column names stay apart."""
    fields = [f"c{i}" for i in range(len(columns))]
    data = [dict(zip(fields, map(_cell, row), strict=True)) for row in rows]
    numeric = {f for f in fields if data and all(
        isinstance(r[f], int | float) and not isinstance(r[f], bool) or r[f] is None
        for r in data[:200]) and any(r[f] is not None for r in data[:200])}
    defs = [{"field": f, "headerName": name, "type": "rightAligned" if f in numeric else None}
            for f, name in zip(fields, columns, strict=True)]
    return dag.AgGrid(
        id=grid_id, rowData=data, columnDefs=[{k: v for k, v in d.items() if v is not None}
                                              for d in defs],
        defaultColDef={"sortable": True, "resizable": True, "minWidth": 110, "flex": 1},
        columnSize="autoSize" if len(columns) > 6 else "responsiveSizeToFit",
        className="sb-grid", dashGridOptions={"animateRows": False, "suppressCellFocus": True},
        style={"height": "420px", "width": "100%"})


def result_note(rows: int, truncated: bool, cap: int, ms: float, note_id: str) -> html.Div:
    """"12 rows in 35 ms", or "First 10,000 rows shown" when the cap cut the result."""
    if truncated:
        text = (f"First {cap:,} rows shown (the page's row limit); the statement returned "
                f"more. Download CSV for up to the export limit.")
        return html.Div([html.Span(text), html.Span(f" · {ms:,.0f} ms")], id=note_id,
                        className="sb-sql-note sb-sql-note-warn")
    word = "row" if rows == 1 else "rows"
    return html.Div(f"{rows:,} {word} in {ms:,.0f} ms", id=note_id, className="sb-sql-note")


def refusal(message: str, note_id: str) -> html.Div:
    """Why a statement did not run, in one clear box."""
    return html.Div([html.Div("Not run", className="sb-error-title"),
                     html.Div(message, className="sb-error-message")],
                    id=note_id, className="sb-tile sb-error sb-sql-refusal", role="alert")
