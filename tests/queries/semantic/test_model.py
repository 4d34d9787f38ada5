"""The semantic model: loading, validation with file/line/key, graph helpers, warehouse checks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.core.errors import ModelError, Problem
from queries.semantic.against_warehouse import check, check_model_against_warehouse
from queries.semantic.graph import join_path, metric_facts, metric_references, reachable_dimensions
from queries.semantic.model import load_model, parse_model
from queries.semantic.periods import parse_period
from queries.semantic.types import CHART_TYPES, Chart, Join, SemanticModel
from tests.conftest import fresh_schema

HERE = Path(__file__).resolve().parents[1]  # tests/queries, beside its models/
DEMO = HERE.parents[1] / "queries" / "models" / "demo.yaml"
TINY = HERE / "models" / "tiny.yaml"
TINY_TEXT = TINY.read_text()


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")


def problems_in(tmp_path: Path, text: str) -> list[Problem]:
    """Write ``text`` as a model file and return the problems loading it raises."""
    path = tmp_path / "model.yaml"
    path.write_text(text)
    with pytest.raises(ModelError) as info:
        load_model(path)
    assert str(info.value).startswith(f"{len(info.value.problems)} problem")
    return info.value.problems


def only(problems: list[Problem], key: str) -> Problem:
    """The single problem reported for ``key``."""
    found = [p for p in problems if p.key == key]
    assert len(found) == 1, (key, problems)
    return found[0]


def tiny_with(old: str, new: str) -> str:
    assert old in TINY_TEXT, old
    return TINY_TEXT.replace(old, new, 1)


# --------------------------------------------------------------------------- the demo model


@pytest.fixture(scope="module")
def demo() -> SemanticModel:
    return load_model(DEMO)


def test_demo_model_loads_without_problems(demo: SemanticModel) -> None:
    assert demo.name == "shop"
    assert demo.title == "Shop analytics"
    assert demo.path == DEMO
    assert set(demo.tables) == {
        "fct_interaction",
        "fct_marketing_spend",
        "dim_date",
        "dim_user",
        "dim_product",
        "dim_channel",
        "dim_campaign",
    }
    assert {t.name for t in demo.tables.values() if t.kind == "fact"} == {
        "fct_interaction",
        "fct_marketing_spend",
    }


def test_demo_tables_keys_time_and_joins(demo: SemanticModel) -> None:
    spend = demo.tables["fct_marketing_spend"]
    assert spend.primary_key == ("date_key", "campaign_key")
    assert spend.time == "dim_date.date"
    user = demo.tables["dim_user"]
    assert user.time == "signup_date"
    assert user.pii == frozenset({"email"})
    assert user.joins == (Join("dim_channel", "acquisition_channel_key", "channel_key"),)
    interaction = demo.tables["fct_interaction"]
    assert interaction.time == "occurred_at"
    assert Join("dim_user", "user_key", "user_key") in interaction.joins


def test_demo_dimensions_labels_and_drills(demo: SemanticModel) -> None:
    assert demo.time_dimension() is not None and demo.time_dimension().name == "date"
    assert demo.dimensions["channel_group"].drill == "channel"
    assert demo.dimensions["region"].drill == "country"
    assert demo.dimensions["category"].drill == "subcategory"
    assert demo.dimensions["subcategory"].drill == "product"
    device = demo.dimensions["device"]
    assert (device.table, device.column) == ("fct_interaction", "device")
    assert demo.dimensions["channel_group"].label == "Channel group"


def test_demo_metrics_have_labels_descriptions_and_directions(demo: SemanticModel) -> None:
    for metric in demo.metrics.values():
        assert metric.label and metric.description, metric.name
    critical = {m.name for m in demo.metrics.values() if m.critical}
    assert critical == {"revenue", "orders", "active_users", "conversion_rate"}
    assert demo.metrics["cac"].direction == "down"
    assert demo.metrics["cpc"].direction == "down"
    revenue = demo.metrics["revenue"]
    assert (revenue.kind, revenue.fact, revenue.sql) == (
        "aggregate",
        "fct_interaction",
        "sum(revenue)",
    )
    assert revenue.filter == "interaction_type = 'purchase'"
    assert revenue.format == "currency"
    assert demo.metrics["conversion_rate"].ratio == ("orders", "visitors")
    assert demo.metrics["aov"].ratio == ("revenue", "orders")
    assert demo.metrics["new_users"].fact == "dim_user"
    assert metric_references(demo.metrics["repeat_purchase_rate"]) == ("orders", "buyers")


def test_demo_drill_across_metrics_span_two_tables(demo: SemanticModel) -> None:
    assert metric_facts(demo, "roas") == {"fct_interaction", "fct_marketing_spend"}
    assert metric_facts(demo, "cac") == {"fct_marketing_spend", "dim_user"}
    assert metric_facts(demo, "aov") == {"fct_interaction"}


def test_demo_tree_identities(demo: SemanticModel) -> None:
    assert demo.tree["revenue"].children == ("orders", "aov")
    assert demo.tree["revenue"].relation == "product"
    assert demo.tree["orders"].children == ("visitors", "conversion_rate")
    assert demo.tree["conversion_rate"].relation == "influence"
    # product relations must be exact identities of the ratio definitions
    assert demo.metrics["aov"].ratio == ("revenue", "orders")
    assert demo.metrics["conversion_rate"].ratio == ("orders", "visitors")
    assert demo.metrics["units_per_order"].ratio == ("units", "orders")
    assert demo.metrics["price_per_unit"].ratio == ("revenue", "units")


def test_demo_goals_accept_quoted_and_unquoted_periods(demo: SemanticModel) -> None:
    revenue = demo.goals["revenue"]
    assert revenue["2026"] == 950_000.0
    assert revenue["2026-Q4"] == 350_000.0
    assert revenue["2026-10"] == 90_000.0
    assert sum(revenue[f"2026-Q{q}"] for q in range(1, 5)) == revenue["2026"]
    assert set(demo.goals) == {"revenue", "orders", "active_users"}


def test_demo_rollups_hold_only_additive_metrics(demo: SemanticModel) -> None:
    daily = demo.rollups["agg_daily_interaction"]
    assert daily.grain == "day"
    assert daily.dimensions == (
        "channel_group",
        "channel",
        "country",
        "region",
        "device",
        "category",
    )
    assert all(demo.metrics[m].additive for m in daily.metrics)
    assert demo.rollups["agg_daily_spend"].metrics == ("spend", "impressions", "clicks")


def test_demo_boards(demo: SemanticModel) -> None:
    company = demo.boards["company"]
    assert (company.tier, company.period) == (0, "month")
    assert company.sections[0].bans == (
        "revenue",
        "active_users",
        "conversion_rate",
        "roas",
        "new_users",
        "aov",
    )
    assert company.sections[1].charts[0] == Chart(
        "line", "revenue", (), "date", "week", "previous_year", ()
    )
    assert demo.boards["marketing"].tier == 0
    growth = demo.boards["growth"]
    assert growth.filters == ("date", "channel_group", "country", "device")
    charts = [c for s in growth.sections for c in s.charts]
    funnel = next(c for c in charts if c.type == "funnel")
    assert funnel.metrics == ("visitors", "product_viewers", "cart_adders", "buyers")
    cohort = next(c for c in charts if c.type == "cohort")
    assert cohort.options == (("cohort", "signup"),)
    assert all(c.type in CHART_TYPES for c in charts)


def test_demo_lines_point_at_the_keys(demo: SemanticModel) -> None:
    text = DEMO.read_text()
    assert demo.lines["metrics.revenue.sql"] == line_of(text, "sql: sum(revenue)")
    assert demo.lines["boards.company.sections.1.charts.0"] == line_of(text, "compare: previous")
    assert demo.line_of("metrics.revenue.nonexistent") == demo.lines["metrics.revenue"]


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def tiny() -> SemanticModel:
    return load_model(TINY)


def test_join_path_follows_snowflake_joins(tiny: SemanticModel) -> None:
    path = join_path(tiny, "fct_sales", "dim_region")
    assert path is not None
    assert [(table.name, join) for table, join in path] == [
        ("fct_sales", Join("dim_store", "store_key", "store_key")),
        ("dim_store", Join("dim_region", "region_key", "region_key")),
    ]
    assert join_path(tiny, "fct_sales", "fct_sales") == []
    assert join_path(tiny, "dim_region", "fct_sales") is None  # joins are many-to-one
    assert join_path(tiny, "fct_stock", "dim_customer") is None
    assert join_path(tiny, "fct_sales", "nope") is None


def test_reachable_dimensions(tiny: SemanticModel) -> None:
    assert reachable_dimensions(tiny, "fct_sales") == {"date", "region", "city", "country"}
    assert reachable_dimensions(tiny, "fct_stock") == {"date", "region", "city"}
    assert reachable_dimensions(tiny, "dim_customer") == {"date", "country"}
    assert reachable_dimensions(tiny, "dim_region") == {"region"}  # no time column


@pytest.mark.parametrize(
    ("key", "grain", "start", "end"),
    [
        ("2026", "year", date(2026, 1, 1), date(2027, 1, 1)),
        (2027, "year", date(2027, 1, 1), date(2028, 1, 1)),
        ("2026-Q4", "quarter", date(2026, 10, 1), date(2027, 1, 1)),
        ("2026-Q2", "quarter", date(2026, 4, 1), date(2026, 7, 1)),
        ("2026-10", "month", date(2026, 10, 1), date(2026, 11, 1)),
        ("2026-12", "month", date(2026, 12, 1), date(2027, 1, 1)),
        ("2026-W43", "week", date(2026, 10, 19), date(2026, 10, 26)),
        ("2020-W53", "week", date(2020, 12, 28), date(2021, 1, 4)),
    ],
)
def test_parse_period(key: str | int, grain: str, start: date, end: date) -> None:
    period = parse_period(key)
    assert (period.key, period.grain, period.start, period.end) == (str(key), grain, start, end)


@pytest.mark.parametrize(
    "key",
    [
        "2026-Q5",
        "2026-13",
        "2026-00",
        "2021-W53",
        "26",
        "Q4-2026",
        "2026-10-01",
        "",
        "२०२६",
        "2026-Q٤",
        "2026-１0",
    ],
)
def test_parse_period_rejects(key: str) -> None:
    with pytest.raises(ValueError):
        parse_period(key)


# --------------------------------------------------------------------------- problems


def test_yaml_syntax_error_has_ruamel_line() -> None:
    path = HERE / "models" / "broken_syntax.yaml"
    with pytest.raises(ModelError) as info:
        load_model(path)
    [problem] = info.value.problems
    assert problem.file == str(path)
    assert problem.line == line_of(path.read_text(), "primary_key")
    assert problem.key == "syntax"
    assert "YAML syntax error" in problem.message


def test_duplicate_key_is_a_syntax_error(tmp_path: Path) -> None:
    text = tiny_with(
        "  units: {fact", "  sales: {fact: fct_sales, sql: sum(amount)}\n  units: {fact"
    )
    [problem] = problems_in(tmp_path, text)
    assert problem.key == "syntax"
    assert "duplicate key" in problem.message


def test_many_problems_are_reported_together_sorted_by_line() -> None:
    path = HERE / "models" / "broken_many.yaml"
    text = path.read_text()
    with pytest.raises(ModelError) as info:
        load_model(path)
    got = [(p.line, p.key) for p in info.value.problems]
    assert got == [
        (1, "version"),
        (line_of(text, "kind: fakt"), "tables.fct_sales.kind"),
        (line_of(text, "dim_stores:"), "tables.fct_sales.joins.dim_stores"),
        (line_of(text, "drill: town"), "dimensions.city.drill"),
        (line_of(text, "metircs:"), "metircs"),
    ]
    messages = {p.key: p.message for p in info.value.problems}
    assert "did you mean 'fact'?" in messages["tables.fct_sales.kind"]
    assert "did you mean 'dim_store'?" in messages["tables.fct_sales.joins.dim_stores"]
    assert messages["metircs"] == "unknown key 'metircs'; did you mean 'metrics'?"
    # the typo explains the missing `metrics`: it is not reported a second time
    assert all("missing required key 'metrics'" not in p.message for p in info.value.problems)
    assert all(p.file == str(path) for p in info.value.problems)


def test_unknown_metric_key_suggests_the_closest(tmp_path: Path) -> None:
    text = tiny_with("    format: currency\n", "    fromat: currency\n")
    problem = only(problems_in(tmp_path, text), "metrics.sales.fromat")
    assert problem.line == line_of(text, "fromat")
    assert "did you mean 'format'?" in problem.message


def test_unknown_key_without_close_match_lists_the_valid_ones(tmp_path: Path) -> None:
    text = tiny_with(
        "    kind: dimension\n    primary_key: region_key",
        "    kind: dimension\n    zzz: 1\n    primary_key: region_key",
    )
    problem = only(problems_in(tmp_path, text), "tables.dim_region.zzz")
    assert "expected one of kind, primary_key" in problem.message


def test_wrong_types_are_reported(tmp_path: Path) -> None:
    text = (
        tiny_with("    format: currency\n", "    format: currency\n    critical: maybe\n")
        .replace("  tickets: {fact: fct_sales,", "  tickets: {label: [a], fact: fct_sales,")
        .replace("    tier: 0", "    tier: zero")
        .replace("dimensions: [region, city, country]", "dimensions: region")
    )
    problems = problems_in(tmp_path, text)
    assert (
        "expected true or false, got a string" in only(problems, "metrics.sales.critical").message
    )
    assert "expected a string, got a list" in only(problems, "metrics.tickets.label").message
    assert "'zero' is not one of 0, 1, 2" in only(problems, "boards.pulse.tier").message
    assert only(problems, "boards.pulse.tier").line == line_of(text, "tier: zero")
    assert (
        "expected a list of names" in only(problems, "rollups.agg_daily_sales.dimensions").message
    )


def test_missing_required_keys(tmp_path: Path) -> None:
    text = (
        tiny_with("  tickets: {fact: fct_sales, sql:", "  tickets: {sql:")
        .replace("  dim_region:\n    kind: dimension\n", "  dim_region:\n")
        .replace("version: 1\n", "")
    )
    problems = problems_in(tmp_path, text)
    assert only(problems, "metrics.tickets").message.startswith("missing required key 'fact'")
    assert only(problems, "metrics.tickets").line == line_of(text, "tickets:")
    assert only(problems, "tables.dim_region").message == "missing required key 'kind'"
    assert only(problems, "version").message == "missing required key 'version'"
    assert only(problems, "version").line is None


def test_metric_needs_exactly_one_definition(tmp_path: Path) -> None:
    text = tiny_with(
        "  units: {fact: fct_sales, sql: sum(qty)}",
        "  units: {label: Units}\n  both: {ratio: [sales, units], expr: sales}",
    )
    problems = problems_in(tmp_path, text)
    assert "needs `sql`" in only(problems, "metrics.units").message
    assert "not ratio and expr" in only(problems, "metrics.both.expr").message


def test_unparseable_and_non_aggregate_sql(tmp_path: Path) -> None:
    text = (
        tiny_with("sql: sum(qty)", "sql: sum(qty")
        .replace("sql: count(distinct ticket_id)", "sql: ticket_id")
        .replace("\"status = 'paid'\"", "\"status = = 'paid'\"")
    )
    problems = problems_in(tmp_path, text)
    assert "cannot parse 'sum(qty'" in only(problems, "metrics.units.sql").message
    assert "no aggregate function" in only(problems, "metrics.tickets.sql").message
    assert "cannot parse" in only(problems, "metrics.sales.filter").message


def test_references_to_unknown_tables_dimensions_and_metrics(tmp_path: Path) -> None:
    text = (
        tiny_with(
            "dim_store: store_key\n      dim_customer", "dim_stor: store_key\n      dim_customer"
        )
        .replace("column: dim_store.city", "column: dim_shop.city")
        .replace("ratio: [sales, tickets]", "ratio: [sales, tikets]")
        .replace("fact: dim_customer, sql", "fact: dim_customers, sql")
        .replace('expr: "sales / (sales + 1)"', 'expr: "sales / (saless + 1)"')
    )
    problems = problems_in(tmp_path, text)
    join = only(problems, "tables.fct_sales.joins.dim_stor")
    assert join.message == "unknown table 'dim_stor'; did you mean 'dim_store'?"
    assert join.line == line_of(text, "dim_stor:")
    assert "unknown table 'dim_shop'" in only(problems, "dimensions.city.column").message
    side = only(problems, "metrics.avg_ticket.ratio.1")
    assert side.message == "unknown metric 'tikets'; did you mean 'tickets'?"
    assert side.line == line_of(text, "avg_ticket")
    assert "did you mean 'dim_customer'?" in only(problems, "metrics.customers.fact").message
    assert "unknown metric 'saless'" in only(problems, "metrics.paid_share.expr").message


def test_drill_to_unknown_dimension_and_drill_loops(tmp_path: Path) -> None:
    text = tiny_with(
        "  city: {column: dim_store.city}",
        "  city: {column: dim_store.city, drill: region}\n"
        "  country: {column: dim_customer.country, drill: contry}\n",
    ).replace("  country: {column: dim_customer.country, label: Customer country}\n", "")
    problems = problems_in(tmp_path, text)
    assert only(problems, "dimensions.country.drill").message == (
        "unknown dimension 'contry'; did you mean 'country'?"
    )
    assert (
        "drill-down loops: city → region → city" in only(problems, "dimensions.city.drill").message
    )


def test_cycles_in_metric_definitions(tmp_path: Path) -> None:
    text = tiny_with(
        '  paid_share: {expr: "sales / (sales + 1)", format: percent}',
        '  a: {ratio: [b, sales]}\n  b: {expr: "c * 2"}\n  c: {expr: "a + 1"}\n'
        '  selfish: {expr: "selfish + 1"}',
    )
    problems = problems_in(tmp_path, text)
    loop = only(problems, "metrics.a.ratio")
    assert loop.message == "circular metric definition: a → b → c → a"
    assert loop.line == line_of(text, "  a: {ratio")
    assert "selfish → selfish" in only(problems, "metrics.selfish.expr").message


def test_cycles_and_unknowns_in_the_tree(tmp_path: Path) -> None:
    text = tiny_with(
        "  sales: {children: [tickets, avg_ticket], relation: product}",
        "  sales: {children: [tickets, avg_ticket], relation: product}\n"
        "  avg_ticket: {children: [sales, units], relation: ratio}\n"
        "  units: {children: [stock, ghost], relation: sums}",
    )
    problems = problems_in(tmp_path, text)
    assert (
        "the metric tree loops: avg_ticket → sales → avg_ticket"
        in only(problems, "tree.avg_ticket.children").message
    )
    assert "unknown metric 'ghost'" in only(problems, "tree.units.children.1").message
    assert "did you mean 'sum'?" in only(problems, "tree.units.relation").message


def test_goal_periods_must_parse(tmp_path: Path) -> None:
    text = tiny_with(
        'goals:\n  sales: {2026: 1000, "2026-Q4": 300}',
        'goals:\n  sales:\n    2027: 5e7\n    "2026-Q5": 1\n    2026-13: 2\n'
        '    "2021-W53": 3\n    2026-10-01: 4\n    "2026-10": lots\n'
        "  ghost: {2026: 1}",
    )
    problems = problems_in(tmp_path, text)
    assert "a quarter is Q1 to Q4" in only(problems, "goals.sales.2026-Q5").message
    assert only(problems, "goals.sales.2026-Q5").line == line_of(text, "2026-Q5")
    assert "a month is 01 to 12" in only(problems, "goals.sales.2026-13").message
    assert "has no ISO week 53" in only(problems, "goals.sales.2021-W53").message
    assert "is a day" in only(problems, "goals.sales.2026-10-01").message
    assert "a goal is a number, got a string" in only(problems, "goals.sales.2026-10").message
    assert "unknown metric 'ghost'" in only(problems, "goals.ghost").message
    assert not [p for p in problems if p.key == "goals.sales.2027"]


def test_rollup_metrics_must_be_aggregates_of_the_fact_and_dimensions_reachable(
    tmp_path: Path,
) -> None:
    text = tiny_with(
        "    metrics: [sales, units]", "    metrics: [sales, tickets, avg_ticket, stock]"
    )
    text = text.replace(
        "    metrics: [sales, tickets, avg_ticket, stock]\n",
        "    metrics: [sales, tickets, avg_ticket, stock]\n"
        "  agg_stock:\n    fact: fct_stock\n    grain: week\n"
        "    dimensions: [city, country]\n    metrics: [stock]\n",
    )
    problems = problems_in(tmp_path, text)
    # a distinct count may be stored: it is read only where a query group is one row
    assert not [p for p in problems if p.key == "rollups.agg_daily_sales.metrics.1"]
    assert "is a ratio" in only(problems, "rollups.agg_daily_sales.metrics.2").message
    assert (
        "aggregates 'fct_stock', not 'fct_sales'"
        in only(problems, "rollups.agg_daily_sales.metrics.3").message
    )
    unreachable = only(problems, "rollups.agg_stock.dimensions.1")
    assert unreachable.message == (
        "dimension 'country' is not reachable from 'fct_stock' through its joins"
    )
    assert unreachable.line == line_of(text, "dimensions: [city, country]")


def test_chart_dimension_unreachable_from_a_metric_fact(tmp_path: Path) -> None:
    text = tiny_with(
        "{type: bar, metric: sell_through, by: region}",
        "{type: bar, metric: sell_through, by: country}",
    )
    [problem] = problems_in(tmp_path, text)
    assert problem.key == "boards.pulse.sections.1.charts.0.by"
    assert problem.line == line_of(text, "by: country")
    assert problem.message == (
        "dimension 'country' is not reachable from 'fct_stock', "
        "which metric 'sell_through' aggregates"
    )


def test_board_references_and_chart_types(tmp_path: Path) -> None:
    text = tiny_with("bans: [sales, sell_through]", "bans: [sales, sell_thru]").replace(
        "{type: bar, metric: sell_through, by: region}",
        "{type: bars, metric: sales, by: regoin}\n"
        "          - {type: funnel, metric: sales}\n"
        '          - {type: line, metric: sales, by: "date:fortnight"}',
    )
    problems = problems_in(tmp_path, text)
    assert (
        "did you mean 'sell_through'?" in only(problems, "boards.pulse.sections.0.bans.1").message
    )
    assert (
        "'bars' is not one of line, bar"
        in only(problems, "boards.pulse.sections.1.charts.0.type").message
    )
    assert "did you mean 'bar'?" in only(problems, "boards.pulse.sections.1.charts.0.type").message
    assert "funnel needs `metrics`" in only(problems, "boards.pulse.sections.1.charts.1").message
    assert (
        "only the time dimension takes a grain"
        in only(problems, "boards.pulse.sections.1.charts.2.by").message
    )


def test_tier0_limits_sections_widgets_and_filters(tmp_path: Path) -> None:
    sections = "".join(f"      - title: S{i}\n        bans: [sales]\n" for i in range(5))
    sections += "      - title: Big\n        bans: [" + ", ".join(["units"] * 80) + "]\n"
    board = (
        "  big:\n    tier: 0\n    filters: [city]\n    sections:\n"
        + sections
        + "  fine:\n    tier: 1\n    filters: [city, cty]\n    sections: []\n"
    )
    problems = problems_in(tmp_path, TINY_TEXT + board)
    assert [p.message for p in problems if p.key == "boards.big.sections"] == [
        "a tier 0 board has at most 5 sections, this one has 6",
        "a tier 0 board has fewer than 80 widgets (BANs + charts), this one has 85",
    ]
    assert "no filters but the period" in only(problems, "boards.big.filters").message
    assert "unknown dimension 'cty'" in only(problems, "boards.fine.filters.1").message


def test_tier0_board_with_79_widgets_is_fine(tmp_path: Path) -> None:
    board = (
        "  wide:\n    tier: 0\n    sections:\n      - bans: ["
        + ", ".join(["units"] * 78)
        + "]\n        charts: [{type: line, metric: sales}]\n"
    )
    model = parse_model(TINY_TEXT + board, tmp_path / "m.yaml")
    assert len(model.boards["wide"].sections[0].bans) == 78


def test_chart_options_are_sorted_string_pairs() -> None:
    board = (
        "  extra:\n    tier: 1\n    sections:\n      - charts:\n"
        "          - {type: cohort, metric: units, title: Retention, cohort: country,"
        " periods: 12}\n"
    )
    model = parse_model(TINY_TEXT + board)
    chart = model.boards["extra"].sections[0].charts[0]
    assert chart.options == (("cohort", "country"), ("periods", "12"), ("title", "Retention"))


def test_label_defaults_to_title_cased_name(tiny: SemanticModel) -> None:
    assert tiny.metrics["avg_ticket"].label == "Avg Ticket"
    assert tiny.dimensions["city"].label == "City"
    assert tiny.dimensions["country"].label == "Customer country"
    assert tiny.boards["pulse"].title == "Pulse"


def test_time_via_unreachable_table_and_second_time_dimension(tmp_path: Path) -> None:
    text = tiny_with("    time: stock_date\n", "    time: dim_customer.signup_date\n").replace(
        "  date: {time: true}\n", "  date: {time: true}\n  day: {time: true}\n"
    )
    problems = problems_in(tmp_path, text)
    assert only(problems, "tables.fct_stock.time").message == (
        "table 'dim_customer' is not reachable from 'fct_stock' through its joins"
    )
    assert "only one time dimension" in only(problems, "dimensions.day.time").message


def test_top_level_x_keys_hold_yaml_anchors() -> None:
    text = TINY_TEXT.replace("metrics:\n", "x-money: &money {format: currency}\n\nmetrics:\n", 1)
    text = text.replace(
        "  units: {fact: fct_sales, sql: sum(qty)}",
        "  units: {<<: *money, fact: fct_sales, sql: sum(qty)}",
    )
    model = parse_model(text)
    assert model.metrics["units"].format == "currency"


def test_empty_file_and_non_mapping(tmp_path: Path) -> None:
    assert problems_in(tmp_path, "")[0].message == "the model file is empty"
    assert "expected a mapping, got a list" in problems_in(tmp_path, "- a\n- b\n")[0].message


def test_missing_file_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot read the model file"):
        load_model(tmp_path / "nope.yaml")


# --------------------------------------------------------------------------- warehouse checks

TINY_DDL = [
    "CREATE TABLE dim_region (region_key INTEGER, region VARCHAR(20))",
    "CREATE TABLE dim_store (store_key INTEGER, city VARCHAR(20), region_key INTEGER)",
    "CREATE TABLE dim_customer (customer_key INTEGER, country VARCHAR(2), signup_date DATE,"
    " email VARCHAR(40))",
    "CREATE TABLE fct_sales (sale_id INTEGER, sold_at TIMESTAMP, store_key INTEGER,"
    " buyer_key INTEGER, ticket_id INTEGER, status VARCHAR(10), amount DOUBLE PRECISION,"
    " qty INTEGER)",
    "CREATE TABLE fct_stock (stock_date DATE, store_key INTEGER, on_hand INTEGER)",
    "INSERT INTO dim_region VALUES (1, 'North'), (2, 'South')",
    "INSERT INTO dim_store VALUES (1, 'Oslo', 1), (2, 'Rome', 2), (3, NULL, 2)",
    "INSERT INTO dim_customer VALUES (1, 'NO', DATE '2026-01-02', 'a@x'),"
    " (2, 'IT', DATE '2026-02-03', 'b@x')",
    "INSERT INTO fct_sales VALUES (1, TIMESTAMP '2026-03-01 10:00:00', 1, 1, 1, 'paid', 10.5, 1),"
    " (2, TIMESTAMP '2026-03-02 11:00:00', 2, 2, 2, 'paid', 20, 2)",
    "INSERT INTO fct_stock VALUES (DATE '2026-03-01', 1, 5), (DATE '2026-03-01', 2, 7)",
]

# The same star with defects: a duplicated join key, a missing column, a missing table,
# a time column typed as text, and a metric filter over a column the fact does not have.
BROKEN_DDL = [
    "CREATE TABLE dim_store (store_key INTEGER, city VARCHAR(20), region_key INTEGER)",
    "CREATE TABLE dim_customer (customer_key INTEGER, signup_date DATE, email VARCHAR(40))",
    "CREATE TABLE fct_sales (sale_id INTEGER, sold_at TIMESTAMP, store_key INTEGER,"
    " buyer_key INTEGER, ticket_id INTEGER, amount DOUBLE PRECISION, qty INTEGER)",
    "CREATE TABLE fct_stock (stock_date VARCHAR(10), store_key INTEGER, on_hand INTEGER)",
    "INSERT INTO dim_store VALUES (1, 'Oslo', 1), (2, 'Rome', 2), (2, 'Roma', 2),"
    " (NULL, 'X', 1), (NULL, 'Y', 1)",
    "INSERT INTO dim_customer VALUES (1, DATE '2026-01-02', 'a@x')",
]


def build(engine: sa.Engine, statements: list[str]) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))


def assert_broken_star_problems(problems: list[Problem]) -> None:
    by_key: dict[str, list[str]] = {}
    for problem in problems:
        assert problem.file == str(TINY)
        by_key.setdefault(problem.key, []).append(problem.message)
    assert by_key == {
        "tables.dim_region": [
            "table 'dim_region' does not exist in the warehouse; did you mean 'dim_store'?"
        ],
        "dimensions.country.column": ["column 'country' does not exist in table 'dim_customer'"],
        "tables.fct_stock.time": [
            "time column 'fct_stock.stock_date' is VARCHAR, not a DATE or TIMESTAMP"
        ],
        "metrics.sales.filter": ["column 'status' does not exist in table 'fct_sales'"],
        "tables.dim_store.primary_key": [
            "store_key is not unique in 'dim_store': 1 value(s) occur more than once "
            "(e.g. 2 ×2); joining on it would multiply fact rows"
        ],
    }
    lines = {p.key: p.line for p in problems}
    assert lines["metrics.sales.filter"] == line_of(TINY_TEXT, 'filter: "status')
    assert lines["tables.dim_store.primary_key"] == line_of(TINY_TEXT, "primary_key: store_key")
    assert lines["tables.fct_stock.time"] == line_of(TINY_TEXT, "time: stock_date")


def test_duckdb_clean_star_has_no_problems(tmp_path: Path, tiny: SemanticModel) -> None:
    url = f"duckdb:///{tmp_path / 'tiny.duckdb'}"
    engine = sa.create_engine(url)
    build(engine, TINY_DDL)
    engine.dispose()
    read_only = sa.create_engine(url, connect_args={"read_only": True})  # the check never writes
    try:
        assert check_model_against_warehouse(tiny, read_only) == []
        assert check(TINY, read_only) == []
    finally:
        read_only.dispose()


def test_duckdb_broken_star_reports_every_problem(tmp_path: Path, tiny: SemanticModel) -> None:
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'broken.duckdb'}")
    try:
        build(engine, BROKEN_DDL)
        assert_broken_star_problems(check_model_against_warehouse(tiny, engine))
    finally:
        engine.dispose()


def test_metric_columns_of_joined_tables_are_checked_in_their_table(tmp_path: Path) -> None:
    text = tiny_with("sql: sum(qty)", "sql: sum(dim_store.store_key) + sum(dim_region.floors)")
    text = text.replace(
        "tickets: {fact: fct_sales, sql: count(distinct ticket_id)}",
        "tickets: {fact: fct_sales, sql: count(distinct ticket_id), filter: \"city = 'Oslo'\"}",
    )
    path = tmp_path / "m.yaml"
    path.write_text(text)
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'w.duckdb'}")
    try:
        build(engine, TINY_DDL)
        problems = check(path, engine)
    finally:
        engine.dispose()
    # dim_store.store_key exists; dim_region (reached through dim_store) has no floors; an
    # unqualified column is the fact's own
    assert sorted((p.key, p.message) for p in problems) == [
        ("metrics.tickets.filter", "column 'city' does not exist in table 'fct_sales'"),
        ("metrics.units.sql", "column 'floors' does not exist in table 'dim_region'"),
    ]


def test_check_reports_load_problems_and_the_warehouse_in_one_run(tmp_path: Path) -> None:
    engine = sa.create_engine(
        "postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )
    problems = check(HERE / "models" / "broken_many.yaml", engine)
    assert len(problems) == 6  # the model's 5, and the warehouse it could not reach
    assert problems[-2].key == "metircs"
    assert problems[-1].key == "warehouse"
    assert problems[-1].message.startswith("cannot connect to the warehouse")


def test_unreachable_warehouse_is_one_problem(tiny: SemanticModel) -> None:
    engine = sa.create_engine(
        "postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )
    [problem] = check_model_against_warehouse(tiny, engine)
    assert problem.key == "warehouse"
    assert problem.message.startswith("cannot connect to the warehouse")


DEMO_DDL = [
    "CREATE TABLE dim_date (date_key INTEGER, date DATE, year INTEGER, quarter INTEGER,"
    " month INTEGER, month_name VARCHAR, iso_week INTEGER, iso_year INTEGER,"
    " day_of_week INTEGER, day_name VARCHAR, is_weekend BOOLEAN, is_holiday BOOLEAN,"
    " month_start DATE, quarter_start DATE, week_start DATE, fiscal_year INTEGER,"
    " fiscal_quarter INTEGER)",
    "CREATE TABLE dim_user (user_key INTEGER, user_id BIGINT, signup_date DATE,"
    " country VARCHAR, region VARCHAR, device VARCHAR, acquisition_channel_key INTEGER,"
    " segment VARCHAR, age_band VARCHAR, email VARCHAR, is_internal BOOLEAN)",
    "CREATE TABLE dim_product (product_key INTEGER, sku VARCHAR, name VARCHAR,"
    " category VARCHAR, subcategory VARCHAR, brand VARCHAR, list_price DOUBLE,"
    " launched_on DATE)",
    "CREATE TABLE dim_channel (channel_key INTEGER, channel VARCHAR, channel_group VARCHAR,"
    " is_paid BOOLEAN)",
    "CREATE TABLE dim_campaign (campaign_key INTEGER, campaign_id VARCHAR, name VARCHAR,"
    " channel_key INTEGER, objective VARCHAR, start_date DATE, end_date DATE)",
    "CREATE TABLE fct_interaction (interaction_key BIGINT, occurred_at TIMESTAMP,"
    " date_key INTEGER, user_key INTEGER, product_key INTEGER, channel_key INTEGER,"
    " campaign_key INTEGER, session_id BIGINT, order_id BIGINT, interaction_type VARCHAR,"
    " device VARCHAR, quantity INTEGER, revenue DOUBLE)",
    "CREATE TABLE fct_marketing_spend (date_key INTEGER, channel_key INTEGER,"
    " campaign_key INTEGER, spend DOUBLE, impressions BIGINT, clicks BIGINT)",
]


def test_demo_model_matches_the_design_schema(tmp_path: Path, demo: SemanticModel) -> None:
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'demo.duckdb'}")
    try:
        build(engine, DEMO_DDL)
        assert check_model_against_warehouse(demo, engine) == []
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="module")
def pg_schema_engine(pg_url: str) -> Iterator[tuple[sa.Engine, str]]:
    """A schema of its own on the test database; the engine's search_path."""
    with fresh_schema(pg_url, "starboard_model") as (engine, schema):
        yield engine, schema


