"""MetricQuery → SQLAlchemy Core, portable across DuckDB and PostgreSQL.

Output columns are named after the query's dimensions *without* their grain
(``date:month`` → ``date``), in the query's order, then the metrics in the query's order.

How a query becomes SQL:

* One fact: ``SELECT dims, metrics FROM fact LEFT JOIN … WHERE … GROUP BY dims``, with only
  the joins the dimensions, filters and row scope need (multi-hop paths included).
* Several facts (drill-across): each fact is aggregated on its own over the shared
  dimensions, the partial results are stacked with ``UNION ALL`` (each branch fills its
  own metric columns, NULL for the others) and grouped again on the dimensions, taking
  ``MAX`` of each metric column. Unlike a FULL OUTER JOIN this needs no NULL-safe join
  condition (PostgreSQL refuses ``IS NOT DISTINCT FROM`` in a full join), keeps keys that
  exist on one side only, and groups NULL dimension values (NULL foreign keys) together.
* Computed dimensions (``table`` + ``sql``) are their rendered expression, in SELECT and
  GROUP BY alike; a dimension with an ``order`` sorts by its bucket position first.
* Filters compare bound parameters, never spliced text. Filters on a time dimension
  (the primary one or a secondary ``time: true`` column) without a grain compare whole
  days, also on TIMESTAMP columns
  (``date <= d`` becomes ``time < d + 1 day``). Filters may be grouped with AllOf / AnyOf /
  Not (queries/semantic/conditions.py); the row scope is ANDed outside any group.
* HAVING (``MetricQuery.having``) compares a metric of the grouped result: on one fact in
  the grouped select, on a drill-across in the outer select over the stacked branches.
* Time-aware metrics (window, to_date, cumulative, offset; semi-additive ``over_time``)
  are leaves with a branch of their own in the drill-across (timewise_sql.py), read from a
  day rollup only when that is exact (``timewise_sql.choose_rollup``).
* Sums of no rows stay NULL (SQL semantics); so does a metric of a fact that has no row
  for a key another fact has.
"""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlglot import exp

from app.core.errors import QueryError
from queries.semantic import conditions, share, sqlexpr, timewise
from queries.semantic.graph import join_path, reachable_tables, role_hint, unreachable
from queries.semantic.query import OPS, Filter, MetricQuery, RowScope
from queries.semantic.types import GRAINS, Dimension, Join, Metric, Rollup, SemanticModel

TYPE_KINDS = ("integer", "number", "date", "timestamp", "boolean", "text")

# A rollup at grain G can answer a query at grain g when every g-period is a union of
# G-periods (weeks do not nest in months).
_COARSER = {
    "day": frozenset(GRAINS),
    "week": frozenset({"week"}),
    "month": frozenset({"month", "quarter", "year"}),
    "quarter": frozenset({"quarter", "year"}),
    "year": frozenset({"year"}),
}
_COMPARE: dict[str, Callable[[ColumnElement, Any], ColumnElement]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, eq=False)
class CompiledQuery:
    """A query ready to run, with what the runner needs for access, cost and display."""

    statement: sa.Select
    columns: tuple[str, ...]  # dimensions (grain stripped), then metrics
    facts: tuple[str, ...]  # tables aggregated, in first-use order
    rollup: str | None  # rollup table(s) read instead of the facts, if any (", "-joined)
    # days of fact rows read (inclusive): the time filters' bounds, reaching back as far
    # as the windows of time-aware metrics read (timewise.rows_read)
    date_range: tuple[date | None, date | None]
    denied_facts: tuple[str, ...] = ()  # facts the row scope cannot reach: they yield nothing
    routes: tuple[tuple[str, str], ...] = ()  # (fact, rollup read instead of it)


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class _DimRef:
    """A dimension as the query names it, resolved against the model."""

    ref: str
    name: str
    grain: str | None
    dim: Dimension


@dataclass(frozen=True)
class _Cond:
    """A validated filter with its value coerced (scalar, or tuple for in/not_in/between)."""

    ref: _DimRef
    op: str
    value: object


@dataclass
class _Plan:
    """Everything compile needs, resolved and checked."""

    dims: list[_DimRef]
    metrics: list[str]
    leaves: dict[str, list[str]]  # fact → aggregate metrics it computes
    conds: list[_Cond]
    order: list[tuple[str, bool]]  # (output column, descending)
    limit: int | None
    kinds: Mapping[str, str] = field(default_factory=dict)
    groups: list[conditions.Group] = field(default_factory=list)  # ANDed with conds
    having: list[conditions.HavingCond] = field(default_factory=list)
    timed: list[str] = field(default_factory=list)  # leaves with a branch of their own

    @property
    def facts(self) -> list[str]:
        """Facts in first-use order."""
        return list(self.leaves)

    def all_conds(self) -> list[_Cond]:
        """Every filter leaf: the top-level filters and those inside groups."""
        return self.conds + [leaf for g in self.groups for leaf in conditions.leaves(g)]


