"""What the warehouse holds and how trustworthy it is: versions, tables, gate results."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from app.core.errors import StarboardError
from app.core.runtime import current_runtime
from app.core.stores.checks import GateResult
from app.core.warehouse import DataVersion
from queries.semantic.run import current_model

PUBLISH_TABLE = "starboard_publish"
GATE_TABLE = "starboard_gate"


GateRow = GateResult  # one type for a gate's result, written by the loader, read here


@dataclass(frozen=True)
class PublishRow:
    version: str
    published_at: datetime
    dq_score: float | None
    gates_total: int
    gates_failed: int
    risk1_failed: int
    seconds: float | None
    fact_rows: int | None


@dataclass(frozen=True)
class WarehouseStatus:
    version: DataVersion
    tables: list[tuple[str, int]]
    gates: list[GateRow]
    publishes: list[PublishRow]
    data_from: datetime | None
    data_to: datetime | None

    @property
    def status(self) -> str:
        """ok, warn (a Risk 2 check failed), fail (Risk 1) or unknown (no gates recorded)."""
        if not self.gates:
            return "unknown"
        if any(g.status == "fail" for g in self.gates):
            return "fail"
        return "warn" if any(g.status == "warn" for g in self.gates) else "ok"


def warehouse_status() -> WarehouseStatus:
    """Tables with row counts, and the live version's gates and publish history (read once
    per data version: it cannot change within one)."""
    runtime = current_runtime()
    snap = runtime.warehouse.snapshot()
    key = f"queries.quality.status:{snap.version.id}"
    cached = runtime.state.get(key)
    if cached is not None:
        return cached
    status = _read_status(snap)
    for old in [k for k in runtime.state if k.startswith("queries.quality.status:")]:
        runtime.state.pop(old, None)
    runtime.state[key] = status
    return status


def _read_status(snap) -> WarehouseStatus:
    facts = _fact_tables()
    with snap.engine.connect() as conn:
        inspector = sa.inspect(conn)
        names = sorted(inspector.get_table_names())
        ours = {PUBLISH_TABLE, GATE_TABLE}
        tables = []
        for name in names:
            if name in ours:
                continue
            count = conn.execute(sa.select(sa.func.count()).select_from(sa.table(name))).scalar()
            tables.append((name, int(count or 0)))
        gates: list[GateRow] = []
        publishes: list[PublishRow] = []
        data_from = data_to = None
        if PUBLISH_TABLE in names and GATE_TABLE in names:
            gate = sa.table(
                GATE_TABLE,
                *(
                    sa.column(c)
                    for c in (
                        "version",
                        "check",
                        "table_name",
                        "column_name",
                        "risk",
                        "passed",
                        "observed",
                        "threshold",
                        "detail",
                        "weight",
                    )
                ),
            )
            rows = conn.execute(
                sa.select(
                    gate.c.check,
                    gate.c.table_name,
                    gate.c.column_name,
                    gate.c.risk,
                    gate.c.passed,
                    gate.c.observed,
                    gate.c.threshold,
                    gate.c.detail,
                    gate.c.weight,
                )
                .where(gate.c.version == snap.version.id)
                .order_by(
                    gate.c.passed, gate.c.risk, gate.c.table_name, gate.c.check, gate.c.column_name
                )
            ).all()
            gates = [GateResult(*r) for r in rows]
            pub = sa.table(
                PUBLISH_TABLE,
                *(
                    sa.column(c)
                    for c in (
                        "version",
                        "published_at",
                        "dq_score",
                        "gates_total",
                        "gates_failed",
                        "risk1_failed",
                        "seconds",
                        "row_counts",
                        "data_from",
                        "data_to",
                    )
                ),
            )
            history = (
                conn.execute(sa.select(pub).order_by(pub.c.published_at.desc()).limit(20))
                .mappings()
                .all()
            )
            for row in history:
                publishes.append(
                    PublishRow(
                        row["version"],
                        row["published_at"],
                        row["dq_score"],
                        row["gates_total"],
                        row["gates_failed"],
                        row["risk1_failed"],
                        row["seconds"],
                        _fact_rows(row["row_counts"], facts),
                    )
                )
                if row["version"] == snap.version.id:
                    data_from, data_to = row["data_from"], row["data_to"]
    return WarehouseStatus(snap.version, tables, gates, publishes, data_from, data_to)


def _fact_tables() -> frozenset[str]:
    """The model's fact tables (empty when the model cannot be read: its own page says why)."""
    try:
        model = current_model()
    except StarboardError:
        return frozenset()
    return frozenset(name for name, table in model.tables.items() if table.kind == "fact")


def _fact_rows(row_counts: str | None, facts: frozenset[str]) -> int | None:
    """Rows in the fact tables of one publish (its ``row_counts`` names every table)."""
    if not row_counts:
        return None
    counts = json.loads(row_counts)
    found = [v for k, v in counts.items() if k in facts]
    return sum(found) if found else None
