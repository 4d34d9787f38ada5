"""Versioned warehouse files and the pointer that names the live one.

For ``duckdb:///srv/wh.duckdb`` the files sit beside that path::

    /srv/wh.current.json          pointer: {"version", "file", "previous", "published_at"}
    /srv/wh-<version>.duckdb      one closed DuckDB file per published version
    /srv/wh.lock                  held by the one loader that may run at a time

A new version is built in its own file, gated, closed, and only then named by the pointer,
which is replaced with one atomic rename. Readers open the file the pointer names, so a
reader never sees a half-built file and never reuses a DuckDB instance of an older file
under the same name (PITFALLS.md: renaming over the same name serves stale data).

Every file here is private (``0600``), whatever the process umask: the warehouse holds
personal data (app/core/private.py).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from app.core.errors import DataError
from app.core.pointer import WarehousePaths, read_pointer

FILE_MODE = 0o600
DIR_MODE = 0o700


def new_version(now: datetime | None = None) -> str:
    """A sortable, unique version id: UTC timestamp plus random suffix."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}Z{secrets.token_hex(3)}"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def swap_pointer(paths: WarehousePaths, version: str, published_at: datetime) -> None:
    """Point readers at ``version`` with one atomic rename; the old pointer stays intact
    until the rename succeeds."""
    current = read_pointer(paths, strict=False)
    data = {
        "version": version,
        "file": paths.version_file(version).name,
        "previous": current.get("file") if current else None,
        "published_at": published_at.isoformat(),
    }
    target = paths.version_file(version)
    fd = os.open(target, os.O_RDONLY)  # the data itself must be on disk before it is named
    try:
        os.fchmod(fd, FILE_MODE)  # DuckDB created it with the process umask
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp = paths.pointer.with_name(paths.pointer.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), FILE_MODE)  # a leftover tmp of a crashed loader
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, paths.pointer)
    _fsync_dir(paths.pointer.parent)


def prune(paths: WarehousePaths) -> list[Path]:
    """Delete version files other than the live and the previous one; return them."""
    pointer = read_pointer(paths, strict=False)
    if pointer is None:
        return []
    keep = {pointer["file"], pointer.get("previous")}
    removed = []
    for path in paths.version_files():
        if path.name not in keep:
            for leftover in (path, path.with_name(path.name + ".wal")):
                leftover.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextmanager
def loader_lock(paths: WarehousePaths) -> Iterator[None]:
    """One loader at a time per warehouse; a second one fails fast with a clear message."""
    handle = os.fdopen(os.open(paths.lock, os.O_RDWR | os.O_CREAT | os.O_APPEND, FILE_MODE), "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataError(
                f"Another load into {paths.path} is running (lock {paths.lock}); "
                "wait for it to finish."
            ) from None
        yield
    finally:
        handle.close()


def check_writable(directory: Path) -> None:
    """Fail early, before any work, when the target directory cannot be written."""
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    except OSError as exc:
        raise DataError(f"Cannot create {directory}: {exc.strerror}.") from exc
    probe = directory / f".starboard-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise DataError(
            f"{directory} is not writable ({exc.strerror}): choose another "
            "directory with STARBOARD_HOME or --db."
        ) from exc
