"""A model checked against a live warehouse: tables, columns, types, metric SQL and join keys."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlglot
from sqlglot import exp

from app.core.errors import Problem
from queries.semantic.graph import reachable_tables, unreachable
from queries.semantic.load import suggest
from queries.semantic.model import load_model_partial
from queries.semantic.tree_check import check_tree
from queries.semantic.types import SemanticModel

_SQLGLOT_DIALECTS = {
    "duckdb": "duckdb",
    "postgresql": "postgres",
    "redshift": "redshift",
    "trino": "trino",
    "clickhouse": "clickhouse",
    "bigquery": "bigquery",
    "snowflake": "snowflake",
    "sqlite": "sqlite",
    "mysql": "mysql",
}


def warehouse_columns(conn: sa.Connection) -> dict[str, dict[str, str]]:
    """table → column → upper-case type name, for the connection's default schema."""
    query = sa.text(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_catalog = current_database()"
    )
    out: dict[str, dict[str, str]] = {}
    try:
        rows = conn.execute(query).all()
    except sa.exc.DBAPIError:
        conn.rollback()
        # warehouses without information_schema: fall back to SQLAlchemy's reflection
        inspector = sa.inspect(conn)
        for table in inspector.get_table_names() + inspector.get_view_names():
            out[table] = {c["name"]: str(c["type"]).upper() for c in inspector.get_columns(table)}
        return out
    for table, column, type_ in rows:
        out.setdefault(str(table), {})[str(column)] = str(type_).upper()
    return out


def _is_temporal(type_name: str) -> bool:
    return type_name.startswith("DATE") or type_name.startswith("TIMESTAMP")


def check_model_against_warehouse(
    model: SemanticModel, engine: sa.Engine, broken: tuple[str, ...] = ()
) -> list[Problem]:
    """Compare a model with a live warehouse (read-only) and list every mismatch found:
    tables, columns, types, metric SQL, join keys, and that each tree identity holds.

    ``broken``: keys with problems from loading (``model`` is then the part that loaded);
    the tree relations they touch are not evaluated."""
    problems: list[Problem] = []

    def add(key: str, message: str) -> None:
        problem = Problem(str(model.path), model.line_of(key), key, message)
        if problem not in problems:
            problems.append(problem)

    try:
        conn = engine.connect()
    except sa.exc.DBAPIError as exc:
        add("warehouse", f"cannot connect to the warehouse: {str(exc.orig).strip()}")
        return problems
    with conn:
        columns = warehouse_columns(conn)
        _check_structure(model, columns, add)
        _check_metric_sql(model, columns, engine.dialect.name, add)
        for problem in check_columns(model, columns):
            add(*problem)
        _check_join_keys(model, columns, conn, add)
        conn.rollback()  # read-only: nothing to keep
        # a relation is evaluated only where its tables, columns and metrics are sound
        check_tree(model, conn, add, (*broken, *(p.key for p in problems)))
        conn.rollback()
    return problems


def _check_structure(model: SemanticModel, columns: dict[str, dict[str, str]], add: Any) -> None:
    """Tables, key, join, pii, dimension and time columns exist; time columns are temporal."""

    def has(table: str, column: str, key: str) -> bool:
        cols = columns.get(table)
        if cols is None:
            return False
        if column not in cols:
            add(key, f"column '{column}' does not exist in table '{table}'{suggest(column, cols)}")
            return False
        return True

    for table in model.tables.values():
        key = f"tables.{table.name}"
        if table.name not in columns:
            add(
                key,
                f"table '{table.name}' does not exist in the warehouse"
                f"{suggest(table.name, columns)}",
            )
            continue
        for col in table.primary_key:
            has(table.name, col, f"{key}.primary_key")
        for col in sorted(table.pii):
            has(table.name, col, f"{key}.pii")
        for join in table.joins:
            jkey = f"{key}.joins.{join.target}"
            has(table.name, join.from_column, jkey)
            if join.table in columns:
                has(join.table, join.to_column, jkey)
        if table.time:
            owner, _, col = table.time.rpartition(".")
            owner = model.physical(owner) if owner else table.name  # a role: its table
            if owner in columns and has(owner, col, f"{key}.time"):
                type_name = columns[owner][col]
                if not _is_temporal(type_name):
                    add(
                        f"{key}.time",
                        f"time column '{owner}.{col}' is {type_name}, not a DATE or TIMESTAMP",
                    )
    for dim in model.dimensions.values():
        key = f"dimensions.{dim.name}"
        if dim.table and dim.column and model.physical(dim.table) in columns:
            if (
                has(model.physical(dim.table), dim.column, f"{key}.column")
                and dim.secondary_time
                and not _is_temporal(type_name := columns[model.physical(dim.table)][dim.column])
            ):
                add(
                    f"{key}.column",
                    f"a time dimension's column is a DATE or TIMESTAMP; "
                    f"'{dim.table}.{dim.column}' is {type_name}",
                )
        elif dim.table and dim.sql is not None and model.physical(dim.table) in columns:
            for column in dim.reads:  # a computed dimension's sql reads its table's columns
                has(model.physical(dim.table), column, f"{key}.sql")


