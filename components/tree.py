"""The metric tree drawn top-down, its top movers table and its narrative: values in,
Dash components out.

Every node is a plain HTML ``<details>`` (expand and collapse work without a callback);
its label links to the tree re-rooted on it. Nothing here queries or decomposes: the
numbers come from ``queries.tree`` through the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from dash import dcc, html

from components.ban import change_chip
from components.figures import graph, sparkline
from components.formatting import (
    DASH,
    MINUS,
    as_number,
    change_tone,
    format_change,
    format_value,
    tone_class,
)

SPARK_HEIGHT = 28
RELATION_TEXT = {
    "sum": "sum of",
    "product": "product of",
    "ratio": "ratio of",
    "influence": "influenced by",
}
RELATION_SIGN = {"sum": "+", "product": "×", "ratio": "÷", "influence": "~"}
DQ_TEXT = {
    "ok": "Quality checks pass",
    "warn": "A quality check warns",
    "fail": "A blocking quality check failed",
    "unknown": "Data quality unknown",
}


@dataclass(frozen=True)
class NodeData:
    """One node as it is drawn (numbers unformatted)."""

    metric: str
    label: str
    fmt: str = "number"
    direction: str = "up"
    description: str = ""
    value: float | None = None
    base: float | None = None
    base_label: str = "the comparison period"  # "February 2026"
    base_short: str = "prev"  # chip label: "prev" or "last year"
    sparkline: tuple[float | None, ...] = ()
    sparkline_labels: tuple[str, ...] = ()
    href: str | None = None  # the tree re-rooted here
    view_href: str | None = None  # its Tier 1/2 view, when one exists
    relation: str | None = None  # how its children make it
    method_note: str = ""  # how its change was split
    parent_label: str = ""
    parent_fmt: str = "number"
    parent_counts: bool = False  # the parent is a count: contributions in whole units
    counts: bool = False  # this metric is a count (its residual in whole units)
    parent_direction: str = "up"
    parent_relation: str | None = None
    contribution: float | None = None  # to the parent's change, parent's unit
    points: float | None = None  # contribution / |parent's base|
    score: float | None = None  # influence score
    rank: int | None = None
    dq: str = "unknown"
    dq_detail: tuple[str, ...] = ()
    residual: float | None = None  # parent change its children leave over (None: ~0)
    residual_points: float | None = None  # the same / |parent's base|
    children: tuple[NodeData, ...] = ()
    open: bool = True
    root: bool = False


@dataclass(frozen=True)
class MoverData:
    """One row of the top movers table."""

    dimension: str
    value: str
    before: float | None
    after: float | None
    change: float | None
    contribution: float
    mix: float | None = None
    rate: float | None = None
    href: str | None = None


def format_delta(value: object, fmt: str, *, whole: bool = False) -> str:
    """A signed difference in a metric's unit: "−$4.2K", "+12", "−0.89 pp" for percents;
    ``whole`` (a count: orders, visitors) rounds to whole units: "+12", never "+12.4"."""
    number = as_number(value)
    if number is None:
        return DASH
    if whole and fmt == "number":
        number = float(Decimal(repr(number)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    sign = "+" if number > 0 else MINUS if number < 0 else ""
    if fmt == "percent":
        text = f"{abs(number) * 100:.2f}"
        return ("" if text == "0.00" else sign) + text + " pp"
    body = format_value(abs(number), fmt)
    return ("" if not any(c in body for c in "123456789") else sign) + body


def format_points(points: object) -> str:
    """Points of the parent's relative change: "−6.0 pts", "+1.8 pts"."""
    number = as_number(points)
    if number is None:
        return DASH
    text = format_change(number).rstrip("%")
    return f"{text} pts"


def _dq_dot(data: NodeData) -> html.Span:
    lines = [DQ_TEXT.get(data.dq, data.dq), *data.dq_detail[:5]]
    return html.Span(
        className=f"sb-dot sb-dot-{data.dq} sb-tree-dq",
        title="\n".join(lines),
        role="img",
        **{"aria-label": lines[0], "data-status": data.dq},
    )


