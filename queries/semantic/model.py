"""The semantic model: YAML file → frozen objects, and its validation.

The types below are the contract the compiler, the runner and the pages rely on.
Nothing here knows the demo's table or column names.
"""

from __future__ import annotations

import difflib
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
import sqlglot
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from sqlglot import exp

from app.core.errors import ModelError, Problem

GRAINS = ("day", "week", "month", "quarter", "year")
FORMATS = ("number", "currency", "percent", "duration")
DIRECTIONS = ("up", "down", "none")
RELATIONS = ("sum", "product", "ratio", "influence")
CHART_TYPES = ("line", "bar", "stacked_bar", "area", "table", "funnel", "cohort", "breakdown")
COMPARES = ("previous_year", "previous_period", "goal")
TIERS = (0, 1, 2)
TIER0_MAX_SECTIONS = 5
TIER0_MAX_WIDGETS = 79  # BANs + charts; 80 or more is refused

TableKind = Literal["fact", "dimension"]
MetricKind = Literal["aggregate", "ratio", "expr"]


@dataclass(frozen=True)
class Join:
    """A many-to-one join from the owning table to ``target``."""

    target: str
    from_column: str
    to_column: str


@dataclass(frozen=True)
class Table:
    name: str
    kind: TableKind
    primary_key: tuple[str, ...]
    time: str | None = None  # own column ("occurred_at") or "table.column" via joins
    joins: tuple[Join, ...] = ()
    pii: frozenset[str] = frozenset()
    description: str = ""


@dataclass(frozen=True)
class Dimension:
    name: str
    label: str
    table: str | None = None  # None only for the time dimension
    column: str | None = None
    drill: str | None = None  # next dimension down the hierarchy
    is_time: bool = False
    description: str = ""


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    kind: MetricKind
    fact: str | None = None  # aggregate metrics: the table they aggregate
    sql: str | None = None  # aggregate: one aggregate over the fact's columns
    filter: str | None = None  # aggregate: a predicate over the fact's columns
    ratio: tuple[str, str] | None = None  # ratio: (numerator, denominator) metric names
    expr: str | None = None  # expr: arithmetic over other metrics' names
    format: str = "number"
    direction: str = "up"
    description: str = ""
    critical: bool = False

    @property
    def additive(self) -> bool:
        """True when partial results can be summed (sum/count, not count distinct)."""
        if self.kind != "aggregate" or not self.sql:
            return False
        text = " ".join(self.sql.lower().split())
        return (text.startswith("sum(") or text.startswith("count(")) and "distinct" not in text


@dataclass(frozen=True)
class TreeNode:
    metric: str
    children: tuple[str, ...]
    relation: str  # one of RELATIONS


@dataclass(frozen=True)
class Rollup:
    name: str
    fact: str
    grain: str
    dimensions: tuple[str, ...]
    metrics: tuple[str, ...]


@dataclass(frozen=True)
class Chart:
    type: str
    metric: str | None = None
    metrics: tuple[str, ...] = ()
    by: str | None = None
    grain: str | None = None
    compare: str | None = None  # previous_year | previous_period | goal
    options: tuple[tuple[str, str], ...] = ()  # other keys (cohort, title, …), sorted


@dataclass(frozen=True)
class Section:
    title: str = ""
    bans: tuple[str, ...] = ()
    charts: tuple[Chart, ...] = ()


@dataclass(frozen=True)
class Board:
    name: str
    tier: int
    title: str
    period: str = "month"  # tier 0: the period selector's grain
    filters: tuple[str, ...] = ()  # tier 1: dimensions of the filter bar
    sections: tuple[Section, ...] = ()
    description: str = ""


CHECK_KINDS = (
    "not_null",
    "unique",
    "accepted_values",
    "range",
    "relationship",
    "freshness",
    "row_count_change",
    "sql",
)
CHECK_WEIGHTS = {1: 3.0, 2: 1.0}  # default weight by risk, as the built-in load gates


@dataclass(frozen=True)
class Check:
    """A data quality check declared under ``checks:`` for one table (README: Data quality)."""

    table: str
    name: str
    kind: str  # one of CHECK_KINDS
    key: str  # where it is declared: "checks.<table>.<index>"
    columns: tuple[str, ...] = ()
    risk: int = 2  # 1 stops a publish, 2 warns
    weight: float = 1.0
    values: tuple[Any, ...] = ()  # accepted_values
    min: float | None = None  # range: column bounds; row_count_change: change bounds
    max: float | None = None
    to: tuple[str, str] | None = None  # relationship: (table, column)
    max_orphan_rate: float = 0.0  # relationship
    max_age_hours: float | None = None  # freshness SLO
    sql: str | None = None  # sql: a SELECT returning the failing rows
    description: str = ""

    @property
    def id(self) -> str:
        return f"model:{self.table}.{self.name}"

    @property
    def column(self) -> str:
        return ", ".join(self.columns)


@dataclass(frozen=True)
class SemanticModel:
    name: str
    title: str
    path: Path
    tables: dict[str, Table]
    dimensions: dict[str, Dimension]
    metrics: dict[str, Metric]
    tree: dict[str, TreeNode] = field(default_factory=dict)
    goals: dict[str, dict[str, float]] = field(default_factory=dict)  # metric → period → value
    rollups: dict[str, Rollup] = field(default_factory=dict)
    boards: dict[str, Board] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()
    alerts: dict[str, Any] = field(default_factory=dict)  # name → queries.alerts.evaluate.AlertRule
    webhooks: dict[str, Any] = field(default_factory=dict)  # name → queries.alerts.evaluate.Webhook
    lines: dict[str, int] = field(default_factory=dict)  # "metrics.revenue.sql" → line

    def time_dimension(self) -> Dimension | None:
        """The model's `time: true` dimension, if it has one."""
        return next((d for d in self.dimensions.values() if d.is_time), None)

    def line_of(self, key: str) -> int | None:
        """Line of a dotted key in the YAML file, or of its nearest parent key."""
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key.rpartition(".")[0]
        return None


# --------------------------------------------------------------------------- periods

_PERIOD = re.compile(
    r"^(?P<year>[0-9]{4})(?:-(?:Q(?P<quarter>[0-9])|W(?P<week>[0-9]{2})|(?P<month>[0-9]{2})))?$"
)


@dataclass(frozen=True)
class Period:
    """A calendar period: ``2026``, ``2026-Q4``, ``2026-10`` or ISO week ``2026-W43``."""

    key: str
    grain: str  # year | quarter | month | week
    start: date
    end: date  # exclusive


