"""Per-process state bound to the Flask server: settings and the warehouse.

Created unbound, bound in the factory (Flask's extension pattern); looked up through
``current_app`` at request time, never at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app

from app.config import Settings
from app.warehouse import Warehouse

EXTENSION = "starboard"


@dataclass
class Runtime:
    settings: Settings
    warehouse: Warehouse
    # Per-process state of the upper layers (the loaded model, …), keyed by owner.
    state: dict[str, Any] = field(default_factory=dict)


def init_runtime(server: Flask, settings: Settings) -> Runtime:
    """Create the runtime for ``server``; opens nothing until the first query."""
    runtime = Runtime(settings=settings,
                      warehouse=Warehouse(settings.db_url,
                                          memory_limit=settings.duckdb_memory_limit,
                                          threads=settings.duckdb_threads))
    server.extensions[EXTENSION] = runtime
    return runtime


def current_runtime() -> Runtime:
    """The runtime of the app handling the current request."""
    return current_app.extensions[EXTENSION]
