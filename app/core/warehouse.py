"""The warehouse as the web app sees it: read-only, versioned, swapped without a restart.

``Warehouse.snapshot()`` returns an engine and the data version it serves, as one pair, so
every query of one request reads the same version. For a DuckDB warehouse published by
Starboard the pointer file is checked at most every ``check_interval`` seconds; a new
version opens a new engine and the old one is disposed of. A plain DuckDB file (no pointer)
is read as it is, versioned by the file's identity. A PostgreSQL warehouse published by
Starboard (app/loader/postgres.py) is read the same way: the pointer table names the live
version's schema, and each version gets its own engine whose connections use that schema as
their ``search_path``. Other databases are versioned by their own state.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from flask import has_request_context, request
from sqlalchemy.pool import QueuePool

from app.core.errors import WarehouseUnavailable
from app.core.pointer import WarehousePaths, duckdb_path, read_pg_pointer, read_pointer

PUBLISH_TABLE = "starboard_publish"
log = logging.getLogger("starboard.warehouse")


@dataclass(frozen=True)
class DataVersion:
    """What is being served: an id that changes at every publish, and its provenance."""

    id: str
    source: str  # "pointer" | "file" | "database"
    published_at: datetime | None = None
    row_counts: dict[str, int] = field(default_factory=dict, compare=False, hash=False)
    dq_score: float | None = None
    risk1_failed: int = 0
    data_to: datetime | None = None  # latest fact time loaded


@dataclass(frozen=True)
class Snapshot:
    engine: sa.Engine
    version: DataVersion


def _read_publish(engine: sa.Engine) -> dict | None:
    """The newest row of Starboard's publish table, when the warehouse has one."""
    with engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
        if PUBLISH_TABLE not in names:
            return None
        row = (
            conn.execute(
                sa.text(
                    f"SELECT version, published_at, row_counts, dq_score, risk1_failed, data_to "
                    f"FROM {PUBLISH_TABLE} ORDER BY published_at DESC LIMIT 1"
                )
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


class Warehouse:
    """One per process; thread-safe. Opens nothing until first asked."""

    def __init__(
        self,
        url: str,
        *,
        memory_limit: str = "2GB",
        threads: int = 2,
        check_interval: float = 0.2,
        pg_schema: str = "starboard",
    ) -> None:
        self.url = url
        self.pg_schema = pg_schema
        self._base: sa.Engine | None = None  # server databases: reads the pointer
        self.memory_limit = memory_limit
        self.threads = threads
        self.check_interval = check_interval
        self.is_duckdb = url.startswith("duckdb:")
        self._paths = WarehousePaths(duckdb_path(url)) if self.is_duckdb else None
        self._lock = threading.Lock()
        self._current: Snapshot | None = None
        self._current_key: str | None = None
        self._checked = 0.0
        self._pin_key = f"starboard.snapshot.{id(self)}"
        self._logged: str | None = None  # the failure last written to the log

    @property
    def dialect_name(self) -> str:
        return sa.engine.make_url(self.url).get_backend_name()

    def snapshot(self) -> Snapshot:
        """The live engine and its data version; raises WarehouseUnavailable.

        Within one web request the first snapshot is kept (in the request's environ, which
        travels with the request context into query threads), so every query of a page
        reads the same data version even if a publish lands in the middle.
        """
        if has_request_context():
            pinned = request.environ.get(self._pin_key)
            if pinned is None:
                pinned = request.environ[self._pin_key] = self._live()
            return pinned
        return self._live()

    def _live(self) -> Snapshot:
        now = time.monotonic()
        current = self._current
        if current is not None and now - self._checked < self.check_interval:
            return current
        with self._lock:
            if self._current is not None and time.monotonic() - self._checked < self.check_interval:
                return self._current
            snap = self._refresh()
            self._logged = None
            self._checked = time.monotonic()
            return snap

    def _refresh(self) -> Snapshot:
        if self._paths is None:
            return self._refresh_server()
        key, file, pointer = self._locate()
        if self._current is not None and key == self._current_key:
            return self._current
        engine = self._open_duckdb(file)
        try:
            version = self._duckdb_version(engine, file, key, pointer)
        except sa.exc.DBAPIError as exc:
            engine.dispose()
            reason = str(exc.orig).splitlines()[0]
            raise self._unavailable(
                f"The warehouse {file.name} cannot be read: "
                f"{reason.replace(str(file.parent) + '/', '')}",
                f"{file}: {reason}",
            ) from exc
        old, self._current, self._current_key = self._current, Snapshot(engine, version), key
        if old is not None:
            old.engine.dispose()  # checked-out connections close when they are returned
        return self._current

    def _locate(self) -> tuple[str, Path, dict | None]:
        assert self._paths is not None
        pointer = read_pointer(self._paths)
        if pointer is not None:
            file = self._paths.path.with_name(pointer["file"])
            if not file.exists():
                raise self._unavailable(
                    f"The pointer {self._paths.pointer.name} names {file.name}, which is "
                    "missing; publish again with starboard load.",
                    str(file),
                )
            return f"pointer:{pointer['file']}", file, pointer
        file = self._paths.path
        try:
            stat = file.stat()
        except FileNotFoundError:
            raise self._unavailable(
                f"No warehouse at {file.name}: run `starboard demo` or `starboard load DIR "
                "--db URL` (the URL of STARBOARD_DB_URL) first.",
                str(file),
            ) from None
        identity = f"{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"
        return f"file:{identity}", file, None

    def _unavailable(self, message: str, detail: str) -> WarehouseUnavailable:
        """The error users see: file names only (``/readyz`` and error tiles are public).
        The full detail goes to the log, once until the failure changes or clears."""
        if detail != self._logged:
            self._logged = detail
            log.warning("warehouse unavailable: %s (%s)", message, detail)
        return WarehouseUnavailable(message)

    def _open_duckdb(self, file: Path) -> sa.Engine:
        return sa.create_engine(
            f"duckdb:///{file}",
            poolclass=QueuePool,
            pool_size=4,
            max_overflow=8,
            connect_args={
                "read_only": True,
                "config": {"memory_limit": self.memory_limit, "threads": self.threads},
            },
        )

    def _duckdb_version(
        self, engine: sa.Engine, file: Path, key: str, pointer: dict | None
    ) -> DataVersion:
        meta = _read_publish(engine)
        if pointer is not None:
            return DataVersion(
                id=str(pointer["version"]),
                source="pointer",
                published_at=datetime.fromisoformat(pointer["published_at"]),
                row_counts=json.loads(meta["row_counts"]) if meta else {},
                dq_score=meta["dq_score"] if meta else None,
                risk1_failed=int(meta["risk1_failed"]) if meta else 0,
                data_to=meta["data_to"] if meta else None,
            )
        digest = hashlib.sha256(f"{file}:{key}".encode()).hexdigest()[:16]
        return DataVersion(
            id=f"file-{digest}",
            source="file",
            published_at=datetime.fromtimestamp(file.stat().st_mtime),
        )

    def _base_engine(self) -> sa.Engine:
        if self._base is None:
            try:
                self._base = sa.create_engine(self.url, pool_pre_ping=True)
            except (sa.exc.ArgumentError, ImportError) as exc:
                raise self._unavailable(
                    f"Cannot use the warehouse URL: {exc}", f"{self.url!r}: {exc}"
                ) from exc
        return self._base

    def _refresh_server(self) -> Snapshot:
        base = self._base_engine()
        try:
            pointer = None
            if base.dialect.name == "postgresql":
                with base.connect() as conn:
                    pointer = read_pg_pointer(conn, self.pg_schema)
            if pointer is None:
                version = self._server_version(base)
        except sa.exc.DBAPIError as exc:
            raise WarehouseUnavailable(
                f"The warehouse is not reachable: {str(exc.orig).splitlines()[0]}"
            ) from exc
        if pointer is None:  # a database Starboard did not publish: read as it is
            if self._current is None or self._current.version != version:
                self._replace(Snapshot(base, version), None)
                assert self._current is not None
            return self._current
        key = f"schema:{pointer['schema_name']}"
        if self._current is not None and key == self._current_key:
            return self._current
        engine = self._open_schema(pointer["schema_name"])
        try:
            version = self._published_version(engine, pointer)
        except (sa.exc.DBAPIError, WarehouseUnavailable) as exc:
            engine.dispose()
            if isinstance(exc, WarehouseUnavailable):
                raise
            raise WarehouseUnavailable(
                f"The warehouse schema {pointer['schema_name']} cannot "
                f"be read: {str(exc.orig).splitlines()[0]}"
            ) from exc
        snap = Snapshot(engine, version)
        self._replace(snap, key)
        return snap

    def _replace(self, snap: Snapshot, key: str | None) -> None:
        old, self._current, self._current_key = self._current, snap, key
        if old is not None and old.engine is not self._base and old.engine is not snap.engine:
            old.engine.dispose()  # checked-out connections close when they are returned

    def _open_schema(self, schema: str) -> sa.Engine:
        """An engine whose every connection reads ``schema`` (tables are unqualified in
        compiled SQL, so the search_path pins the version)."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", schema):
            raise WarehouseUnavailable(
                f"The warehouse pointer names {schema!r}, which is not "
                "a Starboard version schema; publish again."
            )
        return sa.create_engine(
            self.url, pool_pre_ping=True, connect_args={"options": f"-c search_path={schema}"}
        )

    def _published_version(self, engine: sa.Engine, pointer: dict) -> DataVersion:
        with engine.connect() as conn:
            if conn.execute(sa.text("SELECT current_schema()")).scalar() is None:
                raise WarehouseUnavailable(
                    f"The warehouse pointer {self.pg_schema}.current names schema "
                    f"{pointer['schema_name']}, which is missing; publish again with "
                    "starboard load."
                )
        meta = _read_publish(engine)
        counts = meta["row_counts"] if meta else None
        return DataVersion(
            id=str(pointer["version"]),
            source="pointer",
            published_at=pointer["published_at"].replace(tzinfo=UTC),
            row_counts=json.loads(counts) if isinstance(counts, str) else {},
            dq_score=meta["dq_score"] if meta else None,
            risk1_failed=int(meta["risk1_failed"] or 0) if meta else 0,
            data_to=meta["data_to"] if meta else None,
        )

    def _server_version(self, engine: sa.Engine) -> DataVersion:
        meta = _read_publish(engine)
        if meta is not None:
            counts = meta["row_counts"]
            return DataVersion(
                id=str(meta["version"]),
                source="database",
                published_at=meta["published_at"],
                row_counts=json.loads(counts) if isinstance(counts, str) else {},
                dq_score=meta["dq_score"],
                data_to=meta["data_to"],
            )
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                # Any committed write moves the WAL position: a new version, never a stale one.
                state = conn.execute(sa.text("SELECT pg_current_wal_lsn()::text")).scalar()
            else:
                state = "static"
        return DataVersion(id=f"db-{state}", source="database")

    def dispose(self) -> None:
        """Close every connection (tests, worker shutdown)."""
        with self._lock:
            if self._current is not None:
                self._current.engine.dispose()
            if self._base is not None:
                self._base.dispose()
            self._current = None
            self._current_key = None
            self._base = None
