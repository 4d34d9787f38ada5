"""The SQL of time-aware leaves (semantics: timewise.py), one branch per leaf.

Each branch is a subquery with the query's dimensions as ``d0, d1, …`` and the leaf's value
as ``v``, stacked by the compiler's drill-across with the other branches. Portable across
DuckDB and PostgreSQL: dates move by ``CAST(day ± INTERVAL 'n unit' AS DATE)``, periods are
``date_trunc``, ``LEAST``/``GREATEST`` ignore NULL bounds on both.

* window / to_date / cumulative / offset: the output periods (the fact's distinct periods
  at the query's grain that pass the time filters; one row for a BAN) with their last day
  and first day, range-joined to the fact rows in each period's window, grouped on the
  period and the other dimensions. Exact for any aggregate, distinct counts included.
  A top-level SUM or COUNT (not distinct) is joined the same way over its daily values per
  group instead of the rows (exact; from a day rollup when ``choose_rollup`` finds one).
  Every branch reads only the days its windows can reach (``timewise.rows_read``); in a
  grouped query a filtered metric's filter goes to WHERE, as for plain metrics.
* over_time first/last: the fact rows of the first (last) day with data in each output
  period, aggregated as usual.
* over_time average: the aggregate per day (and group), averaged per output period.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
import sqlglot
from sqlalchemy.sql.elements import ColumnElement
from sqlglot import exp

from queries.semantic import timewise
from queries.semantic.compile import (
    _condition,
    _date_range,
    _FactSource,
    _Plan,
    _reaches,
    _RollupSource,
    _scope_dims,
    _scope_predicates,
    _truncate,
)
from queries.semantic.query import RowScope
from queries.semantic.types import Rollup, SemanticModel, TimeOp

_Reader = _FactSource | _RollupSource

_STEP = {  # one period of a grain as an interval literal (units of a closed list)
    "day": "1 day",
    "week": "7 days",
    "month": "1 month",
    "quarter": "3 months",
    "year": "1 year",
}


def _shift(day: ColumnElement, interval: str, sign: int) -> ColumnElement:
    """``CAST(day ± INTERVAL 'interval' AS DATE)``."""
    step = sa.literal_column(f"INTERVAL '{interval}'", sa.Interval)
    return sa.cast(day + step if sign > 0 else day - step, sa.Date)


def _day(source: _Reader) -> ColumnElement:
    """A fact row's day (its time column as a DATE)."""
    return sa.cast(source.time_raw(), sa.Date)


class _Branch:
    """What every timed branch of one query shares: its dimensions, filters and scope."""

    def __init__(
        self,
        model: SemanticModel,
        plan: _Plan,
        fact: str,
        dialect: sa.engine.Dialect,
        scope: RowScope,
        rollup: Rollup | None = None,
    ) -> None:
        self.model, self.plan, self.fact, self.dialect, self.scope = (
            model,
            plan,
            fact,
            dialect,
            scope,
        )
        self.rollup = rollup  # a day rollup holding every leaf, dimension and filter
        time_dim = model.time_dimension()
        assert time_dim is not None
        self.time_dim = time_dim
        self.time_ref = next((d for d in plan.dims if d.dim.is_time), None)
        self.grain = (self.time_ref.grain or "day") if self.time_ref else None
        self.low, self.high = _date_range(plan.conds)
        self.time_conds = [c for c in plan.conds if c.ref.dim.is_time]
        self.other_conds = [c for c in plan.conds if not c.ref.dim.is_time]

    def source(self) -> _FactSource:
        """A fresh reading of the fact with every join the query needs."""
        needs = [self.time_dim, *(d.dim for d in self.plan.dims)]
        needs += [c.ref.dim for c in self.plan.conds]
        needs += [
            d
            for d in _scope_dims(self.model, self.scope)
            if d is not None and _reaches(self.model, self.fact, d)
        ]
        # the tables the leaves' sql and filter name (table.column) are joined too
        metrics = [
            timewise.split_leaf(key)[1]
            for key in self.plan.timed
            if timewise.leaf_fact(self.model, key) == self.fact
        ]
        return _FactSource(self.model, self.fact, self.dialect, needs, metrics)

    def reach(self, source: _Reader, key: str) -> list[ColumnElement]:
        """Bounds on the rows any window of ``key`` can read (from the time filters, bound
        values): the scan skips the rest; the windows' own conditions stay exact."""
        low, _ = timewise.rows_read(self.model, [key], (self.low, self.high), self.plan.dims)
        raw = source.time_raw()
        bounds = [] if low is None else [raw >= sa.literal(low, sa.Date)]
        if self.high is not None:
            bounds.append(raw < sa.literal(self.high + timedelta(days=1), sa.Date))
        return bounds

    def pushed(self, source: _Reader, leaf: str) -> list[ColumnElement]:
        """The leaf's own filter in WHERE for a grouped query (call before ``leaf()``): a
        group with no matching row then does not appear, as for a plain metric."""
        if not self.plan.dims or not isinstance(source, _FactSource):
            return []
        prefilter = source.prefilter([leaf])
        return [prefilter] if prefilter is not None else []

    def daily_source(self) -> _Reader:
        """The fact, or the day rollup that holds the query (for sums and counts)."""
        return _RollupSource(self.model, self.rollup) if self.rollup else self.source()

    def scoped(self, source: _Reader) -> tuple[list[ColumnElement], bool]:
        """The row-scope predicates for ``source``, and whether the scope denies the fact."""
        return _scope_predicates(self.model, source, self.fact, self.scope, self.plan.kinds)

    def time_only(self) -> _Reader:
        """A fresh reading of the fact joined only to its time column's table (or of the day
        rollup: it has a row for every day the fact has rows)."""
        if self.rollup is not None:
            return _RollupSource(self.model, self.rollup)
        return _FactSource(self.model, self.fact, self.dialect, [self.time_dim])


