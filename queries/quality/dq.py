"""What /quality shows beyond the load gates: checks by table, history, freshness, samples."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from app.core.runtime import current_runtime
from app.core.stores import checks as checkstore
from app.core.stores.checks import CheckResult, CheckRun
from queries.quality import freshness
from queries.quality.checks import unmasked_rows
from queries.quality.freshness import Freshness
from queries.quality.trust import SEVERITY, LiveQuality, live_quality
from queries.semantic.run import current_model

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
        freshness.freshness(
            model, freshness.fact_times(runtime), runtime.settings.freshness_slo_hours
        ),
        tuple(samples),
    )
