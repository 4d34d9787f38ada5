"""Publish to PostgreSQL: build and gate in DuckDB, copy into a new schema, swap a pointer.

One PostgreSQL database holds, for the schema prefix ``p`` (``STARBOARD_PG_SCHEMA``,
default ``starboard``)::

    p.current                 pointer: one row (version, schema_name, previous, published_at)
    p_v<version>              one schema per published version: star, rollups, publish log

A load stages and gates the raw files in a temporary DuckDB file exactly as a DuckDB
publish does (nothing reaches PostgreSQL unless every Risk 1 gate passed), copies every
table into a new schema with ``COPY FROM STDIN``, adds keys and statistics, and only then
moves the pointer in one transaction. Readers (app/core/warehouse.py) read the pointer and pin
one schema per request through ``search_path``, so no reader sees a mix of versions and no
reader is blocked by the swap. The previous version is kept for readers still on it; older
ones are dropped.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import sqlalchemy as sa

from app.core.errors import ConfigError, DataError
from app.core.pointer import POINTER_TABLE, read_pg_pointer
from app.core.pointer import quote_ident as _q
from app.loader.gates import GateThresholds
from app.loader.load import (
    GATE_TABLE,
    PUBLISH_TABLE,
    LoadResult,
    ModelChecks,
    Reporter,
    RollupBuilder,
    _quiet,
)
from app.loader.load import load as load_duckdb
from app.loader.pipeline import TaskRun
from app.loader.project import Project

SCHEMA_PREFIX = re.compile(r"^[a-z_][a-z0-9_]{0,38}$")  # + "_v" + version: 63 chars at most
COPY_CHUNK = 1 << 20
PG_STEPS = ("copy to PostgreSQL", "keys and statistics", "swap PostgreSQL schema")
HISTORY_KEPT = 199

_INT_TYPES = {
    "TINYINT": "SMALLINT",
    "SMALLINT": "SMALLINT",
    "INTEGER": "INTEGER",
    "BIGINT": "BIGINT",
    "UTINYINT": "SMALLINT",
    "USMALLINT": "INTEGER",
    "UINTEGER": "BIGINT",
    "UBIGINT": "NUMERIC(20,0)",
    "HUGEINT": "NUMERIC(38,0)",
}
_OTHER_TYPES = {
    "FLOAT": "REAL",
    "DOUBLE": "DOUBLE PRECISION",
    "VARCHAR": "TEXT",
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ",
    "TIME": "TIME",
    "INTERVAL": "INTERVAL",
    "UUID": "UUID",
}


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql:", "postgresql+", "postgres:"))


def check_prefix(prefix: str) -> str:
    """The schema prefix, or a ConfigError naming what is wrong with it."""
    if not SCHEMA_PREFIX.match(prefix):
        raise ConfigError(
            f"STARBOARD_PG_SCHEMA={prefix!r} is not usable as a schema prefix: "
            "use 1–39 lower-case letters, digits or _, not starting with a digit."
        )
    return prefix


def version_schema(prefix: str, version: str) -> str:
    return f"{prefix}_v{version.lower()}"


def pg_type(duck_type: str, where: str) -> str:
    """The PostgreSQL column type for a DuckDB one; unknown types are named, not guessed."""
    upper = duck_type.upper()
    if upper in _INT_TYPES:
        return _INT_TYPES[upper]
    if upper in _OTHER_TYPES:
        return _OTHER_TYPES[upper]
    match = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", upper)
    if match:
        return f"NUMERIC({match.group(1)},{match.group(2)})"
    raise DataError(
        f"{where} has DuckDB type {duck_type}, which the PostgreSQL publish does "
        "not copy; cast it to a standard type in the model's tables."
    )


def _connect_error(url: str, exc: sa.exc.DBAPIError) -> DataError:
    first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    safe = sa.engine.make_url(url).render_as_string(hide_password=True)
    return DataError(f"PostgreSQL at {safe} cannot be used for publishing: {first}")


@contextmanager
def _advisory_lock(engine: sa.Engine, prefix: str) -> Iterator[None]:
    """One loader per prefix and database; a second fails fast (session lock, so a killed
    loader releases it with its connection)."""
    with engine.connect() as conn:
        got = conn.execute(
            sa.text("SELECT pg_try_advisory_lock(hashtext(:k))"), {"k": f"starboard-load:{prefix}"}
        ).scalar()
        conn.commit()
        if not got:
            raise DataError(
                f"Another load into PostgreSQL schema prefix {prefix!r} is "
                "running; wait for it to finish."
            )
        try:
            yield
        finally:
            conn.execute(
                sa.text("SELECT pg_advisory_unlock(hashtext(:k))"),
                {"k": f"starboard-load:{prefix}"},
            )
            conn.commit()


def _previous_counts(conn: sa.Connection, schema: str | None) -> dict[str, int] | None:
    if schema is None:
        return None
    try:
        counts = conn.execute(
            sa.text(
                f"SELECT row_counts FROM {_q(schema)}.{PUBLISH_TABLE} "
                "ORDER BY published_at DESC LIMIT 1"
            )
        ).scalar()
    except sa.exc.ProgrammingError:
        conn.rollback()
        return None
    return json.loads(counts) if counts else None


def load_postgres(
    project: Path | str | Project,
    db_url: str,
    *,
    outputs: Sequence[str] | None = None,
    time_columns: Mapping[str, str] | None = None,
    primary_keys: Mapping[str, Sequence[str]] | None = None,
    indexes: Mapping[str, Sequence[str]] | None = None,
    incremental: bool = False,
    tasks: list[TaskRun] | None = None,
    schema_prefix: str = "starboard",
    work_dir: Path | None = None,
    thresholds: GateThresholds | None = None,
    memory_limit: str = "2GB",
    threads: int = 2,
    rollups: RollupBuilder | None = None,
    step: Reporter = _quiet,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    fail_after: str | None = None,
    checks: ModelChecks | None = None,
) -> LoadResult:
    """Build the pipeline ``project`` and publish it as a new version of the PostgreSQL
    warehouse.

    ``primary_keys`` and ``indexes`` (table → columns; the model's keys and the facts' time
    columns) are created on the new schema before it goes live. ``incremental`` is accepted
    for the same call as a DuckDB publish, but every PostgreSQL publish copies a whole
    version: the staged build starts afresh. ``work_dir`` holds the temporary DuckDB build
    (deleted afterwards); ``checks`` run on it as on a DuckDB publish. ``fail_after`` names a
    step after which the load raises, for tests of atomicity.
    """
    prefix = check_prefix(schema_prefix)
    if not is_postgres(db_url):
        raise ConfigError(
            f"Expected a PostgreSQL URL like postgresql+psycopg://user@host/db, got {db_url!r}."
        )
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(db_url, pool_pre_ping=True)
    try:
        try:
            with engine.connect() as conn:
                can_create = conn.execute(
                    sa.text("SELECT has_database_privilege(current_database(), 'CREATE')")
                ).scalar()
        except sa.exc.DBAPIError as exc:
            raise _connect_error(db_url, exc) from exc
        if not can_create:
            raise DataError(
                "The PostgreSQL user of STARBOARD_DB_URL may not create schemas "
                "in this database: GRANT CREATE ON DATABASE … TO that user."
            )
        with _advisory_lock(engine, prefix):
            return _publish(
                project,
                _Layout(
                    outputs, dict(time_columns or {}), primary_keys or {}, indexes or {}, tasks
                ),
                engine,
                prefix,
                work_dir,
                thresholds,
                memory_limit,
                threads,
                rollups,
                step,
                now,
                fail_after,
                checks,
            )
    finally:
        engine.dispose()


@dataclass
class _Layout:
    outputs: Sequence[str] | None
    time_columns: dict[str, str]
    primary_keys: Mapping[str, Sequence[str]]
    indexes: Mapping[str, Sequence[str]]
    tasks: list[TaskRun] | None


def _publish(
    project: Path | str | Project,
    layout: _Layout,
    engine: sa.Engine,
    prefix: str,
    work_dir: Path | None,
    thresholds: GateThresholds | None,
    memory_limit: str,
    threads: int,
    rollups: RollupBuilder | None,
    step: Reporter,
    now: Callable[[], datetime],
    fail_after: str | None,
    checks: ModelChecks | None,
) -> LoadResult:
    with engine.connect() as conn:
        live = read_pg_pointer(conn, prefix)
        previous_schema = live["schema_name"] if live else None
        previous_counts = _previous_counts(conn, previous_schema)
    extra_steps: list[tuple[str, float]] = []

    @contextmanager
    def timed(name: str) -> Iterator[None]:
        started = time.perf_counter()
        with step(name):
            yield
        extra_steps.append((name, time.perf_counter() - started))
        if fail_after == name:
            raise DataError(f"Load stopped on purpose after step {name!r}.")

    with tempfile.TemporaryDirectory(prefix="starboard-pg-", dir=work_dir) as tmp:
        staged = load_duckdb(
            project,
            f"duckdb:///{Path(tmp) / 'staged.duckdb'}",
            outputs=layout.outputs,
            time_columns=layout.time_columns,
            tasks=layout.tasks,
            thresholds=thresholds,
            memory_limit=memory_limit,
            threads=threads,
            rollups=rollups,
            step=step,
            now=now,
            previous_counts=previous_counts or {},
            checks=checks,
            fail_after=None if fail_after in PG_STEPS else fail_after,
        )
        schema = version_schema(prefix, staged.version)
        try:
            with timed("copy to PostgreSQL"):
                tables = _copy(staged.file, engine, schema, memory_limit, threads, Path(tmp))
            with timed("keys and statistics"):
                _keys_and_statistics(engine, schema, tables, previous_schema, layout)
            with timed("swap PostgreSQL schema"):
                _swap(engine, prefix, staged.version, schema, previous_schema, staged.published_at)
        except BaseException:
            _drop_unpublished(engine, prefix, schema)
            raise
    pruned = _prune(engine, prefix)
    steps = [(name, seconds) for name, seconds in staged.steps if name != "publish"]
    # ``file`` names the new schema, ``pruned`` the dropped ones (the staged file is gone).
    return LoadResult(
        staged.version,
        Path(schema),
        staged.published_at,
        staged.row_counts,
        staged.gates,
        staged.dq_score,
        steps + extra_steps,
        staged.rollups,
        [Path(p) for p in pruned],
    )


def _copy(
    staged: Path, engine: sa.Engine, schema: str, memory_limit: str, threads: int, tmp: Path
) -> list[str]:
    """Every table of the staged file into ``schema``, streamed as CSV through COPY."""
    duck = duckdb.connect(
        str(staged), read_only=True, config={"memory_limit": memory_limit, "threads": threads}
    )
    try:
        columns = duck.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
        ).fetchall()
        layout: dict[str, list[tuple[str, str]]] = {}
        for table, column, duck_type in columns:
            layout.setdefault(table, []).append(
                (column, pg_type(duck_type, f"Column {table}.{column}"))
            )
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {_q(schema)}")
            for table, cols in layout.items():
                body = ", ".join(f"{_q(c)} {t}" for c, t in cols)
                conn.exec_driver_sql(f"CREATE TABLE {_q(schema)}.{_q(table)} ({body})")
        for table in layout:
            csv = tmp / f"{table}.csv"
            target = str(csv).replace("'", "''")
            duck.execute(f"COPY {_q(table)} TO '{target}' (FORMAT csv, HEADER false)")
            with engine.begin() as conn:
                driver = conn.connection.driver_connection
                assert driver is not None  # a checked-out connection has its driver connection
                cursor = driver.cursor()
                with (
                    cursor.copy(f"COPY {_q(schema)}.{_q(table)} FROM STDIN (FORMAT csv)") as copy,
                    csv.open("rb") as handle,
                ):
                    while chunk := handle.read(COPY_CHUNK):
                        copy.write(chunk)
            csv.unlink()
        return list(layout)
    finally:
        duck.close()


def _keys_and_statistics(
    engine: sa.Engine,
    schema: str,
    tables: list[str],
    previous_schema: str | None,
    layout: _Layout,
) -> None:
    """Primary keys and time indexes, the publish history of earlier versions, ANALYZE."""
    with engine.begin() as conn:
        for table, keys in layout.primary_keys.items():
            if table in tables:
                conn.exec_driver_sql(
                    f"ALTER TABLE {_q(schema)}.{_q(table)} ADD PRIMARY KEY "
                    f"({', '.join(_q(k) for k in keys)})"
                )
        for table, cols in layout.indexes.items():
            if table in tables:
                conn.exec_driver_sql(
                    f"CREATE INDEX ON {_q(schema)}.{_q(table)} ({', '.join(_q(c) for c in cols)})"
                )
        if previous_schema is not None:
            _copy_history(conn, schema, previous_schema)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in tables:
            conn.exec_driver_sql(f"ANALYZE {_q(schema)}.{_q(table)}")


def _copy_history(conn: sa.Connection, schema: str, previous: str) -> None:
    """Keep earlier publishes and their gates for /quality (an older or foreign previous
    schema simply starts the history afresh)."""
    new_p, old_p = (
        f"{_q(schema)}.{PUBLISH_TABLE}",
        f"{_q(previous)}.{PUBLISH_TABLE}",
    )
    new_g, old_g = f"{_q(schema)}.{GATE_TABLE}", f"{_q(previous)}.{GATE_TABLE}"
    savepoint = conn.begin_nested()
    try:
        conn.exec_driver_sql(
            f"INSERT INTO {new_p} SELECT * FROM {old_p} "
            f"ORDER BY published_at DESC LIMIT {HISTORY_KEPT}"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {new_g} SELECT g.* FROM {old_g} g "
            f"WHERE g.version IN (SELECT version FROM {old_p} "
            f"ORDER BY published_at DESC LIMIT {HISTORY_KEPT})"
        )
    except sa.exc.DBAPIError:
        savepoint.rollback()
    else:
        savepoint.commit()


def _swap(
    engine: sa.Engine,
    prefix: str,
    version: str,
    schema: str,
    previous_schema: str | None,
    published_at: datetime,
) -> None:
    """Name ``schema`` as the live version in one transaction."""
    pointer = f"{_q(prefix)}.{_q(POINTER_TABLE)}"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {_q(prefix)}")
        conn.exec_driver_sql(
            f"CREATE TABLE IF NOT EXISTS {pointer} (id INTEGER PRIMARY KEY CHECK (id = 1), "
            "version TEXT NOT NULL, schema_name TEXT NOT NULL, previous TEXT, "
            "published_at TIMESTAMP NOT NULL)"
        )
        conn.execute(
            sa.text(
                f"INSERT INTO {pointer} (id, version, schema_name, previous, published_at) "
                "VALUES (1, :version, :schema, :previous, :at) ON CONFLICT (id) DO UPDATE SET "
                "version = EXCLUDED.version, schema_name = EXCLUDED.schema_name, "
                "previous = EXCLUDED.previous, published_at = EXCLUDED.published_at"
            ),
            {
                "version": version,
                "schema": schema,
                "previous": previous_schema,
                "at": published_at.replace(tzinfo=None),
            },
        )


def _version_schemas(conn: sa.Connection, prefix: str) -> list[str]:
    pattern = prefix.replace("_", r"\_") + r"\_v%"
    return list(
        conn.execute(
            sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p ORDER BY nspname"),
            {"p": pattern},
        ).scalars()
    )


def _drop(engine: sa.Engine, schema: str) -> bool:
    """Drop ``schema``; a reader still holding it makes this give up after a few seconds
    (the next load retries) instead of queueing every new reader behind the lock."""
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL lock_timeout = '3s'")
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {_q(schema)} CASCADE")
    except sa.exc.OperationalError:
        return False
    return True


def _drop_unpublished(engine: sa.Engine, prefix: str, schema: str) -> None:
    with engine.connect() as conn:
        live = read_pg_pointer(conn, prefix)
    if live is None or live["schema_name"] != schema:  # never drop the live version
        _drop(engine, schema)


def _prune(engine: sa.Engine, prefix: str) -> list[str]:
    """Drop version schemas other than the live and the previous one; return their names."""
    with engine.connect() as conn:
        live = read_pg_pointer(conn, prefix)
        if live is None:
            return []
        schemas = _version_schemas(conn, prefix)
    keep = {live["schema_name"], live["previous"]}
    return [s for s in schemas if s not in keep and _drop(engine, s)]


def drop_all(db_url: str, prefix: str) -> list[str]:
    """Remove every schema of ``prefix`` (tests and uninstalling); returns their names."""
    check_prefix(prefix)
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            schemas = _version_schemas(conn, prefix)
        for schema in [*schemas, prefix]:
            with engine.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {_q(schema)} CASCADE")
        return schemas
    finally:
        engine.dispose()
