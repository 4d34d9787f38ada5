"""Metrics over the whole star (``table.column`` in sql and filter) and role-playing joins
(one table joined under several names), against hand-written SQL on DuckDB and PostgreSQL.

The support schema joins d_agent twice: as itself (the agent who handled the event) and as
the role ``handover_agent`` (the agent it was handed to, ``handover_agent_no``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.core.errors import ModelError, Problem, QueryError
from queries.explore import detail as dq
from queries.quality.freshness import _latest
from queries.semantic.against_warehouse import check_model_against_warehouse
from queries.semantic.compile import compile_query, sql_text
from queries.semantic.model import load_model
from queries.semantic.query import Filter
from queries.semantic.types import Join
from tests.queries.conftest import Warehouse
from tests.queries.second_schema import MODEL_PATH
from tests.queries.semantic.test_compile import (
    STAFFING,
    TICKETS,
    check,
    compile_for,
    q,
    routed_equals_base,
)

HANDOVER = f"""{TICKETS}
  LEFT JOIN d_agent h ON e.handover_agent_no = h.agent_no"""
SUPPORT_TEXT = MODEL_PATH.read_text()


def support_with(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    """The support model file with text replacements, written to ``tmp_path``."""
    text = SUPPORT_TEXT
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "support.yaml"
    path.write_text(text)
    return path


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(ModelError) as info:
        load_model(path)
    return info.value.problems


# --------------------------------------------------------------------------- roles


def test_a_role_and_its_base_table_group_together(warehouse: Warehouse) -> None:
    got = check(
        warehouse,
        q("events,handle_minutes", "team,handover_team"),
        f"""
        SELECT a.team AS team, h.team AS handover_team, COUNT(*) AS events,
               SUM(e.minutes_spent) AS handle_minutes
        FROM {HANDOVER} GROUP BY 1, 2""",
    )
    assert len(got) > 9  # every pair of teams and the NULLs
    text = sql_text(compile_for(warehouse, q("events", "team,handover_team")), warehouse.dialect)
    assert "d_agent AS handover_agent" in text
    assert "JOIN d_agent ON" in text  # the base role under its own name


def test_a_role_and_its_base_table_filter_together(warehouse: Warehouse) -> None:
    check(
        warehouse,
        q(
            "events,resolutions",
            "handover_team,channel",
            Filter("team", "=", "Tier 1"),
            Filter("handover_team", "!=", "Tier 1"),
        ),
        f"""
        SELECT h.team AS handover_team, e.channel AS channel, COUNT(*) AS events,
               COUNT(CASE WHEN e.event_kind = 'resolved' THEN 1 END) AS resolutions
        FROM {HANDOVER}
        WHERE a.team = 'Tier 1' AND h.team <> 'Tier 1' GROUP BY 1, 2""",
    )


def test_only_the_role_is_joined_when_only_the_role_is_used(warehouse: Warehouse) -> None:
    text = sql_text(compile_for(warehouse, q("events", "handover_team")), warehouse.dialect)
    assert "d_agent AS handover_agent" in text
    assert "JOIN d_agent ON" not in text


def test_a_role_in_the_row_scope(warehouse: Warehouse) -> None:
    check(
        warehouse,
        q("events", "team"),
        f"""
        SELECT a.team AS team, COUNT(*) AS events FROM {HANDOVER}
        WHERE h.team IN ('Tier 2') GROUP BY 1""",
        scope=(("handover_team", ("Tier 2",)),),
    )


def test_a_fact_time_through_a_role(tmp_path: Path, warehouse: Warehouse) -> None:
    path = support_with(
        tmp_path,
        (
            "d_calendar: {from: event_cal_key, to: cal_key}",
            "event_day: {table: d_calendar, from: event_cal_key, to: cal_key}",
        ),
        ("time: d_calendar.cal_date", "time: event_day.cal_date"),
        ("{column: d_calendar.weekday,", "{column: event_day.weekday,"),
        ("{table: d_calendar, sql:", "{table: event_day, sql:"),
    )
    model = load_model(path)
    compiled = compile_query(
        model,
        q("events", "period:month,weekday", Filter("period", ">=", "2026-01-10")),
        dialect=warehouse.dialect,
        column_types=warehouse.kinds,
        use_rollups=False,
    )
    assert "d_calendar AS event_day" in sql_text(compiled, warehouse.dialect)
    got = warehouse.frame(compiled.statement)
    want = warehouse.frame(
        """
        SELECT CAST(date_trunc('month', c.cal_date) AS DATE) AS period, c.weekday AS weekday,
               COUNT(*) AS events
        FROM f_ticket_event e LEFT JOIN d_calendar c ON e.event_cal_key = c.cal_key
        WHERE c.cal_date >= DATE '2026-01-10' GROUP BY 1, 2 ORDER BY 1, 2"""
    )
    assert got.to_dict("records") == want.to_dict("records")
    # the freshness banner reads the time through the role too
    latest = _latest(model, warehouse.engine, "f_ticket_event", "event_day", "cal_date")
    want_latest = warehouse.scalar(
        "SELECT MAX(c.cal_date) FROM f_ticket_event e JOIN d_calendar c "
        "ON e.event_cal_key = c.cal_key"
    )
    assert latest == want_latest is not None


def test_joins_beyond_a_role_are_not_followed(warehouse: Warehouse) -> None:
    staffing = warehouse.model.tables["f_staffing"]
    site = dataclasses.replace(staffing, joins=(Join("site", "store_ref", "store_ref", "d_store"),))
    model = dataclasses.replace(
        warehouse.model, tables={**warehouse.model.tables, "f_staffing": site}
    )
    with pytest.raises(QueryError, match="only beyond role 'site'"):
        compile_query(model, q("staffed_hours", "city"), dialect=warehouse.dialect)


# --------------------------------------------------------------------------- joined columns


def test_metrics_over_joined_columns_and_roles(warehouse: Warehouse) -> None:
    check(
        warehouse,
        q("floors_visited,flagship_events,europe_minutes,cross_team_handovers,events", "channel"),
        f"""
        SELECT e.channel AS channel, SUM(s.floors) AS floors_visited,
               COUNT(CASE WHEN s.is_flagship THEN 1 END) AS flagship_events,
               SUM(CASE WHEN co.continent = 'Europe' THEN e.minutes_spent END)
                 AS europe_minutes,
               SUM(CASE WHEN h.team <> a.team THEN 1 ELSE 0 END) AS cross_team_handovers,
               COUNT(*) AS events
        FROM {HANDOVER} GROUP BY 1""",
    )


def test_joined_column_metrics_without_dimensions(warehouse: Warehouse) -> None:
    check(
        warehouse,
        q("floors_visited,flagship_events,cross_team_handovers"),
        f"""
        SELECT SUM(s.floors) AS floors_visited,
               COUNT(CASE WHEN s.is_flagship THEN 1 END) AS flagship_events,
               SUM(CASE WHEN h.team <> a.team THEN 1 ELSE 0 END) AS cross_team_handovers
        FROM {HANDOVER}""",
    )


def test_a_joined_column_filter_goes_to_where(warehouse: Warehouse) -> None:
    query = q("flagship_events", "store,team", Filter("handover_team", "in", ("Tier 2", "Tier 1")))
    check(
        warehouse,
        query,
        f"""
        SELECT s.store_label AS store, a.team AS team, COUNT(*) AS flagship_events
        FROM {HANDOVER}
        WHERE h.team IN ('Tier 2', 'Tier 1') AND s.is_flagship GROUP BY 1, 2""",
    )
    text = sql_text(compile_for(warehouse, query), warehouse.dialect)
    assert "WHERE" in text and "CASE" not in text  # one shared filter: WHERE only


def test_a_multi_hop_filter_with_a_dimension_filter(warehouse: Warehouse) -> None:
    check(
        warehouse,
        q("europe_minutes,handle_minutes", "team", Filter("flagship", "=", False)),
        f"""
        SELECT a.team AS team,
               SUM(CASE WHEN co.continent = 'Europe' THEN e.minutes_spent END)
                 AS europe_minutes,
               SUM(e.minutes_spent) AS handle_minutes
        FROM {TICKETS} WHERE s.is_flagship = FALSE GROUP BY 1""",
    )


def test_joined_columns_keep_the_fact_grain(warehouse: Warehouse) -> None:
    """Each event counts once however many tables its metrics join."""
    got = warehouse.frame(compile_for(warehouse, q("events,floors_visited")).statement)
    assert got["events"].tolist() == [float(len(warehouse.data.tables["f_ticket_event"]))]


def test_drill_across_with_joined_column_metrics(warehouse: Warehouse) -> None:
    check(
        warehouse,
        q("flagship_events,flagship_hours,floors_visited,staffed_hours", "city"),
        f"""
        WITH t AS (SELECT ci.city_label AS city,
                          COUNT(CASE WHEN s.is_flagship THEN 1 END) AS flagship_events,
                          SUM(s.floors) AS floors_visited
                   FROM {TICKETS} GROUP BY 1),
             f AS (SELECT ci.city_label AS city,
                          SUM(CASE WHEN s.is_flagship THEN f.hours END) AS flagship_hours,
                          SUM(f.hours) AS staffed_hours
                   FROM {STAFFING} GROUP BY 1)
        SELECT COALESCE(t.city, f.city) AS city, t.flagship_events, f.flagship_hours,
               t.floors_visited, f.staffed_hours
        FROM t FULL OUTER JOIN f ON COALESCE(t.city, '~') = COALESCE(f.city, '~')""",
    )


def test_detail_rows_of_a_joined_column_metric(warehouse: Warehouse) -> None:
    drill = dq.Drill("flagship_events", (Filter("handover_team", "=", "Tier 2"),))
    statement, columns = dq.detail_statement(
        warehouse.model, drill, dialect=warehouse.dialect, kinds=warehouse.kinds, pii_ok=True
    )
    got = warehouse.frame(statement)
    want = warehouse.frame(
        f"""SELECT e.ticket_id, e.event_seq FROM {HANDOVER}
        WHERE s.is_flagship AND h.team = 'Tier 2' ORDER BY 1, 2"""
    )
    assert len(got) == len(want) > 0
    assert got[["ticket_id", "event_seq"]].values.tolist() == want.values.tolist()
    assert "handover_team" in {c.key for c in columns}


# --------------------------------------------------------------------------- rollups


def test_a_rollup_of_joined_column_metrics_gives_the_fact_answer(warehouse: Warehouse) -> None:
    routed_equals_base(
        warehouse,
        q("floors_visited,flagship_events,cross_team_handovers", "handover_team,period:quarter"),
        "r_monthly_handovers",
    )
    routed_equals_base(
        warehouse,
        q("flagship_events", "team", Filter("handover_team", "=", "Escalations")),
        "r_monthly_handovers",
    )
    total = warehouse.scalar("SELECT SUM(floors_visited) FROM r_monthly_handovers")
    want = warehouse.scalar(f"SELECT SUM(s.floors) FROM {TICKETS}")
    assert float(total) == float(want) > 0  # type: ignore[arg-type]


def test_a_role_not_in_the_rollup_reads_the_fact(warehouse: Warehouse) -> None:
    routed_equals_base(warehouse, q("floors_visited", "channel"), None)


# --------------------------------------------------------------------------- the warehouse


def test_the_support_model_matches_its_warehouse(warehouse: Warehouse) -> None:
    assert check_model_against_warehouse(warehouse.model, warehouse.engine) == []


def test_a_joined_column_is_checked_in_the_role_table(tmp_path: Path, warehouse: Warehouse) -> None:
    path = support_with(
        tmp_path,
        ("sum(case when handover_agent.team <>", "sum(case when handover_agent.tem <>"),
        ("sql: sum(d_store.floors)}", "sql: sum(d_store.flors)}"),
    )
    problems = check_model_against_warehouse(load_model(path), warehouse.engine)
    assert sorted((p.key, p.message) for p in problems) == [
        (
            "metrics.cross_team_handovers.sql",
            "column 'tem' does not exist in table 'd_agent' (role 'handover_agent'); "
            "did you mean 'team'?",
        ),
        (
            "metrics.floors_visited.sql",
            "column 'flors' does not exist in table 'd_store'; did you mean 'floors'?",
        ),
    ]


# --------------------------------------------------------------------------- bad input


ROLE = "handover_agent: {table: d_agent, from: handover_agent_no, to: agent_no}"


@pytest.mark.parametrize(
    ("edit", "key", "message"),
    [
        (
            (ROLE, ROLE.replace("table: d_agent", "table: d_agnet")),
            "tables.f_ticket_event.joins.handover_agent.table",
            "unknown table 'd_agnet'; did you mean 'd_agent'?",
        ),
        (
            (ROLE, ROLE.replace("handover_agent:", "d_city:")),
            "tables.f_ticket_event.joins.d_city",
            "role 'd_city' has the name of a declared table: give the role its own name "
            "(or drop `table: d_agent` to join 'd_city' itself)",
        ),
        (
            (ROLE, ROLE.replace("table:", "tabel:")),
            "tables.f_ticket_event.joins.handover_agent.tabel",
            "unknown key 'tabel'; did you mean 'table'?",
        ),
        (
            ("sql: sum(d_store.floors)}", "sql: sum(d_stor.floors)}"),
            "metrics.floors_visited.sql",
            "'d_stor' is not a table or role of the model; did you mean 'd_store'?",
        ),
        (
            (
                "fact: f_staffing, sql: sum(hours), filter: d_store.is_flagship}",
                "fact: f_staffing, sql: sum(hours), filter: \"handover_agent.team = 'x'\"}",
            ),
            "metrics.flagship_hours.filter",
            "'handover_agent' is not reachable from 'f_staffing' through its joins",
        ),
        (
            ("sql: sum(d_store.floors)}", "sql: sum(main.d_store.floors)}"),
            "metrics.floors_visited.sql",
            "'main.d_store.floors' has a schema: write table.column or column",
        ),
        (
            (
                "    time: shift_start\n    joins:\n      d_store: store_ref\n",
                "    time: shift_start\n    joins:\n      d_store: store_ref\n"
                "      handover_agent: {table: d_store, from: store_ref, to: store_ref}\n",
            ),
            "tables.f_staffing.joins.handover_agent.table",
            "role 'handover_agent' is 'd_agent' in the joins of 'f_ticket_event': a role name "
            "means one table throughout the model",
        ),
        (
            (
                "rollups:",
                "checks:\n  handover_agent:\n    - {kind: not_null, column: team}\nrollups:",
            ),
            "checks.handover_agent",
            "'handover_agent' is a role of table 'd_agent': checks are declared on the "
            "physical table",
        ),
    ],
)
def test_bad_roles_and_joined_columns_are_load_errors(
    tmp_path: Path, edit: tuple[str, str], key: str, message: str
) -> None:
    problems = problems_of(support_with(tmp_path, edit))
    found = [p for p in problems if p.key == key]
    assert [p.message for p in found] == [message], problems
    assert found[0].line is not None and found[0].file.endswith("support.yaml")


def test_a_dimension_on_an_unknown_role_is_refused(tmp_path: Path) -> None:
    path = support_with(tmp_path, ("column: handover_agent.team", "column: handover_agnt.team"))
    [problem] = [p for p in problems_of(path) if p.key == "dimensions.handover_team.column"]
    assert (
        problem.message == "unknown table or role 'handover_agnt'; did you mean 'handover_agent'?"
    )


def test_a_snowflake_beyond_a_role_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = support_with(
        tmp_path,
        (
            "    time: shift_start\n    joins:\n      d_store: store_ref\n",
            "    time: shift_start\n    joins:\n"
            "      site: {table: d_store, from: store_ref, to: store_ref}\n",
        ),
    )
    problems = {(p.key, p.message) for p in problems_of(path)}
    assert problems == {
        (
            "rollups.r_monthly_staffing.dimensions.0",
            "dimension 'store' is not reachable from 'f_staffing' through its joins: 'd_store' "
            "is joined only as role 'site'; write site.column",
        ),
        (
            "rollups.r_monthly_staffing.dimensions.1",
            "dimension 'city' is not reachable from 'f_staffing' through its joins: 'd_city' is "
            "joined only beyond role 'site' (table 'd_store'), whose own joins are not "
            "followed; join 'd_city' from 'f_staffing' directly, or as a role",
        ),
        (
            "metrics.flagship_hours.filter",
            "'d_store' is not reachable from 'f_staffing' through its joins: 'd_store' is "
            "joined only as role 'site'; write site.column",
        ),
    }


def test_a_role_has_its_table_personal_data(warehouse: Warehouse) -> None:
    from queries.semantic.types import Dimension
    from queries.tree import mover_dimensions

    model = warehouse.model
    agent = dataclasses.replace(model.tables["d_agent"], pii=frozenset({"agent_name"}))
    handed_to = Dimension("handed_to", "Handed to", "handover_agent", "agent_name")
    model = dataclasses.replace(
        model,
        tables={**model.tables, "d_agent": agent},
        dimensions={**model.dimensions, "handed_to": handed_to},
    )
    columns = {c.key: c for c in dq.detail_columns(model, "f_ticket_event", warehouse.kinds)}
    assert columns["handed_to"].pii and columns["handover_team"].pii is False
    assert "handed_to" not in mover_dimensions(model, "events")
    assert "handover_team" in mover_dimensions(model, "events")
    statement, _ = dq.detail_statement(
        model,
        dq.Drill("events", (Filter("handover_team", "=", "Tier 1"),)),
        dialect=warehouse.dialect,
        kinds=warehouse.kinds,
    )
    got = warehouse.frame(statement)
    assert len(got) > 0 and set(got["handed_to"]) == {dq.MASK}


def _rounded(row: Sequence[object]) -> tuple[object, ...]:
    """A row with floats rounded (sums of doubles may differ in the last bits)."""
    return tuple(round(v, 6) if isinstance(v, float) else v for v in row)


SELF_ROLES = """
version: 1
name: people
tables:
  f_sale:
    kind: fact
    primary_key: sale_id
    time: sold_at
    joins:
      seller: {table: d_person, from: seller_id, to: person_id}
      buyer: {table: d_person, from: buyer_id, to: person_id}
  d_person:
    kind: dimension
    primary_key: person_id
    joins:
      manager: {table: d_person, from: manager_id, to: person_id}
