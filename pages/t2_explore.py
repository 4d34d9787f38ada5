"""/t2/explore?metrics=…&by=…&where=…&chart=…: the Tier 2 explorer.

The URL is the exploration (queries/explore/state.py). The layout draws the controls from it
and leaves the result empty; a background callback (app/core/background.py: progress, Cancel)
runs the query through ``run()`` and draws the chart, table or pivot, the MetricQuery and
its SQL. A control change writes a new URL (a history entry). A click on a chart point,
a pivot cell or a table row opens the detail rows behind it: a server-side paged grid
(queries/explore/detail.py) with a CSV download (queries/export.py).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import dash
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from app.core import background, web
from app.core.auth import can, require, signed_in_user
from app.core.errors import MalformedRequest, QueryError, StarboardError
from app.core.stores import problems
from components import explore as xc
from components import figures, shell
from queries.explore import detail as detail_q
from queries.explore import state as xq
from queries.export import cap_note
from queries.quality import trust as trust_q
from queries.semantic import inputs
from queries.semantic.parse import query_to_json
from queries.semantic.query import HAVING_OPS, OPS
from queries.semantic.run import current_model

dash.register_page(
    __name__,
    path="/t2/explore",
    name="Explore",
    title="Explore · Starboard",
    description="Any metric by any dimension: chart, pivot, detail rows, CSV.",
    nav=True,
    access="tier2",
    order=40,
)

P = "t2"
PATH = "/t2/explore"
STATE = f"{P}-state"
METRICS = f"{P}-metrics"
BY = f"{P}-by"
CHART = f"{P}-chart"
ORDER = f"{P}-order"
LIMIT = f"{P}-limit"
F_DIM, F_OP, F_VALUE, F_ADD = f"{P}-f-dim", f"{P}-f-op", f"{P}-f-value", f"{P}-f-add"
F_ERROR = f"{P}-f-error"
MATCH = f"{P}-match"
H_METRIC, H_OP, H_VALUE, H_ADD = f"{P}-h-metric", f"{P}-h-op", f"{P}-h-value", f"{P}-h-add"
H_ERROR = f"{P}-h-error"
RESULT = f"{P}-result"
QUERY = f"{P}-query"
PROGRESS = f"{P}-progress"
CANCEL = f"{P}-cancel"
STATUS = f"{P}-status"
GRAPH = f"{P}-graph"
TABLE = f"{P}-table"
PIVOT = f"{P}-pivot"
DRILL = f"{P}-drill"
DETAIL = f"{P}-detail"
DETAIL_GRID = f"{P}-detail-grid"
DETAIL_CLOSE = f"{P}-detail-close"
EXPORT = f"{P}-export"
COPY = f"{P}-copy"


def _href(state: xq.ExploreState) -> str:
    return PATH + xq.state_to_search(state)


def _metric_options(model) -> list[dict[str, Any]]:
    options: list[dict[str, Any]] = []
    for group, metrics in xq.metric_groups(model):
        options.append({"label": f"— {group} —", "value": f"__group:{group}", "disabled": True})
        for metric in metrics:
            options.append(
                {
                    "label": metric.label,
                    "value": metric.name,
                    "title": metric.description or metric.label,
                    "search": f"{metric.label} {metric.name} {group}",
                }
            )
    return options


def _dimension_options(model, metrics: tuple[str, ...]) -> list[dict[str, Any]]:
    options = []
    for ref, label in xq.dimension_refs(model):
        why = xq.unreachable(model, metrics, ref)
        dim = model.dimensions[ref.partition(":")[0]]
        options.append(
            {
                "label": label + (" (not reachable)" if why else ""),
                "value": ref,
                "disabled": bool(why),
                "title": why or dim.description or label,
            }
        )
    return options


def _order_options(model, state: xq.ExploreState) -> list[dict[str, str]]:
    options = []
    for name in [*state.metrics, *(d.partition(":")[0] for d in state.by)]:
        label = (
            model.metrics[name].label
            if name in model.metrics
            else model.dimensions[name].label
            if name in model.dimensions
            else name
        )
        options += [
            {"label": f"{label} ↓", "value": f"-{name}"},
            {"label": f"{label} ↑", "value": name},
        ]
    return options


def _field(label: str, control: Any, wide: bool = False) -> html.Div:
    return html.Div(
        [html.Label(label, className="sb-t1-label"), control],
        className="sb-t2-field" + (" sb-t2-field-wide" if wide else ""),
    )


def _controls(model, state: xq.ExploreState, user) -> html.Div:
    filter_dims = [{"label": d.label, "value": d.name} for d in model.dimensions.values()]
    chips = xc.chips(
        [
            (w, _href(replace(state, where=tuple(x for x in state.where if x != w))))
            for w in state.where
        ],
        id_prefix=f"{P}-chip",
        joiner="or" if state.match == "any" else "and",
    )
    having_chips = xc.chips(
        [
            (h, _href(replace(state, having=tuple(x for x in state.having if x != h))))
            for h in state.having
        ],
        id_prefix=f"{P}-hchip",
        joiner="and",
        title="Remove this metric condition",
    )
    export = (
        html.Div(
            [
                html.A(
                    "Download CSV",
                    href="/api/v1/export/explore" + xq.state_to_search(state),
                    id=EXPORT,
                    className="sb-button sb-button-quiet",
                    download="",
                ),
                html.Span(cap_note(user), className="sb-t2-cap", id=f"{P}-export-cap"),
            ],
            className="sb-t2-export",
        )
        if state.metrics
        else None
    )
    return html.Div(
        [
            html.Div(
                [
                    _field(
                        "Metrics",
                        dcc.Dropdown(
                            id=METRICS,
                            options=_metric_options(model),
                            value=list(state.metrics),
                            multi=True,
                            placeholder="Pick metrics…",
                        ),
                        wide=True,
                    ),
                    _field(
                        "By",
                        dcc.Dropdown(
                            id=BY,
                            options=_dimension_options(model, state.metrics),
                            value=list(state.by),
                            multi=True,
                            placeholder="Dimensions (optional)",
                        ),
                        wide=True,
                    ),
                ],
                className="sb-t2-row",
            ),
            html.Div(
                [
                    _field(
                        "Chart",
                        dcc.RadioItems(
                            id=CHART,
                            value=state.chart,
                            inline=True,
                            className="sb-t2-radio",
                            options=[{"label": xq.CHART_LABELS[c], "value": c} for c in xq.CHARTS],
                        ),
                    ),
                    _field(
                        "Sort",
                        dcc.Dropdown(
                            id=ORDER,
                            options=_order_options(model, state),
                            value=state.order[0] if state.order else None,
                            placeholder="Default",
                            clearable=True,
                        ),
                    ),
                    _field(
                        "Limit",
                        dcc.Input(
                            id=LIMIT,
                            type="number",
                            min=1,
                            step=1,
                            value=state.limit,
                            placeholder="All",
                            debounce=True,
                            className="sb-t2-limit",
                        ),
                    ),
                ],
                className="sb-t2-row",
            ),
            html.Div(
                [
                    _field(
                        "Filter",
                        dcc.Dropdown(id=F_DIM, options=filter_dims, placeholder="Dimension"),
                    ),
                    _field(
                        "Operator",
                        dcc.Dropdown(
                            id=F_OP,
                            value="=",
                            clearable=False,
                            options=[{"label": xq.OP_LABELS[o], "value": o} for o in OPS],
                        ),
                    ),
                    _field(
                        "Value",
                        dcc.Input(
                            id=F_VALUE,
                            type="text",
                            debounce=False,
                            placeholder="a value · a, b · 2026-01-01 and 2026-03-31",
                            className="sb-t2-value",
                        ),
                    ),
                    html.Button("Add filter", id=F_ADD, className="sb-button sb-t2-add"),
                    html.Div(id=F_ERROR, className="sb-form-message sb-bad"),
                ],
                className="sb-t2-row sb-t2-filters",
                role="search",
            ),
            html.Div(
                [
                    html.Span("Rows match", className="sb-t1-label", id=f"{P}-match-label"),
                    dcc.RadioItems(
                        id=MATCH,
                        value=state.match,
                        inline=True,
                        className="sb-t2-radio",
                        options=[
                            {"label": "all filters", "value": "all"},
                            {"label": "any filter", "value": "any"},
                        ],
                    ),
                    chips,
                ],
                className="sb-t2-match",
                style=None if state.where else {"display": "none"},
            ),
            _having_row(model, state),
            having_chips,
            html.Div(
                [
                    html.Span(
                        [
                            dcc.Clipboard(
                                id=COPY,
                                title="Copy a link to this exploration",
                                className="sb-t1-copy-icon",
                            ),
                            "Copy link",
                        ],
                        className="sb-button sb-button-quiet sb-t1-copy",
                    ),
                    dcc.Link(
                        "Reset", href=PATH, className="sb-button sb-button-quiet", id=f"{P}-reset"
                    ),
                    export,
                ],
                className="sb-t2-actions",
            ),
        ],
        className="sb-t2-controls",
    )


def _having_row(model, state: xq.ExploreState) -> html.Div:
    """The metric condition builder: keep result rows whose metric passes (HAVING)."""
    chosen = [m for m in state.metrics if m in model.metrics]
    others = [m for m in model.metrics if m not in chosen]
    return html.Div(
        [
            _field(
                "Metric condition",
                dcc.Dropdown(
                    id=H_METRIC,
                    options=[
                        {"label": model.metrics[m].label, "value": m} for m in chosen + others
                    ],
                    value=chosen[0] if chosen else None,
                    placeholder="Metric",
                ),
            ),
            _field(
                "Operator",
                dcc.Dropdown(
                    id=H_OP,
                    value=">",
                    clearable=False,
                    options=[{"label": xq.OP_LABELS[o], "value": o} for o in HAVING_OPS],
                ),
            ),
            _field(
                "Number",
                dcc.Input(
                    id=H_VALUE,
                    type="text",
                    inputMode="decimal",
                    placeholder="1000 · 10 and 20",
                    className="sb-t2-value",
                ),
            ),
            html.Button("Add condition", id=H_ADD, className="sb-button sb-t2-add"),
            html.Div(id=H_ERROR, className="sb-form-message sb-bad"),
        ],
        className="sb-t2-row sb-t2-filters sb-t2-having",
        title="Keep only the result rows whose metric passes, e.g. revenue > 1000 by country",
    )


def layout(**query: Any):
    """The controls from the URL; the result comes from the background callback."""
    trust = shell.Trust(**trust_q.trust_summary().__dict__)
    viewer = shell.Viewer(**web.viewer())
    user = signed_in_user()
    try:
        model = current_model()
        state = xq.state_from_args(query)
        plan = xq.plan(model, state)
    except StarboardError as exc:
        return shell.page(
            "Explore",
            [
                shell.error_tile("This exploration cannot be read", exc.message),
                dcc.Link("Start a new exploration", href=PATH),
            ],
            path=PATH,
            trust=trust,
            viewer=viewer,
        )
    notes = [
        html.Div(text, className="sb-banner sb-banner-warn", role="status")
        for text in plan.explanations
    ]
    body = [
        dcc.Store(id=STATE, data=xq.state_to_search(state)),
        dcc.Store(id=DRILL),
        _controls(model, state, user),
        html.Div(notes, id=f"{P}-explanations", className="sb-t2-notes"),
        html.Div(
            [
                html.Span(id=STATUS, className="sb-t2-status"),
                html.Span(id=PROGRESS, className="sb-t2-progress"),
                html.Button(
                    "Cancel",
                    id=CANCEL,
                    className="sb-button sb-button-quiet",
                    style={"display": "none"},
                ),
            ],
            className="sb-t2-running",
        ),
        html.Div(id=RESULT, className="sb-t2-result"),
        html.Div(id=DETAIL, className="sb-t2-detail-panel"),
        html.Details(
            [html.Summary("Query and SQL"), html.Div(id=QUERY)], className="sb-details sb-t2-sql"
        ),
    ]
    return shell.page(
        "Explore",
        body,
        path=PATH,
        trust=trust,
        viewer=viewer,
        subtitle="Any metric by any dimension. Click a point, a cell or a row "
        "for the rows behind it.",
        actions=shell.report_problem(P),
    )


# --------------------------------------------------------------------------- URL updates


@callback(
    Output("sb-url", "search", allow_duplicate=True),
    Output(F_ERROR, "children"),
    Input(METRICS, "value"),
    Input(BY, "value"),
    Input(CHART, "value"),
    Input(ORDER, "value"),
    Input(LIMIT, "value"),
    Input(F_ADD, "n_clicks"),
    State(F_DIM, "value"),
    State(F_OP, "value"),
    State(F_VALUE, "value"),
    State(STATE, "data"),
    prevent_initial_call=True,
)
def change(metrics, by, chart, order, limit, _add, f_dim, f_op, f_value, search):
    """A control change or an added filter → the URL of the new exploration."""
    require(signed_in_user(), "tier2")
    try:
        state = xq.state_from_search(inputs.text(search, "exploration", max_length=20_000))
        where = state.where
        if ctx.triggered_id == F_ADD:
            f_dim = inputs.text(f_dim, "filter dimension", max_length=200)
            if not f_dim:
                return no_update, "Pick a dimension to filter on."
            text = xq.filter_text_of(
                f_dim,
                inputs.text(f_op, "operator", default="=") or "=",
                inputs.text(f_value, "filter value"),
            )
            xq.parse_condition(text, current_model())  # refuse a malformed filter here
            where = (*where, text)
        chart = inputs.text(chart, "chart", default="table", max_length=40)
        order = inputs.text(order, "sort", max_length=200)
        new = replace(
            state,
            metrics=tuple(
                m for m in inputs.texts(metrics, "metrics", max_items=100) if not m.startswith("__")
            ),
            by=inputs.texts(by, "by", max_items=100),
            where=where,
            chart=chart if chart in xq.CHARTS else "table",
            order=(order,) if order else (),
            limit=None if limit in (None, "") else inputs.whole_number(limit, "limit"),
        )
        xq.plan(current_model(), new)
    except StarboardError as exc:
        return no_update, exc.message
    search_new = xq.state_to_search(new)
    return (no_update if search_new == (search or "") else search_new), ""


def _crafted(value: object, name: str, allowed: tuple[str, ...]) -> str:
    """A control value only a crafted payload could get wrong: refused (a message on the
    page, as every explorer callback answers a crafted value; never a change of the URL)."""
    if not isinstance(value, str) or value not in allowed:
        raise MalformedRequest(f"{name}: {str(value)[:40]!r} is not one of the choices")
    return value


@callback(
    Output("sb-url", "search", allow_duplicate=True),
    Output(H_ERROR, "children", allow_duplicate=True),
    Input(MATCH, "value"),
    State(STATE, "data"),
    prevent_initial_call=True,
)
def change_match(match, search):
    """ "Rows match all / any filter" → the URL with match=any (or without it)."""
    require(signed_in_user(), "tier2")
    if ctx.triggered_id != MATCH:
        return no_update, no_update
    try:
        match = _crafted(match, "match", xq.MATCHES)
        state = xq.state_from_search(inputs.text(search, "exploration", max_length=20_000))
    except StarboardError as exc:
        return no_update, exc.message
    new = replace(state, match=match)
    search_new = xq.state_to_search(new)
    return (no_update if search_new == (search or "") else search_new), ""


@callback(
    Output("sb-url", "search", allow_duplicate=True),
    Output(H_ERROR, "children", allow_duplicate=True),
    Input(H_ADD, "n_clicks"),
    State(H_METRIC, "value"),
    State(H_OP, "value"),
    State(H_VALUE, "value"),
    State(STATE, "data"),
    prevent_initial_call=True,
)
def add_having(_add, metric, op, value, search):
    """An added metric condition → the URL with one more having=."""
    require(signed_in_user(), "tier2")
    if not _add:  # the button drawn, not clicked
        return no_update, no_update
    model = current_model()
    if metric is None:
        return no_update, "Pick a metric for the condition."
    try:
        metric = _crafted(metric, "metric condition", tuple(model.metrics))
        op = _crafted(op, "operator", HAVING_OPS)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, str | int | float)
        ):
            raise MalformedRequest(f"number: expected text, got {type(value).__name__}")
        state = xq.state_from_search(inputs.text(search, "exploration", max_length=20_000))
        text = xq.having_text_of(metric, op, value)
        xq.parse_having(text, model)  # refuse a malformed number here
        new = replace(state, having=(*state.having, text))
        xq.state_from_search(xq.state_to_search(new))  # the caps (at most MAX_HAVING)
        xq.plan(model, new)
    except StarboardError as exc:
        return no_update, exc.message
    search_new = xq.state_to_search(new)
    return (no_update if search_new == (search or "") else search_new), ""


@callback(
    Output(COPY, "content"),
    Input(COPY, "n_clicks"),
    State("sb-url", "href"),
    prevent_initial_call=True,
)
def copy_link(_clicks, href):
    require(signed_in_user(), "tier2")
    return href if isinstance(href, str) else ""


# --------------------------------------------------------------------------- the result


def _result_view(result: xq.ExploreResult, model) -> list[Any]:
    query = result.plan.query
    assert query is not None
    frame = result.frame
    dims = [d.partition(":")[0] for d in query.dimensions]
    metrics = list(query.metrics)
    labels = {
        **{d: model.dimensions[d].label for d in dims},
        **{m: model.metrics[m].label for m in metrics},
    }
    formats = {m: model.metrics[m].value_format for m in metrics}
    parts: list[Any] = [
        html.Div(n, className="sb-banner sb-banner-warn", role="status") for n in result.notices
    ]
    meta = (
        (
            f"{len(frame):,} rows · cost class {result.result.cost_class} · "
            f"{'cache hit' if result.result.cache_hit else f'{result.result.ms:,.0f} ms'}"
            + (f" · rollup {result.result.rollup}" if result.result.rollup else "")
        )
        if result.result
        else ""
    )
    parts.append(html.P(meta, className="sb-chart-note", id=f"{P}-meta"))
    if frame.empty:
        parts.append(html.P("No rows match this exploration.", className="sb-empty"))
        return parts
    chart = result.plan.state.chart
    columns = [(d, labels[d], None) for d in dims] + [(m, labels[m], formats[m]) for m in metrics]
    if chart == "pivot" and result.pivot is not None:
        rows_dim, cols_dim = dims[0], dims[1]
        parts.append(
            html.P(
                f"{labels[metrics[0]]}: {labels[rows_dim]} × {labels[cols_dim]}",
                className="sb-section-note",
            )
        )
        parts.append(xc.pivot_grid(result.pivot, labels[rows_dim], formats[metrics[0]], PIVOT))
        parts.append(
            dcc.Store(
                id=f"{P}-pivot-meta",
                data={"columns": xc.pivot_columns(result.pivot), "metric": metrics[0]},
            )
        )
        return parts
    drawable = (
        chart in ("line", "bar", "stacked") and dims or (chart == "scatter" and len(metrics) >= 2)
    )
    if drawable:
        additive = {m: model.metrics[m].additive for m in metrics if m in model.metrics}
        fig, note = xc.chart(chart, frame, dims, metrics, labels, formats, additive)
        parts.append(figures.graph(fig, id_=GRAPH, height=380))
        if note:
            parts.append(html.P(note, className="sb-chart-note"))
    parts.append(
        xc.result_grid(frame, columns, TABLE, height=min(420, 60 + 42 * max(len(frame), 1)))
    )
    return parts


def _query_view(result: xq.ExploreResult) -> list[Any]:
    query = result.plan.query
    if query is None or result.result is None:
        return []
    params = result.result.params
    return [
        html.H3("MetricQuery", className="sb-t2-h3"),
        xc.code_block(json.dumps(query_to_json(query), indent=2, default=str), f"{P}-metricquery"),
        html.H3("SQL (your row scope applied; values are bound parameters)", className="sb-t2-h3"),
        xc.code_block(
            result.result.sql
            + ("\n-- parameters: " + json.dumps(params, default=str) if params else ""),
            f"{P}-sql",
        ),
    ]


@callback(
    Output(RESULT, "children"),
    Output(QUERY, "children"),
    Input(STATE, "data"),
    background=True,
    interval=300,
    progress=Output(PROGRESS, "children"),
    progress_default=[None],
    running=[
        (Output(STATUS, "children"), "Running…", ""),
        (Output(CANCEL, "style"), {"display": "inline-block"}, {"display": "none"}),
    ],
    cancel=[Input(CANCEL, "n_clicks")],
)
@background.in_request(permission="tier2")
def run_exploration(set_progress, search):
    """Run the exploration of the URL in the background; draw it (or say why not)."""
    try:
        set_progress("Checking the exploration…")
        model = current_model()
        state = xq.state_from_search(inputs.text(search, "exploration", max_length=20_000))
        set_progress("Querying the warehouse…")
        result = xq.explore(state)
    except StarboardError as exc:
        return shell.error_tile("This exploration cannot run", exc.message), []
    set_progress("")
    if result.plan.query is None:
        return html.P(" ".join(result.plan.explanations), className="sb-empty"), []
    return _result_view(result, model), _query_view(result)


# --------------------------------------------------------------------------- drill to detail


def _drill_of(search: object, metric: str, values: list[Any]) -> dict[str, Any]:
    model = current_model()
    state = xq.state_from_search(inputs.text(search, "exploration", max_length=20_000))
    plan = xq.plan(model, state)
    if plan.query is None:
        raise StarboardError("Pick a metric first.")
    if metric not in plan.query.metrics:
        raise StarboardError(f"{metric!r} is not a metric of this exploration.")
    texts, notes = xq.point_filters(model, plan.query, values)
    where = [detail_q.filter_text(f) for f in plan.query.filters] + texts
    drill = detail_q.Drill(metric, tuple(xq.parse_condition(w, model) for w in where))
    return {**detail_q.drill_to_json(drill), "notes": notes}


def _dims_of(search: object) -> list[str]:
    plan = xq.plan(
        current_model(), xq.state_from_search(inputs.text(search, "exploration", max_length=20_000))
    )
    return [d.partition(":")[0] for d in (plan.query.dimensions if plan.query else ())]


@callback(
    Output(DRILL, "data", allow_duplicate=True),
    Input(GRAPH, "clickData"),
    State(STATE, "data"),
    prevent_initial_call=True,
)
def drill_point(click, search):
    """A chart point → the rows behind it."""
    require(signed_in_user(), "tier2")
    try:
        points = (inputs.mapping(click, "clickData") or {}).get("points") or []
        if not isinstance(points, list) or not isinstance(points[0] if points else {}, dict):
            raise QueryError("clickData.points: expected a list of points")
        custom = points[0].get("customdata") if points else None
        if not isinstance(custom, list) or not custom:
            return no_update
        return _drill_of(search, inputs.text(custom[0], "metric", max_length=200), list(custom[1:]))
    except StarboardError as exc:
        return {"error": exc.message}


@callback(
    Output(DRILL, "data", allow_duplicate=True),
    Input(TABLE, "cellClicked"),
    State(TABLE, "virtualRowData"),
    State(TABLE, "rowData"),
    State(STATE, "data"),
    prevent_initial_call=True,
)
def drill_row(cell, virtual, rows, search):
    """A table row → the rows behind it (the clicked metric, or the first one)."""
    require(signed_in_user(), "tier2")
    if not isinstance(cell, dict):
        return no_update
    try:
        data = inputs.mapping(cell.get("data"), "cellClicked.data")
        if data is None:
            index = cell.get("rowIndex")
            if not isinstance(index, int):
                return no_update
            table = virtual or rows or []
            if not isinstance(table, list):
                raise QueryError("rowData: expected a list of rows")
            if not 0 <= index < len(table):
                return no_update
            data = inputs.mapping(table[index], "rowData row") or {}
        plan = xq.plan(
            current_model(),
            xq.state_from_search(inputs.text(search, "exploration", max_length=20_000)),
        )
        if plan.query is None:
            return no_update
        column = cell.get("colId")
        metric = column if column in plan.query.metrics else plan.query.metrics[0]
        return _drill_of(search, metric, [data.get(d) for d in _dims_of(search)])
    except StarboardError as exc:
        return {"error": exc.message}


@callback(
    Output(DRILL, "data", allow_duplicate=True),
    Input(PIVOT, "cellClicked"),
    State(f"{P}-pivot-meta", "data"),
    State(STATE, "data"),
    prevent_initial_call=True,
)
def drill_cell(cell, meta, search):
    """A pivot cell → the rows behind it (a Total cell: the rows of that whole row or
    column)."""
    require(signed_in_user(), "tier2")
    if not isinstance(cell, dict) or not isinstance(meta, dict):
        return no_update
    try:
        col_id = inputs.text(cell.get("colId"), "colId", max_length=40)
        row_id = inputs.text(cell.get("rowId"), "rowId", max_length=2000)
        row_label = None if row_id.startswith(("b-", "t-")) else row_id  # pinned: Total row
        columns = meta.get("columns") or []
        if not isinstance(columns, list):
            raise QueryError("pivot columns: expected a list")
        col_value = None
        if col_id.startswith("c") and columns:  # c0, c1, …: the pivot's value columns
            col_value = columns[
                inputs.whole_number(col_id[1:], "pivot column", minimum=0, maximum=len(columns) - 1)
            ]
        values = [
            None if row_label in ("", xq.TOTAL, "(none)") else row_label,
            None if col_value in (None, xq.TOTAL, "(none)") else col_value,
        ]
        return _drill_of(search, inputs.text(meta.get("metric"), "metric", max_length=200), values)
    except StarboardError as exc:
        return {"error": exc.message}


@callback(
    Output(DRILL, "data", allow_duplicate=True),
    Input(DETAIL_CLOSE, "n_clicks"),
    prevent_initial_call=True,
)
def close_detail(clicks):
    """Close the detail panel (not when the button is first drawn)."""
    require(signed_in_user(), "tier2")
    return None if clicks else no_update


@callback(Output(DETAIL, "children"), Input(DRILL, "data"), prevent_initial_call=True)
def show_detail(data):
    """The detail panel of a drill: what it selects, the paged grid, the CSV link."""
    require(signed_in_user(), "tier2")
    if not data:
        return None
    if isinstance(data, dict) and "error" in data:
        return shell.error_tile("These rows cannot be shown", str(data["error"]))
    try:
        model = current_model()
        drill = detail_q.drill_from_json(data, model)
        notes = inputs.texts(data.get("notes"), "notes", max_items=20)
        page = detail_q.fetch_page(drill, 0, 1)  # checks everything before drawing
    except StarboardError as exc:
        return shell.error_tile("These rows cannot be shown", exc.message)
    numeric = ("integer", "number")
    pii_ok = can(signed_in_user(), "pii")
    columns = [(c.key, c.label, c.kind in numeric, pii_ok or not c.pii) for c in page.columns]
    metric = model.metrics[drill.metric].label
    selected = " · ".join(detail_q.filter_text(f) for f in drill.filters) or "all rows"
    notes = [html.P(n, className="sb-chart-note") for n in notes]
    return html.Section(
        [
            html.Div(
                [
                    html.H2(f"Rows behind {metric}", className="sb-section-title"),
                    html.Button("Close", id=DETAIL_CLOSE, className="sb-button sb-button-quiet"),
                ],
                className="sb-t2-detail-head",
            ),
            html.P(selected, className="sb-section-note", id=f"{P}-detail-filters"),
            *notes,
            xc.detail_grid(columns, DETAIL_GRID),
            html.Div(
                [
                    html.A(
                        "Download these rows (CSV)",
                        href=detail_q.drill_href(drill),
                        id=f"{P}-detail-export",
                        className="sb-button sb-button-quiet",
                        download="",
                    ),
                    html.Span(
                        cap_note(signed_in_user()) + f" The grid pages through the first "
                        f"{detail_q.BROWSE_MAX:,}.",
                        className="sb-t2-cap",
                    ),
                ],
                className="sb-t2-export",
            ),
        ],
        className="sb-section sb-t2-detail",
    )


@callback(
    Output(DETAIL_GRID, "getRowsResponse"),
    Input(DETAIL_GRID, "getRowsRequest"),
    State(DRILL, "data"),
    prevent_initial_call=True,
)
def detail_rows(request, data):
    """One page of detail rows: only the rows the grid asks for (AG Grid infinite model).
    The row scope and PII masking come from the session, never from the request."""
    require(signed_in_user(), "tier2")
    if not isinstance(request, dict) or not isinstance(data, dict) or "error" in data:
        return no_update
    try:
        start = inputs.whole_number(request.get("startRow") or 0, "startRow", minimum=0)
        end = inputs.whole_number(request.get("endRow") or start + 100, "endRow", minimum=0)
        sort = request.get("sortModel")
        drill = detail_q.drill_from_json(data, current_model())
        drill = detail_q.Drill(
            drill.metric,
            drill.filters,
            detail_q.sort_from_grid(sort if isinstance(sort, list) else None),
        )
        page = detail_q.fetch_page(drill, start, max(end - start, 1))
    except StarboardError:
        return {"rowData": [], "rowCount": 0}
    response: dict[str, Any] = {"rowData": page.rows}
    if page.last_row is not None:
        response["rowCount"] = page.last_row
    return response


@callback(*shell.report_problem_io(P), prevent_initial_call=True)
def report_problem(_clicks, text, pathname, search):
    """Store what the page's "Report a data problem" form sends."""
    stored, message = problems.submit_as_signed_in("tier2", text, pathname, search)
    return shell.report_problem_result(stored, message, text)
