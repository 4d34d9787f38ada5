"""The one door: every query from pages, CLI, API and exports goes through ``run``.

``run`` compiles the query (applying the caller's row scope), classifies its cost, looks
it up in the cache under hash(SQL, parameters, scope, data version), executes it on the
live snapshot when needed, and logs one line per query. Because everything passes here,
access, caching and the load budget can be checked in one place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from app.core.auth import can, current_scope, signed_in_user
from app.core.errors import AccessDenied, QueryError, StarboardError
from app.core.requestlog import note_query, request_id
from app.core.runtime import Runtime, current_runtime
from app.core.warehouse import Snapshot
from queries.semantic.compile import CompiledQuery, compile_query, sql_text, warehouse_column_types
from queries.semantic.graph import join_path, metric_facts
from queries.semantic.model import load_model
from queries.semantic.query import MetricQuery, RowScope, filter_leaves
from queries.semantic.types import SemanticModel

log = logging.getLogger("starboard.query")

# Cost classes by rows scanned (DESIGN §3).
COST_CLASSES = (("A", 10**4), ("B", 10**6), ("C", 10**7))
MODEL_STATE = "queries.semantic.model"
_state_lock = threading.Lock()


@dataclass(frozen=True)
class QueryResult:
    """Rows of one query and how they were obtained."""

    frame: pd.DataFrame
    columns: tuple[str, ...]
    sql: str
    params: dict[str, object]
    cost_class: str
    rows_scanned: int
    cache_hit: bool
    ms: float
    version: str
    rollup: str | None
    query_id: str
    notices: tuple[str, ...] = ()


@dataclass
class VersionFacts:
    """What the runner learns once per data version: column types, tables, time spans."""

    column_types: dict[str, str]
    tables: frozenset[str]
    row_counts: dict[str, int] = field(default_factory=dict)
    spans: dict[str, tuple[date, date] | None] = field(default_factory=dict)


def cost_class(rows: int) -> str:
    """A ≤ 10⁴ rows scanned, B ≤ 10⁶, C ≤ 10⁷, D above."""
    for name, limit in COST_CLASSES:
        if rows <= limit:
            return name
    return "D"


def current_model(runtime: Runtime | None = None) -> SemanticModel:
    """The semantic model of this process, loaded once (ModelError when it is broken)."""
    runtime = runtime or current_runtime()
    path = Path(runtime.settings.model)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as exc:
        raise QueryError(f"The semantic model {path} cannot be read: {exc.strerror}.") from exc
    cached = runtime.state.get(MODEL_STATE)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    with _state_lock:
        model = load_model(path)
        runtime.state[MODEL_STATE] = (stamp, model)
    return model


def version_facts(runtime: Runtime, snap: Snapshot, model: SemanticModel) -> VersionFacts:
    key = f"queries.facts:{snap.version.id}"
    facts = runtime.state.get(key)
    if facts is not None:
        return facts
    with _state_lock:
        facts = runtime.state.get(key)
        if facts is not None:
            return facts
        with snap.engine.connect() as conn:
            types = warehouse_column_types(conn, model)
            tables = frozenset(sa.inspect(conn).get_table_names())
        facts = VersionFacts(types, tables, dict(snap.version.row_counts))
        for old in [k for k in runtime.state if k.startswith("queries.facts:")]:
            del runtime.state[old]
        runtime.state[key] = facts
    return facts


def _row_count(snap: Snapshot, facts: VersionFacts, table: str) -> int:
    if table not in facts.row_counts:
        with snap.engine.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar()
        facts.row_counts[table] = int(count or 0)
    return facts.row_counts[table]


def _time_span(
    snap: Snapshot, facts: VersionFacts, model: SemanticModel, table: str
) -> tuple[date, date] | None:
    """First and last day of a fact's time column (through its join if need be)."""
    if table in facts.spans:
        return facts.spans[table]
    span = None
    spec = model.tables[table].time if table in model.tables else None
    if spec:
        owner, _, column = spec.rpartition(".")
        owner = owner or table
        aliases = {table: sa.table(table).alias("t0")}
        source: sa.FromClause = aliases[table]
        for i, (_step, join) in enumerate(join_path(model, table, owner) or [], start=1):
            aliases[join.target] = sa.table(join.table).alias(f"t{i}")
            source = source.join(
                aliases[join.target],
                sa.literal_column(f"t{i - 1}.{join.from_column}")
                == sa.literal_column(f"t{i}.{join.to_column}"),
            )
        if owner not in aliases:
            facts.spans[table] = None
            return None
        time_col: sa.ColumnClause[Any] = sa.literal_column(f"{aliases[owner].name}.{column}")
        with snap.engine.connect() as conn:
            low, high = conn.execute(
                sa.select(sa.func.min(time_col), sa.func.max(time_col)).select_from(source)
            ).one()
        if low is not None and high is not None:
            span = (_as_date(low), _as_date(high))
    facts.spans[table] = span
    return span


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def as_date(value: object) -> date:
    """A warehouse's date or timestamp value (or its ISO text) as a date."""
    return _as_date(value)


