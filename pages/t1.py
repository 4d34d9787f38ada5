"""/t1/<board>?from=…&to=…&<dim>=a,b&drill=dim:value: a Tier 1 operational board.

The URL is the board's whole state. The layout renders every chart from it (all queries
at once through the one door); one callback turns a filter change, a date pick or a click
on a bar into a new query string on ``sb-url`` (``refresh="callback-nav"``: a history
entry, then the router renders the new state), so back and forward step through states.
Filter options load in their own callback and never hold up the charts.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from app.core import web
from app.core.auth import require, signed_in_user
from app.core.errors import QueryError, StarboardError
from app.core.stores import problems
from components import figures, shell, tables, trustbadge
from components import tier1 as t1c
from components.formatting import (
    NONE_LABEL,
    cut_note,
    dimension_text,
    format_value,
    format_values,
)
from queries.boards import tier1
from queries.explore import state as explore_q
from queries.quality import trust as trust_q
from queries.semantic import inputs
from queries.semantic.dimorder import display_sorted
from queries.semantic.run import current_model, latest_day

dash.register_page(
    __name__,
    path_template="/t1/<board>",
    name="Operational",
    title="Operational · Starboard",
    access="tier1",
    order=20,
)

P = "t1"
READY = f"{P}-ready"
BOARD = f"{P}-board"
DATES = f"{P}-dates"
FILTER = f"{P}-filter"
CHART = f"{P}-chart"
COPY = f"{P}-copy"
RESET = f"{P}-reset"
CRUMBS = f"{P}-crumbs"
NOTICE = f"{P}-notice"
ACTION_NOTICE = f"{P}-action-notice"  # what a filter change or click could not do
OPTIONS_NOTICE = f"{P}-options-notice"  # why filter options could not be listed
STAND_OUT_LIMIT = 8  # anomalies listed in "What stands out", the largest first


def _href(path: str, state: tier1.State) -> str:
    return path + tier1.encode_state(state)


def _date_bar(view: tier1.Tier1View, path: str) -> html.Div:
    state, latest = view.state, view.latest
    presets = []
    for key, label in tier1.PRESETS:
        first, last = tier1.preset_range(key, latest)
        active = (first, last) == (state.start, state.end)
        presets.append(
            dcc.Link(
                label,
                href=_href(path, tier1.State(first, last, state.filters, state.drill)),
                id=f"{P}-preset-{key}",
                className="sb-t1-preset" + (" active" if active else ""),
            )
        )
    return html.Div(
        [
            html.Label("Dates", className="sb-t1-label", htmlFor=DATES),
            dcc.DatePickerRange(
                id=DATES,
                start_date=state.start.isoformat(),
                end_date=state.end.isoformat(),
                display_format="D MMM YYYY",
                max_date_allowed=latest.isoformat(),
                minimum_nights=0,
                updatemode="bothdates",
                first_day_of_week=1,
                className="sb-t1-dates",
            ),
            html.Div(presets, className="sb-t1-presets"),
        ],
        className="sb-t1-field sb-t1-field-dates",
    )


def _filter_bar(view: tier1.Tier1View, path: str) -> html.Div:
    model = current_model()
    chosen = dict(view.state.filters)
    fields = []
    for dim in view.filter_dims:
        label = model.dimensions[dim].label
        values = list(chosen.get(dim, ()))
        fields.append(
            html.Div(
                [
                    html.Label(label, className="sb-t1-label"),
                    dcc.Dropdown(
                        id={"type": FILTER, "dim": dim},
                        value=values,
                        multi=True,
                        searchable=True,
                        clearable=True,
                        placeholder=f"All ({label.lower()})",
                        options=[{"label": v, "value": v} for v in values],
                        className="sb-t1-dropdown",
                    ),
                ],
                className="sb-t1-field",
                id=f"{P}-field-{dim}",
            )
        )
    actions = html.Div(
        [
            dcc.Link("Reset", href=path, id=RESET, className="sb-button sb-button-quiet"),
            html.Span(
                [
                    dcc.Clipboard(
                        id=COPY, title="Copy a link to this view", className="sb-t1-copy-icon"
                    ),
                    "Copy link",
                ],
                className="sb-button sb-button-quiet sb-t1-copy",
            ),
        ],
        className="sb-t1-actions",
    )
    return html.Div(
        [_date_bar(view, path), *fields, actions], className="sb-t1-filters", role="search"
    )


def _chips(view: tier1.Tier1View, path: str) -> html.Div | None:
    """Filters outside the filter bar (from clicks) and the drill breadcrumb."""
    model = current_model()
    state = view.state
    parts: list[Any] = []
    for dim, values in state.filters:
        if dim in view.filter_dims:
            continue
        parts.append(
            dcc.Link(
                f"{model.dimensions[dim].label}: {', '.join(values)} ✕",
                href=_href(path, state.with_filter(dim, ())),
                className="sb-t1-chip",
                title="Remove this filter",
            )
        )
    if state.drill:
        root = model.dimensions[state.drill[0][0]]
        crumbs: list[Any] = [
            dcc.Link(
                f"All {root.label.lower()} values",
                href=_href(path, state.with_drill(())),
                id=f"{P}-crumb-0",
                className="sb-t1-crumb",
            )
        ]
        for i, (dim, value) in enumerate(state.drill, start=1):
            crumbs.append(html.Span("›", className="sb-t1-crumb-sep"))
            text = f"{model.dimensions[dim].label}: {value}"
            if i == len(state.drill):
                crumbs.append(html.Span(text, className="sb-t1-crumb current", id=f"{P}-crumb-{i}"))
            else:
                crumbs.append(
                    dcc.Link(
                        text,
                        href=_href(path, state.with_drill(state.drill[:i])),
                        id=f"{P}-crumb-{i}",
                        className="sb-t1-crumb",
                    )
                )
        parts.append(
            html.Nav(crumbs, className="sb-t1-crumbs", id=CRUMBS, **{"aria-label": "Drill-down"})
        )
    return html.Div(parts, className="sb-t1-chips") if parts else None


def _clickable_id(view: tier1.ChartView) -> dict[str, Any]:
    return {"type": CHART, "dim": view.by or "", "index": view.index}


def _grid_rows(frame, by: str, metrics) -> list[dict[str, Any]]:
    rows = []
    for record in frame.to_dict("records"):
        row = {
            k: (None if v is None or (isinstance(v, float) and v != v) else v)
            for k, v in record.items()
        }
        row[by] = dimension_text(row.get(by))
        rows.append(row)
    return rows


def _bar_height(bars: int) -> int:
    return 70 + 28 * max(bars, 2)


def _grid_height(rows: int) -> int:
    return min(380, 58 + 42 * max(rows, 1))


def _body(view: tier1.ChartView, selected: dict[str, tuple[str, ...]]) -> Any:
    chart = view.chart
    fmt = view.metrics[0].value_format if view.metrics else "number"
    if chart.type in ("line", "area"):
        if not any(s.x for s in view.series):
            return html.P("No data in this range.", className="sb-empty")
        lines = [
            t1c.LineSeries(
                s.name, s.x, s.y, s.value, [(a.day, a.value, a.expected) for a in s.anomalies]
            )
            for s in view.series
        ]
        graph_id = _clickable_id(view) if view.by and not _is_time(view.by) else None
        return figures.graph(t1c.anomaly_lines(lines, fmt=fmt), id_=graph_id, height=260)
    if chart.type == "stacked_bar":
        if not view.series:
            return html.P("No data in this range.", className="sb-empty")
        parts = [t1c.LineSeries(s.name, s.x, s.y, s.value) for s in view.series]
        return figures.graph(t1c.stacked_bars(parts, fmt=fmt), id_=_clickable_id(view), height=260)
    frame = view.frame
    if frame is None or frame.empty:
        return html.P("No data in this range.", className="sb-empty")
    if chart.type == "bar":
        metric = view.metrics[0].name
        fig = t1c.click_bars(
            frame[view.by],
            frame[metric],
            fmt=fmt,
            selected=selected.get(view.by or "", ()),
            name=metric,
        )
        return figures.graph(fig, id_=_clickable_id(view), height=_bar_height(len(frame)))
    if chart.type == "table":
        columns = [(view.by, current_model().dimensions[view.by].label, None)]
        columns += [(m.name, m.label, m.value_format) for m in view.metrics]
        frame = frame.dropna(how="all", subset=[m.name for m in view.metrics])
        return t1c.grid(
            _grid_rows(frame, view.by, view.metrics),
            columns,
            id_={"type": f"{P}-grid", "index": view.index},
            height=_grid_height(len(frame)),
        )
    if chart.type == "breakdown":
        first = view.metrics[0]
        top = frame.head(tier1.BAR_LIMIT)
        top = top[top[first.name].notna()]
        # the largest values, drawn in the dimension's own order (buckets, calendar)
        top = display_sorted(top, current_model().dimensions.get(view.by or ""), view.by or "")
        fig = t1c.click_bars(
            top[view.by],
            top[first.name],
            fmt=first.value_format,
            selected=selected.get(view.by or "", ()),
            name=first.name,
        )
        return html.Div(
            [
                figures.graph(fig, id_=_clickable_id(view), height=_bar_height(len(top))),
                _breakdown_table(view, frame),
            ]
        )
    if chart.type == "funnel":
        fig = t1c.funnel(
            list(frame["step"]),
            list(frame["value"]),
            list(frame["from_previous"]),
            list(frame["from_first"]),
        )
        overall = frame["from_first"].iloc[-1]
        return html.Div(
            [
                figures.graph(fig, height=60 + 44 * len(frame)),
                html.P(
                    f"Overall conversion {frame['step'].iloc[0].lower()} → "
                    f"{frame['step'].iloc[-1].lower()}: {format_value(overall, 'percent')}",
                    className="sb-chart-note",
                    id=f"{P}-funnel-overall",
                    **{"data-raw": "" if overall is None else str(overall)},
                ),
            ]
        )
    if chart.type == "cohort":
        table = frame.pivot(index="cohort", columns="age", values="share")
        sizes = frame.groupby("cohort")["size"].first()
        cohorts = [f"{c:%b %Y}" for c in table.index]
        ages = [int(a) for a in table.columns]
        shares = [
            [None if v is None or v != v else float(v) for v in row] for row in table.to_numpy()
        ]
        cohort_dim = current_model().dimensions.get(dict(chart.options).get("cohort", ""))
        fig = t1c.cohort_heatmap(
            cohorts,
            ages,
            shares,
            [sizes.get(c) for c in table.index],
            cohort_label=cohort_dim.label if cohort_dim is not None else "the cohort's start",
        )
        return figures.graph(fig, height=60 + 24 * len(cohorts))
    return html.P(f"Unknown chart type {chart.type}.", className="sb-empty")


def _tone(change: float | None, direction: str) -> str:
    if change is None or direction == "none" or change == 0:
        return "sb-neutral"
    return "sb-good" if (change > 0) == (direction == "up") else "sb-bad"


def _breakdown_table(view: tier1.ChartView, frame) -> html.Div:
    """Value, share of the total and change vs the previous period, per metric: a plain
    server-rendered table (cheap to draw next to the bars)."""
    label = current_model().dimensions[view.by].label
    columns = [tables.Column(label)]
    for m in view.metrics:
        columns.append(tables.Column(m.label, "right"))
        if f"{m.name}__share" in frame.columns:
            columns.append(tables.Column("share", "right"))
        columns.append(tables.Column("vs prev.", "right"))
    shown = frame.head(tier1.TABLE_LIMIT)
    # each column written alike: one number of decimals (and unit) for all its rows
    texts = {m.name: format_values(list(shown[m.name]), m.value_format) for m in view.metrics}
    rows = []
    for i, record in enumerate(shown.to_dict("records")):
        row: list[Any] = [dimension_text(record[view.by])]
        for m in view.metrics:
            row.append(texts[m.name][i])
            if f"{m.name}__share" in frame.columns:
                row.append(format_value(record[f"{m.name}__share"], "percent"))
            change = record[f"{m.name}__change"]
            change = None if change is None or change != change else change
            text = (
                "—"
                if change is None
                else (("+" if change > 0 else "") + format_value(change, "percent"))
            )
            row.append(html.Span(text, className=_tone(change, m.direction)))
        rows.append(row)
    return html.Div(
        tables.table(columns, rows, table_id=f"{P}-breakdown-{view.index}"),
        className="sb-t1-breakdown",
    )


def _is_time(dimension: str) -> bool:
    """Whether ``dimension`` is the model's time dimension (whatever the model calls it)."""
    dim = current_model().dimensions.get(dimension)
    return bool(dim and dim.is_time)


