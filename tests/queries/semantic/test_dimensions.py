"""Computed dimensions, dimension kinds and secondary time dimensions on the support schema,
against hand-written SQL on DuckDB and PostgreSQL (the ``warehouse`` fixture)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from app.core.errors import ModelError, QueryError
from queries.explore import detail as dq
from queries.semantic import periods
from queries.semantic.against_warehouse import check_model_against_warehouse
from queries.semantic.compile import compile_query, rollup_statements
from queries.semantic.dimorder import display_pairs, display_sorted
from queries.semantic.model import load_model
from queries.semantic.query import Filter, MetricQuery
from queries.semantic.types import Dimension
from queries.tree import NodeView, TreeView, _movers, mover_dimensions, narrative, tree_jobs
from tests.queries.conftest import Warehouse
from tests.queries.second_schema import MODEL_PATH, support_model
from tests.queries.semantic.test_compile import (
    STAFFING,
    TICKETS,
    check,
    compile_for,
    q,
    routed_equals_base,
)

EFFORT = (
    "CASE WHEN e.minutes_spent < 10 THEN 'quick' WHEN e.minutes_spent < 30 THEN 'medium' "
    "WHEN e.minutes_spent >= 30 THEN 'long' END"
)
SIZE = "CASE WHEN s.floors >= 3 THEN 'large' WHEN s.floors = 2 THEN 'medium' ELSE 'small' END"


def raw_rows(wh: Warehouse, query: MetricQuery) -> list[tuple]:
    """The compiled query's rows as the driver returns them (types not normalised)."""
    with wh.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(compile_for(wh, query).statement)]


# --------------------------------------------------------------------------- computed


def test_case_bucket_dimension_matches_hand_written_sql(warehouse: Warehouse) -> None:
    got = check(
        warehouse,
        q("events,handle_minutes,resolutions", "effort"),
        f"""
        SELECT {EFFORT} AS effort, COUNT(*) AS events, SUM(e.minutes_spent) AS handle_minutes,
               COUNT(CASE WHEN e.event_kind = 'resolved' THEN 1 END) AS resolutions
        FROM f_ticket_event e GROUP BY {EFFORT}""",
    )
    assert set(got["effort"]) == {"quick", "medium", "long", None}  # NULL minutes: no band


def test_bucket_order_sorts_a_query_by_the_dimension_both_ways(warehouse: Warehouse) -> None:
    rows = raw_rows(warehouse, q("events", "effort"))
    assert [r[0] for r in rows] == ["quick", "medium", "long", None]  # not alphabetical
    rows = raw_rows(warehouse, q("events", "effort", order_by=("-effort",)))
    assert [r[0] for r in rows] == ["long", "medium", "quick", None]
    # a plain column with an order: the same (team_tier is d_agent.team)
    rows = raw_rows(warehouse, q("events", "team_tier"))
    assert [r[0] for r in rows] == ["Escalations", "Tier 2", "Tier 1", None]
    # order by a metric first, the bucket order breaks ties only
    rows = raw_rows(warehouse, q("events", "effort", order_by=("-events",)))
    assert [r[1] for r in rows] == sorted((r[1] for r in rows), reverse=True)


def test_bucket_dimension_over_a_joined_table_in_drill_across(warehouse: Warehouse) -> None:
    check(
        warehouse,
        q("events,shifts", "store_size"),
        f"""
        WITH t AS (SELECT {SIZE} AS store_size, COUNT(*) AS events FROM {TICKETS}
                   GROUP BY {SIZE}),
             f AS (SELECT {SIZE} AS store_size, COUNT(*) AS shifts FROM {STAFFING}
                   GROUP BY {SIZE})
        SELECT COALESCE(t.store_size, f.store_size) AS store_size, t.events, f.shifts
        FROM t FULL OUTER JOIN f ON t.store_size = f.store_size""",
    )
    rows = raw_rows(warehouse, q("events,shifts", "store_size"))
    assert [r[0] for r in rows] == ["small", "medium", "large"]  # NULL floors: small


