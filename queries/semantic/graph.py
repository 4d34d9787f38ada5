"""Join paths and reachability in a model: which tables and dimensions a fact reaches, and
which facts a metric reads.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping

import sqlglot
from sqlglot import exp

from queries.semantic.types import Join, Metric, SemanticModel, Table


def _joins_of(model: SemanticModel, name: str) -> tuple[Join, ...]:
    """The joins followed out of a node: a table's own; none out of a role (a leaf)."""
    table = model.tables.get(name)
    return table.joins if table is not None else ()


def join_path(
    model: SemanticModel, from_table: str, to_table: str
) -> list[tuple[Table, Join]] | None:
    """Shortest chain of many-to-one joins from one table to a table or role; [] if same,
    None if none. A role (a table joined under another name) ends a path: its table's own
    joins are not followed, so every joined name is one alias in the SQL."""
    if from_table not in model.tables:
        return None
    if from_table == to_table:
        return []
    came_from: dict[str, tuple[str, Join]] = {}
    queue: deque[str] = deque([from_table])
    seen = {from_table}
    while queue:
        name = queue.popleft()
        for join in _joins_of(model, name):
            if join.target in seen or join.table not in model.tables:
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
            if not join.is_role:
                queue.append(join.target)
    return None


def reachable_tables(model: SemanticModel, table: str) -> set[str]:
    """The table itself and every table or role reached from it through many-to-one joins
    (roles are leaves: their own joins are not followed)."""
    if table not in model.tables:
        return set()
    seen = {table}
    queue: deque[str] = deque([table])
    while queue:
        for join in _joins_of(model, queue.popleft()):
            if join.table in model.tables and join.target not in seen:
                seen.add(join.target)
                if not join.is_role:
                    queue.append(join.target)
    return seen


def unreachable(model: SemanticModel, fact: str, name: str) -> str:
    """Why ``name`` (a table or role) is not reachable from ``fact``, for an error message."""
    if name not in model.tables and name not in model.roles():
        return f"'{name}' is not a table or role of the model"
    return (
        f"'{name}' is not reachable from '{fact}' through its joins{role_hint(model, fact, name)}"
    )


def role_hint(model: SemanticModel, fact: str, name: str | None) -> str:
    """': <why>' when ``name`` is joined from ``fact`` only as a role, or only beyond a role
    (whose joins are not followed); '' otherwise. For "not reachable" messages."""
    roles = model.roles()
    as_roles = sorted(r for r in reachable_tables(model, fact) if roles.get(r) == name)
    if as_roles:
        listed = ", ".join(f"'{r}'" for r in as_roles)
        return f": '{name}' is joined only as role {listed}; write {as_roles[0]}.column"
    seen = {fact}
    queue: deque[tuple[str, str | None]] = deque([(fact, None)])
    while queue:  # follow the roles' joins too, remembering the first role on the way
        node, via_role = queue.popleft()
        table = model.tables.get(model.physical(node))
        for join in table.joins if table is not None else ():
            if join.target in seen or join.table not in model.tables:
                continue
            seen.add(join.target)
            role = via_role or (join.target if join.is_role else None)
            if join.target == name and role is not None and role != name:
                return (
                    f": '{name}' is joined only beyond role '{role}' (table "
                    f"'{roles.get(role, role)}'), whose own joins are not followed; join "
                    f"'{name}' from '{fact}' directly, or as a role"
                )
            queue.append((join.target, role))
    return ""


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
    if metric.kind == "share" and metric.share_of:
        return (metric.share_of,)
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


def metrics_under(model: SemanticModel, name: str) -> Iterator[Metric]:
    """``name`` and every metric it is built from, each once (unknown names skipped)."""
    seen: set[str] = set()
    stack = [name]
    while stack:
        current = stack.pop()
        metric = model.metrics.get(current)
        if metric is None or current in seen:
            continue
        seen.add(current)
        yield metric
        stack.extend(metric_references(metric))


def metric_facts(model: SemanticModel, name: str) -> set[str]:
    """Tables aggregated by the aggregate metrics that ``name`` is built from."""
    return {m.fact for m in metrics_under(model, name) if m.kind == "aggregate" and m.fact}


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