def _explore_link(view: tier1.ChartView, state: tier1.State) -> dcc.Link | None:
    """ "Explore ›": the chart's question opened in the Tier 2 explorer with the board's
    dates, filters and drill steps, for those who may explore."""
    if not view.metrics or view.chart.type in ("funnel", "cohort"):
        return None
    time = current_model().time_name("a Tier 1 board")
    by = [view.by] if view.by and view.by != time else []
    if view.chart.type == "line":
        by = [time, *by]
    filters = list(state.filters) + [(dim, (value,)) for dim, value in state.drill]
    href = explore_q.link_for(
        [m.name for m in view.metrics],
        by,
        state.start,
        state.end,
        filters,
        chart="line" if time in by else "bar",
        time_name=time,
    )
    return dcc.Link(
        "Explore ›",
        href=href,
        className="sb-t1-explore",
        title="Open this chart in the explorer, down to the detail rows",
    )


def _full_list_link(view: tier1.ChartView, state: tier1.State) -> dcc.Link:
    """The chart's whole list (every value of its dimension, largest first) in the explorer,
    with the board's dates, filters and drill steps."""
    first = view.metrics[0].name
    metrics = [first] if view.chart.type in ("bar", "line", "stacked_bar") else None
    filters = list(state.filters) + [(dim, (value,)) for dim, value in state.drill]
    href = explore_q.link_for(
        metrics or [m.name for m in view.metrics],
        [view.by or ""],
        state.start,
        state.end,
        filters,
        chart="table",
        time_name=current_model().time_name("a Tier 1 board"),
        order=(f"-{first}",),
    )
    return dcc.Link("See the full list ›", href=href, className="sb-cut-link")


