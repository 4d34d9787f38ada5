"""The pipeline's DAG: sources → transforms → outputs in layers by dependency, coloured by
each task's status in the last run. A plotly drawing for wide screens, a list by layer for
phones (the stylesheet shows one or the other)."""

from __future__ import annotations

import graphlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import plotly.graph_objects as go
from dash import html

from components.figures import BAD, FONT, GOOD, INK, INK_MUTED, LINE, MUTED, WARN, graph

STATUSES = ("ok", "failed", "skipped", "not run")
STATUS_COLOURS = {"ok": GOOD, "failed": BAD, "skipped": WARN, "not run": MUTED}
STATUS_BADGES = {"ok": "ok", "failed": "fail", "skipped": "warn", "not run": "muted"}
ROW_HEIGHT = 62  # px per node of the fullest layer
MIN_HEIGHT = 220


@dataclass(frozen=True)
class Node:
    """One task of the DAG as drawn."""

    name: str
    kind: str  # source | transform
    inputs: tuple[str, ...]
    layer: int
    row: float  # position within its layer, top to bottom
    output: bool  # published (kept in the warehouse)
    status: str  # ok | failed | skipped | not run
    detail: str = ""  # rows, seconds, or why it failed


def task_status(status: str | None) -> str:
    """A task record's status as the DAG colours it (``pending`` counts as not run)."""
    return status if status in ("ok", "failed", "skipped") else "not run"


def layers(
    tasks: Mapping[str, Sequence[str]], sources: Collection[str] | None = None
) -> dict[str, int]:
    """Each task's layer: one more than its deepest input; 0 for what reads nothing. With
    ``sources``, only sources are in layer 0 (a transform reading nothing, such as a
    generated calendar, starts at 1), so the drawing reads sources → transforms."""
    layer: dict[str, int] = {}
    for name in graphlib.TopologicalSorter(tasks).static_order():
        deepest = 1 + max((layer[i] for i in tasks.get(name, ())), default=-1)
        layer[name] = deepest if sources is None or name in sources else max(deepest, 1)
    return layer


def _rows(tasks: Mapping[str, Sequence[str]], layer: Mapping[str, int]) -> dict[str, float]:
    """Rows within each layer: a sweep forward (by the mean row of a task's inputs) and one
    back (sources by the mean row of what reads them), so edges cross less."""
    depth = max(layer.values(), default=0)
    by_layer: dict[int, list[str]] = {d: [] for d in range(depth + 1)}
    for name in sorted(layer):
        by_layer[layer[name]].append(name)
    row: dict[str, float] = {}
    readers: dict[str, list[str]] = {}
    for name, inputs in tasks.items():
        for i in inputs:
            readers.setdefault(i, []).append(name)

    def place(names: list[str], key: Mapping[str, float]) -> None:
        names.sort(key=lambda n: (key.get(n, 0.0), n))
        offset = (len(names) - 1) / 2
        for i, n in enumerate(names):
            row[n] = i - offset

    place(by_layer[0], {})
    for d in range(1, depth + 1):
        place(
            by_layer[d],
            {n: sum(row[i] for i in tasks[n]) / len(tasks[n]) for n in by_layer[d] if tasks[n]},
        )
    for d in range(depth - 1, -1, -1):
        place(
            by_layer[d],
            {
                n: sum(row[r] for r in readers[n]) / len(readers[n])
                for n in by_layer[d]
                if readers.get(n)
            },
        )
    return row


def dag_nodes(
    tasks: Mapping[str, Sequence[str]],
    kinds: Mapping[str, str],
    outputs: Sequence[str],
    statuses: Mapping[str, str],
    details: Mapping[str, str] | None = None,
) -> list[Node]:
    """Every task placed in its layer and row, in layer order."""
    layer = layers(tasks, [n for n in tasks if kinds.get(n) == "source"])
    row = _rows(tasks, layer)
    published = set(outputs)
    details = details or {}
    nodes = [
        Node(
            name,
            kinds.get(name, "transform"),
            tuple(tasks.get(name, ())),
            layer[name],
            row[name],
            name in published,
            task_status(statuses.get(name)),
            details.get(name, ""),
        )
        for name in layer
    ]
    return sorted(nodes, key=lambda n: (n.layer, n.row))


def layer_title(layer: int, nodes: Sequence[Node]) -> str:
    here = [n for n in nodes if n.layer == layer]
    if here and all(n.kind == "source" for n in here):
        return "Sources"
    return f"Transforms {layer}" if layer > 1 or any(n.layer > 1 for n in nodes) else "Transforms"


