"""Cross-references between a model's sections: names, reachability, cycles, board limits."""

from __future__ import annotations

from queries.semantic import alert_rules, timewise
from queries.semantic.graph import (
    find_cycles,
    join_path,
    metric_facts,
    metric_references,
    reachable_dimensions,
)
from queries.semantic.load import Loader, select_tables, suggest
from queries.semantic.types import (
    GRAINS,
    TIER0_MAX_SECTIONS,
    TIER0_MAX_WIDGETS,
    Chart,
    SemanticModel,
)


class Validator:
    """Cross-references between sections: names, reachability, cycles, board limits."""

    def __init__(self, loader: Loader, model: SemanticModel) -> None:
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
        self.add(key, f"unknown {kind} '{name}'{suggest(name, declared)}")
        return False

    def run(self) -> None:
        self.check_tables()
        self.check_dimensions()
        self.check_metrics()
        timewise.check_time_metrics(self, self.model)
        self.check_tree()
        for name in self.model.goals:
            self.known("metric", name, self.metrics, f"goals.{name}")
        self.check_rollups()
        self.check_boards()
        self.check_checks()

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
            self.check_hints(table.name)
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
            if table.freshness_hours is not None:
                fkey = f"{key}.freshness_hours"
                if table.freshness_hours <= 0:
                    self.add(
                        fkey,
                        f"{table.freshness_hours:g} is not a freshness SLO: use a positive "
                        "number of hours",
                    )
                elif table.kind != "fact":
                    self.add(fkey, "only a fact table has a freshness SLO")
                elif not table.time:
                    self.add(fkey, "a freshness SLO needs the table's time column (time:)")

    def check_hints(self, name: str) -> None:
        """Column hints that contradict the table: a nullable key, a time column not temporal."""
        table = self.model.tables[name]
        own_time = table.time if table.time and "." not in table.time else None
        for hint in table.columns:
            hkey = f"tables.{name}.columns.{hint.name}"
            if hint.name in table.primary_key and hint.null_rate:
                self.add(f"{hkey}.null_rate", f"'{hint.name}' is a primary key: it cannot be null")
            if hint.name == own_time and hint.type not in (None, "DATE", "TIMESTAMP"):
                self.add(
                    f"{hkey}.type",
                    f"'{hint.name}' is the table's time column: use DATE or TIMESTAMP, "
                    f"not {hint.type}",
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
        for cycle in find_cycles(graph):
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
            # time metrics: timewise.check_time_metrics
            graph[metric.name] = metric_references(metric)
        for cycle in find_cycles(graph):
            first = self.model.metrics[cycle[0]]
            self.add(
                f"metrics.{cycle[0]}.{first.time_op.op if first.time_op else first.kind}",
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
        for cycle in find_cycles(graph):
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
