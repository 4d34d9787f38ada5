"""PostgreSQL fixtures: a database of this test session's own, dropped afterwards.

Needs ``STARBOARD_TEST_PG_URL`` (a server where the user may CREATE DATABASE); without it
every test here is skipped (fails under ``STARBOARD_STRICT=1``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import unavailable


@pytest.fixture(scope="session")
def pg_server() -> str:
    url = os.environ.get("STARBOARD_TEST_PG_URL")
    if not url:
        unavailable("STARBOARD_TEST_PG_URL is not set (a PostgreSQL server for these tests)")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.DBAPIError as exc:
        unavailable(f"PostgreSQL at STARBOARD_TEST_PG_URL is not reachable: {exc.orig}")
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="session")
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh database for this session (warehouse schemas and metadata tables)."""
    name = f"sbtest_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield sa.engine.make_url(pg_server).set(database=name).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@pytest.fixture
def prefix(pg_url: str) -> Iterator[str]:
    """A schema prefix of this test's own; its schemas are dropped afterwards."""
    from app.build.postgres import drop_all

    name = f"sbt_{uuid.uuid4().hex[:8]}"
    yield name
    drop_all(pg_url, name)


def tiny_raw(tiny_demo: str) -> Path:
    """The raw files the tiny demo warehouse was loaded from."""
    return Path(tiny_demo.removeprefix("duckdb:///")).parent / "raw"