def check_columns(
    model: SemanticModel, columns: Mapping[str, Mapping[str, str]]
) -> list[tuple[str, str]]:
    """(key, message) for every column a data quality check names that the warehouse lacks."""
    out: list[tuple[str, str]] = []
    for check in model.checks:
        cols = columns.get(check.table)
        if cols is None:
            continue  # the table itself is reported already
        for column in check.columns:
            if column not in cols:
                out.append(
                    (
                        f"{check.key}.column",
                        f"column '{column}' does not exist in "
                        f"table '{check.table}'"
                        f"{suggest(column, cols)}",
                    )
                )
        if (
            check.to is not None
            and check.to[0] in columns
            and check.to[1] not in columns[check.to[0]]
        ):
            out.append(
                (
                    f"{check.key}.to",
                    f"column '{check.to[1]}' does not exist in table '{check.to[0]}'",
                )
            )
    return out


def _check_metric_sql(
    model: SemanticModel, columns: dict[str, dict[str, str]], dialect: str, add: Any
) -> None:
    """Every column in an aggregate metric's sql and filter exists: unqualified ones in its
    fact, ``t.column`` in the table ``t`` names (a role: its physical table)."""
    read = _SQLGLOT_DIALECTS.get(dialect)
    for metric in model.metrics.values():
        if metric.kind != "aggregate" or not metric.fact:
            continue
        fact_cols = columns.get(metric.fact)
        for field_, text in (("sql", metric.sql), ("filter", metric.filter)):
            if not text:
                continue
            key = f"metrics.{metric.name}.{field_}"
            try:
                tree = sqlglot.parse_one(text, read=read)
            except sqlglot.errors.ParseError as exc:
                first = exc.errors[0]["description"] if exc.errors else str(exc)
                add(key, f"cannot parse {text!r}: {first}")
                continue
            if fact_cols is None:
                continue
            reachable = reachable_tables(model, metric.fact)
            for column in tree.find_all(exp.Column):
                owner = column.table or metric.fact
                physical = model.physical(owner)
                if owner not in reachable:
                    add(key, f"{unreachable(model, metric.fact, owner)}{suggest(owner, reachable)}")
                    continue
                cols = columns.get(physical)
                if cols is None:
                    continue  # the missing table is reported with its tables entry
                if column.name not in cols:
                    role = f" (role '{owner}')" if owner != physical else ""
                    add(
                        key,
                        f"column '{column.name}' does not exist in table '{physical}'{role}"
                        f"{suggest(column.name, cols)}",
                    )


def _check_join_keys(
    model: SemanticModel, columns: dict[str, dict[str, str]], conn: sa.Connection, add: Any
) -> None:
    """The key each join lands on is unique in its target, or the join multiplies fact rows."""
    keys: dict[tuple[str, tuple[str, ...]], str] = {}
    for owner in model.tables.values():
        for join in owner.joins:
            target = model.tables.get(join.table)  # a role lands on its physical table
            if target is None:
                continue
            to_cols: tuple[str, ...] = (join.to_column,)
            key = (
                f"tables.{target.name}.primary_key"
                if target.primary_key == to_cols
                else f"tables.{owner.name}.joins.{join.target}"
            )
            keys.setdefault((target.name, to_cols), key)
            if target.primary_key:
                keys.setdefault(
                    (target.name, target.primary_key), f"tables.{target.name}.primary_key"
                )
    for (name, cols), key in sorted(keys.items(), key=lambda kv: kv[1]):
        if any(c not in columns.get(name, {}) for c in cols):
            continue  # missing table or column: reported already
        source = sa.table(name, *(sa.column(c) for c in cols))
        grouped = (
            sa.select(*(source.c[c] for c in cols), sa.func.count().label("n"))
            .where(*(source.c[c].is_not(None) for c in cols))
            .group_by(*(source.c[c] for c in cols))
            .having(sa.func.count() > 1)
        )
        counted = sa.select(sa.func.count()).select_from(grouped.subquery())
        sample = grouped.order_by(sa.desc("n")).limit(3)
        try:
            duplicated = conn.execute(counted).scalar_one()
            examples = conn.execute(sample).all() if duplicated else []
        except sa.exc.DBAPIError as exc:
            conn.rollback()
            add(
                key,
                f"cannot check that {', '.join(cols)} is unique in '{name}': "
                f"{str(exc.orig).splitlines()[0]}",
            )
            continue
        if duplicated:
            shown = ", ".join(f"{'/'.join(map(str, row[:-1]))} ×{row[-1]}" for row in examples)
            add(
                key,
                f"{', '.join(cols)} is not unique in '{name}': {duplicated} value(s) "
                f"occur more than once (e.g. {shown}); joining on it would multiply "
                "fact rows",
            )


def check(model_path: str | Path, engine: sa.Engine) -> list[Problem]:
    """Load a model and check it against a warehouse: every problem in one run, [] when all
    is well. A model with structural problems is still checked against the warehouse on the
    parts that loaded, so both kinds are reported together (sorted by line)."""
    model, problems = load_model_partial(model_path)
    if model is None:
        return problems
    found = check_model_against_warehouse(model, engine, tuple(p.key for p in problems))
    merged = list(problems) + [p for p in found if p not in problems]
    return sorted(merged, key=lambda p: (p.line is None, p.line or 0))