def _suggest(name: object, candidates: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest candidate, or ''."""
    match = difflib.get_close_matches(str(name), sorted(candidates), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _split_ref(ref: str) -> tuple[str, str | None]:
    """'date:month' → ('date', 'month'); 'country' → ('country', None)."""
    name, sep, grain = ref.partition(":")
    return name.strip(), (grain.strip() if sep else None)


def _resolve_dim(
    model: SemanticModel, ref: object, what: str, problems: list[str]
) -> _DimRef | None:
    """Resolve 'name[:grain]' to a dimension, or record why it cannot be."""
    if not isinstance(ref, str) or not ref.strip():
        problems.append(f"{what}: a dimension name is required, got {ref!r}")
        return None
    name, grain = _split_ref(ref)
    dim = model.dimensions.get(name)
    if dim is None:
        if name in model.metrics:
            problems.append(
                f"{what}: {name!r} is a metric, not a dimension; filters and groupings apply "
                "to dimensions only"
            )
        else:
            problems.append(f"{what}: unknown dimension {name!r}{_suggest(name, model.dimensions)}")
        return None
    if grain is not None:
        if not dim.temporal:
            problems.append(
                f"{what}: {name!r} is not the time dimension and takes no grain "
                "(only `time: true` dimensions do)"
            )
            return None
        if grain not in GRAINS:
            problems.append(
                f"{what}: unknown grain {grain!r} for {name!r}; use one of {', '.join(GRAINS)}"
            )
            return None
    return _DimRef(ref=ref, name=name, grain=grain, dim=dim)


def _leaves(model: SemanticModel, name: str, trail: tuple[str, ...] = ()) -> list[str]:
    """The aggregate metrics a metric is computed from (itself if it is one)."""
    if name in trail:
        raise QueryError(f"metric {trail[0]!r} refers to itself: {' → '.join(trail + (name,))}")
    metric = model.metrics.get(name)
    if metric is None:
        where = f" (used by {trail[-1]!r})" if trail else ""
        raise QueryError(f"unknown metric {name!r}{where}{_suggest(name, model.metrics)}")
    if metric.kind == "aggregate":
        if not metric.fact or metric.fact not in model.tables or not metric.sql:
            raise QueryError(f"metric {name!r} needs a known fact table and an sql aggregate")
        return [name]
    if metric.kind == "time":  # each aggregate leaf of the base, transformed
        assert metric.time_op is not None
        base = metric.time_op.metric
        inner = _leaves(model, base, trail + (name,))
        nested = timewise.timed_within(model, base)
        if nested:
            raise QueryError(
                f"metric {name!r}: its base {base!r} is built on {nested!r}, which is itself "
                "time-aware or semi-additive (not supported)"
            )
        return [timewise.leaf_key(name, leaf) for leaf in inner]
    found: list[str] = []
    for child in _children(metric):
        for leaf in _leaves(model, child, trail + (name,)):
            if leaf not in found:
                found.append(leaf)
    return found


def _children(metric: Metric) -> list[str]:
    """Metrics a ratio or expr metric refers to."""
    if metric.kind == "ratio":
        if not metric.ratio or len(metric.ratio) != 2:
            raise QueryError(f"ratio metric {metric.name!r} needs [numerator, denominator]")
        return list(metric.ratio)
    if metric.kind == "expr":
        tree = sqlexpr.check_metric_expr(metric.expr or "", f"metric {metric.name!r}")
        return sqlexpr.referenced_columns(tree)
    if metric.kind == "share" and metric.share_of:
        return [metric.share_of]
    raise QueryError(f"metric {metric.name!r} has unknown kind {metric.kind!r}")


def _time_column(model: SemanticModel, fact: str) -> tuple[str, str] | None:
    """(table, column) of a fact's time, following joins for 'table.column'; None if none."""
    time = model.tables[fact].time
    if not time:
        return None
    table, sep, column = time.rpartition(".")
    if not sep:
        return fact, time
    if table not in reachable_tables(model, fact):
        return None
    return table, column


def _reaches(model: SemanticModel, fact: str, dim: Dimension) -> bool:
    """True when ``dim`` can be computed for rows of ``fact``."""
    if dim.is_time:
        return _time_column(model, fact) is not None
    return dim.table is not None and dim.table in reachable_tables(model, fact)


def _kind_of(model: SemanticModel, ref: _DimRef, kinds: Mapping[str, str]) -> str | None:
    """The value kind filters on this dimension are coerced to (None: bind as given)."""
    if ref.dim.temporal:
        return "date"
    if ref.dim.sql is not None:
        return computed_kind(ref.dim)
    return kinds.get(f"{model.physical(ref.dim.table or '')}.{ref.dim.column}")


def computed_kind(dim: Dimension) -> str | None:
    """The value kind of a computed dimension: from its ``order`` values when it lists
    them, else from its expression (CASE of text → text, a date part → integer …)."""
    if dim.order:
        if all(isinstance(v, int) and not isinstance(v, bool) for v in dim.order):
            return "integer"
        if all(isinstance(v, str) for v in dim.order):
            return "text"
        return "number"
    try:
        return sqlexpr.expression_kind(
            sqlexpr.check_dimension_sql(dim.sql or "", f"dimension {dim.name!r}")
        )
    except QueryError:
        return None


_INT = re.compile(r"[+-]?[0-9]+")


def coerce_value(value: object, kind: str | None) -> object:
    """``value`` converted to a Python value of ``kind``; ValueError if it cannot be."""
    if value is None:
        raise ValueError("NULL is not a filter value")
    if isinstance(value, list | tuple | set | dict):
        raise ValueError(f"{value!r} is not a single value")
    if kind is None:
        return value
    if kind == "integer":
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float | Decimal) and value == int(value):
            return int(value)
        if isinstance(value, str) and _INT.fullmatch(value.strip()):
            return int(value.strip())
        raise ValueError(f"{value!r} is not an integer")
    if kind == "number":
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        if isinstance(value, int | float | Decimal):
            return value
        if isinstance(value, str):
            text = value.strip()
            if _INT.fullmatch(text):
                return int(text)
            try:
                number = Decimal(text)
            except InvalidOperation:
                number = None
            if number is not None and number.is_finite():
                return float(number)
        raise ValueError(f"{value!r} is not a number")
    if kind == "date":
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value.strip()):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")
    if kind == "timestamp":
        if isinstance(value, datetime):
            return value
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.strip())
            except ValueError:
                pass
        raise ValueError(f"{value!r} is not a timestamp (YYYY-MM-DD[ HH:MM:SS])")
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "t", "yes", "1"):
            return True
        if text in ("false", "f", "no", "0"):
            return False
        raise ValueError(f"{value!r} is not a boolean")
    if kind == "text":
        if isinstance(value, str | int | float | Decimal) and not isinstance(value, bool):
            return str(value)
        raise ValueError(f"{value!r} is not text")
    raise ValueError(f"unknown column kind {kind!r}")


def _check_filter(
    flt: object, model: SemanticModel, kinds: Mapping[str, str], problems: list[str]
) -> _Cond | None:
    """Validate one filter and coerce its value, or record the problems."""
    if not isinstance(flt, Filter):
        problems.append(f"filter {flt!r}: expected a Filter(dimension, op, value)")
        return None
    what = f"filter {flt.dimension} {flt.op} {flt.value!r}"
    ref = _resolve_dim(model, flt.dimension, what, problems)
    if flt.op not in OPS:
        problems.append(f"{what}: unknown operator {flt.op!r}; use one of {' '.join(OPS)}")
        return None
    if ref is None:
        return None
    kind = _kind_of(model, ref, kinds)
    if ref.dim.is_time:
        column = "the time dimension"
    elif ref.dim.sql is not None:
        column = f"{ref.dim.sql!r} over {ref.dim.table}"
    else:
        column = f"{ref.dim.table}.{ref.dim.column}"
    many = flt.op in ("in", "not_in", "between")
    values = flt.value
    if many:
        if not isinstance(values, list | tuple):
            problems.append(f"{what}: {flt.op} needs a list of values")
            return None
        if flt.op == "between" and len(values) != 2:
            problems.append(f"{what}: between needs exactly 2 values, got {len(values)}")
            return None
        if not values:
            problems.append(f"{what}: {flt.op} needs at least one value")
            return None
    elif isinstance(values, list | tuple):
        problems.append(f"{what}: {flt.op} needs a single value; use in for several")
        return None
    try:
        if many:
            assert isinstance(values, list | tuple)
            coerced: object = tuple(coerce_value(v, kind) for v in values)
        else:
            coerced = coerce_value(values, kind)
    except ValueError as err:
        problems.append(f"{what}: {err} ({flt.dimension} is {column})")
        return None
    if flt.op == "between" and isinstance(coerced, tuple):
        low, high = coerced
        try:
            if low > high:
                problems.append(f"{what}: between bounds are reversed")
                return None
        except TypeError:
            pass
    return _Cond(ref=ref, op=flt.op, value=coerced)


def _add_leaves(
    model: SemanticModel, name: str, leaves: dict[str, list[str]], timed: list[str]
) -> None:
    """File the aggregate leaves of metric ``name``: under their fact in ``leaves``, or in
    ``timed`` for a time-aware one (a branch of its own). QueryError if it cannot be."""
    for leaf in _leaves(model, name):
        bucket = timed if timewise.is_timed(model, leaf) else None
        if bucket is None:
            fact = model.metrics[leaf].fact
            assert fact is not None
            bucket = leaves.setdefault(fact, [])
        if leaf not in bucket:
            bucket.append(leaf)