def dag_figure(nodes: Sequence[Node]) -> go.Figure:
    """Nodes (circles: sources; squares: transforms; a dark ring: an output) and the edges
    from each input to its reader, left to right by layer."""
    where = {n.name: (n.layer, -n.row) for n in nodes}
    xs: list[float | None] = []
    ys: list[float | None] = []
    for n in nodes:
        for i in n.inputs:
            if i in where:
                x0, y0 = where[i]
                x1, y1 = where[n.name]
                xs += [x0, (x0 + x1) / 2, x1, None]
                ys += [y0, (y0 + y1) / 2 if x1 - x0 > 1 else y1, y1, None]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines",
            line=dict(color="#c3cad3", width=1.4, shape="spline"),
            hoverinfo="skip",
            showlegend=False,
        )
    )
    for status in STATUSES:
        group = [n for n in nodes if n.status == status]
        if not group:
            continue
        fig.add_trace(
            go.Scatter(
                x=[n.layer for n in group],
                y=[-n.row for n in group],
                mode="markers+text",
                name=status,
                text=[f"<b>{n.name}</b>" if n.output else n.name for n in group],
                textposition="bottom center",
                textfont=dict(size=11, color=INK),
                marker=dict(
                    size=[18 if n.output else 14 for n in group],
                    color=STATUS_COLOURS[status],
                    symbol=["circle" if n.kind == "source" else "square" for n in group],
                    line=dict(
                        color=[INK if n.output else "#ffffff" for n in group],
                        width=[2.5 if n.output else 1 for n in group],
                    ),
                ),
                customdata=[
                    [
                        n.kind + (", output" if n.output else ""),
                        ", ".join(n.inputs) or "—",
                        n.detail or status,
                    ]
                    for n in group
                ],
                hovertemplate="<b>%{text}</b><br>%{customdata[0]}<br>reads: %{customdata[1]}"
                "<br>%{customdata[2]}<extra></extra>",
                cliponaxis=False,
            )
        )
    depth = max((n.layer for n in nodes), default=0)
    fullest = max((sum(1 for n in nodes if n.layer == d) for d in range(depth + 1)), default=1)
    span = max(fullest - 1, 1) / 2
    fig.update_layout(
        template="starboard",
        font=dict(family=FONT, size=12, color=INK),
        margin=dict(l=10, r=10, t=30, b=34),
        hovermode="closest",
        showlegend=True,
        legend=dict(orientation="h", x=0, y=0, yanchor="top", font=dict(size=12)),
        xaxis=dict(
            range=[-0.5, depth + 0.5],
            tickvals=list(range(depth + 1)),
            ticktext=[layer_title(d, nodes) for d in range(depth + 1)],
            side="top",
            showgrid=False,
            showline=False,
            zeroline=False,
            fixedrange=True,
            tickfont=dict(color=INK_MUTED, size=11),
        ),
        yaxis=dict(
            range=[-span - 0.8, span + 0.6],
            visible=False,
            showgrid=False,
            zeroline=False,
            fixedrange=True,
        ),
        plot_bgcolor="#ffffff",
        shapes=[
            dict(
                type="line",
                x0=d + 0.5,
                x1=d + 0.5,
                y0=0,
                y1=1,
                yref="paper",
                line=dict(color=LINE, width=1, dash="dot"),
            )
            for d in range(depth)
        ],
    )
    return fig


def dag_height(nodes: Sequence[Node]) -> int:
    depth = max((n.layer for n in nodes), default=0)
    fullest = max((sum(1 for n in nodes if n.layer == d) for d in range(depth + 1)), default=1)
    return max(MIN_HEIGHT, fullest * ROW_HEIGHT + 70)


def status_badge(status: str) -> html.Span:
    return html.Span(status, className=f"sb-badge sb-badge-{STATUS_BADGES.get(status, 'muted')}")


def dag_list(nodes: Sequence[Node], list_id: str | None = None) -> html.Div:
    """The DAG as a list by layer: each task with its status, what it reads, and whether it
    is published."""
    depth = max((n.layer for n in nodes), default=0)
    blocks = []
    for d in range(depth + 1):
        items = [
            html.Li(
                [
                    status_badge(n.status),
                    " ",
                    html.B(n.name) if n.output else html.Span(n.name),
                    html.Span(" output", className="sb-pipe-output-tag") if n.output else None,
                    html.Div(
                        f"reads {', '.join(n.inputs)}" if n.inputs else n.kind,
                        className="sb-pipe-reads",
                    ),
                ],
                className="sb-pipe-item",
                **{"data-task": n.name, "data-status": n.status},
            )
            for n in nodes
            if n.layer == d
        ]
        blocks.append(
            html.Div(
                [html.H3(layer_title(d, nodes), className="sb-pipe-layer"), html.Ul(items)],
                className="sb-pipe-layer-block",
            )
        )
    ids = {"id": list_id} if list_id else {}
    return html.Div(blocks, className="sb-pipe-list", **ids)


def dag(nodes: Sequence[Node], prefix: str) -> html.Div:
    """The drawing (wide screens) and the list (phones); the stylesheet picks one."""
    return html.Div(
        [
            html.Div(
                graph(dag_figure(nodes), id_=f"{prefix}-dag", height=dag_height(nodes)),
                className="sb-pipe-drawing",
            ),
            dag_list(nodes, f"{prefix}-dag-list"),
        ],
        className="sb-pipe-dag",
    )