def branch(
    model: SemanticModel,
    plan: _Plan,
    key: str,
    dialect: sa.engine.Dialect,
    scope: RowScope,
    rollup: Rollup | None = None,
) -> tuple[sa.Subquery, bool]:
    """The subquery of one timed leaf (``d0…``, ``v``) and whether the scope denies its fact;
    ``rollup`` (from :func:`choose_rollup`) is read instead of the fact."""
    owner, leaf = timewise.split_leaf(key)
    shared = _Branch(model, plan, timewise.leaf_fact(model, key), dialect, scope, rollup)
    if owner is None:
        over_time = model.metrics[leaf].over_time
        if over_time == "average":
            return _average(shared, leaf, key)
        return _first_or_last(shared, leaf, key, last=over_time == "last")
    op = model.metrics[owner].time_op
    assert op is not None
    return _windowed(shared, op, leaf, key)


def _output_periods(b: _Branch) -> sa.Subquery:
    """Each output period: its key ``p`` (NULL for a BAN), ``first`` and ``last`` day.

    ``last`` is the period's last day clipped to the query's last filter day and to the
    fact's latest day; ``first`` the period's first day, no earlier than the first filter
    day (a BAN: the first filter day, else the fact's first day)."""
    whole = b.time_only()
    day = _day(whole)
    bounds = (
        sa.select(sa.func.min(day).label("first_day"), sa.func.max(day).label("last_day"))
        .select_from(whole.from_clause)
        .subquery("fact_days")
    )
    low: ColumnElement | None = sa.literal(b.low, sa.Date) if b.low is not None else None
    high: ColumnElement | None = sa.literal(b.high, sa.Date) if b.high is not None else None
    if b.grain is None:  # a BAN: the query's whole date range
        first = low if low is not None else bounds.c.first_day
        last = sa.func.least(high, bounds.c.last_day) if high is not None else bounds.c.last_day
        return (
            sa.select(
                sa.null().label("p"),
                sa.cast(first, sa.Date).label("period_first"),
                sa.cast(last, sa.Date).label("period_last"),
            )
            .select_from(bounds)
            .subquery("output_periods")
        )
    source = b.time_only()
    period = _truncate(source.time_raw(), b.grain)
    keys = (
        sa.select(period.label("p"))
        .select_from(source.from_clause)
        .where(*(_condition(source, c) for c in b.time_conds))
        .distinct()
        .subquery("periods")
    )
    start: ColumnElement = sa.func.greatest(keys.c.p, low) if low is not None else keys.c.p
    if b.grain == "day":  # a day with data is its own first and last day: nothing to clip
        columns = [keys.c.p, keys.c.p.label("period_first"), keys.c.p.label("period_last")]
        return sa.select(*columns).select_from(keys).subquery("output_periods")
    end = _shift(_shift(keys.c.p, _STEP[b.grain], 1), "1 day", -1)
    lasts = [end, *([high] if high is not None else []), bounds.c.last_day]
    return (
        sa.select(
            keys.c.p,
            sa.cast(start, sa.Date).label("period_first"),
            sa.cast(sa.func.least(*lasts), sa.Date).label("period_last"),
        )
        .select_from(keys.join(bounds, sa.true()))
        .subquery("output_periods")
    )


