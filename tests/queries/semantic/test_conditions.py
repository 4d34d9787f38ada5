"""OR / NOT / grouped filters and HAVING against hand-written SQL, DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from app.core.errors import QueryError
from queries.semantic.compile import compile_query, sql_params, sql_text
from queries.semantic.parse import parse_cli
from queries.semantic.query import MAX_DEPTH, AllOf, AnyOf, Filter, Having, MetricQuery, Not
from tests.queries.conftest import Warehouse
from tests.queries.second_schema import TRICKY_STORE, support_model
from tests.queries.semantic.test_compile import (
    STAFFING,
    TICKETS,
    check,
    compile_for,
    q,
    routed_equals_base,
)


def _events_by(where: str, by: str = "a.team", name: str = "team") -> str:
    return f"""
        SELECT {by} AS {name}, COUNT(*) AS events, SUM(e.minutes_spent) AS handle_minutes
        FROM {TICKETS} WHERE {where} GROUP BY 1"""


def test_or_across_two_dimensions(warehouse: Warehouse) -> None:
    group = AnyOf((Filter("country", "=", "Germany"), Filter("channel", "=", "chat")))
    got = check(
        warehouse,
        q("events,handle_minutes", "team", group),
        _events_by("(co.country_label = 'Germany' OR e.channel = 'chat')"),
    )
    total = len(warehouse.data.tables["f_ticket_event"])
    only_de = warehouse.frame(compile_for(warehouse, q("events", "", group.parts[0])).statement)
    assert only_de["events"][0] < got["events"].sum() < total


def test_not_in_and_not_of_a_group(warehouse: Warehouse) -> None:
    check(
        warehouse,
        q("events,handle_minutes", "team", Not(Filter("country", "in", ("Germany", "France")))),
        _events_by("NOT (co.country_label IN ('Germany', 'France'))"),
    )
    group = Not(AnyOf((Filter("channel", "=", "chat"), Filter("floors", ">=", "3"))))
    check(
        warehouse,
        q("events,handle_minutes", "team", group),
        _events_by("NOT (e.channel = 'chat' OR s.floors >= 3)"),
    )


def test_nested_groups_with_plain_filters(warehouse: Warehouse) -> None:
    nested = AllOf(
        (
            AnyOf((Filter("channel", "in", ("chat", "email")), Filter("team", "=", "Tier 1"))),
            Not(AnyOf((Filter("store", "=", TRICKY_STORE), Filter("floors", "<", 2)))),
        )
    )
    got = check(
        warehouse,
        q("events,handle_minutes", "country", nested, Filter("event_kind", "!=", "closed")),
        _events_by(
            "e.event_kind <> 'closed' AND (e.channel IN ('chat', 'email') OR a.team = 'Tier 1') "
            "AND NOT (s.store_label = 'Smith''s, Main St' OR s.floors < 2)",
            "co.country_label",
            "country",
        ),
    )
    assert got["events"].sum() > 0


def test_or_with_a_time_condition_on_date_and_timestamp_columns(warehouse: Warehouse) -> None:
    group = AnyOf(
        (Filter("period", "between", ("2025-12-01", "2025-12-31")), Filter("store", "=", "Pop-up"))
    )
    check(
        warehouse,
        q("events,handle_minutes", "team", group),
        _events_by(
            "(c.cal_date BETWEEN DATE '2025-12-01' AND DATE '2025-12-31' "
            "OR s.store_label = 'Pop-up')"
        ),
    )
    check(  # a TIMESTAMP time column: whole days, late shifts on the 31st included
        warehouse,
        q("shifts,staffed_hours", "city", AnyOf((group.parts[0], Filter("floors", "=", 3)))),
        f"""
        SELECT ci.city_label AS city, COUNT(*) AS shifts, SUM(f.hours) AS staffed_hours
        FROM {STAFFING}
        WHERE (CAST(f.shift_start AS DATE) BETWEEN DATE '2025-12-01' AND DATE '2025-12-31'
               OR s.floors = 3)
        GROUP BY 1""",
    )


def test_date_range_only_narrows_by_bounds_that_hold_for_the_whole_query() -> None:
    dialect = sa.create_engine("duckdb://").dialect

    def date_range(*filters: object) -> tuple[date | None, date | None]:
        query = MetricQuery(metrics=("events",), filters=filters)  # type: ignore[arg-type]
        return compile_query(support_model(), query, dialect=dialect).date_range

    jan = Filter("period", "between", ("2026-01-01", "2026-01-31"))
    mar = Filter("period:month", "=", "2026-03-01")
    chat = Filter("channel", "=", "chat")
    assert date_range(AnyOf((jan, chat))) == (None, None)  # an OR part is unbounded
    assert date_range(Not(jan)) == (None, None)
    assert date_range(Not(Filter("period", "<", "2026-01-01"))) == (None, None)
    assert date_range(AnyOf((jan, mar))) == (date(2026, 1, 1), date(2026, 3, 31))  # the span
    assert date_range(AllOf((jan, chat))) == (date(2026, 1, 1), date(2026, 1, 31))
    assert date_range(AnyOf((AllOf((jan, chat)), mar)), Filter("period", ">=", "2026-01-15")) == (
        date(2026, 1, 15),
        date(2026, 3, 31),
    )


# --------------------------------------------------------------------------- HAVING


def test_having_on_one_fact_including_a_metric_not_selected(warehouse: Warehouse) -> None:
    all_rows = warehouse.frame(_events_by("TRUE", "s.store_label", "store"))
    threshold = int(all_rows["events"].median())
    got = check(
        warehouse,
        q("events", "store", having=(Having("events", ">", threshold),)),
        f"""SELECT s.store_label AS store, COUNT(*) AS events FROM {TICKETS}
            GROUP BY 1 HAVING COUNT(*) > {threshold}""",
    )
    assert 0 < len(got) < len(all_rows)
    minutes = float(all_rows["handle_minutes"].median())
    got = check(
        warehouse,
        q(
            "events",
            "store",
            Filter("channel", "!=", "email"),
            having=(Having("handle_minutes", "between", (minutes / 2, minutes * 2)),),
        ),
        f"""SELECT s.store_label AS store, COUNT(*) AS events FROM {TICKETS}
            WHERE e.channel <> 'email'
            GROUP BY 1 HAVING SUM(e.minutes_spent) BETWEEN {minutes / 2} AND {minutes * 2}""",
    )
    assert list(got.columns) == ["store", "events"] and len(got) > 0


def test_having_on_a_ratio_and_without_dimensions(warehouse: Warehouse) -> None:
    check(
        warehouse,
        q("minutes_per_resolution", "team", having=(Having("minutes_per_resolution", "<=", 40),)),
        f"""SELECT a.team AS team,
                   CAST(SUM(e.minutes_spent) AS DOUBLE PRECISION)
                     / NULLIF(COUNT(CASE WHEN e.event_kind = 'resolved' THEN 1 END), 0)
                     AS minutes_per_resolution
            FROM {TICKETS} GROUP BY 1
            HAVING CAST(SUM(e.minutes_spent) AS DOUBLE PRECISION)
                     / NULLIF(COUNT(CASE WHEN e.event_kind = 'resolved' THEN 1 END), 0) <= 40""",
    )
    none = warehouse.frame(
        compile_for(warehouse, q("events", having=(Having("events", "<", 0),))).statement
    )
    assert none.empty  # a grand total that fails HAVING is no row, as in SQL


def test_having_on_a_drill_across_applies_to_the_combined_rows(warehouse: Warehouse) -> None:
    query = q(
        "handle_minutes,staffed_hours",
        "store",
        Filter("period", ">=", "2025-12-01"),
        having=(Having("staffed_hours", ">", 20), Having("utilisation", "<", 100)),
    )
    got = check(
        warehouse,
        query,
        f"""
        WITH t AS (SELECT s.store_label AS store, SUM(e.minutes_spent) AS handle_minutes
                   FROM {TICKETS} WHERE c.cal_date >= DATE '2025-12-01' GROUP BY 1),
             f AS (SELECT s.store_label AS store, SUM(f.hours) AS staffed_hours
                   FROM {STAFFING} WHERE f.shift_start >= TIMESTAMP '2025-12-01 00:00:00'
                   GROUP BY 1)
        SELECT COALESCE(t.store, f.store) AS store, t.handle_minutes, f.staffed_hours
        FROM t FULL OUTER JOIN f ON t.store = f.store
        WHERE f.staffed_hours > 20
          AND CAST(t.handle_minutes AS DOUBLE PRECISION) / NULLIF(f.staffed_hours * 60, 0) < 100
        """,
    )
    assert len(got) > 0
    text = sql_text(compile_for(warehouse, query), warehouse.dialect)
    assert text.count("HAVING") == 1 and text.rindex("HAVING") > text.rindex("UNION ALL")


def test_rollup_routing_with_groups_and_having_gives_the_same_results(
    warehouse: Warehouse,
) -> None:
    group = AnyOf((Filter("channel", "=", "chat"), Not(Filter("team", "in", ("Tier 1",)))))
    routed_equals_base(
        warehouse,
        q(
            "events,handle_minutes,resolve_share",
            "country",
            group,
            AnyOf((Filter("period", "<", "2025-12-01"), Filter("country", "=", "Germany"))),
            having=(Having("events", ">", 3), Having("resolutions", ">=", 1)),
        ),
        "r_daily_support",
    )
    routed_equals_base(
        warehouse,
        q("staffed_hours", "city", having=(Having("shifts", ">", 2),)),
        "r_monthly_staffing",
    )
    # a leaf inside a group on a dimension the rollup lacks: read the fact
    routed_equals_base(
        warehouse,
        q("events", "country", AnyOf((Filter("channel", "=", "chat"), Filter("floors", "=", 3)))),
        None,
    )
    # HAVING on a metric the rollup lacks: read the fact
    routed_equals_base(
        warehouse, q("events", "country", having=(Having("tickets_opened", ">", 1),)), None
    )
    # a day-level time condition inside an OR on a month rollup: read the fact
    routed_equals_base(
        warehouse,
        q("shifts", "city", AnyOf((Filter("period", "=", "2026-01-15"), Filter("city", "=", "x")))),
        None,
    )


# --------------------------------------------------------------------------- scope


@pytest.mark.parametrize(
    "attack",
    [
        AnyOf((Filter("country", "=", "France"), Filter("country", "!=", "zzz"))),
        AnyOf((Filter("country", "=", "France"), Not(Filter("country", "=", "France")))),
        Not(Filter("country", "=", "Germany")),
        AnyOf((Filter("channel", "!=", "1' OR '1'='1"), Filter("channel", "=", "1' OR '1'='1"))),
    ],
)
def test_a_users_or_cannot_escape_the_row_scope(warehouse: Warehouse, attack: object) -> None:
    scope = (("country", ("Germany",)),)
    query = q("events", "country", attack)  # type: ignore[arg-type]
    compiled = compile_for(warehouse, query, scope=scope)
    got = warehouse.frame(compiled.statement)
    assert set(got["country"]) <= {"Germany"}
    allowed = warehouse.frame(
        f"SELECT COUNT(*) AS n FROM {TICKETS} WHERE co.country_label = 'Germany'"
    )
    assert got["events"].sum() <= allowed["n"][0]
    assert "1'" not in sql_text(compiled, warehouse.dialect)  # values are bound, never spliced
    if "1'" in str(attack):
        assert "1' OR '1'='1" in sql_params(compiled, warehouse.dialect).values()


def test_cli_or_text_cannot_escape_the_row_scope(warehouse: Warehouse) -> None:
    query = parse_cli("events", "country", "country = France or country != x")
    got = warehouse.frame(
        compile_for(warehouse, query, scope=(("country", ("Germany",)),)).statement
    )
    assert set(got["country"]) == {"Germany"}
    with pytest.raises(QueryError, match="at character 21"):
        parse_cli("events", "country", "country = France or 1=1", model=support_model())


# --------------------------------------------------------------------------- errors


def _compile(query: MetricQuery) -> None:
    compile_query(
        support_model(),
        query,
        dialect=sa.create_engine("duckdb://").dialect,
        column_types={"d_store.floors": "integer"},
    )


def _nest(depth: int) -> object:
    node: object = Filter("channel", "=", "chat")
    for _ in range(depth):
        node = Not(node)  # type: ignore[arg-type]
    return node


@pytest.mark.parametrize(
    ("filters", "having", "message"),
    [
        ((AnyOf((Filter("chanel", "=", "x"), Filter("floors", "=", "two"))),), (), "chanel"),
        ((AnyOf((Filter("chanel", "=", "x"), Filter("floors", "=", "two"))),), (), "'two'"),
        ((AnyOf(()),), (), "a group needs at least one part"),
        ((AnyOf(("country = DE",)),), (), "expected a Filter, AllOf, AnyOf or Not"),  # type: ignore[arg-type]
        ((_nest(MAX_DEPTH + 1),), (), f"nest more than {MAX_DEPTH} deep"),
        ((AnyOf((Filter("agent", "=", "x"),)),), (), "not reachable from f_staffing"),
        ((), (Having("revenue", ">", 1),), "unknown metric 'revenue'"),
        ((), (Having("country", ">", 1),), "it is a dimension"),
        ((), (Having("events", "in", (1, 2)),), "unknown operator 'in'"),
        ((), (Having("events", ">", "lots"),), "'lots' is not a number"),
        ((), (Having("events", "between", (5, 1)),), "reversed"),
        ((), (Filter("events", ">", 1),), "expected a Having"),  # type: ignore[arg-type]
        (
            (Filter("agent", "=", "x"),),
            (Having("shifts", ">", 1),),
            "not reachable from f_staffing (metric shifts)",
        ),
    ],
)
def test_bad_groups_and_having_are_query_errors(
    filters: tuple, having: tuple, message: str
) -> None:
    metrics = ("shifts",) if "f_staffing" in message and not having else ("events",)
    with pytest.raises(QueryError) as err:
        _compile(MetricQuery(metrics=metrics, filters=filters, having=having))
    assert message in str(err.value)


def test_depth_at_the_limit_compiles() -> None:
    _compile(MetricQuery(metrics=("events",), filters=(_nest(MAX_DEPTH),)))  # type: ignore[arg-type]


def test_having_on_another_facts_metric_makes_a_drill_across(warehouse: Warehouse) -> None:
    query = q("events", "store", having=(Having("staffed_hours", ">", 20),))
    compiled = compile_for(warehouse, query)
    assert compiled.facts == ("f_ticket_event", "f_staffing")
    got = check(
        warehouse,
        query,
        f"""
        WITH t AS (SELECT s.store_label AS store, COUNT(*) AS events FROM {TICKETS} GROUP BY 1),
             f AS (SELECT s.store_label AS store, SUM(f.hours) AS staffed_hours
                   FROM {STAFFING} GROUP BY 1)
        SELECT COALESCE(t.store, f.store) AS store, t.events
        FROM t FULL OUTER JOIN f ON t.store = f.store
        WHERE f.staffed_hours > 20""",
    )
    assert list(got.columns) == ["store", "events"] and len(got) > 0