def _plan(model: SemanticModel, query: MetricQuery, kinds: Mapping[str, str]) -> _Plan:
    """Check the query against the model; raise QueryError listing every problem."""
    problems: list[str] = []
    if not isinstance(query, MetricQuery):
        raise QueryError(f"expected a MetricQuery, got {type(query).__name__}")
    metrics = list(query.metrics) if isinstance(query.metrics, list | tuple) else None
    if not metrics:
        problems.append("a query needs at least one metric")
        metrics = []
    leaves: dict[str, list[str]] = {}
    timed: list[str] = []
    good_metrics: list[str] = []
    for name in metrics:
        if not isinstance(name, str) or name not in model.metrics:
            hint = " (it is a dimension: use it in 'by')" if name in model.dimensions else ""
            problems.append(f"unknown metric {name!r}{hint or _suggest(name, model.metrics)}")
            continue
        if name in good_metrics:
            problems.append(f"metric {name!r} is asked for twice")
            continue
        try:
            _add_leaves(model, name, leaves, timed)
        except QueryError as err:
            problems.append(err.message)
            continue
        good_metrics.append(name)

    dims: list[_DimRef] = []
    dim_list = query.dimensions if isinstance(query.dimensions, list | tuple) else None
    if dim_list is None:
        problems.append("dimensions must be a list of names")
        dim_list = ()
    for ref_text in dim_list:
        ref = _resolve_dim(model, ref_text, f"dimension {ref_text!r}", problems)
        if ref is None:
            continue
        if any(d.name == ref.name for d in dims):
            problems.append(f"dimension {ref.name!r} is asked for twice")
        elif ref.name in good_metrics:
            problems.append(f"{ref.name!r} is both a metric and a dimension of the query")
        else:
            dims.append(ref)

    conds: list[_Cond] = []
    groups: list[conditions.Group] = []
    for flt in query.filters if isinstance(query.filters, list | tuple) else ():
        if conditions.is_group(flt):
            _plan_group(flt, model, kinds, problems, conds, groups)
            continue
        cond = _check_filter(flt, model, kinds, problems)
        if cond is not None:
            conds.append(cond)
    if not isinstance(query.filters, list | tuple):
        problems.append("filters must be a list of Filter")
    having = _plan_having(model, query, problems, leaves, timed)

    timed_facts = [timewise.leaf_fact(model, key) for key in timed]
    problems += _timed_problems(model, timed, conds, groups)
    for fact in dict.fromkeys([*leaves, *timed_facts]):
        for ref in dims + [c.ref for c in conds + _group_leaves(groups)]:
            if not _reaches(model, fact, ref.dim):
                named = good_metrics + [h.metric for h in having if h.metric not in good_metrics]
                users = [m for m in named if fact in _facts_of(model, m)]
                why = (
                    "has no time column"
                    if ref.dim.is_time
                    else f"has no join path to {ref.dim.table}"
                    + role_hint(model, fact, ref.dim.table)
                )
                problems.append(
                    f"dimension {ref.name!r} is not reachable from {fact} "
                    f"(metric {', '.join(users) or '?'}): {fact} {why}"
                )

    outputs = [d.name for d in dims] + good_metrics
    order: list[tuple[str, bool]] = []
    order_list = query.order_by if isinstance(query.order_by, list | tuple) else None
    if order_list is None:
        problems.append("order_by must be a list of names")
        order_list = ()
    for item in order_list:
        if not isinstance(item, str) or not item.strip().lstrip("+-"):
            problems.append(f"order_by: {item!r} is not a name")
            continue
        text = item.strip()
        descending = text.startswith("-")
        name = text.lstrip("+-").strip()
        by_ref = {d.ref: d.name for d in dims}
        name = by_ref.get(name, name)
        if name not in outputs:
            problems.append(
                f"order_by: {name!r} is not a metric or dimension of the query"
                f"{_suggest(name, outputs)}"
            )
        elif any(n == name for n, _ in order):
            problems.append(f"order_by: {name!r} appears twice")
        else:
            order.append((name, descending))

    limit = query.limit
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        problems.append(f"limit must be a positive integer, got {limit!r}")

    if problems:
        head = "Invalid query: " if len(problems) == 1 else "Invalid query:\n- "
        raise QueryError(head + "\n- ".join(problems))
    return _Plan(
        dims=dims,
        metrics=good_metrics,
        leaves=leaves,
        conds=conds,
        order=order,
        limit=limit,
        kinds=kinds,
        groups=groups,
        having=having,
        timed=timed,
    )


def _group_leaves(groups: list[conditions.Group]) -> list[_Cond]:
    """The checked leaves of filter groups."""
    return [leaf for g in groups for leaf in conditions.leaves(g)]


def _plan_group(
    item: object,
    model: SemanticModel,
    kinds: Mapping[str, str],
    problems: list[str],
    conds: list[_Cond],
    groups: list[conditions.Group],
) -> None:
    """Check an AllOf/AnyOf/Not filter; a top-level AND is split into the plain filters
    (whose time bounds then narrow the query's date range as before) and groups."""
    node = conditions.check(item, lambda f: _check_filter(f, model, kinds, problems), problems)
    if node is None:
        return
    parts = node.parts if isinstance(node, conditions.Group) and node.kind == "all" else (node,)
    for part in parts:
        if isinstance(part, conditions.Group):
            groups.append(part)
        else:
            conds.append(part)


def _plan_having(
    model: SemanticModel,
    query: MetricQuery,
    problems: list[str],
    leaves: dict[str, list[str]],
    timed: list[str],
) -> list[conditions.HavingCond]:
    """Check the HAVING conditions; a metric they name that the query does not select is
    computed too (its aggregate leaves join ``leaves``), as SQL allows."""
    items = getattr(query, "having", ())
    if not isinstance(items, list | tuple):
        problems.append("having must be a list of Having")
        return []
    checked: list[conditions.HavingCond] = []
    for item in items:
        cond = conditions.check_having(item, model, problems, lambda n: _suggest(n, model.metrics))
        if cond is None:
            continue
        try:
            _add_leaves(model, cond.metric, leaves, timed)
        except QueryError as err:
            problems.append(err.message)
            continue
        checked.append(cond)
    return checked


def _having_sa(
    model: SemanticModel, plan: _Plan, leaf: Callable[[str], ColumnElement]
) -> list[ColumnElement]:
    """The HAVING predicates over the grouped result (``leaf`` gives an aggregate)."""
    return [conditions.render_having(c, _metric_sa(model, c.metric, leaf)) for c in plan.having]


def _query_date_range(plan: _Plan) -> tuple[date | None, date | None]:
    """Day bounds that hold for the whole query: the plain filters', narrowed by a group's
    only where every row the group admits lies inside (see conditions.day_bounds)."""
    bounds = [_date_range(plan.conds)]
    bounds += [conditions.day_bounds(g, lambda c: _date_range([c])) for g in plan.groups]
    return conditions.intersect(*bounds)