def metric_days(metric: str, runtime: Runtime | None = None) -> tuple[date, date] | None:
    """First and last day of the facts ``metric`` reads (None when they hold no dated rows)."""
    runtime = runtime or current_runtime()
    model = current_model(runtime)
    snap = runtime.warehouse.snapshot()
    facts = version_facts(runtime, snap, model)
    spans = [
        s
        for f in sorted(metric_facts(model, metric))
        if (s := _time_span(snap, facts, model, f)) is not None
    ]
    return (min(s[0] for s in spans), max(s[1] for s in spans)) if spans else None


def latest_day(runtime: Runtime | None = None) -> date | None:
    """The last day the data covers: the loader's record, else the latest time of any fact
    (a warehouse Starboard did not build). Periods are judged complete against this day."""
    runtime = runtime or current_runtime()
    snap = runtime.warehouse.snapshot()
    if snap.version.data_to is not None:
        return _as_date(snap.version.data_to)
    model = current_model(runtime)
    facts = version_facts(runtime, snap, model)
    days = [
        span[1]
        for name, table in model.tables.items()
        if table.kind == "fact"
        and table.time
        and (span := _time_span(snap, facts, model, name)) is not None
    ]
    return max(days) if days else None


def estimate_rows(
    compiled: CompiledQuery, snap: Snapshot, facts: VersionFacts, model: SemanticModel
) -> int:
    """Rows the query would scan: table sizes × the share of their time span it reads."""
    routes = dict(compiled.routes)  # a fact's branch may read a rollup instead
    low, high = compiled.date_range
    total = 0
    for time_table in compiled.facts:
        rows = _row_count(snap, facts, routes.get(time_table, time_table))
        if (low or high) and rows:
            span = _time_span(snap, facts, model, time_table)
            if span:
                first, last = span
                start, end = max(low or first, first), min(high or last, last)
                days = (last - first).days + 1
                rows = 0 if end < start else int(rows * ((end - start).days + 1) / days) + 1
        total += rows
    return total


PLAN_STATE = "queries.plans"
PLAN_CACHE_SIZE = 2048