def parse_period(text: str | int) -> Period:
    """Parse a period key (year, quarter, month or ISO week); ValueError when it is none."""
    key = str(text).strip()
    match = _PERIOD.match(key)
    if not match:
        raise ValueError(f"'{key}' is not a period: use 2026, 2026-Q4, 2026-10 or 2026-W43")
    year = int(match["year"])
    if year < 1:
        raise ValueError(f"'{key}' has no valid year")
    if match["quarter"] is not None:
        quarter = int(match["quarter"])
        if not 1 <= quarter <= 4:
            raise ValueError(f"'{key}': a quarter is Q1 to Q4")
        start = date(year, 3 * quarter - 2, 1)
        end = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
        return Period(key, "quarter", start, end)
    if match["week"] is not None:
        week = int(match["week"])
        try:
            start = date.fromisocalendar(year, week, 1)
        except ValueError:
            raise ValueError(f"'{key}': {year} has no ISO week {week}") from None
        return Period(key, "week", start, date.fromordinal(start.toordinal() + 7))
    if match["month"] is not None:
        month = int(match["month"])
        if not 1 <= month <= 12:
            raise ValueError(f"'{key}': a month is 01 to 12")
        end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        return Period(key, "month", date(year, month, 1), end)
    return Period(key, "year", date(year, 1, 1), date(year + 1, 1, 1))


# --------------------------------------------------------------------------- graph helpers


def join_path(
    model: SemanticModel, from_table: str, to_table: str
) -> list[tuple[Table, Join]] | None:
    """Shortest chain of many-to-one joins from one table to another; [] if same, None if none."""
    if from_table not in model.tables or to_table not in model.tables:
        return None
    if from_table == to_table:
        return []
    came_from: dict[str, tuple[str, Join]] = {}
    queue: deque[str] = deque([from_table])
    seen = {from_table}
    while queue:
        name = queue.popleft()
        for join in model.tables[name].joins:
            if join.target in seen or join.target not in model.tables:
                continue
            seen.add(join.target)
            came_from[join.target] = (name, join)
            if join.target == to_table:
                path: list[tuple[Table, Join]] = []
                step = to_table
                while step != from_table:
                    owner, via = came_from[step]
                    path.append((model.tables[owner], via))
                    step = owner
                return path[::-1]
            queue.append(join.target)
    return None


def reachable_tables(model: SemanticModel, table: str) -> set[str]:
    """The table itself and every table reached from it through many-to-one joins."""
    if table not in model.tables:
        return set()
    seen = {table}
    queue: deque[str] = deque([table])
    while queue:
        for join in model.tables[queue.popleft()].joins:
            if join.target in model.tables and join.target not in seen:
                seen.add(join.target)
                queue.append(join.target)
    return seen


def reachable_dimensions(model: SemanticModel, fact: str) -> set[str]:
    """Names of the dimensions a query on ``fact`` can group or filter by."""
    tables = reachable_tables(model, fact)
    names = {d.name for d in model.dimensions.values() if not d.is_time and d.table in tables}
    time_dim = model.time_dimension()
    if time_dim is not None and tables and model.tables[fact].time:
        names.add(time_dim.name)
    return names


def metric_references(metric: Metric) -> tuple[str, ...]:
    """Names of the metrics a ratio or expr metric is computed from, in order, no repeats."""
    if metric.kind == "ratio" and metric.ratio:
        return tuple(dict.fromkeys(metric.ratio))
    if metric.kind == "expr" and metric.expr:
        return expr_metrics(metric.expr)
    return ()


def expr_metrics(expr: str) -> tuple[str, ...]:
    """Metric names used in an ``expr`` formula, in order of appearance, no repeats."""
    try:
        tree = sqlglot.parse_one(expr)
    except sqlglot.errors.ParseError:
        return ()
    columns = sorted(tree.find_all(exp.Column), key=lambda c: _position(c))
    return tuple(dict.fromkeys(c.name for c in columns))


def _position(node: exp.Expression) -> int:
    ident = node.find(exp.Identifier)
    meta = getattr(ident, "meta", None) or {}
    return int(meta.get("start", 0))


def metric_facts(model: SemanticModel, name: str) -> set[str]:
    """Tables aggregated by the aggregate metrics that ``name`` is built from."""
    facts: set[str] = set()
    seen: set[str] = set()
    stack = [name]
    while stack:
        current = stack.pop()
        metric = model.metrics.get(current)
        if metric is None or current in seen:
            continue
        seen.add(current)
        if metric.kind == "aggregate" and metric.fact:
            facts.add(metric.fact)
        stack.extend(metric_references(metric))
    return facts


def _find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every elementary cycle found by depth-first search, each rotated to start at its min."""
    cycles: dict[tuple[str, ...], list[str]] = {}
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :]
                low = cycle.index(min(cycle))
                rotated = cycle[low:] + cycle[:low]
                cycles.setdefault(tuple(rotated), rotated)
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return list(cycles.values())


# --------------------------------------------------------------------------- loading

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOP_KEYS = (
    "version",
    "name",
    "title",
    "tables",
    "dimensions",
    "metrics",
    "tree",
    "goals",
    "rollups",
    "boards",
    "checks",
    "alerts",
    "webhooks",
    "segments",
)  # segments: read and checked by queries/segments.py
_TABLE_KEYS = ("kind", "primary_key", "time", "joins", "pii", "description")
_JOIN_KEYS = ("from", "to")
_DIMENSION_KEYS = ("column", "label", "drill", "time", "description")
_METRIC_KEYS = (
    "label",
    "fact",
    "sql",
    "filter",
    "ratio",
    "expr",
    "format",
    "direction",
    "description",
    "critical",
)
_TREE_KEYS = ("children", "relation")
_ROLLUP_KEYS = ("fact", "grain", "dimensions", "metrics")
_BOARD_KEYS = ("tier", "title", "period", "filters", "sections", "description")
_SECTION_KEYS = ("title", "bans", "charts")
_CHART_FIELDS = ("type", "metric", "metrics", "by", "grain", "compare")
_CHECK_COMMON = ("kind", "name", "column", "columns", "risk", "weight", "description")
_CHECK_EXTRA = {
    "not_null": (),
    "unique": (),
    "accepted_values": ("values",),
    "range": ("min", "max"),
    "relationship": ("to", "max_orphan_rate"),
    "freshness": ("max_age_hours",),
    "row_count_change": ("min", "max"),
    "sql": ("sql",),
}
_CHECK_NEEDS_COLUMN = (
    "not_null",
    "unique",
    "accepted_values",
    "range",
    "relationship",
    "freshness",
)
# statements a `sql` check may never contain: it reads, it does not write
_WRITES = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.Merge,
    exp.Command,
    exp.Copy,
    exp.TruncateTable,
    exp.Set,
)

_MISSING = object()


def _dot(key: str, field_: str) -> str:
    return f"{key}.{field_}" if key else field_


def _title(name: str) -> str:
    return name.replace("_", " ").strip().title()


def _type_name(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, date):
        return "a date"
    return type(value).__name__


def _plain(value: Any) -> Any:
    """ruamel's commented containers → plain dicts and lists (for stable str())."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _closest(word: str, choices: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return close[0] if close else None


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = _closest(word, choices)
    return f"; did you mean '{close}'?" if close else ""


