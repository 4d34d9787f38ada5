"""SQL snippets of the model (metric ``sql``, ``filter`` and ``expr``): checked and rendered.

A metric's ``sql`` and ``filter`` are written once, in plain SQL over the fact's own
columns (unqualified) and the columns of tables or roles the fact reaches through
many-to-one joins (``table.column``). They are parsed with sqlglot, checked against a
whitelist (column references, literals, arithmetic, comparisons, CASE and a few
functions: no subqueries, no statements), qualified (unqualified columns with the fact
table), and rendered for the target dialect.
A computed dimension's ``sql`` is checked the same way (a row-level expression: no
aggregates) and rendered over its own table.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import cast

import sqlalchemy as sa
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from app.core.errors import QueryError
from queries.semantic import aggregates as order_stats

AGGREGATES: tuple[type[exp.Expression], ...] = (
    exp.Sum,
    exp.Count,
    exp.Avg,
    exp.Min,
    exp.Max,
    exp.CountIf,
    exp.Stddev,
    exp.StddevPop,
    exp.StddevSamp,
    exp.Variance,
    exp.VariancePop,
    exp.Median,
    exp.WithinGroup,  # percentile_cont/percentile_disc(f) WITHIN GROUP (ORDER BY x)
)
# Inside an ordered-set aggregate only (checked by _check_order_statistics).
_ORDERED_SET_NODES: tuple[type[exp.Expression], ...] = (
    exp.PercentileCont,
    exp.PercentileDisc,
    exp.Order,
    exp.Ordered,
)
SCALAR_FUNCTIONS: tuple[type[exp.Expression], ...] = (
    exp.Coalesce,
    exp.Nullif,
    exp.Abs,
    exp.Round,
    exp.Floor,
    exp.Ceil,
    exp.Greatest,
    exp.Least,
    exp.Lower,
    exp.Upper,
    exp.Length,
    exp.Cast,
    exp.Case,
    exp.If,
)
OPERATORS: tuple[type[exp.Expression], ...] = (
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Mod,
    exp.Neg,
    exp.Paren,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.And,
    exp.Or,
    exp.Not,
    exp.Is,
    exp.In,
    exp.Between,
    exp.Like,
    exp.ILike,
)
LEAVES: tuple[type[exp.Expression], ...] = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.DataType,
)
_SNIPPET_NODES = (
    AGGREGATES
    + SCALAR_FUNCTIONS
    + OPERATORS
    + LEAVES
    + _ORDERED_SET_NODES
    + (exp.Star, exp.Distinct)
)
_EXPR_NODES = (
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Neg,
    exp.Paren,
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Coalesce,
    exp.Abs,
)

# SQLAlchemy dialect name → sqlglot dialect name, where they differ.
_SQLGLOT_DIALECTS = {"postgresql": "postgres", "mssql": "tsql", "awsathena": "athena"}


def sqlglot_dialect(dialect: sa.engine.Dialect | str) -> str:
    """The sqlglot dialect name for a SQLAlchemy dialect (or dialect name)."""
    name = dialect if isinstance(dialect, str) else dialect.name
    return _SQLGLOT_DIALECTS.get(name, name)


def _parse(sql: str, where: str) -> exp.Expression:
    """Parse one SQL expression (not a statement) or raise QueryError naming ``where``."""
    if not isinstance(sql, str) or not sql.strip():
        raise QueryError(f"{where}: empty SQL expression")
    try:
        trees = [t for t in sqlglot.parse(sql) if t is not None]
    except (ParseError, sqlglot.errors.TokenError) as err:
        raise QueryError(f"{where}: cannot parse {sql!r}: {err}") from err
    if len(trees) != 1:
        raise QueryError(f"{where}: expected one expression, got {len(trees)} in {sql!r}")
    return cast(exp.Expression, trees[0])


def _check_nodes(tree: exp.Expression, allowed: tuple[type, ...], sql: str, where: str) -> None:
    """Reject any node type outside ``allowed`` (subqueries, statements, unknown functions)."""
    for node in tree.walk():
        if not isinstance(node, allowed):
            name = node.sql() if isinstance(node, exp.Anonymous) else type(node).__name__
            raise QueryError(f"{where}: {name!r} is not allowed in {sql!r}")
        if isinstance(node, exp.Column) and (node.args.get("db") or node.args.get("catalog")):
            raise QueryError(
                f"{where}: write a column as column or table.column ({node.sql()!r} in {sql!r})"
            )
        if isinstance(node, exp.In) and node.args.get("query") is not None:
            raise QueryError(f"{where}: subqueries are not allowed in {sql!r}")


def _inside_aggregate(node: exp.Expression) -> bool:
    """True when ``node`` sits inside an aggregate function call."""
    parent = node.parent
    while parent is not None:
        if isinstance(parent, AGGREGATES):
            return True
        parent = parent.parent
    return False


def _outer_aggregates(tree: exp.Expression) -> Iterator[exp.Expression]:
    """Aggregate calls not nested in another aggregate."""
    for node in tree.walk():
        if isinstance(node, AGGREGATES) and not _inside_aggregate(node):
            yield node


def check_aggregate(sql: str, where: str) -> exp.Expression:
    """Parse and check a metric's ``sql``: aggregates over columns, nothing else."""
    tree = order_stats.normalise(_parse(sql, where), sql, where)
    _check_nodes(tree, _SNIPPET_NODES, sql, where)
    aggregates = list(_outer_aggregates(tree))
    if not aggregates:
        raise QueryError(f"{where}: {sql!r} has no aggregate (sum, count, avg, min, max …)")
    for agg in aggregates:
        if any(isinstance(n, AGGREGATES) for n in agg.walk() if n is not agg):
            raise QueryError(f"{where}: nested aggregates are not allowed in {sql!r}")
    for node in tree.find_all(exp.Column):
        if not _inside_aggregate(node):
            raise QueryError(
                f"{where}: column {node.sql()!r} must be inside an aggregate in {sql!r}"
            )
    for star in tree.find_all(exp.Star):
        if not isinstance(star.parent, exp.Count):
            raise QueryError(f"{where}: '*' is only allowed as count(*) in {sql!r}")
    return tree


