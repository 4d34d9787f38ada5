"""What ``starboard init`` reads from a warehouse: tables, columns, types, declared keys, row
counts, and the cheap SQL probes its guesses rest on (distinct counts, containment, spans).

DuckDB's catalog is read from ``information_schema`` and ``duckdb_constraints()`` (SQLAlchemy's
reflection fails on duckdb-engine, see PITFALLS.md); PostgreSQL's through SQLAlchemy's inspector.
Probes on a table larger than ``SAMPLE_ROWS`` read a sample of its first ``SAMPLE_ROWS`` rows,
and PostgreSQL tables above ``EXACT_COUNT_UP_TO`` rows are counted from the planner's estimate.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlglot import exp

from app.core.errors import ConfigError, DataError, WarehouseUnavailable
from app.core.pointer import WarehousePaths, duckdb_path, read_pg_pointer, read_pointer

SAMPLE_ROWS = 100_000
EXACT_COUNT_UP_TO = 1_000_000
CONNECT_TIMEOUT = 10  # seconds, PostgreSQL
PROBE_TIMEOUT_MS = 120_000  # one probe, PostgreSQL
INTERNAL_PREFIX = "starboard_"  # the loader's own tables (publish record, gates)
PUBLISH_TABLE = "starboard_publish"
_SQLGLOT = {"duckdb": "duckdb", "postgresql": "postgres"}


@dataclass
class Column:
    """One column: its type as the warehouse names it, its family, and probed counts."""

    name: str
    data_type: str
    kind: str  # integer | decimal | float | text | boolean | date | timestamp | other
    nonnull: int = 0  # in the probed rows
    distinct: int = 0  # in the probed rows

    @property
    def temporal(self) -> bool:
        return self.kind in ("date", "timestamp")

    @property
    def numeric(self) -> bool:
        return self.kind in ("integer", "decimal", "float")


@dataclass
class TableInfo:
    """One table or view of the schema, with what the probes found."""

    name: str
    columns: dict[str, Column]
    rows: int = 0
    approx: bool = False  # rows is the planner's estimate
    probed: int = 0  # rows the column probes read (all of them, or a sample)
    declared_pk: tuple[str, ...] = ()
    declared_fks: list[tuple[tuple[str, ...], str, tuple[str, ...]]] = field(default_factory=list)

    @property
    def sampled(self) -> bool:
        return self.probed < self.rows

    def rows_text(self) -> str:
        return ("~" if self.approx else "") + f"{self.rows:,} rows"

    def probed_text(self) -> str:
        """How much of the table a probe read, for the comments."""
        if self.sampled:
            return f"in a sample of {self.probed:,} rows"
        return f"in all {self.probed:,} rows"


@dataclass
class Source:
    """An open warehouse: the engine to probe, the schema to read and how to describe it."""

    engine: sa.Engine
    dialect: str
    schema: str | None  # None: the connection's default schema (DuckDB files)
    label: str  # safe to print and to write into the model: no password
    name: str  # a default model name
    only: tuple[str, ...] | None = None  # a published warehouse: its star tables
    notes: list[str] = field(default_factory=list)
    serve_url: str | None = None  # when serving needs another URL than the one given

    def close(self) -> None:
        self.engine.dispose()


def _kind(data_type: str, dialect: str) -> str:
    upper = data_type.upper()
    # the same test `starboard check` applies to a time column
    if upper.startswith("TIMESTAMP") or upper.startswith("DATETIME"):
        return "timestamp"
    if upper.startswith("DATE"):
        return "date"
    try:
        parsed = exp.DataType.build(data_type, dialect=_SQLGLOT.get(dialect, dialect))
    except Exception:  # sqlglot raises several kinds for a type it does not know
        return "other"
    if parsed.is_type(*exp.DataType.INTEGER_TYPES):
        return "integer"
    if parsed.is_type(exp.DataType.Type.DECIMAL):
        return "decimal"
    if parsed.is_type(*exp.DataType.REAL_TYPES):
        return "float"
    if parsed.is_type(*exp.DataType.TEXT_TYPES):
        return "text"
    if parsed.is_type(exp.DataType.Type.BOOLEAN):
        return "boolean"
    return "other"


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")
    if not slug or slug[0].isdigit():
        slug = f"warehouse_{slug}".strip("_")
    return slug


def _reason(exc: sa.exc.DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else repr(exc.orig)


def open_source(url: str, schema: str | None = None, pg_prefix: str = "starboard") -> Source:
    """Open ``url`` read-only: a DuckDB file (its live version when Starboard published it)
    or a PostgreSQL schema (the live version schema of a Starboard-published warehouse when
    ``schema`` is not given and ``<pg_prefix>.current`` exists). ConfigError for a URL that is
    not one of these, DataError when the warehouse cannot be read."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(
            f"--db {url!r} is not a database URL: use duckdb:///path/warehouse.duckdb or "
            "postgresql+psycopg://user@host:5432/db."
        ) from None
    backend = parsed.get_backend_name()
    if backend == "duckdb":
        if schema is not None:
            raise ConfigError("--schema applies to PostgreSQL; a DuckDB file is read as it is.")
        return _open_duckdb(url)
    if backend == "postgresql":
        return _open_postgres(parsed, schema, pg_prefix)
    raise ConfigError(
        f"--db {parsed.render_as_string(hide_password=True)!r}: starboard init reads DuckDB "
        "(duckdb:///path.duckdb) or PostgreSQL (postgresql+psycopg://…) warehouses."
    )