def _sql_error(text: str, *, aggregate: bool) -> str | None:
    """Why ``text`` is not one SQL expression (an aggregate when asked), or None."""
    try:
        statements = [s for s in sqlglot.parse(text) if s is not None]
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0]["description"] if exc.errors else str(exc).splitlines()[0]
        return f"cannot parse {text!r}: {first}"
    if len(statements) != 1 or isinstance(statements[0], exp.Block):
        return f"{text!r} must be one SQL expression"
    tree = statements[0]
    if isinstance(tree, exp.Query) or tree.find(exp.Select) is not None:
        return f"{text!r} must be an expression, not a query"
    if aggregate and tree.find(exp.AggFunc) is None:
        return f"{text!r} has no aggregate function: write one aggregate such as sum(amount)"
    return None


def _select_error(text: str) -> str | None:
    """Why ``text`` is not one read-only SELECT (a `sql` check's query), or None."""
    try:
        statements = [s for s in sqlglot.parse(text) if s is not None]
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0]["description"] if exc.errors else str(exc).splitlines()[0]
        return f"cannot parse the query: {first}"
    if len(statements) != 1:
        return f"expected one SELECT statement, got {len(statements)} statements"
    tree = statements[0]
    writes = [node for node in tree.walk() if isinstance(node, _WRITES)]
    if writes or not isinstance(tree, exp.Query):
        what = type(writes[0] if writes else tree).__name__.upper()
        return f"a sql check must be a SELECT returning the failing rows, not {what}"
    return None


def select_tables(text: str) -> set[str]:
    """Tables a SELECT reads (common table expressions excluded)."""
    tree = sqlglot.parse_one(text)
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return {t.name for t in tree.find_all(exp.Table) if t.name and t.name not in ctes}


