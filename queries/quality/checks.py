"""Run the model's data quality checks on a warehouse (DuckDB or PostgreSQL).

Each check is compiled with SQLAlchemy Core (identifiers checked against the warehouse
first, values bound as parameters); a `sql` check wraps the model author's SELECT as a
subquery. Every check runs on its own read-only connection, so one that cannot run is
reported as an error naming the check, and the others still run. Results are
``app.core.stores.checks.CheckResult`` (stored by ``app.core.stores.checks.record_run``).

DQ score: ``100 × Σ wᵢ·passedᵢ / Σ wᵢ`` over every check and load gate, where
``wᵢ = weight × (1 + critical + tier0)``: the check's weight (default 3 for Risk 1, 1 for
Risk 2) is doubled when its table is the fact of a ``critical: true`` metric, and raised
again when it is the fact of a metric shown on a Tier 0 board.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
import sqlglot
from sqlglot import exp

from app.core.errors import StarboardError
from app.core.runtime import current_runtime
from app.core.stores.checks import (
    MASK,
    SAMPLE_ROWS,
    CheckResult,
    GateResult,
    Sample,
    previous_total,
    record_run,
    warehouse_key,
)
from queries.quality import status as status_q
from queries.semantic.against_warehouse import check_columns, warehouse_columns
from queries.semantic.graph import metric_facts
from queries.semantic.load import select_tables
from queries.semantic.model import load_model
from queries.semantic.types import Check, SemanticModel

# a model check of this kind on the same table and column replaces these built-in gates
OVERRIDES = {
    "not_null": ("not_null", "null_rate"),
    "unique": ("primary_key",),
    "relationship": ("orphan_rate",),
    "freshness": ("freshness",),
    "row_count_change": ("row_count_change",),
}


DEFAULT_FRESHNESS_HOURS = 36.0
ORPHAN_WARN = 0.001  # share of a join's keys with no row in the joined table


def implied_checks(
    model: SemanticModel, *, freshness_hours: float = DEFAULT_FRESHNESS_HOURS
) -> tuple[Check, ...]:
    """The checks every star schema needs, read off the model's tables: primary keys unique
    and filled (Risk 1), every join's keys found in the joined table, each fact's freshness
    against its SLO and row counts steady (Risk 2). A declared check of the same kind on the
    same columns replaces the implied one."""
    declared = {(c.table, c.kind, c.columns) for c in model.checks}
    declared_kinds = {(c.table, c.kind) for c in model.checks}
    out: list[Check] = []

    def add(check: Check) -> None:
        whole_table = check.kind in ("freshness", "row_count_change")
        if (check.table, check.kind, check.columns) in declared or (
            whole_table and (check.table, check.kind) in declared_kinds
        ):
            return
        out.append(check)

    for name, table in model.tables.items():
        key = f"tables.{name}"
        if table.primary_key:
            add(
                Check(
                    name,
                    "primary_key",
                    "unique",
                    f"{key}.primary_key",
                    table.primary_key,
                    risk=1,
                    weight=3.0,
                    description="The primary key names each row once.",
                )
            )
            add(
                Check(
                    name,
                    "primary_key_filled",
                    "not_null",
                    f"{key}.primary_key",
                    table.primary_key,
                    risk=1,
                    weight=3.0,
                    description="Every row has its primary key.",
                )
            )
        for join in table.joins:
            add(
                Check(
                    name,
                    f"{join.from_column}_found",
                    "relationship",
                    f"{key}.joins.{join.target}",
                    (join.from_column,),
                    to=(join.table, join.to_column),
                    max_orphan_rate=ORPHAN_WARN,
                    description=f"Each {join.from_column} has a row in {join.table}.",
                )
            )
        if table.kind == "fact" and table.time and "." not in table.time:
            slo = table.freshness_hours or freshness_hours
            add(
                Check(
                    name,
                    "freshness",
                    "freshness",
                    f"{key}.time",
                    (table.time,),
                    max_age_hours=float(slo),
                    description=f"The newest {table.time} is within the SLO.",
                )
            )
        add(
            Check(
                name,
                "row_count_change",
                "row_count_change",
                key,
                min=-0.1,
                max=1.0,
                description="The row count moved by less than −10 % / +100 % since the "
                "previous publish.",
            )
        )
    return tuple(out)


def importance(model: SemanticModel) -> dict[str, float]:
    """Weight multiplier per table: 1 + 1 if it is the fact of a critical metric + 1 if the
    fact of a metric on a Tier 0 board."""
    critical: set[str] = set()
    tier0: set[str] = set()
    for metric in model.metrics.values():
        if metric.critical:
            critical |= metric_facts(model, metric.name)
    for board in model.boards.values():
        if board.tier != 0:
            continue
        for section in board.sections:
            names = list(section.bans)
            for chart in section.charts:
                names += [chart.metric] if chart.metric else list(chart.metrics)
            for name in names:
                tier0 |= metric_facts(model, name)
    return {t: 1.0 + (t in critical) + (t in tier0) for t in model.tables}


def gate_result(gate: GateResult, multiplier: float = 1.0) -> CheckResult:
    """A built-in load gate as a check result."""
    column = gate.column or ""
    return CheckResult(
        check_id=f"gate:{gate.check}:{gate.table}" + (f".{column}" if column else ""),
        name=gate.check,
        table=gate.table,
        column=column,
        kind=gate.check,
        origin="gate",
        risk=gate.risk,
        weight=gate.weight * multiplier,
        passed=gate.passed,
        message=gate.detail,
        observed=gate.observed,
        threshold=gate.threshold,
    )


def as_gate(result: CheckResult) -> GateResult:
    """A check result in the loader's gate table format."""
    return GateResult(
        result.kind if result.origin == "gate" else result.name,
        result.table,
        result.column or None,
        result.risk,
        result.passed,
        result.observed,
        result.threshold,
        result.message,
        result.weight,
    )