def plan_query(
    runtime: Runtime,
    model: SemanticModel,
    snap: Snapshot,
    query: MetricQuery,
    scope: RowScope,
    use_rollups: bool,
) -> tuple[CompiledQuery, str, dict, int]:
    """Compiled statement, SQL text, parameters and row estimate, remembered per model,
    data version, query, scope and routing (a cache hit then costs no compilation)."""
    key = None
    try:
        key = (id(model), snap.version.id, query, scope, use_rollups)
        hash(key)
    except TypeError:  # an unhashable filter value: compile every time
        key = None
    plans = runtime.state.setdefault(PLAN_STATE, OrderedDict())
    if key is not None:
        with _state_lock:
            hit = plans.get(key)
            if hit is not None:
                plans.move_to_end(key)
                return hit[1]
    facts = version_facts(runtime, snap, model)
    dialect = snap.engine.dialect
    compiled = compile_query(
        model,
        query,
        dialect=dialect,
        scope=tuple(scope),
        use_rollups=use_rollups,
        available_rollups=frozenset(model.rollups) & facts.tables,
        column_types=facts.column_types,
    )
    text = compiled.statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    plan = (compiled, str(text), dict(text.params), estimate_rows(compiled, snap, facts, model))
    if key is not None:
        with _state_lock:
            plans[key] = (model, plan)  # holding the model keeps its id() from being reused
            while len(plans) > PLAN_CACHE_SIZE:
                plans.popitem(last=False)
    return plan