class _Loader:
    """Builds a SemanticModel from parsed YAML, collecting every problem on the way."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.lines: dict[str, int] = {}
        self.declared: dict[str, set[str]] = {
            "tables": set(),
            "dimensions": set(),
            "metrics": set(),
        }
        # where each board BAN and chart sits in the file (skipped entries shift indices)
        self.bans: list[tuple[str, str]] = []
        self.charts: list[tuple[str, Chart]] = []

    # -- bookkeeping

    def add(self, key: str, message: str) -> None:
        probe = key
        line = None
        while probe:
            if probe in self.lines:
                line = self.lines[probe]
                break
            probe = probe.rpartition(".")[0]
        self.problems.append(Problem(self.file, line, key, message))

    def collect_lines(self, node: Any, prefix: str) -> None:
        if isinstance(node, CommentedMap):
            for k in node:
                dotted = f"{prefix}.{k}" if prefix else str(k)
                pos = node.lc.data.get(k)
                if pos is not None:
                    self.lines[dotted] = pos[0] + 1
                self.collect_lines(node[k], dotted)
        elif isinstance(node, CommentedSeq):
            for i, item in enumerate(node):
                dotted = f"{prefix}.{i}"
                pos = node.lc.data.get(i)
                if pos is not None:
                    self.lines[dotted] = pos[0] + 1
                self.collect_lines(item, dotted)

    # -- typed access

    def mapping(self, value: Any, key: str, *, allow_none: bool = True) -> Mapping | None:
        if value is None and allow_none:
            return {}
        if not isinstance(value, Mapping):
            self.add(key, f"expected a mapping, got {_type_name(value)}")
            return None
        return value

    def keys(
        self, spec: Mapping, key: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> None:
        suggested: set[str] = set()
        for k in spec:
            if k in allowed:
                continue
            word = str(k)
            close = _closest(word, allowed)
            if close:
                suggested.add(close)  # a typo of a required key: don't also say "missing"
                hint = f"; did you mean '{close}'?"
            else:
                hint = "; expected one of " + ", ".join(allowed)
            self.add(_dot(key, word), f"unknown key '{word}'{hint}")
        for k in required:
            if k not in spec and k not in suggested:
                self.add(key or k, f"missing required key '{k}'")

    def items(self, value: Any, section: str, kind: str | None = None) -> Iterator[tuple[str, Any]]:
        spec = self.mapping(value, section)
        if spec is None:
            return
        for name, body in spec.items():
            if not isinstance(name, str) or not _NAME.match(name):
                self.add(
                    f"{section}.{name}",
                    f"'{name}' is not a valid name: use letters, digits and underscores",
                )
                continue
            if kind:
                self.declared[kind].add(name)
            yield name, body

    def string(self, spec: Mapping, key: str, field_: str, default: Any = None) -> Any:
        value = spec.get(field_, _MISSING)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, str):
            self.add(_dot(key, field_), f"expected a string, got {_type_name(value)}")
            return default
        return str(value)

    def boolean(self, spec: Mapping, key: str, field_: str, default: bool) -> bool:
        value = spec.get(field_, default)
        if not isinstance(value, bool):
            self.add(_dot(key, field_), f"expected true or false, got {_type_name(value)}")
            return default
        return bool(value)

    def choice(
        self, spec: Mapping, key: str, field_: str, choices: tuple[Any, ...], default: Any
    ) -> Any:
        value = spec.get(field_, _MISSING)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, bool) or value not in choices:
            hint = _suggest(str(value), map(str, choices)) if isinstance(value, str) else ""
            self.add(
                _dot(key, field_), f"'{value}' is not one of {', '.join(map(str, choices))}{hint}"
            )
            return default
        return value

    def names(
        self, spec: Mapping, key: str, field_: str, *, allow_str: bool = False
    ) -> tuple[str, ...]:
        value = spec.get(field_)
        if value is None:
            return ()
        if allow_str and isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.add(_dot(key, field_), f"expected a list of names, got {_type_name(value)}")
            return ()
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                self.add(_dot(key, f"{field_}.{i}"), f"expected a name, got {_type_name(item)}")
            else:
                out.append(str(item))
        return tuple(out)

    # -- sections

    def model(self, data: Any, path: Path) -> SemanticModel:
        top = self.mapping(data, "", allow_none=False)
        if top is None:
            raise ModelError(self.problems)
        # top-level `x-…` keys are free for YAML anchors (`x-money: &money {format: currency}`)
        visible = {k: v for k, v in top.items() if not str(k).startswith("x-")}
        self.keys(visible, "", _TOP_KEYS, required=("version", "name", "tables", "metrics"))
        version = top.get("version", 1)
        if "version" in top and (isinstance(version, bool) or version != 1):
            self.add("version", f"unsupported version {version!r}: this Starboard reads 1")
        name = self.string(top, "", "name", "") if "name" in top else ""
        title = self.string(top, "", "title", "") or _title(name)
        tables = self.tables(top.get("tables"))
        dimensions = self.dimensions(top.get("dimensions"))
        metrics = self.metrics(top.get("metrics"))
        tree = self.tree(top.get("tree"))
        goals = self.goals(top.get("goals"))
        rollups = self.rollups(top.get("rollups"))
        boards = self.boards(top.get("boards"))
        checks = self.checks(top.get("checks"))
        from queries.alerts import evaluate as alert_rules  # alerts build on this module

        alerts, webhooks = alert_rules.load_rules(self, top.get("alerts"), top.get("webhooks"))
        return SemanticModel(
            name=name,
            title=title,
            path=path,
            tables=tables,
            dimensions=dimensions,
            metrics=metrics,
            tree=tree,
            goals=goals,
            rollups=rollups,
            boards=boards,
            checks=checks,
            alerts=alerts,
            webhooks=webhooks,
            lines=dict(self.lines),
        )

    def tables(self, node: Any) -> dict[str, Table]:
        out: dict[str, Table] = {}
        for name, body in self.items(node, "tables", "tables"):
            key = f"tables.{name}"
            spec = self.mapping(body, key, allow_none=False)
            if spec is None:
                continue
            self.keys(spec, key, _TABLE_KEYS, required=("kind",))
            kind = self.choice(spec, key, "kind", ("fact", "dimension"), None)
            primary_key = self.names(spec, key, "primary_key", allow_str=True)
            if kind == "dimension" and not primary_key and "primary_key" not in spec:
                self.add(key, "missing required key 'primary_key' (dimension tables need one)")
            time = self.string(spec, key, "time")
            if time is not None and not re.match(
                r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$", time
            ):
                self.add(f"{key}.time", f"'{time}' is not a column or table.column")
                time = None
            joins = self.joins(spec.get("joins"), f"{key}.joins")
            pii = frozenset(self.names(spec, key, "pii"))
            description = self.string(spec, key, "description", "")
            # a bad kind is reported above; keep the table so references to it still resolve
            out[name] = Table(name, kind or "fact", primary_key, time, joins, pii, description)
        return out

    def joins(self, node: Any, key: str) -> tuple[Join, ...]:
        spec = self.mapping(node, key)
        if spec is None:
            return ()
        out = []
        for target, body in spec.items():
            jkey = f"{key}.{target}"
            if not isinstance(target, str) or not _NAME.match(target):
                self.add(jkey, f"'{target}' is not a table name")
                continue
            if isinstance(body, str) and body:
                out.append(Join(target, body, body))
                continue
            if not isinstance(body, Mapping):
                self.add(
                    jkey,
                    f"expected a column name or {{from: column, to: column}}, "
                    f"got {_type_name(body)}",
                )
                continue
            self.keys(body, jkey, _JOIN_KEYS, required=_JOIN_KEYS)
            src = self.string(body, jkey, "from")
            dst = self.string(body, jkey, "to")
            if src and dst:
                out.append(Join(target, src, dst))
        return tuple(out)

    def dimensions(self, node: Any) -> dict[str, Dimension]:
        out: dict[str, Dimension] = {}
        for name, body in self.items(node, "dimensions", "dimensions"):
            key = f"dimensions.{name}"
            spec = self.mapping(body, key, allow_none=False)
            if spec is None:
                continue
            self.keys(spec, key, _DIMENSION_KEYS)
            is_time = self.boolean(spec, key, "time", False)
            column = self.string(spec, key, "column")
            label = self.string(spec, key, "label", None) or _title(name)
            drill = self.string(spec, key, "drill")
            description = self.string(spec, key, "description", "")
            if is_time:
                if column is not None:
                    self.add(
                        f"{key}.column",
                        "the time dimension takes no column: it uses each table's `time`",
                    )
                out[name] = Dimension(name, label, None, None, drill, True, description)
                continue
            if column is None:
                if "column" not in spec and "time" not in spec:
                    self.add(
                        key,
                        "missing required key 'column' (table.column), "
                        "or `time: true` for the time dimension",
                    )
                continue
            table, dot, col = column.partition(".")
            if not dot or not _NAME.match(table) or not _NAME.match(col):
                self.add(f"{key}.column", f"'{column}' is not table.column")
                continue
            out[name] = Dimension(name, label, table, col, drill, False, description)
        return out

    def metrics(self, node: Any) -> dict[str, Metric]:
        out: dict[str, Metric] = {}
        for name, body in self.items(node, "metrics", "metrics"):
            key = f"metrics.{name}"
            spec = self.mapping(body, key, allow_none=False)
            if spec is None:
                continue
            self.keys(spec, key, _METRIC_KEYS)
            label = self.string(spec, key, "label", None) or _title(name)
            common = dict(
                label=label,
                format=self.choice(spec, key, "format", FORMATS, "number"),
                direction=self.choice(spec, key, "direction", DIRECTIONS, "up"),
                description=self.string(spec, key, "description", ""),
                critical=self.boolean(spec, key, "critical", False),
            )
            kinds = [k for k in ("sql", "ratio", "expr") if k in spec]
            if not kinds:
                self.add(key, "a metric needs `sql` (with `fact`), `ratio` or `expr`")
                continue
            if len(kinds) > 1:
                self.add(
                    f"{key}.{kinds[1]}",
                    f"a metric has one of sql, ratio or expr, not {' and '.join(kinds)}",
                )
                continue
            if kinds[0] != "sql":
                for extra in ("fact", "filter"):
                    if extra in spec:
                        self.add(f"{key}.{extra}", f"`{extra}` applies only to sql metrics")
            metric = None
            if kinds[0] == "sql":
                metric = self.aggregate(name, key, spec, common)
            elif kinds[0] == "ratio":
                raw = spec["ratio"]
                if (
                    not isinstance(raw, list)
                    or len(raw) != 2
                    or not all(isinstance(side, str) and side for side in raw)
                ):
                    self.add(
                        f"{key}.ratio",
                        f"expected [numerator, denominator] metric names, got {_plain(raw)!r}",
                    )
                else:
                    metric = Metric(name, kind="ratio", ratio=(str(raw[0]), str(raw[1])), **common)
            else:
                expr = self.string(spec, key, "expr")
                if expr is not None:
                    error = _sql_error(expr, aggregate=False)
                    if error:
                        self.add(f"{key}.expr", error)
                    else:
                        metric = Metric(name, kind="expr", expr=expr, **common)
            if metric is not None:
                out[name] = metric
        return out

    def aggregate(self, name: str, key: str, spec: Mapping, common: dict) -> Metric | None:
        fact = self.string(spec, key, "fact")
        if "fact" not in spec:
            self.add(key, "missing required key 'fact' (the table `sql` aggregates)")
        sql = self.string(spec, key, "sql")
        where = self.string(spec, key, "filter")
        ok = fact is not None and sql is not None
        if sql is not None and (error := _sql_error(sql, aggregate=True)):
            self.add(f"{key}.sql", error)
            ok = False
        if where is not None and (error := _sql_error(where, aggregate=False)):
            self.add(f"{key}.filter", error)
            ok = False
        if not ok:
            return None
        return Metric(name, kind="aggregate", fact=fact, sql=sql, filter=where, **common)

    def tree(self, node: Any) -> dict[str, TreeNode]:
        out: dict[str, TreeNode] = {}
        for name, body in self.items(node, "tree"):
            key = f"tree.{name}"
            spec = self.mapping(body, key, allow_none=False)
            if spec is None:
                continue
            self.keys(spec, key, _TREE_KEYS, required=_TREE_KEYS)
            children = self.names(spec, key, "children")
            relation = self.choice(spec, key, "relation", RELATIONS, None)
            if "children" in spec and not children:
                self.add(f"{key}.children", "a tree node needs at least one child")
            if relation == "ratio" and len(children) != 2:
                self.add(
                    f"{key}.children",
                    "a ratio relation needs exactly two children [numerator, denominator]",
                )
            elif relation in ("sum", "product") and len(children) < 2:
                self.add(f"{key}.children", f"a {relation} relation needs two or more children")
            if children:
                # an invalid relation is reported above; keep the node to check its children
                out[name] = TreeNode(name, children, relation or "influence")
        return out

    def goals(self, node: Any) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for name, body in self.items(node, "goals"):
            key = f"goals.{name}"
            spec = self.mapping(body, key, allow_none=False)
            if spec is None:
                continue
            targets: dict[str, float] = {}
            for period, value in spec.items():
                pkey = f"{key}.{period}"
                if isinstance(period, date):
                    self.add(
                        pkey,
                        f"'{period}' is a day: goals are set per year, quarter, "
                        "month or ISO week (2026, 2026-Q4, 2026-10, 2026-W43)",
                    )
                    continue
                if isinstance(period, bool) or not isinstance(period, int | str):
                    self.add(
                        pkey, f"'{period}' is not a period: use 2026, 2026-Q4, 2026-10 or 2026-W43"
                    )
                    continue
                try:
                    parsed = parse_period(period)
                except ValueError as exc:
                    self.add(pkey, str(exc))
                    continue
                if isinstance(value, bool) or not isinstance(value, int | float):
                    self.add(pkey, f"a goal is a number, got {_type_name(value)}")
                    continue
                targets[parsed.key] = float(value)
            out[name] = targets
        return out

    def rollups(self, node: Any) -> dict[str, Rollup]:
        out: dict[str, Rollup] = {}
        for name, body in self.items(node, "rollups"):
            key = f"rollups.{name}"
            spec = self.mapping(body, key, allow_none=False)
            if spec is None:
                continue
            self.keys(spec, key, _ROLLUP_KEYS, required=("fact", "grain", "metrics"))
            fact = self.string(spec, key, "fact")
            grain = self.choice(spec, key, "grain", GRAINS, None)
            dims = self.names(spec, key, "dimensions")
            metrics = self.names(spec, key, "metrics")
            if "metrics" in spec and not metrics:
                self.add(f"{key}.metrics", "a rollup needs at least one metric")
            if fact:
                out[name] = Rollup(name, fact, grain or "day", dims, metrics)
        return out

    def boards(self, node: Any) -> dict[str, Board]:
        out: dict[str, Board] = {}
        for name, body in self.items(node, "boards"):
            key = f"boards.{name}"
            spec = self.mapping(body, key, allow_none=False)
            if spec is None:
                continue
            self.keys(spec, key, _BOARD_KEYS, required=("tier", "sections"))
            tier = self.choice(spec, key, "tier", TIERS, None)
            title = self.string(spec, key, "title", None) or _title(name)
            period = self.choice(spec, key, "period", GRAINS, "month")
            filters = self.names(spec, key, "filters")
            description = self.string(spec, key, "description", "")
            sections = self.sections(spec.get("sections"), f"{key}.sections")
            # a bad tier is reported above; keep the board to check what it references
            tier = 2 if tier is None else tier
            out[name] = Board(name, tier, title, period, filters, sections, description)
        return out

    def sections(self, node: Any, key: str) -> tuple[Section, ...]:
        if node is None:
            return ()
        if not isinstance(node, list):
            self.add(key, f"expected a list of sections, got {_type_name(node)}")
            return ()
        out = []
        for i, body in enumerate(node):
            skey = f"{key}.{i}"
            spec = self.mapping(body, skey, allow_none=False)
            if spec is None:
                continue
            self.keys(spec, skey, _SECTION_KEYS)
            charts: list[Chart] = []
            raw = spec.get("charts")
            if raw is not None and not isinstance(raw, list):
                self.add(f"{skey}.charts", f"expected a list of charts, got {_type_name(raw)}")
            for j, chart in enumerate(raw if isinstance(raw, list) else ()):
                parsed = self.chart(chart, f"{skey}.charts.{j}")
                if parsed is not None:
                    charts.append(parsed)
                    self.charts.append((f"{skey}.charts.{j}", parsed))
            bans = self.names(spec, skey, "bans")
            if isinstance(spec.get("bans"), list):
                self.bans += [
                    (f"{skey}.bans.{j}", str(b))
                    for j, b in enumerate(spec["bans"])
                    if isinstance(b, str) and b
                ]
            out.append(Section(self.string(spec, skey, "title", ""), bans, tuple(charts)))
        return tuple(out)

    def number(
        self,
        spec: Mapping,
        key: str,
        field_: str,
        *,
        low: float | None = None,
        high: float | None = None,
    ) -> float | None:
        value = spec.get(field_)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.add(_dot(key, field_), f"expected a number, got {_type_name(value)}")
            return None
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            self.add(_dot(key, field_), f"{value!r} is out of range: use a number {bounds}")
            return None
        return float(value)

    def checks(self, node: Any) -> tuple[Check, ...]:
        out: list[Check] = []
        for table, body in self.items(node, "checks"):
            tkey = f"checks.{table}"
            if not isinstance(body, list):
                self.add(tkey, f"expected a list of checks, got {_type_name(body)}")
                continue
            names: set[str] = set()
            for i, item in enumerate(body):
                check = self.check(table, item, f"{tkey}.{i}")
                if check is None:
                    continue
                if check.name in names:
                    self.add(
                        f"{tkey}.{i}.name",
                        f"two checks on '{table}' are named '{check.name}': give one a `name`",
                    )
                    continue
                names.add(check.name)
                out.append(check)
        return tuple(out)

    def check(self, table: str, body: Any, key: str) -> Check | None:
        spec = self.mapping(body, key, allow_none=False)
        if spec is None:
            return None
        kind = self.choice(spec, key, "kind", CHECK_KINDS, None)
        if "kind" not in spec:
            self.add(key, "missing required key 'kind' (one of " + ", ".join(CHECK_KINDS) + ")")
        if kind is None:
            return None
        extra = _CHECK_EXTRA[kind]
        self.keys(spec, key, _CHECK_COMMON + extra)
        columns = self.names(spec, key, "columns")
        column = self.string(spec, key, "column")
        if column is not None and "columns" in spec:
            self.add(f"{key}.columns", "a check has `column` or `columns`, not both")
        elif column is not None:
            columns = (column,)
        bad = [c for c in columns if not _NAME.match(c)]
        for c in bad:
            self.add(f"{key}.column", f"'{c}' is not a column name")
        if bad:
            return None
        if kind in _CHECK_NEEDS_COLUMN and not columns:
            self.add(key, f"a {kind} check needs `column`")
            return None
        if kind in ("accepted_values", "range", "relationship", "freshness") and len(columns) > 1:
            self.add(f"{key}.columns", f"a {kind} check takes one column")
            return None
        if kind == "row_count_change" and columns:
            self.add(
                f"{key}.column",
                "a row_count_change check counts the whole table: it takes no column",
            )
            return None
        name = self.string(spec, key, "name") if "name" in spec else "_".join((kind, *columns))
        if not name or not _NAME.match(name):
            self.add(
                f"{key}.name", f"'{name}' is not a valid name: use letters, digits and underscores"
            )
            return None
        risk = self.choice(spec, key, "risk", (1, 2), 2)
        weight = self.number(spec, key, "weight", low=0.0)
        fields: dict[str, Any] = {}
        missing = [k for k in extra if k not in spec and k not in ("max_orphan_rate",)]
        if kind in ("range", "row_count_change"):
            missing = [] if ("min" in spec or "max" in spec) else ["min or max"]
        for k in missing:
            self.add(key, f"a {kind} check needs `{k}`")
        if missing:
            return None
        if kind == "accepted_values":
            values = spec.get("values")
            if (
                not isinstance(values, list)
                or not values
                or not all(isinstance(v, str | int | float) for v in values)
            ):
                self.add(
                    f"{key}.values",
                    f"expected a non-empty list of values, got {_type_name(values)}",
                )
                return None
            fields["values"] = tuple(_plain(values))
        elif kind in ("range", "row_count_change"):
            low = self.number(spec, key, "min")
            high = self.number(spec, key, "max")
            if low is not None and high is not None and low > high:
                self.add(f"{key}.max", f"max {high:g} is below min {low:g}")
                return None
            fields.update(min=low, max=high)
        elif kind == "relationship":
            target = self.string(spec, key, "to")
            owner, dot, col = (target or "").partition(".")
            if not dot or not _NAME.match(owner) or not _NAME.match(col):
                self.add(f"{key}.to", f"'{target}' is not table.column")
                return None
            fields["to"] = (owner, col)
            rate = self.number(spec, key, "max_orphan_rate", low=0.0, high=1.0)
            fields["max_orphan_rate"] = rate or 0.0
        elif kind == "freshness":
            hours = self.number(spec, key, "max_age_hours", low=0.0)
            if hours is None:
                return None
            fields["max_age_hours"] = hours
        elif kind == "sql":
            text = self.string(spec, key, "sql")
            error = _select_error(text) if text is not None else "expected a SELECT"
            if error:
                self.add(f"{key}.sql", error)
                return None
            fields["sql"] = text
        return Check(
            table,
            str(name),
            kind,
            key,
            columns,
            risk,
            CHECK_WEIGHTS[risk] if weight is None else weight,
            description=self.string(spec, key, "description", ""),
            **fields,
        )

    def chart(self, body: Any, key: str) -> Chart | None:
        spec = self.mapping(body, key, allow_none=False)
        if spec is None:
            return None
        if "type" not in spec:
            self.add(key, "missing required key 'type'")
            return None
        kind = self.choice(spec, key, "type", CHART_TYPES, None)
        metric = self.string(spec, key, "metric")
        metrics = self.names(spec, key, "metrics")
        by = self.string(spec, key, "by")
        grain = self.choice(spec, key, "grain", GRAINS, None)
        compare = self.choice(spec, key, "compare", COMPARES, None)
        if "metric" in spec and "metrics" in spec:
            self.add(f"{key}.metrics", "a chart has `metric` or `metrics`, not both")
        elif metric is None and not metrics:
            self.add(key, "a chart needs `metric` or `metrics`")
        if kind == "funnel" and len(metrics) < 2:
            self.add(key, "a funnel needs `metrics` with two or more steps")
        options = tuple(
            sorted((str(k), str(_plain(v))) for k, v in spec.items() if k not in _CHART_FIELDS)
        )
        if kind is None:
            return None
        return Chart(kind, metric, metrics, by, grain, compare, options)


# --------------------------------------------------------------------------- validation


class _Validator:
    """Cross-references between sections: names, reachability, cycles, board limits."""

    def __init__(self, loader: _Loader, model: SemanticModel) -> None:
        self.loader = loader
        self.model = model
        self.tables = loader.declared["tables"]
        self.dims = loader.declared["dimensions"]
        self.metrics = loader.declared["metrics"]

    def add(self, key: str, message: str) -> None:
        self.loader.add(key, message)

    def known(self, kind: str, name: str, declared: set[str], key: str) -> bool:
        if name in declared:
            return True
        self.add(key, f"unknown {kind} '{name}'{_suggest(name, declared)}")
        return False

    def run(self) -> None:
        self.check_tables()
        self.check_dimensions()
        self.check_metrics()
        self.check_tree()
        for name in self.model.goals:
            self.known("metric", name, self.metrics, f"goals.{name}")
        self.check_rollups()
        self.check_boards()
        self.check_checks()
        from queries.alerts import evaluate as alert_rules

        alert_rules.check_rules(self, self.model)

    def check_checks(self) -> None:
        for check in self.model.checks:
            if not self.known("table", check.table, self.tables, f"checks.{check.table}"):
                continue
            if check.to is not None:
                self.known("table", check.to[0], self.tables, f"{check.key}.to")
            if check.sql is not None:
                for name in sorted(select_tables(check.sql)):
                    self.known("table", name, self.tables, f"{check.key}.sql")

    def check_tables(self) -> None:
        for table in self.model.tables.values():
            key = f"tables.{table.name}"
            for join in table.joins:
                jkey = f"{key}.joins.{join.target}"
                if join.target == table.name:
                    self.add(jkey, "a table cannot join itself")
                else:
                    self.known("table", join.target, self.tables, jkey)
            if table.time and "." in table.time:
                target = table.time.split(".")[0]
                if (
                    self.known("table", target, self.tables, f"{key}.time")
                    and target in self.model.tables
                    and join_path(self.model, table.name, target) is None
                ):
                    self.add(
                        f"{key}.time",
                        f"table '{target}' is not reachable from '{table.name}' through its joins",
                    )

    def check_dimensions(self) -> None:
        times = [d.name for d in self.model.dimensions.values() if d.is_time]
        for extra in times[1:]:
            self.add(
                f"dimensions.{extra}.time",
                f"only one time dimension is allowed ('{times[0]}' is already one)",
            )
        for dim in self.model.dimensions.values():
            key = f"dimensions.{dim.name}"
            if dim.table is not None:
                self.known("table", dim.table, self.tables, f"{key}.column")
            if dim.drill is not None:
                if dim.drill == dim.name:
                    self.add(f"{key}.drill", "a dimension cannot drill into itself")
                else:
                    self.known("dimension", dim.drill, self.dims, f"{key}.drill")
            if dim.name in self.metrics:
                self.add(
                    key, f"'{dim.name}' is both a dimension and a metric: names must be unique"
                )
        graph = {d.name: [d.drill] for d in self.model.dimensions.values() if d.drill}
        for cycle in _find_cycles(graph):
            if len(cycle) > 1:
                self.add(
                    f"dimensions.{cycle[0]}.drill",
                    "drill-down loops: " + " → ".join([*cycle, cycle[0]]),
                )

    def check_metrics(self) -> None:
        graph: dict[str, tuple[str, ...]] = {}
        for metric in self.model.metrics.values():
            key = f"metrics.{metric.name}"
            if metric.kind == "aggregate" and metric.fact:
                self.known("table", metric.fact, self.tables, f"{key}.fact")
            elif metric.kind == "ratio" and metric.ratio:
                for i, side in enumerate(metric.ratio):
                    self.known("metric", side, self.metrics, f"{key}.ratio.{i}")
            elif metric.kind == "expr":
                for ref in metric_references(metric):
                    self.known("metric", ref, self.metrics, f"{key}.expr")
            graph[metric.name] = metric_references(metric)
        for cycle in _find_cycles(graph):
            first = self.model.metrics[cycle[0]]
            self.add(
                f"metrics.{cycle[0]}.{first.kind}",
                "circular metric definition: " + " → ".join([*cycle, cycle[0]]),
            )

    def check_tree(self) -> None:
        for node in self.model.tree.values():
            key = f"tree.{node.metric}"
            self.known("metric", node.metric, self.metrics, key)
            for i, child in enumerate(node.children):
                if (
                    self.known("metric", child, self.metrics, f"{key}.children.{i}")
                    and child == node.metric
                ):
                    self.add(f"{key}.children.{i}", "a metric cannot be its own child")
        graph = {n.metric: n.children for n in self.model.tree.values()}
        for cycle in _find_cycles(graph):
            if len(cycle) > 1:
                self.add(
                    f"tree.{cycle[0]}.children",
                    "the metric tree loops: " + " → ".join([*cycle, cycle[0]]),
                )

    def check_rollups(self) -> None:
        for rollup in self.model.rollups.values():
            key = f"rollups.{rollup.name}"
            fact_ok = (
                self.known("table", rollup.fact, self.tables, f"{key}.fact")
                and rollup.fact in self.model.tables
            )
            reachable = reachable_dimensions(self.model, rollup.fact) if fact_ok else set()
            for i, name in enumerate(rollup.dimensions):
                dkey = f"{key}.dimensions.{i}"
                if (
                    self.known("dimension", name, self.dims, dkey)
                    and fact_ok
                    and name in self.model.dimensions
                    and name not in reachable
                ):
                    self.add(
                        dkey,
                        f"dimension '{name}' is not reachable from "
                        f"'{rollup.fact}' through its joins",
                    )
            for i, name in enumerate(rollup.metrics):
                mkey = f"{key}.metrics.{i}"
                if not self.known("metric", name, self.metrics, mkey):
                    continue
                metric = self.model.metrics.get(name)
                if metric is None:
                    continue
                if metric.kind != "aggregate":
                    self.add(
                        mkey,
                        f"metric '{name}' is a {metric.kind}: a rollup stores "
                        "aggregate metrics (ratios are computed from their sides)",
                    )
                elif metric.fact != rollup.fact:
                    self.add(
                        mkey, f"metric '{name}' aggregates '{metric.fact}', not '{rollup.fact}'"
                    )
                elif not metric.additive:
                    self.add(
                        mkey,
                        f"metric '{name}' ({metric.sql}) is not additive: a rollup "
                        "can only store sums and counts that add up across rows",
                    )

    def check_boards(self) -> None:
        for board in self.model.boards.values():
            key = f"boards.{board.name}"
            for i, name in enumerate(board.filters):
                self.known("dimension", name, self.dims, f"{key}.filters.{i}")
            if board.tier == 0:
                if board.filters:
                    self.add(f"{key}.filters", "a tier 0 board has no filters but the period")
                if len(board.sections) > TIER0_MAX_SECTIONS:
                    self.add(
                        f"{key}.sections",
                        f"a tier 0 board has at most {TIER0_MAX_SECTIONS} sections, "
                        f"this one has {len(board.sections)}",
                    )
                widgets = sum(len(s.bans) + len(s.charts) for s in board.sections)
                if widgets > TIER0_MAX_WIDGETS:
                    self.add(
                        f"{key}.sections",
                        f"a tier 0 board has fewer than {TIER0_MAX_WIDGETS + 1} widgets "
                        f"(BANs + charts), this one has {widgets}",
                    )
        for key, name in self.loader.bans:
            self.known("metric", name, self.metrics, key)
        for key, chart in self.loader.charts:
            self.check_chart(chart, key)

    def check_chart(self, chart: Chart, key: str) -> None:
        names = [(chart.metric, f"{key}.metric")] if chart.metric else []
        names += [(m, f"{key}.metrics.{i}") for i, m in enumerate(chart.metrics)]
        known = [m for m, mkey in names if self.known("metric", m, self.metrics, mkey)]
        if not chart.by:
            return
        dim_name, _, grain = chart.by.partition(":")
        if not self.known("dimension", dim_name, self.dims, f"{key}.by"):
            return
        dim = self.model.dimensions.get(dim_name)
        if grain and (grain not in GRAINS or (dim is not None and not dim.is_time)):
            self.add(
                f"{key}.by",
                f"'{chart.by}': only the time dimension takes a grain, one of {', '.join(GRAINS)}",
            )
        if dim is None:
            return
        for name in known:
            for fact in sorted(metric_facts(self.model, name)):
                if fact in self.model.tables and dim_name not in reachable_dimensions(
                    self.model, fact
                ):
                    self.add(
                        f"{key}.by",
                        f"dimension '{dim_name}' is not reachable from "
                        f"'{fact}', which metric '{name}' aggregates",
                    )


def parse_model(text: str, path: str | Path = "<model>") -> SemanticModel:
    """Build a SemanticModel from YAML text; raises ModelError listing every problem."""
    path = Path(path)
    loader = _Loader(str(path))
    yaml = YAML(typ="rt")
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise ModelError(
            Problem(
                str(path),
                mark.line + 1 if mark else None,
                "syntax",
                f"YAML syntax error: {message}",
            )
        ) from exc
    except YAMLError as exc:
        raise ModelError(Problem(str(path), None, "syntax", f"YAML error: {exc}")) from exc
    if data is None:
        raise ModelError(Problem(str(path), None, "", "the model file is empty"))
    loader.collect_lines(data, "")
    model = loader.model(data, path)
    _Validator(loader, model).run()
    if loader.problems:
        problems = sorted(loader.problems, key=lambda p: (p.line is None, p.line or 0))
        raise ModelError(problems)
    return model


def load_model(path: str | Path) -> SemanticModel:
    """Read and validate a semantic model YAML file; raises ModelError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelError(
            Problem(str(path), None, "", f"cannot read the model file: {exc.strerror}")
        ) from exc
    return parse_model(text, path)


