"""/tree/<metric>?period=2026-03&compare=previous: the metric's dependency tree with each
child's contribution to its parent's change, the top movers and a narrative.

Rendered whole in the layout (all queries at once through the one door); nodes fold open
and shut as plain ``<details>``, so the page needs no callback.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import dash
from dash import callback, html

from app.core import web
from app.core.errors import StarboardError, WarehouseUnavailable
from app.core.stores import problems
from components import shell
from components import tree as tree_c
from components.formatting import NONE_LABEL
from queries import tree as tree_q
from queries.quality import trust as trust_q
from queries.semantic.run import current_model

dash.register_page(
    __name__,
    path_template="/tree/<metric>",
    name="Metric tree",
    title="Metric tree · Starboard",
    access="tier0",
    needs="tree",  # the model's `tree:` section (queries/features.py)
    order=15,
)

P = "tree"
READY = f"{P}-ready"
OPEN_DEPTH = 2  # nodes deeper than this start folded
COMPARE_LABELS = {"previous": "vs previous period", "last_year": "vs last year"}


def _templates() -> set[str]:
    return {p.get("path_template") or p["path"] for p in dash.page_registry.values()}


def _query(period: str, compare: str, grain: str) -> str:
    params = {"period": period, "compare": compare}
    if grain != tree_q.DEFAULT_GRAIN:
        params["grain"] = grain
    return urlencode(params)


def _tree_href(
    metric: str, view: tree_q.TreeView, *, period: str | None = None, compare: str | None = None
) -> str:
    return f"/tree/{metric}?" + _query(
        period or view.window.key, compare or view.compare, view.grain
    )


def _tier1_board(dimension: str | None, metric: str | None = None) -> str | None:
    """A Tier 1 board that filters by ``dimension`` (or shows ``metric``), when Tier 1
    pages exist."""
    if "/t1/<board>" not in _templates():
        return None
    for board in current_model().boards.values():
        if board.tier != 1:
            continue
        if dimension is not None and dimension in board.filters:
            return board.name
        charts = [c for s in board.sections for c in s.charts]
        if metric is not None and any(metric in (c.metric, *c.metrics) for c in charts):
            return board.name
    return None


def _time_name() -> str:
    return current_model().time_name("a metric tree")


def _last_day(view: tree_q.TreeView) -> str:
    return (view.window.end - timedelta(days=1)).isoformat()


def _view_href(metric: str, view: tree_q.TreeView) -> str | None:
    """The metric's Tier 1 board or Tier 2 explorer for the period, when those pages exist."""
    first, last = view.window.start.isoformat(), _last_day(view)
    board = _tier1_board(None, metric)
    if board:
        return f"/t1/{board}?" + urlencode({"from": first, "to": last})
    if "/t2/explore" in _templates():
        time_name = _time_name()
        return "/t2/explore?" + urlencode(
            {
                "metrics": metric,
                "by": f"{time_name}:day",
                "where": f"{time_name} between {first} and {last}",
            }
        )
    return None


def _mover_href(mover: tree_q.Mover, metric: str, view: tree_q.TreeView) -> str | None:
    """The Tier 1 board filtered to the value, else the explorer, else nothing."""
    if mover.value is None:
        return None
    first, last = view.window.start.isoformat(), _last_day(view)
    board = _tier1_board(mover.dimension)
    if board:
        return f"/t1/{board}?" + urlencode(
            {"from": first, "to": last, mover.dimension: mover.value}
        )
    if "/t2/explore" in _templates():
        return "/t2/explore?" + urlencode(
            [
                ("metrics", metric),
                ("by", mover.dimension),
                ("where", f"{mover.dimension} = {mover.value}"),
                ("where", f"{_time_name()} between {first} and {last}"),
            ]
        )
    return None


def _node_data(
    node: tree_q.NodeView, view: tree_q.TreeView, parent: tree_q.NodeView | None = None
) -> tree_c.NodeData:
    metric = node.metric
    split = node.split
    parent_split = parent.split if parent else None
    return tree_c.NodeData(
        metric=metric.name,
        label=metric.label,
        fmt=metric.value_format,
        direction=metric.direction,
        description=metric.description,
        value=node.value,
        base=node.base,
        base_label=view.base_window.label,
        base_short="prev" if view.compare == "previous" else "last year",
        sparkline=tuple(v for _, v in node.history),
        sparkline_labels=tuple(w.short_label for w, _ in node.history),
        href=_tree_href(metric.name, view),
        view_href=_view_href(metric.name, view),
        relation=node.relation,
        method_note=(tree_q.METHODS.get(split.method, "") + ". " + split.note).strip()
        if split
        else "",
        parent_label=parent.metric.label if parent else "",
        parent_fmt=parent.metric.value_format if parent else "number",
        parent_counts=parent.metric.is_count if parent else False,
        counts=metric.is_count,
        parent_direction=parent.metric.direction if parent else "up",
        parent_relation=parent_split.relation if parent_split else None,
        contribution=node.contribution,
        points=node.points,
        score=node.score,
        rank=node.rank,
        dq=node.dq,
        dq_detail=node.dq_detail,
        residual=split.residual
        if split
        and split.method != "ranking"
        and tree_q.material(split.residual, node.base, node.value)
        else None,
        residual_points=split.residual / abs(node.base)
        if split and split.residual is not None and node.base
        else None,
        children=tuple(_node_data(c, view, node) for c in node.children),
        open=node.depth < OPEN_DEPTH,
        root=node.depth == 0,
    )


