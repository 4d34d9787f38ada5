"""How fresh the data is, read from the data itself: each fact's latest time against its SLO.

Works on any warehouse, loaded by Starboard or not: the latest value of every fact's time
column (the model's ``tables.<fact>.time``, an own column or ``table.column`` reached
through the fact's joins) is read once per data version and kept in the process state;
only the age (now − latest) is computed per request. A fact's SLO is its
``freshness_hours``, else the ``max_age_hours`` of a model freshness check on it, else the
``STARBOARD_FRESHNESS_SLO_HOURS`` setting.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from app.core.errors import StarboardError
from app.core.runtime import Runtime, current_runtime
from app.core.warehouse import Snapshot
from queries.semantic.graph import join_path
from queries.semantic.run import current_model
from queries.semantic.types import SemanticModel, Table

STATE = "queries.quality.freshness:"
_lock = threading.Lock()


@dataclass(frozen=True)
class FactTime:
    """The latest time of one fact's time column in one data version."""

    table: str
    column: str  # "owner.column"
    latest: datetime | None  # naive UTC; None when the column is empty or unreadable


@dataclass(frozen=True)
class Freshness:
    table: str
    column: str
    latest: datetime | None
    age_hours: float | None
    slo_hours: float
    status: str  # ok | warn | fail | unknown
    source: str  # "freshness_hours", "model check <name>" or "default SLO"


def fact_times(runtime: Runtime | None = None) -> tuple[FactTime, ...]:
    """Latest time of every fact with a time column, read once per data version (and model)."""
    runtime = runtime or current_runtime()
    snap = runtime.warehouse.snapshot()
    model = current_model(runtime)
    key = STATE + snap.version.id
    cached = runtime.state.get(key)
    if cached is not None and cached[0] is model:
        return cached[1]
    with _lock:
        cached = runtime.state.get(key)
        if cached is not None and cached[0] is model:
            return cached[1]
        times = read_fact_times(model, snap)
        for old in [k for k in runtime.state if k.startswith(STATE) and k != key]:
            runtime.state.pop(old, None)
        runtime.state[key] = (model, times)
    return times


def read_fact_times(model: SemanticModel, snap: Snapshot) -> tuple[FactTime, ...]:
    """One query per fact with a time column (no cache: see :func:`fact_times`)."""
    out = []
    for table in model.tables.values():
        if table.kind != "fact" or not table.time:
            continue
        owner, _, column = table.time.rpartition(".")
        owner = owner or table.name
        out.append(
            FactTime(
                table.name,
                f"{owner}.{column}",
                _naive(_latest(model, snap.engine, table.name, owner, column)),
            )
        )
    return tuple(out)


def data_as_of(times: tuple[FactTime, ...]) -> datetime | None:
    """The data's latest time: the newest of the facts' latest times."""
    return max((t.latest for t in times if t.latest is not None), default=None)


def slo_of(model: SemanticModel, table: Table, default: float) -> tuple[float, str, int]:
    """A fact's SLO in hours, where it comes from, and the risk of missing it (1 or 2)."""
    check = next((c for c in model.checks if c.kind == "freshness" and c.table == table.name), None)
    risk = check.risk if check is not None else 2
    if table.freshness_hours is not None:
        return table.freshness_hours, "freshness_hours", risk
    if check is not None and check.max_age_hours is not None:
        return float(check.max_age_hours), f"model check {check.name}", risk
    return float(default), "default SLO", risk


def freshness(
    model: SemanticModel,
    times: tuple[FactTime, ...],
    default_slo: float,
    now: datetime | None = None,
) -> tuple[Freshness, ...]:
    """Per fact with a time column: latest time, age, SLO and status at ``now``."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    out = []
    for time in times:
        table = model.tables.get(time.table)
        if table is None:
            continue
        slo, source, risk = slo_of(model, table, default_slo)
        age = (now - time.latest).total_seconds() / 3600 if time.latest is not None else None
        status = (
            "unknown"
            if age is None
            else ("ok" if age <= slo else ("fail" if risk == 1 else "warn"))
        )
        out.append(
            Freshness(
                time.table,
                time.column,
                time.latest,
                None if age is None else round(age, 1),
                slo,
                status,
                source,
            )
        )
    return tuple(out)


def live_freshness(now: datetime | None = None) -> tuple[Freshness, ...]:
    """:func:`freshness` of the served data version under the current model."""
    runtime = current_runtime()
    return freshness(
        current_model(runtime), fact_times(runtime), runtime.settings.freshness_slo_hours, now
    )


def stale_message(rows: tuple[Freshness, ...]) -> str | None:
    """The stale banner's text: every fact older than its SLO, or None when none is."""
    late = [r for r in rows if r.status in ("warn", "fail") and r.age_hours is not None]
    if not late:
        return None
    parts = [
        f"{r.table} is {r.age_hours:,.0f} h old (latest {r.latest:%d %b %Y %H:%M}; "
        f"freshness SLO {r.slo_hours:g} h)"
        for r in late
        if r.latest is not None and r.age_hours is not None
    ]
    return "The data is older than its freshness SLO: " + "; ".join(parts) + "."


def _naive(value: Any) -> datetime | None:
    """A datetime in naive UTC (a DATE counts from its midnight)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    try:
        return _naive(datetime.fromisoformat(str(value)))
    except ValueError:
        return None


def _latest(model: SemanticModel, engine: sa.Engine, fact: str, owner: str, column: str) -> Any:
    """max(owner.column) over the fact (joined to ``owner`` when the time lives there)."""
    try:
        with engine.connect() as conn:
            if owner == fact:
                t = sa.table(fact, sa.column(column))
                return conn.execute(sa.select(sa.func.max(t.c[column]))).scalar()
            path = join_path(model, fact, owner)
            if path is None:
                return None
            needed: dict[str, set[str]] = {fact: set()}
            for table, join in path:
                needed.setdefault(table.name, set()).add(join.from_column)
                needed.setdefault(join.target, set()).add(join.to_column)
            needed[owner].add(column)
            aliases = {  # a role (time: role.column) reads its physical table
                name: sa.table(model.physical(name), *(sa.column(c) for c in sorted(cols))).alias(
                    f"t{i}"
                )
                for i, (name, cols) in enumerate(needed.items())
            }
            source: sa.FromClause = aliases[fact]
            for table, join in path:
                source = source.join(
                    aliases[join.target],
                    aliases[table.name].c[join.from_column]
                    == aliases[join.target].c[join.to_column],
                )
            return conn.execute(
                sa.select(sa.func.max(aliases[owner].c[column])).select_from(source)
            ).scalar()
    except (sa.exc.DBAPIError, StarboardError):
        return None