def _window_on(b: _Branch, op: TimeOp, time: ColumnElement, periods: sa.Subquery) -> ColumnElement:
    """The condition "a row at ``time`` (a DATE or TIMESTAMP) is in the window of its output
    period": ``time >= first day AND time < the day after the last``, sargable on both."""
    first, last = periods.c.period_first, periods.c.period_last
    after = _shift(last, "1 day", 1)
    if op.op == "window":
        assert op.days is not None
        start = _shift(last, f"{op.days - 1} days", -1) if op.days > 1 else last
        return sa.and_(time >= start, time < after)
    if op.op == "to_date":
        assert op.period is not None
        return sa.and_(time >= _truncate(last, op.period), time < after)
    if op.op == "cumulative":
        return time < after
    by = op.by if op.by != "period" else b.grain
    if by is None:  # a BAN, by period: the same number of days just before the range
        days = sa.cast(last, sa.Date) - sa.cast(first, sa.Date) + sa.literal_column("1")
        length = sa.cast(days, sa.Integer)  # DuckDB subtracts an INTEGER from a DATE only
        return sa.and_(time >= first - length, time < first)
    step = _STEP[by]
    # Shifting the first day and the day after the last keeps whole months whole.
    return sa.and_(time >= _shift(first, step, -1), time < _shift(after, step, -1))


def summable(model: SemanticModel, leaf: str) -> str | None:
    """ "sum" or "count" when the aggregate is one top-level SUM or COUNT (not distinct): its
    value over a window is then the sum of its daily values, exactly. None otherwise."""
    metric = model.metrics[leaf]
    if metric.over_time or not metric.sql:
        return None
    try:
        tree = sqlglot.parse_one(metric.sql)
    except sqlglot.errors.ParseError:
        return None
    if isinstance(tree, exp.Sum):
        return "sum"
    if isinstance(tree, exp.Count) and tree.find(exp.Distinct) is None:
        return "count"
    return None


def _windowed(b: _Branch, op: TimeOp, leaf: str, key: str) -> tuple[sa.Subquery, bool]:
    """window / to_date / cumulative / offset: output periods × the rows of their windows."""
    periods = _output_periods(b)
    kind = summable(b.model, leaf)
    if kind is not None:
        return _windowed_daily(b, op, leaf, key, periods, kind)
    source = b.source()
    on = _window_on(b, op, source.time_raw(), periods)
    columns = [periods.c.p if ref.dim.is_time else source.dim(ref) for ref in b.plan.dims]
    scoped, denied = b.scoped(source)
    predicates = [_condition(source, c) for c in b.other_conds] + scoped + b.pushed(source, leaf)
    predicates += b.reach(source, key)
    statement = (
        sa.select(*(c.label(f"d{i}") for i, c in enumerate(columns)), source.leaf(leaf).label("v"))
        .select_from(source.from_clause.join(periods, on))
        .where(*predicates)
        .group_by(*columns)
    )
    return statement.subquery(_name(key)), denied


def _windowed_daily(
    b: _Branch, op: TimeOp, leaf: str, key: str, periods: sa.Subquery, kind: str
) -> tuple[sa.Subquery, bool]:
    """A sum or count: the same windows over the daily values per group (one row per day
    and group instead of every fact row), summed. A group appears for a period exactly when
    one of its rows is in the window, as on the fact's rows."""
    source = b.daily_source()
    day = _day(source)
    others = [ref for ref in b.plan.dims if not ref.dim.is_time]
    scoped, denied = b.scoped(source)
    pushed = b.pushed(source, leaf)
    daily = (
        sa.select(
            day.label("day"),
            *(source.dim(ref).label(f"x{i}") for i, ref in enumerate(others)),
            source.leaf(leaf).label("v"),
        )
        .select_from(source.from_clause)
        .where(*(_condition(source, c) for c in b.other_conds), *scoped, *pushed)
        .where(*b.reach(source, key))
        .group_by(day, *(source.dim(ref) for ref in others))
    )
    if isinstance(source, _RollupSource) and b.plan.dims:
        matched = source.matched([leaf])  # the days and groups a filtered metric matched
        if matched is not None:
            daily = daily.having(matched)
    daily_sq = daily.subquery("daily")
    position = {ref.name: i for i, ref in enumerate(others)}
    columns = [
        periods.c.p if ref.dim.is_time else daily_sq.c[f"x{position[ref.name]}"]
        for ref in b.plan.dims
    ]
    total: ColumnElement = sa.func.sum(daily_sq.c.v)
    if kind == "count":  # a count over no rows is 0 (a BAN), as on the fact's rows
        total = sa.func.coalesce(total, sa.literal_column("0"))
    statement = (
        sa.select(*(c.label(f"d{i}") for i, c in enumerate(columns)), total.label("v"))
        .select_from(daily_sq.join(periods, _window_on(b, op, daily_sq.c.day, periods)))
        .group_by(*columns)
    )
    return statement.subquery(_name(key)), denied


