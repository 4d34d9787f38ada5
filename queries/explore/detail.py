"""Drill to detail: the fact rows behind one explorer figure, a page at a time.

A :class:`Drill` names a metric and the filters of the figure clicked (the explorer's own
filters plus the clicked point's dimension values). Its rows are the rows of the metric's
fact that pass those filters *and the metric's own filter* (the purchases behind revenue),
with every dimension attribute the model reaches joined in (the model's joins, LEFT JOIN),
inside the user's row scope (taken from the session on the server, never from the
client). Columns the model marks ``pii`` are replaced by a mask in the SQL itself for
roles without the ``pii`` permission, who may not filter or sort by them either.

Everything is built with SQLAlchemy Core from the model and the warehouse's own column
names; values are bound parameters; sort keys are checked against the column list. The
same statement serves the grid (one page: ``OFFSET``/``LIMIT``, ordered by the grid's sort,
then the fact's key) and the CSV export (in the warehouse's order unless a sort is asked
for, so it streams).
These are row reads, not metric queries, so they do not go through ``run()``; they
apply the same row scope and PII rules and log one line per read.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from app.core.auth import can, signed_in_user
from app.core.errors import AccessDenied, QueryError
from app.core.runtime import current_runtime
from queries.export import RowSource
from queries.semantic import conditions
from queries.semantic.compile import (
    _check_filter,
    _condition,
    _DimRef,
    _FactSource,
    _leaves,
    _reaches,
    _scope_dims,
    _scope_predicates,
    computed_kind,
)
from queries.semantic.graph import reachable_tables
from queries.semantic.parse import condition_text, parse_condition
from queries.semantic.query import Condition, RowScope, filter_leaves
from queries.semantic.run import current_model, effective_scope, version_facts
from queries.semantic.types import Dimension, SemanticModel
from queries.semantic.values import json_value

log = logging.getLogger("starboard.query")
MASK = "•••"
PAGE_MAX = 500  # rows one grid request may ask for
BROWSE_MAX = 100_000  # rows the grid lets anyone page through (export for more)
SORT_MAX = 3


@dataclass(frozen=True)
class DetailColumn:
    """One column of the detail grid."""

    key: str  # output name (grid field, CSV column): letters, digits, _
    label: str
    table: str
    column: str
    kind: str  # integer | number | text | date | timestamp | boolean
    pii: bool = False
    dimension: str | None = None  # a computed dimension's name: its sql, not a column


@dataclass(frozen=True)
class Drill:
    """The rows behind one figure: a metric, filters, and the grid's sort."""

    metric: str
    filters: tuple[Condition, ...] = ()  # Filters or AllOf/AnyOf/Not groups, ANDed
    sort: tuple[tuple[str, bool], ...] = ()  # (column key, descending)


@dataclass(frozen=True)
class DetailPage:
    columns: tuple[DetailColumn, ...]
    rows: list[dict[str, Any]]
    offset: int
    last_row: int | None  # total rows when this page reached the end, else None
    ms: float


# --------------------------------------------------------------------------- text forms


def filter_text(flt: Condition) -> str:
    """A Filter or group back as parse_condition text (values quoted when they need it)."""
    return condition_text(flt)


def drill_args(drill: Drill) -> list[tuple[str, str]]:
    """URL query arguments of a drill (for the CSV link)."""
    args = [("metric", drill.metric)]
    args += [("where", filter_text(f)) for f in drill.filters]
    if drill.sort:
        args.append(("sort", ",".join(("-" if d else "") + k for k, d in drill.sort)))
    return args


def drill_href(drill: Drill, base: str = "/api/v1/export/detail") -> str:
    return base + "?" + urlencode(drill_args(drill))


def parse_sort(text: str | None) -> tuple[tuple[str, bool], ...]:
    """``-occurred_at,revenue`` → ((occurred_at, True), (revenue, False))."""
    items = [p.strip() for p in (text or "").split(",") if p.strip()]
    if len(items) > SORT_MAX:
        raise QueryError(f"sort: at most {SORT_MAX} columns, got {len(items)}")
    return tuple((p.lstrip("-+"), p.startswith("-")) for p in items)


