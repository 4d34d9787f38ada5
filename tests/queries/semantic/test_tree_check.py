"""``starboard check`` evaluates the tree's identities on the data, and reports every problem
(structural and against the warehouse) in one run: on the second schema (DuckDB and
PostgreSQL, numbers from hand-written SQL) and on the demo."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.core.errors import ModelError, Problem
from app.core.warehouse import Warehouse as PublishedWarehouse
from queries.semantic.against_warehouse import check
from queries.semantic.model import parse_model, parse_model_partial
from queries.semantic.tree_check import (
    DEFAULT_TOLERANCE,
    gap_message,
    implied_value,
    node_query,
    relation_gap,
)
from queries.semantic.types import TreeNode
from tests.queries.conftest import Warehouse
from tests.queries.second_schema import MODEL_PATH

SUPPORT = MODEL_PATH.read_text(encoding="utf-8")
DEMO = Path("queries/models/demo.yaml")

# metrics the tree tests add to the support model: one on a table without time, one that
# never has rows
EXTRA_METRICS = """
  agents: {fact: d_agent, sql: count(*)}
  agents_named: {fact: d_agent, sql: count(agent_name)}
  agent_teams: {fact: d_agent, sql: count(distinct team)}
  quiet_minutes:
    fact: f_ticket_event
    sql: sum(minutes_spent)
    filter: "event_kind = 'never'"
  quiet_per_resolution: {ratio: [quiet_minutes, resolutions]}
"""

RIGHT_TREE = """
tree:
  minutes_per_staffed_hour: {children: [handle_minutes, staffed_hours], relation: ratio}
  handle_minutes: {children: [resolutions, minutes_per_resolution], relation: product}
  resolve_share: {children: [resolutions, events], relation: ratio}
  quiet_per_resolution: {children: [quiet_minutes, resolutions], relation: ratio}
  agents: {children: [agents_named, agent_teams], relation: influence}
"""

WRONG_TREE = """
tree:
  events: {children: [resolutions, resolve_share], relation: product}
  long_events: {children: [resolutions, tickets_opened], relation: sum, tolerance: 0.02}
  agents: {children: [agents_named, agent_teams], relation: sum}
  minutes_per_resolution: {children: [handle_minutes, resolutions], relation: ratio}
  minutes_per_staffed_hour: {children: [handle_minutes, shifts], relation: ratio}