def _period_bar(view: tree_q.TreeView, metric: str) -> html.Div:
    def step(label: str, key: str | None, rel: str) -> html.A:
        if key is None:
            return html.A(label, className="sb-period-step disabled", **{"aria-disabled": "true"})
        return html.A(
            label,
            href=_tree_href(metric, view, period=key),
            className="sb-period-step",
            rel=rel,
            id=f"{P}-{rel}",
        )

    compares = [
        html.A(
            text,
            href=_tree_href(metric, view, compare=key),
            id=f"{P}-cmp-{key}",
            className="sb-tree-cmp" + (" active" if key == view.compare else ""),
        )
        for key, text in COMPARE_LABELS.items()
    ]
    return html.Div(
        [
            html.Div(
                [
                    step("‹", view.previous_key, "prev"),
                    html.Span(view.window.label, className="sb-period-label", id=f"{P}-period"),
                    step("›", view.next_key, "next"),
                ],
                className="sb-period-nav",
            ),
            html.Div(compares, className="sb-tree-cmps", role="group"),
            html.Span(
                f"Compared with {view.base_window.label} · data to {view.latest:%d %b %Y}",
                className="sb-period-note",
                id=f"{P}-base",
            ),
        ],
        className="sb-t0-bar",
    )


def _roots_links() -> html.P | None:
    try:
        model = current_model()
    except StarboardError:
        return None
    links: list[object] = ["Trees: "]
    for i, name in enumerate(tree_q.tree_metrics(model)):
        if i:
            links.append(" · ")
        links.append(html.A(model.metrics[name].label, href=f"/tree/{name}"))
    return html.P(links, className="sb-tree-roots") if len(links) > 1 else None


def layout(
    metric: str | None = None,
    period: str | list[str] | None = None,
    compare: str | list[str] | None = None,
    grain: str | list[str] | None = None,
    **_query: object,
) -> html.Div:
    """The tree of ``metric`` for the period and comparison in the URL."""
    trust = shell.Trust(**trust_q.trust_summary().__dict__)
    viewer = shell.Viewer(**web.viewer())
    name = metric if isinstance(metric, str) else ""
    path = f"/tree/{name}"
    try:
        view = tree_q.tree_view(name, period, compare, grain)
    except WarehouseUnavailable as exc:
        return shell.page(
            "Metric tree",
            shell.error_tile(exc.title, exc.message),
            path=path,
            trust=trust,
            viewer=viewer,
        )
    except StarboardError as exc:
        return shell.page(
            "Metric tree",
            [shell.error_tile("No tree for this metric", exc.message), _roots_links()],
            path=path,
            trust=trust,
            viewer=viewer,
        )
    root = _node_data(view.root, view)
    notices = [
        html.Div(n, className="sb-banner sb-banner-warn", role="status", id=f"{P}-notice")
        for n in view.notices[:1]
    ]
    notices += [
        html.Div(n, className="sb-banner sb-banner-warn", role="status") for n in view.notices[1:]
    ]
    errors = [shell.error_tile("Some figures could not be computed", e) for e in view.errors]
    movers = [
        tree_c.MoverData(
            dimension=m.dimension_label,
            value=m.value or NONE_LABEL,
            before=m.before,
            after=m.after,
            change=m.change,
            contribution=m.contribution,
            mix=m.mix,
            rate=m.rate,
            href=_mover_href(m, name, view),
        )
        for m in view.movers
    ]
    ratio = any(m.mix is not None for m in view.movers)
    body = [
        _period_bar(view, name),
        *notices,
        tree_c.narrative_block(view.narrative),
        *errors,
        shell.section(
            f"How {view.metric.label.lower()} breaks down",
            [tree_c.tree_diagram(root)],
            note="Each node: value for the period, change, contribution to its parent's "
            "change (points of the parent's change). Click a name to re-root the tree; "
            "click a card to fold or unfold what makes it.",
        ),
        shell.section(
            f"Top movers of {view.metric.label.lower()}",
            [
                tree_c.movers_table(
                    movers,
                    fmt=view.metric.value_format,
                    ratio=ratio,
                    direction=view.metric.direction,
                    note=view.movers_note,
                    counts=view.metric.is_count,
                )
            ],
            note=f"Dimension values that explain most of the change, {view.window.label} "
            f"vs {view.base_window.label}.",
        ),
    ]
    return shell.page(
        f"{view.metric.label}: metric tree",
        html.Div(
            [b for b in body if b is not None],
            className="sb-tree-page",
            id=READY,
            **{"data-period": view.window.key, "data-compare": view.compare, "data-metric": name},
        ),
        path=path,
        trust=trust,
        viewer=viewer,
        subtitle=f"{view.window.label} {COMPARES_TEXT[view.compare]} {view.base_window.label}",
        actions=shell.report_problem(P),
    )


COMPARES_TEXT = {"previous": "against", "last_year": "against last year's"}


@callback(*shell.report_problem_io(P), prevent_initial_call=True)
def report_problem(_clicks, text, pathname, search):
    """Store what the page's "Report a data problem" form sends."""
    stored, message = problems.submit_as_signed_in("tier0", text, pathname, search)
    return shell.report_problem_result(stored, message, text)