def _contribution(data: NodeData) -> html.Div | None:
    if data.parent_relation is None:
        return None
    if data.parent_relation == "influence":
        if data.rank is None:
            return html.Div(
                "not ranked: too little history",
                className="sb-tree-contrib sb-neutral",
                title="A correlation needs at least 4 periods",
            )
        tone = change_tone(data.score, data.parent_direction)
        return html.Div(
            [
                html.Span(f"#{data.rank}", className="sb-tree-rank"),
                f" weighted change {format_change(data.score)}",
            ],
            className=f"sb-tree-contrib {tone_class(tone)}",
            title="Rank by the child's change × its correlation with "
            f"{data.parent_label.lower()} (a ranking, not an attribution)",
            **{"data-rank": str(data.rank)},
        )
    if data.contribution is None:
        return html.Div("contribution not computable", className="sb-tree-contrib sb-neutral")
    tone = change_tone(data.points, data.parent_direction)
    return html.Div(
        [
            html.Span(format_points(data.points), className="sb-tree-points"),
            html.Span(
                f" ({format_delta(data.contribution, data.parent_fmt, whole=data.parent_counts)})",
                className="sb-tree-abs",
            ),
        ],
        className=f"sb-tree-contrib {tone_class(tone)}",
        title=f"Contribution to {data.parent_label.lower()}'s change",
        **{"data-contribution": repr(data.contribution)},
    )


def _spark(data: NodeData) -> html.Div | None:
    known = [v for v in data.sparkline if as_number(v) is not None]
    if len(known) < 2:
        return None
    tone = change_tone(_rel(data.value, data.base), data.direction)
    labels = data.sparkline_labels if len(data.sparkline_labels) == len(data.sparkline) else None
    fig = sparkline(data.sparkline, tone=tone, labels=labels, fmt=data.fmt)
    span = f"{labels[0]} – {labels[-1]}" if labels else f"Last {len(data.sparkline)} periods"
    return html.Div(
        graph(fig, height=SPARK_HEIGHT, static=True, class_name="sb-spark-graph"),
        className="sb-tree-spark",
        title=f"{span}: low {format_value(min(known), data.fmt)}, "
        f"high {format_value(max(known), data.fmt)}",
    )


def _rel(current: float | None, base: float | None) -> float | None:
    cur, ref = as_number(current), as_number(base)
    if cur is None or ref is None or ref == 0:
        return None
    return (cur - ref) / abs(ref)


def node_card(data: NodeData) -> html.Div:
    """One node: label (a link re-rooting the tree), DQ dot, value, change, contribution,
    sparkline, and a link to its Tier 1/2 view."""
    if data.root or not data.href:
        title: html.Span | dcc.Link = html.Span(
            data.label, className="sb-tree-label", title=data.description or None
        )
    else:
        title = dcc.Link(
            data.label,
            href=data.href,
            className="sb-tree-label sb-tree-reroot",
            title=f"Re-root the tree on {data.label}",
        )
    value = as_number(data.value)
    shown = format_value(value, data.fmt)
    parts = [
        html.Div([title, _dq_dot(data)], className="sb-tree-head"),
        html.Div(
            shown,
            className="sb-tree-value",
            title=format_value(value, data.fmt, compact=False),
            **{"data-raw": repr(value) if value is not None else "", "data-value": shown},
        ),
        html.Div(
            change_chip(
                value,
                data.base,
                against=data.base_label,
                short=data.base_short,
                direction=data.direction,
                fmt=data.fmt,
            ),
            className="sb-tree-chg",
        ),
        _contribution(data),
        _spark(data),
    ]
    if data.view_href:
        parts.append(html.A("Explore →", href=data.view_href, className="sb-tree-view"))
    classes = "sb-tree-card" + (" sb-tree-root" if data.root else "")
    return html.Div(
        [p for p in parts if p is not None],
        className=classes,
        id={"type": "tree-node", "metric": data.metric},
        **{"data-metric": data.metric},
    )


def _relation_line(data: NodeData) -> html.Div:
    sign = f" {RELATION_SIGN.get(data.relation or '', '')} "
    names = sign.join(c.label for c in data.children)
    text = (
        f"{data.label} = {names}"
        if data.relation != "influence"
        else f"{data.label} is influenced by {', '.join(c.label for c in data.children)}"
    )
    note = [data.method_note] if data.method_note else []
    if as_number(data.residual):
        left = format_delta(data.residual, data.fmt, whole=data.counts)
        note.append(f"Not explained by the children: {left}.")
    return html.Div(
        [
            html.Span(RELATION_TEXT.get(data.relation or "", ""), className="sb-tree-rel-badge"),
            html.Span(text, className="sb-tree-rel-text"),
            _unexplained(data),
        ],
        className="sb-tree-rel",
        title=" ".join(note) or None,
        **{"data-relation": data.relation or ""},
    )