def _dim_columns(b: _Branch, source: _FactSource, period: ColumnElement | None) -> list:
    """The query's dimensions for rows of ``source`` (the time one as ``period``)."""
    return [period if ref.dim.is_time else source.dim(ref) for ref in b.plan.dims]


def _first_or_last(b: _Branch, leaf: str, key: str, *, last: bool) -> tuple[sa.Subquery, bool]:
    """over_time first/last: the rows of the first (last) day with data in each period."""
    marks_source = b.source()
    day = _day(marks_source)
    period = _truncate(marks_source.time_raw(), b.grain) if b.grain else None
    scoped, denied = b.scoped(marks_source)
    mark = (sa.func.max(day) if last else sa.func.min(day)).label("mark")
    marks = (
        sa.select(*([period.label("p")] if period is not None else []), mark)
        .select_from(marks_source.from_clause)
        .where(*(_condition(marks_source, c) for c in b.plan.conds), *scoped)
    )
    if period is not None:
        marks = marks.group_by(period)
    marked = marks.subquery("marks")
    source = b.source()
    scoped, _ = b.scoped(source)
    scoped += b.pushed(source, leaf)
    columns = _dim_columns(b, source, marked.c.p if period is not None else None)
    statement = (
        sa.select(*(c.label(f"d{i}") for i, c in enumerate(columns)), source.leaf(leaf).label("v"))
        .select_from(source.from_clause.join(marked, _day(source) == marked.c.mark))
        .where(*(_condition(source, c) for c in b.plan.conds), *scoped)
        .group_by(*columns)
    )
    return statement.subquery(_name(key)), denied


def _average(b: _Branch, leaf: str, key: str) -> tuple[sa.Subquery, bool]:
    """over_time average: the aggregate per day and group, averaged over the period's days."""
    source = b.source()
    day = _day(source)
    period = _truncate(source.time_raw(), b.grain) if b.grain else None
    columns = _dim_columns(b, source, period)
    scoped, denied = b.scoped(source)
    daily = (
        sa.select(
            *(c.label(f"d{i}") for i, c in enumerate(columns)),
            day.label("day"),
            source.leaf(leaf).label("v"),
        )
        .select_from(source.from_clause)
        .where(*(_condition(source, c) for c in b.plan.conds), *scoped)
        .group_by(*columns, day)
        .subquery("daily")
    )
    keys = [daily.c[f"d{i}"] for i in range(len(columns))]
    statement = (
        sa.select(*keys, sa.func.avg(daily.c.v).label("v")).select_from(daily).group_by(*keys)
    )
    return statement.subquery(_name(key)), denied


def _name(key: str) -> str:
    """A subquery alias for a leaf key (letters, digits, underscores)."""
    return "t_" + "".join(ch if ch.isalnum() else "_" for ch in key)


def choose_rollup(
    model: SemanticModel, plan: _Plan, scope: RowScope, available: frozenset[str] | None
) -> Rollup | None:
    """A day-grain rollup that answers every leaf of a query exactly, if one does.

    Only when every leaf is a window / to_date / cumulative / offset of a sum or count the
    rollup stores, of one fact, and the rollup has every dimension, filter and row-scope
    dimension: such windows are sums of daily values, which a day rollup holds exactly. A
    query with other leaves (plain metrics, distinct counts, balances) reads the facts."""
    if plan.leaves or not plan.timed:
        return None
    facts = {timewise.leaf_fact(model, key) for key in plan.timed}
    leaves = [timewise.split_leaf(key) for key in plan.timed]
    if len(facts) != 1 or any(o is None or summable(model, leaf) is None for o, leaf in leaves):
        return None
    fact = next(iter(facts))
    names = {leaf for _, leaf in leaves}
    scope_dims = _scope_dims(model, scope)
    if any(d is None or d.is_time for d in scope_dims):
        return None
    wanted = {ref.name for ref in plan.dims if not ref.dim.is_time}
    wanted |= {c.ref.name for c in plan.conds if not c.ref.dim.is_time}
    wanted |= {d.name for d in scope_dims if d is not None}
    fits = [
        r
        for r in model.rollups.values()
        if r.fact == fact
        and r.grain == "day"
        and (available is None or r.name in available)
        and names <= set(r.metrics)
        and wanted <= set(r.dimensions)
        and all(model.metrics[m].additive for m in names)
    ]
    return min(fits, key=lambda r: (len(r.dimensions), r.name)) if fits else None