@pytest.mark.postgres
def test_postgres_clean_and_broken_star(
    pg_schema_engine: tuple[sa.Engine, str], tiny: SemanticModel
) -> None:
    engine, schema = pg_schema_engine
    pg_ddl = [s.replace(" DOUBLE,", " DOUBLE PRECISION,") for s in TINY_DDL]
    build(engine, pg_ddl)
    assert check_model_against_warehouse(tiny, engine) == []
    with engine.begin() as conn:
        for table in ("fct_stock", "fct_sales", "dim_customer", "dim_store", "dim_region"):
            conn.execute(sa.text(f"DROP TABLE {table}"))
    build(engine, BROKEN_DDL)
    problems = check_model_against_warehouse(tiny, engine)
    # PostgreSQL spells the text type out
    for i, problem in enumerate(problems):
        if problem.key == "tables.fct_stock.time":
            problems[i] = Problem(
                problem.file,
                problem.line,
                problem.key,
                problem.message.replace("CHARACTER VARYING", "VARCHAR"),
            )
    assert_broken_star_problems(problems)


@pytest.mark.postgres
def test_postgres_demo_model_matches_the_design_schema(
    pg_schema_engine: tuple[sa.Engine, str], demo: SemanticModel
) -> None:
    engine, _ = pg_schema_engine
    build(engine, [s.replace("DOUBLE", "DOUBLE PRECISION") for s in DEMO_DDL])
    assert check_model_against_warehouse(demo, engine) == []


@pytest.mark.parametrize("text", ["१", "²", "٣٤"])
def test_integer_filter_values_take_ascii_digits_only(text: str) -> None:
    from queries.semantic.compile import coerce_value

    with pytest.raises(ValueError):
        coerce_value(text, "integer")