def test_date_part_dimensions_are_integers_with_the_same_values(warehouse: Warehouse) -> None:
    calendar = {row[0]: row[1] for row in warehouse.data.tables["d_calendar"]}
    events = warehouse.data.tables["f_ticket_event"]
    # dow: 0 = Sunday … 6 = Saturday on both engines (Python: isoweekday() % 7)
    expected = Counter((calendar[e[2]].month, calendar[e[2]].isoweekday() % 7) for e in events)
    rows = raw_rows(warehouse, q("events", "month_of_year,day_of_week"))
    assert {(m, d): n for m, d, n in rows} == dict(expected)
    assert all(type(m) is int and type(d) is int for m, d, _ in rows)  # not numeric/float
    check(
        warehouse,
        q("handle_minutes", "month_of_year"),
        f"""
        SELECT CAST(EXTRACT(MONTH FROM c.cal_date) AS INTEGER) AS month_of_year,
               SUM(e.minutes_spent) AS handle_minutes
        FROM {TICKETS} GROUP BY CAST(EXTRACT(MONTH FROM c.cal_date) AS INTEGER)""",
    )


COMPUTED_FILTERS = [
    (Filter("effort", "in", ("quick", "long")), f"{EFFORT} IN ('quick', 'long')"),
    (Filter("effort", "!=", "medium"), f"{EFFORT} <> 'medium'"),
    (Filter("effort", "=", "quick"), f"{EFFORT} = 'quick'"),
    (Filter("month_of_year", "=", "12"), "EXTRACT(MONTH FROM c.cal_date) = 12"),
    (Filter("month_of_year", "in", (1, 2.0)), "EXTRACT(MONTH FROM c.cal_date) IN (1, 2)"),
    (Filter("day_of_week", "between", ("1", "5")), "EXTRACT(DOW FROM c.cal_date) BETWEEN 1 AND 5"),
    (Filter("day_of_week", ">=", 6), "EXTRACT(DOW FROM c.cal_date) >= 6"),
    (Filter("store_size", "not_in", ("small",)), f"{SIZE} NOT IN ('small')"),
    (Filter("team_tier", "=", "Tier 2"), "a.team = 'Tier 2'"),
    (Filter("hired", ">=", "2022-01-01"), "a.hired_on >= DATE '2022-01-01'"),
    (Filter("hired", "<", "2022-01-01"), "a.hired_on < DATE '2022-01-01'"),
    (
        Filter("hired", "between", ("2021-01-01", "2023-06-30")),
        "a.hired_on BETWEEN DATE '2021-01-01' AND DATE '2023-06-30'",
    ),
    (
        Filter("hired:year", "=", "2022-01-01"),
        "CAST(date_trunc('year', a.hired_on) AS DATE) = DATE '2022-01-01'",
    ),
]


@pytest.mark.parametrize(
    ("flt", "where"), COMPUTED_FILTERS, ids=[f"{f.dimension}{f.op}" for f, _ in COMPUTED_FILTERS]
)
def test_filters_on_computed_and_secondary_time_dimensions(
    warehouse: Warehouse, flt: Filter, where: str
) -> None:
    got = check(
        warehouse,
        q("events,handle_minutes", "channel", flt),
        f"""
        SELECT e.channel AS channel, COUNT(*) AS events, SUM(e.minutes_spent) AS handle_minutes
        FROM {TICKETS} WHERE {where} GROUP BY e.channel""",
    )
    assert 0 < got["events"].sum() < len(warehouse.data.tables["f_ticket_event"])


def test_filter_values_of_computed_dimensions_are_coerced_and_checked() -> None:
    dialect = sa.create_engine("duckdb://").dialect
    model = support_model()
    with pytest.raises(QueryError, match="'december' is not an integer"):
        compile_query(
            model, q("events", "", Filter("month_of_year", "=", "december")), dialect=dialect
        )
    compiled = compile_query(
        model, q("events", "", Filter("effort", "in", (3, "quick"))), dialect=dialect
    )
    assert "IN" in str(compiled.statement)  # numbers become text for a text bucket


def test_rollup_with_computed_dimensions_gives_the_same_answers(warehouse: Warehouse) -> None:
    routed_equals_base(
        warehouse,
        q(
            "events,handle_minutes",
            "effort,period:quarter",
            Filter("month_of_year", "in", (11, 12)),
        ),
        "r_effort_monthly",
    )
    routed_equals_base(
        warehouse, q("events", "month_of_year", Filter("effort", "=", "long")), "r_effort_monthly"
    )
    kept = warehouse.frame("SELECT DISTINCT effort FROM r_effort_monthly")
    assert set(kept["effort"]) == {"quick", "medium", "long", None}
    # the bucket order holds on the rollup route too
    routed = compile_for(warehouse, q("events", "effort"), use_rollups=True)
    assert routed.rollup == "r_effort_monthly"
    assert list(warehouse.frame(routed.statement)["effort"]) == ["quick", "medium", "long", None]


