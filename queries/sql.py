"""Read-only SQL for analysts (/t2/sql): check one statement, run it in a sandbox, audit it.

Two independent walls stand between a statement and anything but reading the warehouse:

1. ``check_sql`` parses the text with sqlglot in the warehouse's dialect and accepts one
   SELECT (or WITH … SELECT, or a UNION of them) that reads only the warehouse's own
   tables: no DDL/DML/commands anywhere inside it, no table functions, no file or URL
   readers, no file path used as a table, at most ``MAX_NESTING`` levels of brackets.
   For users without the ``pii`` permission it decides on *lineage*, not spelling: the
   statement is qualified (sqlglot's qualify/scope) against the schema the user's sandbox
   exposes — the warehouse minus the columns the model marks as PII — and every column
   reference (select list, WHERE, GROUP BY, ORDER BY, JOIN, function argument, subquery,
   CTE) must resolve to a column of that schema. A reference that resolves only with the
   PII columns present is refused naming the real ``table.column``, also when it reaches
   it through a renamed column list (``FROM dim_user AS t(a, b, …)``) or a CTE's or
   derived table's column list; an unknown column is refused too. ``*`` expands to the
   visible columns; whole rows, ``t.*`` inside a function, ``COLUMNS(…)`` and ``#n`` over
   a table with hidden columns are refused (their lineage is opaque).
2. ``open_sandbox`` runs it where writing, file access and the PII columns are out of
   reach even if the parser were fooled. DuckDB: a separate in-memory instance that
   attaches the pinned snapshot's file READ_ONLY; for a user without ``pii`` under a
   random catalog name, exposing in its own catalog one view per warehouse table *without*
   the PII columns (the names statements resolve against); then it disables external
   access and locks its configuration. PostgreSQL: a ``READ ONLY`` transaction with a
   ``statement_timeout``; for a user without ``pii`` it first creates TEMP views of the
   same shape in that transaction (``pg_temp`` is searched first for unqualified names;
   the rollback that ends every run drops them, so nothing is left on the pooled
   connection).

Results are capped in rows and bytes (``STARBOARD_SQL_MAX_ROWS``,
``STARBOARD_SQL_MAX_BYTES``); the CSV download by the export module's caps.

Row scopes cannot be applied to free SQL, so users with a row scope may not use it (the
``sql`` permission in app/core/auth.py refuses them).
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlglot
from flask import Response
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, TokenError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope

from app.core.auth import can, require, signed_in_user
from app.core.errors import AccessDenied, QueryError, StarboardError
from app.core.meta import MetaUnavailable
from app.core.runtime import Runtime, current_runtime
from app.core.warehouse import Snapshot
from queries import export
from queries.export import AuditUnavailable
from queries.semantic.run import current_model

log = logging.getLogger("starboard.sql")
logging.getLogger("sqlglot").setLevel(logging.ERROR)  # "falling back to Command" warnings

SQLGLOT_DIALECTS = {
    "duckdb": "duckdb",
    "postgresql": "postgres",
    "sqlite": "sqlite",
    "mysql": "mysql",
    "redshift": "redshift",
    "trino": "trino",
    "clickhouse": "clickhouse",
    "bigquery": "bigquery",
    "snowflake": "snowflake",
}
# Statement kinds refused wherever they appear (a data-modifying CTE, SELECT … INTO, …).
REFUSED_NODES: tuple[tuple[type[exp.Expression], str], ...] = tuple(
    (getattr(exp, name), label)
    for name, label in (
        ("Insert", "INSERT"),
        ("Update", "UPDATE"),
        ("Delete", "DELETE"),
        ("Merge", "MERGE"),
        ("Create", "CREATE"),
        ("Drop", "DROP"),
        ("Alter", "ALTER"),
        ("TruncateTable", "TRUNCATE"),
        ("Copy", "COPY"),
        ("Attach", "ATTACH"),
        ("Detach", "DETACH"),
        ("Pragma", "PRAGMA"),
        ("Set", "SET"),
        ("Use", "USE"),
        ("Install", "INSTALL"),
        ("Export", "EXPORT"),
        ("LoadData", "LOAD"),
        ("Transaction", "BEGIN"),
        ("Commit", "COMMIT"),
        ("Rollback", "ROLLBACK"),
        ("Grant", "GRANT"),
        ("Revoke", "REVOKE"),
        ("Kill", "KILL"),
        ("Analyze", "ANALYZE"),
        ("Refresh", "REFRESH"),
        ("Cache", "CACHE"),
        ("Uncache", "UNCACHE"),
        ("Describe", "DESCRIBE"),
        ("Summarize", "SUMMARIZE"),
        ("Show", "SHOW"),
        ("Into", "SELECT … INTO"),
        ("Lock", "FOR UPDATE/SHARE"),
        ("Command", "a command"),
    )
    if hasattr(exp, name)
)
QUERY_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except)
# Functions that read files, URLs, other databases or the environment, or run SQL text.
REFUSED_FUNCTION = re.compile(
    r"^(read_\w+|\w+_scan|parquet_\w+|iceberg_\w+|delta_\w+|sqlite_\w+|postgres_\w+|"
    r"mysql_\w+|sniff_csv|glob|query|query_table|getenv|http_\w+|load_\w+|install_\w+|"
    r"pg_read_\w+|pg_ls_\w+|pg_stat_file|pg_file\w*|pg_logdir_ls|lo_\w+|dblink\w*|"
    r"set_config|pg_terminate_backend|pg_cancel_backend|pg_reload_conf|pg_rotate_logfile|"
    r"pg_promote|pg_switch_wal|current_setting|duckdb_secrets|which_secret|"
    r"read_blob|read_text)$",
    re.IGNORECASE,
)
SYSTEM_SCHEMAS = frozenset({"information_schema"})
# Brackets nested deeper than this are refused before parsing: sqlglot's parser recurses
# about 23 Python frames per level and hits the interpreter's recursion limit near 43.
MAX_NESTING = 30
_OPENING = frozenset({"L_PAREN", "L_BRACKET", "L_BRACE"})
_CLOSING = frozenset({"R_PAREN", "R_BRACKET", "R_BRACE"})


@dataclass(frozen=True)
class SqlPolicy:
    """What a statement may read: the warehouse's tables, minus PII for this user.

    ``columns`` holds every table's real columns in their order (the check qualifies the
    statement against them, and the sandbox builds its views from them); ``pii`` the
    columns hidden from this user. A table without an entry in ``columns`` has no known
    column, so any reference into it is refused while PII is hidden.
    """

    dialect: str  # sqlglot dialect name
    tables: frozenset[str]  # lower-case table names
    schemas: frozenset[str] = frozenset({"", "main", "public"})
    pii: tuple[tuple[str, frozenset[str]], ...] = ()  # (table, columns) hidden from the user
    columns: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (table, real columns in order)

    @property
    def hides(self) -> bool:
        """True when some column is hidden from this user (the lineage check applies)."""
        return any(cols for _table, cols in self.pii)

    def hidden(self, table: str) -> frozenset[str]:
        return dict(self.pii).get(table.lower(), frozenset())

    def real_columns(self, table: str) -> tuple[str, ...]:
        return dict(self.columns).get(table.lower(), ())

    def visible_columns(self, table: str) -> tuple[str, ...]:
        hidden = self.hidden(table)
        return tuple(c for c in self.real_columns(table) if c.lower() not in hidden)

    def schema(self, *, visible: bool) -> dict[str, dict[str, str]]:
        """A sqlglot schema of the tables: the user's (visible) columns, or all of them."""
        out = {}
        for table, _cols in self.columns:
            cols = self.visible_columns(table) if visible else self.real_columns(table)
            if cols:
                out[table.lower()] = {c.lower(): "UNKNOWN" for c in cols}
        return out