def _unexplained(data: NodeData) -> html.Span | None:
    """ "not explained +$1.2K (+3.0 pts)": the part of the change the children's identity
    does not give (shown for sum, product and ratio alike; absent when it is ~0)."""
    residual = as_number(data.residual)
    if residual is None:
        return None
    points = as_number(data.residual_points)
    text = f"not explained {format_delta(residual, data.fmt)}"
    if points is not None:
        text += f" ({format_points(points)})"
    return html.Span(
        text,
        className="sb-tree-unexplained",
        title="The metric's change minus what its children account for: the children "
        "overlap or miss a part, or the tree's identity does not hold on this data",
        **{"data-residual": repr(residual)},
    )


def _branch(data: NodeData) -> html.Li:
    card = node_card(data)
    if not data.children:
        return html.Li(html.Div(card, className="sb-tree-leaf"), className="sb-tree-item")
    kids = html.Ul([_branch(c) for c in data.children], className="sb-tree-level")
    summary = html.Summary(card, className="sb-tree-summary", title="Show or hide what makes it")
    return html.Li(
        html.Details(
            [summary, _relation_line(data), kids],
            open=data.open,
            className="sb-tree-node",
            id={"type": "tree-details", "metric": data.metric},
        ),
        className="sb-tree-item",
    )


def tree_diagram(root: NodeData) -> html.Div:
    """The whole tree, top-down; each node with children folds open and shut."""
    return html.Div(
        html.Ul(_branch(root), className="sb-tree-level sb-tree-top"),
        className="sb-tree",
        id="tree-diagram",
    )


def movers_table(
    rows: Sequence[MoverData],
    *,
    fmt: str,
    ratio: bool,
    direction: str = "up",
    note: str = "",
    counts: bool = False,
) -> html.Div:
    """The top movers: dimension value, before → after, change, contribution (and for a
    ratio metric its mix and rate parts), each row linking to its filtered view."""
    if not rows:
        return html.P(
            "No dimension value stands out: nothing moved, or nothing could be compared.",
            className="sb-empty",
        )
    head = ["Dimension", "Value", "Before", "After", "Change", "Contribution"]
    if ratio:
        head += ["Mix", "Rate"]
    body = []
    for i, row in enumerate(rows, start=1):
        value: html.A | str = html.A(row.value, href=row.href) if row.href else row.value
        tone = change_tone(
            1.0 if row.contribution > 0 else -1.0 if row.contribution < 0 else 0.0, direction
        )
        cells = [
            html.Td(row.dimension),
            html.Td(value, className="sb-tree-mover-value"),
            html.Td(format_value(row.before, fmt), className="sb-num"),
            html.Td(format_value(row.after, fmt), className="sb-num"),
            html.Td(format_change(row.change), className="sb-num"),
            html.Td(
                format_delta(row.contribution, fmt, whole=counts),
                className=f"sb-num sb-strong {tone_class(tone)}",
                **{"data-contribution": repr(row.contribution)},
            ),
        ]
        if ratio:
            cells += [
                html.Td(format_delta(row.mix, fmt, whole=counts), className="sb-num"),
                html.Td(format_delta(row.rate, fmt, whole=counts), className="sb-num"),
            ]
        body.append(html.Tr(cells, id={"type": "tree-mover", "rank": str(i)}))
    table = html.Table(
        [html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)],
        className="sb-table sb-tree-movers",
    )
    return html.Div(
        [
            html.Div(table, className="sb-table-wrap"),
            html.P(note, className="sb-chart-note") if note else None,
        ]
    )


def narrative_block(sentences: Sequence[str]) -> html.Div | None:
    """The plain-language summary above the tree."""
    if not sentences:
        return None
    return html.Div(
        [html.P(" ".join(sentences), id="tree-narrative")],
        className="sb-tree-narrative",
        role="note",
    )
