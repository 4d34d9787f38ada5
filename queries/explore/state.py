"""The Tier 2 explorer's state and queries: any metrics × dimensions × filters.

The state lives in the URL, so an exploration is shareable and restorable::

    /t2/explore?metrics=revenue,orders&by=channel_group,date:month
               &where=country in (DE,FR)&where=date between 2026-01-01 and 2026-03-31
               &chart=bar&order=-revenue&limit=100

``where`` repeats and uses the condition syntax of :mod:`queries.semantic.parse` (one filter,
or several joined with and / or / not); the ``where`` texts are ANDed, or ORed with
``match=any``. ``having`` repeats: ``having=revenue > 1000`` keeps the result rows whose
metric passes (SQL's HAVING). Choices the model
cannot answer together (a dimension no join path reaches from a metric's fact) are not
errors: :func:`plan` leaves them out of the query and says why, so the page explains them.
Unknown names, malformed filters and PII for roles without the permission are errors
(a hand-made URL or callback payload gets a clear message, never data). Every query goes
through :func:`queries.semantic.run.run`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import pandas as pd

from app.core.errors import QueryError
from queries.export import RowSource, frame_batches
from queries.semantic.graph import metric_facts, reachable_dimensions
from queries.semantic.inputs import whole_number
from queries.semantic.parse import parse_condition, parse_having, parse_where  # noqa: F401
from queries.semantic.query import (
    HAVING_OPS,
    OPS,
    AnyOf,
    Condition,
    Having,
    MetricQuery,
    filter_leaves,
)
from queries.semantic.run import QueryResult, current_model, run
from queries.semantic.types import GRAINS, Metric, SemanticModel

CHARTS = ("table", "line", "bar", "stacked", "scatter", "pivot")
CHART_LABELS = {
    "table": "Table",
    "line": "Line",
    "bar": "Bar",
    "stacked": "Stacked bars",
    "scatter": "Scatter (2 metrics)",
    "pivot": "Pivot",
}
OP_LABELS = {
    "=": "=",
    "!=": "≠",
    "<": "<",
    "<=": "≤",
    ">": ">",
    ">=": "≥",
    "in": "in",
    "not_in": "not in",
    "between": "between",
}
DISPLAY_MAX = 5000  # rows the page draws; the CSV export holds more
MAX_METRICS = 8
MAX_DIMENSIONS = 4
MAX_FILTERS = 12
MAX_HAVING = 6
MATCHES = ("all", "any")  # the where texts: all must hold (AND) or any (OR)
TOTAL = "Total"


@dataclass(frozen=True)
class ExploreState:
    """What the URL says: metric names, dimension refs (``date:month``), filter texts."""

    metrics: tuple[str, ...] = ()
    by: tuple[str, ...] = ()
    where: tuple[str, ...] = ()
    chart: str = "table"
    order: tuple[str, ...] = ()
    limit: int | None = None
    match: str = "all"  # "any": a row matching one of the where texts is enough
    having: tuple[str, ...] = ()  # "metric op number" texts, ANDed


@dataclass(frozen=True)
class Plan:
    """The query the state asks for, minus what the model cannot answer (explained)."""

    state: ExploreState
    query: MetricQuery | None
    explanations: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExploreResult:
    plan: Plan
    result: QueryResult | None
    frame: pd.DataFrame
    truncated: bool = False
    pivot: pd.DataFrame | None = None
    notices: tuple[str, ...] = field(default_factory=tuple)


# --------------------------------------------------------------------------- URL state


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.strip() for p in (text or "").split(",") if p.strip()))


def state_from_args(args: Mapping[str, Any]) -> ExploreState:
    """The state of a URL's query arguments (a Flask/werkzeug MultiDict or a plain dict of
    strings / lists); QueryError naming the argument when one is malformed."""
    getlist = getattr(args, "getlist", None)

    def one(key: str) -> str | None:
        value = args.get(key)
        if isinstance(value, list | tuple):
            value = value[-1] if value else None
        if value is not None and not isinstance(value, str):
            raise QueryError(f"{key}: expected text, got {type(value).__name__}")
        return value

    where_raw = getlist("where") if getlist else args.get("where") or []
    where = (where_raw,) if isinstance(where_raw, str) else tuple(where_raw)
    if not all(isinstance(w, str) for w in where):
        raise QueryError("where: expected filter texts such as country = DE")
    having_raw = getlist("having") if getlist else args.get("having") or []
    having = (having_raw,) if isinstance(having_raw, str) else tuple(having_raw)
    if not all(isinstance(h, str) for h in having):
        raise QueryError("having: expected conditions on metrics such as revenue > 1000")
    match = (one("match") or "all").strip()
    if match not in MATCHES:
        raise QueryError(f"match: {match!r}: use all (every filter holds) or any (one is enough)")
    chart = (one("chart") or "table").strip()
    if chart not in CHARTS:
        raise QueryError(f"chart: {chart!r} is not a chart type; use one of {', '.join(CHARTS)}")
    limit_text = (one("limit") or "").strip()
    limit = whole_number(limit_text, "limit") if limit_text else None
    state = ExploreState(
        metrics=_names(one("metrics")),
        by=_names(one("by")),
        where=tuple(w.strip() for w in where if w.strip()),
        chart=chart,
        order=_names(one("order")),
        limit=limit,
        match=match,
        having=tuple(h.strip() for h in having if h.strip()),
    )
    if len(state.having) > MAX_HAVING:
        raise QueryError(f"having: at most {MAX_HAVING} metric conditions at once")
    if len(state.metrics) > MAX_METRICS:
        raise QueryError(f"metrics: at most {MAX_METRICS} at once")
    if len(state.by) > MAX_DIMENSIONS:
        raise QueryError(f"by: at most {MAX_DIMENSIONS} dimensions at once")
    if len(state.where) > MAX_FILTERS:
        raise QueryError(f"where: at most {MAX_FILTERS} filters at once")
    return state


def state_to_search(state: ExploreState) -> str:
    """``?metrics=…&by=…&where=…&chart=…`` (the inverse of :func:`state_from_args`)."""
    args: list[tuple[str, str]] = []
    if state.metrics:
        args.append(("metrics", ",".join(state.metrics)))
    if state.by:
        args.append(("by", ",".join(state.by)))
    args += [("where", w) for w in state.where]
    if state.match != "all":
        args.append(("match", state.match))
    args += [("having", h) for h in state.having]
    if state.chart != "table":
        args.append(("chart", state.chart))
    if state.order:
        args.append(("order", ",".join(state.order)))
    if state.limit is not None:
        args.append(("limit", str(state.limit)))
    return "?" + urlencode(args) if args else ""


def link_for(
    metrics: Sequence[str],
    by: Sequence[str],
    start: date,
    end: date,
    filters: Sequence[tuple[str, Sequence[str]]] = (),
    chart: str = "table",
    *,
    time_name: str,
    order: Sequence[str] = (),
) -> str:
    """The explorer's URL for a figure shown elsewhere (a Tier 1 chart): its metrics by its
    dimensions over ``start``…``end`` (on the model's time dimension ``time_name``) with
    the board's filters, values quoted; ``order`` as the explorer's (``-revenue``)."""
    where = [f"{time_name} between {start.isoformat()} and {end.isoformat()}"]
    for dim, values in filters:
        if values:
            where.append(f"{dim} in ({','.join(_quote(str(v)) for v in values)})")
    state = ExploreState(
        metrics=tuple(metrics), by=tuple(by), where=tuple(where), chart=chart, order=tuple(order)
    )
    return "/t2/explore" + state_to_search(state)


def state_from_search(search: str | None) -> ExploreState:
    from urllib.parse import parse_qs

    parsed = parse_qs((search or "").lstrip("?"), keep_blank_values=False)
    many = ("where", "having")
    return state_from_args({k: v if k in many else v[-1] for k, v in parsed.items()})


# --------------------------------------------------------------------------- the model's offer


def metric_groups(model: SemanticModel) -> list[tuple[str, list[Metric]]]:
    """Metrics grouped by the fact they aggregate ("across facts" for mixed ones)."""
    groups: dict[str, list[Metric]] = {}
    for metric in model.metrics.values():
        facts = sorted(metric_facts(model, metric.name))
        key = facts[0] if len(facts) == 1 else "across facts: " + ", ".join(facts)
        groups.setdefault(key, []).append(metric)
    return sorted(groups.items(), key=lambda kv: (kv[0].startswith("across"), kv[0]))


def dimension_refs(model: SemanticModel) -> list[tuple[str, str]]:
    """(ref, label) for every dimension, time dimensions once per grain."""
    refs: list[tuple[str, str]] = []
    for dim in model.dimensions.values():
        if dim.temporal:
            refs += [(f"{dim.name}:{g}", f"{dim.label} by {g}") for g in GRAINS]
        else:
            refs.append((dim.name, dim.label))
    return refs


def unreachable(model: SemanticModel, metrics: Sequence[str], ref: str) -> str | None:
    """Why ``ref`` cannot split ``metrics`` (None when it can)."""
    name = ref.partition(":")[0]
    dim = model.dimensions.get(name)
    if dim is None:
        return None
    for metric in metrics:
        if metric not in model.metrics:
            continue
        for fact in sorted(metric_facts(model, metric)):
            if name not in reachable_dimensions(model, fact):
                label = model.metrics[metric].label
                where = "has no time column" if dim.is_time else f"has no join path to {dim.table}"
                return (
                    f"{dim.label} cannot split {label}: {fact}, the table behind {label}, {where}."
                )
    return None


def _check_names(model: SemanticModel, state: ExploreState) -> None:
    for metric in state.metrics:
        if metric not in model.metrics:
            raise QueryError(f"metrics: unknown metric {metric!r}")
    for ref in state.by:
        name, _, grain = ref.partition(":")
        dim = model.dimensions.get(name)
        if dim is None:
            raise QueryError(f"by: unknown dimension {name!r}")
        if grain and (not dim.temporal or grain not in GRAINS):
            raise QueryError(
                f"by: {ref!r}: only the time dimension takes a grain ({', '.join(GRAINS)})"
            )


def plan(model: SemanticModel, state: ExploreState) -> Plan:
    """The MetricQuery of ``state``; incompatible dimensions and filters are dropped and
    explained. QueryError for unknown names or malformed filters."""
    _check_names(model, state)
    if not state.metrics:
        return Plan(state, None, ("Pick at least one metric.",))
    explanations: list[str] = []
    dims = []
    for ref in state.by:
        why = unreachable(model, state.metrics, ref)
        if why:
            explanations.append(why + " It is left out of the query.")
        else:
            dims.append(ref)
    filters: list[Condition] = []
    for text in state.where:
        cond = parse_condition(text, model)
        why = next(
            (
                w
                for f in filter_leaves(cond)
                if (w := unreachable(model, state.metrics, f.dimension))
            ),
            None,
        )
        if why:
            explanations.append(f"Filter “{text}” is not applied: {why}")
        else:
            filters.append(cond)
    if state.match == "any" and len(filters) > 1:
        filters = [AnyOf(tuple(filters))]
    having: list[Having] = []
    for text in state.having:
        condition = parse_having(text, model)
        why = next((w for d in dims if (w := unreachable(model, [condition.metric], d))), None)
        if why:
            explanations.append(f"Metric condition “{text}” is not applied: {why}")
        else:
            having.append(condition)
    chosen = set(state.metrics) | {d.partition(":")[0] for d in dims}
    order = tuple(o for o in state.order if o.lstrip("-") in chosen)
    if len(order) != len(state.order):
        explanations.append("Sorting by a column that is not in the result is ignored.")
    if state.chart == "scatter" and len(state.metrics) < 2:
        explanations.append("A scatter plot needs two metrics: pick a second one.")
    if state.chart == "pivot" and len(dims) < 2:
        explanations.append("A pivot needs two dimensions (rows and columns): pick another.")
    if state.chart == "pivot" and len(dims) > 2:
        explanations.append("A pivot has rows and columns: only the first two dimensions are used.")
        dims = dims[:2]
    if state.chart in ("line", "bar", "stacked") and not dims:
        explanations.append("Pick a dimension to chart the metric by.")
    query = MetricQuery(
        metrics=state.metrics,
        dimensions=tuple(dims),
        filters=tuple(filters),
        order_by=order,
        limit=state.limit,
        having=tuple(having),
    )
    return Plan(state, query, tuple(explanations))


# --------------------------------------------------------------------------- running


def explore(state: ExploreState) -> ExploreResult:
    """Run the exploration for the signed-in user (through ``run()``) and, for a pivot,
    its totals."""
    model = current_model()
    the_plan = plan(model, state)
    if the_plan.query is None:
        return ExploreResult(the_plan, None, pd.DataFrame())
    query = the_plan.query
    display = min(query.limit or DISPLAY_MAX, DISPLAY_MAX)
    result = run(replace(query, limit=display + 1), tier=2)
    frame = result.frame
    truncated = len(frame) > display
    notices = list(result.notices)
    if truncated:
        frame = frame.head(display)
        notices.append(f"Showing the first {display:,} rows: export the CSV for all of them.")
    pivot = None
    if state.chart == "pivot" and len(query.dimensions) >= 2 and not frame.empty:
        pivot = pivot_table(query, frame)
    return ExploreResult(the_plan, result, frame, truncated, pivot, tuple(notices))


def _label(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "(none)"
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return str(value.isoformat() if hasattr(value, "isoformat") else value)


def pivot_table(query: MetricQuery, frame: pd.DataFrame) -> pd.DataFrame:
    """Rows = first dimension, columns = second, cells = first metric, with totals.

    Totals are queried (rows only, columns only, neither) rather than summed, so they are
    right for distinct counts and ratios too.
    """
    rows_ref, cols_ref = query.dimensions[0], query.dimensions[1]
    rows_dim, cols_dim = rows_ref.partition(":")[0], cols_ref.partition(":")[0]
    metric = query.metrics[0]
    base = replace(query, metrics=(metric,), order_by=(), limit=None)
    data = frame.assign(_r=frame[rows_dim].map(_label), _c=frame[cols_dim].map(_label))
    table = data.pivot_table(
        index="_r", columns="_c", values=metric, aggfunc="first", sort=False, dropna=False
    )
    row_tot = run(replace(base, dimensions=(rows_ref,)), tier=2).frame
    col_tot = run(replace(base, dimensions=(cols_ref,)), tier=2).frame
    grand = run(replace(base, dimensions=()), tier=2).frame
    table[TOTAL] = [
        dict(zip(row_tot[rows_dim].map(_label), row_tot[metric], strict=True)).get(r)
        for r in table.index
    ]
    totals = dict(zip(col_tot[cols_dim].map(_label), col_tot[metric], strict=True))
    totals[TOTAL] = grand[metric].iloc[0] if not grand.empty else None
    table.loc[TOTAL] = [totals.get(c) for c in table.columns]
    table.index.name = rows_dim
    table.columns.name = cols_dim
    return table


def export_source(state: ExploreState, cap: int) -> Any:
    """The exploration's full result (up to ``cap`` + 1 rows, so the export can tell it
    was cut) as a CSV RowSource, computed through ``run()``."""

    model = current_model()
    the_plan = plan(model, state)
    if the_plan.query is None:
        raise QueryError("Pick at least one metric to export.")
    query = the_plan.query
    limit = min(query.limit, cap + 1) if query.limit else cap + 1
    result = run(replace(query, limit=limit), tier=2)
    return RowSource(
        columns=list(result.columns),
        batches=frame_batches(result.frame),
        what="explore",
        detail={"search": state_to_search(state), "query_id": result.query_id},
    )


def having_text_of(metric: str, op: str, value: object) -> str:
    """The metric condition text the page's condition builder makes (checked by
    parse_having): ``revenue > 1000``, ``orders between 10 and 20``."""
    if op not in HAVING_OPS:
        raise QueryError(f"metric condition: unknown operator {op!r}")
    text = str(value if value is not None else "").strip()
    if not text:
        raise QueryError("metric condition: type a number")
    if op == "between" and " and " not in f" {text.lower()} ":
        raise QueryError("metric condition: between needs two numbers: 10 and 20")
    return f"{metric} {op} {text}"


def filter_text_of(dimension: str, op: str, value: str) -> str:
    """The filter text the page's filter builder makes (checked by parse_where)."""
    if op not in OPS:
        raise QueryError(f"filter: unknown operator {op!r}")
    text = (value or "").strip()
    if not text:
        raise QueryError("filter: type a value")
    word = "not in" if op == "not_in" else op
    if op in ("in", "not_in") and not text.startswith("("):
        text = f"({text})"
    return f"{dimension} {word} {text}"