@pytest.mark.parametrize(
    "query",
    [
        q("events", "hired:year"),  # a secondary time dimension is never stored
        q("events", "effort", Filter("hired", ">=", "2022-01-01")),
        q("events", "effort,channel"),  # channel is not in the rollup
    ],
)
def test_queries_on_secondary_time_dimensions_read_the_facts(
    warehouse: Warehouse, query: MetricQuery
) -> None:
    routed_equals_base(warehouse, query, None)


# --------------------------------------------------------------------------- secondary time


def test_secondary_time_dimension_takes_grains(warehouse: Warehouse) -> None:
    check(
        warehouse,
        q("events", "hired:year,period:quarter"),
        f"""
        SELECT CAST(date_trunc('year', a.hired_on) AS DATE) AS hired,
               CAST(date_trunc('quarter', c.cal_date) AS DATE) AS period, COUNT(*) AS events
        FROM {TICKETS} GROUP BY 1, 2""",
    )
    check(
        warehouse,
        q("shifts,staffed_hours", "shift_day:week"),
        """
        SELECT CAST(date_trunc('week', f.shift_start) AS DATE) AS shift_day, COUNT(*) AS shifts,
               SUM(f.hours) AS staffed_hours
        FROM f_staffing f GROUP BY 1""",
    )


@pytest.mark.parametrize(
    ("op", "value", "keep"),
    [
        ("=", "2025-12-24", lambda d: d == date(2025, 12, 24)),
        ("<=", "2025-10-10", lambda d: d <= date(2025, 10, 10)),
        (">", "2026-03-29", lambda d: d > date(2026, 3, 29)),
        (
            "between",
            ("2025-12-01", "2025-12-02"),
            lambda d: date(2025, 12, 1) <= d <= date(2025, 12, 2),
        ),
    ],
)
def test_secondary_time_filters_take_whole_days_on_a_timestamp(
    warehouse: Warehouse, op: str, value: object, keep
) -> None:
    shifts = warehouse.data.tables["f_staffing"]
    expected = sum(1 for row in shifts if keep(row[2].date()))
    assert any(row[2].hour >= 22 for row in shifts if keep(row[2].date()))  # late shifts count
    got = raw_rows(warehouse, q("shifts", "", Filter("shift_day", op, value)))
    assert got == [(expected,)]


def test_secondary_time_filters_do_not_narrow_the_primary_date_range() -> None:
    dialect = sa.create_engine("duckdb://").dialect
    model = support_model()
    compiled = compile_query(
        model, q("events", "", Filter("hired", ">=", "2022-01-01")), dialect=dialect
    )
    assert compiled.date_range == (None, None)
    compiled = compile_query(
        model,
        q(
            "shifts",
            "",
            Filter("shift_day", "between", ("2025-01-01", "2025-01-31")),
            Filter("period", ">=", "2025-12-01"),
        ),
        dialect=dialect,
    )
    assert compiled.date_range == (date(2025, 12, 1), None)
    assert model.time_dimension() is model.dimensions["period"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (q("shifts", "hired"), "dimension 'hired' is not reachable from f_staffing"),
        (
            q("events", "shift_day:month"),
            "dimension 'shift_day' is not reachable from f_ticket_event",
        ),
        (q("events", "effort:month"), "'effort' is not the time dimension and takes no grain"),
        (q("events", "", Filter("hired", "=", "soon")), "'soon' is not a date"),
    ],
)
def test_bad_queries_on_new_dimensions(query: MetricQuery, message: str) -> None:
    with pytest.raises(QueryError) as err:
        compile_query(support_model(), query, dialect=sa.create_engine("duckdb://").dialect)
    assert message in str(err.value)


# --------------------------------------------------------------------------- kinds, movers


def test_calendar_attribute_and_movers_false_dimensions_are_not_movers() -> None:
    model = support_model()
    dims = mover_dimensions(model, "events")
    for name in ("month_of_year", "day_of_week", "team_tier", "hired", "period"):
        assert name not in dims
    assert {"effort", "store_size", "channel", "team"} <= set(dims)
    assert "shift_day" not in mover_dimensions(model, "shifts")


