"""Rollups of values that do not add up (distinct counts, medians) are read only where each
group of the query is one row of the rollup; whole-day filters on period boundaries fit a
coarser rollup. Routed answers equal the facts' on DuckDB and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from pandas.testing import assert_frame_equal

from app.core.errors import QueryError
from queries.semantic.compile import rollup_statements, sql_text
from queries.semantic.query import AnyOf, Filter, MetricQuery
from tests.queries.conftest import Warehouse, sort_rows
from tests.queries.second_schema import support_model
from tests.queries.semantic.test_compile import compile_for, q

JANUARY = Filter("period", "between", ("2026-01-01", "2026-01-31"))
WINTER = Filter("period", "between", ("2025-11-01", "2026-02-28"))
CHAT = Filter("channel", "=", "chat")
CHAT_OR_EMAIL = Filter("channel", "in", ("chat", "email"))

CASES = {
    # each query group is one rollup row: read the rollup
    "distinct by month and channel": (q("tickets_opened", "period:month,channel"), True, ()),
    "median by month and channel": (q("median_minutes", "period:month,channel"), True, ()),
    "channel pinned by a filter": (q("tickets_opened", "period:month", CHAT), True, ()),
    "channel pinned by the row scope": (
        q("tickets_opened", "period:month"),
        True,
        (("channel", ("chat",)),),
    ),
    "one whole month, no time grouping": (q("tickets_opened", "channel", JANUARY), True, ()),
    "whole months, grouped by month": (
        q("tickets_opened", "period:month,channel", WINTER),
        True,
        (),
    ),
    "several values of a grouped dimension": (
        q("tickets_opened", "period:month,channel", CHAT_OR_EMAIL),
        True,
        (),
    ),
    # a query group would sum several rollup rows: read the fact
    "channel neither grouped nor pinned": (q("tickets_opened", "period:month"), False, ()),
    "a coarser grain": (q("tickets_opened", "period:quarter,channel"), False, ()),
    "two months summed": (
        q("tickets_opened", "channel", Filter("period", "between", ("2026-01-01", "2026-02-28"))),
        False,
        (),
    ),
    "a month cut short": (
        q("tickets_opened", "channel", Filter("period", "between", ("2026-01-05", "2026-01-31"))),
        False,
        (),
    ),
    "several values of a dimension not grouped": (
        q("tickets_opened", "period:month", CHAT_OR_EMAIL),
        False,
        (),
    ),
    "a scope of several values": (
        q("tickets_opened", "period:month"),
        False,
        (("channel", ("chat", "email")),),
    ),
    "an or group": (
        q("tickets_opened", "period:month,channel", AnyOf((CHAT, Filter("channel", "=", "phone")))),
        False,
        (),
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_values_that_do_not_add_up_read_a_rollup_only_where_groups_are_its_rows(
    warehouse: Warehouse, case: str
) -> None:
    query, routed_to_rollup, scope = CASES[case]
    base = compile_for(warehouse, query, scope=scope)
    routed = compile_for(warehouse, query, use_rollups=True, scope=scope)
    assert routed.rollup == ("r_monthly_distinct" if routed_to_rollup else None)
    got, want = warehouse.frame(routed.statement), warehouse.frame(base.statement)
    assert len(want) > 0
    assert_frame_equal(
        sort_rows(got), sort_rows(want), check_dtype=False, check_exact=False, rtol=1e-9
    )


@pytest.mark.parametrize(
    ("bounds", "rollup"),
    [
        (("2025-11-01", "2026-01-31"), "r_monthly_distinct"),  # whole months
        (("2025-11-03", "2026-01-31"), "r_daily_support"),  # starts inside a month
    ],
)
def test_a_whole_day_filter_on_period_boundaries_fits_a_coarser_rollup(
    warehouse: Warehouse, bounds: tuple[str, str], rollup: str
) -> None:
    query = q("events", "channel", Filter("period", "between", bounds))
    routed = compile_for(warehouse, query, use_rollups=True)
    assert routed.rollup == rollup
    assert f"FROM {rollup}" in sql_text(routed, warehouse.dialect)
    base = compile_for(warehouse, query)
    assert_frame_equal(
        sort_rows(warehouse.frame(routed.statement)),
        sort_rows(warehouse.frame(base.statement)),
        check_dtype=False,
    )


def test_a_rollup_holds_distinct_counts_and_medians_but_not_balances() -> None:
    model = support_model()
    assert model.rollups["r_monthly_distinct"].metrics == (
        "tickets_opened",
        "median_minutes",
        "events",
    )
    bad = type(model.rollups["r_daily_support"])(
        "r_backlog", "f_backlog", "day", ("store",), ("backlog",)
    )
    broken = type(model)(**{**model.__dict__, "rollups": {"r_backlog": bad}})
    with pytest.raises(QueryError, match="semi-additive"):
        rollup_statements(broken, sa.create_engine("duckdb:///:memory:").dialect)


def test_a_bans_months_of_distinct_counts_read_the_rollup(warehouse: Warehouse) -> None:
    # Tier 0 asks a BAN's history as whole months: each month is one rollup row
    query = MetricQuery(("tickets_opened",), ("period:month",), (WINTER, CHAT))
    routed = compile_for(warehouse, query, use_rollups=True)
    assert routed.rollup == "r_monthly_distinct"
    want = warehouse.frame(
        """SELECT CAST(date_trunc('month', c.cal_date) AS DATE) AS period,
                  COUNT(DISTINCT CASE WHEN e.event_kind = 'opened' THEN e.ticket_id END)
                    AS tickets_opened
           FROM f_ticket_event e LEFT JOIN d_calendar c ON e.event_cal_key = c.cal_key
           WHERE e.channel = 'chat'
             AND c.cal_date BETWEEN DATE '2025-11-01' AND DATE '2026-02-28'
             AND e.event_kind = 'opened'
           GROUP BY 1"""
    )
    assert len(want) == 4
    assert_frame_equal(
        sort_rows(warehouse.frame(routed.statement)), sort_rows(want), check_dtype=False
    )