@dataclass(frozen=True)
class SqlResult:
    """The first rows of one statement and how it went."""

    columns: tuple[str, ...]
    rows: list[tuple]
    truncated: bool  # more rows existed than the caps let through
    row_cap: int
    ms: float
    version: str
    byte_cap: int = 0  # the byte cap that applied (0: none)
    truncated_by: str = ""  # "rows", "bytes" or "" (not truncated)
    size: int = 0  # estimated bytes of the rows kept


@dataclass(frozen=True)
class SqlLimits:
    timeout_seconds: float
    max_rows: int
    memory_limit: str = "1GB"
    threads: int = 1
    max_bytes: int = 20_000_000  # of the rows kept (the page's result); 0: no byte cap


def _refuse(message: str) -> QueryError:
    return QueryError(
        f"Refused: {message} Only one read-only SELECT (or WITH … SELECT) "
        "over the warehouse's tables may run here."
    )


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name)
    return node.sql_name()


def _nesting(text: str, dialect: str) -> int:
    """How deep brackets nest in ``text`` (tokens only: strings and comments do not
    count); sqlglot's tokenizer does not recurse."""
    depth = deepest = 0
    for token in sqlglot.tokenize(text, read=dialect):
        kind = token.token_type.name
        if kind in _OPENING:
            depth += 1
            deepest = max(deepest, depth)
        elif kind in _CLOSING:
            depth -= 1
    return deepest


