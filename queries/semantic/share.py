"""Share-of-total metrics: ``revenue_share: {share: {metric: revenue, within: [country]}}``.

A share is its base metric divided by the base summed over the rows of the query's own
result, as a window in the same SELECT::

    revenue / SUM(revenue) OVER (PARTITION BY <time dimension>, <`within` dimensions>)

The partition holds the dimensions of the query that must stay fixed: the time dimension
when the query has it (a share per period) and the ``within`` dimensions the query groups
by (a city's share of its country); the other dimensions are shared out. The window is
computed after WHERE and GROUP BY and before ORDER BY and LIMIT, so the total is that of
every group the filters and the row scope let through (also those a limit then cuts).

Only a metric whose parts add up has a share: sums and counts, and ``expr`` metrics that
add, subtract or scale them. A distinct count, a median or a ratio summed over groups is
no total of anything, so their shares are refused when the model loads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlglot import exp

from queries.semantic.aggregates import parse
from queries.semantic.types import Metric, SemanticModel

SHARE_KEYS = ("metric", "within")


def partition(metric: Metric, dims: Mapping[str, tuple[bool, ColumnElement]]) -> list:
    """The PARTITION BY of a share: of the query's dimensions (name → (is time, column)),
    the time dimension and the ``within`` ones, in the query's order."""
    return [col for name, (is_time, col) in dims.items() if is_time or name in metric.within]


def share_sa(
    metric: Metric,
    base: Callable[[], ColumnElement],
    dims: Mapping[str, tuple[bool, ColumnElement]],
) -> ColumnElement:
    """``base / SUM(base) OVER (PARTITION BY …)``, NULL when the total is 0 or NULL."""
    over = partition(metric, dims)
    total = sa.func.sum(base()).over(partition_by=over or None)
    zero: ColumnElement = sa.literal_column("0")
    return sa.cast(base(), sa.Double) / sa.func.nullif(total, zero, type_=sa.Double)


def summable_problem(model: SemanticModel, name: str, trail: tuple[str, ...] = ()) -> str | None:
    """Why metric ``name`` does not add up across groups (so has no share), or None."""
    metric = model.metrics.get(name)
    if metric is None or name in trail:
        return None  # unknown names and cycles are reported elsewhere
    if metric.kind == "aggregate":
        if metric.additive:
            return None
        return (
            f"'{name}' ({metric.sql}) does not add up across groups (only sums and counts "
            "do), so its share of the total would not mean anything"
        )
    if metric.kind == "expr" and metric.expr:
        tree = parse(metric.expr)
        if tree is None:
            return None
        if not _linear(tree):
            return (
                f"'{name}' ({metric.expr}) is not a sum or difference of metrics, so its "
                "values do not add up to a total"
            )
        for column in tree.find_all(exp.Column):
            problem = summable_problem(model, column.name, (*trail, name))
            if problem:
                return problem
        return None
    what = {"ratio": "a ratio", "share": "a share"}.get(metric.kind, f"a {metric.kind} metric")
    return f"'{name}' is {what}: its values do not add up to a total, so it has no share"


def _linear(node: exp.Expression) -> bool:
    """Sums, differences and multiples (by a number) of metric names: a linear formula."""
    if isinstance(node, exp.Paren | exp.Neg):
        return _linear(node.this)
    if isinstance(node, exp.Column):
        return True
    if isinstance(node, exp.Add | exp.Sub):
        return _linear(node.this) and _linear(node.expression)
    if isinstance(node, exp.Mul):
        left, right = node.this, node.expression
        return (_number(left) and _linear(right)) or (_number(right) and _linear(left))
    if isinstance(node, exp.Div):
        return _number(node.expression) and _linear(node.this)
    return False


def _number(node: exp.Expression) -> bool:
    while isinstance(node, exp.Paren | exp.Neg):
        node = node.this
    return isinstance(node, exp.Literal) and not node.is_string
