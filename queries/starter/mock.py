"""A realistic mock warehouse for any semantic model (``starboard mock``).

Everything is inferred from the model: its tables, keys and joins, the columns its
dimensions, metrics (``sql``/``filter``, parsed with sqlglot), checks and time columns
name, plus the optional ``tables.<t>.columns`` hints. Tables are generated in join order
(``graphlib``), so every foreign key value exists in its dimension (snowflakes too);
fact → dimension picks follow a Zipf law (a few members get most rows); fact rows per day
follow weekly and yearly seasonality and year-over-year growth. Values follow each
column's role: sums and averages are positive log-normal numbers, ``count(distinct x)``
columns are ids, filter literals and accepted values become the values of text columns
(first listed most frequent, so funnels narrow), check bounds are respected, and names
say the rest (``is_*`` booleans, ``*_at`` timestamps, ``*_on``/``*_date`` dates, e-mail
addresses, readable labels such as "Store 12"). Deterministic for a seed and an end date;
numpy-vectorised.
"""

from __future__ import annotations

import graphlib
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp

from app.core.errors import DataError
from queries.semantic.types import ColumnHint, SemanticModel, Table

DEFAULT_ROWS = 100_000
DEFAULT_DAYS = 730
DEFAULT_SEED = 42
WEEKEND_FACTOR = 0.65  # a weekend day gets 65 % of a weekday's rows
YEARLY_AMPLITUDE = 0.2  # ±20 % over the year, peaking in late December
YEARLY_GROWTH = 1.35  # +35 % a year
ZIPF_EXPONENT = 1.1  # fact → dimension picks
VALUE_DECAY = 0.6  # each listed value is 60 % as frequent as the one before it
TRUE_SHARE = 0.3
OTHER = "other"  # a text column's value beyond those the model's filters name
MAX_COMBINATIONS = 5_000_000  # composite keys of foreign keys: exact sampling up to this