# --------------------------------------------------------------------------- warehouse checks

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


def _warehouse_columns(conn: sa.Connection) -> dict[str, dict[str, str]]:
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


def check_model_against_warehouse(model: SemanticModel, engine: sa.Engine) -> list[Problem]:
    """Compare a model with a live warehouse (read-only) and list every mismatch found."""
    problems: list[Problem] = []

    def add(key: str, message: str) -> None:
        problems.append(Problem(str(model.path), model.line_of(key), key, message))

    try:
        conn = engine.connect()
    except sa.exc.DBAPIError as exc:
        add("warehouse", f"cannot connect to the warehouse: {str(exc.orig).strip()}")
        return problems
    with conn:
        columns = _warehouse_columns(conn)
        _check_structure(model, columns, add)
        _check_metric_sql(model, columns, engine.dialect.name, add)
        for problem in check_columns(model, columns):
            add(*problem)
        _check_join_keys(model, columns, conn, add)
        conn.rollback()  # read-only: nothing to keep
    return problems


def _check_structure(model: SemanticModel, columns: dict[str, dict[str, str]], add: Any) -> None:
    """Tables, key, join, pii, dimension and time columns exist; time columns are temporal."""

    def has(table: str, column: str, key: str) -> bool:
        cols = columns.get(table)
        if cols is None:
            return False
        if column not in cols:
            add(key, f"column '{column}' does not exist in table '{table}'{_suggest(column, cols)}")
            return False
        return True

    for table in model.tables.values():
        key = f"tables.{table.name}"
        if table.name not in columns:
            add(
                key,
                f"table '{table.name}' does not exist in the warehouse"
                f"{_suggest(table.name, columns)}",
            )
            continue
        for col in table.primary_key:
            has(table.name, col, f"{key}.primary_key")
        for col in sorted(table.pii):
            has(table.name, col, f"{key}.pii")
        for join in table.joins:
            jkey = f"{key}.joins.{join.target}"
            has(table.name, join.from_column, jkey)
            if join.target in columns:
                has(join.target, join.to_column, jkey)
        if table.time:
            owner, _, col = table.time.rpartition(".")
            owner = owner or table.name
            if owner in columns and has(owner, col, f"{key}.time"):
                type_name = columns[owner][col]
                if not _is_temporal(type_name):
                    add(
                        f"{key}.time",
                        f"time column '{owner}.{col}' is {type_name}, not a DATE or TIMESTAMP",
                    )
    for dim in model.dimensions.values():
        if dim.table and dim.column and dim.table in columns:
            has(dim.table, dim.column, f"dimensions.{dim.name}.column")


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
                        f"{_suggest(column, cols)}",
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
    """Every identifier in an aggregate metric's sql and filter is a column of its fact."""
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
            for column in tree.find_all(exp.Column):
                if column.table and column.table != metric.fact:
                    add(
                        key,
                        f"'{column.sql()}' is not a column of '{metric.fact}': a metric's "
                        "sql and filter use its fact's own columns",
                    )
                elif column.name not in fact_cols:
                    add(
                        key,
                        f"column '{column.name}' does not exist in table '{metric.fact}'"
                        f"{_suggest(column.name, fact_cols)}",
                    )


def _check_join_keys(
    model: SemanticModel, columns: dict[str, dict[str, str]], conn: sa.Connection, add: Any
) -> None:
    """The key each join lands on is unique in its target, or the join multiplies fact rows."""
    keys: dict[tuple[str, tuple[str, ...]], str] = {}
    for owner in model.tables.values():
        for join in owner.joins:
            target = model.tables.get(join.target)
            if target is None:
                continue
            to_cols: tuple[str, ...] = (join.to_column,)
            key = (
                f"tables.{target.name}.primary_key"
                if target.primary_key == to_cols
                else f"tables.{owner.name}.joins.{target.name}"
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
    """Load a model and check it against a warehouse: every problem, [] when all is well."""
    try:
        model = load_model(model_path)
    except ModelError as exc:
        return list(exc.problems)
    return check_model_against_warehouse(model, engine)