def drill_from_args(args: Mapping[str, Any], model: SemanticModel | None = None) -> Drill:
    """A Drill from URL arguments (``metric``, repeated ``where``, ``sort``)."""

    model = model or current_model()
    metric = (args.get("metric") or "").strip()
    if not metric:
        raise QueryError("metric: required (the metric whose rows to show)")
    getlist = getattr(args, "getlist", None)
    wheres = getlist("where") if getlist else list(args.get("where") or [])
    return Drill(
        metric, tuple(parse_condition(w, model) for w in wheres), parse_sort(args.get("sort"))
    )


def drill_from_json(data: object, model: SemanticModel) -> Drill:
    """A Drill from the page's store (client data: everything is checked again)."""
    if not isinstance(data, Mapping):
        raise QueryError("drill: expected an object")
    where = data.get("where", [])
    if not isinstance(where, list) or not all(isinstance(w, str) for w in where):
        raise QueryError("drill.where: expected a list of filter texts")
    metric = data.get("metric")
    if not isinstance(metric, str):
        raise QueryError("drill.metric: expected a metric name")
    return Drill(metric, tuple(parse_condition(w, model) for w in where))


def drill_to_json(drill: Drill) -> dict[str, Any]:
    return {"metric": drill.metric, "where": [filter_text(f) for f in drill.filters]}


# --------------------------------------------------------------------------- SQL


def fact_of(model: SemanticModel, metric: str) -> tuple[str, list[str]]:
    """The fact a metric's rows come from and the aggregate metrics it reads there."""
    if metric not in model.metrics:
        raise QueryError(f"unknown metric {metric!r}")
    leaves = _leaves(model, metric)
    fact = model.metrics[leaves[0]].fact
    assert fact is not None
    return fact, [leaf for leaf in leaves if model.metrics[leaf].fact == fact]


def _is_pii(model: SemanticModel, table: str, column: str) -> bool:
    spec = model.table_of(table)  # a role's columns are its table's
    return bool(spec and column in spec.pii)


def detail_columns(
    model: SemanticModel, fact: str, kinds: Mapping[str, str]
) -> tuple[DetailColumn, ...]:
    """The fact's own columns, every dimension it reaches (by the model's names), and the
    PII columns of the tables it joins (so they show, masked or not)."""
    prefix = f"{fact}."
    columns = [
        DetailColumn(
            name[len(prefix) :],
            name[len(prefix) :],
            fact,
            name[len(prefix) :],
            kind,
            _is_pii(model, fact, name[len(prefix) :]),
        )
        for name, kind in kinds.items()
        if name.startswith(prefix)
    ]
    taken = {c.key for c in columns}
    tables = reachable_tables(model, fact)
    for dim in model.dimensions.values():
        if dim.sql is not None and dim.table in tables:  # computed: shown as computed
            key = dim.name if dim.name not in taken else f"{dim.name}_dim"
            taken.add(key)
            columns.append(
                DetailColumn(
                    key,
                    dim.label,
                    dim.table,
                    "",
                    computed_kind(dim) or "text",
                    model.dimension_is_pii(dim),
                    dimension=dim.name,
                )
            )
            continue
        if (
            dim.is_time
            or not dim.table
            or not dim.column
            or dim.table == fact
            or dim.table not in tables
        ):
            continue
        key = dim.name if dim.name not in taken else f"{dim.name}_dim"
        taken.add(key)
        columns.append(
            DetailColumn(
                key,
                dim.label,
                dim.table,
                dim.column,
                kinds.get(f"{model.physical(dim.table)}.{dim.column}", "text"),
                _is_pii(model, dim.table, dim.column),
            )
        )
    shown = {(c.table, c.column) for c in columns}
    for table in sorted(tables - {fact}):
        spec = model.table_of(table)
        for column in sorted(spec.pii if spec else ()):
            if (table, column) not in shown:
                columns.append(
                    DetailColumn(
                        f"{table}__{column}",
                        f"{column} ({table})",
                        table,
                        column,
                        kinds.get(f"{model.physical(table)}.{column}", "text"),
                        True,
                    )
                )
    return tuple(columns)