TYPES: dict[str, pa.DataType] = {
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(),
    "VARCHAR": pa.string(),
    "BOOLEAN": pa.bool_(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
}
_INTEGER_TYPES = ("BIGINT", "INTEGER")
_MEASURE_AGGREGATES = (
    exp.Sum,
    exp.Avg,
    exp.Min,
    exp.Max,
    exp.Stddev,
    exp.StddevPop,
    exp.StddevSamp,
    exp.Variance,
    exp.VariancePop,
)
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
_COUNT_LIKE = re.compile(
    r"(^|_)(n|num|count|cnt|qty|quantity|units|items|clicks|impressions|views|visits|seq|"
    r"floors|rooms|seats|pages|copies|age|rank|level|score|rating|satisfaction|stars|days|"
    r"nights|renewals|attempts|retries|members|people|guests)(_|$|s$)"
)
_MONEY_LIKE = re.compile(r"(price|amount|revenue|cost|spend|value|total|fee|sales|budget)")
_TABLE_PREFIX = re.compile(r"^(fct|fact|dim|dimension|f|d|stg|raw|tbl)_")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_HOLIDAYS = ((1, 1), (5, 1), (12, 25), (12, 26))


@dataclass(frozen=True)
class MockOptions:
    """How much data, over which days, from which seed."""

    rows: int = DEFAULT_ROWS  # rows per fact table
    seed: int = DEFAULT_SEED
    end_date: date | None = None  # default: yesterday (UTC)
    days: int = DEFAULT_DAYS

    def last_day(self) -> date:
        """The last day with data."""
        return self.end_date or datetime.now(UTC).date() - timedelta(days=1)

    def first_day(self) -> date:
        """The first day with data."""
        return self.last_day() - timedelta(days=self.days - 1)

    def check(self) -> None:
        """DataError when an option is out of range."""
        if isinstance(self.rows, bool) or not isinstance(self.rows, int) or self.rows < 1:
            raise DataError(f"--rows {self.rows!r}: give at least 1 row per fact table.")
        if isinstance(self.days, bool) or not isinstance(self.days, int) or self.days < 1:
            raise DataError(f"--days {self.days!r}: give at least 1 day.")
        if self.seed < 0:
            raise DataError(f"--seed {self.seed!r}: give a whole number of 0 or more.")


@dataclass
class _Evidence:
    """What the model says about one column (filled while reading the model)."""

    order: int
    pk: bool = False
    fk: tuple[str, str] | None = None
    join_key: bool = False  # another table joins to this column
    time: bool = False
    dimension: bool = False
    measure: bool = False
    distinct: bool = False
    boolean: bool = False
    email: bool = False
    not_null: bool = False
    unique: bool = False
    texts: list[str] = field(default_factory=list)
    accepted: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    at_most: str | None = None
    hint: ColumnHint | None = None


@dataclass(frozen=True)
class ColumnPlan:
    """How one column is generated."""

    name: str
    type: str  # a key of TYPES
    role: str  # key fk time calendar measure id category label email bool date timestamp code
    values: tuple[Any, ...] = ()
    min: float | None = None
    max: float | None = None
    distribution: str | None = None
    null_rate: float = 0.0
    target: tuple[str, str] | None = None  # fk: (table, column)
    at_most: str | None = None  # never above this column of the same row
    ranked: bool = False  # values listed by the model: the first is the most frequent


@dataclass(frozen=True)
class TablePlan:
    """How one table is generated."""

    name: str
    kind: str
    primary_key: tuple[str, ...]
    columns: tuple[ColumnPlan, ...]
    rows: int
    calendar: bool = False  # one row per day of the span
    time: str | None = None  # its own time column
    nests: tuple[tuple[str, str], ...] = ()  # (parent, child) columns of a drill-down

    def column(self, name: str) -> ColumnPlan:
        """The plan of column ``name``."""
        return next(c for c in self.columns if c.name == name)


@dataclass(frozen=True)
class MockWarehouse:
    """The generated tables, in generation (join) order."""

    tables: dict[str, pa.Table]
    plans: dict[str, TablePlan]
    first_day: date
    last_day: date


# -- reading the model


def _owner(model: SemanticModel, table: str, ref: str) -> tuple[str, str]:
    """(table, column) of a time reference: own ``col`` or ``table.col``."""
    owner, _, column = ref.rpartition(".")
    return (model.physical(owner) if owner else table, column)


def _literal(node: exp.Expression) -> Any:
    """A literal's Python value, or None when ``node`` is not a literal."""
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        value = _literal(node.this)
        return -value if isinstance(value, int | float) else None
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return str(node.this)
        text = str(node.this)
        try:
            return int(text)
        except ValueError:
            return float(text)
    return None


class _Reader:
    """Collects column evidence from every part of a model."""

    def __init__(self, model: SemanticModel) -> None:
        self.model = model
        self.columns: dict[str, dict[str, _Evidence]] = {t: {} for t in model.tables}
        self.count = 0

    def get(self, table: str, column: str) -> _Evidence | None:
        cols = self.columns.get(table)
        if cols is None:
            return None
        if column not in cols:
            self.count += 1
            cols[column] = _Evidence(self.count)
        return cols[column]

    def read(self) -> dict[str, dict[str, _Evidence]]:
        model = self.model
        for table in model.tables.values():
            for col in table.primary_key:
                self._set(table.name, col, pk=True)
            for join in table.joins:
                self._set(table.name, join.from_column, fk=(join.table, join.to_column))
                self._set(join.table, join.to_column, join_key=True)
            if table.time:
                self._set(*_owner(model, table.name, table.time), time=True)
            for hint in table.columns:
                self._set(table.name, hint.name, hint=hint)
        for dim in model.dimensions.values():
            if dim.table and dim.column:
                facts = {"time": True} if dim.secondary_time else {}
                self._set(model.physical(dim.table), dim.column, dimension=True, **facts)
            elif dim.table and dim.sql:  # a computed dimension: what its sql compares
                tree = self._parse(dim.sql)
                if tree is not None:
                    self._scan(tree, {"": model.physical(dim.table)}, model.physical(dim.table))
        names = {**{t: t for t in model.tables}, **model.roles()}  # table.column in metrics
        for metric in model.metrics.values():
            if metric.kind != "aggregate" or not metric.fact:
                continue
            for text in (metric.sql, metric.filter):
                tree = self._parse(text)
                if tree is not None:
                    self._scan(tree, {**names, "": metric.fact}, metric.fact)
        for check in model.checks:
            self._read_check(check.table, check)
        return self.columns

    def _set(self, table: str, column: str, **facts: Any) -> None:
        ev = self.get(table, column)
        if ev is None:
            return
        for name, value in facts.items():
            setattr(ev, name, value)

    @staticmethod
    def _parse(text: str | None) -> exp.Expression | None:
        if not text:
            return None
        try:
            return cast(exp.Expression, sqlglot.parse_one(text))
        except sqlglot.errors.SqlglotError:
            return None  # the model's own validation reports it

    def _resolve(
        self, column: exp.Column, aliases: Mapping[str, str], default: str
    ) -> tuple[str, str] | None:
        table = aliases.get(column.table, default) if column.table else aliases.get("", default)
        if table not in self.columns or not column.name:
            return None
        return table, column.name

    def _scan(self, tree: exp.Expression, aliases: Mapping[str, str], default: str) -> None:
        """Measures, distinct ids and compared literals anywhere in ``tree``."""

        def evidence(node: exp.Expression) -> _Evidence | None:
            if not isinstance(node, exp.Column):
                return None
            where = self._resolve(node, aliases, default)
            return self.get(*where) if where else None

        for node in tree.walk():
            if isinstance(node, _MEASURE_AGGREGATES):
                for col in node.this.find_all(exp.Column) if node.this else ():
                    found = evidence(col)
                    if found:
                        found.measure = True
            elif isinstance(node, exp.Count) and isinstance(node.this, exp.Distinct):
                for col in node.this.find_all(exp.Column):
                    found = evidence(col)
                    if found:
                        found.distinct = True
            elif isinstance(node, (*_COMPARISONS, exp.Like, exp.ILike)):
                for side, other in ((node.this, node.expression), (node.expression, node.this)):
                    found = evidence(side)
                    if found is not None:
                        self._compared(found, _literal(other))
            elif isinstance(node, exp.In):
                found = evidence(node.this)
                if found is not None:
                    for item in node.expressions:
                        self._compared(found, _literal(item))
            elif isinstance(node, exp.Between):
                found = evidence(node.this)
                if found is not None:
                    found.measure = True

    @staticmethod
    def _compared(ev: _Evidence, value: Any) -> None:
        if isinstance(value, bool):
            ev.boolean = True
        elif isinstance(value, str):
            if "%" in value or "_" in value and "@" in value:
                if "@" in value:
                    ev.email = True
            elif value not in ev.texts:
                ev.texts.append(value)
        elif isinstance(value, int | float):
            ev.measure = True

    def _read_check(self, table: str, check: Any) -> None:
        for column in check.columns:
            ev = self.get(table, column)
            if ev is None:
                continue
            if check.kind == "not_null":
                ev.not_null = True
            elif check.kind == "unique":
                ev.unique = True
            elif check.kind == "accepted_values":
                ev.accepted = tuple(check.values)
            elif check.kind == "range":
                ev.low, ev.high = check.min, check.max
            elif check.kind == "relationship" and check.to is not None:
                if ev.fk is None:
                    ev.fk = check.to
                self._set(check.to[0], check.to[1], join_key=True)
            elif check.kind == "freshness":
                ev.time = ev.time or ev.fk is None
        if check.kind == "sql" and check.sql:
            self._read_sql_check(table, check.sql)

    def _read_sql_check(self, table: str, sql: str) -> None:
        """A SELECT of failing rows: what its WHERE rejects, the mock must avoid."""
        try:
            tree = cast(exp.Expression, sqlglot.parse_one(sql))
        except sqlglot.errors.SqlglotError:
            return
        tables = list(tree.find_all(exp.Table))
        aliases = {t.alias_or_name: t.name for t in tables}
        default = tables[0].name if len(tables) == 1 else table
        aliases[""] = default
        self._scan(tree, aliases, default)
        for where in tree.find_all(exp.Where):
            for node in where.walk():
                self._failing_atom(cast(exp.Expression, node), aliases, default)

    def _failing_atom(self, node: exp.Expression, aliases: Mapping[str, str], default: str) -> None:
        def where(n: exp.Expression) -> tuple[str, str] | None:
            return self._resolve(n, aliases, default) if isinstance(n, exp.Column) else None

        if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
            found = where(node.this)
            if found and not isinstance(node.parent, exp.Not):
                self._set(*found, not_null=True)
            return
        if not isinstance(node, exp.GT | exp.GTE | exp.LT | exp.LTE):
            return
        left, right = where(node.this), where(node.expression)
        if left and right and left[0] == right[0]:
            big, small = (right, left) if isinstance(node, exp.GT | exp.GTE) else (left, right)
            self._set(*small, at_most=big[1], measure=True)
            self._set(*big, measure=True)
            return
        number = _literal(node.expression)
        if left and isinstance(number, int | float) and not isinstance(number, bool):
            ev = self.get(*left)
            if ev is None:
                return
            if isinstance(node, exp.LT | exp.LTE):  # `x <= 0` fails: x stays above 0
                ev.low = number if ev.low is None else max(ev.low, number)
            else:  # `x > 100` fails: x stays at most 100
                ev.high = number if ev.high is None else min(ev.high, number)


# -- planning


def _stem(table: str) -> str:
    """A readable singular noun for a table: ``d_store`` → ``Store``."""
    word = _TABLE_PREFIX.sub("", table)
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        word = word[:-1]
    return word.replace("_", " ").strip().capitalize() or "Item"


def _title(column: str) -> str:
    return column.replace("_", " ").strip().capitalize()


def _is_date_name(name: str) -> bool:
    return bool(re.search(r"(^|_)(date|day|on)$", name)) or name in ("dt", "ds")


def _calendars(model: SemanticModel) -> dict[str, str | None]:
    """Calendar dimensions (one row per day) → their date column, when the model names it."""
    out: dict[str, str | None] = {}
    for table in model.tables.values():
        if table.time and "." in table.time:
            owner, column = _owner(model, table.name, table.time)
            if owner in model.tables and model.tables[owner].kind == "dimension":
                out[owner] = column
    for table in model.tables.values():
        if (
            table.name not in out
            and table.kind == "dimension"
            and re.search(r"(^|_)(date|dates|calendar|cal|day|days)($|_)", table.name)
            and not table.time
        ):
            out[table.name] = None
    return out


def _calendar_role(name: str) -> str | None:
    """What a calendar column holds, from its name (None: an ordinary column)."""
    rules = (
        (r"(^|_)(day_name|weekday_name|dow_name)$", "day_name"),
        (r"(^|_)month_name$", "month_name"),
        (r"(^|_)is_weekend$", "is_weekend"),
        (r"(^|_)is_holiday$", "is_holiday"),
        (r"(^|_)(weekday|day_of_week|dow|isodow)$", "weekday"),
        (r"(^|_)(iso_week|week|week_of_year|woy)$", "week"),
        (r"(^|_)(iso_year|year|fiscal_year)$", "year"),
        (r"(^|_)(quarter|fiscal_quarter)$", "quarter"),
        (r"(^|_)month$", "month"),
        (r"(^|_)(day_of_month|dom)$", "day_of_month"),
        (r"(^|_)week_start$", "week_start"),
        (r"(^|_)month_start$", "month_start"),
        (r"(^|_)quarter_start$", "quarter_start"),
    )
    for pattern, role in rules:
        if re.search(pattern, name):
            return role
    return None


_CALENDAR_TYPES = {
    "day_name": "VARCHAR",
    "month_name": "VARCHAR",
    "is_weekend": "BOOLEAN",
    "is_holiday": "BOOLEAN",
    "week_start": "DATE",
    "month_start": "DATE",
    "quarter_start": "DATE",
}


def _decide(
    table: Table, name: str, ev: _Evidence, calendar: bool, calendar_date: str | None
) -> ColumnPlan:
    """The plan of one column from its evidence (hints first, then keys, then names)."""
    hint = ev.hint or ColumnHint(name)
    null_rate = 0.0 if (ev.pk or ev.not_null or ev.time) else float(hint.null_rate or 0.0)
    common: dict[str, Any] = {
        "null_rate": null_rate,
        "min": hint.min if hint.min is not None else ev.low,
        "max": hint.max if hint.max is not None else ev.high,
        "distribution": hint.distribution,
        "at_most": ev.at_most,
    }

    def plan(type_: str, role: str, **more: Any) -> ColumnPlan:
        return ColumnPlan(name, hint.type or type_, role, **{**common, **more})

    if ev.fk is not None and not (calendar and ev.pk):
        return plan("BIGINT", "fk", target=ev.fk, null_rate=float(hint.null_rate or 0.0))
    if ev.pk or ev.join_key:  # hinted values on a key: exactly those rows
        text = any(isinstance(v, str) for v in hint.values)
        return plan("VARCHAR" if text else "BIGINT", "key", null_rate=0.0, values=hint.values)
    if calendar:
        if name == calendar_date or (calendar_date is None and _is_date_name(name)):
            return plan("DATE", "calendar", values=("date",))
        role = _calendar_role(name)
        if role:
            return plan(_CALENDAR_TYPES.get(role, "INTEGER"), "calendar", values=(role,))
    values = hint.values or ev.accepted
    if values:
        if all(isinstance(v, bool) for v in values):
            return plan("BOOLEAN", "bool")
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            kind = "BIGINT" if all(isinstance(v, int) for v in values) else "DOUBLE"
            return plan(kind, "category", values=tuple(values), ranked=True)
        return plan("VARCHAR", "category", values=tuple(str(v) for v in values), ranked=True)
    lower = name.lower()
    if ev.time:
        return plan("DATE" if _is_date_name(lower) else "TIMESTAMP", "time")
    if ev.boolean or re.match(r"^(is|has|was|can|should)_", lower):
        return plan("BOOLEAN", "bool")
    if re.search(r"(^|_)at$", lower):
        return plan("TIMESTAMP", "timestamp")
    if _is_date_name(lower):
        return plan("DATE", "date")
    if ev.email or "email" in lower or "e_mail" in lower:
        return plan("VARCHAR", "email")
    if ev.texts:  # the values filters name, and the rest of the rows under "other"
        values = tuple(ev.texts) + (() if OTHER in ev.texts else (OTHER,))
        return plan("VARCHAR", "category", values=values, ranked=True)
    if (
        ev.measure
        or ev.low is not None
        or ev.high is not None
        or hint.distribution
        or _COUNT_LIKE.search(lower)
    ):
        integer = bool(_COUNT_LIKE.search(lower)) and not _MONEY_LIKE.search(lower)
        return plan("BIGINT" if integer else "DOUBLE", "measure")
    if ev.distinct or re.search(r"(^|_)(id|key|ref|no|number|uuid)$", lower):
        return plan("BIGINT", "id")
    if ev.unique:
        return plan("VARCHAR", "code")
    if re.search(r"(^|_)(name|label|title)$", lower):
        return plan("VARCHAR", "label")
    if hint.type in ("DOUBLE", "BIGINT", "INTEGER"):
        return plan(hint.type, "measure")
    if hint.type in ("DATE", "TIMESTAMP"):
        return plan(hint.type, hint.type.lower())
    if hint.type == "BOOLEAN":
        return plan("BOOLEAN", "bool")
    return plan("VARCHAR", "category")


def join_order(model: SemanticModel) -> list[str]:
    """Tables so that every join target comes before the tables joining it."""
    graph: dict[str, set[str]] = {name: set() for name in model.tables}
    for table in model.tables.values():
        for join in table.joins:
            if join.table in model.tables and join.table != table.name:
                graph[table.name].add(join.table)
    for check in model.checks:
        if check.to and check.to[0] in model.tables and check.to[0] != check.table:
            graph.setdefault(check.table, set()).add(check.to[0])
    sorter = graphlib.TopologicalSorter(graph)
    try:
        return list(sorter.static_order())
    except graphlib.CycleError as err:
        loop = " → ".join(err.args[1])
        raise DataError(
            f"{model.path}: the joins loop ({loop}): a mock needs each table's parents first."
        ) from err


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def plan_mock(model: SemanticModel, options: MockOptions) -> dict[str, TablePlan]:
    """How each table of ``model`` will be generated, in join order."""
    evidence = _Reader(model).read()
    calendars = _calendars(model)
    order = join_order(model)
    metric_facts = {m.fact for m in model.metrics.values() if m.fact}
    joined_by: dict[str, list[str]] = {name: [] for name in model.tables}
    for table in model.tables.values():
        for join in table.joins:
            if join.table in joined_by and table.kind == "dimension" and join.table != table.name:
                joined_by[join.table].append(table.name)
    sizes: dict[str, int] = {}
    for name in reversed(order):  # children before their parents
        table = model.tables[name]
        key_hint = next(
            (h for h in table.columns if h.values and (h.name,) == table.primary_key), None
        )
        if table.kind == "fact":
            sizes[name] = options.rows
        elif name in calendars:
            sizes[name] = options.days
        elif key_hint is not None:
            sizes[name] = len(key_hint.values)
        elif joined_by[name]:
            sizes[name] = max(3, min(sizes[c] for c in joined_by[name]) // 5)
        elif table.time or name in metric_facts:
            sizes[name] = _clamp(options.rows // 20, 50, 50_000)
        else:
            sizes[name] = _clamp(options.rows // 200, 20, 1_000)
    plans: dict[str, TablePlan] = {}
    for name in order:
        table = model.tables[name]
        cols = evidence[name]
        calendar = name in calendars
        decided = [
            _decide(table, col, ev, calendar, calendars.get(name))
            for col, ev in sorted(cols.items(), key=lambda kv: kv[1].order)
        ]
        # primary key first, then foreign keys, then the rest in the model's order
        decided.sort(
            key=lambda c: (
                0 if c.name in table.primary_key else 1 if c.role == "fk" else 2,
                table.primary_key.index(c.name) if c.name in table.primary_key else 0,
            )
        )
        own_time = table.time if table.time and "." not in table.time else None
        roles = {c.name: c.role for c in decided}
        nests = tuple(
            (dim.column, child.column)
            for dim in model.dimensions.values()
            if dim.table == name and dim.column and dim.drill in model.dimensions
            for child in [model.dimensions[dim.drill]]
            if child.table == name
            and child.column
            and roles.get(dim.column) == roles.get(child.column) == "category"
        )
        plans[name] = TablePlan(
            name,
            table.kind,
            table.primary_key,
            tuple(decided),
            sizes[name],
            calendar,
            own_time,
            _deepest_first(nests),
        )
    return _typed_keys(plans)


def _deepest_first(nests: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """Drill pairs ordered so a child is nested under its parent before that parent is
    nested under its own (category → subcategory before region → category)."""
    parents = {p for p, _ in nests}
    depth: dict[str, int] = {}

    def below(column: str, seen: frozenset[str] = frozenset()) -> int:
        if column in depth:
            return depth[column]
        kids = [c for p, c in nests if p == column and c not in seen]
        depth[column] = 1 + max((below(c, seen | {column}) for c in kids), default=0)
        return depth[column]

    return tuple(sorted(nests, key=lambda pc: below(pc[0]) if pc[0] in parents else 0))


def _typed_keys(plans: dict[str, TablePlan]) -> dict[str, TablePlan]:
    """A foreign key takes the type of the key it points to."""
    out: dict[str, TablePlan] = {}
    for name, plan in plans.items():
        cols = []
        for col in plan.columns:
            if col.role == "fk" and col.target and col.target[0] in out:
                parent = out[col.target[0]]
                target = next((c for c in parent.columns if c.name == col.target[1]), None)
                if target is not None and target.type != col.type:
                    col = ColumnPlan(**{**col.__dict__, "type": target.type})
            cols.append(col)
        out[name] = TablePlan(**{**plan.__dict__, "columns": tuple(cols)})
    return out


# -- generating


def day_weights(first: date, days: int) -> np.ndarray:
    """Relative row density per day: weekly and yearly seasonality times growth."""
    index = np.arange(days)
    start = np.datetime64(first, "D")
    dates = start + index
    weekday = (dates.astype("int64") + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    weekly = np.where(weekday >= 5, WEEKEND_FACTOR, 1.0)
    day_of_year = (dates - dates.astype("datetime64[Y]")).astype("int64")
    yearly = 1.0 + YEARLY_AMPLITUDE * np.cos(2 * np.pi * (day_of_year - 355) / 365.25)
    growth = YEARLY_GROWTH ** (index / 365.25)
    weights = weekly * yearly * growth
    return np.asarray(weights / weights.sum(), dtype="float64")


def _zipf(n: int, rng: np.random.Generator) -> np.ndarray:
    """Zipf probabilities over ``n`` members, the popular ones at random positions."""
    ranks = rng.permutation(n)
    weights = 1.0 / (ranks + 1.0) ** ZIPF_EXPONENT
    return np.asarray(weights / weights.sum(), dtype="float64")


def _ranked(n: int) -> np.ndarray:
    weights = VALUE_DECAY ** np.arange(n, dtype="float64")
    return np.asarray(weights / weights.sum(), dtype="float64")


def _groups(n: int, mean_size: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive rows in groups: (group number from 1, position in the group from 1)."""
    new = rng.random(n) < 1.0 / mean_size
    if n:
        new[0] = True
    group = np.cumsum(new)
    starts = np.flatnonzero(new)
    position = np.arange(n) - starts[group - 1] + 1
    return group.astype("int64"), position.astype("int64")


class _Generator:
    def __init__(self, model: SemanticModel, options: MockOptions) -> None:
        options.check()
        self.model = model
        self.options = options
        self.first = options.first_day()
        self.last = options.last_day()
        self.days = options.days
        self.density = day_weights(self.first, self.days)
        self.rng = np.random.default_rng(options.seed)
        self.plans = plan_mock(model, options)
        self.tables: dict[str, dict[str, np.ndarray]] = {}
        self.popularity: dict[str, np.ndarray] = {}

    def run(self) -> MockWarehouse:
        out: dict[str, pa.Table] = {}
        for name, plan in self.plans.items():
            columns = self._table(plan)
            self.tables[name] = columns
            out[name] = _to_arrow(plan, columns, self.rng)
        return MockWarehouse(out, self.plans, self.first, self.last)

    def _parent_probs(self, table: str) -> np.ndarray:
        if table not in self.popularity:
            plan = self.plans[table]
            if plan.calendar:
                self.popularity[table] = self.density
            else:
                self.popularity[table] = _zipf(plan.rows, self.rng)
        return self.popularity[table]

    def _table(self, plan: TablePlan) -> dict[str, np.ndarray]:
        rng = self.rng
        cols: dict[str, np.ndarray] = {}
        pk_fks = [c for c in plan.columns if c.name in plan.primary_key and c.role == "fk"]
        picks: dict[str, np.ndarray] = {}  # fk column → row index into its parent
        if plan.calendar:
            day = np.arange(self.days)
            n = self.days
        elif pk_fks and len(pk_fks) == len(plan.primary_key):
            picks, day = self._unique_combinations(plan, pk_fks)
            n = len(day)
        else:
            n = plan.rows
            day = np.sort(rng.choice(self.days, size=n, p=self.density))
        joined = {  # tables some parent of this one joins: pick those through that parent
            c.target
            for other in plan.columns
            if other.role == "fk" and other.target and other.target[0] in self.plans
            for c in self.plans[other.target[0]].columns
            if c.role == "fk"
        }
        for col in sorted(plan.columns, key=lambda c: c.target in joined):
            if col.role != "fk" or col.name in picks or col.target is None:
                continue
            parent = self.plans.get(col.target[0])
            if parent is None:
                continue
            if parent is plan:  # a role of the table itself (a manager): one of its own rows
                picks[col.name] = rng.choice(n, size=n)
            elif parent.calendar:
                picks[col.name] = day
            elif not self._derived(plan, col, picks):
                picks[col.name] = rng.choice(parent.rows, size=n, p=self._parent_probs(parent.name))
        seconds = self._seconds(n)
        keys = self._primary_key(plan, n, set(picks))
        for col in plan.columns:
            if col.name in keys:
                cols[col.name] = keys[col.name]
            elif col.role == "fk" and col.name in picks and col.target is not None:
                if col.target[0] == plan.name:
                    continue  # filled below, once the table's own key exists
                parent_cols = self.tables[col.target[0]]
                cols[col.name] = parent_cols[col.target[1]][picks[col.name]]
            else:
                cols[col.name] = self._values(plan, col, n, day, seconds)
        for col in plan.columns:
            if col.role == "fk" and col.target is not None and col.target[0] == plan.name:
                cols[col.name] = cols[col.target[1]][picks[col.name]]
        for upper, lower in plan.nests:
            cols[upper] = _nest(cols[upper], cols[lower], rng)
        for col in plan.columns:
            if col.at_most and col.at_most in cols and col.role == "measure":
                cols[col.name] = _at_most(cols[col.name], cols[col.at_most], col, rng)
        return cols

    def _derived(self, plan: TablePlan, col: ColumnPlan, picks: dict[str, np.ndarray]) -> bool:
        """Pick ``col``'s parent through another parent that joins it (a campaign's channel),
        so a row's keys agree with each other; False when no picked parent does."""
        assert col.target is not None
        target, to_column = col.target
        for other in plan.columns:
            if other.role != "fk" or other.target is None or other.name == col.name:
                continue
            via = self.plans.get(other.target[0])
            if via is None or via.calendar or other.target[0] == target:
                continue
            link = next(
                (c for c in via.columns if c.role == "fk" and c.target == (target, to_column)),
                None,
            )
            if link is None or other.name not in picks:
                continue
            through = self.tables[via.name][link.name][picks[other.name]]
            keys = self.tables[target][to_column]
            order = np.argsort(keys, kind="stable")
            found = order[np.searchsorted(keys, through, sorter=order)]
            picks[col.name] = found
            return True
        return False

    def _unique_combinations(
        self, plan: TablePlan, fks: Sequence[ColumnPlan]
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Distinct combinations of the parents a composite key of foreign keys points to,
        drawn by popularity (Gumbel top-k), ordered by day."""
        rng = self.rng
        parents = [self.plans[c.target[0]] for c in fks if c.target]
        sizes = [p.rows for p in parents]
        probs = [self._parent_probs(p.name) for p in parents]
        total = math.prod(sizes)
        want = min(plan.rows, total)
        if total <= MAX_COMBINATIONS:
            scores = np.zeros(sizes, dtype="float64")
            for axis, p in enumerate(probs):
                shape = [1] * len(sizes)
                shape[axis] = sizes[axis]
                scores = scores + np.log(p).reshape(shape)
            flat = scores.ravel() + rng.gumbel(size=total)
            chosen = np.argpartition(-flat, want - 1)[:want] if want < total else np.arange(total)
        else:
            drawn = np.ravel_multi_index(
                [
                    rng.choice(s, size=int(want * 1.3) + 10, p=p)
                    for s, p in zip(sizes, probs, strict=True)
                ],
                sizes,
            )
            _, first = np.unique(drawn, return_index=True)
            chosen = drawn[np.sort(first)][:want]
        index = np.unravel_index(chosen, sizes)
        picks = {c.name: np.asarray(i) for c, i in zip(fks, index, strict=True)}
        calendar = next((c.name for c, p in zip(fks, parents, strict=True) if p.calendar), None)
        if calendar is not None:
            day = picks[calendar]
        else:
            day = rng.choice(self.days, size=len(chosen), p=self.density)
        order = np.argsort(day, kind="stable")
        return {k: v[order] for k, v in picks.items()}, day[order]

    def _seconds(self, n: int) -> np.ndarray:
        """Time of day: busiest in the afternoon."""
        hours = np.clip(self.rng.normal(14.0, 4.0, size=n), 0.0, 23.999)
        return (hours * 3600).astype("int64")

    def _primary_key(self, plan: TablePlan, n: int, picked: set[str]) -> dict[str, np.ndarray]:
        """Own key columns: 1..n, or (group, position in group) for a composite key."""
        own = [c for c in plan.primary_key if c not in picked]
        out: dict[str, np.ndarray] = {}
        if not own:
            return out
        column = plan.column(own[0])
        if plan.calendar:
            dates = np.datetime64(self.first, "D") + np.arange(n)
            if "date" in own[0].lower() and column.type in _INTEGER_TYPES:
                ymd = dates.astype(object)
                out[own[0]] = np.array([d.year * 10000 + d.month * 100 + d.day for d in ymd])
            else:
                out[own[0]] = np.arange(1, n + 1, dtype="int64")
        elif len(own) == 1 and column.values and len(column.values) == n:
            return {own[0]: np.asarray(column.values, dtype=object)}
        elif len(own) == 1:
            out[own[0]] = np.arange(1, n + 1, dtype="int64")
        else:
            group, position = _groups(n, 3.0, self.rng)
            out[own[0]] = group
            for name in own[1:]:
                out[name] = position
        for name, values in list(out.items()):
            if plan.column(name).type == "VARCHAR":
                prefix = _stem(plan.name)[:3].upper()
                out[name] = np.array([f"{prefix}{v:05d}" for v in values], dtype=object)
        return out

    def _values(
        self, plan: TablePlan, col: ColumnPlan, n: int, day: np.ndarray, seconds: np.ndarray
    ) -> np.ndarray:
        rng = self.rng
        start = np.datetime64(self.first, "D")
        if col.role == "calendar":
            return _calendar_values(str(col.values[0]), start + day)
        if col.role == "key":  # a join target that is not the primary key: unique too
            return np.arange(1, n + 1, dtype="int64") + 1000
        if col.role == "time":
            dates = start + day
            if col.type == "DATE":
                return dates
            return dates.astype("datetime64[s]") + seconds
        if col.role in ("date", "timestamp"):
            if plan.kind == "fact":
                offset = rng.integers(0, 31, size=n)
                dates = np.minimum(start + day + offset, np.datetime64(self.last, "D"))
            else:
                dates = start + rng.choice(self.days, size=n, p=self.density)
            if col.type == "DATE":
                return dates
            return dates.astype("datetime64[s]") + self._seconds(n)
        if col.role == "bool":
            return rng.random(n) < TRUE_SHARE
        if col.role == "category":
            nested = any(child == col.name for _, child in plan.nests)
            values = col.values or _labels(_title(col.name), _categories(n) * (3 if nested else 1))
            probs = _ranked(len(values)) if col.ranked else _zipf(len(values), rng)
            if col.distribution == "uniform":
                probs = np.full(len(values), 1.0 / len(values))
            return np.asarray(values, dtype=object)[rng.choice(len(values), size=n, p=probs)]
        if col.role == "label":
            noun = _label_noun(plan.name, col.name)
            if plan.kind == "dimension":
                return np.array([f"{noun} {i}" for i in range(1, n + 1)], dtype=object)
            labels = _labels(noun, _categories(n))
            return labels[rng.choice(len(labels), size=n, p=_zipf(len(labels), rng))]
        if col.role == "email":
            noun = re.sub(r"[^a-z0-9]", "", _stem(plan.name).lower()) or "user"
            count = n if plan.kind == "dimension" else max(1, n // 5)
            addresses = np.array([f"{noun}{i}@example.com" for i in range(1, count + 1)])
            if plan.kind == "dimension":
                return addresses.astype(object)
            return addresses.astype(object)[rng.choice(count, size=n, p=_zipf(count, rng))]
        if col.role == "id":
            if plan.kind == "dimension":
                return np.arange(1, n + 1, dtype="int64") + 100_000
            group, _ = _groups(n, 2.0, rng)
            return group + 100_000
        if col.role == "code":
            prefix = re.sub(r"[^A-Z]", "", col.name.upper())[:4] or "CODE"
            return np.array([f"{prefix}-{i:06d}" for i in range(1, n + 1)], dtype=object)
        if col.role == "measure":
            return _numbers(col, n, rng)
        raise AssertionError(f"unknown role {col.role}")  # every role is handled above


def _nest(parent: np.ndarray, child: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Re-draw ``parent`` so each child value sits under one parent value (a hierarchy),
    keeping the parent values' frequencies as weights."""
    vocab, counts = np.unique(parent, return_counts=True)
    kids, inverse = np.unique(child, return_inverse=True)
    assign = rng.choice(len(vocab), size=len(kids), p=counts / counts.sum())
    if len(kids) >= len(vocab):  # every parent value keeps at least one child
        assign[rng.permutation(len(kids))[: len(vocab)]] = np.arange(len(vocab))
    return np.asarray(vocab[assign][inverse], dtype=object)


def _categories(rows: int) -> int:
    return _clamp(int(round(math.sqrt(rows) / 2)), 2, 8)


def _labels(noun: str, count: int) -> np.ndarray:
    return np.array([f"{noun} {i}" for i in range(1, count + 1)], dtype=object)


def _label_noun(table: str, column: str) -> str:
    """``store_label`` → ``Store``; ``name`` in ``dim_product`` → ``Product``."""
    prefix = re.sub(r"_?(name|label|title)$", "", column.lower())
    return _title(prefix) if prefix else _stem(table)


def _numbers(col: ColumnPlan, n: int, rng: np.random.Generator) -> np.ndarray:
    """Numbers for a measure: log-normal by default, inside its bounds."""
    integer = col.type in _INTEGER_TYPES
    mu, sigma = (1.0, 0.8) if integer else (3.5, 0.9)
    median = math.exp(mu)
    low, high = col.min, col.max
    dist = col.distribution
    if dist is None and low is not None and high is not None and high - low < 100 * median:
        dist = "normal"  # tight bounds: spread values across them
    if dist == "uniform":
        a = low if low is not None else 0.0
        b = high if high is not None else a + 2 * median
        values = rng.uniform(a, b, size=n)
    elif dist == "normal":
        a = low if low is not None else (high - 4 * median if high is not None else 0.0)
        b = high if high is not None else a + 4 * median
        values = rng.normal((a + b) / 2, (b - a) / 6 or 1.0, size=n)
    elif dist == "zipf":
        values = rng.zipf(1.6, size=n).astype("float64") + (low or 0.0) - 1.0
    else:
        values = rng.lognormal(mu, sigma, size=n) + (low if low is not None else 0.0)
    if integer:
        values = np.ceil(values) if dist in (None, "lognormal") else np.round(values)
    if low is not None:
        values = np.maximum(values, low)
    if high is not None:
        values = np.minimum(values, high)
    return values.astype("int64") if integer else np.round(values, 2)


def _at_most(
    values: np.ndarray, limit: np.ndarray, col: ColumnPlan, rng: np.random.Generator
) -> np.ndarray:
    """A column that may not exceed another (clicks ≤ impressions): a share of it."""
    share = rng.beta(2.0, 18.0, size=len(values))
    scaled = limit.astype("float64") * share
    if col.type in _INTEGER_TYPES:
        return np.floor(scaled).astype("int64")
    return np.round(scaled, 2)


def _calendar_values(role: str, dates: np.ndarray) -> np.ndarray:
    """Calendar attributes of each date."""
    days = dates.astype("int64")
    weekday = (days + 3) % 7  # 0 = Monday
    years = dates.astype("datetime64[Y]")
    months = dates.astype("datetime64[M]")
    month = (months - years).astype("int64") + 1
    if role == "date":
        return dates
    if role == "day_name":
        return np.asarray(_WEEKDAYS, dtype=object)[weekday]
    if role == "month_name":
        return np.asarray(_MONTHS, dtype=object)[month - 1]
    if role == "is_weekend":
        return weekday >= 5
    if role == "is_holiday":
        dom = (dates - months).astype("int64") + 1
        holiday = np.zeros(len(dates), dtype=bool)
        for m, d in _HOLIDAYS:
            holiday |= (month == m) & (dom == d)
        return holiday
    if role == "weekday":
        return weekday + 1
    if role == "week":
        return np.array([d.isocalendar()[1] for d in dates.astype(object)], dtype="int64")
    if role == "year":
        return years.astype("int64") + 1970
    if role == "quarter":
        return (month - 1) // 3 + 1
    if role == "month":
        return month
    if role == "day_of_month":
        return (dates - months).astype("int64") + 1
    if role == "week_start":
        return dates - weekday
    if role == "month_start":
        return months.astype("datetime64[D]")
    if role == "quarter_start":
        return years.astype("datetime64[M]") + ((month - 1) // 3) * 3
    raise AssertionError(f"unknown calendar role {role}")


def _to_arrow(
    plan: TablePlan, columns: Mapping[str, np.ndarray], rng: np.random.Generator
) -> pa.Table:
    arrays = []
    for col in plan.columns:
        values = columns[col.name]
        type_ = TYPES[col.type]
        if col.type == "DATE":
            values = np.asarray(values).astype("datetime64[D]")
        elif col.type == "TIMESTAMP":
            values = np.asarray(values).astype("datetime64[us]")
        elif col.type == "VARCHAR" and np.asarray(values).dtype != object:
            values = np.asarray(values).astype(str).astype(object)
        array = pa.array(values, type=type_) if col.type != "VARCHAR" else pa.array(values)
        if array.type != type_:
            array = array.cast(type_)
        if col.null_rate > 0:
            mask = pa.array(rng.random(len(array)) < col.null_rate)
            array = pc.if_else(mask, pa.scalar(None, type_), array)
        arrays.append(array)
    return pa.table(arrays, names=[c.name for c in plan.columns])


def generate(model: SemanticModel, options: MockOptions | None = None) -> MockWarehouse:
    """Every table of ``model``, filled with realistic, key-consistent mock data."""
    return _Generator(model, options or MockOptions()).run()


# -- writing


def _relative(path: Path, start: Path) -> str:
    """``path`` relative to ``start`` when they share a folder below the root, else absolute."""
    target, base = path.resolve(), start.resolve()
    try:
        common = Path(os.path.commonpath([target, base]))
    except ValueError:  # another drive (Windows)
        return str(target)
    if common == Path(common.anchor):
        return str(target)
    return os.path.relpath(target, base)


def pipeline_spec(mock: MockWarehouse, model: SemanticModel, out: Path, fmt: str) -> dict[str, Any]:
    """The ``pipeline.yaml`` of a mock project: one source per model table, no transforms."""
    sources: dict[str, Any] = {}
    for name, plan in mock.plans.items():
        source: dict[str, Any] = {
            "path": f"raw/{name}.{fmt}",
            "format": fmt,
            "columns": {c.name: c.type for c in plan.columns},
        }
        if plan.primary_key:
            source["key"] = list(plan.primary_key)
            source["required"] = list(plan.primary_key)
        if plan.time:
            source["time"] = plan.time
        sources[name] = source
    return {
        "version": 1,
        "name": f"{model.name}_mock",
        "model": _relative(model.path, out),
        "sources": sources,
    }


def write_project(
    mock: MockWarehouse, model: SemanticModel, out: Path, fmt: str = "parquet"
) -> Path:
    """Write ``out/raw/<table>.<fmt>`` and ``out/pipeline.yaml``; returns the pipeline file."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    from ruamel.yaml import YAML

    if fmt not in ("parquet", "csv"):
        raise DataError(f"--format {fmt!r}: choose parquet or csv.")
    raw = out / "raw"
    try:
        raw.mkdir(parents=True, exist_ok=True)
        for name, table in mock.tables.items():
            target = raw / f"{name}.{fmt}"
            if fmt == "parquet":
                pq.write_table(table, target)
            else:
                pacsv.write_csv(table, target)
        pipeline = out / "pipeline.yaml"
        yaml = YAML()
        yaml.default_flow_style = False
        with pipeline.open("w", encoding="utf-8") as handle:
            handle.write(
                f"# Mock data for {model.path.name}, written by `starboard mock` "
                f"({mock.first_day} … {mock.last_day}).\n"
            )
            yaml.dump(pipeline_spec(mock, model, out, fmt), handle)
    except OSError as exc:
        raise DataError(
            f"--out {out}: cannot write there ({exc.strerror or exc}); "
            "choose a folder you can write to."
        ) from exc
    return pipeline


def write_database(mock: MockWarehouse, url: str) -> list[str]:
    """Write every table into a DuckDB file or the current schema of a PostgreSQL database
    (replacing tables of the same name); returns the table names."""
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise DataError(f"--db {url!r} is not a database URL ({exc}).") from exc
    backend = parsed.get_backend_name()
    if backend == "duckdb":
        _write_duckdb(mock, parsed.database or ":memory:")
    elif backend == "postgresql":
        _write_postgres(mock, url)
    else:
        raise DataError(
            f"--db {url!r}: starboard mock writes DuckDB (duckdb:///file.duckdb) or "
            "PostgreSQL (postgresql+psycopg://…) databases."
        )
    return list(mock.tables)


def _write_duckdb(mock: MockWarehouse, path: str) -> None:
    import duckdb

    if path != ":memory:":
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"--db {path}: cannot create its folder ({exc.strerror}).") from exc
    try:
        con = duckdb.connect(path)
    except duckdb.Error as exc:
        raise DataError(f"--db {path}: cannot open the DuckDB file ({exc}).") from exc
    try:
        for name, table in mock.tables.items():
            con.register("_mock_source", table)
            con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _mock_source')
            con.unregister("_mock_source")
        con.execute("CHECKPOINT")
    finally:
        con.close()


_PG_TYPES = {
    "BIGINT": "BIGINT",
    "INTEGER": "INTEGER",
    "DOUBLE": "DOUBLE PRECISION",
    "VARCHAR": "TEXT",
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP",
}


def _write_postgres(mock: MockWarehouse, url: str) -> None:
    import io

    import pyarrow.csv as pacsv
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.driver != "psycopg":
                raise DataError(f"--db {url!r}: use the psycopg driver (postgresql+psycopg://…).")
            quote = conn.dialect.identifier_preparer.quote
            raw = conn.connection.driver_connection
            assert raw is not None
            for name, table in mock.tables.items():
                plan = mock.plans[name]
                columns = ", ".join(f"{quote(c.name)} {_PG_TYPES[c.type]}" for c in plan.columns)
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(name)}")
                conn.exec_driver_sql(f"CREATE TABLE {quote(name)} ({columns})")
                buffer = io.BytesIO()
                pacsv.write_csv(table, buffer)
                with raw.cursor().copy(
                    f"COPY {quote(name)} FROM STDIN WITH (FORMAT csv, HEADER true)"
                ) as copy:
                    copy.write(buffer.getvalue())
    except sa.exc.DBAPIError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise DataError(f"--db: cannot write the mock tables: {reason}") from exc
    finally:
        engine.dispose()
