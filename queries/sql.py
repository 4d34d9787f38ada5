"""Read-only SQL for analysts (/t2/sql): check one statement, run it in a sandbox, audit it.

Two independent walls stand between a statement and anything but reading the warehouse:

1. ``check_sql`` parses the text with sqlglot in the warehouse's dialect and accepts one
   SELECT (or WITH … SELECT, or a UNION of them) that reads only the warehouse's own
   tables: no DDL/DML/commands anywhere inside it, no table functions, no file or URL
   readers, no file path used as a table, and — for users without the ``pii`` permission —
   no column the model marks as PII (nor ``*`` or a whole row over a table that has one).
2. ``open_sandbox`` runs it where writing and file access are impossible even if the
   parser were fooled: on DuckDB a separate in-memory instance that attaches the pinned
   snapshot's file READ_ONLY, then disables external access and locks its configuration;
   on PostgreSQL a ``READ ONLY`` transaction with a ``statement_timeout``.

Row scopes cannot be applied to free SQL, so users with a row scope may not use it (the
``sql`` permission in app/auth.py refuses them).
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlglot
from flask import Blueprint, Response, jsonify, request, session
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from app.auth import can, require, signed_in_user
from app.errors import AccessDenied, QueryError, StarboardError
from app.runtime import Runtime, current_runtime
from app.warehouse import Snapshot
from queries import export
from queries.run import current_model

log = logging.getLogger("starboard.sql")
logging.getLogger("sqlglot").setLevel(logging.ERROR)  # "falling back to Command" warnings

SQLGLOT_DIALECTS = {"duckdb": "duckdb", "postgresql": "postgres", "sqlite": "sqlite",
                    "mysql": "mysql", "redshift": "redshift", "trino": "trino",
                    "clickhouse": "clickhouse", "bigquery": "bigquery",
                    "snowflake": "snowflake"}
# Statement kinds refused wherever they appear (a data-modifying CTE, SELECT … INTO, …).
REFUSED_NODES: tuple[tuple[type[exp.Expression], str], ...] = tuple(
    (getattr(exp, name), label) for name, label in (
        ("Insert", "INSERT"), ("Update", "UPDATE"), ("Delete", "DELETE"), ("Merge", "MERGE"),
        ("Create", "CREATE"), ("Drop", "DROP"), ("Alter", "ALTER"),
        ("TruncateTable", "TRUNCATE"), ("Copy", "COPY"), ("Attach", "ATTACH"),
        ("Detach", "DETACH"), ("Pragma", "PRAGMA"), ("Set", "SET"), ("Use", "USE"),
        ("Install", "INSTALL"), ("Export", "EXPORT"), ("LoadData", "LOAD"),
        ("Transaction", "BEGIN"), ("Commit", "COMMIT"), ("Rollback", "ROLLBACK"),
        ("Grant", "GRANT"), ("Revoke", "REVOKE"), ("Kill", "KILL"), ("Analyze", "ANALYZE"),
        ("Refresh", "REFRESH"), ("Cache", "CACHE"), ("Uncache", "UNCACHE"),
        ("Describe", "DESCRIBE"), ("Summarize", "SUMMARIZE"), ("Show", "SHOW"),
        ("Into", "SELECT … INTO"), ("Lock", "FOR UPDATE/SHARE"), ("Command", "a command"))
    if hasattr(exp, name))
QUERY_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except)
# Functions that read files, URLs, other databases or the environment, or run SQL text.
REFUSED_FUNCTION = re.compile(
    r"^(read_\w+|\w+_scan|parquet_\w+|iceberg_\w+|delta_\w+|sqlite_\w+|postgres_\w+|"
    r"mysql_\w+|sniff_csv|glob|query|query_table|getenv|http_\w+|load_\w+|install_\w+|"
    r"pg_read_\w+|pg_ls_\w+|pg_stat_file|pg_file\w*|pg_logdir_ls|lo_\w+|dblink\w*|"
    r"set_config|pg_terminate_backend|pg_cancel_backend|pg_reload_conf|pg_rotate_logfile|"
    r"pg_promote|pg_switch_wal|current_setting|duckdb_secrets|which_secret|"
    r"read_blob|read_text)$", re.IGNORECASE)
SYSTEM_SCHEMAS = frozenset({"information_schema"})


@dataclass(frozen=True)
class SqlPolicy:
    """What a statement may read: the warehouse's tables, minus PII for this user."""

    dialect: str                                   # sqlglot dialect name
    tables: frozenset[str]                         # lower-case table names
    schemas: frozenset[str] = frozenset({"", "main", "public"})
    pii: tuple[tuple[str, frozenset[str]], ...] = ()   # (table, columns) hidden from the user


