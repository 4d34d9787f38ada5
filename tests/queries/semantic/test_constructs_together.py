"""The #17 constructs combined, against hand-written SQL on DuckDB and PostgreSQL: a window
over a metric that reads a joined table, a window by a computed dimension, HAVING on a
time-aware metric, and the or/not groups time-aware metrics refuse."""

from __future__ import annotations

import pytest

from app.core.errors import QueryError
from queries.semantic.query import AnyOf, Filter, Having
from queries.semantic.types import TimeOp
from tests.queries.conftest import Warehouse
from tests.queries.semantic.test_compile import check, compile_for, q
from tests.queries.semantic.test_timewise import _ticket_days, windowed_sql, windows

EFFORT = (
    "CASE WHEN e.minutes_spent < 10 THEN 'quick' WHEN e.minutes_spent < 30 THEN 'medium' "
    "WHEN e.minutes_spent >= 30 THEN 'long' END"
)


def _week(wh: Warehouse, grain: str = "month") -> list:
    return windows(_ticket_days(wh), grain, None, None, TimeOp("window", "x", days=7))


def test_a_window_over_a_joined_column(warehouse: Warehouse) -> None:
    check(
        warehouse,
        q("floors_7d", "period:month,channel"),
        windowed_sql(_week(warehouse), "SUM(s.floors)", "floors_7d", [("e.channel", "channel")]),
    )


def test_a_window_by_a_computed_dimension(warehouse: Warehouse) -> None:
    check(
        warehouse,
        q("events_7d", "period:month,effort"),
        windowed_sql(_week(warehouse), "COUNT(*)", "events_7d", [(EFFORT, "effort")]),
    )


def test_having_on_a_time_aware_metric(warehouse: Warehouse) -> None:
    inner = windowed_sql(_week(warehouse), "COUNT(*)", "events_7d", [("e.channel", "channel")])
    got = check(
        warehouse,
        q("events_7d", "period:month,channel", having=(Having("events_7d", ">", 20),)),
        f"SELECT * FROM ({inner}) AS t WHERE events_7d > 20",
    )
    assert len(got) > 0
    everything = warehouse.frame(
        compile_for(warehouse, q("events_7d", "period:month,channel")).statement
    )
    assert len(got) < len(everything)  # the condition keeps some groups, not all


def test_having_on_a_time_aware_metric_not_selected(warehouse: Warehouse) -> None:
    inner = windowed_sql(_week(warehouse), "COUNT(*)", "events_7d", [("e.channel", "channel")])
    check(
        warehouse,
        q("events", "period:month,channel", having=(Having("events_7d", ">", 20),)),
        f"""
        SELECT w.period, w.channel, c.events FROM ({inner}) AS w
        JOIN (SELECT CAST(date_trunc('month', cal.cal_date) AS DATE) AS period, e.channel,
                     COUNT(*) AS events
              FROM f_ticket_event e LEFT JOIN d_calendar cal ON e.event_cal_key = cal.cal_key
              GROUP BY 1, 2) AS c
          ON c.period = w.period AND c.channel = w.channel
        WHERE w.events_7d > 20""",
    )


@pytest.mark.parametrize("metric", ["events_7d", "backlog"])
def test_time_aware_metrics_refuse_or_groups(warehouse: Warehouse, metric: str) -> None:
    either = AnyOf((Filter("country", "=", "Germany"), Filter("period", ">=", "2026-01-01")))
    with pytest.raises(QueryError) as err:
        compile_for(warehouse, q(metric, "period:month", either))
    assert err.value.message.startswith("Invalid query: time-aware metrics")
    assert "an or/not group is not supported with them" in err.value.message
