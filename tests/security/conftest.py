"""Fixtures of the attack tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import add_users, make_app


@pytest.fixture
def locked_app(small_warehouse: str, tmp_path: Path):
    """An app whose metadata DB waits 0.3 s for a lock, and ``lock()`` to hold a write
    lock on it from another connection (``exclusive=True``: readers are shut out too)."""
    app = make_app(small_warehouse, tmp_path, meta_busy_timeout_seconds=0.3)
    add_users(app)
    holders: list[sqlite3.Connection] = []

    def lock(exclusive: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(tmp_path / "meta.sqlite", timeout=5, isolation_level=None)
        if exclusive:
            # the app's pooled connections would keep their shared locks: close them
            app.server.extensions["starboard"].users.db.engine.dispose()
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("UPDATE sb_user SET role = role")  # takes the WAL write lock
        holders.append(conn)
        return conn

    yield app, lock
    for conn in holders:
        conn.close()  # closing a connection twice is fine; it rolls back
    app.server.extensions["starboard"].warehouse.dispose()