def _top_movers(wh: Warehouse, model, window, base):
    jobs = tree_jobs(model, "events", window, base)
    results = {
        job.key: wh.frame(
            compile_query(model, job.query, dialect=wh.dialect, column_types=wh.kinds).statement
        )
        for job in jobs
        if job.key.startswith("mover:")
    }
    movers, _ = _movers(model, model.metrics["events"], results)
    return movers


def test_a_month_of_year_dimension_no_longer_takes_over_top_movers(warehouse: Warehouse) -> None:
    window = periods.window_containing("month", date(2025, 11, 1))
    base = periods.previous(window)
    # month of year searched as a segment: it "explains" the whole change, as in issue #17
    as_segment = replace(
        warehouse.model,
        dimensions={
            **warehouse.model.dimensions,
            "month_of_year": replace(warehouse.model.dimensions["month_of_year"], kind="segment"),
        },
    )
    movers = _top_movers(warehouse, as_segment, window, base)
    assert movers[0].dimension == "month_of_year" and movers[0].value in (
        "10",
        "11",
        "10.0",
        "11.0",
    )
    metric = warehouse.model.metrics["events"]
    root = NodeView(metric, value=100.0, base=200.0, history=())
    story = narrative(
        TreeView(
            metric, window, base, "previous", "month", date(2026, 3, 31), root, movers=tuple(movers)
        )
    )
    assert "The largest mover is month of year = " in story[-1]
    # kind: calendar (the model's own): left out, the largest mover is a real segment
    movers = _top_movers(warehouse, warehouse.model, window, base)
    assert movers and all(m.dimension not in ("month_of_year", "day_of_week") for m in movers)
    story = narrative(
        TreeView(
            metric, window, base, "previous", "month", date(2026, 3, 31), root, movers=tuple(movers)
        )
    )
    assert "month of year" not in story[-1]


def test_display_order_of_bars() -> None:
    model = support_model()
    frame = pd.DataFrame({"effort": ["long", None, "quick", "medium"], "events": [9, 1, 5, 7]})
    bands = list(display_sorted(frame, model.dimensions["effort"], "effort")["effort"])
    assert bands[:3] == ["quick", "medium", "long"] and pd.isna(bands[3])
    assert display_pairs((11, 3, 7), (1, 2, 3), model.dimensions["month_of_year"]) == (
        (3, 7, 11),
        (2, 3, 1),
    )
    # a segment without an order keeps the query's ranking (largest first)
    assert display_pairs(("b", "a"), (9, 1), model.dimensions["channel"]) == (("b", "a"), (9, 1))


# --------------------------------------------------------------------------- bad models


def _problems(tmp_path: Path, old: str, new: str) -> list:
    text = MODEL_PATH.read_text()
    assert old in text
    path = tmp_path / "support.yaml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ModelError) as err:
        load_model(path)
    return err.value.problems


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


WEEKDAY = "  weekday:       {column: d_calendar.weekday, label: ISO weekday}\n"

BAD_MODELS = [
    (
        "  bad: {table: f_ticket_event, sql: 'sum(minutes_spent)'}\n",
        "dimensions.bad.sql",
        "no aggregates",
    ),
    (
        "  bad: {table: f_ticket_event, sql: 'minutes_spent + (select 1)'}\n",
        "dimensions.bad.sql",
        "subqueries are not allowed",
    ),
    (
        "  bad: {table: f_ticket_event, sql: 'extract(epoch from cal_date)'}\n",
        "dimensions.bad.sql",
        "not a supported date part",
    ),
    (
        "  bad: {table: f_ticket_event, sql: 'e.minutes_spent'}\n",
        "dimensions.bad.sql",
        "write columns unqualified",
    ),
    ("  bad: {sql: 'minutes_spent * 2'}\n", "dimensions.bad", "missing required key 'table'"),
    (
        "  bad: {table: f_ticket_event, column: f_ticket_event.channel, sql: 'channel'}\n",
        "dimensions.bad.column",
        "is not also a column",
    ),
    (
        "  bad: {column: d_agent.team, kind: calender}\n",
        "dimensions.bad.kind",
        "did you mean 'calendar'",
    ),
    (
        "  bad: {column: d_agent.team, movers: maybe}\n",
        "dimensions.bad.movers",
        "expected true or false",
    ),
    (
        "  bad: {table: d_calendar, sql: 'extract(month from cal_date)', order: [Jan, Feb]}\n",
        "dimensions.bad.order",
        "list its values as numbers",
    ),
    (
        "  bad: {column: d_agent.team, order: [a, 1]}\n",
        "dimensions.bad.order",
        "mixes text and numbers",
    ),
    (
        "  bad: {time: true, column: d_agent.hired_on, order: [1]}\n",
        "dimensions.bad.order",
        "dates",
    ),
    ("  bad: {time: true, column: hired_on}\n", "dimensions.bad.column", "is not table.column"),
    (
        "  bad: {time: true, column: d_nowhere.day}\n",
        "dimensions.bad.column",
        "unknown table or role 'd_nowhere'",
    ),
    ("  bad: {time: true}\n", "dimensions.bad.time", "only one time dimension without a column"),
    (
        "  bad: {table: d_nowhere, sql: 'day * 2'}\n",
        "dimensions.bad.table",
        "unknown table or role 'd_nowhere'",
    ),
]


