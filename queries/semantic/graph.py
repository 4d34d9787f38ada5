"""Join paths and reachability in a model: which tables and dimensions a fact reaches, and
which facts a metric reads.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

import sqlglot
from sqlglot import exp

from queries.semantic.types import Join, Metric, SemanticModel, Table


def join_path(
    model: SemanticModel, from_table: str, to_table: str
) -> list[tuple[Table, Join]] | None:
    """Shortest chain of many-to-one joins from one table to another; [] if same, None if none."""
    if from_table not in model.tables or to_table not in model.tables:
        return None
    if from_table == to_table:
        return []
    came_from: dict[str, tuple[str, Join]] = {}
    queue: deque[str] = deque([from_table])
    seen = {from_table}
    while queue:
        name = queue.popleft()
        for join in model.tables[name].joins:
            if join.target in seen or join.target not in model.tables:
                continue
            seen.add(join.target)
            came_from[join.target] = (name, join)
            if join.target == to_table:
                path: list[tuple[Table, Join]] = []
                step = to_table
                while step != from_table:
                    owner, via = came_from[step]
                    path.append((model.tables[owner], via))
                    step = owner
                return path[::-1]
            queue.append(join.target)
    return None


def reachable_tables(model: SemanticModel, table: str) -> set[str]:
    """The table itself and every table reached from it through many-to-one joins."""
    if table not in model.tables:
        return set()
    seen = {table}
    queue: deque[str] = deque([table])
    while queue:
        for join in model.tables[queue.popleft()].joins:
            if join.target in model.tables and join.target not in seen:
                seen.add(join.target)
                queue.append(join.target)
    return seen


def reachable_dimensions(model: SemanticModel, fact: str) -> set[str]:
    """Names of the dimensions a query on ``fact`` can group or filter by."""
    tables = reachable_tables(model, fact)
    names = {d.name for d in model.dimensions.values() if not d.is_time and d.table in tables}
    time_dim = model.time_dimension()
    if time_dim is not None and tables and model.tables[fact].time:
        names.add(time_dim.name)
    return names


def metric_references(metric: Metric) -> tuple[str, ...]:
    """Names of the metrics a ratio, expr or time metric is computed from, in order, no
    repeats."""
    if metric.kind == "time" and metric.time_op:
        return (metric.time_op.metric,)
    if metric.kind == "ratio" and metric.ratio:
        return tuple(dict.fromkeys(metric.ratio))
    if metric.kind == "expr" and metric.expr:
        return expr_metrics(metric.expr)
    return ()


def expr_metrics(expr: str) -> tuple[str, ...]:
    """Metric names used in an ``expr`` formula, in order of appearance, no repeats."""
    try:
        tree = sqlglot.parse_one(expr)
    except sqlglot.errors.ParseError:
        return ()
    columns = sorted(tree.find_all(exp.Column), key=lambda c: _position(c))
    return tuple(dict.fromkeys(c.name for c in columns))


def _position(node: exp.Expression) -> int:
    ident = node.find(exp.Identifier)
    meta = getattr(ident, "meta", None) or {}
    return int(meta.get("start", 0))


def metric_facts(model: SemanticModel, name: str) -> set[str]:
    """Tables aggregated by the aggregate metrics that ``name`` is built from."""
    facts: set[str] = set()
    seen: set[str] = set()
    stack = [name]
    while stack:
        current = stack.pop()
        metric = model.metrics.get(current)
        if metric is None or current in seen:
            continue
        seen.add(current)
        if metric.kind == "aggregate" and metric.fact:
            facts.add(metric.fact)
        stack.extend(metric_references(metric))
    return facts


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every elementary cycle found by depth-first search, each rotated to start at its min."""
    cycles: dict[tuple[str, ...], list[str]] = {}
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :]
                low = cycle.index(min(cycle))
                rotated = cycle[low:] + cycle[:low]
                cycles.setdefault(tuple(rotated), rotated)
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return list(cycles.values())
