"""What a Tier 0 board shows, as plain values: every tile and chart of one period.

All of a board's queries run at once through the one door (``queries.semantic.run.run`` with
``tier=0``, so a class D query is refused), each in the caller's request context so the
user's row scope applies. The page turns the result into components; nothing here knows
about Dash.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import pandas as pd

from app.core.errors import Problem, QueryError, StarboardError
from app.core.runtime import Runtime, current_runtime
from queries.analysis.changes import Anomaly, GoalStatus, anomaly, finite, goal_status
from queries.boards.truncation import FETCH_LIMIT, Cut, top_rows
from queries.semantic import periods
from queries.semantic.aggregates import is_order_statistic
from queries.semantic.dimorder import display_pairs
from queries.semantic.jobs import Job, run_jobs
from queries.semantic.periods import PeriodWindow
from queries.semantic.query import MetricQuery, in_window
from queries.semantic.run import current_model, explain, latest_day
from queries.semantic.types import Board, Chart, Metric, SemanticModel

HISTORY = 12  # periods in a BAN's sparkline
BAR_LIMIT = 12  # categories in a bar chart
MAX_POINTS = 400  # per chart series: aggregation belongs in SQL, not in the browser
TIER0_CHARTS = ("line", "bar", "area")


@dataclass(frozen=True)
class BanFigures:
    """One BAN tile's numbers."""

    metric: Metric
    value: float | None = None
    previous: float | None = None
    last_year: float | None = None
    previous_window: PeriodWindow | None = None
    last_year_window: PeriodWindow | None = None
    goal: float | None = None
    status: GoalStatus | None = None
    history: tuple[tuple[PeriodWindow, float | None], ...] = ()
    anomaly: Anomaly | None = None
    has_tree: bool = False
    no_data_reason: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class ChartFigures:
    """One chart's series."""

    chart: Chart
    metric: Metric | None
    title: str
    x: tuple[Any, ...] = ()
    y: tuple[float | None, ...] = ()
    compare: tuple[tuple[Any, ...], tuple[float | None, ...], str] | None = None
    goal: float | None = None
    note: str = ""
    error: str | None = None
    cut: Cut | None = None  # a bar chart: the values past its top BAR_LIMIT


@dataclass(frozen=True)
class SectionView:
    title: str
    bans: tuple[BanFigures, ...] = ()
    charts: tuple[ChartFigures, ...] = ()


@dataclass(frozen=True)
class Tier0View:
    board: Board
    window: PeriodWindow
    latest: date
    complete: bool
    elapsed: float
    notice: str | None
    previous_key: str
    next_key: str | None
    sections: tuple[SectionView, ...] = field(default_factory=tuple)
    notices: tuple[str, ...] = ()


def tier0_boards(model: SemanticModel | None = None) -> list[Board]:
    """The model's Tier 0 boards, in model order."""
    model = model or current_model()
    return [b for b in model.boards.values() if b.tier == 0]


def tier1_board_for(metric: str) -> str | None:
    """The first Tier 1 board with a tile or chart of ``metric``, if any."""
    for candidate in current_model().boards.values():
        if candidate.tier != 1:
            continue
        for section in candidate.sections:
            if metric in section.bans or any(
                metric == c.metric or metric in c.metrics for c in section.charts
            ):
                return candidate.name
    return None


def board(name: str, tier: int) -> Board:
    """The board ``name`` of ``tier``; QueryError naming the boards there are."""
    model = current_model()
    found = model.boards.get(name)
    if found is None or found.tier != tier:
        names = ", ".join(b.name for b in model.boards.values() if b.tier == tier) or "none"
        raise QueryError(f"There is no Tier {tier} board {name!r}. Tier {tier} boards: {names}.")
    return found


def _shift_year(value: Any, grain: str) -> Any:
    """Move last year's x value onto this year's axis (weeks by 52 weeks: same weekday)."""
    day = pd.Timestamp(value).date()
    if grain in ("day", "week"):
        return day + timedelta(weeks=52)
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def _whole(grain: str, start: date, end: date) -> tuple[date, date]:
    """[start, end) shrunk to whole periods of ``grain``, so a trend has no partial first
    or last point that looks like a drop."""
    first = periods.window_containing(grain, start)
    if first.start != start:
        start = periods.next(first).start
    end = periods.window_containing(grain, end).start if end > start else end
    return start, max(start, end)


