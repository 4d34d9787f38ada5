"""Trust where people look: which quality checks stand behind a tile, a chart or a page.

A metric inherits the checks of the facts it aggregates and of the tables of the
dimensions a query uses. The live results are those of the served data version: the
publish run recorded in the metadata DB (or, for a warehouse published before checks were
recorded, the gates stored in the warehouse), overlaid with the newest
``starboard quality`` run on the same version.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from app.core.errors import StarboardError
from app.core.runtime import current_runtime
from app.core.stores import checks as checkstore
from app.core.stores.checks import CheckResult, CheckRun
from queries.quality import freshness
from queries.quality import status as status_q
from queries.quality.checks import gate_result
from queries.semantic.graph import metric_facts
from queries.semantic.run import current_model
from queries.semantic.types import SemanticModel

STATE = "queries.quality.trust"
RECHECK_SECONDS = 2.0  # how often a worker looks for a newer quality run
SEVERITY = {"unknown": 0, "ok": 1, "warn": 2, "fail": 3}
COLOURS = {"ok": "green", "warn": "amber", "fail": "red", "unknown": "grey"}


@dataclass(frozen=True)
class LiveQuality:
    """Every check result on the served data version."""

    version: str
    warehouse: str
    results: tuple[CheckResult, ...]
    run: CheckRun | None  # the newest recorded run on this version, if any

    @property
    def dq_score(self) -> float | None:
        return checkstore.dq_score(self.results) if self.results else None


@dataclass(frozen=True)
class TileTrust:
    """A tile's (or page's) badge: status ok | warn | fail | unknown, and what fails."""

    status: str
    failing: tuple[CheckResult, ...] = ()

    @property
    def colour(self) -> str:
        """green, amber, red or grey."""
        return COLOURS[self.status]

    @property
    def lines(self) -> tuple[str, ...]:
        """One line per failing check, for a tooltip."""
        return tuple(describe(r) for r in self.failing)


def describe(result: CheckResult) -> str:
    """'Risk 2 · fct.col [range_revenue]: 3 of 10 row(s) …' (one line)."""
    return f"Risk {result.risk} · {result.target} [{result.name}]: {result.message}"


def live_quality() -> LiveQuality:
    """The check results on the live data version (cached per version and newest run)."""
    runtime = current_runtime()
    snap = runtime.warehouse.snapshot()
    warehouse = checkstore.warehouse_key(runtime.settings.db_url, runtime.settings.pg_schema)
    cached = runtime.state.get(STATE)
    if (
        cached is not None
        and cached[0] == snap.version.id
        and time.monotonic() - cached[1] < RECHECK_SECONDS
    ):
        return cached[2]
    db = runtime.users.db
    newest = checkstore.latest_run(db, warehouse, snap.version.id)
    if cached is not None and cached[0] == snap.version.id and cached[2].run == newest:
        runtime.state[STATE] = (snap.version.id, time.monotonic(), cached[2])
        return cached[2]
    published = checkstore.latest_run(db, warehouse, snap.version.id, "publish")
    by_id: dict[str, CheckResult] = {}
    if published is not None:
        by_id.update((r.check_id, r) for r in checkstore.results(db, published.id))
    else:
        try:
            gates = status_q.warehouse_status().gates
        except StarboardError:
            gates = []
        by_id.update((r.check_id, r) for r in map(gate_result, gates))
    checked = checkstore.latest_run(db, warehouse, snap.version.id, "quality")
    if checked is not None and (published is None or checked.id > published.id):
        by_id.update((r.check_id, r) for r in checkstore.results(db, checked.id))
    live = LiveQuality(snap.version.id, warehouse, tuple(by_id.values()), newest)
    runtime.state[STATE] = (snap.version.id, time.monotonic(), live)
    return live


def input_tables(
    model: SemanticModel, metrics: Iterable[str], dimensions: Iterable[str] = ()
) -> set[str]:
    """The facts the metrics aggregate and the tables of the dimensions used."""
    tables: set[str] = set()
    for name in metrics:
        tables |= metric_facts(model, name)
    for name in dimensions:
        dim = model.dimensions.get(name.partition(":")[0])
        if dim is not None and dim.table:
            tables.add(model.physical(dim.table))  # a role reads its table
    return tables


# Staleness concerns every tile of a page alike; the page says it once (the stale banner and
# the DQ dot), so tile badges single out the tiles whose inputs hold bad rows.
PAGE_LEVEL_KINDS = frozenset({"freshness"})


def judge(
    results: Iterable[CheckResult], tables: set[str], *, page_level: bool = True
) -> TileTrust:
    """The worst status of the checks on ``tables``; unknown when none applies. Without
    ``page_level`` the checks every tile shares (freshness) are left to the page."""
    relevant = [
        r for r in results if r.table in tables and (page_level or r.kind not in PAGE_LEVEL_KINDS)
    ]
    if not relevant:
        return TileTrust("unknown")
    failing = tuple(
        sorted((r for r in relevant if not r.passed), key=lambda r: (r.risk, r.table, r.name))
    )
    if not failing:
        return TileTrust("ok")
    return TileTrust("fail" if any(r.risk == 1 for r in failing) else "warn", failing)


def trust_for(
    metrics: str | Iterable[str], dimensions: Iterable[str] = (), *, page_level: bool = False
) -> TileTrust:
    """Green/amber/red for a tile showing ``metrics`` by ``dimensions``; never raises.
    ``page_level`` also counts the checks the page states once (freshness)."""
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    try:
        model = current_model()
        live = live_quality()
    except StarboardError:
        return TileTrust("unknown")
    return judge(live.results, input_tables(model, names, dimensions), page_level=page_level)


@dataclass(frozen=True)
class TrustSummary:
    """What the page shell shows: data as of, the DQ dot, the stale banner."""

    status: str
    as_of: datetime | None
    published_at: datetime | None
    version: str | None
    dq_score: float | None
    failing: tuple[str, ...]
    error: str | None = None
    stale: str | None = None


def trust_summary() -> TrustSummary:
    """Data as of, DQ status and score, failing checks and staleness for the page shell of
    every page alike; never raises.

    The status and score come from the live check results (:func:`live_quality`: the
    publish run, its gates, or a ``starboard quality`` run on this version), the "as of" and
    staleness from the data itself (queries/quality/freshness.py), each read once per data
    version, so a warehouse Starboard did not load gets them too.
    """
    try:
        status = status_q.warehouse_status()
    except StarboardError as exc:
        return TrustSummary("unknown", None, None, None, None, (), error=exc.message)
    try:
        results: tuple[CheckResult, ...] = live_quality().results
    except StarboardError:
        results = ()
    failing = tuple(
        describe(r)
        for r in sorted(
            (r for r in results if not r.passed), key=lambda r: (r.risk, r.table, r.name)
        )
    )
    worst = max((r.status for r in results), key=SEVERITY.__getitem__, default="unknown")
    score = checkstore.dq_score(results) if results else status.version.dq_score
    runtime = current_runtime()
    try:
        times = freshness.fact_times(runtime)
        rows = freshness.freshness(
            current_model(runtime), times, runtime.settings.freshness_slo_hours
        )
    except StarboardError:
        times, rows = (), ()
    as_of = freshness.data_as_of(times)
    return TrustSummary(
        worst,
        as_of or status.data_to or status.version.data_to,
        status.version.published_at,
        status.version.id,
        score,
        failing,
        stale=freshness.stale_message(rows),
    )
