"""The semantic model's types: the contract the compiler, the runner and the pages rely on.

Nothing here knows the demo's table or column names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from app.core.errors import QueryError
from queries.semantic.aggregates import is_additive

GRAINS = ("day", "week", "month", "quarter", "year")
FORMATS = ("number", "currency", "percent", "duration")
DURATION_UNITS = ("seconds", "minutes", "hours", "days")  # `unit:` of a `format: duration` metric
DIRECTIONS = ("up", "down", "none")
RELATIONS = ("sum", "product", "ratio", "influence")
CHART_TYPES = ("line", "bar", "stacked_bar", "area", "table", "funnel", "cohort", "breakdown")
COMPARES = ("previous_year", "previous_period", "goal")
TIERS = (0, 1, 2)
# What each tier's board page renders (pages/t0.py, pages/t1.py); no page renders a tier 2
# board (Tier 2 is /t2/explore), so it holds no charts.
TIER_CHARTS: dict[int, tuple[str, ...]] = {0: ("line", "bar", "area"), 1: CHART_TYPES, 2: ()}
# Chart types whose query needs `by: <dimension>` (without it the board runs nothing)
CHARTS_NEEDING_BY: dict[int, tuple[str, ...]] = {
    0: ("bar",),
    1: ("bar", "stacked_bar", "table", "breakdown"),
    2: (),
}
TIER0_MAX_SECTIONS = 5
TIER0_MAX_WIDGETS = 79  # BANs + charts; 80 or more is refused

DIMENSION_KINDS = ("segment", "calendar", "attribute")
TableKind = Literal["fact", "dimension"]
MetricKind = Literal["aggregate", "ratio", "expr", "share", "time"]
TIME_OPS = ("window", "to_date", "cumulative", "offset")  # a `time` metric's transform
TO_DATE_PERIODS = ("week", "month", "quarter", "year")
OFFSET_BY = ("period", *GRAINS)  # period: one period of the query's grain
OVER_TIME = ("first", "last", "average")  # a semi-additive aggregate over time


@dataclass(frozen=True)
class Join:
    """A many-to-one join from the owning table to ``target``.

    ``target`` is the name the joined rows go by in the model (dimensions, metric SQL,
    ``time``): the table's own name, or a *role* (``origin_airport``) when the same table is
    joined more than once. ``table`` is the physical table joined (``airports``); it is
    ``target`` for a plain join. A role is a leaf: its table's own joins are not followed.
    """

    target: str
    from_column: str
    to_column: str
    table: str = ""  # the physical table; "" → the same as target

    def __post_init__(self) -> None:
        if not self.table:
            object.__setattr__(self, "table", self.target)

    @property
    def is_role(self) -> bool:
        """True when the table is joined under another name (a role)."""
        return self.table != self.target


HINT_TYPES = ("BIGINT", "INTEGER", "DOUBLE", "VARCHAR", "BOOLEAN", "DATE", "TIMESTAMP")
HINT_DISTRIBUTIONS = ("lognormal", "normal", "uniform", "zipf")


@dataclass(frozen=True)
class ColumnHint:
    """Optional ``tables.<t>.columns.<c>`` hints: how ``starboard mock`` fills a column."""

    name: str
    type: str | None = None  # one of HINT_TYPES
    values: tuple[Any, ...] = ()
    min: float | None = None
    max: float | None = None
    distribution: str | None = None  # one of HINT_DISTRIBUTIONS
    null_rate: float | None = None


@dataclass(frozen=True)
class Table:
    name: str
    kind: TableKind
    primary_key: tuple[str, ...]
    time: str | None = None  # own column ("occurred_at") or "table.column" via joins
    joins: tuple[Join, ...] = ()
    pii: frozenset[str] = frozenset()
    description: str = ""
    freshness_hours: float | None = None  # a fact's freshness SLO; None: the setting's default
    columns: tuple[ColumnHint, ...] = ()  # optional hints for `starboard mock`


@dataclass(frozen=True)
class Dimension:
    """A dimension: a column (``table.column``), a computed expression over one table's
    columns (``table`` + ``sql``), the primary time dimension (``is_time``: each fact's
    ``time``) or a secondary time dimension (``secondary_time``: a DATE/TIMESTAMP column
    that takes grains like the primary one)."""

    name: str
    label: str
    table: str | None = None  # None only for the primary time dimension
    column: str | None = None  # None for the primary time and for computed dimensions
    drill: str | None = None  # next dimension down the hierarchy
    is_time: bool = False  # THE primary time dimension (one per model)
    description: str = ""
    sql: str | None = None  # computed: an expression over ``table``'s columns
    order: tuple[Any, ...] = ()  # display/sort order of the values (buckets)
    kind: str = "segment"  # one of DIMENSION_KINDS
    movers: bool | None = None  # None: segments are searched for top movers, others not
    secondary_time: bool = False  # `time: true` with a column: grains, whole-day filters
    reads: tuple[str, ...] = ()  # the columns of ``table`` a computed dimension reads

    @property
    def temporal(self) -> bool:
        """True for the primary and secondary time dimensions: they take grains and their
        values are dates."""
        return self.is_time or self.secondary_time

    @property
    def in_movers(self) -> bool:
        """Whether top movers and narratives search this dimension by default."""
        if self.is_time:
            return False
        if self.movers is not None:
            return self.movers
        return self.kind == "segment" and not self.secondary_time

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns of ``table`` this dimension reads."""
        if self.sql is not None:
            return self.reads
        return (self.column,) if self.column else ()