def check_predicate(sql: str, where: str) -> exp.Expression:
    """Parse and check a metric's ``filter``: a row-level predicate, no aggregates."""
    tree = _parse(sql, where)
    _check_nodes(tree, _SNIPPET_NODES, sql, where)
    if any(isinstance(n, AGGREGATES + (exp.Star, exp.Distinct)) for n in tree.walk()):
        raise QueryError(f"{where}: a filter is a row predicate; no aggregates in {sql!r}")
    return tree


def check_metric_expr(expr: str, where: str) -> exp.Expression:
    """Parse and check an ``expr`` metric: arithmetic over other metrics' names."""
    tree = _parse(expr, where)
    _check_nodes(tree, _EXPR_NODES, expr, where)
    for node in tree.find_all(exp.Literal):
        if node.is_string:
            raise QueryError(f"{where}: only numbers are allowed as literals in {expr!r}")
    return tree


def qualified_columns(sql: str | None) -> list[tuple[str, str, int]]:
    """(table, "table.column", number of name parts) of each qualified column in a metric's
    ``sql`` or ``filter``, no repeats; [] for no text or text that does not parse (reported
    elsewhere)."""
    if not sql:
        return []
    try:
        tree = sqlglot.parse_one(sql)
    except (ParseError, sqlglot.errors.TokenError):
        return []
    seen: dict[str, tuple[str, str, int]] = {}
    for node in tree.find_all(exp.Column):
        if node.table:
            parts = 2 + bool(node.args.get("db")) + bool(node.args.get("catalog"))
            seen.setdefault(node.sql(), (node.table, node.sql(), parts))
    return list(seen.values())


def snippet_tables(sql: str | None, filter_sql: str | None = None) -> list[str]:
    """Tables or roles a metric's ``sql``/``filter`` name in ``table.column``, in order."""
    names = [t for text in (sql, filter_sql) for t, _, _ in qualified_columns(text)]
    return list(dict.fromkeys(names))