def _open_duckdb(url: str) -> Source:
    paths = WarehousePaths(duckdb_path(url))
    notes: list[str] = []
    pointer = read_pointer(paths)
    if pointer is not None:
        file = paths.path.with_name(pointer["file"])
        if not file.exists():
            raise DataError(
                f"The pointer {paths.pointer.name} names {file.name}, which is missing; "
                "publish again with starboard load."
            )
        notes.append(f"read the live version {pointer['version']} ({file.name})")
    else:
        file = paths.path
        if not file.is_file():
            raise DataError(f"No DuckDB file at {file}: check the path in --db.")
    engine = sa.create_engine(f"duckdb:///{file}", connect_args={"read_only": True})
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        raise WarehouseUnavailable(f"Cannot open {file.name}: {_reason(exc)}") from exc
    source = Source(engine, "duckdb", None, str(paths.path), _slug(paths.path.stem), notes=notes)
    source.only = _published_tables(source)
    return source


def _open_postgres(parsed: sa.URL, schema: str | None, pg_prefix: str) -> Source:
    safe = parsed.render_as_string(hide_password=True)
    try:
        args = {} if "connect_timeout" in parsed.query else {"connect_timeout": CONNECT_TIMEOUT}
        engine = sa.create_engine(parsed, pool_pre_ping=True, connect_args=args)
    except ImportError as exc:
        raise ConfigError(
            f"Cannot use {safe!r}: {exc} (pip install 'starboard[postgres]')"
        ) from exc
    notes: list[str] = []
    serve_url = None
    try:
        with engine.connect() as conn:
            current = conn.execute(sa.text("SELECT current_schema()")).scalar()
            pointer = read_pg_pointer(conn, pg_prefix) if schema is None else None
            if pointer is not None:
                schema = str(pointer["schema_name"])
                notes.append(
                    f"read the live version {pointer['version']} (schema {schema}) of the "
                    f"warehouse published under {pg_prefix} (serve it with "
                    f"STARBOARD_PG_SCHEMA={pg_prefix})"
                )
            elif schema is None:
                schema = str(current or "public")
            found = conn.execute(
                sa.text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"),
                {"s": schema},
            ).first()
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        raise WarehouseUnavailable(
            f"Cannot reach the PostgreSQL warehouse {safe}: {_reason(exc)}"
        ) from exc
    if found is None:
        engine.dispose()
        raise DataError(f"Schema {schema!r} does not exist in {safe}: check --schema.")
    if pointer is None and schema != current:
        # compiled queries name tables without a schema: the URL must put it on the path
        query = dict(parsed.query)
        query["options"] = f"-csearch_path={schema}"
        serve_url = parsed.set(query=query).render_as_string(hide_password=True)
    label = f"{safe} (schema {schema})"
    source = Source(
        engine,
        "postgresql",
        schema,
        label,
        _slug(schema if schema != "public" else parsed.database or schema),
        notes=notes,
        serve_url=serve_url,
    )
    source.only = _published_tables(source)
    return source