def _check_pii_filters(model: SemanticModel, drill: Drill, pii_ok: bool, role: str) -> None:
    if pii_ok:
        return
    for flt in filter_leaves(drill.filters):
        dim = model.dimensions.get(flt.dimension.partition(":")[0])
        if dim and model.dimension_is_pii(dim):
            raise AccessDenied(
                f"{dim.label} is personal data: your role ({role}) may not filter by it."
            )


def detail_statement(
    model: SemanticModel,
    drill: Drill,
    *,
    dialect: sa.engine.Dialect,
    kinds: Mapping[str, str],
    scope: RowScope = (),
    pii_ok: bool = False,
    role: str = "analyst",
    offset: int | None = None,
    limit: int | None = None,
    ordered: bool = True,
) -> tuple[sa.Select, tuple[DetailColumn, ...]]:
    """The SELECT of a drill's rows (QueryError/AccessDenied when it asks for too much).

    ``ordered=False`` (an export without a sort) leaves out the ORDER BY: rows then come in
    the warehouse's order and stream without the database holding them all for a sort.
    """
    fact, leaves = fact_of(model, drill.metric)
    columns = detail_columns(model, fact, kinds)
    by_key = {c.key: c for c in columns}
    _check_pii_filters(model, drill, pii_ok, role)
    problems: list[str] = []
    trees = [
        t
        for f in drill.filters
        if (t := conditions.check(f, lambda x: _check_filter(x, model, kinds, problems), problems))
        is not None
    ]
    conds = [leaf for t in trees for leaf in conditions.leaves(t)]
    for cond in conds:
        if not _reaches(model, fact, cond.ref.dim):
            problems.append(
                f"filter on {cond.ref.name!r}: {cond.ref.dim.label} is not "
                f"reachable from {fact}, the table behind {drill.metric}"
            )
    for key, _desc in drill.sort:
        column = by_key.get(key)
        if column is None:
            problems.append(
                f"sort: unknown column {key!r}; sort by one of {', '.join(sorted(by_key))}"
            )
        elif column.pii and not pii_ok:
            problems.append(f"sort: {column.label} is personal data and cannot be sorted by")
    if problems:
        raise QueryError("; ".join(problems))
    needs: list[Dimension] = [
        Dimension(c.key, c.label, c.table, c.column) for c in columns if c.table != fact
    ]
    needs += [c.ref.dim for c in conds]
    needs += [d for d in _scope_dims(model, scope) if d is not None and _reaches(model, fact, d)]
    source = _FactSource(model, fact, dialect, needs, leaves)
    for col in columns:
        table = source.tables[col.table]
        if (
            col.dimension is None
            and col.column not in table.c
            and isinstance(table, sa.TableClause)
        ):
            table.append_column(sa.column(col.column))
    selected: dict[str, ColumnElement] = {}
    for col in columns:
        if col.dimension is not None:
            dim = model.dimensions[col.dimension]
            expr: ColumnElement = source.dim(_DimRef(dim.name, dim.name, None, dim))
        else:
            expr = source.tables[col.table].c[col.column]
        if col.pii and not pii_ok:
            expr = sa.literal(MASK, sa.String)
        selected[col.key] = expr.label(col.key)
    predicates = [conditions.render(t, partial(_condition, source)) for t in trees]
    prefilter = source.prefilter(leaves)
    if prefilter is not None:
        predicates.append(prefilter)
    scoped, _denied = _scope_predicates(model, source, fact, tuple(scope), kinds)
    statement = sa.select(*selected.values()).select_from(source.from_clause)
    statement = statement.where(*predicates, *scoped)
    order = [selected[k].desc() if d else selected[k].asc() for k, d in drill.sort]
    pk = [k for k in model.tables[fact].primary_key if k in by_key]
    order += [selected[k].asc() for k in pk if k not in dict(drill.sort)]
    if ordered:
        statement = statement.order_by(*(o.nulls_last() for o in order))
    if offset:
        statement = statement.offset(offset)
    if limit is not None:
        statement = statement.limit(limit)
    return statement, columns