def _period_end(start: date, grain: str) -> date:
    if grain == "week":
        return start + timedelta(days=6)
    if grain == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    if grain == "quarter":
        month = start.month + 3
        nxt = date(start.year + (month > 12), (month - 1) % 12 + 1, 1)
        return nxt - timedelta(days=1)
    if grain == "year":
        return date(start.year, 12, 31)
    return start


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def point_filters(
    model: SemanticModel, query: MetricQuery, values: Sequence[Any]
) -> tuple[list[str], list[str]]:
    """Filter texts selecting the rows behind one result row (``values`` = its dimension
    values, in ``query.dimensions`` order), and notes on what could not be filtered."""
    if len(values) != len(query.dimensions):
        raise QueryError("drill: the clicked point does not match the query's dimensions")
    texts, notes = [], []
    for ref, value in zip(query.dimensions, values, strict=True):
        name, _, grain = ref.partition(":")
        dim = model.dimensions[name]
        if value is None or value == "":
            notes.append(f"{dim.label} is empty for this point: rows are not filtered by it.")
            continue
        if not isinstance(value, str | int | float | bool):
            raise QueryError(f"drill: {dim.label}: expected a value, got {type(value).__name__}")
        if dim.temporal:
            try:
                start = date.fromisoformat(str(value)[:10])
            except ValueError:
                raise QueryError(f"drill: {dim.label}: {value!r} is not a date") from None
            end = _period_end(start, grain or "day")
            texts.append(
                f"{name} between {start.isoformat()} and {end.isoformat()}"
                if end != start
                else f"{name} = {start.isoformat()}"
            )
        else:
            texts.append(f"{name} = {_quote(str(value))}")
    return texts, notes