"""


def support_with(tmp_path: Path, tree: str, metrics: str = EXTRA_METRICS) -> Path:
    text = SUPPORT.replace("\nrollups:", metrics + "\nrollups:", 1) + tree
    path = tmp_path / "support.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def by_key(problems: list[Problem]) -> dict[str, str]:
    found: dict[str, str] = {}
    for p in problems:
        assert p.key not in found, problems
        found[p.key] = p.message
    return found


# --------------------------------------------------------------------------- the rules


def test_implied_values() -> None:
    assert implied_value("sum", [1.0, 2.5, None]) == 3.5  # a child without rows adds 0
    assert implied_value("sum", [None, None]) is None  # an empty period
    assert implied_value("product", [4.0, 0.25]) == 1.0
    assert implied_value("product", [4.0, None]) is None
    assert implied_value("ratio", [3.0, 4.0]) == 0.75
    assert implied_value("ratio", [3.0, 0.0]) is None  # no ratio to a zero denominator
    assert implied_value("ratio", [None, 4.0]) is None


def test_gap_relative_to_the_metric_and_the_empty_cases() -> None:
    gap = relation_gap("product", 1025.0, [28135.0, 0.647], "2026-11")
    assert gap is not None and gap.implied == pytest.approx(28135 * 0.647)
    assert gap.off == pytest.approx((28135 * 0.647 - 1025) / 1025)
    assert relation_gap("product", 10.0, [2.0, 5.0]).off == 0.0  # type: ignore[union-attr]
    # the metric with no rows (NULL) agrees with an identity of 0, not with more
    assert relation_gap("sum", None, [0.0, 0.0]).off == 0.0  # type: ignore[union-attr]
    assert math.isinf(relation_gap("sum", None, [1.0, 0.0]).off)  # type: ignore[union-attr]
    assert math.isinf(relation_gap("ratio", 0.0, [1.0, 2.0]).off)  # type: ignore[union-attr]
    assert relation_gap("ratio", None, [None, 2.0]) is None  # not computable: skipped
    assert relation_gap("sum", None, [None, None]) is None  # empty period: skipped


def test_message_names_the_identity_the_worst_period_and_the_others() -> None:
    node = TreeNode("cancelled_flights", ("flights", "on_time_rate"), "product")
    gaps = [
        relation_gap("product", 1025.0, [28135.0, 0.647], "2026-11"),
        relation_gap("product", 1000.0, [1500.0, 0.7], "2026-10"),
    ]
    assert gap_message(node, [g for g in gaps if g], DEFAULT_TOLERANCE) == (
        "cancelled_flights ≠ flights × on_time_rate in 2026-11: 1,025 vs 18,203.3 "
        "(off by 1,676%; tolerance 0.5%); also off in 2026-10"
    )
    zero = relation_gap("sum", 0.0, [2.0, 1.0])
    assert zero is not None
    assert "in 2026-01: 0 vs 3 (the metric is 0; tolerance 2%)" in gap_message(
        TreeNode("a", ("b", "c"), "sum"), [zero.__class__("2026-01", 0.0, 3.0, zero.off)], 0.02
    )


def test_one_query_per_node_latest_months_first_or_the_whole_table(tmp_path: Path) -> None:
    model = parse_model(support_with(tmp_path, WRONG_TREE).read_text())
    events = node_query(model, model.tree["events"])
    assert events.metrics == ("events", "resolutions", "resolve_share")
    assert events.dimensions == ("period:month",) and events.order_by == ("-period",)
    assert events.limit == 3
    agents = node_query(model, model.tree["agents"])  # d_agent has no time column
    assert agents.dimensions == () and agents.limit is None


# --------------------------------------------------------------------------- tolerance


@pytest.mark.parametrize(
    ("value", "expected"), [("0.02", 0.02), ('"2%"', 0.02), ("0", 0.0), ('" 0.5 %"', 0.005)]
)
def test_tolerance_as_fraction_or_percentage(tmp_path: Path, value: str, expected: float) -> None:
    tree = (
        "tree:\n  events: {children: [resolutions, long_events], relation: sum, "
        f"tolerance: {value}}}\n"
    )
    model = parse_model(support_with(tmp_path, tree).read_text())
    assert model.tree["events"].tolerance == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "relation", "message"),
    [
        ("1.5", "sum", "1.5 is not a tolerance: use a fraction of the metric from 0 to below 1"),
        ("-0.1", "sum", "-0.1 is not a tolerance"),
        ('"lots"', "sum", "'lots' is not a tolerance"),
        ("true", "sum", "True is not a tolerance"),
        ("0.1", "influence", "an influence relation is not an identity"),
    ],
)
def test_bad_tolerance_is_refused_with_its_key(
    tmp_path: Path, value: str, relation: str, message: str
) -> None:
    tree = (
        "tree:\n  events:\n    children: [resolutions, long_events]\n"
        f"    relation: {relation}\n    tolerance: {value}\n"
    )
    path = support_with(tmp_path, tree)
    with pytest.raises(ModelError) as info:
        parse_model(path.read_text(), path)
    [problem] = info.value.problems
    assert problem.key == "tree.events.tolerance" and message in problem.message
    assert problem.line == line_of(path, "tolerance:")


# --------------------------------------------------------------------------- on the data


def test_a_right_tree_passes(warehouse: Warehouse, tmp_path: Path) -> None:
    assert check(support_with(tmp_path, RIGHT_TREE), warehouse.engine) == []


def _num(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.4g}"


def _pct(fraction: float) -> str:
    pct = fraction * 100
    return f"{pct:,.0f}%" if pct >= 10 else f"{pct:.2g}%"


def test_a_wrong_tree_is_refused_by_how_much(warehouse: Warehouse, tmp_path: Path) -> None:
    path = support_with(tmp_path, WRONG_TREE)
    found = by_key(check(path, warehouse.engine))
    # minutes_per_resolution holds; the drill-across ratio over shifts (not hours) does not
    assert set(found) == {
        "tree.events",
        "tree.long_events",
        "tree.agents",
        "tree.minutes_per_staffed_hour",
    }
    assert found["tree.minutes_per_staffed_hour"].startswith(
        "minutes_per_staffed_hour ≠ handle_minutes / shifts in "
    )

    months = warehouse.frame(
        "SELECT date_trunc('month', c.cal_date) AS m, count(*) AS events, "
        "sum(CASE WHEN e.event_kind = 'resolved' THEN 1 ELSE 0 END) AS resolved, "
        "sum(CASE WHEN e.minutes_spent > 30 THEN 1 ELSE 0 END) AS long_events, "
        "count(DISTINCT CASE WHEN e.event_kind = 'opened' THEN e.ticket_id END) AS opened "
        "FROM f_ticket_event e JOIN d_calendar c ON c.cal_key = e.event_cal_key "
        "GROUP BY 1 ORDER BY 1 DESC LIMIT 3"
    )
    labels = [f"{m:%Y-%m}" for m in months["m"]]
    assert labels == ["2026-03", "2026-02", "2026-01"]  # the latest three months

    # events ≠ resolutions × (resolutions / events): off by 1 − share² relative to events
    offs = [
        abs(r * r / e - e) / e for r, e in zip(months["resolved"], months["events"], strict=True)
    ]
    worst = max(range(3), key=lambda i: offs[i])
    events, resolved = months["events"][worst], months["resolved"][worst]
    implied = resolved * resolved / events
    shown = _num(implied)
    assert found["tree.events"] == (
        f"events ≠ resolutions × resolve_share in {labels[worst]}: {int(events):,} vs "
        f"{shown} (off by {_pct(offs[worst])}; tolerance 0.5%); also off in "
        + ", ".join(sorted(m for i, m in enumerate(labels) if i != worst))
    )

    sums = [
        abs(r + o - n) / n
        for r, o, n in zip(months["resolved"], months["opened"], months["long_events"], strict=True)
    ]
    worst = max(range(3), key=lambda i: sums[i])
    assert found["tree.long_events"].startswith(
        f"long_events ≠ resolutions + tickets_opened in {labels[worst]}: "
        f"{int(months['long_events'][worst]):,} vs "
        f"{int(months['resolved'][worst] + months['opened'][worst]):,} "
        f"(off by {_pct(sums[worst])}; tolerance 2%)"
    )

    agents = warehouse.frame(
        "SELECT count(*) AS n, count(agent_name) AS named, count(DISTINCT team) AS teams "
        "FROM d_agent"
    )
    n, named, teams = (int(agents[c][0]) for c in ("n", "named", "teams"))
    assert found["tree.agents"] == (
        f"agents ≠ agents_named + agent_teams over all rows: {n:,} vs {named + teams:,} "
        f"(off by {_pct(teams / n)}; tolerance 0.5%)"
    )


def test_a_generous_tolerance_lets_a_near_identity_pass(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    tree = (
        "tree:\n  agents: {children: [agents_named, agent_teams], relation: sum, tolerance: 0.99}\n"
    )
    n = warehouse.scalar("SELECT count(*) FROM d_agent")
    teams = warehouse.scalar("SELECT count(DISTINCT team) FROM d_agent")
    assert teams / n < 0.99  # type: ignore[operator]
    assert check(support_with(tmp_path, tree), warehouse.engine) == []


# --------------------------------------------------------------------------- one run


BROKEN_METRICS = """
  agents: {fact: d_agent, sql: count(*)}
  agents_named: {fact: d_agent, sql: count(agent_name)}
  agent_teams: {fact: d_agent, sql: count(distinct team)}
  ghost_minutes: {fact: f_ticket_event, sql: sum(ghost_column)}
  bad_ratio: {ratio: [handle_minutes, nothing_here]}
