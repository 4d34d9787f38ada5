"""Materialise the model's rollups into a warehouse file before it is published."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from app.core.errors import DataError
from queries.semantic.compile import compile_query, rollup_statements
from queries.semantic.model import load_model
from queries.semantic.query import MetricQuery
from queries.semantic.types import SemanticModel


def _derived(
    model: SemanticModel, name: str, built: set[str], dialect: sa.engine.Dialect
) -> sa.Select | None:
    """The rollup ``name`` answered from an already built (wider) rollup, if one fits: the
    compiler's own aggregate awareness, so the fact is scanned once, not once per rollup."""
    rollup = model.rollups[name]
    time_dim = model.time_dimension()
    dims = tuple(rollup.dimensions)
    if time_dim is not None and model.tables[rollup.fact].time:
        dims = (f"{time_dim.name}:{rollup.grain}", *dims)
    compiled = compile_query(
        model,
        MetricQuery(tuple(rollup.metrics), dims),
        dialect=dialect,
        available_rollups=frozenset(built),
    )
    return compiled.statement if compiled.rollup else None


def build_rollups(
    model_path: str | Path, db_file: Path, since: Mapping[str, datetime] | None = None
) -> list[str]:
    """``CREATE TABLE <rollup> AS <select>`` for each rollup of the model; returns names.

    Runs on the new, not yet published DuckDB file, so readers never see a half-built
    rollup. Wider rollups are built first; a narrower one is then read off a wider one.
    ``since`` (fact → start, an incremental refresh) replaces only the time buckets from
    that start on in the rollups of those facts that the file already has; the filter on
    the rollup's time column reaches the fact's scan, so only the refreshed days are read.
    """
    model = load_model(model_path)
    if not model.rollups:
        return []
    engine = sa.create_engine(f"duckdb:///{db_file}")
    time_dim = model.time_dimension()
    existing = set(sa.inspect(engine).get_table_names()) if since else set()
    statements = dict(rollup_statements(model, engine.dialect))
    order = sorted(model.rollups.values(), key=lambda r: (r.fact, -len(r.dimensions), r.name))
    built: set[str] = set()
    try:
        with engine.begin() as conn:
            for rollup in order:
                name = rollup.name
                select = _derived(model, name, built, engine.dialect)
                if select is None:
                    select = statements[name]
                compiled = select.compile(
                    dialect=engine.dialect, compile_kwargs={"literal_binds": True}
                )
                start = (since or {}).get(rollup.fact)
                try:
                    if (
                        start is not None
                        and name in existing
                        and time_dim is not None
                        and model.tables[rollup.fact].time
                    ):
                        column = '"' + time_dim.name.replace('"', '""') + '"'
                        bound = (
                            f"date_trunc('{rollup.grain}', TIMESTAMP '{start.isoformat(sep=' ')}')"
                        )
                        conn.exec_driver_sql(f'DELETE FROM "{name}" WHERE {column} >= {bound}')
                        conn.exec_driver_sql(
                            f'INSERT INTO "{name}" SELECT * FROM ({compiled}) AS fresh '
                            f"WHERE fresh.{column} >= {bound}"
                        )
                    else:
                        conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
                        conn.exec_driver_sql(f'CREATE TABLE "{name}" AS {compiled}')
                except sa.exc.DBAPIError as exc:
                    first = str(exc.orig).strip().splitlines()[0]
                    raise DataError(
                        f"Building rollup {name!r} of {model.path} failed: {first}"
                    ) from exc
                built.add(name)
        with engine.connect() as conn:
            conn.exec_driver_sql("CHECKPOINT")
    finally:
        engine.dispose()
    return [r.name for r in order]
