"""Warehouses of the second (support) schema for the compiler tests: DuckDB and PostgreSQL.

PostgreSQL comes from ``STARBOARD_TEST_PG_URL`` (e.g.
``postgresql+psycopg://root@127.0.0.1:5432/test``); each session copies the data into
its own schema and drops it afterwards. Without the variable the PostgreSQL half is
skipped, unless ``STARBOARD_STRICT=1``, where it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from queries.semantic.compile import rollup_statements, warehouse_column_types  # noqa: E402
from queries.semantic.types import SemanticModel  # noqa: E402
from tests.queries.second_schema import (
    SupportData,
    build_rows,
    copy_to_postgres,
    create_duckdb,
    support_model,
)

PG_URL_ENV = "STARBOARD_TEST_PG_URL"


@dataclass
class Warehouse:
    """One backend holding the support schema (and its rollup tables)."""

    name: str
    engine: sa.Engine
    model: SemanticModel
    kinds: dict[str, str]
    data: SupportData

    @property
    def dialect(self) -> sa.engine.Dialect:
        """The engine's SQLAlchemy dialect."""
        return self.engine.dialect

    def frame(self, statement: sa.Executable | str) -> pd.DataFrame:
        """Run a statement (or hand-written SQL text) and return a normalised frame."""
        if isinstance(statement, str):
            statement = sa.text(statement)
        with self.engine.connect() as conn:
            result = conn.execute(statement)
            return normalise(list(result.keys()), [tuple(r) for r in result])

    def scalar(self, sql: str) -> object:
        """One value of hand-written SQL."""
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()


def _plain(value: object) -> object:
    """Driver values in one comparable form: numbers as float, the rest unchanged."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def normalise(columns: list[str], rows: list[tuple]) -> pd.DataFrame:
    """A frame whose numbers are float64 and whose other values are Python objects."""
    frame = pd.DataFrame([tuple(_plain(v) for v in r) for r in rows], columns=columns, dtype=object)
    for column in frame.columns:
        values = [v for v in frame[column] if v is not None]
        if values and all(isinstance(v, float) for v in values):
            frame[column] = frame[column].astype("float64")
        elif not values:
            frame[column] = frame[column].astype("float64")
    return frame


def sort_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in a canonical order (every column ascending, NULLs last)."""
    if frame.empty:
        return frame.reset_index(drop=True)
    keys = [
        frame[c].map(lambda v: (v is None or v != v, "" if v is None else v)) for c in frame.columns
    ]
    order = sorted(range(len(frame)), key=lambda i: tuple(k.iloc[i] for k in keys))
    return frame.iloc[order].reset_index(drop=True)


def _build_rollups(engine: sa.Engine, model: SemanticModel) -> None:
    """CREATE TABLE <rollup> AS <select> for each rollup of the model."""
    with engine.begin() as conn:
        for name, select in rollup_statements(model, engine.dialect):
            body = select.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
            conn.exec_driver_sql(f"CREATE TABLE {name} AS {body}")


def _warehouse(name: str, engine: sa.Engine, model: SemanticModel, data: SupportData) -> Warehouse:
    """Build the rollups and read the column types."""
    _build_rollups(engine, model)
    with engine.connect() as conn:
        kinds = warehouse_column_types(conn, model)
    return Warehouse(name=name, engine=engine, model=model, kinds=kinds, data=data)


@pytest.fixture(scope="session")
def support_data() -> SupportData:
    """The support schema's rows (also an oracle for a few totals)."""
    return build_rows()


@pytest.fixture(scope="session")
def support_duckdb_path(
    tmp_path_factory: pytest.TempPathFactory, support_data: SupportData
) -> Path:
    """A DuckDB file with the support schema (no rollups)."""
    return create_duckdb(tmp_path_factory.mktemp("support") / "support.duckdb", support_data)


@pytest.fixture(scope="session")
def duckdb_warehouse(
    tmp_path_factory: pytest.TempPathFactory, support_duckdb_path: Path, support_data: SupportData
) -> Iterator[Warehouse]:
    """The support schema in DuckDB, rollups built."""
    path = tmp_path_factory.mktemp("support-duck") / "warehouse.duckdb"
    path.write_bytes(support_duckdb_path.read_bytes())
    engine = sa.create_engine(f"duckdb:///{path}")
    try:
        yield _warehouse("duckdb", engine, support_model(), support_data)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_warehouse(
    pg_url: str, support_duckdb_path: Path, support_data: SupportData
) -> Iterator[Warehouse]:
    """The support schema copied into a fresh PostgreSQL schema, rollups built."""
    url = pg_url
    strict = os.environ.get("STARBOARD_STRICT") == "1"
    schema = f"sb_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url)
    try:
        copy_to_postgres(support_duckdb_path, admin, schema)
    except sa.exc.OperationalError as err:
        admin.dispose()
        if strict:
            pytest.fail(f"PostgreSQL at {PG_URL_ENV} is unreachable: {err}")
        pytest.skip(f"PostgreSQL at {PG_URL_ENV} is unreachable: {err}")
    engine = sa.create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield _warehouse("postgresql", engine, support_model(), support_data)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(
    scope="session",
    params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    """Each backend in turn: the compile tests run on both with identical expectations."""
    name = {"duckdb": "duckdb_warehouse", "postgresql": "postgres_warehouse"}[request.param]
    return request.getfixturevalue(name)