def board_jobs(model: SemanticModel, board_: Board, window: PeriodWindow) -> list[Job]:
    """Every query a Tier 0 board runs for ``window`` (also what `starboard check` costs)."""
    jobs: list[Job] = []
    time = model.time_name("a Tier 0 board")
    span = periods.history(window, HISTORY)
    first = min(span[0].start, periods.same_period_last_year(window).start)
    grain = window.grain
    for ban in dict.fromkeys(m for s in board_.sections for m in s.bans):
        jobs.append(
            Job(
                f"ban:{ban}",
                MetricQuery((ban,), (f"{time}:{grain}",), (in_window(time, first, window.end),)),
            )
        )
    for i, chart in enumerate(c for s in board_.sections for c in s.charts):
        metric = chart.metric or (chart.metrics[0] if chart.metrics else None)
        if metric is None or chart.type not in TIER0_CHARTS:
            continue
        if chart.type in ("line", "area") and (chart.by in (None, time)):
            chart_grain = chart.grain or grain
            start, end = _whole(chart_grain, span[0].start, window.end)
            jobs.append(
                Job(
                    f"chart:{i}",
                    MetricQuery(
                        (metric,), (f"{time}:{chart_grain}",), (in_window(time, start, end),)
                    ),
                )
            )
            if chart.compare == "previous_year":
                last = periods.same_period_last_year(window)
                last_start, last_end = _whole(
                    chart_grain, periods.history(last, HISTORY)[0].start, last.end
                )
                jobs.append(
                    Job(
                        f"chart:{i}:compare",
                        MetricQuery(
                            (metric,),
                            (f"{time}:{chart_grain}",),
                            (in_window(time, last_start, last_end),),
                        ),
                    )
                )
        elif chart.by:
            jobs.append(
                Job(
                    f"chart:{i}",
                    MetricQuery(
                        (metric,),
                        (chart.by,),
                        (in_window(time, window.start, window.end),),
                        order_by=(f"-{metric}",),
                        limit=FETCH_LIMIT,  # BAR_LIMIT drawn; the rest counted
                    ),
                )
            )
    return jobs


def tier0_view(name: str, period_text: str | list[str] | None = None) -> Tier0View:
    """Every tile and chart of Tier 0 board ``name`` for the period in the URL."""
    runtime = current_runtime()
    model = current_model(runtime)
    board_ = board(name, 0)
    latest = latest_day(runtime)
    if latest is None:
        raise QueryError("The warehouse holds no dated facts yet: nothing to report.")
    window, notice = periods.parse_board_period(period_text, board_.period, latest)
    results = run_jobs(board_jobs(model, board_, window), runtime)
    complete = periods.is_complete(window, latest)
    elapsed = periods.elapsed_fraction(window, latest)
    sections = []
    chart_index = 0
    for section in board_.sections:
        bans = tuple(_ban(model, m, window, latest, results.get(f"ban:{m}")) for m in section.bans)
        charts = []
        for chart in section.charts:
            charts.append(_chart(model, chart, chart_index, window, results))
            chart_index += 1
        sections.append(SectionView(section.title, bans, tuple(charts)))
    following = periods.next(window)
    return Tier0View(
        board=board_,
        window=window,
        latest=latest,
        complete=complete,
        elapsed=elapsed,
        notice=notice,
        previous_key=periods.previous(window).key,
        next_key=following.key if following.start <= latest else None,
        sections=tuple(sections),
    )


def _value_by_period(frame: pd.DataFrame, metric: str) -> dict[date, float | None]:
    """Period start → value; the frame's first column is the time dimension."""
    return {
        pd.Timestamp(d).date(): finite(v)
        for d, v in zip(frame.iloc[:, 0], frame[metric], strict=True)
    }


def _ban(
    model: SemanticModel,
    name: str,
    window: PeriodWindow,
    latest: date,
    result: pd.DataFrame | StarboardError | None,
) -> BanFigures:
    metric = model.metrics[name]
    figures = BanFigures(metric=metric, has_tree=name in model.tree)
    if isinstance(result, StarboardError):
        return replace(figures, error=result.message)
    if result is None:
        return replace(figures, error="This tile's query did not run.")
    values = _value_by_period(result, name)
    previous = periods.previous(window)
    last_year = periods.same_period_last_year(window)
    history = tuple((w, values.get(w.start)) for w in periods.history(window, HISTORY))
    value = values.get(window.start)
    goal = periods.goal_for(model.goals.get(name, {}), window)
    status = (
        goal_status(
            value,
            goal,
            elapsed_fraction=periods.elapsed_fraction(window, latest),
            direction=metric.direction,
            accumulates=metric.kind == "aggregate"
            and not is_order_statistic(metric.sql)
            and not metric.over_time,  # not a median, not a balance
        )
        if goal is not None
        else None
    )
    flagged = None
    if periods.is_complete(window, latest):  # a running period is not yet comparable
        flagged = anomaly(value, [v for _, v in history[:-1]])
    reason = None
    if value is None:
        reason = f"No {metric.label.lower()} recorded for {window.label}" + (
            "" if window.start <= latest else ": the period has not started"
        )
    return replace(
        figures,
        value=value,
        previous=values.get(previous.start),
        last_year=values.get(last_year.start),
        previous_window=previous,
        last_year_window=last_year,
        goal=goal,
        status=status,
        history=history,
        anomaly=flagged,
        no_data_reason=reason,
    )