def _timed_problems(
    model: SemanticModel,
    timed: list[str],
    conds: list[_Cond],
    groups: Sequence[conditions.Group] = (),
) -> list[str]:
    """Why the query's time-aware leaves cannot be computed exactly (empty when they can)."""
    if not timed:
        return []
    problems: list[str] = []
    owners = sorted({timewise.split_leaf(k)[0] or timewise.split_leaf(k)[1] for k in timed})
    if model.time_dimension() is None:
        return [f"metric {', '.join(owners)} needs the model's time dimension"]
    for key in timed:
        fact = timewise.leaf_fact(model, key)
        if _time_column(model, fact) is None:
            problems.append(
                f"metric {timewise.split_leaf(key)[0] or key!r} needs the time of {fact}, "
                "which has none"
            )
    if groups:
        problems.append(
            f"time-aware metrics ({', '.join(owners)}) take plain filters (all of them must "
            "hold); an or/not group is not supported with them"
        )
    for cond in conds:
        if not cond.ref.dim.is_time:
            continue
        values = cond.value if isinstance(cond.value, tuple) else (cond.value,)
        if cond.op in ("!=", "not_in") or (cond.op == "in" and len(set(values)) > 1):
            problems.append(
                f"filter {cond.ref.ref} {cond.op} …: time-aware metrics ({', '.join(owners)}) "
                "need time filters that bound one range (=, <, <=, >, >=, between)"
            )
    return problems


def _facts_of(model: SemanticModel, metric: str) -> set[str]:
    """Facts a metric's leaves aggregate."""
    return {timewise.leaf_fact(model, leaf) for leaf in _leaves(model, metric)}


# --------------------------------------------------------------------------- SQL pieces


def _truncate(column: ColumnElement, grain: str | None) -> ColumnElement:
    """The date of ``column`` at ``grain`` as a DATE on every dialect."""
    if grain in (None, "day"):
        return sa.cast(column, sa.Date)
    # The unit comes from the closed GRAINS list; a literal keeps GROUP BY and SELECT
    # textually equal on PostgreSQL (a bound unit would not be).
    unit: ColumnElement = sa.literal_column(f"'{grain}'")
    return sa.cast(sa.func.date_trunc(unit, column), sa.Date)


def _safe_div(numerator: ColumnElement, denominator: ColumnElement) -> ColumnElement:
    """``CAST(num AS DOUBLE PRECISION) / NULLIF(den, 0)``: NULL on zero, on every dialect."""
    zero: ColumnElement[Any] = sa.literal_column("0")
    return sa.cast(numerator, sa.Double) / sa.func.nullif(denominator, zero, type_=sa.Double)


def _expr_to_sa(node: exp.Expression, resolve: Callable[[str], ColumnElement]) -> ColumnElement:
    """An ``expr`` metric's parsed tree as SQLAlchemy, metric names resolved by ``resolve``."""
    if isinstance(node, exp.Paren):
        return _expr_to_sa(node.this, resolve).self_group()
    if isinstance(node, exp.Column):
        return resolve(node.name)
    if isinstance(node, exp.Literal):
        number = Decimal(node.this)
        text = str(int(number)) if number == number.to_integral_value() else str(number)
        return sa.literal_column(text, sa.Numeric)
    if isinstance(node, exp.Neg):
        return -_expr_to_sa(node.this, resolve)
    if isinstance(node, exp.Coalesce):
        args = [node.this, *node.expressions]
        return sa.func.coalesce(*(_expr_to_sa(a, resolve) for a in args))
    if isinstance(node, exp.Abs):
        return sa.func.abs(_expr_to_sa(node.this, resolve))
    left = _expr_to_sa(node.this, resolve)
    right = _expr_to_sa(node.expression, resolve)
    if isinstance(node, exp.Add):
        return left + right
    if isinstance(node, exp.Sub):
        return left - right
    if isinstance(node, exp.Mul):
        return left * right
    if isinstance(node, exp.Div):
        return _safe_div(left, right)
    raise QueryError(f"unsupported expression {node.sql()!r}")


def _metric_sa(
    model: SemanticModel,
    name: str,
    leaf: Callable[[str], ColumnElement],
    dims: Mapping[str, tuple[bool, ColumnElement]] | None = None,
) -> ColumnElement:
    """A metric as SQLAlchemy over its aggregate leaves (``leaf(name)``); ``dims`` are the
    query's grouped dimensions (name → (is time, column)), the partition of a share."""
    metric = model.metrics[name]
    if metric.kind == "aggregate":
        return leaf(name)
    if metric.kind == "time":
        assert metric.time_op is not None
        return _metric_sa(
            model, metric.time_op.metric, lambda child: leaf(timewise.leaf_key(name, child))
        )
    if metric.kind == "ratio":
        assert metric.ratio is not None
        num, den = metric.ratio
        return _safe_div(_metric_sa(model, num, leaf, dims), _metric_sa(model, den, leaf, dims))
    if metric.kind == "share":
        base = metric.share_of or ""
        return share.share_sa(metric, lambda: _metric_sa(model, base, leaf, dims), dims or {})
    tree = sqlexpr.check_metric_expr(metric.expr or "", f"metric {name!r}")
    return _expr_to_sa(tree, lambda child: _metric_sa(model, child, leaf, dims))


def _model_columns(model: SemanticModel) -> dict[str, set[str]]:
    """Every column the model names, per table or role (keys, joins, dimensions, time, PII);
    a role has its table's columns too."""
    cols: dict[str, set[str]] = {name: set() for name in model.tables}
    for name, table in model.tables.items():
        cols[name].update(table.primary_key, table.pii)
        for join in table.joins:
            cols[name].add(join.from_column)
            cols.setdefault(join.target, set()).add(join.to_column)
        if table.time:
            owner, sep, column = table.time.rpartition(".")
            cols.setdefault(owner if sep else name, set()).add(column)
    for dim in model.dimensions.values():
        if dim.table and dim.column:
            cols.setdefault(dim.table, set()).add(dim.column)
    for role, table_name in model.roles().items():
        cols[role] = cols.get(role, set()) | cols.get(table_name, set())
    return cols