def _published_tables(source: Source) -> tuple[str, ...] | None:
    """The star tables a Starboard publish recorded (rollups and its own tables left out)."""
    publish = sa.table(PUBLISH_TABLE, sa.column("row_counts"), sa.column("published_at"))
    publish.schema = source.schema
    with source.engine.connect() as conn:
        if PUBLISH_TABLE not in table_names(conn, source):
            return None
        row = conn.execute(
            sa.select(publish.c.row_counts).order_by(publish.c.published_at.desc()).limit(1)
        ).first()
    try:
        counts = json.loads(row[0]) if row and row[0] else {}
    except ValueError:
        return None
    if not isinstance(counts, dict) or not counts:
        return None
    source.notes.append("kept the star tables its publish record lists (rollups left out)")
    return tuple(str(name) for name in counts)


def table_names(conn: sa.Connection, source: Source) -> list[str]:
    if source.dialect == "duckdb":
        rows = conn.execute(
            sa.text(
                "SELECT table_name FROM information_schema.tables WHERE "
                "table_schema = current_schema() AND table_catalog = current_database() "
                "ORDER BY table_name"
            )
        ).all()
        return [str(r[0]) for r in rows]
    return sorted(
        sa.inspect(conn).get_table_names(schema=source.schema)
        + sa.inspect(conn).get_view_names(schema=source.schema)
    )


def read_catalog(source: Source) -> tuple[list[TableInfo], list[str]]:
    """Every table of the source with its columns, declared keys and row count; and the
    tables left out, each with why."""
    skipped: list[str] = []
    out: list[TableInfo] = []
    with source.engine.connect() as conn:
        names = table_names(conn, source)
        if source.dialect == "duckdb":
            columns = _duckdb_columns(conn)
        else:
            columns = _pg_columns(conn, source.schema or "public")
        for name in names:
            if name.startswith(INTERNAL_PREFIX):
                continue
            if source.only is not None and name not in source.only:
                skipped.append(f"{name}: not a star table of the published version")
                continue
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                skipped.append(f"{name!r}: not a valid model name (letters, digits, _)")
                continue
            cols = {}
            for col, data_type in columns.get(name, []):
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", col):
                    skipped.append(f"{name}.{col}: not a valid column name for a model")
                    continue
                cols[col] = Column(col, data_type, _kind(data_type, source.dialect))
            out.append(TableInfo(name, cols))
        if source.dialect == "duckdb":
            _duckdb_constraints(conn, out)
        else:
            _pg_constraints(conn, source.schema or "public", out)
        for table in out:
            table.rows, table.approx = _row_count(conn, source, table.name)
        conn.rollback()
    return out, skipped


def _duckdb_columns(conn: sa.Connection) -> dict[str, list[tuple[str, str]]]:
    rows = conn.execute(
        sa.text(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_catalog = current_database() "
            "ORDER BY table_name, ordinal_position"
        )
    ).all()
    out: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        out.setdefault(str(table), []).append((str(column), str(data_type)))
    return out


def _pg_columns(conn: sa.Connection, schema: str) -> dict[str, list[tuple[str, str]]]:
    rows = conn.execute(
        sa.text(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = :s ORDER BY table_name, ordinal_position"
        ),
        {"s": schema},
    ).all()
    out: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        out.setdefault(str(table), []).append((str(column), str(data_type)))
    return out


def _duckdb_constraints(conn: sa.Connection, tables: list[TableInfo]) -> None:
    by_name = {t.name: t for t in tables}
    rows = conn.execute(
        sa.text(
            "SELECT table_name, constraint_type, constraint_column_names, referenced_table, "
            "referenced_column_names FROM duckdb_constraints() WHERE "
            "schema_name = current_schema() AND database_name = current_database() "
            "AND constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')"
        )
    ).all()
    for table, kind, cols, ref_table, ref_cols in rows:
        info = by_name.get(str(table))
        if info is None:
            continue
        if kind == "PRIMARY KEY":
            info.declared_pk = tuple(map(str, cols))
        elif ref_table:
            info.declared_fks.append(
                (tuple(map(str, cols)), str(ref_table), tuple(map(str, ref_cols or ())))
            )


def _pg_constraints(conn: sa.Connection, schema: str, tables: list[TableInfo]) -> None:
    inspector = sa.inspect(conn)
    for info in tables:
        pk = inspector.get_pk_constraint(info.name, schema=schema)
        info.declared_pk = tuple(pk.get("constrained_columns") or ())
        for fk in inspector.get_foreign_keys(info.name, schema=schema):
            if fk.get("referred_schema") not in (None, schema):
                continue  # a table of another schema is not in this model
            info.declared_fks.append(
                (
                    tuple(fk["constrained_columns"]),
                    str(fk["referred_table"]),
                    tuple(fk["referred_columns"]),
                )
            )