dimensions:
  date: {time: true}
  seller_city: {column: seller.city}
  buyer_city: {column: buyer.city}
  manager_city: {column: manager.city}
metrics:
  sales: {fact: f_sale, sql: sum(amount)}
  local_sales: {fact: f_sale, sql: sum(amount), filter: "seller.city = buyer.city"}
  people: {fact: d_person, sql: count(*)}
"""


def test_two_roles_of_one_table_and_a_self_join_on_a_mock(tmp_path: Path) -> None:
    from queries.starter.mock import MockOptions, generate

    path = tmp_path / "people.yaml"
    path.write_text(SELF_ROLES)
    model = load_model(path)
    mock = generate(model, MockOptions(rows=3000))
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'people.duckdb'}")
    try:
        with engine.begin() as conn:
            raw = conn.connection.driver_connection
            for name, table in mock.tables.items():
                raw.register("rows_in", table)
                raw.execute(f"CREATE TABLE {name} AS SELECT * FROM rows_in")
                raw.unregister("rows_in")
        assert check_model_against_warehouse(model, engine) == []
        with engine.connect() as conn:
            for query, hand in [
                (
                    q("local_sales,sales", "seller_city,buyer_city"),
                    """SELECT s.city, b.city,
                              SUM(CASE WHEN s.city = b.city THEN f.amount END), SUM(f.amount)
                       FROM f_sale f LEFT JOIN d_person s ON f.seller_id = s.person_id
                       LEFT JOIN d_person b ON f.buyer_id = b.person_id
                       GROUP BY 1, 2 ORDER BY 1 NULLS LAST, 2 NULLS LAST""",
                ),
                (
                    q("people", "manager_city"),
                    """SELECT m.city, COUNT(*) FROM d_person p
                       LEFT JOIN d_person m ON p.manager_id = m.person_id
                       GROUP BY 1 ORDER BY 1 NULLS LAST""",
                ),
            ]:
                compiled = compile_query(model, query, dialect=engine.dialect)
                got = [_rounded(r) for r in conn.execute(compiled.statement)]
                want = [_rounded(r) for r in conn.execute(sa.text(hand))]
                assert got == want
                assert len(got) > 1
    finally:
        engine.dispose()
