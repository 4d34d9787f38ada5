"""The query cache: flask-caching backends behind one wrapper that never breaks a page.

Keys are built by the caller (compiled SQL, parameters, access scope, data version). A
backend that fails (Redis down, disk full) turns into a logged warning and an uncached
run, never an error page. Identical cold keys in flight in one process run once.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask
from flask_caching import Cache

from app.config import Settings

log = logging.getLogger("starboard.cache")
T = TypeVar("T")
MISSING = object()


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    errors: int = 0
    shared: int = 0          # callers that waited for an identical query in flight


def cache_config(settings: Settings) -> dict[str, Any]:
    """flask-caching configuration for the chosen backend."""
    base: dict[str, Any] = {"CACHE_DEFAULT_TIMEOUT": settings.cache_ttl,
                            "CACHE_KEY_PREFIX": "sb:"}
    if settings.cache == "null":
        return {**base, "CACHE_TYPE": "NullCache"}
    if settings.cache == "simple":
        return {**base, "CACHE_TYPE": "SimpleCache", "CACHE_THRESHOLD": settings.cache_max_items}
    if settings.cache == "redis":
        return {**base, "CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": settings.redis_url}
    return {**base, "CACHE_TYPE": "FileSystemCache", "CACHE_DIR": str(settings.cache_dir),
            "CACHE_THRESHOLD": settings.cache_max_items}


class QueryCache:
    """get-or-compute with single-flight; backend failures degrade to uncached runs."""

    def __init__(self, settings: Settings) -> None:
        self.backend_name = settings.cache
        self._cache = Cache(config=cache_config(settings))
        self._flights: dict[str, Future] = {}
        self._lock = threading.Lock()
        self.stats = CacheStats()

    def init_app(self, server: Flask) -> None:
        with warnings.catch_warnings():  # "null" is a deliberate choice, not a mistake
            warnings.filterwarnings("ignore", message=".*NullCache.*")
            self._cache.init_app(server)

    def _get(self, key: str) -> Any:
        try:
            value = self._cache.get(key)
        except Exception as exc:  # any backend failure: run uncached
            self.stats.errors += 1
            log.warning("cache read failed (%s: %s); running uncached", type(exc).__name__, exc)
            return MISSING
        return MISSING if value is None else value

    def _set(self, key: str, value: Any) -> None:
        try:
            self._cache.set(key, value)
        except Exception as exc:  # the result is still returned to the caller
            self.stats.errors += 1
            log.warning("cache write failed (%s: %s)", type(exc).__name__, exc)

    def get_or_compute(self, key: str, compute: Callable[[], T]) -> tuple[T, bool]:
        """``(value, hit)``: the cached value, or ``compute()`` run once for all callers
        asking for the same key at the same moment."""
        cached = self._get(key)
        if cached is not MISSING:
            self.stats.hits += 1
            return cached, True
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if leader:
                flight = Future()
                self._flights[key] = flight
        assert flight is not None
        if not leader:
            self.stats.shared += 1
            return flight.result(), True
        self.stats.misses += 1
        try:
            value = compute()
        except BaseException as exc:
            with self._lock:
                self._flights.pop(key, None)
            flight.set_exception(exc)
            raise
        # Store before leaving the flight: a caller arriving in between finds the cache.
        self._set(key, value)
        flight.set_result(value)
        with self._lock:
            self._flights.pop(key, None)
        return value, False

    def clear(self) -> None:
        try:
            self._cache.clear()
        except Exception as exc:
            log.warning("cache clear failed: %s", exc)
