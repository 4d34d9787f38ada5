"""What /quality shows beyond the load gates: checks by table, history, freshness, samples."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from app.core.errors import StarboardError
from app.core.runtime import current_runtime
from app.core.stores import checks as checkstore
from app.core.stores.checks import CheckResult, CheckRun
from queries.quality.checks import unmasked_rows
from queries.quality.trust import SEVERITY, LiveQuality, live_quality
from queries.semantic.graph import join_path
from queries.semantic.run import current_model
from queries.semantic.types import SemanticModel

HISTORY_RUNS = 30
FORMULA = (
    "DQ score = 100 × Σ wᵢ·passedᵢ / Σ wᵢ,  wᵢ = weight × (1 + critical + tier0); "
    "weight defaults to 3 for Risk 1 and 1 for Risk 2; critical = 1 when the check's "
    "table is the fact of a `critical: true` metric, tier0 = 1 when it is the fact of a "
    "metric on a Tier 0 board."
)


@dataclass(frozen=True)
class TableChecks:
    table: str
    status: str  # ok | warn | fail
    results: tuple[CheckResult, ...]


@dataclass(frozen=True)
class Freshness:
    table: str
    column: str
    latest: datetime | None
    age_hours: float | None
    slo_hours: float
    status: str  # ok | warn | fail | unknown
    source: str  # "model check <name>" or "default SLO"


@dataclass(frozen=True)
class QualityView:
    live: LiveQuality
    tables: tuple[TableChecks, ...]
    history: tuple[tuple[CheckRun, dict[str, bool]], ...]
    names: dict[str, str]  # check_id → "table · name" for the history chart
    freshness: tuple[Freshness, ...]
    samples: tuple[tuple[CheckResult, tuple[tuple, ...]], ...]  # failing, rows as shown


def _worst(results: Sequence[CheckResult]) -> str:
    return max((r.status for r in results), key=SEVERITY.__getitem__, default="ok")


def quality_view(*, show_pii: bool) -> QualityView:
    """Everything /quality shows; PII in failing-row samples only when ``show_pii``."""
    runtime = current_runtime()
    live = live_quality()
    model = current_model(runtime)
    grouped: dict[str, list[CheckResult]] = {}
    for result in live.results:
        grouped.setdefault(result.table, []).append(result)
    tables = tuple(
        sorted(
            (
                TableChecks(
                    t, _worst(rs), tuple(sorted(rs, key=lambda r: (r.passed, r.risk, r.name)))
                )
                for t, rs in grouped.items()
            ),
            key=lambda tc: (-SEVERITY[tc.status], tc.table),
        )
    )
    history = tuple(checkstore.check_history(runtime.users.db, live.warehouse, HISTORY_RUNS))
    names = {r.check_id: f"{r.table} · {r.name}" for r in live.results}
    snap = runtime.warehouse.snapshot()
    samples = []
    for result in live.results:
        if result.passed or not result.sample.rows:
            continue
        rows = tuple(tuple(r) for r in result.sample.rows)
        if show_pii and result.sample.masked:
            try:
                rows = tuple(unmasked_rows(model, snap.engine, result.table, result.sample))
            except sa.exc.DBAPIError:
                pass  # keep the masked rows: never fail the page on it
        samples.append((result, rows))
    return QualityView(
        live,
        tables,
        history,
        names,
        freshness_rows(model, snap.engine, runtime.settings.freshness_slo_hours),
        tuple(samples),
    )


def freshness_rows(
    model: SemanticModel, engine: sa.Engine, default_slo: float, now: datetime | None = None
) -> tuple[Freshness, ...]:
    """Per fact with a time column: latest time, age, SLO (its freshness check's, else the
    default), status."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    out = []
    for table in model.tables.values():
        if table.kind != "fact" or not table.time:
            continue
        owner, _, column = table.time.rpartition(".")
        check = next(
            (c for c in model.checks if c.kind == "freshness" and c.table == table.name), None
        )
        slo = check.max_age_hours if check and check.max_age_hours is not None else default_slo
        latest = latest_time(model, engine, table.name, owner or table.name, column)
        if isinstance(latest, datetime) and latest.tzinfo is not None:
            latest = latest.astimezone(UTC).replace(tzinfo=None)
        elif latest is not None and not isinstance(latest, datetime):
            latest = datetime(latest.year, latest.month, latest.day)
        age = (now - latest).total_seconds() / 3600 if latest is not None else None
        late = "fail" if check is not None and check.risk == 1 else "warn"
        status = "unknown" if age is None else ("ok" if age <= slo else late)
        out.append(
            Freshness(
                table.name,
                f"{owner or table.name}.{column}",
                latest,
                None if age is None else round(age, 1),
                float(slo),
                status,
                f"model check {check.name}" if check else "default SLO",
            )
        )
    return tuple(out)


def latest_time(model: SemanticModel, engine: sa.Engine, fact: str, owner: str, column: str):
    """The newest ``owner.column`` over the rows of ``fact`` (joined when the time column
    lives on another table); None when it cannot be read."""
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
            aliases = {
                name: sa.table(name, *(sa.column(c) for c in sorted(cols))).alias(f"t{i}")
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
