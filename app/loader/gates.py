"""Quality gates run on every load before anything is published.

Risk 1 gates stop the load (nothing is published, the previous data stays served);
Risk 2 gates warn and the load publishes anyway. The DQ score is the weighted share of
gates that passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import duckdb

from app.core.stores.checks import GateResult
from app.loader.contract import RAW_FILES
from app.loader.star import NATURAL_KEYS, ORPHAN_CHECKS, PRIMARY_KEYS

WEIGHTS = {1: 3.0, 2: 1.0}


@dataclass(frozen=True)
class GateThresholds:
    """Limits the gates judge against; the defaults suit most star schemas."""

    orphan_warn: float = 0.001  # share of fact rows whose key has no dimension row
    orphan_max: float = 0.05  # above this the load stops
    null_warn: float = 0.02  # share of NULLs in a descriptive column
    freshness_hours: float = 36.0
    shrink_warn: float = 0.10  # row count falling by more than this vs previous publish
    growth_warn: float = 1.00  # row count growing by more than this vs previous publish


def _gate(
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


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row


def staging_gates(con: duckdb.DuckDBPyConnection) -> list[GateResult]:
    """Natural keys unique, exact duplicate rows, required columns present, on staging."""
    results: list[GateResult] = []
    for spec in RAW_FILES:
        table = f"stg_{spec.entity}"
        keys = NATURAL_KEYS[table]
        key_list = ", ".join(keys)
        total, distinct = _one(con, f"SELECT count(*), count(DISTINCT ({key_list})) FROM {table}")
        dupes = total - distinct
        example = ""
        if dupes:
            row = _one(
                con,
                f"SELECT {key_list} FROM {table} GROUP BY {key_list} "
                "HAVING count(*) > 1 ORDER BY 1 LIMIT 1",
            )
            example = f" (e.g. {', '.join(f'{k}={v!r}' for k, v in zip(keys, row, strict=True))})"
        results.append(
            _gate(
                "natural_key_unique",
                spec.entity,
                key_list,
                1,
                dupes == 0,
                dupes,
                0,
                f"{dupes} duplicate {key_list} value(s) in {spec.entity}{example}"
                if dupes
                else f"{key_list} unique",
            )
        )
        if spec.entity == "interactions" and dupes:
            # An exact duplicate row repeats its key, so this scan runs only when the key
            # check found duplicates, to say which kind they are.
            all_cols = ", ".join(f'"{c}"' for c in spec.names)
            exact = _one(
                con,
                f"SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT "
                f"{all_cols} FROM {table})) FROM {table}",
            )[0]
            results.append(
                _gate(
                    "duplicate_rows",
                    spec.entity,
                    None,
                    1,
                    exact == 0,
                    exact,
                    0,
                    f"{exact} row(s) repeated exactly" if exact else "no row repeated exactly",
                )
            )
        elif spec.entity == "interactions":
            results.append(
                _gate(
                    "duplicate_rows",
                    spec.entity,
                    None,
                    1,
                    True,
                    0,
                    0,
                    "no row repeated exactly (every event_id is unique)",
                )
            )
        required = [c.name for c in spec.columns if not c.nullable]
        nulls = _one(
            con,
            "SELECT " + ", ".join(f'count(*) - count("{c}")' for c in required) + f" FROM {table}",
        )
        for column, count in zip(required, nulls, strict=True):
            if count:
                results.append(
                    _gate(
                        "not_null",
                        spec.entity,
                        column,
                        1,
                        False,
                        count,
                        0,
                        f"{count} empty value(s) in required column {spec.entity}.{column}",
                    )
                )
        if not any(r.check == "not_null" and r.table == spec.entity for r in results):
            results.append(
                _gate("not_null", spec.entity, None, 1, True, 0, 0, "required columns all filled")
            )
    return results


def star_gates(
    con: duckdb.DuckDBPyConnection,
    *,
    loaded_at: datetime,
    previous_counts: Mapping[str, int] | None,
    thresholds: GateThresholds | None = None,
) -> list[GateResult]:
    """Keys, orphans, nulls, date coverage, freshness and row-count change on the star."""
    thresholds = thresholds or GateThresholds()
    results: list[GateResult] = []
    for table, keys in PRIMARY_KEYS.items():
        key_list = ", ".join(keys)
        nulls = " OR ".join(f"{k} IS NULL" for k in keys)
        total, distinct, null_rows = _one(
            con,
            f"SELECT count(*), count(DISTINCT ({key_list})), "
            f"count(*) FILTER (WHERE {nulls}) FROM {table}",
        )
        ok = total == distinct and null_rows == 0
        results.append(
            _gate(
                "primary_key",
                table,
                key_list,
                1,
                ok,
                total - distinct + null_rows,
                0,
                "unique and not null"
                if ok
                else f"{total - distinct} duplicate and {null_rows} NULL key(s)",
            )
        )

    for fact, column, stg, natural, stg_dim in ORPHAN_CHECKS:
        dim_key = NATURAL_KEYS[stg_dim][0]
        total, orphans = _one(
            con,
            f"SELECT count(s.{natural}), count(s.{natural}) FILTER (WHERE d.{dim_key} IS NULL)"
            f" FROM {stg} s LEFT JOIN {stg_dim} d ON d.{dim_key} = s.{natural}",
        )
        rate = orphans / total if total else 0.0
        risk = 1 if rate > thresholds.orphan_max else 2
        limit = thresholds.orphan_max if risk == 1 else thresholds.orphan_warn
        results.append(
            _gate(
                "orphan_rate",
                fact,
                column,
                risk,
                rate <= limit,
                rate,
                limit,
                f"{orphans} of {total} {natural} value(s) ({rate:.2%}) have no row "
                f"in {stg_dim.removeprefix('stg_')}"
                if orphans
                else f"every {natural} found",
            )
        )

    for table, column in (("fct_interaction", "date_key"), ("fct_marketing_spend", "date_key")):
        missing = _one(
            con,
            f"SELECT count(*) FROM {table} f LEFT JOIN dim_date d "
            f"ON d.date_key = f.{column} WHERE d.date_key IS NULL",
        )[0]
        results.append(
            _gate(
                "date_in_calendar",
                table,
                column,
                1,
                missing == 0,
                missing,
                0,
                f"{missing} row(s) dated outside dim_date (1970–2054)"
                if missing
                else "every date in dim_date",
            )
        )

    descriptive = {
        "dim_user": ("signup_date", "country", "region", "device", "segment"),
        "dim_product": ("name", "category", "subcategory", "brand", "list_price"),
        "dim_channel": ("channel_group", "is_paid"),
        "dim_campaign": ("name", "objective", "start_date"),
        "fct_interaction": ("occurred_at", "interaction_type", "device", "revenue"),
        "fct_marketing_spend": ("spend", "impressions", "clicks"),
    }
    for table, columns in descriptive.items():
        counts = _one(
            con, "SELECT count(*), " + ", ".join(f"count({c})" for c in columns) + f" FROM {table}"
        )
        total = counts[0] or 1
        for column, filled in zip(columns, counts[1:], strict=True):
            rate = (counts[0] - filled) / total
            results.append(
                _gate(
                    "null_rate",
                    table,
                    column,
                    2,
                    rate <= thresholds.null_warn,
                    rate,
                    thresholds.null_warn,
                    f"{rate:.2%} NULL",
                )
            )

    latest = _one(con, "SELECT max(occurred_at) FROM fct_interaction")[0]
    if latest is None:
        results.append(
            _gate(
                "freshness",
                "fct_interaction",
                "occurred_at",
                2,
                False,
                None,
                thresholds.freshness_hours,
                "no interactions",
            )
        )
    else:
        age = (loaded_at.replace(tzinfo=None) - latest).total_seconds() / 3600
        results.append(
            _gate(
                "freshness",
                "fct_interaction",
                "occurred_at",
                2,
                age <= thresholds.freshness_hours,
                round(age, 1),
                thresholds.freshness_hours,
                f"latest interaction {latest:%Y-%m-%d %H:%M}, {age:,.0f} h before the load",
            )
        )

    if previous_counts:
        for table in PRIMARY_KEYS:
            if table not in previous_counts or not previous_counts[table]:
                continue
            now = _one(con, f"SELECT count(*) FROM {table}")[0]
            before = previous_counts[table]
            change = (now - before) / before
            ok = -thresholds.shrink_warn <= change <= thresholds.growth_warn
            results.append(
                _gate(
                    "row_count_change",
                    table,
                    None,
                    2,
                    ok,
                    round(change, 4),
                    thresholds.shrink_warn if change < 0 else thresholds.growth_warn,
                    f"{before:,} → {now:,} rows ({change:+.1%})",
                )
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
