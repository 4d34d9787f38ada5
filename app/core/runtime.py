"""Per-process state bound to the Flask server: settings and the warehouse.

Created unbound, bound in the factory (Flask's extension pattern); looked up through
``current_app`` at request time, never at import time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from app.core.auth import Users
from app.core.cache import QueryCache
from app.core.config import Settings
from app.core.meta import MetaDB
from app.core.pointer import WarehousePaths, duckdb_path
from app.core.private import private_home
from app.core.warehouse import Warehouse

EXTENSION = "starboard"


@dataclass
class Runtime:
    settings: Settings
    warehouse: Warehouse
    cache: QueryCache
    users: Users
    # Per-process state of the upper layers (the loaded model, …), keyed by owner.
    state: dict[str, Any] = field(default_factory=dict)


def init_runtime(server: Flask, settings: Settings) -> Runtime:
    """Create the runtime for ``server``; opens nothing until the first query. First makes
    the home, and a DuckDB warehouse's files kept outside it, private (app/core/private.py)."""
    private_home(settings.home, _warehouse_files(settings.db_url))
    runtime = Runtime(
        settings=settings,
        warehouse=Warehouse(
            settings.db_url,
            memory_limit=settings.duckdb_memory_limit,
            threads=settings.duckdb_threads,
            pg_schema=settings.pg_schema,
        ),
        cache=QueryCache(settings),
        users=Users(MetaDB(settings.meta_db_url, busy_timeout=settings.meta_busy_timeout_seconds)),
    )
    runtime.cache.init_app(server)
    server.extensions[EXTENSION] = runtime
    return runtime


def _warehouse_files(url: str) -> list[Path]:
    """The files Starboard's loader writes for a DuckDB warehouse: pointer, lock, version
    files (a plain DuckDB file it did not publish is left as its owner made it)."""
    if not url.startswith("duckdb:///") or ":memory:" in url:
        return []
    paths = WarehousePaths(duckdb_path(url))
    return [
        paths.pointer,
        paths.lock,
        *paths.version_files(),
        *paths.path.parent.glob(f"{paths.path.stem}-*.duckdb.wal"),
    ]


def current_runtime() -> Runtime:
    """The runtime of the app handling the current request."""
    return current_app.extensions[EXTENSION]


@contextmanager
def standalone(settings: Settings) -> Iterator[Runtime]:
    """A runtime outside the web app (CLI, benchmarks): a bare Flask app context."""
    server = Flask("starboard-cli")
    runtime = init_runtime(server, settings)
    try:
        with server.app_context():
            yield runtime
    finally:
        runtime.warehouse.dispose()
        runtime.users.db.dispose()
