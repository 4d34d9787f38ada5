"""Warehouses Starboard never built: read as they are, versioned by their own state."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from app.core.errors import WarehouseUnavailable
from app.core.warehouse import Warehouse
from tests.conftest import unavailable


def test_plain_duckdb_file_is_read_read_only_and_versioned_by_its_identity(tmp_path: Path) -> None:
    path = tmp_path / "theirs.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT 1 AS x")
    con.close()
    warehouse = Warehouse(f"duckdb:///{path}", check_interval=0)
    first = warehouse.snapshot()
    assert first.version.source == "file" and first.version.id.startswith("file-")
    with first.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT x FROM t").scalar() == 1
        with pytest.raises(sa.exc.DBAPIError):  # never a writer
            conn.exec_driver_sql("CREATE TABLE u (y INT)")
    assert warehouse.snapshot().version.id == first.version.id
    warehouse.dispose()
    time.sleep(0.01)
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO t VALUES (2)")
    con.close()
    changed = Warehouse(f"duckdb:///{path}", check_interval=0).snapshot()
    assert changed.version.id != first.version.id


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WarehouseUnavailable, match="No warehouse at .*starboard demo"):
        Warehouse(f"duckdb:///{tmp_path / 'none.duckdb'}").snapshot()


@pytest.mark.postgres
def test_postgresql_is_versioned_by_its_wal_position() -> None:
    url = os.environ.get("STARBOARD_TEST_PG_URL")
    if not url:
        unavailable("STARBOARD_TEST_PG_URL is not set (a PostgreSQL server for this test)")
    schema = f"sb_wh_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        conn.exec_driver_sql(f"CREATE TABLE {schema}.t (x int)")
    try:
        warehouse = Warehouse(url, check_interval=0)
        before = warehouse.snapshot().version
        assert before.source == "database" and before.id.startswith("db-")
        with admin.begin() as conn:
            conn.exec_driver_sql(f"INSERT INTO {schema}.t VALUES (1)")
        after = warehouse.snapshot().version
        assert after.id != before.id  # a committed write: a new version, never stale results
        warehouse.dispose()
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def test_unreachable_postgresql_is_warehouse_unavailable() -> None:
    warehouse = Warehouse("postgresql+psycopg://nobody@127.0.0.1:1/none", check_interval=0)
    with pytest.raises(WarehouseUnavailable, match="not reachable"):
        warehouse.snapshot()