def overridden(gate: GateResult, checks: Sequence[Check]) -> bool:
    """True when a model check of the same kind on the same table and column replaces it."""
    return any(
        gate.check in OVERRIDES.get(c.kind, ())
        and gate.table == c.table
        and (gate.column or "") in (c.column, "")
        for c in checks
    )


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def run_checks(
    model: SemanticModel,
    engine: sa.Engine,
    *,
    previous_counts: Callable[[Check], int | None] = lambda _c: None,
    now: datetime | None = None,
    checks: Sequence[Check] | None = None,
    scopes: Mapping[str, tuple[str, datetime]] | None = None,
) -> list[CheckResult]:
    """Run the model's checks (or ``checks``) on ``engine``; never raises for one check.

    ``scopes`` (table → (time column, start); an incremental publish) limit the row checks
    of those tables to the rows from that start on: the rows before it are the live
    version's, checked when it was published. Keys are still checked against every row.
    """
    now = (now or _now()).replace(tzinfo=None)
    weights = importance(model)
    with engine.connect() as conn:
        columns = warehouse_columns(conn)
        conn.rollback()
    missing: dict[str, str] = {}
    for key, message in check_columns(model, columns):
        missing.setdefault(key.rsplit(".", 1)[0], message)
    out = []
    totals: dict[str, int] = {}  # row count per table, counted once per run
    for check in model.checks if checks is None else checks:
        multiplier = weights.get(check.table, 1.0)
        problem = missing.get(check.key)
        if check.table not in columns:
            problem = f"table '{check.table}' does not exist in the warehouse"
        elif check.to is not None and check.to[0] not in columns:
            problem = f"table '{check.to[0]}' does not exist in the warehouse"
        if problem is None and check.sql is not None:
            unknown = sorted(t for t in select_tables(check.sql) if t not in columns)
            if unknown:
                problem = f"table '{unknown[0]}' does not exist in the warehouse"
        if problem is not None:
            out.append(_error(check, multiplier, problem))
            continue
        try:
            with engine.connect() as conn:
                if engine.dialect.name == "postgresql":
                    conn.execute(sa.text("SET TRANSACTION READ ONLY"))
                result = _run_one(
                    model,
                    check,
                    conn,
                    columns[check.table],
                    now,
                    previous_counts,
                    totals,
                    (scopes or {}).get(check.table),
                )
                conn.rollback()
        except sa.exc.DBAPIError as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            out.append(_error(check, multiplier, f"could not run: {reason}"))
            continue
        out.append(replace(result, weight=check.weight * multiplier))
    return out


