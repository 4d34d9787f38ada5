"""Materialise the model's rollups into a warehouse file before it is published."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from app.errors import DataError
from queries.compile import rollup_statements
from queries.model import load_model


def build_rollups(model_path: str | Path, db_file: Path) -> list[str]:
    """``CREATE TABLE <rollup> AS <select>`` for each rollup of the model; returns names.

    Runs on the new, not yet published DuckDB file, so readers never see a half-built
    rollup. A rollup over tables the warehouse lacks is a clear ModelError/QueryError.
    """
    model = load_model(model_path)
    if not model.rollups:
        return []
    engine = sa.create_engine(f"duckdb:///{db_file}")
    built = []
    try:
        with engine.begin() as conn:
            for name, select in rollup_statements(model, engine.dialect):
                compiled = select.compile(dialect=engine.dialect,
                                          compile_kwargs={"literal_binds": True})
                try:
                    conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
                    conn.exec_driver_sql(f'CREATE TABLE "{name}" AS {compiled}')
                except sa.exc.DBAPIError as exc:
                    first = str(exc.orig).strip().splitlines()[0]
                    raise DataError(f"Building rollup {name!r} of {model.path} failed: "
                                    f"{first}") from exc
                built.append(name)
        with engine.connect() as conn:
            conn.exec_driver_sql("CHECKPOINT")
    finally:
        engine.dispose()
    return built
