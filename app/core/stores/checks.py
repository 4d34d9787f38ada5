"""Where data quality results live, for /quality, trust badges, triage and alerts.

Every publish (``starboard load``) and every ``starboard quality`` run records one *run* in
the metadata database, with one *result* per check. The warehouse itself keeps only its live
and previous version files, so history lives here, for DuckDB and PostgreSQL warehouses
alike, whether Starboard published them or not.

Contract (stable; other modules read it):

``sb_check_run`` (``app.core.meta.check_runs``), one row per run:
    id, at (UTC, naive), warehouse (``warehouse_key(url)``: the DuckDB base path or the URL
    without password), version (the data version id the checks ran on: the publish version,
    or ``Warehouse.snapshot().version.id`` for ``starboard quality``), source ("publish" or
    "quality"), published (False when a Risk 1 failure stopped the publish: the version
    never went live), dq_score (0–100), checks_total, checks_failed, risk1_failed.

``sb_check_result`` (``app.core.meta.check_results``), one row per check of a run:
    check_id (stable across runs: ``model:<table>.<name>`` for a model check,
    ``gate:<check>:<table>[.<column>]`` for a built-in load gate), name, table_name,
    column_name ("" when none), kind (not_null, unique, accepted_values, range,
    relationship, freshness, row_count_change, sql, or a gate's check name), origin ("model"
    or "gate"), risk (1 stops a publish, 2 warns), weight (as used in the DQ score), passed,
    error (the check could not run; it counts as failed), failing_rows, total_rows,
    observed, threshold, message (one short sentence), sample (JSON, "" when none).

``sample`` holds at most ``SAMPLE_ROWS`` failing rows as
``{"columns": [...], "rows": [[...], ...], "masked": [...], "keys": [...]}``. PII columns
(the model's ``pii:``) are masked *before* storage (value ``MASK``) and listed in
``masked``; ``keys`` names the table's primary-key columns present in the sample, so a
reader allowed to see PII can fetch the unmasked rows from the live warehouse by key.
Nothing unmasked is ever stored.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa

from app.core import meta
from app.core.meta import MetaDB

SAMPLE_ROWS = 20
MASK = "•••"
SOURCES = ("publish", "quality")


@dataclass(frozen=True)
class Sample:
    """Failing rows of one check, PII already masked."""

    columns: tuple[str, ...] = ()
    rows: tuple[tuple, ...] = ()
    masked: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()

    def to_json(self) -> str:
        if not self.columns:
            return ""
        return json.dumps(
            {
                "columns": list(self.columns),
                "rows": [list(r) for r in self.rows],
                "masked": list(self.masked),
                "keys": list(self.keys),
            },
            default=str,
        )

    @classmethod
    def from_json(cls, text: str | None) -> Sample:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(
            tuple(data["columns"]),
            tuple(tuple(r) for r in data["rows"]),
            tuple(data.get("masked", ())),
            tuple(data.get("keys", ())),
        )


@dataclass(frozen=True)
class GateResult:
    """One load gate's outcome, as the loader writes it to ``starboard_gate`` and readers
    (status, quality) read it back."""

    check: str
    table: str
    column: str | None
    risk: int
    passed: bool
    observed: float | None
    threshold: float | None
    detail: str
    weight: float = 1.0

    def as_row(self) -> dict[str, object]:
        return asdict(self)

    @property
    def status(self) -> str:
        """ok, warn (a Risk 2 gate failed) or fail (a Risk 1 gate failed)."""
        return "ok" if self.passed else ("fail" if self.risk == 1 else "warn")

    @property
    def target(self) -> str:
        return f"{self.table}.{self.column}" if self.column else self.table


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one data version."""

    check_id: str
    name: str
    table: str
    column: str
    kind: str
    origin: str  # model | gate
    risk: int
    weight: float
    passed: bool
    message: str
    failing_rows: int | None = None
    total_rows: int | None = None
    observed: float | None = None
    threshold: float | None = None
    error: bool = False
    sample: Sample = field(default_factory=Sample)

    @property
    def status(self) -> str:
        """ok, warn (a Risk 2 check failed) or fail (a Risk 1 check failed)."""
        return "ok" if self.passed else ("fail" if self.risk == 1 else "warn")

    @property
    def target(self) -> str:
        return f"{self.table}.{self.column}" if self.column else self.table


@dataclass(frozen=True)
class CheckRun:
    id: int
    at: datetime
    warehouse: str
    version: str
    source: str
    published: bool
    dq_score: float
    checks_total: int
    checks_failed: int
    risk1_failed: int