class _FactSource:
    """Reads one fact from its own table, LEFT JOINed to the tables and roles it needs: those
    of the dimensions in ``needs`` and those the ``metrics``' sql and filter name
    (``table.column``). Every join is many-to-one, so each fact row stays one row."""

    def __init__(
        self,
        model: SemanticModel,
        fact: str,
        dialect: sa.engine.Dialect,
        needs: Iterable[Dimension],
        metrics: Iterable[str] = (),
    ) -> None:
        self.model, self.fact, self.dialect = model, fact, dialect
        columns = _model_columns(model)
        self.time = _time_column(model, fact)
        wanted = [
            (self.time[0] if self.time else None) if dim.is_time else dim.table for dim in needs
        ]
        wanted += _metric_tables(model, fact, metrics)
        steps: dict[str, tuple[str, Join]] = {}  # joined name → (parent, join), parents first
        for table in wanted:
            for owner, join in (join_path(model, fact, table) or []) if table else []:
                steps.setdefault(join.target, (owner.name, join))
        self.tables: dict[str, Any] = {
            fact: sa.table(fact, *(sa.column(c) for c in sorted(columns.get(fact, ()))))
        }
        for name, (_parent, join) in steps.items():
            physical = sa.table(join.table, *(sa.column(c) for c in sorted(columns.get(name, ()))))
            self.tables[name] = physical.alias(name) if join.is_role else physical
        from_clause: sa.FromClause = self.tables[fact]
        for table, (parent, join) in steps.items():
            on = self.tables[parent].c[join.from_column] == self.tables[table].c[join.to_column]
            from_clause = from_clause.outerjoin(self.tables[table], on)
        self.from_clause = from_clause
        self.joined = tuple(steps)
        self.shared_filter: str | None = None  # set by prefilter(): applied in WHERE

    def time_raw(self) -> ColumnElement:
        """The fact's time column, untruncated."""
        assert self.time is not None
        table, column = self.time
        return self.tables[table].c[column]

    def dim(self, ref: _DimRef) -> ColumnElement:
        """A dimension's expression (time dimensions truncated to their grain)."""
        if ref.dim.temporal:
            return _truncate(self.raw(ref.dim), ref.grain)
        if ref.dim.sql is not None:
            return self.computed(ref.dim)
        assert ref.dim.table and ref.dim.column
        return self.tables[ref.dim.table].c[ref.dim.column]

    def raw(self, dim: Dimension) -> ColumnElement:
        """A time dimension's column, untruncated (the fact's time for the primary one)."""
        if dim.is_time:
            return self.time_raw()
        assert dim.table and dim.column
        return self.tables[dim.table].c[dim.column]

    def computed(self, dim: Dimension) -> ColumnElement:
        """A computed dimension's ``sql`` over its table, as this dialect's SQL."""
        assert dim.table and dim.sql is not None
        text = sqlexpr.render_dimension(
            dim.sql, dim.table, self.dialect, where=f"dimension {dim.name!r}"
        )
        return sa.literal_column(text)

    def day_is_native(self) -> bool:
        """False: the raw time column may be a timestamp; compare whole days by range."""
        return False

    def prefilter(self, names: Iterable[str]) -> ColumnElement | None:
        """When every metric read from this fact has a filter, rows matching none of them
        cannot change any result: ``(f1 OR f2 …)`` lets the scan skip them."""
        filters = []
        for name in names:
            metric = self.model.metrics[name]
            if not metric.filter:
                return None
            filters.append(metric.filter)
        if not filters:
            return None
        parts = sorted({sqlexpr.render_predicate(f, self.fact, self.dialect) for f in filters})
        if len(set(filters)) == 1:  # WHERE already applies it: no CASE inside the aggregates
            self.shared_filter = filters[0]
        return sa.or_(*(sa.literal_column(p) for p in parts))

    def leaf(self, name: str) -> ColumnElement:
        """An aggregate metric over the fact's rows, its filter folded in."""
        metric = self.model.metrics[name]
        assert metric.sql is not None
        folded = None if metric.filter == self.shared_filter else metric.filter
        text = sqlexpr.render_aggregate(
            metric.sql, folded, self.fact, self.dialect, where=f"metric {name!r}"
        )
        return sa.literal_column(text)


class _RollupSource:
    """Reads a rollup table: pre-aggregated metrics summed again."""

    def __init__(self, model: SemanticModel, rollup: Rollup) -> None:
        self.rollup = rollup
        self.model = model
        self.counts = frozenset(
            name
            for name in rollup.metrics
            if (model.metrics[name].sql or "").strip().lower().startswith("count(")
        )
        time_dim = model.time_dimension()
        self.time_name = time_dim.name if time_dim else None
        names = [*rollup.dimensions, *rollup.metrics]
        if self.time_name and _time_column(model, rollup.fact):
            names.insert(0, self.time_name)
        self.table = sa.table(rollup.name, *(sa.column(n) for n in names))
        self.from_clause: sa.FromClause = self.table
        self.joined: tuple[str, ...] = ()

    def time_raw(self) -> ColumnElement:
        """The rollup's time column (a DATE at the rollup grain)."""
        assert self.time_name is not None
        return self.table.c[self.time_name]

    def raw(self, dim: Dimension) -> ColumnElement:
        """The rollup's time column: a rollup stores no other time dimension."""
        if not dim.is_time:
            raise QueryError(f"rollup {self.rollup.name!r} does not store {dim.name!r}")
        return self.time_raw()

    def dim(self, ref: _DimRef) -> ColumnElement:
        """A dimension column of the rollup; time re-truncated when coarser."""
        if ref.dim.is_time:
            if (ref.grain or "day") == self.rollup.grain:
                return self.time_raw()
            return _truncate(self.time_raw(), ref.grain)
        return self.table.c[ref.name]

    def day_is_native(self) -> bool:
        """True: the rollup's time column is a DATE."""
        return True

    def matched(self, names: Iterable[str]) -> ColumnElement | None:
        """When every metric is filtered, a group exists only if some row matched one of the
        filters: its count is above 0, or its sum is not NULL (as ``_FactSource.prefilter``)."""
        conditions = []
        for name in names:
            if not self.model.metrics[name].filter:
                return None
            total = sa.func.sum(self.table.c[name])
            conditions.append(total > 0 if name in self.counts else total.is_not(None))
        return sa.or_(*conditions) if conditions else None

    def leaf(self, name: str) -> ColumnElement:
        """The sum of the pre-aggregated column; a count over no rows is 0, as on the fact."""
        total = sa.func.sum(self.table.c[name])
        return sa.func.coalesce(total, 0) if name in self.counts else total


_Source = _FactSource | _RollupSource


def _metric_tables(model: SemanticModel, fact: str, metrics: Iterable[str]) -> list[str]:
    """Tables or roles (other than the fact) that the metrics' sql and filter name; QueryError
    for one the fact does not reach (the model check refuses it first)."""
    names: list[str] = []
    for name in metrics:
        metric = model.metrics[name]
        for table in sqlexpr.snippet_tables(metric.sql, metric.filter):
            if table == fact or table in names:
                continue
            if join_path(model, fact, table) is None:
                raise QueryError(f"metric {name!r}: {unreachable(model, fact, table)}")
            names.append(table)
    return names


def _bind_list(values: Iterable[object]) -> list[object]:
    """Values for an expanding IN parameter."""
    return list(values)


def _time_condition(source: _Source, cond: _Cond) -> ColumnElement:
    """A time filter without grain: whole days, sargable on DATE and TIMESTAMP columns."""
    raw = source.raw(cond.ref.dim)
    op, value = cond.op, cond.value
    if op in ("in", "not_in") or source.day_is_native():
        target = raw if source.day_is_native() else sa.cast(raw, sa.Date)
        return _compare(target, op, value)
    if op == "between":
        assert isinstance(value, tuple)
        low, high = value
        return sa.and_(raw >= low, raw < high + _ONE_DAY)
    day: date = value  # type: ignore[assignment]
    if op == "=":
        return sa.and_(raw >= day, raw < day + _ONE_DAY)
    if op == "!=":
        return sa.or_(raw < day, raw >= day + _ONE_DAY)
    if op == "<=":
        return raw < day + _ONE_DAY
    if op == ">":
        return raw >= day + _ONE_DAY
    return _COMPARE[op](raw, day)


def _compare(target: ColumnElement, op: str, value: object) -> ColumnElement:
    """``target op value`` with the value(s) as bound parameters."""
    if op == "in":
        return target.in_(_bind_list(value))  # type: ignore[arg-type]
    if op == "not_in":
        return target.not_in(_bind_list(value))  # type: ignore[arg-type]
    if op == "between":
        assert isinstance(value, tuple)
        return target.between(value[0], value[1])
    return _COMPARE[op](target, value)


def _condition(source: _Source, cond: _Cond) -> ColumnElement:
    """A validated filter as a WHERE predicate for one source."""
    if cond.ref.dim.temporal and cond.ref.grain in (None, "day"):
        return _time_condition(source, cond)
    return _compare(source.dim(cond.ref), cond.op, cond.value)