def _error(check: Check, multiplier: float, message: str) -> CheckResult:
    return CheckResult(
        check.id,
        check.name,
        check.table,
        check.column,
        check.kind,
        "model",
        check.risk,
        check.weight * multiplier,
        False,
        f"check {check.table}.{check.name} ({check.key}): {message}",
        error=True,
    )


def _result(
    check: Check,
    passed: bool,
    message: str,
    *,
    failing: int | None = None,
    total: int | None = None,
    observed: float | None = None,
    threshold: float | None = None,
    sample: Sample | None = None,
) -> CheckResult:
    return CheckResult(
        check.id,
        check.name,
        check.table,
        check.column,
        check.kind,
        "model",
        check.risk,
        check.weight,
        bool(passed),
        message,
        failing,
        total,
        observed,
        threshold,
        sample=sample or Sample(),
    )


def _run_one(
    model: SemanticModel,
    check: Check,
    conn: sa.Connection,
    table_columns: Mapping[str, str],
    now: datetime,
    previous_counts: Callable[[Check], int | None],
    totals: dict[str, int],
    scope_by: tuple[str, datetime] | None = None,
) -> CheckResult:
    spec = model.tables[check.table]
    names = list(dict.fromkeys([*spec.primary_key, *check.columns]))
    names = [n for n in names if n in table_columns]
    t = sa.table(check.table, *(sa.column(c) for c in table_columns))
    if check.table not in totals:
        totals[check.table] = conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
    total = totals[check.table]
    cols = [t.c[c] for c in check.columns]
    where: sa.ColumnElement[bool] | None = None
    source: sa.FromClause = t
    scope: sa.ColumnElement[bool] = sa.true()
    if scope_by is not None and scope_by[0] in table_columns:
        scope = t.c[scope_by[0]] >= scope_by[1]
    if check.kind == "not_null":
        where = sa.or_(*(c.is_(None) for c in cols))
    elif check.kind == "accepted_values":
        where = sa.and_(cols[0].is_not(None), cols[0].not_in(list(check.values)))
    elif check.kind == "range":
        parts = []
        if check.min is not None:
            parts.append(cols[0] < check.min)
        if check.max is not None:
            parts.append(cols[0] > check.max)
        where = sa.or_(*parts)
    elif check.kind == "unique":
        scoped = (
            [sa.tuple_(*cols).in_(sa.select(*cols).where(scope))] if scope_by is not None else []
        )
        dupes = (
            sa.select(*cols)
            .where(*(c.is_not(None) for c in cols), *scoped)
            .group_by(*cols)
            .having(sa.func.count() > 1)
            .subquery("dupes")
        )
        source = t.join(dupes, sa.and_(*(c == dupes.c[c.name] for c in cols)))
        where = sa.true()
    elif check.kind == "relationship":
        assert check.to is not None
        target_name, target_col = check.to
        target = sa.table(target_name, sa.column(target_col)).alias("target")
        source = t.outerjoin(target, cols[0] == target.c[target_col])
        where = sa.and_(cols[0].is_not(None), target.c[target_col].is_(None))
    elif check.kind == "freshness":
        return _freshness(check, conn, cols[0], t, total, now)
    elif check.kind == "row_count_change":
        return _row_count_change(check, total, previous_counts(check))
    elif check.kind == "sql":
        return _sql(model, check, conn, total)
    assert where is not None
    if scope_by is not None and check.kind != "unique":
        where = sa.and_(where, scope)
    failing = conn.execute(sa.select(sa.func.count()).select_from(source).where(where)).scalar_one()
    sample = None
    if failing:
        order = [t.c[c] for c in names]
        rows = conn.execute(
            sa.select(*order).select_from(source).where(where).order_by(*order).limit(SAMPLE_ROWS)
        ).all()
        sample = _sample(names, rows, spec.pii, spec.primary_key)
    if check.kind == "relationship":
        assert check.to is not None
        considered = conn.execute(
            sa.select(sa.func.count(cols[0])).select_from(t).where(scope)
        ).scalar_one()
        rate = failing / considered if considered else 0.0
        ok = rate <= check.max_orphan_rate
        message = (
            f"{failing:,} of {considered:,} {check.column} value(s) ({rate:.2%}) have "
            f"no row in {check.to[0]}"
            if failing
            else f"every {check.column} found in {check.to[0]}"
        )
        return _result(
            check,
            ok,
            message,
            failing=failing,
            total=total,
            observed=rate,
            threshold=check.max_orphan_rate,
            sample=sample,
        )
    what = {
        "not_null": "empty",
        "unique": "duplicated",
        "accepted_values": "unexpected",
        "range": "out-of-range",
    }[check.kind]
    message = (
        f"{failing:,} of {total:,} row(s) with {what} {check.column}"
        if failing
        else _passed_message(check)
    )
    return _result(
        check,
        failing == 0,
        message,
        failing=failing,
        total=total,
        observed=failing,
        threshold=0,
        sample=sample,
    )


