"""What a Tier 1 board shows, as plain values: its state (from the URL) and every chart.

The whole state of a board is its query string: ``from``/``to`` (ISO days, inclusive),
one key per filtered dimension (comma-separated values) and ``drill`` (``dim:value`` steps,
comma-separated). ``parse_state`` reads it forgivingly (anything unknown becomes a notice
and is ignored) and ``encode_state`` writes it back, so a URL restores a view exactly.
All queries go through the one door (``queries.semantic.run.run`` with ``tier=1``), concurrently,
in the caller's request context so the user's row scope applies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, quote

import pandas as pd

from app.core.errors import QueryError, StarboardError
from app.core.runtime import Runtime, current_runtime
from queries.analysis.anomalies import DayAnomaly, daily_anomalies
from queries.boards.tier0 import board
from queries.boards.truncation import FETCH_LIMIT, Cut, label_of, rows_of, top_groups, top_rows
from queries.semantic import inputs
from queries.semantic.dimorder import display_sorted
from queries.semantic.graph import metric_facts, reachable_dimensions
from queries.semantic.jobs import Job, run_jobs
from queries.semantic.query import Filter, MetricQuery, days_between
from queries.semantic.run import current_model, latest_day, run
from queries.semantic.types import Board, Chart, Metric, SemanticModel

DEFAULT_DAYS = 28
BAR_LIMIT = 12
SERIES_LIMIT = 6  # lines or stacks per chart
TABLE_LIMIT = 200
OPTION_LIMIT = 1000
COHORT_MONTHS = 12
ANOMALY_PAD = 28  # days read either side of the range for the baseline
MAX_RANGE_DAYS = 400  # longer ranges: line charts by week, no anomaly markers
WORKERS = 8
PRESETS = (
    ("7d", "Last 7 days"),
    ("28d", "Last 28 days"),
    ("90d", "Last 90 days"),
    ("mtd", "This month"),
    ("last_month", "Last month"),
    ("qtd", "Quarter to date"),
)
RESERVED = ("from", "to", "drill")


@dataclass(frozen=True)
class State:
    """One view of a board: a date range, filters and drill steps."""

    start: date
    end: date  # inclusive
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    drill: tuple[tuple[str, str], ...] = ()

    def with_filter(self, dim: str, values: tuple[str, ...]) -> State:
        """This state with ``dim`` filtered to ``values`` (none: the filter removed)."""
        kept = tuple((d, v) for d, v in self.filters if d != dim)
        return replace(self, filters=tuple(sorted(kept + (((dim, values),) if values else ()))))

    def with_drill(self, steps: tuple[tuple[str, str], ...]) -> State:
        """This state with other drill steps."""
        return replace(self, drill=steps)


def preset_range(preset: str, latest: date) -> tuple[date, date]:
    """[first, last] day of a named preset, relative to the data's last day."""
    if preset.endswith("d") and preset[:-1].isascii() and preset[:-1].isdigit():
        return latest - timedelta(days=int(preset[:-1]) - 1), latest
    if preset == "mtd":
        return latest.replace(day=1), latest
    if preset == "last_month":
        last = latest.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if preset == "qtd":
        return latest.replace(month=(latest.month - 1) // 3 * 3 + 1, day=1), latest
    raise ValueError(f"unknown preset {preset!r}")


def _text(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def _day(text: str) -> date | None:
    """An ISO day within the calendar dates may take (``queries.semantic.inputs.day``), or None."""
    try:
        return inputs.day(text, "date")
    except QueryError:
        return None


def drill_chain(model: SemanticModel, dim: str) -> list[str]:
    """``dim`` and every dimension below it in its drill hierarchy."""
    chain = [dim]
    while (d := model.dimensions.get(chain[-1])) is not None and d.drill and d.drill not in chain:
        chain.append(d.drill)
    return chain


def board_dimensions(model: SemanticModel, board_: Board) -> list[str]:
    """Dimensions the board may be filtered by: its filter bar, its charts' `by` and the
    levels below them."""
    names: list[str] = [f for f in board_.filters if f in model.dimensions]
    for section in board_.sections:
        for chart in section.charts:
            if chart.by and chart.by in model.dimensions:
                names += drill_chain(model, chart.by)
    time_dim = model.time_dimension()
    return [n for n in dict.fromkeys(names) if not (time_dim and n == time_dim.name)]


def parse_query(search: str) -> dict[str, str]:
    """A ``?a=1&b=2`` string as a mapping (a repeated key: its values comma-joined)."""
    parsed = parse_qs((search or "").lstrip("?"), keep_blank_values=True)
    return {k: ",".join(v) for k, v in parsed.items()}


def parse_state(
    model: SemanticModel,
    board_: Board,
    params: Mapping[str, object],
    latest: date,
    known: Mapping[str, set[str]] | None = None,
) -> tuple[State, list[str]]:
    """The board state a query string asks for, and a notice for everything ignored.

    ``known`` maps a dimension to the values the user may pick (see ``dimension_values``);
    a value outside it is ignored.
    """
    notices: list[str] = []
    default_start, default_end = preset_range(f"{DEFAULT_DAYS}d", latest)
    start_text, end_text = _text(params.get("from")), _text(params.get("to"))
    start, end = _day(start_text) if start_text else None, _day(end_text) if end_text else None
    days = f"(YYYY-MM-DD, {inputs.EARLIEST_DAY:%Y-%m-%d} to {inputs.LATEST_DAY:%Y-%m-%d})"
    if start_text and start is None:
        notices.append(
            f"“{start_text[:40]}” is not a date {days}: the range starts on the default day."
        )
    if end_text and end is None:
        notices.append(
            f"“{end_text[:40]}” is not a date {days}: the range ends on the default day."
        )
    if start is None and end is None:
        start, end = default_start, default_end
    elif start is None:
        assert end is not None
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    elif end is None:
        end = min(latest, start + timedelta(days=DEFAULT_DAYS - 1))
    if start > end:
        notices.append("The range ended before it started: the two days were swapped.")
        start, end = end, start
    allowed = board_dimensions(model, board_)
    filters: list[tuple[str, tuple[str, ...]]] = []
    for key, raw in params.items():
        if key in RESERVED:
            continue
        if key not in allowed:
            notices.append(f"“{key[:40]}” is not a filter of this board: ignored.")
            continue
        values = tuple(dict.fromkeys(v.strip() for v in _text(raw).split(",") if v.strip()))
        values = _known(model, key, values, known, notices)
        if values:
            filters.append((key, values))
    drill: list[tuple[str, str]] = []
    chart_dims = {c.by for s in board_.sections for c in s.charts if c.by}
    for step in (s for s in _text(params.get("drill")).split(",") if s.strip()):
        dim, sep, value = step.partition(":")
        dim, value = dim.strip(), value.strip()
        parent_ok = dim in chart_dims or any(model.dimensions[d].drill == dim for d, _ in drill)
        spec = model.dimensions.get(dim)
        why = None
        if not sep:
            why = "a drill step is dimension:value"
        elif spec is None:
            why = f"“{dim[:40]}” is not a dimension"
        elif not spec.drill:
            why = f"{spec.label.lower()} has no level below it to drill into"
        elif not parent_ok:
            why = f"no chart of this board shows {spec.label.lower()}"
        elif any(d == dim for d, _ in drill):
            why = f"{spec.label.lower()} is drilled into already"
        if why is not None:
            notices.append(f"“{step[:60]}” is not a drill step of this board ({why}): ignored.")
            continue
        if _known(model, dim, (value,), known, notices):
            drill.append((dim, value))
    return State(start, end, tuple(sorted(filters)), tuple(drill)), notices


def _known(
    model: SemanticModel,
    dim: str,
    values: tuple[str, ...],
    known: Mapping[str, set[str]] | None,
    notices: list[str],
) -> tuple[str, ...]:
    if known is None or dim not in known:
        return values
    label = model.dimensions[dim].label.lower()
    kept = tuple(v for v in values if v in known[dim])
    for bad in (v for v in values if v not in known[dim]):
        notices.append(f"“{bad[:60]}” is not a {label} you can filter by: ignored.")
    return kept


def encode_state(state: State) -> str:
    """The query string (with its ``?``) that restores ``state``."""

    def q(text: str) -> str:
        return quote(text, safe="")

    parts = [f"from={state.start.isoformat()}", f"to={state.end.isoformat()}"]
    parts += [f"{q(dim)}={','.join(q(v) for v in values)}" for dim, values in state.filters]
    if state.drill:
        parts.append("drill=" + ",".join(f"{q(d)}:{q(v)}" for d, v in state.drill))
    return "?" + "&".join(parts)


def count_metric(model: SemanticModel, dim: str) -> str | None:
    """An additive metric whose fact reaches ``dim``; one a rollup holds with it first."""
    candidates = [
        m
        for m in model.metrics.values()
        if m.kind == "aggregate"
        and m.additive
        and m.fact
        and model.tables[m.fact].kind == "fact"
        and dim in reachable_dimensions(model, m.fact)
    ]
    for metric in candidates:
        if any(metric.name in r.metrics and dim in r.dimensions for r in model.rollups.values()):
            return metric.name
    return candidates[0].name if candidates else None


def filter_dimensions(model: SemanticModel, board_: Board) -> tuple[str, ...]:
    """The board's filter bar: its ``filters:`` that are dimensions, the time one aside."""
    time_dim = model.time_dimension()
    return tuple(
        f for f in board_.filters if f in model.dimensions and not (time_dim and f == time_dim.name)
    )


def filter_options(
    name: str, dims: Sequence[str], runtime: Runtime | None = None
) -> list[list[str]]:
    """The values the signed-in user may pick in each of Tier 1 board ``name``'s filters
    ``dims``; QueryError when one is not in the board's ``filters:`` (the options callback
    must not list an arbitrary dimension, such as every user id)."""
    runtime = runtime or current_runtime()
    model = current_model(runtime)
    allowed = filter_dimensions(model, board(name, 1))
    for dim in dims:
        if dim not in allowed:
            raise QueryError(
                f"“{dim[:40]}” is not a filter of this board: its values are not listed."
            )
    options = []
    for dim in dims:
        try:
            options.append(dimension_values(dim, runtime))
        except StarboardError:  # e.g. a dimension the user may not see: no options
            options.append([])
    return options


def dimension_values(dim: str, runtime: Runtime | None = None) -> list[str]:
    """Values of ``dim`` the signed-in user may see (row scope applied by ``run``)."""
    runtime = runtime or current_runtime()
    model = current_model(runtime)
    metric = count_metric(model, dim)
    if metric is None:
        return []
    frame = run(
        MetricQuery((metric,), (dim,), order_by=(dim,), limit=OPTION_LIMIT), tier=1, runtime=runtime
    ).frame
    return [str(v) for v in frame[dim] if v is not None and not _missing(v)]


def _missing(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


# --------------------------------------------------------------------------- the view


@dataclass(frozen=True)
class Series:
    """One line or stack: its name (a dimension value or a metric label), x and y."""

    name: str
    x: tuple[Any, ...]
    y: tuple[float | None, ...]
    value: str | None = None  # the dimension value, when split
    anomalies: tuple[DayAnomaly, ...] = ()


@dataclass(frozen=True)
class ChartView:
    """One chart's data, ready for a figure."""

    index: int
    chart: Chart
    title: str
    by: str | None = None  # the dimension after drill steps
    metrics: tuple[Metric, ...] = ()
    series: tuple[Series, ...] = ()
    frame: pd.DataFrame | None = None  # table, breakdown, funnel, cohort
    drillable: bool = False
    note: str = ""
    error: str | None = None
    cut: Cut | None = None  # what the chart (bars, series, rows) left out
    table_cut: Cut | None = None  # a breakdown's table: the rows past TABLE_LIMIT


@dataclass(frozen=True)
class StandOut:
    """One line of the "what stands out" panel."""

    chart: str
    series: str
    anomaly: DayAnomaly
    fmt: str


@dataclass(frozen=True)
class Tier1View:
    board: Board
    state: State
    latest: date
    notices: tuple[str, ...]
    sections: tuple[tuple[str, tuple[ChartView, ...]], ...] = ()
    stand_out: tuple[StandOut, ...] = ()
    filter_dims: tuple[str, ...] = ()
    grain: str = "day"
    extra: dict[str, Any] = field(default_factory=dict)


def tier1_boards(model: SemanticModel | None = None) -> list[Board]:
    """The model's Tier 1 boards, in model order."""
    model = model or current_model()
    return [b for b in model.boards.values() if b.tier == 1]


def _reaches(model: SemanticModel, metrics: tuple[str, ...], dim: str) -> bool:
    facts = set().union(*(metric_facts(model, m) for m in metrics)) if metrics else set()
    return bool(facts) and all(dim in reachable_dimensions(model, f) for f in facts)


def _chart_metrics(chart: Chart) -> tuple[str, ...]:
    return chart.metrics or ((chart.metric,) if chart.metric else ())


def split_by(
    model: SemanticModel, names: tuple[str, ...], by: str | None
) -> tuple[tuple[str, ...], list[str]]:
    """The metrics of a chart that can be grouped by ``by``, and the labels of the others.

    The model checks every chart's own ``by``; a drill step moves it down a level (channel
    group → channel → campaign) that one of the chart's metrics may not reach (new users
    have an acquisition channel, not a campaign): that metric is left out and the chart says
    so, instead of the whole chart failing."""
    if not by or by not in model.dimensions or model.dimensions[by].is_time:
        return names, []
    kept = tuple(m for m in names if _reaches(model, (m,), by))
    return kept, [model.metrics[m].label for m in names if m not in kept]


def effective_by(model: SemanticModel, by: str | None, state: State) -> str | None:
    """The dimension a chart groups by once the state's drill steps are applied."""
    steps = dict(state.drill)
    while by in steps and model.dimensions[by].drill:
        by = model.dimensions[by].drill
    return by


def _filters(
    model: SemanticModel, metrics: tuple[str, ...], state: State
) -> tuple[list[Filter], list[str]]:
    """The state's filters that reach every fact of ``metrics``, and the ones that do not."""
    wanted: list[tuple[str, str, object]] = [(d, "in", tuple(v)) for d, v in state.filters]
    wanted += [(d, "=", v) for d, v in state.drill]
    kept, skipped = [], []
    for dim, op, value in wanted:
        if _reaches(model, metrics, dim):
            kept.append(Filter(dim, op, value))
        else:
            skipped.append(model.dimensions[dim].label)
    return kept, list(dict.fromkeys(skipped))


def _grain(state: State) -> str:
    return "day" if (state.end - state.start).days < MAX_RANGE_DAYS else "week"


def chart_jobs(model: SemanticModel, board_: Board, state: State, latest: date) -> list[Job]:
    """Every query the board runs for ``state``."""
    jobs: list[Job] = []
    time = model.time_name("a Tier 1 board")
    charts = [c for s in board_.sections for c in s.charts]
    length = (state.end - state.start).days + 1
    prev_end = state.start - timedelta(days=1)
    prev_start = prev_end - timedelta(days=length - 1)
    for i, chart in enumerate(charts):
        metrics = _chart_metrics(chart)
        if not metrics or any(m not in model.metrics for m in metrics):
            continue
        by = effective_by(model, chart.by, state)
        metrics, _ = split_by(model, metrics, by)
        if not metrics:
            continue
        filters, _ = _filters(model, metrics, state)
        window = days_between(time, state.start, state.end)
        if chart.type in ("line", "area"):
            grain = _grain(state)
            first, last = state.start, state.end
            if grain == "day":
                first = state.start - timedelta(days=ANOMALY_PAD)
                last = min(state.end + timedelta(days=ANOMALY_PAD), latest)
            dims = (f"{time}:{grain}",) + ((by,) if by and by != time else ())
            jobs.append(
                Job(f"{i}", MetricQuery(metrics, dims, (*filters, days_between(time, first, last))))
            )
        elif chart.type == "bar" and by:
            jobs.append(
                Job(
                    f"{i}",
                    MetricQuery(
                        metrics[:1],
                        (by,),
                        (*filters, window),
                        order_by=(f"-{metrics[0]}",),
                        limit=FETCH_LIMIT,  # BAR_LIMIT drawn; the rest counted
                    ),
                )
            )
        elif chart.type == "stacked_bar" and by:
            grain = "week" if length > 31 else "day"
            jobs.append(
                Job(f"{i}", MetricQuery(metrics[:1], (f"{time}:{grain}", by), (*filters, window)))
            )
        elif chart.type == "table" and by:
            jobs.append(
                Job(
                    f"{i}",
                    MetricQuery(
                        metrics,
                        (by,),
                        (*filters, window),
                        order_by=(f"-{metrics[0]}",),
                        limit=FETCH_LIMIT,  # TABLE_LIMIT shown; the rest counted
                    ),
                )
            )
        elif chart.type == "breakdown" and by:
            jobs.append(Job(f"{i}", MetricQuery(metrics, (by,), (*filters, window))))
            jobs.append(
                Job(
                    f"{i}:prev",
                    MetricQuery(
                        metrics, (by,), (*filters, days_between(time, prev_start, prev_end))
                    ),
                )
            )
            jobs.append(Job(f"{i}:total", MetricQuery(metrics, (), (*filters, window))))
        elif chart.type == "funnel":
            jobs.append(Job(f"{i}", MetricQuery(metrics, (), (*filters, window))))
        elif chart.type == "cohort":
            options = dict(chart.options)
            cohort_dim = options.get("cohort", "")
            first = _month_start(state.end, COHORT_MONTHS - 1)
            cohort_window = days_between(time, first, state.end)
            if cohort_dim in model.dimensions:
                jobs.append(
                    Job(
                        f"{i}",
                        MetricQuery(
                            metrics[:1], (cohort_dim, f"{time}:month"), (*filters, cohort_window)
                        ),
                    )
                )
            size = cohort_size_metric(model, chart)
            if size is not None:
                size_filters, _ = _filters(model, (size,), state)
                jobs.append(
                    Job(
                        f"{i}:size",
                        MetricQuery((size,), (f"{time}:month",), (*size_filters, cohort_window)),
                    )
                )
    return jobs


def cohort_size_metric(model: SemanticModel, chart: Chart) -> str | None:
    """The metric that sizes a cohort: the chart's ``size`` option, else the first additive
    metric counting rows of the table the cohort dimension lives on (one row per member)."""
    options = dict(chart.options)
    if options.get("size") in model.metrics:
        return options["size"]
    dim = model.dimensions.get(options.get("cohort", ""))
    if dim is None or dim.table is None:
        return None
    return next(
        (
            m.name
            for m in model.metrics.values()
            if m.kind == "aggregate" and m.fact == model.physical(dim.table) and m.additive
        ),
        None,
    )


def _month_start(day: date, back: int) -> date:
    month = day.year * 12 + day.month - 1 - back
    return date(month // 12, month % 12 + 1, 1)


def run_all(jobs: list[Job], runtime: Runtime) -> dict[str, pd.DataFrame | StarboardError]:
    """Run the jobs concurrently as Tier 1 queries; each result is a frame or its error."""
    return run_jobs(jobs, runtime, tier=1)


def tier1_view(name: str, params: Mapping[str, object]) -> Tier1View:
    """Every chart of Tier 1 board ``name`` for the state in the URL."""
    runtime = current_runtime()
    model = current_model(runtime)
    board_ = board(name, 1)
    latest = latest_day(runtime)
    if latest is None:
        raise QueryError("The warehouse holds no dated facts yet: nothing to report.")
    allowed = board_dimensions(model, board_)
    asked = [k for k in params if k not in RESERVED and k in allowed]
    asked += [
        s.partition(":")[0].strip()
        for s in _text(params.get("drill")).split(",")
        if s.partition(":")[0].strip() in allowed
    ]
    known = {d: set(dimension_values(d, runtime)) for d in dict.fromkeys(asked)}
    state, notices = parse_state(model, board_, params, latest, known)
    results = run_all(chart_jobs(model, board_, state, latest), runtime)
    sections = []
    stand_out: list[StandOut] = []
    index = 0
    for section in board_.sections:
        views = []
        for chart in section.charts:
            view = _chart(model, chart, index, state, latest, results)
            views.append(view)
            fmt = view.metrics[0].value_format if view.metrics else "number"
            for series in view.series:
                stand_out += [StandOut(view.title, series.name, a, fmt) for a in series.anomalies]
            index += 1
        sections.append((section.title, tuple(views)))
    stand_out.sort(key=lambda s: -abs(s.anomaly.z))
    return Tier1View(
        board_,
        state,
        latest,
        tuple(notices),
        tuple(sections),
        tuple(stand_out),
        filter_dimensions(model, board_),
        _grain(state),
    )


def _number(value: object) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _title(
    model: SemanticModel, chart: Chart, metrics: tuple[Metric, ...], by: str | None, state: State
) -> str:
    given = dict(chart.options).get("title")
    if given:
        return given
    label = " and ".join(m.label for m in metrics) if metrics else "?"
    if chart.type in ("breakdown", "table") and metrics:
        label = metrics[0].label
    dim = model.dimensions.get(by or "")
    if chart.type == "funnel":
        return " → ".join(m.label for m in metrics)
    if chart.type == "cohort":
        return f"{label}: share of each signup cohort, by month since signup"
    if chart.type in ("line", "area"):
        split = f" by {dim.label.lower()}" if dim and not dim.is_time else ""
        return f"{label} by {_grain(state)}{split}"
    return f"{label} by {dim.label.lower() if dim else by}"


def _chart(
    model: SemanticModel,
    chart: Chart,
    index: int,
    state: State,
    latest: date,
    results: Mapping[str, pd.DataFrame | StarboardError],
) -> ChartView:
    names = _chart_metrics(chart)
    metrics = tuple(model.metrics[m] for m in names if m in model.metrics)
    by = effective_by(model, chart.by, state)
    view = ChartView(index, chart, _title(model, chart, metrics, by, state), by, metrics)
    if len(metrics) != len(names):
        return replace(view, error="This chart names a metric the model does not have.")
    names, dropped = split_by(model, names, by)
    by_label = model.dimensions[by].label.lower() if dropped and by else ""
    if not names:
        return replace(
            view,
            error=f"None of this chart's metrics can be split by {by_label}: their data "
            "has no such dimension.",
        )
    metrics = tuple(model.metrics[m] for m in names)
    view = replace(view, metrics=metrics)
    _, skipped = _filters(model, names, state)
    notes = []
    if skipped:
        notes.append(f"Not filtered by {', '.join(skipped)}: its data has no such dimension.")
    if dropped:
        notes.append(
            f"{', '.join(dropped)} not shown by {by_label}: its data has no such dimension."
        )
    note = " ".join(notes)
    view = replace(view, note=note)
    result = results.get(str(index))
    if isinstance(result, StarboardError):
        return replace(view, error=result.message)
    if result is None:
        return replace(view, error=f"A {chart.type} chart needs `by` or options it lacks.")
    dim = model.dimensions.get(by or "")
    drillable = bool(dim and dim.drill and not dim.is_time)
    view = replace(view, drillable=drillable)
    if chart.type in ("line", "area"):
        series, cut = _lines(model, result, metrics, by, state, latest)
        return replace(view, series=series, cut=cut)
    if chart.type == "stacked_bar":
        series, cut = _stacks(result, model.time_name("a stacked bar chart"), metrics[0], by or "")
        return replace(view, series=series, cut=cut)
    if chart.type == "bar":
        frame, cut = top_rows(result, metrics[0].name, BAR_LIMIT, metrics[0], fetched=FETCH_LIMIT)
        # the top values by the metric, drawn in the dimension's own order (buckets)
        return replace(view, frame=display_sorted(frame, dim, by or ""), cut=cut)
    if chart.type == "table":
        frame = result.dropna(how="all", subset=[m.name for m in metrics])
        frame, cut = top_rows(
            frame,
            metrics[0].name,
            TABLE_LIMIT,
            metrics[0],
            fetched=FETCH_LIMIT,
            require_value=False,
        )
        if cut is not None and len(result) >= FETCH_LIMIT:
            cut = replace(cut, at_least=True, size=None)
        return replace(view, frame=frame, cut=cut)
    if chart.type == "breakdown":
        frame = breakdown_frame(
            result,
            results.get(f"{index}:prev"),
            results.get(f"{index}:total"),
            metrics,
            by or "",
        )
        _, cut = top_rows(frame, metrics[0].name, BAR_LIMIT, metrics[0])
        _, table_cut = top_rows(
            frame, metrics[0].name, TABLE_LIMIT, metrics[0], require_value=False
        )
        return replace(view, frame=frame, cut=cut, table_cut=table_cut)
    if chart.type == "funnel":
        return replace(view, frame=funnel_frame(result, metrics))
    if chart.type == "cohort":
        size = results.get(f"{index}:size")
        if isinstance(size, StarboardError):
            return replace(view, error=size.message)
        options = dict(chart.options)
        size_name = cohort_size_metric(model, chart) or ""
        frame = cohort_frame(
            result,
            size if isinstance(size, pd.DataFrame) else None,
            metrics[0].name,
            options.get("cohort", ""),
            size_name,
            _month_start(state.end, COHORT_MONTHS - 1),
            model.time_name("a cohort chart"),
        )
        size_skipped: list[str] = []
        if size_name:
            _, size_skipped = _filters(model, (size_name,), state)
        if size_skipped:
            note = (note + " " if note else "") + (
                f"Cohort sizes are not filtered by {', '.join(size_skipped)}."
            )
        return replace(view, frame=frame, note=note)
    return view


def _daily(
    frame: pd.DataFrame, time: str, metric: Metric, first: date, last: date, grain: str
) -> tuple[list[date], list[float | None]]:
    values = {
        pd.Timestamp(d).date(): _number(v)
        for d, v in zip(frame[time], frame[metric.name], strict=True)
    }
    if grain != "day":
        days = sorted(values)
        return days, [values[d] for d in days]
    days = [first + timedelta(days=k) for k in range((last - first).days + 1)]
    # a day without rows counted nothing (a balance, over_time, has no value that day)
    fill = 0.0 if metric.kind == "aggregate" and not metric.over_time else None
    return days, [values.get(d, fill) for d in days]


def _lines(
    model: SemanticModel,
    frame: pd.DataFrame,
    metrics: tuple[Metric, ...],
    by: str | None,
    state: State,
    latest: date,
) -> tuple[tuple[Series, ...], Cut | None]:
    grain = _grain(state)
    time = model.time_name("a line chart")
    first = state.start - timedelta(days=ANOMALY_PAD)
    last = min(state.end + timedelta(days=ANOMALY_PAD), latest)
    groups: list[tuple[str, str | None, pd.DataFrame, Metric]] = []
    cut = None
    if by and by != time and by in frame.columns:
        metric = metrics[0]
        # ranked (and the cut sized) over the days shown, not the anomaly baseline's padding
        on = pd.to_datetime(frame[time]).dt.date
        in_range = frame[(on >= state.start) & (on <= state.end)]
        keep, cut = top_groups(in_range, by, metric.name, SERIES_LIMIT, metric)
        for value in keep:
            name = label_of(value)
            groups.append(
                (name, None if name != str(value) else name, rows_of(frame, by, value), metric)
            )
    else:
        groups = [(m.label, None, frame, m) for m in metrics]
    out = []
    for name, value, part, metric in groups:
        days, ys = _daily(part, time, metric, first, last, grain)
        # a trailing window's (or running total's) days overlap: they are not judged
        judged = grain == "day" and metric.kind != "time"
        found = (
            daily_anomalies(days, ys, counts=metric.kind == "aggregate" and not metric.over_time)
            if judged
            else []
        )
        shown = [(d, y) for d, y in zip(days, ys, strict=True) if state.start <= d <= state.end]
        out.append(
            Series(
                name,
                tuple(d for d, _ in shown),
                tuple(y for _, y in shown),
                value,
                tuple(a for a in found if state.start <= a.day <= state.end),
            )
        )
    return tuple(out), cut


def _stacks(
    frame: pd.DataFrame, time: str, metric: Metric, by: str
) -> tuple[tuple[Series, ...], Cut | None]:
    keep, cut = top_groups(frame, by, metric.name, SERIES_LIMIT, metric)
    periods = sorted({pd.Timestamp(d).date() for d in frame[time]})
    out = []
    for value in keep:
        part = rows_of(frame, by, value)
        got = {
            pd.Timestamp(d).date(): _number(v)
            for d, v in zip(part[time], part[metric.name], strict=True)
        }
        name = label_of(value)
        out.append(
            Series(
                name,
                tuple(periods),
                tuple(got.get(p, 0.0) for p in periods),
                None if name != str(value) else name,
            )
        )
    return tuple(out), cut


def funnel_frame(frame: pd.DataFrame, metrics: tuple[Metric, ...]) -> pd.DataFrame:
    """Funnel steps: value, conversion from the previous step and from the first."""
    values = [_number(frame[m.name].iloc[0]) if len(frame) else None for m in metrics]
    rows = []
    for i, (metric, value) in enumerate(zip(metrics, values, strict=True)):
        prev, top = (values[i - 1] if i else None), values[0]
        rows.append(
            {
                "step": metric.label,
                "metric": metric.name,
                "value": value,
                "from_previous": value / prev if value is not None and prev else None,
                "from_first": value / top if value is not None and top else None,
            }
        )
    return pd.DataFrame(rows)


def cohort_frame(
    frame: pd.DataFrame,
    size: pd.DataFrame | None,
    metric: str,
    cohort: str,
    size_metric: str,
    first: date,
    time: str,
) -> pd.DataFrame:
    """Rows: signup month, months since signup, active users, cohort size, share active.

    Each user has one signup date, so distinct users per (signup day, activity month) add
    up to distinct users per (signup month, activity month)."""
    columns = ["cohort", "age", "active", "size", "share"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    signup = pd.to_datetime(frame[cohort])
    month = pd.to_datetime(frame[time])
    data = pd.DataFrame(
        {
            "key": signup.dt.year * 12 + signup.dt.month - 1,
            "age": (month.dt.year * 12 + month.dt.month) - (signup.dt.year * 12 + signup.dt.month),
            "active": frame[metric].astype("float64"),
        }
    )
    data = data[data["key"] >= first.year * 12 + first.month - 1]
    data = (
        data[data["age"] >= 0].groupby(["key", "age"], as_index=False).agg(active=("active", "sum"))
    )
    data["cohort"] = [date(int(k) // 12, int(k) % 12 + 1, 1) for k in data["key"]]
    sizes: dict[date, float | None] = {}
    if size is not None and not size.empty:
        sizes = {
            pd.Timestamp(d).date(): _number(v)
            for d, v in zip(size[time], size[size_metric], strict=True)
        }
    data["size"] = [sizes.get(c) for c in data["cohort"]]
    data["share"] = pd.Series(
        [a / s if s else math.nan for a, s in zip(data["active"], data["size"], strict=True)],
        index=data.index,
        dtype="float64",
    )
    return data[columns].sort_values(["cohort", "age"]).reset_index(drop=True)


def breakdown_frame(
    current: pd.DataFrame, previous: object, total: object, metrics: tuple[Metric, ...], by: str
) -> pd.DataFrame:
    """Per value of ``by``: each metric, its share of the total (additive metrics) and its
    change against the previous period of equal length."""
    out = current[[by]].copy()
    prev = previous if isinstance(previous, pd.DataFrame) else None
    tot = total if isinstance(total, pd.DataFrame) and len(total) else None
    for metric in metrics:
        name = metric.name
        out[name] = [_number(v) for v in current[name]]
        whole = _number(tot[name].iloc[0]) if tot is not None else None
        if metric.additive and whole:  # a median's or a distinct count's parts do not add up
            out[f"{name}__share"] = [v / whole if v is not None else None for v in out[name]]
        before = {}
        if prev is not None:
            before = {k: _number(v) for k, v in zip(prev[by], prev[name], strict=True)}
        out[f"{name}__prev"] = [before.get(k) for k in current[by]]
        out[f"{name}__change"] = [
            (v - b) / abs(b) if v is not None and b else None
            for v, b in zip(out[name], out[f"{name}__prev"], strict=True)
        ]
    first = metrics[0].name
    return out.sort_values(first, ascending=False, na_position="last").reset_index(drop=True)