def _scope_predicates(
    model: SemanticModel, source: _Source, fact: str, scope: RowScope, kinds: Mapping[str, str]
) -> tuple[list[ColumnElement], bool]:
    """Row-scope predicates for one fact, and whether the scope denies the fact entirely."""
    predicates: list[ColumnElement] = []
    for name, values in scope:
        dim = model.dimensions.get(name)
        if dim is None or not _reaches(model, fact, dim):
            return [sa.false()], True
        ref = _DimRef(ref=name, name=name, grain=None, dim=dim)
        kind = _kind_of(model, ref, kinds)
        allowed: list[object] = []
        for value in values:
            try:
                allowed.append(coerce_value(value, kind))
            except ValueError:
                continue  # a scope value of the wrong type matches no row
        if not allowed:
            predicates.append(sa.false())
            continue
        target = source.dim(ref)
        if dim.is_time and not source.day_is_native():
            target = sa.cast(source.time_raw(), sa.Date)
        predicates.append(target.in_(allowed))
    return predicates, False


def _scope_dims(model: SemanticModel, scope: RowScope) -> list[Dimension | None]:
    """The dimensions of a row scope (None for a name the model does not know)."""
    return [model.dimensions.get(name) for name, _ in scope]


def _check_scope(scope: object) -> RowScope:
    """Validate the row scope's shape: ((dimension, (value, ...)), ...)."""
    if not isinstance(scope, tuple | list):
        raise QueryError("row scope must be a tuple of (dimension, values) pairs")
    checked = []
    for item in scope:
        if (
            not isinstance(item, tuple | list)
            or len(item) != 2
            or not isinstance(item[0], str)
            or not isinstance(item[1], tuple | list)
        ):
            raise QueryError(f"row scope entry {item!r} must be (dimension, (value, ...))")
        checked.append((item[0], tuple(item[1])))
    return tuple(checked)


# --------------------------------------------------------------------------- rollups


def _grain_fits(rollup_grain: str, grain: str | None) -> bool:
    """True when a query grain (None = day) can be answered from ``rollup_grain``."""
    return (grain or "day") in _COARSER.get(rollup_grain, frozenset())


def _choose_rollup(
    model: SemanticModel, plan: _Plan, scope: RowScope, available: frozenset[str] | None
) -> Rollup | None:
    """The coarsest, narrowest rollup that answers a one-fact query exactly, if any."""
    if len(plan.leaves) != 1:
        return None
    return _rollup_for(model, plan, plan.facts[0], scope, available)


def _rollup_for(
    model: SemanticModel,
    plan: _Plan,
    fact: str,
    scope: RowScope,
    available: frozenset[str] | None,
) -> Rollup | None:
    """The coarsest, narrowest rollup that answers ``fact``'s part of the query exactly:
    every leaf of that fact stored, every dimension, filter leaf and row-scope dimension
    in it, at a time grain no finer than the query's (a whole-day time filter fits a
    coarser rollup when its bounds fall on the rollup's period boundaries). A leaf that
    does not add up (a distinct count, a median) is read from a rollup only when each
    group of the query is one row of it (:func:`_same_groups`). In a drill-across each
    fact's branch is routed on its own (the branches are only combined after each is
    aggregated, so a branch read from a rollup gives the same rows)."""
    leaves = plan.leaves[fact]
    summable = all(model.metrics[leaf].additive for leaf in leaves)
    scope_dims = _scope_dims(model, scope)
    if any(d is None for d in scope_dims):
        return None
    candidates = []
    for rollup in model.rollups.values():
        if rollup.fact != fact or (available is not None and rollup.name not in available):
            continue
        if not set(leaves) <= set(rollup.metrics):
            continue
        if not summable and not _same_groups(model, plan, rollup, scope):
            continue
        fits = True
        for ref in plan.dims:
            if ref.dim.is_time:
                fits = fits and _grain_fits(rollup.grain, ref.grain)
            else:
                fits = fits and ref.name in rollup.dimensions
        for cond in plan.all_conds():
            ref = cond.ref
            if ref.dim.is_time:
                fits = fits and (
                    _grain_fits(rollup.grain, ref.grain) or _aligned(cond, rollup.grain)
                )
            else:
                fits = fits and ref.name in rollup.dimensions
        for dim in scope_dims:
            assert dim is not None
            fits = fits and not dim.is_time and dim.name in rollup.dimensions
        if fits:
            candidates.append(rollup)
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda r: (
            -GRAINS.index(r.grain) if r.grain in GRAINS else 0,
            len(r.dimensions),
            r.name,
        ),
    )


def _period_start(day: date, grain: str) -> bool:
    """True when ``day`` is the first day of its period of ``grain``."""
    if grain == "day":
        return True
    if grain == "week":
        return day.isoweekday() == 1
    months = {"month": 1, "quarter": 3, "year": 12}[grain]
    return day.day == 1 and (day.month - 1) % months == 0


def _aligned(cond: _Cond, grain: str) -> bool:
    """True when a whole-day time filter keeps or drops every day of each ``grain``
    period together (``date between 2026-01-01 and 2026-03-31`` on months), so a rollup
    at ``grain`` answers it exactly."""
    if cond.ref.grain not in (None, "day") or grain not in GRAINS:
        return False
    value = cond.value
    if cond.op == "between" and isinstance(value, tuple):
        low, high = value
        return _period_start(low, grain) and _period_start(high + _ONE_DAY, grain)
    if not isinstance(value, date):
        return False
    if cond.op in (">=", "<"):
        return _period_start(value, grain)
    if cond.op in ("<=", ">"):
        return _period_start(value + _ONE_DAY, grain)
    return False


def _same_groups(model: SemanticModel, plan: _Plan, rollup: Rollup, scope: RowScope) -> bool:
    """True when every group of the query is exactly one row of ``rollup``, so a value that
    does not add up (a distinct count, a median) can be read from it as stored: the query
    groups by the time dimension at the rollup's own grain (or its time filters cover one
    whole period), and each of the rollup's dimensions is grouped by the query or pinned to
    one value by a filter or the row scope. Or/not groups never qualify."""
    if plan.groups:
        return False
    grouped = {d.name for d in plan.dims}
    time_refs = [d for d in plan.dims if d.dim.is_time]
    if any((ref.grain or "day") != rollup.grain for ref in time_refs):
        return False
    if not time_refs and _time_column(model, rollup.fact) is not None:
        low, high = _date_range(plan.conds)
        if (
            low is None
            or high is None
            or not all(
                _aligned(c, rollup.grain) or (c.ref.grain == rollup.grain and c.op == "=")
                for c in plan.conds
                if c.ref.dim.is_time
            )
        ):
            return False
        if not _period_start(low, rollup.grain) or _next_start(low, rollup.grain) <= high:
            return False  # more than one period would be summed
    pinned = set()
    for cond in plan.conds:
        if cond.ref.dim.is_time:
            continue
        values = cond.value if isinstance(cond.value, tuple) else (cond.value,)
        one = cond.op == "=" or (cond.op == "in" and len(set(values)) == 1)
        if one:
            pinned.add(cond.ref.name)
        elif cond.ref.name not in grouped:
            return False  # a filter that keeps several values of a dimension not grouped
    for name, values in scope:
        if len(set(values)) == 1:
            pinned.add(name)
        elif name not in grouped:
            return False
    return all(name in grouped or name in pinned for name in rollup.dimensions)


