"""YAML → frozen model objects: each section read and checked on its own, every problem
named with its file, line and key (cross-references are ``validate.py``'s job).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from app.core.errors import ModelError, Problem, QueryError
from app.core.sqlwrites import WRITES
from app.core.yamllines import collect_lines
from queries.semantic import aggregates as order_stats
from queries.semantic import alert_rules, sqlexpr, timewise
from queries.semantic.periods import parse_period
from queries.semantic.share import SHARE_KEYS
from queries.semantic.types import (
    CHART_TYPES,
    CHECK_KINDS,
    CHECK_WEIGHTS,
    COMPARES,
    DIMENSION_KINDS,
    DIRECTIONS,
    DURATION_UNITS,
    FORMATS,
    GRAINS,
    HINT_DISTRIBUTIONS,
    HINT_TYPES,
    OVER_TIME,
    RELATIONS,
    TIERS,
    TIME_OPS,
    Board,
    Chart,
    Check,
    ColumnHint,
    Dimension,
    Join,
    Metric,
    Rollup,
    Section,
    SemanticModel,
    Table,
    TreeNode,
)

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
_TABLE_KEYS = (
    "kind",
    "primary_key",
    "time",
    "joins",
    "pii",
    "description",
    "freshness_hours",
    "columns",
)
_JOIN_KEYS = ("table", "from", "to")
_HINT_KEYS = ("type", "values", "min", "max", "distribution", "null_rate")
_DIMENSION_KEYS = (
    "column",
    "label",
    "drill",
    "time",
    "description",
    "table",
    "sql",
    "order",
    "kind",
    "movers",
)
_METRIC_KEYS = (
    "label",
    "fact",
    "sql",
    "filter",
    "ratio",
    "expr",
    "share",
    "format",
    "direction",
    "description",
    "critical",
    "unit",
    "over_time",
    *TIME_OPS,
)
_TREE_KEYS = ("children", "relation", "tolerance")
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


def suggest(word: str, choices: Iterable[str]) -> str:
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
    if (
        aggregate
        and tree.find(exp.AggFunc) is None
        and not order_stats.mentions_order_statistic(text)
    ):
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
    writes = [node for node in tree.walk() if isinstance(node, WRITES)]
    if writes or not isinstance(tree, exp.Query):
        what = type(writes[0] if writes else tree).__name__.upper()
        return f"a sql check must be a SELECT returning the failing rows, not {what}"
    return None


def select_tables(text: str) -> set[str]:
    """Tables a SELECT reads (common table expressions excluded)."""
    tree = sqlglot.parse_one(text)
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return {t.name for t in tree.find_all(exp.Table) if t.name and t.name not in ctes}


class Loader:
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
        collect_lines(node, prefix, self.lines)

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
            hint = suggest(str(value), map(str, choices)) if isinstance(value, str) else ""
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
            hints_only = bool(spec) and set(spec) == {"columns"}
            self.keys(spec, key, _TABLE_KEYS, required=() if hints_only else ("kind",))
            if hints_only:  # column hints for a table declared under another name?
                others = [str(t) for t in (node or {}) if t != name]
                self.add(
                    key,
                    f"column hints for table '{name}', which is not declared (no `kind`)"
                    f"{suggest(name, others)}",
                )
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
            hints = self.column_hints(spec.get("columns"), f"{key}.columns")
            freshness = spec.get("freshness_hours")
            if freshness is not None and (
                isinstance(freshness, bool) or not isinstance(freshness, int | float)
            ):
                self.add(
                    f"{key}.freshness_hours",
                    f"expected a number of hours, got {_type_name(freshness)}",
                )
                freshness = None
            # a bad kind is reported above; keep the table so references to it still resolve
            out[name] = Table(
                name,
                kind or "fact",
                primary_key,
                time,
                joins,
                pii,
                description,
                None if freshness is None else float(freshness),
                hints,
            )
        return out

    def column_hints(self, node: Any, key: str) -> tuple[ColumnHint, ...]:
        """Optional per-column hints (type, values, bounds, distribution, null rate)."""
        out: list[ColumnHint] = []
        for column, body in self.items(node, key):
            ckey = f"{key}.{column}"
            spec = self.mapping(body, ckey, allow_none=False)
            if spec is None:
                continue
            self.keys(spec, ckey, _HINT_KEYS)
            type_ = self.string(spec, ckey, "type")
            if type_ is not None and type_.upper() not in HINT_TYPES:
                self.add(
                    f"{ckey}.type",
                    f"'{type_}' is not one of {', '.join(HINT_TYPES)}"
                    f"{suggest(type_.upper(), HINT_TYPES)}",
                )
                type_ = None
            values: tuple[Any, ...] = ()
            if "values" in spec:
                raw = spec.get("values")
                if (
                    not isinstance(raw, list)
                    or not raw
                    or not all(isinstance(v, str | int | float) for v in raw)
                ):
                    self.add(
                        f"{ckey}.values",
                        f"expected a non-empty list of values, got {_type_name(raw)}",
                    )
                else:
                    values = tuple(_plain(raw))
            low = self.number(spec, ckey, "min")
            high = self.number(spec, ckey, "max")
            if low is not None and high is not None and low > high:
                self.add(f"{ckey}.max", f"max {high:g} is below min {low:g}")
            distribution = self.choice(spec, ckey, "distribution", HINT_DISTRIBUTIONS, None)
            null_rate = self.number(spec, ckey, "null_rate", low=0.0, high=1.0)
            out.append(
                ColumnHint(
                    column,
                    type_.upper() if type_ else None,
                    values,
                    low,
                    high,
                    distribution,
                    null_rate,
                )
            )
        return tuple(out)

    def joins(self, node: Any, key: str) -> tuple[Join, ...]:
        spec = self.mapping(node, key)
        if spec is None:
            return ()
        out = []
        for target, body in spec.items():
            jkey = f"{key}.{target}"
            if not isinstance(target, str) or not _NAME.match(target):
                self.add(jkey, f"'{target}' is not a table or role name")
                continue
            if isinstance(body, str) and body:
                out.append(Join(target, body, body))
                continue
            if not isinstance(body, Mapping):
                self.add(
                    jkey,
                    f"expected a column name or {{from: column, to: column}} "
                    f"(with `table:` for a role), got {_type_name(body)}",
                )
                continue
            self.keys(body, jkey, _JOIN_KEYS, required=("from", "to"))
            src = self.string(body, jkey, "from")
            dst = self.string(body, jkey, "to")
            table = self.string(body, jkey, "table")
            if table is not None and not _NAME.match(table):
                self.add(f"{jkey}.table", f"'{table}' is not a table name")
                continue
            if src and dst:
                out.append(Join(target, src, dst, table or target))
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
            extras = self.dimension_extras(spec, key, is_time)
            if "sql" in spec or "table" in spec:
                dim = self.computed_dimension(name, key, spec, label, drill, description, extras)
                if dim is not None:
                    out[name] = dim
                continue
            if is_time and column is None:
                if "column" not in spec:  # the primary time dimension: each table's `time`
                    out[name] = Dimension(
                        name, label, None, None, drill, True, description, **extras
                    )
                continue
            if column is None:
                if "column" not in spec and "time" not in spec:
                    self.add(
                        key,
                        "missing required key 'column' (table.column), "
                        "`table` and `sql` for a computed dimension, "
                        "or `time: true` for the time dimension",
                    )
                continue
            table, dot, col = column.partition(".")
            if not dot or not _NAME.match(table) or not _NAME.match(col):
                self.add(f"{key}.column", f"'{column}' is not table.column")
                continue
            out[name] = Dimension(
                name, label, table, col, drill, False, description, secondary_time=is_time, **extras
            )
        return out

    def dimension_extras(self, spec: Mapping, key: str, is_time: bool) -> dict[str, Any]:
        """A dimension's `kind`, `movers` and `order` (the same for every sort of dimension)."""
        kind = self.choice(spec, key, "kind", DIMENSION_KINDS, None)
        extras: dict[str, Any] = {"kind": kind or ("calendar" if is_time else "segment")}
        if "movers" in spec:
            extras["movers"] = self.boolean(spec, key, "movers", True)
        raw = spec.get("order")
        if raw is None:
            return extras
        okey = f"{key}.order"
        if is_time:
            self.add(okey, "a time dimension's values are dates: they sort in date order")
        elif not isinstance(raw, list) or not raw:
            self.add(okey, f"expected a list of the dimension's values, got {_type_name(raw)}")
        else:
            values: list[Any] = []
            for i, item in enumerate(raw):
                if isinstance(item, bool) or not isinstance(item, str | int | float):
                    self.add(f"{okey}.{i}", f"expected a value, got {_type_name(item)}")
                elif item in values:
                    self.add(f"{okey}.{i}", f"{item!r} is listed twice")
                else:
                    values.append(item)
            if len({isinstance(v, str) for v in values}) > 1:
                self.add(okey, "mixes text and numbers: list values of one type")
            else:
                extras["order"] = tuple(values)
        return extras

    def computed_dimension(
        self,
        name: str,
        key: str,
        spec: Mapping,
        label: str,
        drill: str | None,
        description: str,
        extras: dict[str, Any],
    ) -> Dimension | None:
        """``{table: t, sql: "<expression over t's columns>"}``: checked with sqlglot."""
        table = self.string(spec, key, "table")
        sql = self.string(spec, key, "sql")
        ok = True
        for missing in ("table", "sql"):
            if missing not in spec:
                other = "sql" if missing == "table" else "table"
                self.add(
                    key,
                    f"missing required key '{missing}': a computed dimension has `table` "
                    f"(the table its `sql` reads) and `sql`, not `{other}` alone",
                )
                ok = False
        for wrong in ("column", "time"):
            if wrong in spec:
                what = "column" if wrong == "column" else "time dimension"
                self.add(
                    f"{key}.{wrong}",
                    f"a computed dimension (`sql`) is not also a {what}: use `column` "
                    "or `table` + `sql`",
                )
                ok = False
        if table is not None and not _NAME.match(table):
            self.add(f"{key}.table", f"'{table}' is not a table name")
            ok = False
        if sql is None or table is None or not ok:
            return None
        try:
            tree = sqlexpr.check_dimension_sql(sql, f"dimension {name!r}")
        except QueryError as err:
            self.add(f"{key}.sql", err.message)
            return None
        kind = sqlexpr.expression_kind(tree)
        order = extras.get("order", ())
        if order and kind in ("integer", "number", "text"):
            text = kind == "text"
            if any(isinstance(v, str) != text for v in order):
                self.add(
                    f"{key}.order",
                    f"{sql!r} gives {'text' if text else 'numbers'}: "
                    f"list its values as {'text' if text else 'numbers'}",
                )
                extras = {k: v for k, v in extras.items() if k != "order"}
        reads = tuple(sqlexpr.referenced_columns(tree))
        return Dimension(
            name, label, table, None, drill, False, description, sql=sql, reads=reads, **extras
        )

    def duration_unit(self, spec: Mapping, key: str, fmt: str) -> str:
        """``unit:`` of a ``format: duration`` metric (seconds, the default, minutes, hours
        or days); anywhere else it is a problem."""
        if "unit" in spec and fmt != "duration":
            self.add(f"{key}.unit", "`unit` applies only to `format: duration`")
            return "seconds"
        return self.choice(spec, key, "unit", DURATION_UNITS, "seconds")

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
            common["unit"] = self.duration_unit(spec, key, common["format"])
            kinds = [k for k in ("sql", "ratio", "expr", "share", *TIME_OPS) if k in spec]
            if not kinds:
                self.add(
                    key,
                    "a metric needs `sql` (with `fact`), `ratio`, `expr`, `share` or one of "
                    + ", ".join(TIME_OPS),
                )
                continue
            if len(kinds) > 1:
                self.add(
                    f"{key}.{kinds[1]}",
                    "a metric has one of sql, ratio, expr, share, "
                    f"{', '.join(TIME_OPS)}; not {' and '.join(kinds)}",
                )
                continue
            if kinds[0] != "sql":
                for extra in ("fact", "filter", "over_time"):
                    if extra in spec:
                        self.add(f"{key}.{extra}", f"`{extra}` applies only to sql metrics")
            metric = None
            if kinds[0] == "sql":
                metric = self.aggregate(name, key, spec, common)
            elif kinds[0] == "share":
                metric = self.share(name, key, spec, common)
            elif kinds[0] in TIME_OPS:
                metric = timewise.load_time_metric(self, name, key, spec, common)
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
        return timewise.inherit_display(out, node)

    def aggregate(self, name: str, key: str, spec: Mapping, common: dict) -> Metric | None:
        fact = self.string(spec, key, "fact")
        if "fact" not in spec:
            self.add(key, "missing required key 'fact' (the table `sql` aggregates)")
        sql = self.string(spec, key, "sql")
        where = self.string(spec, key, "filter")
        over_time = self.choice(spec, key, "over_time", OVER_TIME, None)
        ok = fact is not None and sql is not None
        if sql is not None and (
            error := _sql_error(sql, aggregate=True) or order_stats.sql_problem(sql)
        ):
            self.add(f"{key}.sql", error)
            ok = False
        if where is not None and (error := _sql_error(where, aggregate=False)):
            self.add(f"{key}.filter", error)
            ok = False
        if not ok:
            return None
        return Metric(
            name, kind="aggregate", fact=fact, sql=sql, filter=where, over_time=over_time, **common
        )

    def share(self, name: str, key: str, spec: Mapping, common: dict) -> Metric | None:
        """``share: {metric: m, within: [dim, …]}``: m's share of the total (percent)."""
        skey = f"{key}.share"
        body = self.mapping(spec["share"], skey, allow_none=False)
        if body is None:
            return None
        self.keys(body, skey, SHARE_KEYS, required=("metric",))
        base = self.string(body, skey, "metric")
        if base is None:
            return None
        if "format" not in spec:
            common = {**common, "format": "percent"}
        within = self.names(body, skey, "within", allow_str=True)
        return Metric(name, kind="share", share_of=base, within=within, **common)

    def tree(self, node: Any) -> dict[str, TreeNode]:
        out: dict[str, TreeNode] = {}
        for name, body in self.items(node, "tree"):
            key = f"tree.{name}"
            spec = self.mapping(body, key, allow_none=False)
            if spec is None:
                continue
            self.keys(spec, key, _TREE_KEYS, required=("children", "relation"))
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
            tolerance = self.tolerance(spec, key, relation)
            if children:
                # an invalid relation is reported above; keep the node to check its children
                out[name] = TreeNode(name, children, relation or "influence", tolerance)
        return out

    def tolerance(self, spec: Mapping, key: str, relation: str | None) -> float | None:
        """A tree node's ``tolerance:``: a fraction (0.01) or a percentage ("1%") of the
        metric's value by which its identity may miss in ``starboard check``."""
        value = spec.get("tolerance")
        if value is None:
            return None
        tkey = f"{key}.tolerance"
        if relation == "influence":
            self.add(
                tkey,
                "an influence relation is not an identity (it is not checked): it takes "
                "no tolerance",
            )
            return None
        number: float | None = None
        if isinstance(value, str) and value.strip().endswith("%"):
            try:
                number = float(value.strip()[:-1]) / 100
            except ValueError:
                number = None
        elif isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        if number is None or not 0 <= number < 1:
            self.add(
                tkey,
                f"{value!r} is not a tolerance: use a fraction of the metric from 0 to "
                'below 1 (0.01) or a percentage ("1%")',
            )
            return None
        return number

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