@pytest.mark.parametrize(
    ("line", "key", "message"), BAD_MODELS, ids=[k + m[:20] for _, k, m in BAD_MODELS]
)
def test_bad_dimensions_name_file_line_and_key(
    tmp_path: Path, line: str, key: str, message: str
) -> None:
    problems = _problems(tmp_path, WEEKDAY, WEEKDAY + line)
    found = [p for p in problems if p.key == key and message in p.message]
    assert found, [(p.key, p.message) for p in problems]
    text = (tmp_path / "support.yaml").read_text()
    assert found[0].line == _line_of(text, "  bad: ")
    assert found[0].file.endswith("support.yaml")


def test_a_secondary_time_dimension_is_not_stored_in_a_rollup(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path, "    dimensions: [effort, month_of_year]", "    dimensions: [effort, hired]"
    )
    assert any(
        p.key == "rollups.r_effort_monthly.dimensions.1" and "stores the primary time" in p.message
        for p in problems
    )


def test_order_on_a_plain_column_and_kinds_load() -> None:
    model = support_model()
    assert model.dimensions["team_tier"].order == ("Escalations", "Tier 2", "Tier 1")
    assert model.dimensions["effort"].kind == "segment" and model.dimensions["effort"].in_movers
    assert model.dimensions["hired"].kind == "calendar" and not model.dimensions["hired"].in_movers
    assert model.dimensions["hired"].temporal and not model.dimensions["hired"].is_time


def test_check_against_the_warehouse_finds_unknown_columns_and_non_temporal_time(
    tmp_path: Path, duckdb_warehouse: Warehouse
) -> None:
    text = MODEL_PATH.read_text().replace(
        WEEKDAY,
        WEEKDAY
        + "  bad_sql: {table: f_ticket_event, sql: 'minuts_spent * 2'}\n"
        + "  bad_time: {time: true, column: d_agent.team}\n",
        1,
    )
    path = tmp_path / "support.yaml"
    path.write_text(text)
    model = load_model(path)
    problems = check_model_against_warehouse(model, duckdb_warehouse.engine)
    by_key = {p.key: p for p in problems}
    assert "column 'minuts_spent' does not exist in table 'f_ticket_event'" in (
        by_key["dimensions.bad_sql.sql"].message
    )
    assert "did you mean 'minutes_spent'" in by_key["dimensions.bad_sql.sql"].message
    assert by_key["dimensions.bad_sql.sql"].line == _line_of(text, "  bad_sql: ")
    assert "is VARCHAR" in by_key["dimensions.bad_time.column"].message
    assert by_key["dimensions.bad_time.column"].line == _line_of(text, "  bad_time: ")
    assert set(by_key) == {"dimensions.bad_sql.sql", "dimensions.bad_time.column"}


def test_rollup_statements_store_the_computed_dimension_under_its_name() -> None:
    statements = dict(rollup_statements(support_model(), sa.create_engine("duckdb://").dialect))
    text = str(statements["r_effort_monthly"])
    assert "AS effort" in text and "AS month_of_year" in text and "AS period" in text


# --------------------------------------------------------------------------- scope, detail