def _next_start(day: date, grain: str) -> date:
    """The first day of the period after the ``grain`` period that starts on ``day``."""
    if grain == "day":
        return day + _ONE_DAY
    if grain == "week":
        return day + timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[grain]
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def rollup_statements(
    model: SemanticModel, dialect: sa.engine.Dialect
) -> list[tuple[str, sa.Select]]:
    """Each rollup's SELECT, for ``CREATE TABLE <name> AS <select>`` at publish."""
    statements = []
    time_dim = model.time_dimension()
    for rollup in model.rollups.values():
        where = f"rollup {rollup.name!r}"
        if rollup.grain not in GRAINS:
            raise QueryError(f"{where}: unknown grain {rollup.grain!r}")
        for name in rollup.metrics:
            metric = model.metrics.get(name)
            if metric is None or metric.kind != "aggregate" or metric.fact != rollup.fact:
                raise QueryError(f"{where}: {name!r} is not an aggregate metric of {rollup.fact}")
            if metric.over_time:
                raise QueryError(f"{where}: {name!r} is semi-additive: a rollup cannot store it")
        refs = []
        if time_dim and _time_column(model, rollup.fact):
            refs.append(
                _DimRef(ref=time_dim.name, name=time_dim.name, grain=rollup.grain, dim=time_dim)
            )
        for name in rollup.dimensions:
            dim = model.dimensions.get(name)
            if dim is not None and dim.temporal:
                raise QueryError(
                    f"{where}: {name!r} is a time dimension; rollups store only the primary time"
                )
            if dim is None or not _reaches(model, rollup.fact, dim):
                raise QueryError(f"{where}: dimension {name!r} is not reachable from {rollup.fact}")
            refs.append(_DimRef(ref=name, name=name, grain=None, dim=dim))
        source = _FactSource(model, rollup.fact, dialect, [r.dim for r in refs], rollup.metrics)
        dims = [source.dim(r) for r in refs]
        columns = [d.label(r.name) for d, r in zip(dims, refs, strict=True)]
        columns += [source.leaf(name).label(name) for name in rollup.metrics]
        # Stored in time order (time is the first column) so date filters skip row groups.
        statement = (
            sa.select(*columns).select_from(source.from_clause).group_by(*dims).order_by(*dims)
        )
        statements.append((rollup.name, statement))
    return statements


# --------------------------------------------------------------------------- compile


