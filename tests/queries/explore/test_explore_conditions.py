"""The explorer's "match any" filters and metric conditions (HAVING): URL state, plan, rows."""

from __future__ import annotations

import pytest

from app.core.errors import QueryError
from queries.explore import detail as dq
from queries.explore import state as xq
from queries.semantic.query import AnyOf, Filter, Having, Not
from tests.fixtures.t2 import as_user, direct


def _model(app):
    from queries.semantic.run import current_model

    return current_model(app.server.extensions["starboard"])


def test_match_any_and_having_round_trip_through_the_url() -> None:
    state = xq.ExploreState(
        metrics=("revenue",),
        by=("country",),
        where=("region = EMEA", "device = 'tablet' or not (channel in (Email, 'A, B'))"),
        match="any",
        having=("revenue > 1000", "orders between 2 and 50"),
    )
    search = xq.state_to_search(state)
    assert "match=any" in search and search.count("having=") == 2
    assert xq.state_from_search(search) == state
    plain = xq.ExploreState(metrics=("revenue",), where=("region = EMEA",))
    assert "match" not in xq.state_to_search(plain) and "having" not in xq.state_to_search(plain)
    assert xq.state_from_search(xq.state_to_search(plain)) == plain


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ("?metrics=revenue&match=some", "match: 'some': use all"),
        ("?metrics=revenue&match=all&match=ANY", "match: 'ANY'"),
        ("?metrics=revenue" + "&having=revenue>1" * 7, "having: at most 6"),
    ],
)
def test_malformed_match_and_having_arguments_are_named(search: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        xq.state_from_search(search)


def test_plan_ors_the_filters_and_keeps_metric_conditions(t2_app) -> None:
    model = _model(t2_app)
    state = xq.ExploreState(
        metrics=("revenue",),
        by=("country",),
        where=("region = EMEA", "not device = desktop"),
        match="any",
        having=("orders > 3",),
    )
    query = xq.plan(model, state).query
    assert query is not None
    assert query.filters == (
        AnyOf((Filter("region", "=", "EMEA"), Not(Filter("device", "=", "desktop")))),
    )
    assert query.having == (Having("orders", ">", "3"),)
    one = xq.plan(
        model, xq.ExploreState(metrics=("revenue",), where=("region = EMEA",), match="any")
    )
    assert one.query is not None and one.query.filters == (Filter("region", "=", "EMEA"),)


def test_a_metric_condition_the_dimensions_cannot_split_is_explained(t2_app) -> None:
    model = _model(t2_app)
    state = xq.ExploreState(metrics=("revenue",), by=("device",), having=("spend > 10",))
    plan = xq.plan(model, state)
    assert plan.query is not None and plan.query.having == ()
    assert plan.explanations[0].startswith("Metric condition “spend > 10” is not applied")


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (xq.ExploreState(metrics=("revenue",), having=("country > 3",)), "it is a dimension"),
        (xq.ExploreState(metrics=("revenue",), having=("revenue > lots",)), "not a number"),
        (xq.ExploreState(metrics=("revenue",), where=("region = EMEA or",)), "at character"),
    ],
)
def test_bad_conditions_are_refused(t2_app, state: xq.ExploreState, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        xq.plan(_model(t2_app), state)


def test_explore_with_any_and_having_matches_hand_written_sql(t2_app) -> None:
    state = xq.ExploreState(
        metrics=("orders",),
        by=("country",),
        where=("region = EMEA", "device = tablet"),
        match="any",
        having=("revenue > 100",),
    )
    with as_user(t2_app, "ada"):
        result = xq.explore(state)
    expected = direct(
        t2_app,
        """
        SELECT u.country, count(DISTINCT f.order_id) FROM fct_interaction f
        LEFT JOIN dim_user u ON u.user_key = f.user_key
        WHERE f.interaction_type = 'purchase' AND (u.region = 'EMEA' OR f.device = 'tablet')
        GROUP BY 1 HAVING sum(f.revenue) > 100 ORDER BY 1 NULLS LAST""",
    )
    assert expected
    assert [tuple(r) for r in result.frame.itertuples(index=False)] == expected


def test_detail_rows_behind_an_or_group(t2_app) -> None:
    model = _model(t2_app)
    text = "region = EMEA or device = tablet"
    drill = dq.drill_from_json({"metric": "orders", "where": [text, "country = DE"]}, model)
    assert dq.drill_to_json(drill)["where"] == [text, "country = DE"]
    with as_user(t2_app, "ada"):
        page = dq.fetch_page(drill, 0, 500)
    expected = direct(
        t2_app,
        """
        SELECT f.interaction_key FROM fct_interaction f
        LEFT JOIN dim_user u ON u.user_key = f.user_key
        WHERE f.interaction_type = 'purchase' AND (u.region = 'EMEA' OR f.device = 'tablet')
          AND u.country = 'DE'
        ORDER BY f.interaction_key""",
    )
    assert expected and [r["interaction_key"] for r in page.rows] == [k for (k,) in expected]
    with as_user(t2_app, "emea"):  # a scoped user's OR cannot widen the scope
        crafted = dq.fetch_page(
            dq.drill_from_json(
                {"metric": "orders", "where": ["region = AMER or region != AMER"]}, model
            ),
            0,
            500,
        )
    assert {r["region"] for r in crafted.rows} == {"EMEA"}
