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


def schema_panel(tables: Sequence[Any], *, panel_id: str, pii_hidden: bool = False) -> html.Div:
    """Every table with its columns and types; PII columns carry a badge, and say so when
    they are hidden from the viewer's role (absent from its tables, refused by name).

    ``tables`` are objects with ``name``, ``in_model`` and ``columns`` as
    (column, type, pii) triples (queries.sql.SchemaTable).
    """
    title = (
        "Personal data: hidden from your role (not in * and refused by name)"
        if pii_hidden
        else "Personal data: needs the pii permission"
    )
    items = []
    for table in tables:
        columns = [
            html.Li(
                [
                    html.Code(col),
                    html.Span(kind.lower(), className="sb-sql-type"),
                    html.Span("PII", className="sb-badge sb-badge-fail", title=title)
                    if pii
                    else None,
                ],
                className="sb-sql-col",
            )
            for col, kind, pii in table.columns
        ]
        label = [
            html.Code(table.name),
            html.Span(f"{len(table.columns)} columns", className="sb-sql-type"),
        ]
        if not table.in_model:
            label.append(html.Span("not in model", className="sb-badge sb-badge-muted"))
        items.append(
            html.Details([html.Summary(label), html.Ul(columns)], className="sb-sql-table")
        )
    body: list[Any] = [
        html.Div(items or html.P("The warehouse has no tables.", className="sb-empty"))
    ]
    if pii_hidden and any(pii for table in tables for _c, _k, pii in table.columns):
        body.insert(
            0,
            html.P(
                "Columns marked PII are hidden from your role: your "
                "statements run on the tables without them.",
                className="sb-section-note",
            ),
        )
    return html.Div(body, id=panel_id, className="sb-sql-schema")


def editor(editor_id: str, value: str, table: str = "a_table") -> dcc.Textarea:
    """A monospace statement box (Ctrl+Enter runs it: assets/t2_sql.js); the placeholder
    names ``table``, one of the warehouse's."""
    return dcc.Textarea(
        id=editor_id,
        value=value,
        spellCheck=False,
        placeholder=f"SELECT … FROM {table} LIMIT 100",
        className="sb-sql-editor",
    )


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


def result_grid(grid_id: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Component:
    """The statement's rows in a sortable grid; duplicate column names stay apart."""
    fields = [f"c{i}" for i in range(len(columns))]
    data = [dict(zip(fields, map(_cell, row), strict=True)) for row in rows]
    numeric = {
        f
        for f in fields
        if data
        and all(
            isinstance(r[f], int | float) and not isinstance(r[f], bool) or r[f] is None
            for r in data[:200]
        )
        and any(r[f] is not None for r in data[:200])
    }
    defs = [
        {"field": f, "headerName": name, "type": "rightAligned" if f in numeric else None}
        for f, name in zip(fields, columns, strict=True)
    ]
    return dag.AgGrid(
        id=grid_id,
        rowData=data,
        columnDefs=[{k: v for k, v in d.items() if v is not None} for d in defs],
        defaultColDef={"sortable": True, "resizable": True, "minWidth": 110, "flex": 1},
        columnSize="autoSize" if len(columns) > 6 else "responsiveSizeToFit",
        className="sb-grid",
        dashGridOptions={"animateRows": False, "suppressCellFocus": True},
        style={"height": "420px", "width": "100%"},
    )


def result_note(
    rows: int,
    truncated: bool,
    cap: int,
    ms: float,
    note_id: str,
    *,
    truncated_by: str = "rows",
    byte_cap: str = "",
) -> html.Div:
    """ "12 rows in 35 ms", or "First 10,000 rows shown" when a cap cut the result: the
    row cap, or (``truncated_by="bytes"``) the page's byte cap (``byte_cap``, as text)."""
    if truncated:
        if truncated_by == "bytes":
            limit = f"the page's limit of {byte_cap} of results, STARBOARD_SQL_MAX_BYTES"
            if rows == 0:
                text = (
                    f"No rows shown: the first row alone is larger than {limit}. "
                    "Select fewer or shorter columns, or download CSV."
                )
            else:
                text = (
                    f"First {rows:,} {'row' if rows == 1 else 'rows'} shown ({limit}); "
                    "the statement returned more. Download CSV for up to the export "
                    "limit."
                )
        else:
            text = (
                f"First {cap:,} rows shown (the page's row limit); the statement returned "
                f"more. Download CSV for up to the export limit."
            )
        return html.Div(
            [html.Span(text), html.Span(f" · {ms:,.0f} ms")],
            id=note_id,
            className="sb-sql-note sb-sql-note-warn",
        )
    word = "row" if rows == 1 else "rows"
    return html.Div(f"{rows:,} {word} in {ms:,.0f} ms", id=note_id, className="sb-sql-note")


def refusal(message: str, note_id: str) -> html.Div:
    """Why a statement did not run, in one clear box."""
    return html.Div(
        [
            html.Div("Not run", className="sb-error-title"),
            html.Div(message, className="sb-error-message"),
        ],
        id=note_id,
        className="sb-tile sb-error sb-sql-refusal",
        role="alert",
    )