def warehouse_key(url: str, pg_schema: str = "starboard") -> str:
    """A stable name for a warehouse: the DuckDB base file, or the URL without password
    (with the schema prefix when it is not the default: two prefixes in one PostgreSQL
    database are two warehouses with their own check history)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "duckdb" and parsed.database not in (None, "", ":memory:"):
        return f"duckdb:{Path(str(parsed.database)).expanduser().resolve()}"
    key = parsed.render_as_string(hide_password=True)
    return key if pg_schema == "starboard" else f"{key}#{pg_schema}"


def dq_score(results: Sequence[CheckResult]) -> float:
    """Weighted share of checks that passed, 0–100 (100 when there is none)."""
    total = sum(r.weight for r in results)
    if not total:
        return 100.0
    return round(100.0 * sum(r.weight for r in results if r.passed) / total, 2)


def record_run(
    db: MetaDB,
    *,
    warehouse: str,
    version: str,
    source: str,
    published: bool,
    results: Sequence[CheckResult],
    at: datetime | None = None,
) -> int:
    """Store a run and its results; returns the run id."""
    if source not in SOURCES:
        raise ValueError(f"source {source!r} is not one of {', '.join(SOURCES)}")
    failed = [r for r in results if not r.passed]
    with db.engine.begin() as conn:
        inserted = conn.execute(
            meta.check_runs.insert().values(
                at=at or meta.now(),
                warehouse=warehouse,
                version=version,
                source=source,
                published=published,
                dq_score=dq_score(results),
                checks_total=len(results),
                checks_failed=len(failed),
                risk1_failed=sum(1 for r in failed if r.risk == 1),
            )
        )
        run_id = cast(sa.Row[Any], inserted.inserted_primary_key)[0]
        if results:
            conn.execute(
                meta.check_results.insert(),
                [
                    dict(
                        run_id=run_id,
                        check_id=r.check_id,
                        name=r.name,
                        table_name=r.table,
                        column_name=r.column,
                        kind=r.kind,
                        origin=r.origin,
                        risk=r.risk,
                        weight=r.weight,
                        passed=r.passed,
                        error=r.error,
                        failing_rows=r.failing_rows,
                        total_rows=r.total_rows,
                        observed=r.observed,
                        threshold=r.threshold,
                        message=r.message[:2000],
                        sample=r.sample.to_json(),
                    )
                    for r in results
                ],
            )
    return int(run_id)


def _run(row: sa.RowMapping) -> CheckRun:
    return CheckRun(
        row["id"],
        row["at"],
        row["warehouse"],
        row["version"],
        row["source"],
        bool(row["published"]),
        float(row["dq_score"]),
        row["checks_total"],
        row["checks_failed"],
        row["risk1_failed"],
    )


def runs(db: MetaDB, warehouse: str, limit: int = 50) -> list[CheckRun]:
    """The warehouse's latest runs, newest first."""
    t = meta.check_runs
    with db.engine.connect() as conn:
        rows = (
            conn.execute(
                sa.select(t).where(t.c.warehouse == warehouse).order_by(t.c.id.desc()).limit(limit)
            )
            .mappings()
            .all()
        )
    return [_run(r) for r in rows]


def latest_run(
    db: MetaDB, warehouse: str, version: str | None = None, source: str | None = None
) -> CheckRun | None:
    """The newest run of a warehouse (on ``version``, from ``source``, when given), or None."""
    t = meta.check_runs
    query = sa.select(t).where(t.c.warehouse == warehouse)
    if version is not None:
        query = query.where(t.c.version == version)
    if source is not None:
        query = query.where(t.c.source == source)
    with db.engine.connect() as conn:
        row = conn.execute(query.order_by(t.c.id.desc()).limit(1)).mappings().first()
    return _run(row) if row else None


def results(db: MetaDB, run_id: int) -> list[CheckResult]:
    """The results of one run, failing first, then by risk, table and name."""
    t = meta.check_results
    with db.engine.connect() as conn:
        rows = (
            conn.execute(
                sa.select(t)
                .where(t.c.run_id == run_id)
                .order_by(t.c.passed, t.c.risk, t.c.table_name, t.c.name)
            )
            .mappings()
            .all()
        )
    return [_result(r) for r in rows]


def _result(r: sa.RowMapping) -> CheckResult:
    return CheckResult(
        r["check_id"],
        r["name"],
        r["table_name"],
        r["column_name"],
        r["kind"],
        r["origin"],
        r["risk"],
        r["weight"],
        bool(r["passed"]),
        r["message"],
        r["failing_rows"],
        r["total_rows"],
        r["observed"],
        r["threshold"],
        bool(r["error"]),
        Sample.from_json(r["sample"]),
    )


def check_history(
    db: MetaDB, warehouse: str, limit: int = 30
) -> list[tuple[CheckRun, dict[str, bool]]]:
    """The last runs, oldest first, each with {check_id: passed}."""
    recent = runs(db, warehouse, limit)[::-1]
    if not recent:
        return []
    t = meta.check_results
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.run_id, t.c.check_id, t.c.passed).where(
                t.c.run_id.in_([r.id for r in recent])
            )
        ).all()
    by_run: dict[int, dict[str, bool]] = {r.id: {} for r in recent}
    for run_id, check_id, passed in rows:
        by_run[run_id][check_id] = bool(passed)
    return [(r, by_run[r.id]) for r in recent]


def previous_total(db: MetaDB, warehouse: str, check_id: str, version: str) -> int | None:
    """``total_rows`` of a check at the newest run on another data version (row-count change
    for warehouses Starboard does not publish)."""
    runs_t, res = meta.check_runs, meta.check_results
    with db.engine.connect() as conn:
        value = conn.execute(
            sa.select(res.c.total_rows)
            .join(runs_t, runs_t.c.id == res.c.run_id)
            .where(
                runs_t.c.warehouse == warehouse,
                runs_t.c.version != version,
                runs_t.c.published.is_(True),
                res.c.check_id == check_id,
                res.c.total_rows.is_not(None),
            )
            .order_by(runs_t.c.id.desc())
            .limit(1)
        ).scalar()
    return None if value is None else int(value)