def _passed_message(check: Check) -> str:
    if check.kind == "not_null":
        return f"{check.column} always filled"
    if check.kind == "unique":
        return f"{check.column} unique"
    if check.kind == "accepted_values":
        return f"{check.column} within {len(check.values)} accepted value(s)"
    bounds = " and ".join(
        p
        for p in (
            f"≥ {check.min:g}" if check.min is not None else "",
            f"≤ {check.max:g}" if check.max is not None else "",
        )
        if p
    )
    return f"{check.column} {bounds}"


def _freshness(
    check: Check,
    conn: sa.Connection,
    column: sa.ColumnClause,
    t: sa.TableClause,
    total: int,
    now: datetime,
) -> CheckResult:
    latest = conn.execute(sa.select(sa.func.max(column)).select_from(t)).scalar_one()
    limit = check.max_age_hours
    if latest is None:
        return _result(
            check, False, f"{check.table} has no {check.column} value", total=total, threshold=limit
        )
    if not isinstance(latest, datetime):  # a DATE: the day counts from its start
        latest = datetime(latest.year, latest.month, latest.day)
    if latest.tzinfo is not None:
        latest = latest.astimezone(UTC).replace(tzinfo=None)
    age = (now - latest).total_seconds() / 3600
    assert limit is not None
    return _result(
        check,
        age <= limit,
        f"latest {check.column} {latest:%Y-%m-%d %H:%M}, {age:,.1f} h old (SLO {limit:g} h)",
        total=total,
        observed=round(age, 2),
        threshold=limit,
    )


def _row_count_change(check: Check, total: int, before: int | None) -> CheckResult:
    if not before:
        return _result(check, True, f"{total:,} rows; no earlier count to compare", total=total)
    change = (total - before) / before
    ok = (check.min is None or change >= check.min) and (check.max is None or change <= check.max)
    limit = check.min if change < 0 and check.min is not None else check.max
    return _result(
        check,
        ok,
        f"{before:,} → {total:,} rows ({change:+.1%})",
        total=total,
        observed=round(change, 4),
        threshold=limit,
    )


