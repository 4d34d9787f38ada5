"""The explorer's URL state, incompatible choices and the pivot's totals."""

from __future__ import annotations

import pytest

from app.core.errors import QueryError
from queries.explore import state as xq
from tests.fixtures.t2 import as_user, direct


def test_url_state_round_trips_with_awkward_filter_values() -> None:
    state = xq.ExploreState(
        metrics=("revenue", "orders"),
        by=("channel_group", "date:month"),
        where=(
            "country in (DE, 'A, B')",
            "campaign = 'Spring (and summer)'",
            "date between 2026-01-01 and 2026-03-31",
            "quantity >= 2",
        ),
        chart="stacked",
        order=("-revenue",),
        limit=50,
    )
    search = xq.state_to_search(state)
    assert search.startswith("?metrics=revenue%2Corders&by=channel_group%2Cdate%3Amonth")
    assert xq.state_from_search(search) == state
    assert xq.state_from_search("") == xq.ExploreState()
    assert xq.state_to_search(xq.ExploreState(metrics=("revenue",))) == "?metrics=revenue"


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ("?metrics=revenue&chart=pie", "chart: 'pie' is not a chart type"),
        ("?metrics=revenue&limit=0", "limit: expected a whole number"),
        ("?metrics=revenue&limit=ten", "limit: expected a whole number"),
        ("?metrics=" + ",".join(f"m{i}" for i in range(9)), "metrics: at most 8"),
    ],
)
def test_malformed_url_arguments_are_named(search: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        xq.state_from_search(search)


def test_incompatible_choices_are_explained_and_left_out(t2_app) -> None:
    from queries.semantic.run import current_model

    with as_user(t2_app, "ana"):
        model = current_model()
    state = xq.ExploreState(
        metrics=("spend", "revenue"),
        by=("device", "channel_group"),
        where=("interaction_type = purchase", "channel = Email"),
    )
    plan = xq.plan(model, state)
    assert plan.query is not None
    assert plan.query.dimensions == ("channel_group",)  # device is dropped…
    assert [f.dimension for f in plan.query.filters] == ["channel"]
    assert plan.explanations == (  # …and the page says why
        "Device cannot split Marketing spend: fct_marketing_spend, the table behind "
        "Marketing spend, has no join path to fct_interaction. It is left out of the query.",
        "Filter “interaction_type = purchase” is not applied: Interaction type cannot split "
        "Marketing spend: fct_marketing_spend, the table behind Marketing spend, has no "
        "join path to fct_interaction.",
    )
    assert xq.unreachable(model, ("revenue",), "device") is None


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (xq.ExploreState(metrics=("nope",)), "metrics: unknown metric 'nope'"),
        (xq.ExploreState(metrics=("revenue",), by=("nope",)), "by: unknown dimension 'nope'"),
        (xq.ExploreState(metrics=("revenue",), by=("country:month",)), "only the time dimension"),
        (xq.ExploreState(metrics=("revenue",), where=("revenue > 10",)), "is a metric"),
        (xq.ExploreState(metrics=("revenue",), where=("country ~ DE",)), "write 'dimension op"),
    ],
)
def test_unknown_names_and_bad_filters_are_errors(t2_app, state, message) -> None:
    from queries.semantic.run import current_model

    with as_user(t2_app, "ana"):
        model = current_model()
    with pytest.raises(QueryError, match=message):
        xq.plan(model, state)


def test_pivot_totals_are_queried_not_summed(t2_app) -> None:
    state = xq.ExploreState(metrics=("aov",), by=("channel_group", "device"), chart="pivot")
    with as_user(t2_app, "ada"):
        result = xq.explore(state)
    pivot = result.pivot
    assert pivot is not None
    expected = dict(
        direct(
            t2_app,
            """
        SELECT d.device, sum(f.revenue) / count(DISTINCT f.order_id)
        FROM fct_interaction f WHERE f.interaction_type = 'purchase' GROUP BY 1""".replace(
                "d.device", "f.device"
            ),
        )
    )
    for device, value in expected.items():
        assert pivot.loc[xq.TOTAL, device] == pytest.approx(value)
    (grand,) = direct(
        t2_app,
        "SELECT sum(revenue) / count(DISTINCT order_id) FROM "
        "fct_interaction WHERE interaction_type = 'purchase'",
    )
    assert pivot.loc[xq.TOTAL, xq.TOTAL] == pytest.approx(grand[0])
    cell = direct(
        t2_app,
        """
        SELECT sum(f.revenue) / count(DISTINCT f.order_id) FROM fct_interaction f
        JOIN dim_channel c ON c.channel_key = f.channel_key
        WHERE f.interaction_type = 'purchase' AND c.channel_group = 'Direct'
          AND f.device = 'mobile'""",
    )[0][0]
    assert pivot.loc["Direct", "mobile"] == pytest.approx(cell)
    # an average of averages would differ: the total is not the mean of the column
    assert pivot.loc[xq.TOTAL, "mobile"] != pytest.approx(
        pivot.drop(index=xq.TOTAL)["mobile"].mean()
    )


def test_point_filters_select_the_period_behind_a_point(t2_app) -> None:
    from queries.semantic.query import MetricQuery
    from queries.semantic.run import current_model

    with as_user(t2_app, "ana"):
        model = current_model()
    query = MetricQuery(("revenue",), ("date:month", "channel", "is_paid"))
    texts, notes = xq.point_filters(model, query, ["2026-02-01", "O'Brien (x)", None])
    assert texts == ["date between 2026-02-01 and 2026-02-28", "channel = 'O''Brien (x)'"]
    assert notes == ["Paid channel is empty for this point: rows are not filtered by it."]
    assert [xq.parse_where(t, model).value for t in texts] == [
        ("2026-02-01", "2026-02-28"),
        "O'Brien (x)",
    ]
    with pytest.raises(QueryError, match="does not match"):
        xq.point_filters(model, query, ["2026-02-01"])
