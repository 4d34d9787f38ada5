"""``starboard check``: does each `sum` / `product` / `ratio` node of the tree hold on the data?

For each such node one query (through the compiler, no rollups) asks the metric and its
children by month, the latest ``PERIODS`` months that have data, the latest one included
even when it is not over (an identity holds in any period). A node whose facts have no time
column (or a model without a time dimension) is judged once, over the whole table.

In each period the identity gives an implied value (Σ children, Π children, a / b); the
node is refused when |implied − metric| / |metric| exceeds its tolerance (``tolerance:``,
default ``DEFAULT_TOLERANCE``) in any period. `influence` nodes are not identities: not
checked. A period where the identity cannot be computed (a factor or a denominator with no
value, a denominator of 0) is skipped; a sum counts a child with no value as 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from app.core.errors import QueryError
from queries.semantic.compile import compile_query, warehouse_column_types
from queries.semantic.graph import metric_facts, metric_references
from queries.semantic.query import MetricQuery
from queries.semantic.types import SemanticModel, TreeNode

PERIODS = 3  # months judged per node
GRAIN = "month"
DEFAULT_TOLERANCE = 0.005  # 0.5 % of the metric's value
CHECKED = ("sum", "product", "ratio")
_ZERO = 1e-12
_SIGN = {"sum": " + ", "product": " × ", "ratio": " / "}


@dataclass(frozen=True)
class Gap:
    """One period's metric against what its children's identity implies."""

    period: str
    value: float  # the metric (0 for a sum's metric with no value)
    implied: float
    off: float  # |implied − value| / |value|; inf when the metric is 0 and implied is not


def _finite(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]  # Decimal, numpy
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def implied_value(relation: str, children: Sequence[float | None]) -> float | None:
    """Σ / Π of the children, or numerator / denominator; None when not computable."""
    if relation == "sum":
        values = [_finite(c) for c in children]
        if all(v is None for v in values):
            return None
        return sum(v or 0.0 for v in values)
    values = [_finite(c) for c in children]
    if any(v is None for v in values):
        return None
    if relation == "product":
        return math.prod(values)  # type: ignore[arg-type]
    if relation == "ratio":
        numerator, denominator = values
        if denominator is None or abs(denominator) <= _ZERO:
            return None
        return numerator / denominator  # type: ignore[operator]
    raise ValueError(f"not an identity: {relation}")


def relation_gap(
    relation: str, parent: float | None, children: Sequence[float | None], period: str = ""
) -> Gap | None:
    """How far the metric is from its identity in one period; None when it cannot be judged
    (no implied value, or neither side has a value)."""
    implied = implied_value(relation, children)
    if implied is None:
        return None
    value = _finite(parent)
    if value is None:
        # no rows for the metric: consistent with an identity that gives 0, not with more
        value = 0.0
    if abs(value) <= _ZERO:
        off = 0.0 if abs(implied) <= _ZERO else math.inf
    else:
        off = abs(implied - value) / abs(value)
    return Gap(period, value, implied, off)


def _num(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.1f}"
    return f"{value:.4g}"


def _pct(fraction: float) -> str:
    pct = fraction * 100
    if pct >= 10:
        return f"{pct:,.0f}%"
    return f"{pct:.2g}%"


def gap_message(node: TreeNode, gaps: Sequence[Gap], tolerance: float) -> str:
    """ "a ≠ b × c in 2026-11: 1,025 vs 18,203 (off by 1,676%; tolerance 0.5%)" for the
    worst period, with the other periods that miss too."""
    worst = max(gaps, key=lambda g: g.off)
    identity = _SIGN[node.relation].join(node.children)
    where = f" in {worst.period}" if worst.period else " over all rows"
    how = "the metric is 0" if math.isinf(worst.off) else f"off by {_pct(worst.off)}"
    text = (
        f"{node.metric} ≠ {identity}{where}: {_num(worst.value)} vs {_num(worst.implied)} "
        f"({how}; tolerance {_pct(tolerance)})"
    )
    others = [g.period for g in gaps if g is not worst and g.period]
    if others:
        text += f"; also off in {', '.join(sorted(others))}"
    return text


def _leaf_names(model: SemanticModel, names: Iterable[str]) -> set[str]:
    """The metrics ``names`` are computed from, themselves included."""
    seen: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        metric = model.metrics.get(name)
        if metric is not None:
            stack.extend(metric_references(metric))
    return seen


def _blocked(model: SemanticModel, node: TreeNode, broken: Iterable[str]) -> bool:
    """True when a problem found loading the model touches the node, its metrics or facts."""
    names = [node.metric, *node.children]
    if any(n not in model.metrics for n in names):
        return True
    metrics = _leaf_names(model, names)
    if any(m not in model.metrics for m in metrics):
        return True
    facts: set[str] = set().union(*(metric_facts(model, m) for m in metrics))
    tables = set(facts)
    for fact in facts:  # a time column through a join: its table too
        spec = model.tables[fact].time if fact in model.tables else None
        if spec and "." in spec:
            tables.add(spec.rpartition(".")[0])
    time = model.time_dimension()
    prefixes = (
        [f"tree.{node.metric}"]
        + [f"metrics.{m}" for m in metrics]
        + [f"tables.{t}" for t in sorted(tables)]
        + ([f"dimensions.{time.name}"] if time else [])
    )
    return any(k == p or k.startswith(p + ".") for k in broken for p in prefixes)


def _timed(model: SemanticModel, node: TreeNode) -> str | None:
    """The time dimension's name when every fact of the node has a time column."""
    time = model.time_dimension()
    if time is None:
        return None
    facts = set().union(*(metric_facts(model, m) for m in (node.metric, *node.children)))
    if not facts or any(not (t in model.tables and model.tables[t].time) for t in facts):
        return None
    return time.name