# --------------------------------------------------------------------------- running


def _context() -> tuple[SemanticModel, Any, dict[str, str], RowScope, bool, str]:
    """Model, pinned snapshot, column kinds, the user's row scope, pii permission, role."""

    user = signed_in_user()
    if user is None:
        raise AccessDenied("Sign in to see data.")
    if not can(user, "tier2"):
        raise AccessDenied(f"Your role ({user.role}) may not see detail rows.")
    runtime = current_runtime()
    model = current_model(runtime)
    snap = runtime.warehouse.snapshot()
    kinds = version_facts(runtime, snap, model).column_types
    return model, snap, kinds, effective_scope(), can(user, "pii"), user.role


def fetch_page(drill: Drill, offset: int, limit: int) -> DetailPage:
    """One page of a drill's rows for the signed-in user (the grid's getRowsRequest)."""
    if not isinstance(offset, int) or not isinstance(limit, int) or offset < 0 or limit < 1:
        raise QueryError(f"rows {offset!r}–{limit!r}: expected a start ≥ 0 and a count ≥ 1")
    if offset >= BROWSE_MAX:
        raise QueryError(f"The grid shows the first {BROWSE_MAX:,} rows; export the CSV for more.")
    limit = min(limit, PAGE_MAX, BROWSE_MAX - offset)
    model, snap, kinds, scope, pii_ok, role = _context()
    started = time.perf_counter()
    statement, columns = detail_statement(
        model,
        drill,
        dialect=snap.engine.dialect,
        kinds=kinds,
        scope=scope,
        pii_ok=pii_ok,
        role=role,
        offset=offset,
        limit=limit + 1,
    )
    try:
        with snap.engine.connect() as conn:
            result = conn.execute(statement)
            keys = list(result.keys())
            raw = result.fetchall()
    except sa.exc.DBAPIError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise QueryError(f"The warehouse could not read these rows: {first}") from exc
    more = len(raw) > limit
    rows = [dict(zip(keys, (_json(v) for v in r), strict=True)) for r in raw[:limit]]
    last = None if more and offset + limit < BROWSE_MAX else offset + len(rows)
    ms = (time.perf_counter() - started) * 1000
    log.info(
        "detail %s",
        json.dumps(
            {
                "metric": drill.metric,
                "offset": offset,
                "rows": len(rows),
                "ms": round(ms, 1),
                "version": snap.version.id,
            }
        ),
    )
    return DetailPage(columns, rows, offset, last, ms)


def _json(value: Any) -> Any:

    return json_value(value)


def export_source(drill: Drill) -> Any:
    """The drill's rows as a CSV RowSource (the export module applies the role cap)."""

    model, snap, kinds, scope, pii_ok, role = _context()
    statement, columns = detail_statement(
        model,
        drill,
        dialect=snap.engine.dialect,
        kinds=kinds,
        scope=scope,
        pii_ok=pii_ok,
        role=role,
        ordered=bool(drill.sort),
    )
    return RowSource(
        columns=[c.key for c in columns],
        statement=statement,
        what="detail",
        detail={"metric": drill.metric, "where": [filter_text(f) for f in drill.filters]},
    )


def sort_from_grid(model: Sequence[Mapping[str, Any]] | None) -> tuple[tuple[str, bool], ...]:
    """AG Grid's sortModel ([{colId, sort}]) as Drill.sort (checked later, by the SQL)."""
    out = []
    for item in (model or [])[:SORT_MAX]:
        if isinstance(item, Mapping) and isinstance(item.get("colId"), str):
            out.append((item["colId"], item.get("sort") == "desc"))
    return tuple(out)
