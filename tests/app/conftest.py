"""Fixtures of the app tests: a PostgreSQL schema prefix of each test's own (the
PostgreSQL tests are marked ``postgres``; ``pg_url`` is in tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest


@pytest.fixture
def prefix(pg_url: str) -> Iterator[str]:
    """A schema prefix of this test's own; its schemas are dropped afterwards."""
    from app.loader.postgres import drop_all

    name = f"sbt_{uuid.uuid4().hex[:8]}"
    yield name
    drop_all(pg_url, name)