def _period_label(value: object) -> str:
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return f"{value:%Y-%m}"
    return str(value)[:7]


def node_query(model: SemanticModel, node: TreeNode) -> MetricQuery:
    """The one query that checks ``node``: its metric and children by month, latest first."""
    names = tuple(dict.fromkeys((node.metric, *node.children)))
    time = _timed(model, node)
    if time is None:
        return MetricQuery(names)
    return MetricQuery(names, (f"{time}:{GRAIN}",), order_by=(f"-{time}",), limit=PERIODS)


def check_tree(
    model: SemanticModel,
    conn: sa.Connection,
    add: Callable[[str, str], None],
    broken: Iterable[str] = (),
) -> None:
    """Refuse (``add(key, message)``) each sum / product / ratio node that does not hold.

    ``broken``: keys with problems from loading the model; a node they touch is not
    evaluated (its structural problem is reported already)."""
    broken = list(broken)
    nodes = [n for n in model.tree.values() if n.relation in CHECKED]
    if not nodes:
        return
    kinds = warehouse_column_types(conn, model)
    for node in nodes:
        if _blocked(model, node, broken):
            continue
        key = f"tree.{node.metric}"
        query = node_query(model, node)
        try:
            compiled = compile_query(
                model, query, dialect=conn.dialect, use_rollups=False, column_types=kinds
            )
            rows = conn.execute(compiled.statement).all()
        except QueryError as exc:
            add(key, f"cannot evaluate the tree relation: {exc.message}")
            continue
        except sa.exc.DBAPIError as exc:
            conn.rollback()
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            add(key, f"cannot evaluate the tree relation: the warehouse says {first}")
            continue
        columns = list(compiled.columns)
        timed = bool(query.dimensions)
        tolerance = DEFAULT_TOLERANCE if node.tolerance is None else node.tolerance
        gaps = []
        for row in rows:
            values = dict(zip(columns, row, strict=True))
            period = _period_label(row[0]) if timed else ""
            gap = relation_gap(
                node.relation, values[node.metric], [values[c] for c in node.children], period
            )
            if gap is not None and gap.off > tolerance:
                gaps.append(gap)
        if gaps:
            add(key, gap_message(node, gaps, tolerance))