def referenced_columns(tree: exp.Expression) -> list[str]:
    """Names of the columns (or metrics, in an expr) a parsed snippet refers to, in order."""
    seen: dict[str, None] = {}
    for node in tree.find_all(exp.Column):
        seen.setdefault(node.name, None)
    return list(seen)


def _safe_division(tree: exp.Expression) -> exp.Expression:
    """Rewrite every ``a / b`` as ``CAST(a AS DOUBLE) / NULLIF(b, 0)``: NULL on zero."""

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Div) and not node.args.get("safe_done"):
            new = exp.Div(
                this=exp.Cast(
                    this=exp.paren(node.this, copy=False), to=exp.DataType.build("double")
                ),
                expression=exp.Nullif(this=node.expression, expression=exp.Literal.number(0)),
            )
            new.set("safe_done", True)
            return new
        return node

    return tree.transform(rewrite, copy=False)


def _apply_filter(tree: exp.Expression, predicate: exp.Expression) -> exp.Expression:
    """Move a row predicate inside every outer aggregate: ``sum(CASE WHEN p THEN x END)``."""

    def only_when(value: exp.Expression) -> exp.Expression:
        return exp.Case(ifs=[exp.If(this=predicate.copy(), true=value)])

    for agg in list(_outer_aggregates(tree)):
        arg = agg.this
        if isinstance(agg, exp.WithinGroup):
            order_stats.fold_filter(agg, only_when)
        elif isinstance(agg, exp.CountIf):
            agg.set("this", exp.and_(exp.paren(predicate.copy()), exp.paren(arg)))
        elif isinstance(arg, exp.Star):
            agg.set("this", only_when(exp.Literal.number(1)))
        elif isinstance(arg, exp.Distinct):
            inner = arg.expressions
            if len(inner) != 1:
                raise QueryError("count(distinct …) over several columns cannot take a filter")
            arg.set("expressions", [only_when(inner[0])])
        elif arg is not None:
            agg.set("this", only_when(arg))
        else:
            raise QueryError(f"cannot apply a filter to {agg.sql()!r}")
    return tree


def _quoter(dialect: sa.engine.Dialect) -> Callable[[str], exp.Identifier]:
    """An identifier builder that quotes exactly when the SQLAlchemy dialect would."""
    preparer = dialect.identifier_preparer

    def ident(name: str) -> exp.Identifier:
        return exp.Identifier(this=name, quoted=preparer.quote(name) != name)

    return ident


def render_aggregate(
    sql: str,
    filter_sql: str | None,
    table: str,
    dialect: sa.engine.Dialect,
    where: str = "metric",
) -> str:
    """The aggregate ``sql`` (with ``filter_sql`` folded in) as SQL text for ``dialect``."""
    return _render_aggregate(sql, filter_sql, table, _DialectKey(dialect), where)


class _DialectKey:
    """A dialect as a cache key: equal when the SQL it renders is the same."""

    def __init__(self, dialect: sa.engine.Dialect) -> None:
        self.dialect = dialect
        self.key = (dialect.name, type(dialect.identifier_preparer).__name__)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _DialectKey) and other.key == self.key


def render_predicate(
    filter_sql: str, table: str, dialect: sa.engine.Dialect, where: str = "metric.filter"
) -> str:
    """A metric's ``filter`` as a WHERE-clause predicate on ``table`` for ``dialect``."""
    return _render_predicate(filter_sql, table, _DialectKey(dialect), where)


def _qualify(tree: exp.Expression, table: str, ident: Callable[[str], exp.Identifier]) -> None:
    """Qualify every column: unqualified ones with ``table`` (the fact), ``t.column`` keeps
    its table or role (the compiler joins it under that name)."""
    for column in list(tree.find_all(exp.Column)):
        column.replace(exp.Column(this=ident(column.name), table=ident(column.table or table)))