def _sql(model: SemanticModel, check: Check, conn: sa.Connection, total: int) -> CheckResult:
    assert check.sql is not None
    query = sa.text(check.sql.strip().rstrip(";")).columns().subquery("failing")
    failing = conn.execute(sa.select(sa.func.count()).select_from(query)).scalar_one()
    sample = None
    if failing:
        result = conn.execute(sa.select(sa.text("*")).select_from(query).limit(SAMPLE_ROWS))
        names = list(result.keys())
        sample = _sample(
            names,
            result.all(),
            sql_pii_outputs(model, check.sql, names),
            model.tables[check.table].primary_key,
        )
    message = f"{failing:,} failing row(s) returned" if failing else "no failing row"
    return _result(
        check,
        failing == 0,
        message,
        failing=failing,
        total=total,
        observed=failing,
        threshold=0,
        sample=sample,
    )


def sql_pii_outputs(model: SemanticModel, sql: str, names: Sequence[str]) -> frozenset[str]:
    """The output columns of a ``sql`` check that may carry a PII value, to be masked in its
    sample: a column named like a PII column of a table it reads, or one computed (under
    any alias, in any CTE or subquery) from such a column. An alias with a column list
    (``FROM t AS x(a, b)``) or an unnamed expression over a PII column (``max(email)``,
    named by the database) hides the link: then every output is treated as PII."""
    pii = frozenset().union(*(model.tables[t].pii for t in select_tables(sql) if t in model.tables))
    if not pii:
        return frozenset()
    tree = sqlglot.parse_one(sql)
    if any(alias.columns for alias in tree.find_all(exp.TableAlias)):
        return frozenset(names)
    tainted = {name.lower() for name in pii}
    aliases = list(tree.find_all(exp.Alias))
    grew = True
    while grew:  # an alias of an expression over a tainted name taints its own name
        grew = False
        for alias in aliases:
            name = alias.alias.lower()
            if name not in tainted and any(
                c.name.lower() in tainted for c in alias.this.find_all(exp.Column)
            ):
                tainted.add(name)
                grew = True
    for select in tree.find_all(exp.Select):
        for projection in select.expressions:
            if not isinstance(projection, exp.Alias | exp.Column | exp.Star) and any(
                c.name.lower() in tainted for c in projection.find_all(exp.Column)
            ):
                return frozenset(names)  # named by the database (max(email)): mask all
    return frozenset(n for n in names if n.lower() in tainted)