@dataclass(frozen=True)
class TimeOp:
    """A time-aware metric: ``op`` applied to the base ``metric`` (queries/semantic/timewise.py).

    window: the trailing ``days`` ending on each output period's last day; to_date: from the
    start of the ``period`` holding that day; cumulative: everything up to that day; offset:
    the output period shifted back ``by`` one period of a grain.
    """

    op: str  # one of TIME_OPS
    metric: str
    days: int | None = None  # window
    period: str | None = None  # to_date: one of TO_DATE_PERIODS
    by: str | None = None  # offset: one of OFFSET_BY


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
    time_op: TimeOp | None = None  # time: the transform and its base metric
    over_time: str | None = None  # aggregate: semi-additive over time (one of OVER_TIME)
    share_of: str | None = None  # share: the metric whose share of the total this is
    within: tuple[str, ...] = ()  # share: dimensions kept as the partition (with time)
    unit: str = "seconds"  # format: duration only: what one unit of the value is

    @property
    def value_format(self) -> str:
        """The format pages write values in: ``format``, or ``duration:minutes`` for a
        duration whose values count minutes (``unit: minutes``)."""
        if self.format == "duration" and self.unit != "seconds":
            return f"duration:{self.unit}"
        return self.format

    @property
    def is_count(self) -> bool:
        """A count of things (``count(…)``, format number): its changes and contributions
        read in whole units ("+12 orders"), never "+12.4"."""
        sql = " ".join((self.sql or "").lower().split())
        return self.kind == "aggregate" and self.format == "number" and sql.startswith("count(")

    @property
    def additive(self) -> bool:
        """True when partial results can be summed (sums and counts, not count distinct,
        not a median or percentile, not a ratio of sums, not semi-additive)."""
        if self.kind != "aggregate" or self.over_time:  # a balance does not add over time
            return False
        return is_additive(self.sql)


@dataclass(frozen=True)
class TreeNode:
    metric: str
    children: tuple[str, ...]
    relation: str  # one of RELATIONS
    tolerance: float | None = None  # `starboard check`: relative gap allowed (None: default)


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

    def roles(self) -> dict[str, str]:
        """Every role name (a table joined under another name) → its physical table."""
        return {
            join.target: join.table
            for table in self.tables.values()
            for join in table.joins
            if join.is_role
        }

    def physical(self, name: str) -> str:
        """The physical table behind a table or role name (the name itself if neither)."""
        if name in self.tables:
            return name
        return self.roles().get(name, name)

    def table_of(self, name: str) -> Table | None:
        """The physical table behind a table or role name, or None."""
        return self.tables.get(self.physical(name))

    def time_dimension(self) -> Dimension | None:
        """The model's primary time dimension (`time: true` without a column), if any."""
        return next((d for d in self.dimensions.values() if d.is_time), None)

    def time_name(self, needed_for: str = "this view") -> str:
        """The name of the model's time dimension (the demo calls it ``date``; a model may
        call it anything). QueryError naming ``needed_for`` when the model has none."""
        dim = self.time_dimension()
        if dim is None:
            raise QueryError(
                f"The model has no time dimension (a dimension with `time: true`): "
                f"{needed_for} needs one."
            )
        return dim.name

    def dimension_is_pii(self, dim: Dimension) -> bool:
        """True when ``dim`` reads a column its table marks ``pii`` (a role's PII is its
        table's)."""
        table = self.table_of(dim.table) if dim.table else None
        return bool(table and any(c in table.pii for c in dim.columns))

    def line_of(self, key: str) -> int | None:
        """Line of a dotted key in the YAML file, or of its nearest parent key."""
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key.rpartition(".")[0]
        return None