def _chart(
    model: SemanticModel,
    chart: Chart,
    index: int,
    window: PeriodWindow,
    results: dict[str, pd.DataFrame | StarboardError],
) -> ChartFigures:
    name = chart.metric or (chart.metrics[0] if chart.metrics else None)
    metric = model.metrics.get(name) if name else None
    title = dict(chart.options).get("title") or _title(chart, metric, model, window)
    figures = ChartFigures(chart=chart, metric=metric, title=title)
    if chart.type not in TIER0_CHARTS:
        return replace(
            figures,
            error=f"A {chart.type} chart belongs on a Tier 1 board; "
            "Tier 0 shows line, bar and area charts.",
        )
    result = results.get(f"chart:{index}")
    if isinstance(result, StarboardError):
        return replace(figures, error=result.message)
    if result is None or metric is None:
        return replace(figures, error="This chart's query did not run.")
    column = result.columns[0]
    over_time = column == model.time_name("a chart")
    if not over_time:  # the top BAR_LIMIT bars with a value; the rest counted in the note
        result, cut = top_rows(result, metric.name, BAR_LIMIT, metric, fetched=FETCH_LIMIT)
        figures = replace(figures, cut=cut)
    x = tuple(pd.Timestamp(v).date() if over_time else v for v in result[column])
    y = tuple(finite(v) for v in result[metric.name])
    note = ""
    if not over_time:  # the top values by the metric, drawn in the dimension's own order
        x, y = display_pairs(x, y, model.dimensions.get(column))
    if len(x) > MAX_POINTS:
        return replace(
            figures,
            error=f"This chart would draw {len(x):,} points; Tier 0 charts "
            f"draw at most {MAX_POINTS}: give it a coarser grain in "
            "the model.",
        )
    compare = None
    if chart.compare == "goal" and over_time:
        goals = model.goals.get(metric.name, {})
        grain = chart.grain or window.grain
        targets = [periods.goal_for(goals, periods.window_containing(grain, d)) for d in x]
        if any(t is not None for t in targets):
            compare = (x, tuple(targets), "Goal")
    last = results.get(f"chart:{index}:compare")
    if isinstance(last, pd.DataFrame) and not last.empty:
        grain = chart.grain or window.grain
        compare = (
            tuple(_shift_year(v, grain) for v in last.iloc[:, 0]),
            tuple(finite(v) for v in last[metric.name]),
            "Previous year",
        )
    return replace(figures, x=x, y=y, compare=compare, note=note)


def _title(chart: Chart, metric: Metric | None, model: SemanticModel, window: PeriodWindow) -> str:
    label = metric.label if metric else "?"
    if chart.type in ("line", "area") and chart.by in (None, model.time_name("a chart")):
        grain = chart.grain or window.grain
        return f"{label} by {grain}, {HISTORY} {window.grain}s to {window.label}"
    dim = model.dimensions.get(chart.by or "")
    return f"{label} by {dim.label.lower() if dim else chart.by}, {window.label}"


def warm_tier0(runtime: Runtime) -> int:
    """Run every Tier 0 board's queries for its default and previous period (no row scope),
    filling the shared cache after a publish. Returns how many queries ran."""
    model = current_model(runtime)
    latest = latest_day(runtime)
    if latest is None:
        return 0
    ran = 0
    for board_ in tier0_boards(model):
        window = periods.default_period(board_.period, latest)
        for w in (window, periods.previous(window)):
            results = run_jobs(board_jobs(model, board_, w), runtime)
            ran += sum(1 for r in results.values() if isinstance(r, pd.DataFrame))
    return ran


def tier0_cost_problems(runtime: Runtime) -> list[Problem]:
    """Every query of every Tier 0 board (default period) that would be cost class D."""
    model = current_model(runtime)
    latest = latest_day(runtime)
    if latest is None:
        return []
    found = []
    for board_ in tier0_boards(model):
        window = periods.default_period(board_.period, latest)
        for job in board_jobs(model, board_, window):
            try:
                _sql, klass = explain(job.query, runtime=runtime)
            except StarboardError as exc:
                klass, detail = "error", exc.message
            else:
                detail = ""
            if klass in ("D", "error"):
                key = f"boards.{board_.name}"
                what = job.key.replace("ban:", "tile ").replace("chart:", "chart #")
                message = (
                    f"{what} would scan more than 10,000,000 rows (cost class D); "
                    "Tier 0 boards may only run class A-C queries: add a rollup that "
                    "fits it"
                    if klass == "D"
                    else f"{what} cannot run: {detail}"
                )
                found.append(Problem(str(model.path), model.line_of(key), key, message))
    return found