def _cut_notes(view: tier1.ChartView, explore_state: tier1.State | None) -> list[Any]:
    """ "3 more carriers (5,210 flights) not shown": one line per cut of the chart, with a
    link to the full list in the explorer for those who may explore."""
    if not view.by or not view.metrics:
        return []
    label = current_model().dimensions[view.by].label
    metric = view.metrics[0]
    cuts: list[tuple[Any, str]] = []
    if view.chart.type == "breakdown":
        if view.cut is not None and view.table_cut is None:
            cuts.append((view.cut, "in the bars; the table lists them"))
        if view.table_cut is not None:
            cuts.append((view.table_cut, "in the table"))
    elif view.cut is not None:
        cuts.append((view.cut, ""))
    out: list[Any] = []
    for i, (cut, where) in enumerate(cuts):
        text = cut_note(
            cut.hidden,
            label,
            at_least=cut.at_least,
            size=cut.size,
            fmt=metric.value_format,
            metric_label=metric.label,
            where=where,
            empty=cut.empty,
        )
        link = (
            _full_list_link(view, explore_state)
            if explore_state is not None and where != "in the bars; the table lists them"
            else None
        )
        out.append(
            html.P(
                [text, " ", link] if link is not None else text,
                className="sb-chart-note sb-cut-note",
                id=f"{P}-cut-{view.index}" + (f"-{i}" if i else ""),
                **{"data-hidden": str(cut.hidden)},
            )
        )
    return out


