"""Order statistics (median, percentiles) in a metric's ``sql``, and which aggregates add up.

Spellings accepted in ``sql`` (one tree form after :func:`normalise`)::

    median(x)
    percentile_cont(0.9) WITHIN GROUP (ORDER BY x)      -- interpolated
    percentile_disc(0.9) WITHIN GROUP (ORDER BY x DESC) -- an actual value of x
    quantile_cont(x, 0.9)   quantile_disc(x, 0.9)       -- DuckDB's spelling, same meaning

The fraction is a number literal from 0 to 1, the ordering one expression. Every dialect
gets the SQL it accepts: PostgreSQL has no ``median`` (sqlglot writes
``PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY x)``), DuckDB gets ``quantile_cont(x, 0.9)``
for an ascending order. None of these add up across rows: a median of medians is not the
median, so such a metric is never stored in a rollup nor summed for a total.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import cast

import sqlglot
from sqlglot import exp

from app.core.errors import QueryError

ORDER_STATISTICS: tuple[type[exp.Expression], ...] = (exp.Median, exp.WithinGroup)
_PERCENTILES: tuple[type[exp.Expression], ...] = (exp.PercentileCont, exp.PercentileDisc)
_DUCKDB_NAMES = {"quantile_cont": exp.PercentileCont, "quantile_disc": exp.PercentileDisc}


def _fraction_problem(node: exp.Expression | None, sql: str) -> str | None:
    """Why ``node`` is not a fraction literal from 0 to 1, or None."""
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        return f"the fraction -{node.this.this} is not between 0 and 1 in {sql!r}"
    if not isinstance(node, exp.Literal) or node.is_string:
        shown = node.sql() if node is not None else "nothing"
        return f"the fraction must be a number from 0 to 1, not {shown!r}, in {sql!r}"
    value = float(node.this)
    if not 0 <= value <= 1:
        return f"the fraction {node.this} is not between 0 and 1 in {sql!r}"
    return None


def _from_duckdb(node: exp.Expression, sql: str, where: str) -> exp.Expression:
    """``quantile_cont(x, f)`` → ``percentile_cont(f) WITHIN GROUP (ORDER BY x)``."""
    if not isinstance(node, exp.Anonymous) or str(node.name).lower() not in _DUCKDB_NAMES:
        return node
    args = node.expressions
    if len(args) != 2:
        raise QueryError(f"{where}: {node.name}(x, fraction) takes two arguments in {sql!r}")
    func = _DUCKDB_NAMES[str(node.name).lower()](this=args[1].copy())
    order = exp.Order(expressions=[exp.Ordered(this=args[0].copy())])
    return exp.WithinGroup(this=func, expression=order)


def normalise(tree: exp.Expression, sql: str, where: str) -> exp.Expression:
    """Rewrite DuckDB's spelling to the standard one and check every order statistic
    (QueryError naming ``where``): the tree the whitelist and the renderer then see."""
    tree = tree.transform(lambda n: _from_duckdb(n, sql, where), copy=False)
    for node in tree.walk():
        problem = _node_problem(cast(exp.Expression, node), sql)
        if problem:
            raise QueryError(f"{where}: {problem}")
    return tree


def _node_problem(node: exp.Expression, sql: str) -> str | None:
    """Why one node of a metric's sql is a malformed order statistic, or None."""
    if isinstance(node, exp.Median):
        if isinstance(node.this, exp.Distinct) or node.args.get("expressions"):
            return f"median takes one expression (no DISTINCT) in {sql!r}"
        return None
    if isinstance(node, exp.WithinGroup):
        func, order = node.this, node.expression
        if not isinstance(func, _PERCENTILES) or func.args.get("expression") is not None:
            return (
                "WITHIN GROUP is only allowed with percentile_cont(fraction) or "
                f"percentile_disc(fraction) in {sql!r}"
            )
        if not isinstance(order, exp.Order) or len(order.expressions) != 1:
            return f"a percentile orders by exactly one expression in {sql!r}"
        for ordered in order.expressions:  # NULLs are left out either way: no NULLS clause
            ordered.set("nulls_first", bool(ordered.args.get("desc")))
        return _fraction_problem(func.this, sql)
    if isinstance(node, _PERCENTILES) and not isinstance(node.parent, exp.WithinGroup):
        name = type(node).__name__.replace("Percentile", "percentile_").lower()
        return f"write {name}(fraction) WITHIN GROUP (ORDER BY column) in {sql!r}"
    if isinstance(node, exp.Order | exp.Ordered) and not _within_group(node):
        return f"ORDER BY is only allowed in a percentile's WITHIN GROUP in {sql!r}"
    return None