@functools.lru_cache(maxsize=4096)
def _render_predicate(filter_sql: str, table: str, dialect: _DialectKey, where: str) -> str:
    tree = check_predicate(filter_sql, where)
    ident = _quoter(dialect.dialect)
    _qualify(tree, table, ident)
    return exp.paren(tree, copy=False).sql(dialect=sqlglot_dialect(dialect.dialect))


@functools.lru_cache(maxsize=4096)
def _render_aggregate(
    sql: str, filter_sql: str | None, table: str, key: _DialectKey, where: str
) -> str:
    dialect = key.dialect
    tree = check_aggregate(sql, where)
    if filter_sql:
        tree = _apply_filter(tree, check_predicate(filter_sql, f"{where}.filter"))
    ident = _quoter(dialect)
    _qualify(tree, table, ident)
    tree = _safe_division(tree)
    tree = order_stats.for_dialect(tree, sqlglot_dialect(dialect))
    if not isinstance(tree, exp.Func | exp.Column | exp.Paren | exp.WithinGroup):
        tree = exp.paren(tree, copy=False)
    return tree.sql(dialect=sqlglot_dialect(dialect))


def validate_metric_sql(sql: str, filter_sql: str | None, where: str = "metric") -> None:
    """Check a metric's ``sql``/``filter`` without rendering (for model validation)."""
    check_aggregate(sql, where)
    if filter_sql:
        check_predicate(filter_sql, f"{where}.filter")


# --------------------------------------------------------------------------- dimensions

# Date parts a computed dimension may extract, by the names sqlglot may give them. Each is
# an integer on DuckDB and PostgreSQL alike once cast (PostgreSQL's EXTRACT is numeric);
# dow is 0 = Sunday … 6 = Saturday and isodow 1 = Monday … 7 = Sunday on both.
DATE_PARTS = {
    "year": "year",
    "isoyear": "isoyear",
    "quarter": "quarter",
    "month": "month",
    "week": "week",
    "day": "day",
    "dayofmonth": "day",
    "dow": "dow",
    "dayofweek": "dow",
    "isodow": "isodow",
    "doy": "doy",
    "dayofyear": "doy",
    "hour": "hour",
    "minute": "minute",
}
_DIMENSION_NODES = SCALAR_FUNCTIONS + OPERATORS + LEAVES + (exp.Extract, exp.Var, exp.DPipe)


def check_dimension_sql(sql: str, where: str) -> exp.Expression:
    """Parse and check a computed dimension's ``sql``: a row-level expression over one
    table's columns (CASE, arithmetic, date parts); no aggregates, subqueries or statements."""
    tree = _parse(sql, where)
    for node in tree.walk():
        if isinstance(node, AGGREGATES + (exp.Star, exp.Distinct)):
            raise QueryError(
                f"{where}: a dimension is a value per row: no aggregates in {sql!r} "
                "(put aggregates in a metric)"
            )
        if isinstance(node, exp.Subquery | exp.Query) or (
            isinstance(node, exp.In) and node.args.get("query") is not None
        ):
            raise QueryError(f"{where}: subqueries are not allowed in {sql!r}")
        if not isinstance(node, _DIMENSION_NODES):
            name = node.sql() if isinstance(node, exp.Anonymous) else type(node).__name__
            raise QueryError(f"{where}: {name!r} is not allowed in {sql!r}")
        if isinstance(node, exp.Var) and not isinstance(node.parent, exp.Extract):
            raise QueryError(f"{where}: {node.sql()!r} is not allowed in {sql!r}")
        if isinstance(node, exp.Extract):
            part = node.this.name.lower() if isinstance(node.this, exp.Var | exp.Literal) else ""
            if part not in DATE_PARTS:
                parts = ", ".join(sorted(set(DATE_PARTS.values())))
                raise QueryError(
                    f"{where}: extract({node.this.sql()} …) is not a supported date part; "
                    f"use one of {parts}"
                )
        if isinstance(node, exp.Column) and node.table:
            raise QueryError(
                f"{where}: write columns unqualified ({node.sql()!r} in {sql!r}); "
                "they always refer to the dimension's `table`"
            )
    if tree.find(exp.Column) is None:
        raise QueryError(f"{where}: {sql!r} reads no column: a dimension varies by row")
    return tree