"""


def test_structural_and_warehouse_problems_in_one_run(warehouse: Warehouse, tmp_path: Path) -> None:
    tree = (
        "tree:\n"
        "  agents: {children: [agents_named, agent_teams], relation: sum}\n"
        "  bad_ratio: {children: [handle_minutes, nothing_here], relation: ratio}\n"
        "  ghost_minutes: {children: [handle_minutes, events], relation: sum}\n"
    )
    path = support_with(tmp_path, tree, BROKEN_METRICS)
    text = path.read_text().replace("{column: d_store.store_label", "{column: d_store.store_lable")
    text = text.replace("  d_city:\n    kind: dimension", "  d_city:\n    kind: dimenson")
    path.write_text(text)
    model, loading = parse_model_partial(text, path)
    assert model is not None and loading  # it does not load …
    found = check(path, warehouse.engine)
    keys = [p.key for p in found]
    assert keys == sorted(keys, key=lambda k: next(p.line or 0 for p in found if p.key == k))
    messages = by_key(found)
    # structural (from loading) …
    assert "'dimenson' is not one of fact, dimension" in messages["tables.d_city.kind"]
    assert "unknown metric 'nothing_here'" in messages["metrics.bad_ratio.ratio.1"]
    assert "unknown metric 'nothing_here'" in messages["tree.bad_ratio.children.1"]
    # … and against the warehouse, in the same run
    assert messages["dimensions.store.column"] == (
        "column 'store_lable' does not exist in table 'd_store'; did you mean 'store_label'?"
    )
    assert messages["metrics.ghost_minutes.sql"].startswith(
        "column 'ghost_column' does not exist in table 'f_ticket_event'"
    )
    # a relation on parts that loaded is evaluated; one on broken parts is not
    assert "agents ≠ agents_named + agent_teams over all rows" in messages.get("tree.agents", "")
    assert "tree.ghost_minutes" not in messages
    assert not any(k == "tree.bad_ratio" for k in messages)
    every = {(p.key, p.message) for p in found}
    assert len(every) == len(found)  # nothing twice


def test_a_model_that_cannot_be_read_reports_just_that(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("version: 1\nname: [unclosed\n")
    [problem] = check(path, warehouse.engine)
    assert problem.key == "syntax" and "YAML syntax error" in problem.message


# --------------------------------------------------------------------------- the demo


def assert_demo_tree_is_checked(engine: sa.Engine, folder: Path) -> None:
    """The demo's tree holds; the same tree with a wrong ratio is refused."""
    assert check(DEMO, engine) == []
    wrong = DEMO.read_text().replace(
        "cac:             {children: [spend, new_users], relation: ratio}",
        "cac:             {children: [spend, visitors], relation: ratio}",
    )
    path = folder / "wrong_demo.yaml"
    path.write_text(wrong)
    [problem] = check(path, engine)
    assert problem.key == "tree.cac"
    assert problem.message.startswith("cac ≠ spend / visitors in ")
    assert problem.line == line_of(path, "cac:             {children")


def test_the_demo_tree_holds_on_duckdb(tiny_demo: str, tmp_path: Path) -> None:
    warehouse = PublishedWarehouse(tiny_demo)
    try:
        assert_demo_tree_is_checked(warehouse.snapshot().engine, tmp_path)
    finally:
        warehouse.dispose()


@pytest.mark.postgres
def test_the_demo_tree_holds_on_postgresql(pg_demo_app, tmp_path: Path) -> None:
    engine = pg_demo_app.server.extensions["starboard"].warehouse.snapshot().engine
    assert_demo_tree_is_checked(engine, tmp_path)
