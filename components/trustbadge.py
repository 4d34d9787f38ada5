"""The data quality badge a tile or chart shows when a check on its data fails.

Values in (a status and one line per failing check), a small coloured badge out: amber
when a Risk 2 check fails, red for Risk 1, nothing when all pass. The failing checks are
the badge's tooltip (``title``).
"""

from __future__ import annotations

from collections.abc import Sequence

from dash import html

TEXT = {"warn": "Check warns", "fail": "Check failed"}
SHORT = "DQ"  # on BAN tiles, where the label needs the room
COLOUR = {"warn": "amber", "fail": "red"}
MAX_LINES = 6


def tooltip(status: str, lines: Sequence[str]) -> str:
    """The badge's hover text: what it means, then the failing checks."""
    head = (
        "A blocking (Risk 1) quality check fails on this data:"
        if status == "fail"
        else "A quality check warns on this data:"
    )
    shown = list(lines[:MAX_LINES])
    if len(lines) > MAX_LINES:
        shown.append(f"… and {len(lines) - MAX_LINES} more (see /quality)")
    return "\n".join([head, *shown])


def badge(status: str, lines: Sequence[str], *, compact: bool = False) -> html.Span | None:
    """An amber or red badge, or None when nothing fails (a span: tiles are links);
    ``compact`` shows "● DQ" instead of the words."""
    if status not in TEXT:
        return None
    colour = COLOUR[status]
    return html.Span(
        ["● ", SHORT if compact else TEXT[status]],
        title=tooltip(status, lines),
        className=f"sb-trust-badge sb-trust-{colour}",
        role="img",
        **{"aria-label": f"{TEXT[status]}: " + "; ".join(lines[:3]), "data-status": colour},
    )