def _within_group(node: exp.Expression) -> bool:
    """True when ``node`` is the ORDER BY of a WITHIN GROUP (or one of its items)."""
    order = node.parent if isinstance(node, exp.Ordered) else node
    return isinstance(order, exp.Order) and isinstance(order.parent, exp.WithinGroup)


def fold_filter(
    agg: exp.WithinGroup, only_when: Callable[[exp.Expression], exp.Expression]
) -> None:
    """A metric filter inside a percentile: the ordered expression becomes
    ``CASE WHEN filter THEN x END`` (rows failing it are NULL, which percentiles skip)."""
    for ordered in agg.expression.expressions:
        ordered.set("this", only_when(ordered.this))


def for_dialect(tree: exp.Expression, dialect: str) -> exp.Expression:
    """The tidiest form each dialect accepts: on DuckDB an ascending percentile is
    ``quantile_cont(x, f)`` (sqlglot would repeat x as ``quantile_cont(x, f ORDER BY x)``)."""
    if dialect != "duckdb":
        return tree

    def tidy(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.WithinGroup) or not isinstance(node.this, _PERCENTILES):
            return node
        (ordered,) = node.expression.expressions
        if ordered.args.get("desc"):
            return node
        name = "quantile_cont" if isinstance(node.this, exp.PercentileCont) else "quantile_disc"
        return exp.Anonymous(this=name, expressions=[ordered.this, node.this.this])

    return tree.transform(tidy, copy=False)


def parse(sql: str) -> exp.Expression | None:
    """One parsed SQL expression, or None when it does not parse."""
    try:
        return cast(exp.Expression, sqlglot.parse_one(sql))
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return None


def sql_problem(sql: str) -> str | None:
    """Why a metric's ``sql`` holds a malformed median or percentile (for the loader), or None."""
    tree = parse(sql)
    if tree is None:
        return None  # the loader reports parse errors itself
    try:
        normalise(tree, sql, "sql")
    except QueryError as err:
        return err.message.removeprefix("sql: ")
    return None


@functools.lru_cache(maxsize=1024)
def is_order_statistic(sql: str | None) -> bool:
    """True when the metric's sql uses a median or a percentile."""
    parsed = parse(sql) if sql else None
    if parsed is None:
        return False
    try:
        tree = normalise(parsed, sql or "", "sql")
    except QueryError:
        return False
    return any(isinstance(n, ORDER_STATISTICS) for n in tree.walk())


def mentions_order_statistic(sql: str) -> bool:
    """True when ``sql`` calls a median or percentile, well formed or not (an aggregate)."""
    tree = parse(sql)
    if tree is None:
        return False
    return any(
        isinstance(n, ORDER_STATISTICS + _PERCENTILES)
        or (isinstance(n, exp.Anonymous) and str(n.name).lower() in _DUCKDB_NAMES)
        for n in tree.walk()
    )


@functools.lru_cache(maxsize=1024)
def is_additive(sql: str | None) -> bool:
    """True when partial results of ``sql`` can be summed: sums and non-distinct counts,
    alone or added and subtracted (``sum(a) - sum(b)``); nothing else outside them."""
    tree = parse(sql) if sql else None
    return tree is not None and _additive(tree)


def _additive(node: exp.Expression) -> bool:
    if isinstance(node, exp.Paren):
        return _additive(node.this)
    if isinstance(node, exp.Add | exp.Sub):
        return _additive(node.this) and _additive(node.expression)
    if isinstance(node, exp.Neg):
        return _additive(node.this)
    if isinstance(node, exp.Sum | exp.Count):
        return node.find(exp.Distinct) is None and not any(
            isinstance(n, exp.AggFunc | exp.WithinGroup) for n in node.walk() if n is not node
        )
    return False