def cache_key(sql: str, params: dict[str, object], scope: RowScope, version: str) -> str:
    """hash(compiled SQL, bound parameters, access scope, data version), stable across
    processes."""
    payload = json.dumps(
        [sql, sorted(params.items()), [list(s) for s in scope], version],
        default=str,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def effective_scope(scope: RowScope = ()) -> RowScope:
    """The signed-in user's row scope plus any narrower ``scope`` the caller adds.

    Inside a web request the user's scope always applies (a caller cannot drop it);
    outside one (CLI, benchmarks) only ``scope`` does.
    """
    user_scope = current_scope()
    return tuple(sorted(tuple(user_scope or ()) + tuple(scope)))


def check_pii(model: SemanticModel, query: MetricQuery) -> None:
    """Refuse PII dimensions (as groups or filters) to users without the pii permission."""
    user = signed_in_user()
    if user is None or can(user, "pii"):
        return
    names = {d.partition(":")[0] for d in query.dimensions}
    names |= {f.dimension.partition(":")[0] for f in filter_leaves(query.filters)}
    for name in sorted(names):
        dim = model.dimensions.get(name)
        if dim and model.dimension_is_pii(dim):
            raise AccessDenied(
                f"{dim.label} is personal data: your role ({user.role}) may "
                "not group or filter by it."
            )


class QueryStopped(QueryError):
    """The warehouse stopped a query at its time limit."""

    title = "Query stopped"


def fetch_all(
    snap: Snapshot, statement: sa.Executable, timeout_seconds: float | None = None
) -> list[sa.Row]:
    """Every row of ``statement`` on ``snap``. With ``timeout_seconds`` the warehouse stops
    it at that limit (QueryStopped): PostgreSQL by a transaction-local ``statement_timeout``,
    DuckDB by interrupting the connection from a timer (that connection is then discarded,
    never handed to another query). Other warehouses run without a limit."""
    with snap.engine.connect() as conn:
        dialect = snap.engine.dialect.name
        if not timeout_seconds or dialect not in ("postgresql", "duckdb"):
            return list(conn.execute(statement).all())
        stopped = QueryStopped(
            f"Stopped: the query ran longer than its time limit of {timeout_seconds:g} s."
        )
        if dialect == "postgresql":
            conn.execute(
                sa.text("SELECT set_config('statement_timeout', :ms, true)"),
                {"ms": str(max(1, int(timeout_seconds * 1000)))},
            )
            try:
                return list(conn.execute(statement).all())
            except sa.exc.DBAPIError as exc:
                if type(exc.orig).__name__ == "QueryCanceled":
                    raise stopped from exc
                raise
        raw = conn.connection.dbapi_connection
        assert raw is not None
        fired = threading.Event()
        lock = threading.Lock()
        running = [True]

        def interrupt() -> None:
            with lock:  # never interrupt once the statement is over
                if running[0]:
                    fired.set()
                    raw.interrupt()

        timer = threading.Timer(timeout_seconds, interrupt)
        timer.daemon = True
        timer.start()
        try:
            return list(conn.execute(statement).all())
        except sa.exc.DBAPIError as exc:
            if fired.is_set():
                raise stopped from exc
            raise
        finally:
            with lock:
                running[0] = False
            timer.cancel()
            if fired.is_set():
                conn.invalidate()


def run(
    query: MetricQuery,
    scope: RowScope = (),
    *,
    tier: int | None = None,
    use_rollups: bool = True,
    use_cache: bool = True,
    timeout_seconds: float | None = None,
    runtime: Runtime | None = None,
) -> QueryResult:
    """Compile, classify, cache and execute ``query`` for the current user (and ``scope``);
    ``timeout_seconds``: the warehouse stops the query at that limit (QueryStopped)."""
    runtime = runtime or current_runtime()
    started = time.perf_counter()
    query_id = uuid.uuid4().hex[:12]
    scope = effective_scope(scope)
    model = current_model(runtime)
    check_pii(model, query)
    snap = runtime.warehouse.snapshot()
    compiled, sql, params, rows_scanned = plan_query(
        runtime, model, snap, query, scope, use_rollups
    )
    klass = cost_class(rows_scanned)
    if tier == 0 and klass == "D":
        raise QueryError(
            f"This query would scan about {rows_scanned:,} rows (cost class D); "
            "Tier 0 boards may only run class A–C queries. Add a rollup that "
            "fits it to the model."
        )
    notices = tuple(
        f"Your access scope does not reach {fact}: its figures are empty."
        for fact in compiled.denied_facts
    )

    def execute() -> pd.DataFrame:
        try:
            rows = fetch_all(snap, compiled.statement, timeout_seconds)
        except sa.exc.DBAPIError as exc:
            log.error("query %s failed: %s", query_id, exc)
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise QueryError(f"The warehouse could not run this query: {first}") from exc
        return pd.DataFrame([tuple(r) for r in rows], columns=list(compiled.columns))

    key = cache_key(sql, params, tuple(scope), snap.version.id)
    if use_cache:
        frame, hit = runtime.cache.get_or_compute(key, execute)
    else:
        frame, hit = execute(), False
    ms = (time.perf_counter() - started) * 1000
    note_query(query_id, hit)
    line = {
        "query_id": query_id,
        "request_id": request_id(),
        "cost": klass,
        "rows_scanned": rows_scanned,
        "cache": "hit" if hit else "miss",
        "rows": len(frame),
        "ms": round(ms, 1),
        "version": snap.version.id,
        "rollup": compiled.rollup,
        "metrics": list(query.metrics),
        "dimensions": list(query.dimensions),
    }
    log.info("query %s", json.dumps(line), extra={"fields": line})
    return QueryResult(
        frame,
        compiled.columns,
        sql,
        params,
        klass,
        rows_scanned,
        hit,
        ms,
        snap.version.id,
        compiled.rollup,
        query_id,
        notices,
    )


def explain(
    query: MetricQuery, scope: RowScope = (), *, runtime: Runtime | None = None
) -> tuple[str, str]:
    """The compiled SQL and the cost class of ``query``, without running it."""
    runtime = runtime or current_runtime()
    scope = effective_scope(scope)
    model = current_model(runtime)
    check_pii(model, query)
    snap = runtime.warehouse.snapshot()
    facts = version_facts(runtime, snap, model)
    compiled = compile_query(
        model,
        query,
        dialect=snap.engine.dialect,
        scope=tuple(scope),
        available_rollups=frozenset(model.rollups) & facts.tables,
        column_types=facts.column_types,
    )
    return sql_text(compiled, snap.engine.dialect), cost_class(
        estimate_rows(compiled, snap, facts, model)
    )


__all__ = [
    "QueryResult",
    "QueryStopped",
    "StarboardError",
    "cost_class",
    "current_model",
    "explain",
    "fetch_all",
    "run",
]