def _card(
    view: tier1.ChartView,
    selected: dict[str, tuple[str, ...]],
    explore_state: tier1.State | None = None,
) -> html.Div:
    if view.error:
        body: Any = shell.error_tile(view.title, view.error)
    else:
        body = _body(view, selected)
    hint = None
    if view.chart.type in ("bar", "breakdown", "stacked_bar") or (
        view.chart.type == "line" and view.by and not _is_time(view.by)
    ):
        hint = html.Span(
            "click to drill down" if view.drillable else "click to filter", className="sb-t1-hint"
        )
    note = html.P(view.note, className="sb-chart-note") if view.note else None
    cut = _cut_notes(view, explore_state) if not view.error else []
    wide = " sb-t1-wide" if view.chart.type in ("table", "cohort", "breakdown") else ""
    checked = trust_q.trust_for([m.name for m in view.metrics], [view.by] if view.by else [])
    flag = trustbadge.badge(checked.status, checked.lines)
    explore = _explore_link(view, explore_state) if explore_state and not view.error else None
    return html.Div(
        [
            html.Div(
                [html.H3(view.title, className="sb-chart-title"), flag, hint, explore],
                className="sb-t1-card-head",
            ),
            body,
            *cut,
            note,
        ],
        className="sb-chart sb-t1-card" + wide,
        **{"data-chart": str(view.index), "data-type": view.chart.type},
    )


def _stand_out(view: tier1.Tier1View) -> html.Section:
    items = []
    for item in view.stand_out[:STAND_OUT_LIMIT]:
        a = item.anomaly
        items.append(
            (
                item.chart,
                item.series,
                a.day,
                format_value(a.value, item.fmt),
                format_value(a.expected, item.fmt),
                format_value(a.change, "percent") if a.change is not None else "—",
            )
        )
    more = len(view.stand_out) - STAND_OUT_LIMIT
    cut = (
        html.P(
            f"{more} more {'day stands' if more == 1 else 'days stand'} out (smaller "
            "deviations) not shown.",
            className="sb-chart-note sb-cut-note",
            id=f"{P}-standout-cut",
        )
        if more > 0
        else None
    )
    return html.Section(
        [
            html.H2("What stands out", className="sb-section-title"),
            t1c.stand_out_list(items),
            cut,
        ],
        className="sb-section sb-t1-standout",
        id=f"{P}-standout",
    )