def check_sql(text: str, policy: SqlPolicy) -> exp.Expression:
    """The parsed statement, or QueryError/AccessDenied naming exactly what was refused."""
    if not text or not text.strip():
        raise QueryError("Write a SELECT statement first.")
    try:
        depth = _nesting(text, policy.dialect)
        if depth > MAX_NESTING:
            raise _refuse(
                f"brackets are nested {depth} levels deep; at most {MAX_NESTING} are allowed."
            )
        return _check(text, policy)
    except (ParseError, TokenError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise QueryError(f"The statement could not be parsed: {first}") from exc
    except RecursionError as exc:
        raise _refuse("the statement is nested too deeply to be checked.") from exc


def _check(text: str, policy: SqlPolicy) -> exp.Expression:
    statements = [s for s in sqlglot.parse(text, read=policy.dialect) if s is not None]
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
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            what = (
                _function_name(table.this)
                if isinstance(table.this, exp.Func)
                else table.this.sql(policy.dialect)
            )
            raise _refuse(f"the table function {what.lower()}() is not allowed in FROM.")
        name = table.name
        schema = table.db.lower()
        if table.catalog:
            raise _refuse(f"{table.sql(policy.dialect)} names another database.")
        if schema in SYSTEM_SCHEMAS:
            if policy.hides:
                # it would describe the sandbox itself (the real tables behind the views)
                raise _refuse(
                    f"{table.sql(policy.dialect)} is not available to your role; "
                    "the schema panel lists the tables and their columns."
                )
            continue
        if not schema and name.lower() in ctes:
            continue
        if "/" in name or "\\" in name or re.search(r"\.\w+$", name) or ":" in name:
            raise _refuse(f"'{name}' looks like a file or URL; files cannot be read.")
        if schema not in policy.schemas or name.lower() not in policy.tables:
            raise _refuse(f"{table.sql(policy.dialect)} is not a table of the warehouse.")
    if policy.hides:
        _check_lineage(tree, policy)
    return tree


# --------------------------------------------------------------------------- lineage


def _qualified(tree: exp.Expression, policy: SqlPolicy, *, visible: bool) -> exp.Expression:
    """A copy of ``tree`` with every column qualified and ``*`` expanded against the
    user's schema (``visible``) or the real one; OptimizeError on an unresolved column."""
    return qualify(
        tree.copy(),
        dialect=policy.dialect,
        schema=policy.schema(visible=visible),
        validate_qualify_columns=True,
        expand_stars=True,
        quote_identifiers=False,
        identify=False,
    )


def _personal(column: str, table: str) -> AccessDenied:
    return AccessDenied(
        f"Refused: {table}.{column} is personal data; your role may not read "
        "it (PII columns are hidden from your role). Leave it out of the "
        "statement."
    )


def _check_lineage(tree: exp.Expression, policy: SqlPolicy) -> None:
    """Refuse any reference that reaches a hidden column (see the module docstring)."""
    try:
        qualified = _qualified(tree, policy, visible=True)
    except RecursionError:
        raise
    except OptimizeError as exc:
        # Unresolvable for this user: name the PII column when that is the reason.
        try:
            full = _qualified(tree, policy, visible=False)
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - unknown with the PII columns too: say so below
            full = None
        if full is not None:
            _walk(full, policy)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "unknown column"
        raise _refuse(
            f"{reason.rstrip('.')}. Use the columns listed in the schema panel "
            "(columns marked PII are hidden from your role)."
        ) from exc
    except Exception as exc:  # noqa: BLE001 - sqlglot could not follow it: fail closed
        raise _unchecked(exc) from exc
    _walk(qualified, policy)


def _unchecked(exc: BaseException) -> QueryError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return _refuse(
        f"the statement could not be checked for personal data "
        f"({type(exc).__name__}{': ' + detail if detail else ''})."
    )


def _walk(qualified: exp.Expression, policy: SqlPolicy) -> None:
    """:func:`_walk_lineage`, failing closed on anything sqlglot's scopes cannot follow."""
    try:
        _walk_lineage(qualified, policy)
    except (StarboardError, RecursionError):
        raise
    except Exception as exc:  # noqa: BLE001 - an unexpected shape: refuse, never a 500
        raise _unchecked(exc) from exc


def _source_of(scope: Scope, name: str) -> exp.Expression | Scope | None:
    """What ``name`` (a table alias) refers to from ``scope``: a base table, a derived
    table / CTE (a Scope), or None; correlated references look in the enclosing scopes."""
    while scope is not None:
        if name in scope.sources:
            return scope.sources[name]
        scope = scope.parent
    return None


def _base_table(source: object, policy: SqlPolicy) -> str | None:
    """The warehouse table a source reads, if it is one."""
    if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
        name = source.name.lower()
        return name if name in policy.tables else None
    return None


def _walk_lineage(qualified: exp.Expression, policy: SqlPolicy) -> None:
    """Every column reference of a qualified tree, resolved to its source: refuse those
    that reach a hidden column, whole rows and opaque references of tables that have one,
    and references that resolve to nothing."""
    hiding = {t for t, cols in policy.pii if cols}
    aliases_of_hiding: set[str] = set()
    for scope in traverse_scope(qualified):
        for alias, source in scope.sources.items():
            table = _base_table(source, policy)
            if table in hiding:
                aliases_of_hiding.add(alias)
                _check_column_list(alias, source, table, policy)
        for column in scope.columns:
            if isinstance(column.this, exp.Star):
                source = _source_of(scope, column.table)
                table = _base_table(source, policy)
                if table in hiding:
                    raise AccessDenied(
                        f"Refused: {column.sql(policy.dialect)} inside an "
                        f"expression is a whole row of {table}, which holds "
                        "personal data; name the columns you need."
                    )
                continue
            if not column.table:
                if column.name in getattr(scope.expression, "named_selects", ()):
                    continue  # an output alias (ORDER BY n)
                raise _refuse(
                    f"the column {column.sql(policy.dialect)} could not be resolved to a table."
                )
            source = _source_of(scope, column.table)
            if source is None:
                raise _refuse(f"{column.sql(policy.dialect)} names no table of the statement.")
            table = _base_table(source, policy)
            if table is None:
                continue  # a derived table / CTE: checked inside
            real = _real_column(source, column.name, policy)
            if real is None:
                raise _refuse(f"{column.sql(policy.dialect)} is not a column of {table}.")
            if real in policy.hidden(table):
                raise _personal(real, table)
    if not aliases_of_hiding:
        return
    names = ", ".join(sorted(hiding))
    for node in qualified.find_all(exp.TableColumn):
        if node.name in aliases_of_hiding:
            raise AccessDenied(
                f"Refused: {node.name} is a whole row of a table with personal "
                f"data ({names}); name the columns you need."
            )
    for klass, label in ((exp.Columns, "COLUMNS(…)"), (exp.PositionalColumn, "a #n column")):
        node = qualified.find(klass)
        if node is not None:
            raise AccessDenied(
                f"Refused: {label} ({node.sql(policy.dialect)}) could read "
                f"personal data ({names}); name the columns you need instead."
            )
    for star in qualified.find_all(exp.Star):
        owner = star.parent.table if isinstance(star.parent, exp.Column) else None
        if owner is not None and owner not in aliases_of_hiding:
            continue  # t.* of a derived table / CTE
        if owner is not None or not isinstance(star.parent, exp.Count):
            raise AccessDenied(
                f"Refused: * inside an expression could read personal data "
                f"({names}); name the columns you need instead."
            )


def _alias_columns(source: exp.Table) -> list[str]:
    alias = source.args.get("alias")
    return [c.name.lower() for c in alias.columns] if alias is not None else []


def _real_column(source: exp.Table, name: str, policy: SqlPolicy) -> str | None:
    """The real column of ``source`` a reference ``name`` means: by position when the table
    has a column list (``AS t(a, b, …)``), else by name."""
    real = [c.lower() for c in policy.real_columns(source.name)]
    renamed = _alias_columns(source)
    if renamed:
        if name.lower() in renamed:
            at = renamed.index(name.lower())
            return real[at] if at < len(real) else None
        at = len(renamed)  # columns past the list keep their names
        return name.lower() if name.lower() in real[at:] else None
    return name.lower() if name.lower() in real else None


def _check_column_list(alias: str, source: exp.Table, table: str, policy: SqlPolicy) -> None:
    """A column list renames a table's columns by position. The user's view lacks the
    hidden columns, so a list that reaches the first hidden one would rename it (on the
    real table) or shift every later name (on the view): refuse it, naming the column."""
    renamed = _alias_columns(source)
    real = [c.lower() for c in policy.real_columns(table)]
    hidden = policy.hidden(table)
    first = next((i for i, c in enumerate(real) if c in hidden), None)
    if first is None or len(renamed) <= first:
        return
    raise AccessDenied(
        f"Refused: the column list of {alias} renames {table}'s columns by position, and its "
        f"name {renamed[first]} falls on {table}.{real[first]}, which is personal data your "
        "role may not read. Rename only the columns before it, or use AS (SELECT country AS "
        "c …)."
    )


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


def _ident(name: str) -> str:
    """A double-quoted identifier (DuckDB and PostgreSQL)."""
    return '"' + name.replace('"', '""') + '"'


def _view_sql(table: str, columns: tuple[str, ...], source: str, *, temp: bool) -> str:
    """``CREATE VIEW table AS SELECT <visible columns> FROM <source>.table``."""
    listed = ", ".join(_ident(c) for c in columns)
    kind = "TEMP VIEW" if temp else "VIEW"
    return f"CREATE {kind} {_ident(table)} AS SELECT {listed} FROM {source}.{_ident(table)}"


def _views(policy: SqlPolicy) -> list[tuple[str, tuple[str, ...]]]:
    """The sandbox's tables for a user with hidden columns: each warehouse table with its
    visible columns (a table left with none is not exposed)."""
    return [
        (table, policy.visible_columns(table))
        for table, _cols in policy.columns
        if policy.visible_columns(table)
    ]


@contextmanager
def open_sandbox(snap: Snapshot, limits: SqlLimits, policy: SqlPolicy) -> Iterator[_Runner]:
    """A read-only, file-less place to run one statement (see the module docstring); when
    ``policy`` hides columns, the statement's tables are views without them."""
    engine = snap.engine
    if engine.dialect.name == "duckdb":
        import duckdb

        file = Path(str(engine.url.database))
        # A separate instance: the app's pooled instance has other settings, and DuckDB
        # refuses a second configuration for an open file. Attach first, then lock down.
        con = duckdb.connect(
            ":memory:",
            config={
                "memory_limit": limits.memory_limit,
                "threads": max(1, limits.threads),
                "autoload_known_extensions": False,
                "autoinstall_known_extensions": False,
                "allow_community_extensions": False,
                "allow_unsigned_extensions": False,
            },
        )
        runner = _Runner(con, con.interrupt, limits.timeout_seconds)
        try:
            if policy.hides:
                # The file under a random name no statement can guess (the check refuses
                # any catalog anyway); names resolve in the instance's own catalog, where
                # each table is a view without its hidden columns.
                catalog = "sb_" + secrets.token_hex(16)
                con.execute(f"ATTACH {_quote_literal(str(file))} AS {catalog} (READ_ONLY)")
                for table, columns in _views(policy):
                    con.execute(_view_sql(table, columns, f"{catalog}.main", temp=False))
            else:
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
                if policy.hides:
                    # TEMP views shadow the tables (pg_temp is searched first for
                    # unqualified names; qualified ones are refused by the check). They are
                    # created in this transaction, before it turns READ ONLY, and vanish
                    # with the rollback below: nothing stays on the pooled connection.
                    setup.execute("SELECT current_schema()")
                    (schema,) = setup.fetchone()
                    for table, columns in _views(policy):
                        setup.execute(_view_sql(table, columns, _ident(schema), temp=True))
                setup.execute("SET TRANSACTION READ ONLY")
                setup.execute(
                    "SELECT set_config('statement_timeout', %s, true)",
                    (str(int(limits.timeout_seconds * 1000)),),
                )
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
    raise QueryError(
        f"Free SQL is not available on a {engine.dialect.name} warehouse: "
        "Starboard can enforce read-only SQL on DuckDB and PostgreSQL only."
    )


def _quote_literal(text: str) -> str:
    """A SQL string literal (ATTACH takes no bound parameter); the path is our own."""
    return "'" + text.replace("'", "''") + "'"


def _timeout_message(limits: SqlLimits) -> str:
    return (
        f"Stopped: the statement ran longer than the time limit of "
        f"{limits.timeout_seconds:g} s (STARBOARD_SQL_TIMEOUT_SECONDS)."
    )


def _pg_error(exc: BaseException, limits: SqlLimits) -> QueryError:
    if type(exc).__name__ == "QueryCanceled":
        return QueryError(_timeout_message(limits))
    return QueryError(f"The warehouse refused the statement: {_first_line(exc)}")


def value_bytes(value: Any) -> int:
    """About how many bytes ``value`` takes in the page's JSON or a CSV cell."""
    if value is None:
        return 4
    if isinstance(value, str):
        return len(value.encode("utf-8", "replace")) + 2
    if isinstance(value, bytes | bytearray | memoryview):
        return 2 * len(value) + 2  # shown as hex
    if isinstance(value, bool | int | float):
        return 8
    return len(str(value)) + 2


def row_bytes(row: tuple) -> int:
    """About how many bytes one result row takes on the page (values and field names)."""
    return sum(value_bytes(v) + 6 for v in row) + 2


def _sized_batches(
    runner: _Runner, max_rows: int, target_bytes: int, first: int = 100
) -> Iterator[list[tuple]]:
    """Row batches of at most ``max_rows`` + 1 rows in all, each about ``target_bytes``
    large: a result of wide rows is fetched a few rows at a time, so the process never
    holds much more than one batch beyond what the caller keeps."""
    fetched, size, want = 0, 0, first
    while fetched <= max_rows:
        rows = runner.fetch(max(1, min(want, max_rows + 1 - fetched)))
        if not rows:
            return
        fetched += len(rows)
        size += sum(row_bytes(r) for r in rows)
        yield rows
        average = max(1, size // fetched)
        want = max(1, min(5000, target_bytes // average))


def execute_sql(snap: Snapshot, text: str, limits: SqlLimits, policy: SqlPolicy) -> SqlResult:
    """The first rows of an already checked statement: at most ``limits.max_rows`` rows
    and ``limits.max_bytes`` bytes (whole rows), whichever comes first."""
    started = time.perf_counter()
    budget = limits.max_bytes or None
    rows: list[tuple] = []
    size, cut = 0, ""
    with open_sandbox(snap, limits, policy) as runner:
        columns = runner.start(text)
        target = max(1, min(budget or 8_000_000, 8_000_000) // 4)
        for batch in _sized_batches(runner, limits.max_rows, target):
            for row in batch:
                if len(rows) >= limits.max_rows:
                    cut = "rows"
                    break
                n = row_bytes(row)
                if budget is not None and size + n > budget:
                    cut = "bytes"
                    break
                rows.append(row)
                size += n
            if cut:
                break
    return SqlResult(
        columns,
        rows,
        bool(cut),
        limits.max_rows,
        (time.perf_counter() - started) * 1000,
        snap.version.id,
        byte_cap=limits.max_bytes,
        truncated_by=cut,
        size=size,
    )


def sandbox_batches(
    snap: Snapshot, text: str, limits: SqlLimits, policy: SqlPolicy, batch_bytes: int = 8_000_000
) -> tuple[tuple[str, ...], Iterator[list[tuple]]]:
    """Start an already checked statement now (so its errors come before any byte of a
    download) and return its column names and an iterator of row batches of about
    ``batch_bytes`` each (at most ``limits.max_rows`` + 1 rows: the exporter cuts at its
    caps). The sandbox stays open until the iterator ends or is closed."""

    def gen() -> Iterator[Any]:
        with open_sandbox(snap, limits, policy) as runner:
            yield runner.start(text)
            yield from _sized_batches(runner, limits.max_rows, batch_bytes)

    stream = gen()
    columns = next(stream)
    return columns, stream


# --------------------------------------------------------------------------- the page's door


@dataclass(frozen=True)
class SchemaTable:
    name: str
    columns: tuple[tuple[str, str, bool], ...]  # (column, type, pii)
    in_model: bool


def require_sql(user: object = None) -> Any:
    """The signed-in user when they may run free SQL (``sql`` and no row scope)."""
    user = user if user is not None else signed_in_user()
    require(user, "sql")
    return user


def limits_of(runtime: Runtime, *, export: bool = False) -> SqlLimits:
    """The SQL limits of the page (rows and bytes kept) or of its CSV download (rows; the
    export module caps its bytes)."""
    settings = runtime.settings
    return SqlLimits(
        timeout_seconds=settings.sql_timeout_seconds,
        max_rows=settings.sql_export_max_rows if export else settings.sql_max_rows,
        memory_limit=settings.sql_memory_limit,
        threads=settings.duckdb_threads,
        max_bytes=0 if export else settings.sql_max_bytes,
    )


def _warehouse_tables(runtime: Runtime, snap: Snapshot) -> dict[str, tuple[tuple[str, str], ...]]:
    key = f"queries.sql.tables:{snap.version.id}"
    cached = runtime.state.get(key)
    if cached is not None:
        return cached
    query = sa.text(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() ORDER BY table_name, "
        "ordinal_position"
    )
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
    return {
        name.lower(): frozenset(c.lower() for c in table.pii)
        for name, table in model.tables.items()
        if table.pii
    }


def schema_listing(runtime: Runtime | None = None) -> list[SchemaTable]:
    """The warehouse's tables and columns, the model's first, PII columns marked."""
    runtime = runtime or current_runtime()
    require_sql()
    snap = runtime.warehouse.snapshot()
    model = current_model(runtime)
    pii = _pii_columns(runtime)
    tables = [
        SchemaTable(
            name,
            tuple((c, kind, c.lower() in pii.get(name.lower(), ())) for c, kind in cols),
            name in model.tables,
        )
        for name, cols in _warehouse_tables(runtime, snap).items()
    ]
    return sorted(tables, key=lambda t: (not t.in_model, t.name))


def policy_for(runtime: Runtime, snap: Snapshot, user: object) -> SqlPolicy:
    """The policy of ``user`` on ``snap``: its tables and their columns, and the PII
    columns unless the user has the ``pii`` permission (the check and the sandbox)."""
    dialect = SQLGLOT_DIALECTS.get(snap.engine.dialect.name)
    if dialect is None:
        raise QueryError(f"Free SQL is not available on a {snap.engine.dialect.name} warehouse.")
    found = _warehouse_tables(runtime, snap)
    tables = frozenset(t.lower() for t in found)
    columns = tuple(sorted((t.lower(), tuple(c for c, _kind in cols)) for t, cols in found.items()))
    pii = (
        ()
        if can(user, "pii")
        else tuple(sorted((t, cols) for t, cols in _pii_columns(runtime).items() if t in tables))
    )
    schemas = frozenset({"", "main"} if dialect == "duckdb" else {""})
    return SqlPolicy(dialect, tables, schemas, pii, columns)


def _audit(runtime: Runtime, user: Any, event: str, text: str, detail: dict) -> None:
    """Write one audit event; AuditUnavailable when the metadata database refuses it."""
    try:
        runtime.users.audit(getattr(user, "name", "?"), event, {"statement": text[:4000], **detail})
    except (sa.exc.SQLAlchemyError, MetaUnavailable) as exc:
        log.error(
            "could not audit %s for %s: %s", event, getattr(user, "name", "?"), _first_line(exc)
        )
        raise AuditUnavailable(
            "Not run: the audit log cannot be written right now (the metadata database is "
            "busy or unavailable), and no statement runs unaudited. Try again in a "
            "moment."
        ) from exc


def _outcome(exc: StarboardError) -> str:
    if exc.message.startswith("Refused"):
        return "refused"
    return "timeout" if exc.message.startswith("Stopped") else "error"


def _audit_outcome(runtime: Runtime, user: Any, event: str, text: str, detail: dict) -> None:
    """The closing record of an attempt whose start (or refusal) is already decided: a
    failure to write it is logged, and the user still sees what happened."""
    try:
        _audit(runtime, user, event, text, detail)
    except AuditUnavailable:
        pass


def run_sql(text: str, *, runtime: Runtime | None = None) -> SqlResult:
    """Check and run one statement for the signed-in user; every attempt is audited, and a
    statement whose start cannot be audited does not run (AuditUnavailable)."""
    runtime = runtime or current_runtime()
    user = require_sql()
    started = time.perf_counter()
    try:
        snap = runtime.warehouse.snapshot()
        policy = policy_for(runtime, snap, user)
        check_sql(text, policy)
        # a start record too: a cancelled job is killed before it could write its outcome
        _audit(runtime, user, "sql_start", text, {"version": snap.version.id})
        result = execute_sql(snap, text, limits_of(runtime), policy)
    except AuditUnavailable:
        raise
    except (QueryError, AccessDenied) as exc:
        _audit_outcome(
            runtime,
            user,
            "sql_run",
            text,
            {
                "outcome": _outcome(exc),
                "message": exc.message,
                "rows": 0,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        raise
    _audit_outcome(
        runtime,
        user,
        "sql_run",
        text,
        {
            "outcome": "ok",
            "rows": len(result.rows),
            "truncated": result.truncated,
            "truncated_by": result.truncated_by,
            "bytes": result.size,
            "ms": round(result.ms, 1),
            "version": result.version,
        },
    )
    log.info(
        "sql user=%s rows=%d bytes=%d ms=%.1f",
        getattr(user, "name", "?"),
        len(result.rows),
        result.size,
        result.ms,
    )
    return result


def csv_export(text: str, *, runtime: Runtime | None = None) -> Response:
    """A streamed CSV download of one statement for the signed-in user: checked and started
    before the response, capped (``STARBOARD_SQL_EXPORT_MAX_ROWS``, the role's export cap
    and ``STARBOARD_EXPORT_MAX_BYTES``), audited by the export module before the first
    byte and when the stream ends."""
    runtime = runtime or current_runtime()
    user = require_sql()
    snap = runtime.warehouse.snapshot()
    started = time.perf_counter()
    try:
        policy = policy_for(runtime, snap, user)
        check_sql(text, policy)
        limits = limits_of(runtime, export=True)
        columns, batches = sandbox_batches(snap, text, limits, policy)
    except (QueryError, AccessDenied) as exc:
        _audit_outcome(
            runtime,
            user,
            "sql_export",
            text,
            {
                "outcome": _outcome(exc),
                "message": exc.message,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        raise
    source = export.RowSource(
        columns, batches=lambda: batches, what="sql", detail={"statement": text[:4000]}
    )
    try:
        return export.csv_response(source, "starboard-sql.csv", cap=limits.max_rows)
    except BaseException:
        batches.close()  # not delivered: close the sandbox now
        raise