def _date_range(conds: list[_Cond]) -> tuple[date | None, date | None]:
    """Inclusive day bounds implied by the time filters."""
    low: date | None = None
    high: date | None = None

    def period_end(day: date, grain: str | None) -> date:
        if grain in (None, "day"):
            return day
        if grain == "week":
            return day + timedelta(days=6)
        months = {"month": 1, "quarter": 3, "year": 12}[grain]
        index = day.year * 12 + day.month - 1 + months
        return date(index // 12, index % 12 + 1, 1) - _ONE_DAY

    for cond in conds:
        if not cond.ref.dim.is_time or cond.op in ("!=", "not_in"):
            continue
        grain = cond.ref.grain
        values = cond.value if isinstance(cond.value, tuple) else (cond.value,)
        lows: list[date] = []
        highs: list[date] = []
        if cond.op in ("=", "in", "between"):
            lows, highs = [min(values)], [period_end(max(values), grain)]
        elif cond.op == ">=":
            lows = list(values)
        elif cond.op == ">":
            lows = [period_end(values[0], grain) + _ONE_DAY]
        elif cond.op == "<=":
            highs = [period_end(values[0], grain)]
        elif cond.op == "<":
            highs = [values[0] - _ONE_DAY]
        for value in lows:
            low = value if low is None else max(low, value)
        for value in highs:
            high = value if high is None else min(high, value)
    return low, high


def compile_query(
    model: SemanticModel,
    query: MetricQuery,
    *,
    dialect: sa.engine.Dialect,
    scope: RowScope = (),
    use_rollups: bool = True,
    available_rollups: frozenset[str] | None = None,
    column_types: Mapping[str, str] | None = None,
) -> CompiledQuery:
    """Compile a checked MetricQuery to one SELECT for ``dialect`` (QueryError if invalid).

    ``column_types`` maps "table.column" to one of TYPE_KINDS (see
    :func:`warehouse_column_types`); filter values are coerced to those kinds, or bound
    as given when a column is absent. The time dimension's values are always dates.
    """
    kinds = dict(column_types or {})
    plan = _plan(model, query, kinds)
    scope = _check_scope(scope)
    rollup = None  # the day rollup time-aware leaves read, if one fits
    routes: dict[str, Rollup] = {}  # fact → the rollup its branch reads
    if use_rollups and plan.timed:  # only sums and counts windowed from a day rollup
        from queries.semantic import timewise_sql

        rollup = timewise_sql.choose_rollup(model, plan, scope, available_rollups)
        if rollup is not None:
            routes[rollup.fact] = rollup
    elif use_rollups:
        for fact in plan.facts:
            chosen = _rollup_for(model, plan, fact, scope, available_rollups)
            if chosen is not None:
                routes[fact] = chosen

    branches = []
    denied: list[str] = []
    for fact in plan.facts:
        source: _Source
        if fact in routes:
            source = _RollupSource(model, routes[fact])
        else:
            needs = [d.dim for d in plan.dims] + [c.ref.dim for c in plan.all_conds()]
            needs += [
                d for d in _scope_dims(model, scope) if d is not None and _reaches(model, fact, d)
            ]
            source = _FactSource(model, fact, dialect, needs, plan.leaves[fact])
        predicates = [_condition(source, c) for c in plan.conds]
        predicates += [conditions.render(g, partial(_condition, source)) for g in plan.groups]
        if isinstance(source, _FactSource) and plan.dims:
            # Without dimensions an empty match must still give one row (0 / NULL), so the
            # push-down is only for grouped queries, where a group with no matching row
            # simply does not appear — as in the hand-written query.
            prefilter = source.prefilter(plan.leaves[fact])
            if prefilter is not None:
                predicates.append(prefilter)
        scoped, is_denied = _scope_predicates(model, source, fact, scope, kinds)
        if is_denied:
            denied.append(fact)
        branches.append((fact, source, predicates + scoped))

    timed: list[tuple[str, sa.Subquery]] = []
    if plan.timed:
        from queries.semantic import timewise_sql  # it builds on this module's SQL pieces

        for key in plan.timed:
            branch, is_denied = timewise_sql.branch(model, plan, key, dialect, scope, rollup)
            fact = timewise.leaf_fact(model, key)
            if is_denied and fact not in denied:
                denied.append(fact)
            timed.append((key, branch))

    labels: dict[str, ColumnElement] = {}
    if len(branches) == 1 and not timed:
        fact, source, predicates = branches[0]
        dims = [source.dim(r) for r in plan.dims]
        leaf_sql = {name: source.leaf(name) for name in plan.leaves[fact]}
        for ref, column in zip(plan.dims, dims, strict=True):
            labels[ref.name] = column.label(ref.name)
        grouped = {r.name: (r.dim.is_time, c) for r, c in zip(plan.dims, dims, strict=True)}
        for name in plan.metrics:
            labels[name] = _metric_sa(model, name, leaf_sql.__getitem__, grouped).label(name)
        statement = sa.select(*labels.values()).select_from(source.from_clause)
        statement = statement.where(*predicates).group_by(*dims)
        if isinstance(source, _RollupSource) and plan.dims:
            having = source.matched(plan.leaves[fact])
            if having is not None:  # the same groups as the fact route's push-down
                statement = statement.having(having)
        if plan.having:  # on a rollup: over the re-summed values, exact for sum and count
            statement = statement.having(*_having_sa(model, plan, leaf_sql.__getitem__))
    else:
        statement = _drill_across(model, plan, branches, labels, dialect, timed)

    order = list(plan.order)
    order += [(d.name, False) for d in plan.dims if all(d.name != n for n, _ in order)]
    by_name = {d.name: d for d in plan.dims}
    for name, descending in order:
        column = labels[name]
        bucketed = by_name.get(name)
        if bucketed is not None and bucketed.dim.order:
            position = _bucket_position(model, bucketed, column, plan.kinds)
            statement = statement.order_by(
                (position.desc() if descending else position.asc()).nulls_last()
            )
        statement = statement.order_by((column.desc() if descending else column.asc()).nulls_last())
    if plan.limit is not None:
        statement = statement.limit(plan.limit)
    facts = dict.fromkeys([*plan.facts, *(timewise.leaf_fact(model, k) for k in plan.timed)])
    return CompiledQuery(
        statement=statement,
        columns=tuple(labels),
        facts=tuple(facts),
        rollup=", ".join(dict.fromkeys(r.name for r in routes.values())) or None,
        date_range=timewise.rows_read(model, plan.timed, _query_date_range(plan), plan.dims),
        denied_facts=tuple(denied),
        routes=tuple((fact, r.name) for fact, r in routes.items()),
    )


def _bucket_position(
    model: SemanticModel, ref: _DimRef, column: ColumnElement, kinds: Mapping[str, str]
) -> ColumnElement:
    """A dimension value's place in the dimension's ``order`` (values not listed after
    them, NULL last both ways): ``CASE WHEN value = :v0 THEN 0 … ELSE n END``, bound."""
    kind = _kind_of(model, ref, kinds)
    whens: list[tuple[ColumnElement, ColumnElement]] = [(column.is_(None), sa.null())]
    for i, value in enumerate(ref.dim.order):
        try:
            bound = coerce_value(value, kind)
        except ValueError:
            continue  # a value the column cannot hold matches no row
        whens.append((column == bound, sa.literal_column(str(i))))
    return sa.case(*whens, else_=sa.literal_column(str(len(ref.dim.order))))


def _drill_across(
    model: SemanticModel,
    plan: _Plan,
    branches: list[tuple[str, _Source, list[ColumnElement]]],
    labels: dict[str, ColumnElement],
    dialect: sa.engine.Dialect | None = None,
    timed: Sequence[tuple[str, sa.Subquery]] = (),
) -> sa.Select:
    """Several facts: aggregate each, stack with UNION ALL, group again on the dimensions.

    A time-aware leaf is a branch of its own (``timed``: a subquery with the dimensions as
    d0, d1, … and the value as v, from timewise_sql)."""
    slots = [(fact, leaf) for fact in plan.facts for leaf in plan.leaves[fact]]
    slots += [("", key) for key, _ in timed]
    # PostgreSQL types a UNION pairwise, left to right: two untyped NULLs make a text column
    # that the third branch's number cannot join. A BIGINT NULL joins any number without
    # changing its type (bigint ∪ double = double, bigint ∪ bigint = bigint).
    empty = (
        sa.cast(sa.null(), sa.BigInteger)
        if dialect is not None and dialect.name == "postgresql"
        else sa.null()
    )
    selects = []
    for fact, source, predicates in branches:
        dims = [source.dim(r) for r in plan.dims]
        columns = [d.label(f"d{i}") for i, d in enumerate(dims)]
        for j, (owner, name) in enumerate(slots):
            value = source.leaf(name) if owner == fact else empty
            columns.append(value.label(f"m{j}"))
        select = (
            sa.select(*columns).select_from(source.from_clause).where(*predicates).group_by(*dims)
        )
        if isinstance(source, _RollupSource) and plan.dims:
            matched = source.matched(plan.leaves[fact])
            if matched is not None:  # the same groups as the fact branch's push-down
                select = select.having(matched)
        selects.append(select)
    for timed_key, sub in timed:
        cells: list[ColumnElement] = [sub.c[f"d{i}"] for i in range(len(plan.dims))]
        for j, (owner, name) in enumerate(slots):
            cell = sub.c.v if not owner and name == timed_key else empty
            cells.append(cell.label(f"m{j}"))
        selects.append(sa.select(*cells).select_from(sub))
    stacked = sa.union_all(*selects).subquery("drill")
    position = {leaf: j for j, (_, leaf) in enumerate(slots)}
    keys = [stacked.c[f"d{i}"] for i in range(len(plan.dims))]
    for ref, key in zip(plan.dims, keys, strict=True):
        labels[ref.name] = key.label(ref.name)

    def leaf(name: str) -> ColumnElement:
        return sa.func.max(stacked.c[f"m{position[name]}"])

    grouped = {r.name: (r.dim.is_time, k) for r, k in zip(plan.dims, keys, strict=True)}
    for name in plan.metrics:
        labels[name] = _metric_sa(model, name, leaf, grouped).label(name)
    statement = sa.select(*labels.values()).select_from(stacked).group_by(*keys)
    return statement.having(*_having_sa(model, plan, leaf)) if plan.having else statement


def sql_text(compiled: CompiledQuery, dialect: sa.engine.Dialect) -> str:
    """The statement's SQL for ``dialect`` with bound-parameter placeholders (IN expanded)."""
    return str(
        compiled.statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    )


def sql_params(compiled: CompiledQuery, dialect: sa.engine.Dialect) -> dict[str, object]:
    """The bound parameter values of :func:`sql_text`, by placeholder name."""
    return dict(
        compiled.statement.compile(
            dialect=dialect, compile_kwargs={"render_postcompile": True}
        ).params
    )


def type_kind(type_name: str) -> str:
    """A warehouse type name (information_schema) as one of TYPE_KINDS."""
    text = type_name.strip().lower()
    if text.startswith(("timestamp", "datetime")):
        return "timestamp"
    if text == "date":
        return "date"
    if text in ("boolean", "bool"):
        return "boolean"
    if re.match(r"(tiny|small|big|huge|u)?int(eger)?\d*\b|u?(tiny|small|big|huge)int|int\d", text):
        return "integer"
    if text.startswith(("double", "float", "real", "decimal", "numeric", "number")):
        return "number"
    return "text"


def warehouse_column_types(connection: sa.Connection, model: SemanticModel) -> dict[str, str]:
    """``"table.column" → kind`` for the model's tables, from information_schema."""
    columns = sa.table(
        "columns",
        sa.column("table_name"),
        sa.column("column_name"),
        sa.column("data_type"),
        sa.column("table_schema"),
        schema="information_schema",
    )
    query = (
        sa.select(columns.c.table_name, columns.c.column_name, columns.c.data_type)
        .where(columns.c.table_name.in_(sorted(model.tables)))
        .where(columns.c.table_schema == sa.func.current_schema())
    )
    return {f"{t}.{c}": type_kind(str(d)) for t, c, d in connection.execute(query)}
