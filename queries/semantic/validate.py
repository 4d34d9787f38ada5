"""Cross-references between a model's sections: names, reachability, cycles, board limits."""

from __future__ import annotations

from queries.semantic import alert_rules, share, timewise
from queries.semantic.graph import (
    find_cycles,
    join_path,
    metric_facts,
    metric_references,
    reachable_dimensions,
    reachable_tables,
    role_hint,
    unreachable,
)
from queries.semantic.load import Loader, select_tables, suggest
from queries.semantic.sqlexpr import qualified_columns
from queries.semantic.types import (
    CHARTS_NEEDING_BY,
    GRAINS,
    TIER0_MAX_SECTIONS,
    TIER0_MAX_WIDGETS,
    TIER_CHARTS,
    Chart,
    Metric,
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
        self.roles = model.roles()
        self.roles_seen: dict[str, tuple[str, str]] = {}  # role → (table, declared in)

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
            if check.table in self.roles:
                self.add(
                    f"checks.{check.table}",
                    f"'{check.table}' is a role of table '{self.roles[check.table]}': "
                    "checks are declared on the physical table",
                )
                continue
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
                if join.is_role:
                    self.check_role(table.name, join.target, join.table, jkey)
                elif join.target == table.name:
                    self.add(jkey, "a table cannot join itself (join it as a role: `table:`)")
                else:
                    self.known("table", join.target, self.tables, jkey)
            if table.time and "." in table.time:
                target = table.time.split(".")[0]
                if (
                    self.known("table", target, self.tables | set(self.roles), f"{key}.time")
                    and self.model.physical(target) in self.model.tables
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

    def check_role(self, owner: str, role: str, table: str, key: str) -> None:
        """A role (a table joined under another name): a new name, a known table, one meaning."""
        if role in self.tables:
            self.add(
                key,
                f"role '{role}' has the name of a declared table: give the role its own name "
                f"(or drop `table: {table}` to join '{role}' itself)",
            )
            return
        if not self.known("table", table, self.tables, f"{key}.table"):
            return
        first = self.roles_seen.setdefault(role, (table, owner))
        if first[0] != table:
            self.add(
                f"{key}.table",
                f"role '{role}' is '{first[0]}' in the joins of '{first[1]}': a role name "
                "means one table throughout the model",
            )

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
                f"only one time dimension without a column is allowed ('{times[0]}' is "
                "already one); another time column is `time: true` with `column: table.column`",
            )
        for dim in self.model.dimensions.values():
            key = f"dimensions.{dim.name}"
            if dim.table is not None:
                what = "table or role" if self.roles else "table"
                where = f"{key}.table" if dim.sql is not None else f"{key}.column"
                if self.known(what, dim.table, self.tables | set(self.roles), where):
                    self.check_dimension_hints(dim.name)
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

    def check_dimension_hints(self, name: str) -> None:
        """A secondary time dimension's column is DATE/TIMESTAMP; a computed dimension reads
        columns its table declares, when the table lists its columns (`columns:` hints)."""
        dim = self.model.dimensions[name]
        table = self.model.tables.get(dim.table or "")
        if table is None or not table.columns:
            return
        hints = {h.name: h for h in table.columns}
        key = f"dimensions.{name}"
        if dim.secondary_time and dim.column in hints:
            kind = hints[dim.column].type
            if kind not in (None, "DATE", "TIMESTAMP"):
                self.add(
                    f"{key}.column",
                    f"a time dimension's column is a DATE or TIMESTAMP; "
                    f"'{dim.table}.{dim.column}' is {kind}",
                )

    def check_metrics(self) -> None:
        graph: dict[str, tuple[str, ...]] = {}
        for metric in self.model.metrics.values():
            key = f"metrics.{metric.name}"
            if metric.kind == "aggregate" and metric.fact:
                if self.known("table", metric.fact, self.tables, f"{key}.fact"):
                    self.check_metric_tables(metric.name, metric.fact, metric.sql, metric.filter)
            elif metric.kind == "ratio" and metric.ratio:
                for i, side in enumerate(metric.ratio):
                    self.known("metric", side, self.metrics, f"{key}.ratio.{i}")
            elif metric.kind == "expr":
                for ref in metric_references(metric):
                    self.known("metric", ref, self.metrics, f"{key}.expr")
            elif metric.kind == "share":
                self.check_share(metric, key)
            # time metrics: timewise.check_time_metrics
            graph[metric.name] = metric_references(metric)
        for cycle in find_cycles(graph):
            first = self.model.metrics[cycle[0]]
            self.add(
                f"metrics.{cycle[0]}.{first.time_op.op if first.time_op else first.kind}",
                "circular metric definition: " + " → ".join([*cycle, cycle[0]]),
            )

    def check_share(self, metric: Metric, key: str) -> None:
        """A share's base metric adds up (see queries.semantic.share); its `within` are
        known dimensions other than time (a share is always per period)."""
        base = metric.share_of or ""
        if self.known("metric", base, self.metrics, f"{key}.share.metric"):
            problem = share.summable_problem(self.model, base, (metric.name,))
            if problem:
                self.add(f"{key}.share.metric", problem)
        for i, name in enumerate(metric.within):
            wkey = f"{key}.share.within.{i}"
            dim = self.model.dimensions.get(name)
            if self.known("dimension", name, self.dims, wkey) and dim is not None and dim.is_time:
                self.add(wkey, f"'{name}' is the time dimension: a share is always per period")

    def check_metric_tables(
        self, name: str, fact: str, sql: str | None, filter_sql: str | None
    ) -> None:
        """Qualified columns (``table.column``) name a table or role the fact reaches."""
        if fact not in self.model.tables:
            return
        reachable = reachable_tables(self.model, fact)
        for field_, text in (("sql", sql), ("filter", filter_sql)):
            key = f"metrics.{name}.{field_}"
            for owner, column, parts in qualified_columns(text):
                if parts > 2:
                    self.add(key, f"'{column}' has a schema: write table.column or column")
                elif owner not in reachable:
                    self.add(
                        key, f"{unreachable(self.model, fact, owner)}{suggest(owner, reachable)}"
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
                dim = self.model.dimensions.get(name)
                if dim is not None and dim.temporal:
                    self.add(
                        dkey,
                        f"'{name}' is a time dimension: a rollup stores the primary time "
                        "at its `grain` and no other time column",
                    )
                elif (
                    self.known("dimension", name, self.dims, dkey)
                    and fact_ok
                    and name in self.model.dimensions
                    and name not in reachable
                ):
                    hint = role_hint(self.model, rollup.fact, self.model.dimensions[name].table)
                    self.add(
                        dkey,
                        f"dimension '{name}' is not reachable from "
                        f"'{rollup.fact}' through its joins{hint}",
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
                elif metric.over_time:
                    self.add(
                        mkey,
                        f"metric '{name}' is semi-additive (over_time: {metric.over_time}): "
                        "a rollup cannot store it",
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
            owner = self.model.boards.get(key.split(".")[1]) if key.startswith("boards.") else None
            if owner is not None:
                self.check_chart_tier(chart, key, owner.tier)
            self.check_chart(chart, key)

    def check_chart_tier(self, chart: Chart, key: str, tier: int) -> None:
        """A chart type the board's tier renders, with what that type needs to run."""
        accepted = TIER_CHARTS.get(tier, ())
        if chart.type not in accepted:
            if not accepted:
                self.add(
                    f"{key}.type",
                    f"a tier {tier} board shows no charts (no page renders one; Tier 2 is "
                    "the explorer, /t2/explore): put the chart on a tier 0 or tier 1 board",
                )
                return
            others = [t for t, kinds in TIER_CHARTS.items() if chart.type in kinds]
            where = f" (a tier {others[0]} chart)" if others else ""
            self.add(
                f"{key}.type",
                f"a tier {tier} board cannot show a {chart.type} chart{where}: tier {tier} "
                f"accepts {', '.join(accepted)}",
            )
            return
        if chart.type in CHARTS_NEEDING_BY.get(tier, ()) and not chart.by:
            self.add(key, f"a {chart.type} chart needs `by: <dimension>` (what it splits by)")
        if chart.type == "cohort":
            cohort = dict(chart.options).get("cohort")
            if not cohort:
                self.add(key, "a cohort chart needs `cohort: <dimension on the signup date>`")
            else:
                self.known("dimension", cohort, self.dims, f"{key}.cohort")

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
        if grain and (grain not in GRAINS or (dim is not None and not dim.temporal)):
            self.add(
                f"{key}.by",
                f"'{chart.by}': only the time dimension takes a grain (and other `time: true` "
                f"dimensions), one of {', '.join(GRAINS)}",
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
                        f"'{fact}', which metric '{name}' aggregates"
                        f"{role_hint(self.model, fact, dim.table)}",
                    )
