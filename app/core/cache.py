"""The query cache: flask-caching backends behind one wrapper that never breaks a page.

Keys are built by the caller (compiled SQL, parameters, access scope, data version). A
backend that fails (Redis down, disk full) turns into a logged warning and uncached runs
for a short backoff window (a dead Redis is not asked again on every query), never an
error page; the cache comes back by itself when the backend does. The last failure is
kept for /admin. The filesystem backend is :class:`StrictFileSystemCache`: cachelib's own
swallows a failed write (a full disk) with a warning on the root logger and leaves a
temporary file behind per attempt; ours raises, so the failure is seen and backed off,
and removes its temporary file.

Identical cold keys run once: within one process through an in-flight table, and across
worker processes through a lock in the shared backend (Redis ``SET NX PX``, or an
``O_EXCL`` lock file under the filesystem cache's directory): the process that wins the
lock computes and stores, the others poll the cache for its result.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import secrets
import struct
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from flask import Flask
from flask_caching import Cache
from flask_caching.backends.filesystemcache import FileSystemCache

from app.core.config import Settings

log = logging.getLogger("starboard.cache")
T = TypeVar("T")
MISSING = object()

# Redis answers in well under a millisecond: anything slower is a dead or hung server.
REDIS_SOCKET_TIMEOUT = 0.5
# After a backend failure, run uncached this long before asking the backend again.
BACKOFF_SECONDS = 5.0
# Polling for another process's result: first and longest pause between looks.
POLL_FIRST = 0.01
POLL_MAX = 0.1


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    errors: int = 0
    shared: int = 0  # callers that waited for an identical query in this process
    lock_waits: int = 0  # callers that got another process's result through the lock
    lock_timeouts: int = 0  # waits that gave up on a lock holder and computed themselves
    bypassed: int = 0  # queries run uncached while the backend was in backoff


def cache_config(settings: Settings) -> dict[str, Any]:
    """flask-caching configuration for the chosen backend."""
    base: dict[str, Any] = {"CACHE_DEFAULT_TIMEOUT": settings.cache_ttl, "CACHE_KEY_PREFIX": "sb:"}
    if settings.cache == "null":
        return {**base, "CACHE_TYPE": "NullCache"}
    if settings.cache == "simple":
        return {**base, "CACHE_TYPE": "SimpleCache", "CACHE_THRESHOLD": settings.cache_max_items}
    if settings.cache == "redis":
        return {
            **base,
            "CACHE_TYPE": "RedisCache",
            "CACHE_REDIS_URL": settings.redis_url,
            "CACHE_OPTIONS": {
                "socket_timeout": REDIS_SOCKET_TIMEOUT,
                "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
            },
        }
    return {
        **base,
        "CACHE_TYPE": "app.core.cache.StrictFileSystemCache",
        "CACHE_DIR": str(settings.cache_dir),
        "CACHE_THRESHOLD": settings.cache_max_items,
    }


class _FdWriter:
    """A binary sink over a file descriptor: every byte goes through ``os.write``, and a
    short or failed write raises (``ENOSPC`` included)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        return len(data)


class StrictFileSystemCache(FileSystemCache):
    """flask-caching's filesystem cache whose writes fail loudly and leave nothing behind.

    cachelib's ``set`` catches ``OSError`` (a full disk, a read-only or vanished directory)
    and pickling errors, logs them on the root logger and returns False, leaving its
    0-byte temporary file in the cache directory. This ``set`` writes the same file format
    (expiry header, pickle) to a private temporary file, renames it into place, and on any
    failure removes the temporary file and raises, for :class:`QueryCache` to back off.
    """

    def set(self, key: str, value: Any, timeout: Any = None, mgmt_element: bool = False) -> bool:
        if mgmt_element:
            timeout = 0  # cachelib: the item counter never expires
        else:
            self._prune()
        expires = self._normalize_timeout(timeout)
        filename = self._get_filename(key)
        overwrite = os.path.isfile(filename)
        fd, tmp = tempfile.mkstemp(suffix=self._fs_transaction_suffix, dir=self._path)
        try:
            try:
                sink = _FdWriter(fd)
                sink.write(struct.pack("I", expires))
                pickle.dump(value, sink, pickle.HIGHEST_PROTOCOL)
            finally:
                os.close(fd)
            os.chmod(tmp, cast(int, self._mode))  # cachelib sets it in __init__
            os.replace(tmp, filename)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        if not overwrite and not mgmt_element:
            self._update_count(delta=1)
        return True


