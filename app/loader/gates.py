"""The loader's own gates: what a pipeline project declares of each source.

Each source may declare a ``key`` (unique, Risk 1), ``required`` columns (not null, Risk 1)
and, unless it allows it, must not be empty (Risk 1). Everything about the outputs — keys,
joins, freshness, row counts — comes from the semantic model's checks, declared and implied
(queries/quality/checks.py), run on the closed build before it is published.

Risk 1 gates stop the load (nothing is published, the previous data stays served); Risk 2
gates warn and the load publishes anyway. The DQ score is the weighted share of gates that
passed.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from app.core.errors import DataError
from app.core.stores.checks import GateResult
from app.loader.project import Source
from app.loader.sources import first_row, quote

WEIGHTS = {1: 3.0, 2: 1.0}


@dataclass(frozen=True)
class GateThresholds:
    """Limits the loader judges against."""

    freshness_hours: float = 36.0  # the default freshness SLO of a fact (model checks)


class GateFailure(DataError):
    """A Risk 1 gate failed: the load stopped and nothing was published."""

    def __init__(self, failed: list[GateResult], results: list[GateResult]) -> None:
        self.failed = failed
        self.results = results
        lines = [
            f"  {g.table}{'.' + g.column if g.column else ''} [{g.check}]: {g.detail}"
            for g in failed
        ]
        super().__init__(
            "The load stopped on a Risk 1 quality gate; nothing was published and "
            "the previous data is still served:\n" + "\n".join(lines)
        )


def gate(
    check: str,
    table: str,
    column: str | None,
    risk: int,
    passed: bool,
    observed: float | None,
    threshold: float | None,
    detail: str,
) -> GateResult:
    return GateResult(
        check, table, column, risk, bool(passed), observed, threshold, detail, WEIGHTS[risk]
    )


def source_gates(
    source: Source, con: duckdb.DuckDBPyConnection, rows: int, *, partial: bool = False
) -> list[GateResult]:
    """The declared key unique, required columns filled, and rows present, on one staged
    source. ``partial`` (an incremental read) may be empty."""
    table = quote(source.name)
    present = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    for what, names in (("key", source.key), ("required", source.required)):
        unknown = [c for c in names if c not in present]
        if unknown:
            raise DataError(
                f"Source {source.name}: {what} names column(s) {', '.join(unknown)}, which the "
                f"data does not have. Columns found: {', '.join(sorted(present))}."
            )
    results: list[GateResult] = []
    if not partial:
        results.append(
            gate(
                "not_empty",
                source.name,
                None,
                1,
                rows > 0,
                rows,
                1,
                f"{rows:,} row(s)" if rows else f"source {source.name} has no data rows",
            )
        )
    if source.key:
        keys = ", ".join(quote(k) for k in source.key)
        # DISTINCT (not count(DISTINCT …), which skips NULLs) groups as the example query does
        total, distinct = first_row(
            con.execute(
                f"SELECT (SELECT count(*) FROM {table}), "
                f"(SELECT count(*) FROM (SELECT DISTINCT {keys} FROM {table}))"
            ).fetchone()
        )
        dupes = total - distinct
        detail = f"{', '.join(source.key)} unique"
        if dupes:
            row = first_row(
                con.execute(
                    f"SELECT {keys} FROM {table} GROUP BY {keys} HAVING count(*) > 1 "
                    "ORDER BY 1 LIMIT 1"
                ).fetchone()
            )
            example = ", ".join(f"{k}={v!r}" for k, v in zip(source.key, row, strict=True))
            exact = first_row(
                con.execute(
                    f"SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT * FROM {table})) "
                    f"FROM {table}"
                ).fetchone()
            )[0]
            kind = f"; {exact} of them repeat a whole row" if exact else ""
            detail = (
                f"{dupes} duplicate {', '.join(source.key)} value(s) in {source.name} "
                f"(e.g. {example}){kind}"
            )
        results.append(
            gate(
                "natural_key_unique",
                source.name,
                ", ".join(source.key),
                1,
                dupes == 0,
                dupes,
                0,
                detail,
            )
        )
    if source.required:
        counts = first_row(
            con.execute(
                "SELECT "
                + ", ".join(f"count(*) - count({quote(c)})" for c in source.required)
                + f" FROM {table}"
            ).fetchone()
        )
        failed = False
        for column, count in zip(source.required, counts, strict=True):
            if count:
                failed = True
                results.append(
                    gate(
                        "not_null",
                        source.name,
                        column,
                        1,
                        False,
                        count,
                        0,
                        f"{count} empty value(s) in required column {source.name}.{column}",
                    )
                )
        if not failed:
            results.append(
                gate("not_null", source.name, None, 1, True, 0, 0, "required columns all filled")
            )
    return results


def dq_score(results: list[GateResult]) -> float:
    """Weighted share of gates that passed, 0–100."""
    total = sum(r.weight for r in results)
    if not total:
        return 100.0
    return round(100.0 * sum(r.weight for r in results if r.passed) / total, 2)


def blocking(results: list[GateResult]) -> list[GateResult]:
    """The Risk 1 gates that failed: any of these stops the load."""
    return [r for r in results if r.risk == 1 and not r.passed]
