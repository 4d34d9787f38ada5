"""Plain, server-rendered HTML tables: fast to draw, readable, printable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dash import html
from dash.development.base_component import Component


@dataclass(frozen=True)
class Column:
    label: str
    align: str = "left"  # numbers right-aligned


def table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[object]],
    *,
    table_id: str | None = None,
    row_classes: Sequence[str] | None = None,
    empty: str = "Nothing to show.",
) -> Component:
    """A table with a header row; cells may be strings or components."""
    if not rows:
        return html.P(empty, className="sb-empty")
    head = html.Thead(html.Tr([html.Th(c.label, className=f"sb-{c.align}") for c in columns]))
    body = html.Tbody(
        [
            html.Tr(
                [
                    html.Td(cell, className=f"sb-{col.align}")
                    for col, cell in zip(columns, row, strict=True)
                ],
                className=row_classes[i] if row_classes else None,
            )
            for i, row in enumerate(rows)
        ]
    )
    ids = {"id": table_id} if table_id else {}  # Dash 4 refuses id=None
    return html.Div(
        html.Table([head, body], className="sb-table", **ids), className="sb-table-wrap"
    )