def _table(source: Source, name: str, *columns: str) -> sa.TableClause:
    table = sa.table(name, *(sa.column(c) for c in columns))
    table.schema = source.schema
    return table


def _row_count(conn: sa.Connection, source: Source, name: str) -> tuple[int, bool]:
    if source.dialect == "postgresql":
        estimate = conn.execute(
            sa.text(
                "SELECT c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND c.relname = :t"
            ),
            {"s": source.schema, "t": name},
        ).scalar()
        if estimate is not None and float(estimate) > EXACT_COUNT_UP_TO:
            return int(float(estimate)), True
    count = conn.execute(sa.select(sa.func.count()).select_from(_table(source, name))).scalar()
    return int(count or 0), False


class Prober:
    """The SQL probes behind each guess, on one connection, each cheap on big tables."""

    def __init__(self, source: Source, conn: sa.Connection) -> None:
        self.source = source
        self.conn = conn
        if source.dialect == "postgresql":  # a runaway probe fails clearly instead of hanging
            conn.exec_driver_sql(f"SET statement_timeout = {PROBE_TIMEOUT_MS}")
            conn.commit()

    def _rows(self, table: TableInfo, *columns: str) -> sa.FromClause:
        """The table, or a sample of its first SAMPLE_ROWS rows when it is larger."""
        base = _table(self.source, table.name, *columns)
        if table.rows <= SAMPLE_ROWS:
            return base
        return sa.select(*(base.c[c] for c in columns)).limit(SAMPLE_ROWS).subquery("sample")

    def column_stats(self, table: TableInfo) -> None:
        """Non-null and distinct counts of every column (a sample of a big table)."""
        names = [c.name for c in table.columns.values() if c.kind != "other"]
        if not names:
            table.probed = min(table.rows, SAMPLE_ROWS)
            return
        rows = self._rows(table, *names)
        selects: list[Any] = [sa.func.count().label("n")]
        for i, name in enumerate(names):
            selects.append(sa.func.count(rows.c[name]).label(f"nn{i}"))
            selects.append(sa.func.count(sa.distinct(rows.c[name])).label(f"nd{i}"))
        result = self._one(sa.select(*selects).select_from(rows))
        table.probed = int(result[0])
        for i, name in enumerate(names):
            table.columns[name].nonnull = int(result[1 + 2 * i])
            table.columns[name].distinct = int(result[2 + 2 * i])

    def containment(self, owner: TableInfo, column: str, target: TableInfo, key: str) -> float:
        """Share of ``owner.column``'s non-null values (sampled) found in ``target.key``."""
        rows = self._rows(owner, column)
        dim = _table(self.source, target.name, key)
        probe = (
            sa.select(sa.func.count(rows.c[column]), sa.func.count(dim.c[key]))
            .select_from(rows.outerjoin(dim, rows.c[column] == dim.c[key]))
            .where(rows.c[column].is_not(None))
        )
        total, found = self._one(probe)
        return float(found) / float(total) if total else 0.0

    def span(
        self, fact: TableInfo, time: str, via: tuple[str, str, str] | None = None
    ) -> tuple[date, date] | None:
        """First and last day of a fact's time column (``via``: (from, dim, to) for a time
        column of a joined calendar, given as ``dim.column``)."""
        if via is None:
            table = _table(self.source, fact.name, time)
            col = table.c[time]
            query = sa.select(sa.func.min(col), sa.func.max(col))
        else:
            from_col, dim_name, to_col = via
            dim_table, _, dim_col = time.partition(".")
            left = _table(self.source, fact.name, from_col)
            right = _table(self.source, dim_table, to_col, dim_col)
            query = sa.select(
                sa.func.min(right.c[dim_col]), sa.func.max(right.c[dim_col])
            ).select_from(left.join(right, left.c[from_col] == right.c[to_col]))
        low, high = self._one(query)
        if low is None or high is None:
            return None
        return _day(low), _day(high)

    def _one(self, query: sa.Select) -> Any:
        try:
            return self.conn.execute(query).one()
        except sa.exc.DBAPIError as exc:
            self.conn.rollback()
            raise DataError(f"A probe of the warehouse failed: {_reason(exc)}") from exc


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