def _reason(exc: BaseException) -> str:
    """A failure in words, without the server path an OSError carries."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} (errno {exc.errno})" if exc.errno else exc.strerror
    return f"{type(exc).__name__}: {exc}"


class Locks(Protocol):
    """A lock per cache key that every worker process sees."""

    def acquire(self, key: str) -> str | None:
        """A token when this caller now holds the lock, None when another one does."""

    def release(self, key: str, token: str) -> None: ...

    def held(self, key: str) -> bool: ...


class RedisLocks:
    """``SET lock NX PX ttl``; released only by its holder (compare-and-delete)."""

    RELEASE = (
        "if redis.call('get', KEYS[1]) == ARGV[1] then "
        "return redis.call('del', KEYS[1]) else return 0 end"
    )

    def __init__(self, client: Any, prefix: str, ttl_seconds: float) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_ms = max(1, int(ttl_seconds * 1000))

    def _name(self, key: str) -> str:
        return f"{self.prefix}lock:{key}"

    def acquire(self, key: str) -> str | None:
        token = secrets.token_hex(8)
        return token if self.client.set(self._name(key), token, nx=True, px=self.ttl_ms) else None

    def release(self, key: str, token: str) -> None:
        self.client.eval(self.RELEASE, 1, self._name(key), token)

    def held(self, key: str) -> bool:
        return bool(self.client.exists(self._name(key)))


class FileLocks:
    """A lock file created with ``O_CREAT | O_EXCL``; older than ``ttl`` counts as stale
    (its holder died or hung: gunicorn kills a worker silent for longer)."""

    def __init__(self, directory: Path, ttl_seconds: float) -> None:
        self.directory = directory
        self.ttl = ttl_seconds

    def _path(self, key: str) -> Path:
        return self.directory / (hashlib.sha256(key.encode()).hexdigest()[:40] + ".lock")

    def _stale(self, path: Path) -> bool:
        try:
            return time.time() - path.stat().st_mtime > self.ttl
        except FileNotFoundError:
            return False

    def acquire(self, key: str) -> str | None:
        path = self._path(key)
        token = f"{os.getpid()}.{secrets.token_hex(8)}"
        for _attempt in range(2):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileNotFoundError:
                self.directory.mkdir(parents=True, exist_ok=True)
                continue
            except FileExistsError:
                if not self._stale(path):
                    return None
                log.warning(
                    "removing a stale cache lock %s (older than %.0f s)", path.name, self.ttl
                )
                path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(token)
            return token
        return None

    def release(self, key: str, token: str) -> None:
        path = self._path(key)
        try:
            if path.read_text() == token:
                path.unlink(missing_ok=True)
        except FileNotFoundError:
            pass

    def held(self, key: str) -> bool:
        path = self._path(key)
        return path.exists() and not self._stale(path)


class QueryCache:
    """get-or-compute with single-flight in and across processes; backend failures
    degrade to uncached runs."""

    def __init__(self, settings: Settings, *, lock_seconds: float | None = None) -> None:
        self.backend_name = settings.cache
        self._config = cache_config(settings)
        self._cache = Cache(config=self._config)
        self._flights: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._down_until = 0.0
        # A lock outliving the gunicorn timeout belongs to a worker that was killed.
        self.lock_seconds = float(lock_seconds if lock_seconds is not None else settings.timeout)
        # Beside the cache directory, not in it: the filesystem cache counts its files.
        self._lock_dir = settings.cache_dir.with_name(settings.cache_dir.name + "-locks")
        self.locks: Locks | None = None
        self.stats = CacheStats()
        self.last_error: str | None = None  # the latest backend failure, for /admin

    def init_app(self, server: Flask) -> None:
        with warnings.catch_warnings():  # "null" is a deliberate choice, not a mistake
            warnings.filterwarnings("ignore", message=".*NullCache.*")
            self._cache.init_app(server)
        if self.backend_name == "redis":
            client = getattr(self._cache.cache, "_write_client", None)
            if client is not None:
                self.locks = RedisLocks(client, self._config["CACHE_KEY_PREFIX"], self.lock_seconds)
        elif self.backend_name == "filesystem":
            self.locks = FileLocks(self._lock_dir, self.lock_seconds)

    # ------------------------------------------------------------------ backend health

    @property
    def available(self) -> bool:
        """False during the backoff window after a backend failure."""
        return time.monotonic() >= self._down_until

    def _failed(self, what: str, exc: BaseException) -> None:
        with self._lock:  # concurrent failures: one warning
            self.stats.errors += 1
            first = self.available
            self._down_until = time.monotonic() + BACKOFF_SECONDS
            self.last_error = (
                f"{what} failed at {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC: {_reason(exc)}"
            )
        if first:
            log.warning(
                "cache %s failed (%s: %s); running uncached for %.0f s",
                what,
                type(exc).__name__,
                exc,
                BACKOFF_SECONDS,
            )

    def _recovered(self) -> None:
        if self._down_until:
            with self._lock:
                back, self._down_until = bool(self._down_until), 0.0
            if back:
                log.warning("cache backend %s answers again; caching resumed", self.backend_name)

    def _get(self, key: str) -> Any:
        try:
            value = self._cache.get(key)
        except Exception as exc:  # any backend failure: run uncached
            self._failed("read", exc)
            return MISSING
        self._recovered()
        return MISSING if value is None else value

    def _set(self, key: str, value: Any) -> None:
        try:
            stored = self._cache.set(key, value)
        except Exception as exc:  # the result is still returned to the caller
            self._failed("write", exc)
            return
        if stored is False:  # a backend that reports a failed write instead of raising
            self._failed("write", OSError(f"the {self.backend_name} backend did not store it"))

    # ------------------------------------------------------------------ get or compute

    def get_or_compute(self, key: str, compute: Callable[[], T]) -> tuple[T, bool]:
        """``(value, hit)``: the cached value, or ``compute()`` run once for all callers
        asking for the same key at the same moment, in this process or another."""
        if not self.available:
            self.stats.bypassed += 1
            return compute(), False
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
        try:
            value, hit = self._across_processes(key, compute)
        except BaseException as exc:
            with self._lock:
                self._flights.pop(key, None)
            flight.set_exception(exc)
            raise
        flight.set_result(value)
        with self._lock:
            self._flights.pop(key, None)
        return value, hit

    def _lock_call(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as exc:
            self._failed(f"lock {what}", exc)
            return None

    def _across_processes(self, key: str, compute: Callable[[], T]) -> tuple[T, bool]:
        """Compute under the backend's lock, or wait for the process that holds it."""
        locks = self.locks
        token = self._lock_call("acquire", lambda: locks.acquire(key)) if locks else None
        if locks is not None and token is None and self.available:
            value = self._wait(key, locks)
            if value is not MISSING:
                self.stats.lock_waits += 1
                return value, True
            if self.available:
                token = self._lock_call("acquire", lambda: locks.acquire(key))
        self.stats.misses += 1
        try:
            value = compute()
            # Store before releasing: a process that sees the lock gone finds the value.
            if self.available:
                self._set(key, value)
        finally:
            if token is not None and locks is not None and self.available:
                self._lock_call("release", lambda: locks.release(key, token))
        return value, False

    def _wait(self, key: str, locks: Locks) -> Any:
        """Poll for the lock holder's result until it lands, the lock goes away (its holder
        failed) or the lock's lifetime passes."""
        deadline = time.monotonic() + self.lock_seconds
        pause = POLL_FIRST
        while time.monotonic() < deadline:
            time.sleep(pause)
            pause = min(pause * 2, POLL_MAX)
            value = self._get(key)
            if value is not MISSING or not self.available:
                return value
            if not self._lock_call("check", lambda: locks.held(key)):
                return self._get(key)
        self.stats.lock_timeouts += 1
        log.warning(
            "gave up waiting %.0f s for another worker's identical query; running it here",
            self.lock_seconds,
        )
        return MISSING

    def clear(self) -> None:
        try:
            self._cache.clear()
        except Exception as exc:
            log.warning("cache clear failed: %s", exc)