@dataclass(frozen=True)
class SqlResult:
    """The first rows of one statement and how it went."""

    columns: tuple[str, ...]
    rows: list[tuple]
    truncated: bool          # more rows existed than the cap
    row_cap: int
    ms: float
    version: str


@dataclass(frozen=True)
class SqlLimits:
    timeout_seconds: float
    max_rows: int
    memory_limit: str = "1GB"
    threads: int = 1


def _refuse(message: str) -> QueryError:
    return QueryError(f"Refused: {message} Only one read-only SELECT (or WITH … SELECT) "
                      "over the warehouse's tables may run here.")


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name)
    return node.sql_name()


def check_sql(text: str, policy: SqlPolicy) -> exp.Expression:
    """The parsed statement, or QueryError naming exactly what was refused."""
    if not text or not text.strip():
        raise QueryError("Write a SELECT statement first.")
    try:
        statements = [s for s in sqlglot.parse(text, read=policy.dialect) if s is not None]
    except (ParseError, TokenError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise QueryError(f"The statement could not be parsed: {first}") from exc
    if len(statements) != 1:
        raise _refuse(f"{len(statements)} statements were given; run one at a time.")
    tree = statements[0]
    for klass, label in REFUSED_NODES:
        node = tree if isinstance(tree, klass) else tree.find(klass)
        if node is not None:
            shown = label
            if klass is exp.Command:
                shown = f"the command {str(node.this).upper()}"
            raise _refuse(f"{shown} is not allowed.")
    if not isinstance(tree, QUERY_ROOTS):
        raise _refuse(f"a {type(tree).__name__.upper()} statement is not a query.")
    for func in tree.find_all(exp.Func):
        name = _function_name(func)
        if REFUSED_FUNCTION.match(name):
            raise _refuse(f"the function {name.lower()}() reads files, URLs or settings.")
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    read: dict[str, str] = {}                       # alias or name → table
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            what = (_function_name(table.this) if isinstance(table.this, exp.Func)
                    else table.this.sql(policy.dialect))
            raise _refuse(f"the table function {what.lower()}() is not allowed in FROM.")
        name = table.name
        schema = table.db.lower()
        if table.catalog:
            raise _refuse(f"{table.sql(policy.dialect)} names another database.")
        if schema in SYSTEM_SCHEMAS:
            continue
        if not schema and name.lower() in ctes:
            continue
        if "/" in name or "\\" in name or re.search(r"\.\w+$", name) or ":" in name:
            raise _refuse(f"'{name}' looks like a file or URL; files cannot be read.")
        if schema not in policy.schemas or name.lower() not in policy.tables:
            raise _refuse(f"{table.sql(policy.dialect)} is not a table of the warehouse.")
        read[name.lower()] = name.lower()
        if table.alias:
            read[table.alias.lower()] = name.lower()
    _check_pii(tree, policy, read)
    return tree


def _check_pii(tree: exp.Expression, policy: SqlPolicy, read: dict[str, str]) -> None:
    """Refuse PII columns, ``*`` and whole rows of tables that hold PII."""
    pii = {table: cols for table, cols in policy.pii if table in set(read.values())}
    if not pii:
        return
    hidden = {col.lower(): table for table, cols in pii.items() for col in cols}
    pii_names = {alias for alias, table in read.items() if table in pii}
    listed = ", ".join(f"{t}.{c}" for t, cols in sorted(pii.items()) for c in sorted(cols))
    for star in tree.find_all(exp.Star):
        if isinstance(star.parent, exp.Count):
            continue
        owner = star.parent.table.lower() if isinstance(star.parent, exp.Column) else ""
        if not owner or owner in pii_names:
            raise AccessDenied(f"Refused: * would read personal data ({listed}); your role "
                               "may not see it. Name the columns you need instead.")
    for node in tree.find_all(exp.Columns):
        raise AccessDenied(f"Refused: {node.sql(policy.dialect)} could read personal data "
                           f"({listed}); name the columns you need instead.")
    for column in tree.find_all(exp.Column):
        name = column.name.lower()
        if name in hidden:
            raise AccessDenied(f"Refused: {hidden[name]}.{name} is personal data; your role "
                               "may not read it.")
        if not column.table and name in pii_names:
            raise AccessDenied(f"Refused: {column.name} is a whole row of a table with "
                               f"personal data ({listed}); name the columns you need.")


# --------------------------------------------------------------------------- sandbox


class _Runner:
    """One open sandbox: run a statement, fetch in batches, stop on the time limit."""

    def __init__(self, cursor: Any, interrupt: Any, timeout: float) -> None:
        self.cursor = cursor
        self.timed_out = threading.Event()
        self.timeout = timeout

        def fire() -> None:
            self.timed_out.set()
            interrupt()

        self.timer = threading.Timer(timeout, fire) if interrupt is not None else None

    def start(self, text: str) -> tuple[str, ...]:
        if self.timer is not None:
            self.timer.daemon = True
            self.timer.start()
        self.cursor.execute(text)
        return tuple(d[0] for d in (self.cursor.description or ()))

    def fetch(self, size: int) -> list[tuple]:
        return [tuple(r) for r in self.cursor.fetchmany(size)]

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def open_sandbox(snap: Snapshot, limits: SqlLimits) -> Iterator[_Runner]:
    """A read-only, file-less place to run one statement (see the module docstring)."""
    engine = snap.engine
    if engine.dialect.name == "duckdb":
        import duckdb

        file = Path(str(engine.url.database))
        # A separate instance: the app's pooled instance has other settings, and DuckDB
        # refuses a second configuration for an open file. Attach first, then lock down.
        con = duckdb.connect(":memory:", config={
            "memory_limit": limits.memory_limit, "threads": max(1, limits.threads),
            "autoload_known_extensions": False, "autoinstall_known_extensions": False,
            "allow_community_extensions": False, "allow_unsigned_extensions": False})
        runner = _Runner(con, con.interrupt, limits.timeout_seconds)
        try:
            con.execute(f"ATTACH {_quote_literal(str(file))} AS warehouse (READ_ONLY)")
            con.execute("USE warehouse")
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
            yield runner
        except duckdb.Error as exc:
            if runner.timed_out.is_set():
                raise QueryError(_timeout_message(limits)) from exc
            raise QueryError(f"The warehouse refused the statement: {_first_line(exc)}") from exc
        finally:
            runner.stop()
            con.close()
        return
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            try:
                setup = raw.cursor()
                setup.execute("SET TRANSACTION READ ONLY")
                setup.execute("SELECT set_config('statement_timeout', %s, true)",
                              (str(int(limits.timeout_seconds * 1000)),))
                setup.close()
                runner = _Runner(raw.cursor(), None, limits.timeout_seconds)
                yield runner
            except sa.exc.DBAPIError as exc:
                raise _pg_error(exc.orig or exc, limits) from exc
            except Exception as exc:
                if type(exc).__module__.startswith("psycopg"):
                    raise _pg_error(exc, limits) from exc
                raise
            finally:
                raw.rollback()
        return
    raise QueryError(f"Free SQL is not available on a {engine.dialect.name} warehouse: "
                     "Starboard can enforce read-only SQL on DuckDB and PostgreSQL only.")


def _quote_literal(text: str) -> str:
    """A SQL string literal (ATTACH takes no bound parameter); the path is our own."""
    return "'" + text.replace("'", "''") + "'"


def _timeout_message(limits: SqlLimits) -> str:
    return (f"Stopped: the statement ran longer than the time limit of "
            f"{limits.timeout_seconds:g} s (STARBOARD_SQL_TIMEOUT_SECONDS).")


def _pg_error(exc: BaseException, limits: SqlLimits) -> QueryError:
    if type(exc).__name__ == "QueryCanceled":
        return QueryError(_timeout_message(limits))
    return QueryError(f"The warehouse refused the statement: {_first_line(exc)}")


def execute_sql(snap: Snapshot, text: str, limits: SqlLimits) -> SqlResult:
    """The first ``limits.max_rows`` rows of an already checked statement."""
    started = time.perf_counter()
    with open_sandbox(snap, limits) as runner:
        columns = runner.start(text)
        rows = runner.fetch(limits.max_rows + 1)
    truncated = len(rows) > limits.max_rows
    return SqlResult(columns, rows[:limits.max_rows], truncated, limits.max_rows,
                     (time.perf_counter() - started) * 1000, snap.version.id)


def sandbox_batches(snap: Snapshot, text: str, limits: SqlLimits,
                    batch: int = 5000) -> tuple[tuple[str, ...], Iterator[list[tuple]]]:
    """Start an already checked statement now (so its errors come before any byte of a
    download) and return its column names and an iterator of row batches (at most
    ``limits.max_rows`` + 1 rows: the exporter cuts at its cap). The sandbox stays open
    until the iterator ends or is closed."""

    def gen() -> Iterator[Any]:
        with open_sandbox(snap, limits) as runner:
            yield runner.start(text)
            fetched = 0
            while fetched <= limits.max_rows:
                rows = runner.fetch(min(batch, limits.max_rows + 1 - fetched))
                if not rows:
                    return
                fetched += len(rows)
                yield rows

    stream = gen()
    columns = next(stream)
    return columns, stream


# --------------------------------------------------------------------------- the page's door


@dataclass(frozen=True)
class SchemaTable:
    name: str
    columns: tuple[tuple[str, str, bool], ...]     # (column, type, pii)
    in_model: bool


def require_sql(user: object = None) -> Any:
    """The signed-in user when they may run free SQL (``sql`` and no row scope)."""
    user = user if user is not None else signed_in_user()
    require(user, "sql")
    return user


def limits_of(runtime: Runtime, *, export: bool = False) -> SqlLimits:
    settings = runtime.settings
    return SqlLimits(timeout_seconds=settings.sql_timeout_seconds,
                     max_rows=settings.sql_export_max_rows if export else settings.sql_max_rows,
                     memory_limit=settings.sql_memory_limit, threads=settings.duckdb_threads)


def _warehouse_tables(runtime: Runtime, snap: Snapshot) -> dict[str, tuple[tuple[str, str], ...]]:
    key = f"queries.sql.tables:{snap.version.id}"
    cached = runtime.state.get(key)
    if cached is not None:
        return cached
    query = sa.text("SELECT table_name, column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = current_schema() ORDER BY table_name, "
                    "ordinal_position")
    with snap.engine.connect() as conn:
        rows = conn.execute(query).all()
    out: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in rows:
        out.setdefault(str(table), []).append((str(column), str(kind)))
    frozen = {t: tuple(cols) for t, cols in out.items()}
    for old in [k for k in runtime.state if k.startswith("queries.sql.tables:")]:
        del runtime.state[old]
    runtime.state[key] = frozen
    return frozen


def _pii_columns(runtime: Runtime) -> dict[str, frozenset[str]]:
    model = current_model(runtime)
    return {name.lower(): frozenset(c.lower() for c in table.pii)
            for name, table in model.tables.items() if table.pii}


def schema_listing(runtime: Runtime | None = None) -> list[SchemaTable]:
    """The warehouse's tables and columns, the model's first, PII columns marked."""
    runtime = runtime or current_runtime()
    require_sql()
    snap = runtime.warehouse.snapshot()
    model = current_model(runtime)
    pii = _pii_columns(runtime)
    tables = [SchemaTable(name, tuple((c, kind, c.lower() in pii.get(name.lower(), ()))
                                      for c, kind in cols), name in model.tables)
              for name, cols in _warehouse_tables(runtime, snap).items()]
    return sorted(tables, key=lambda t: (not t.in_model, t.name))


def policy_for(runtime: Runtime, snap: Snapshot, user: object) -> SqlPolicy:
    """The check policy of ``user`` on ``snap``: its tables, and PII unless permitted."""
    dialect = SQLGLOT_DIALECTS.get(snap.engine.dialect.name)
    if dialect is None:
        raise QueryError(f"Free SQL is not available on a {snap.engine.dialect.name} "
                         "warehouse.")
    tables = frozenset(t.lower() for t in _warehouse_tables(runtime, snap))
    pii = () if can(user, "pii") else tuple(sorted(_pii_columns(runtime).items()))
    schemas = frozenset({"", "main"} if dialect == "duckdb" else {""})
    return SqlPolicy(dialect, tables, schemas, pii)


def _audit(runtime: Runtime, user: Any, event: str, text: str, detail: dict) -> None:
    runtime.users.audit(getattr(user, "name", "?"), event,
                        {"statement": text[:4000], **detail})


def _outcome(exc: QueryError | AccessDenied) -> str:
    if exc.message.startswith("Refused"):
        return "refused"
    return "timeout" if exc.message.startswith("Stopped") else "error"


def run_sql(text: str, *, runtime: Runtime | None = None) -> SqlResult:
    """Check and run one statement for the signed-in user; every attempt is audited."""
    runtime = runtime or current_runtime()
    user = require_sql()
    started = time.perf_counter()
    try:
        snap = runtime.warehouse.snapshot()
        check_sql(text, policy_for(runtime, snap, user))
        # a start record too: a cancelled job is killed before it could write its outcome
        _audit(runtime, user, "sql_start", text, {"version": snap.version.id})
        result = execute_sql(snap, text, limits_of(runtime))
    except (QueryError, AccessDenied) as exc:
        _audit(runtime, user, "sql_run", text, {
            "outcome": _outcome(exc), "message": exc.message, "rows": 0,
            "ms": round((time.perf_counter() - started) * 1000, 1)})
        raise
    _audit(runtime, user, "sql_run", text, {"outcome": "ok", "rows": len(result.rows),
                                            "truncated": result.truncated,
                                            "ms": round(result.ms, 1),
                                            "version": result.version})
    log.info("sql user=%s rows=%d ms=%.1f", getattr(user, "name", "?"), len(result.rows),
             result.ms)
    return result


def csv_export(text: str, *, runtime: Runtime | None = None) -> Response:
    """A streamed CSV download of one statement for the signed-in user: checked and started
    before the response, capped (``STARBOARD_SQL_EXPORT_MAX_ROWS`` and the role's export
    cap), audited by the export module when the stream ends."""
    runtime = runtime or current_runtime()
    user = require_sql()
    snap = runtime.warehouse.snapshot()
    started = time.perf_counter()
    try:
        check_sql(text, policy_for(runtime, snap, user))
        limits = limits_of(runtime, export=True)
        columns, batches = sandbox_batches(snap, text, limits)
    except (QueryError, AccessDenied) as exc:
        _audit(runtime, user, "sql_export", text, {
            "outcome": _outcome(exc), "message": exc.message,
            "ms": round((time.perf_counter() - started) * 1000, 1)})
        raise
    source = export.RowSource(columns, batches=lambda: batches, what="sql",
                              detail={"statement": text[:4000]})
    return export.csv_response(source, "starboard-sql.csv", cap=limits.max_rows)


def _csrf_ok() -> bool:
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    return bool(sent) and bool(expected) and hmac.compare_digest(sent, expected)


def blueprint() -> Blueprint:
    """``/api/v1/sql/export.csv``: the SQL page's CSV download. ``GET ?q=<statement>`` for
    API clients; the page POSTs a form (``q`` and the session's CSRF token), so statements
    longer than a URL allows download too."""
    api = Blueprint("sql_v1", __name__, url_prefix="/api/v1/sql")

    @api.route("/export.csv", methods=["GET", "POST"])
    def export_csv() -> Response | tuple[Response, int]:
        try:
            if request.method == "POST":
                if not _csrf_ok():
                    raise AccessDenied("The download form expired: reload the page.")
                return csv_export(request.form.get("q", ""))
            return csv_export(request.args.get("q", ""))
        except AccessDenied as exc:
            return jsonify(error={"type": "AccessDenied", "message": exc.message}), 403
        except StarboardError as exc:
            return jsonify(error={"type": type(exc).__name__, "message": exc.message}), 400

    return api