def test_row_scope_on_a_computed_dimension(warehouse: Warehouse) -> None:
    check(
        warehouse,
        q("events,handle_minutes", "channel"),
        f"""
        SELECT e.channel AS channel, COUNT(*) AS events, SUM(e.minutes_spent) AS handle_minutes
        FROM {TICKETS} WHERE {EFFORT} IN ('quick', 'medium')
          AND CAST(EXTRACT(MONTH FROM c.cal_date) AS INTEGER) IN (11, 12)
        GROUP BY e.channel""",
        scope=(("effort", ("quick", "medium")), ("month_of_year", ("11", "12", "x"))),
    )
    routed_equals_base(
        warehouse,
        q("events", "period:month"),
        "r_effort_monthly",
        scope=(("effort", ("long",)),),
    )


def test_detail_rows_show_and_filter_computed_dimensions(warehouse: Warehouse) -> None:
    drill = dq.Drill(
        "handle_minutes", (Filter("effort", "=", "quick"), Filter("month_of_year", "=", "12"))
    )
    statement, columns = dq.detail_statement(
        warehouse.model, drill, dialect=warehouse.dialect, kinds=warehouse.kinds
    )
    got = warehouse.frame(statement)
    want = warehouse.frame(
        f"""
        SELECT e.ticket_id, e.event_seq FROM {TICKETS}
        WHERE {EFFORT} = 'quick' AND EXTRACT(MONTH FROM c.cal_date) = 12
        ORDER BY e.ticket_id, e.event_seq"""
    )
    assert len(want) > 0
    assert list(zip(got["ticket_id"], got["event_seq"], strict=True)) == list(
        zip(want["ticket_id"], want["event_seq"], strict=True)
    )
    assert set(got["effort"]) == {"quick"} and set(got["month_of_year"]) == {12.0}
    kinds = {c.key: c.kind for c in columns}
    assert kinds["effort"] == "text" and kinds["month_of_year"] == "integer"
    assert {"hired", "store_size"} <= set(kinds)


def _with_dimension(model, dim: Dimension):
    return replace(model, dimensions={**model.dimensions, dim.name: dim})


def test_percent_signs_and_quotes_in_a_dimension_sql_survive(warehouse: Warehouse) -> None:
    sql = "CASE WHEN channel LIKE '%a%' THEN 'has an ''a''' ELSE 'none' END"
    dim = Dimension("has_a", "Has a", "f_ticket_event", sql=sql, reads=("channel",))
    model = _with_dimension(warehouse.model, dim)
    compiled = compile_query(model, q("events", "has_a"), dialect=warehouse.dialect)
    got = warehouse.frame(compiled.statement)
    want = warehouse.frame(
        "SELECT CASE WHEN e.channel LIKE '%a%' THEN 'has an ''a''' ELSE 'none' END AS has_a, "
        "COUNT(*) AS events FROM f_ticket_event e GROUP BY 1 ORDER BY 1"
    )
    assert got.to_dict("records") == want.to_dict("records")
    assert set(got["has_a"]) == {"has an 'a'", "none"}


def test_a_computed_dimension_over_personal_data_is_personal_data() -> None:
    model = support_model()
    agent = replace(model.tables["d_agent"], pii=frozenset({"agent_name"}))
    model = replace(model, tables={**model.tables, "d_agent": agent})
    initials = Dimension(
        "initials", "Initials", "d_agent", sql="upper(agent_name)", reads=("agent_name",)
    )
    model = _with_dimension(model, initials)
    assert model.dimension_is_pii(initials) and model.dimension_is_pii(model.dimensions["agent"])
    assert not model.dimension_is_pii(model.dimensions["team"])
    movers = mover_dimensions(model, "events")
    assert "initials" not in movers and "agent" not in movers and "team" in movers


def test_a_secondary_time_column_hinted_as_text_is_refused_at_load(tmp_path: Path) -> None:
    agent = "  d_agent:\n    kind: dimension\n    primary_key: agent_no\n"
    text = MODEL_PATH.read_text()
    assert agent in text
    text = text.replace(agent, agent + "    columns:\n      team: {type: VARCHAR}\n", 1)
    text = text.replace(WEEKDAY, WEEKDAY + "  bad: {time: true, column: d_agent.team}\n", 1)
    path = tmp_path / "support.yaml"
    path.write_text(text)
    with pytest.raises(ModelError) as err:
        load_model(path)
    (problem,) = err.value.problems
    assert problem.key == "dimensions.bad.column" and problem.line == _line_of(text, "  bad: ")
    assert "a time dimension's column is a DATE or TIMESTAMP; 'd_agent.team' is VARCHAR" in (
        problem.message
    )