def _unparen(tree: exp.Expression) -> exp.Expression:
    while isinstance(tree, exp.Paren):
        tree = tree.this
    return tree


def _literal_kind(node: exp.Expression) -> str | None:
    node = _unparen(node)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return "text"
        return "integer" if _INT_TEXT.fullmatch(node.this) else "number"
    if isinstance(node, exp.Null):
        return "null"
    return expression_kind(node)


_INT_TEXT = re.compile(r"[0-9]+")
_CAST_KINDS = (
    (
        {"tinyint", "smallint", "int", "bigint", "ubigint", "uint", "usmallint", "utinyint"},
        "integer",
    ),
    ({"float", "double", "decimal", "money"}, "number"),
    ({"varchar", "text", "char", "nvarchar", "nchar"}, "text"),
    ({"date"}, "date"),
    ({"timestamp", "timestamptz", "datetime"}, "timestamp"),
    ({"boolean"}, "boolean"),
)


def expression_kind(tree: exp.Expression) -> str | None:
    """The value kind (compile.TYPE_KINDS) a dimension expression yields, when the
    expression alone says (None: unknown, e.g. a bare column)."""
    node = _unparen(tree)
    if isinstance(node, exp.Extract | exp.Length):
        return "integer"
    if isinstance(node, exp.Cast):
        name = node.to.this.name.lower() if node.to is not None else ""
        return next((kind for names, kind in _CAST_KINDS if name in names), None)
    if isinstance(node, exp.Case | exp.If | exp.Coalesce):
        if isinstance(node, exp.Case):
            branches = [i.args.get("true") for i in node.args.get("ifs") or []]
            branches.append(node.args.get("default"))
        elif isinstance(node, exp.If):
            branches = [node.args.get("true"), node.args.get("false")]
        else:
            branches = [node.this, *node.expressions]
        kinds = {_literal_kind(b) for b in branches if b is not None} - {"null"}
        if kinds == {"integer", "number"}:
            return "number"
        return kinds.pop() if len(kinds) == 1 else None
    if isinstance(node, exp.DPipe | exp.Lower | exp.Upper):
        return "text"
    if isinstance(node, exp.Div):
        return "number"
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Mod | exp.Neg):
        kinds = {_literal_kind(n) for n in (node.this, node.args.get("expression")) if n}
        return "integer" if kinds == {"integer"} else "number"
    if isinstance(node, exp.Floor | exp.Ceil | exp.Round | exp.Abs):
        return "number"
    if isinstance(node, exp.Predicate | exp.And | exp.Or | exp.Not):
        return "boolean"
    return None


def render_dimension(sql: str, table: str, dialect: sa.engine.Dialect, where: str) -> str:
    """A computed dimension's ``sql`` as SQL text for ``dialect``, its columns qualified
    with ``table`` (the table's name or alias in the FROM clause)."""
    return _render_dimension(sql, table, _DialectKey(dialect), where)


@functools.lru_cache(maxsize=4096)
def _render_dimension(sql: str, table: str, key: _DialectKey, where: str) -> str:
    tree = check_dimension_sql(sql, where)
    ident = _quoter(key.dialect)
    for column in list(tree.find_all(exp.Column)):
        column.replace(exp.Column(this=ident(column.name), table=ident(table)))

    def integer_parts(node: exp.Expression) -> exp.Expression:
        # EXTRACT is BIGINT on DuckDB and numeric on PostgreSQL: an INTEGER on both.
        if isinstance(node, exp.Extract) and not node.args.get("cast_done"):
            part = DATE_PARTS[node.this.name.lower()]
            node.set("this", exp.var(part.upper()))
            node.set("cast_done", True)
            return exp.Cast(this=node, to=exp.DataType.build("int"))
        return node

    tree = tree.transform(integer_parts, copy=False)
    tree = _safe_division(tree)
    return exp.paren(tree, copy=False).sql(dialect=sqlglot_dialect(key.dialect))