def _text(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def layout(board: str | None = None, **query: object):
    """The whole board for the state in the URL, server-rendered."""
    trust = shell.Trust(**trust_q.trust_summary().__dict__)
    viewer = shell.Viewer(**web.viewer())
    path = f"/t1/{board}"
    params = {str(k): _text(v) for k, v in query.items()}
    view = tier1.tier1_view(board or "", params)
    selected = dict(view.state.filters)
    can_explore = "tier2" in viewer.permissions
    sections = []
    for title, charts in view.sections:
        cards = [_card(c, selected, view.state if can_explore else None) for c in charts]
        sections.append(
            shell.section(title, html.Div(cards, className="sb-t1-grid"))
            if title
            else html.Section(cards, className="sb-section")
        )
    notices = [
        html.Div(
            n,
            className="sb-banner sb-banner-warn",
            role="status",
            **({"id": NOTICE} if i == 0 else {}),
        )
        for i, n in enumerate(view.notices)
    ]
    search = tier1.encode_state(view.state)
    body = [
        dcc.Store(id=BOARD, data=view.board.name),
        _filter_bar(view, path),
        html.Div(id=ACTION_NOTICE, className="sb-form-message sb-bad", role="alert"),
        html.Div(id=OPTIONS_NOTICE, className="sb-form-message sb-bad", role="alert"),
        _chips(view, path),
        *notices,
        _stand_out(view),
        *sections,
    ]
    return shell.page(
        view.board.title,
        html.Div(
            [b for b in body if b is not None],
            className="sb-t1",
            id=READY,
            **{"data-state": search},
        ),
        path=path,
        trust=trust,
        viewer=viewer,
        subtitle=f"{view.board.description or ''} {view.state.start:%d %b %Y} – "
        f"{view.state.end:%d %b %Y} · data to {view.latest:%d %b %Y}".strip(),
        actions=shell.report_problem(P),
    )


def _state(board: str, search: str) -> tier1.State | None:
    model = current_model()
    found = model.boards.get(board)
    latest = latest_day()
    if found is None or found.tier != 1 or latest is None:
        return None
    state, _ = tier1.parse_state(model, found, tier1.parse_query(search), latest)
    return state


def _clicked_value(click: object) -> str | None:
    """The category a chart click picked: its customdata, else its y, label or x text."""
    click = inputs.mapping(click, "clickData") or {}
    points = click.get("points") or []
    if not isinstance(points, list) or not points or not isinstance(points[0], dict):
        return None
    point = points[0]
    custom = point.get("customdata")
    if (
        isinstance(custom, list)
        and custom
        and isinstance(custom[0], str | int | float)
        and custom[0] != ""
    ):
        return str(custom[0])
    for key in ("y", "label", "x"):
        if isinstance(point.get(key), str):
            return point[key]
    return None


def _pattern_keys(entries: object, *keys: str) -> list[tuple[object, ...]]:
    """The pattern-matching ids of one ``ctx.inputs_list`` entry, as tuples of ``keys``."""
    if not isinstance(entries, list):
        raise QueryError("The callback's inputs are not a list of components.")
    out = []
    for entry in entries:
        id_ = entry.get("id") if isinstance(entry, dict) else None
        if not isinstance(id_, dict):
            raise QueryError("The callback's inputs name no component ids.")
        out.append(tuple(id_.get(k) for k in keys))
    return out


@callback(
    Output("sb-url", "search"),
    Output(ACTION_NOTICE, "children"),
    Input({"type": FILTER, "dim": ALL}, "value"),
    Input(DATES, "start_date"),
    Input(DATES, "end_date"),
    Input({"type": CHART, "dim": ALL, "index": ALL}, "clickData"),
    State("sb-url", "search"),
    State(BOARD, "data"),
    prevent_initial_call=True,
)
def apply_filters(values, start, end, clicks, search, board):
    """A filter change, a date pick or a click on a chart → the URL of the new state; a
    payload the page could not have sent → a notice saying what was wrong."""
    require(signed_in_user(), "tier1")
    try:
        new = _applied(values, start, end, clicks, search, board)
    except StarboardError as exc:
        return no_update, exc.message
    return new, ""


def _applied(values, start, end, clicks, search, board) -> Any:
    board = inputs.text(board, "board", max_length=200)
    search = inputs.text(search, "search", max_length=20_000)
    state = _state(board, search)
    trigger = ctx.triggered_id
    if state is None or trigger is None:
        return no_update
    before = state
    model = current_model()
    if trigger == DATES:
        if start is None or end is None:  # one end picked so far
            return no_update
        first, last = inputs.day(start, "start date"), inputs.day(end, "end date")
        state = tier1.State(min(first, last), max(first, last), state.filters, state.drill)
    elif isinstance(trigger, dict) and trigger.get("type") == FILTER:
        dim = trigger.get("dim")
        ids = [k[0] for k in _pattern_keys(ctx.inputs_list[0], "dim")]
        if (
            not isinstance(dim, str)
            or dim not in ids
            or not isinstance(values, list)
            or len(values) != len(ids)
        ):
            raise QueryError("This filter is not on the page.")
        chosen = inputs.texts(values[ids.index(dim)], f"{dim} values")
        state = state.with_filter(dim, chosen)
    elif isinstance(trigger, dict) and trigger.get("type") == CHART:
        keys = _pattern_keys(ctx.inputs_list[3], "dim", "index")
        where = (trigger.get("dim"), trigger.get("index"))
        if where not in keys or not isinstance(clicks, list) or len(clicks) != len(keys):
            raise QueryError("This chart is not on the page.")
        value = _clicked_value(clicks[keys.index(where)])
        dim = where[0]
        spec = model.dimensions.get(dim) if isinstance(dim, str) else None
        if value is None or spec is None:
            return no_update
        if value == NONE_LABEL:
            raise QueryError(
                f"“{NONE_LABEL}” stands for rows without a {spec.label.lower()}: a board cannot "
                "be filtered to them (Explore › can)."
            )
        if spec.drill:
            state = state.with_drill(state.drill + ((dim, value),))
        elif dict(state.filters).get(dim) == (value,):
            state = state.with_filter(dim, ())
        else:
            state = state.with_filter(dim, (value,))
    if state == before:
        # Nothing changed (e.g. the date picker reporting the dates it was drawn with): the
        # URL stays as typed, so the page keeps its notices about the parts it ignored
        # rather than being silently rewritten to the state it understood.
        return no_update
    new = tier1.encode_state(state)
    return no_update if new == search else new


@callback(
    Output({"type": FILTER, "dim": ALL}, "options"),
    Output(OPTIONS_NOTICE, "children"),
    Input(BOARD, "data"),
    State({"type": FILTER, "dim": ALL}, "id"),
    State({"type": FILTER, "dim": ALL}, "value"),
)
def load_filter_options(board, ids, values):
    """Each filter's values within the user's row scope (cached), after the charts. Only
    the board's own filters are listed; anything else in the payload is refused."""
    require(signed_in_user(), "tier1")
    count = len(ctx.outputs_list[0]) if isinstance(ctx.outputs_list[0], list) else 0
    try:
        board = inputs.text(board, "board", max_length=200)
        if (
            not isinstance(ids, list)
            or not isinstance(values, list)
            or not len(ids) == len(values) == count
        ):
            raise QueryError("The filter options were asked for without their filters.")
        dims = [
            inputs.text((inputs.mapping(i, "filter id") or {}).get("dim"), "filter") for i in ids
        ]
        chosen = [inputs.texts(v, f"{d} values") for d, v in zip(dims, values, strict=True)]
        known = tier1.filter_options(board, dims)
    except StarboardError as exc:
        return [[] for _ in range(count)], exc.message
    out = []
    for picked, values_of in zip(chosen, known, strict=True):
        extra = [v for v in picked if v not in values_of]
        out.append([{"label": v, "value": v} for v in [*extra, *values_of]])
    return out, ""


@callback(
    Output(COPY, "content"),
    Input(COPY, "n_clicks"),
    State("sb-url", "href"),
    prevent_initial_call=True,
)
def copy_link(_clicks, href):
    """The current URL, for the clipboard."""
    require(signed_in_user(), "tier1")
    return href if isinstance(href, str) else ""


@callback(*shell.report_problem_io(P), prevent_initial_call=True)
def report_problem(_clicks, text, pathname, search):
    """Store what the page's "Report a data problem" form sends."""
    stored, message = problems.submit_as_signed_in("tier1", text, pathname, search)
    return shell.report_problem_result(stored, message, text)