def _plain(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _sample(
    names: Sequence[str], rows: Sequence[Sequence], pii: frozenset[str], keys: Sequence[str]
) -> Sample:
    """Failing rows with PII columns masked before anything is stored."""
    masked = tuple(n for n in names if n in pii)
    shown = [
        tuple(
            MASK if n in pii and v is not None else _plain(v)
            for n, v in zip(names, row, strict=True)
        )
        for row in rows
    ]
    return Sample(
        tuple(names), tuple(shown), masked, tuple(k for k in keys if k in names and k not in pii)
    )


def unmasked_rows(
    model: SemanticModel, engine: sa.Engine, table: str, sample: Sample
) -> list[tuple]:
    """The sample's rows with PII columns read again from the warehouse by primary key (for
    viewers allowed to see PII); rows no longer found keep their mask, and so do masked
    columns that are not the table's own PII columns (a ``sql`` check's renamed or computed
    ones: there is nothing to read them back from)."""
    spec = model.tables.get(table)
    readable = tuple(m for m in sample.masked if spec is not None and m in spec.pii)
    if spec is None or not readable or not sample.keys or tuple(spec.primary_key) != sample.keys:
        return [tuple(r) for r in sample.rows]
    t = sa.table(table, *(sa.column(c) for c in (*sample.keys, *readable)))
    index = [sample.columns.index(k) for k in sample.keys]
    wanted = [tuple(row[i] for i in index) for row in sample.rows]
    key_cols = [t.c[k] for k in sample.keys]
    condition = (
        key_cols[0].in_([w[0] for w in wanted])
        if len(key_cols) == 1
        else sa.tuple_(*key_cols).in_(wanted)
    )
    with engine.connect() as conn:
        found = {
            tuple(_plain(v) for v in r[: len(key_cols)]): r[len(key_cols) :]
            for r in conn.execute(
                sa.select(*key_cols, *(t.c[m] for m in readable)).where(condition)
            )
        }
    out = []
    for row, key in zip(sample.rows, wanted, strict=True):
        values = dict(zip(sample.columns, row, strict=True))
        fresh = found.get(tuple(key))
        if fresh is not None:
            values.update({m: _plain(v) for m, v in zip(readable, fresh, strict=True)})
        out.append(tuple(values[c] for c in sample.columns))
    return out


class PublishChecks:
    """The loader's model-check callback (injected by ``app/cli/data.py``): runs the model's checks
    on the new, closed warehouse file and returns the gates to publish with: the built-in
    gates (minus those a model check overrides, weights scaled) plus the model's checks.
    The full results, samples included, are kept in ``results`` for the metadata DB."""

    def __init__(
        self,
        model_path: Path,
        *,
        freshness_hours: float = DEFAULT_FRESHNESS_HOURS,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.model_path = model_path
        self.freshness_hours = freshness_hours
        self.now = now
        self.results: list[CheckResult] = []
        self.version: str | None = None

    def __call__(
        self,
        path: Path,
        gates: Sequence[GateResult],
        previous_counts: Mapping[str, int],
        since: Mapping[str, tuple[str, datetime]] | None = None,
    ) -> list[GateResult]:
        self.version = path.stem.rsplit("-", 1)[-1]  # files are <name>-<version>.duckdb
        model = load_model(self.model_path)
        # one pooled connection for every check: reopening the file each time costs ~10×
        engine = sa.create_engine(
            f"duckdb:///{path}", pool_size=1, max_overflow=0, connect_args={"read_only": True}
        )
        try:
            found = run_checks(
                model,
                engine,
                previous_counts=lambda c: previous_counts.get(c.table),
                now=self.now() if self.now is not None else None,
                scopes=since,
                checks=[
                    *model.checks,
                    *implied_checks(model, freshness_hours=self.freshness_hours),
                ],
            )
        finally:
            engine.dispose()
        weights = importance(model)
        kept = [
            gate_result(g, weights.get(g.table, 1.0))
            for g in gates
            if not overridden(g, model.checks)
        ]
        self.results = kept + found
        return [as_gate(r) for r in self.results]


def quality_run(model: SemanticModel) -> tuple[str, list[CheckResult], int]:
    """``starboard quality``: run the model's checks on the live warehouse of the current
    runtime and record them (with the version's load gates, if any) in the metadata DB;
    (version, results, run id)."""

    runtime = current_runtime()
    snap = runtime.warehouse.snapshot()
    key = warehouse_key(runtime.settings.db_url, runtime.settings.pg_schema)
    db = runtime.users.db
    found = run_checks(
        model, snap.engine, previous_counts=lambda c: previous_total(db, key, c.id, snap.version.id)
    )
    # a version Starboard published keeps its load gates: count them in, so the DQ score
    # compares with the publish's (model checks stored among them are run again above)

    try:
        gates = status_q.warehouse_status().gates
    except StarboardError:
        gates = []
    ours = {(c.table, c.name) for c in model.checks}
    kept = [
        gate_result(g)
        for g in gates
        if (g.table, g.check) not in ours and not overridden(g, model.checks)
    ]
    run_id = record_run(
        db,
        warehouse=key,
        version=snap.version.id,
        source="quality",
        published=True,
        results=kept + found,
    )
    return snap.version.id, kept + found, run_id
