"""PostgreSQL fixtures of these tests: a schema prefix per test, the tiny demo's raw files.

``pg_server`` and ``pg_url`` (a database of the session's own) are in tests/conftest.py;
without ``STARBOARD_TEST_PG_URL`` every test here is skipped (fails under
``STARBOARD_STRICT=1``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def prefix(pg_url: str) -> Iterator[str]:
    """A schema prefix of this test's own; its schemas are dropped afterwards."""
    from app.loader.postgres import drop_all

    name = f"sbt_{uuid.uuid4().hex[:8]}"
    yield name
    drop_all(pg_url, name)


def tiny_raw(tiny_demo: str) -> Path:
    """The raw files the tiny demo warehouse was loaded from."""
    return Path(tiny_demo.removeprefix("duckdb:///")).parent / "raw"
