"""Detail rows behind a figure: the model's joins, row scope, PII masking, paging, sorting."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.core.errors import AccessDenied, QueryError
from queries.explore import detail as dq
from queries.semantic.parse import parse_where
from queries.semantic.query import Filter
from tests.fixtures.t2 import as_user, direct

PAID_SEARCH = "channel_group = 'Paid Search'"


def _drill(app, metric: str, *wheres: str, sort=()) -> dq.Drill:
    return dq.Drill(metric, tuple(parse_where(w, _model(app)) for w in wheres), tuple(sort))


def _model(app):
    from queries.semantic.run import current_model

    return current_model(app.server.extensions["starboard"])


def test_rows_are_the_facts_behind_the_metric_with_attributes_joined(t2_app) -> None:
    drill = _drill(t2_app, "orders", PAID_SEARCH, "date between 2026-01-01 and 2026-03-31")
    with as_user(t2_app, "ada"):
        page = dq.fetch_page(drill, 0, 500)
    expected = direct(
        t2_app,
        """
        SELECT f.interaction_key, c.channel, u.country, p.category
        FROM fct_interaction f
        JOIN dim_channel c ON c.channel_key = f.channel_key
        LEFT JOIN dim_user u ON u.user_key = f.user_key
        LEFT JOIN dim_product p ON p.product_key = f.product_key
        WHERE f.interaction_type = 'purchase' AND c.channel_group = 'Paid Search'
          AND f.occurred_at >= DATE '2026-01-01' AND f.occurred_at < DATE '2026-04-01'
        ORDER BY f.interaction_key""",
    )
    assert expected, "the tiny demo has paid-search purchases in Q1 2026"
    assert [
        (r["interaction_key"], r["channel"], r["country"], r["category"]) for r in page.rows
    ] == expected
    assert page.last_row == len(expected)
    labels = {c.key: c.label for c in page.columns}
    assert labels["channel_group"] == "Channel group" and labels["region"] == "Region"


def test_paging_reads_only_the_requested_rows_in_a_stable_order(t2_app) -> None:
    drill = _drill(t2_app, "visitors", sort=(("revenue", True),))
    with as_user(t2_app, "ada"):
        first = dq.fetch_page(drill, 0, 50)
        second = dq.fetch_page(drill, 50, 50)
    assert len(first.rows) == len(second.rows) == 50
    assert first.last_row is None  # more rows follow
    keys = [r["interaction_key"] for r in first.rows + second.rows]
    expected = [
        k
        for (k,) in direct(
            t2_app,
            """
        SELECT interaction_key FROM fct_interaction WHERE interaction_type = 'visit'
        ORDER BY revenue DESC NULLS LAST, interaction_key LIMIT 100""",
        )
    ]
    assert keys == expected


def test_the_row_scope_comes_from_the_session(t2_app) -> None:
    drill = _drill(t2_app, "orders")
    with as_user(t2_app, "emea"):
        page = dq.fetch_page(drill, 0, 500)
        crafted = dq.fetch_page(_drill(t2_app, "orders", "region = AMER"), 0, 500)
    (count,) = direct(
        t2_app,
        """
        SELECT count(*) FROM fct_interaction f JOIN dim_user u ON u.user_key = f.user_key
        WHERE f.interaction_type = 'purchase' AND u.region = 'EMEA'""",
    )
    assert {r["region"] for r in page.rows} == {"EMEA"}
    assert page.last_row == min(count[0], 500) or len(page.rows) == 500
    assert crafted.rows == [] and crafted.last_row == 0  # cannot widen the scope


def test_pii_is_masked_in_sql_for_roles_without_the_permission(t2_app) -> None:
    drill = _drill(t2_app, "orders")
    with as_user(t2_app, "ana"):
        ana = dq.fetch_page(drill, 0, 20)
    with as_user(t2_app, "ada"):
        ada = dq.fetch_page(drill, 0, 20)
    pii = [c.key for c in ana.columns if c.pii]
    assert pii, "the demo model marks dim_user.email as PII"
    assert {r[k] for r in ana.rows for k in pii} == {dq.MASK}
    assert all("@" in r[k] for r in ada.rows for k in pii)


@pytest.mark.parametrize(
    ("sort", "message"),
    [
        ((("password", False),), "sort: unknown column 'password'"),
        ((("revenue; DROP TABLE x", True),), "sort: unknown column"),
    ],
)
def test_sorting_by_an_unknown_column_is_refused(t2_app, sort, message) -> None:
    with as_user(t2_app, "ada"), pytest.raises(QueryError, match=message):
        dq.fetch_page(_drill(t2_app, "orders", sort=sort), 0, 10)


def test_pii_cannot_be_sorted_or_filtered_without_the_permission(t2_app) -> None:
    pii_key = next(c.key for c in _columns(t2_app) if c.pii)
    with as_user(t2_app, "ana"):
        with pytest.raises(QueryError, match="personal data and cannot be sorted"):
            dq.fetch_page(_drill(t2_app, "orders", sort=((pii_key, False),)), 0, 10)
        with pytest.raises(AccessDenied, match="personal data"):
            dq.fetch_page(dq.Drill("orders", (Filter("email", "=", "a@b.c"),)), 0, 10)
    with as_user(t2_app, "ada"):
        dq.fetch_page(_drill(t2_app, "orders", sort=((pii_key, False),)), 0, 10)


def _columns(app):
    with as_user(app, "ada"):
        return dq.fetch_page(_drill(app, "orders"), 0, 1).columns


def test_values_are_bound_parameters_never_sql(t2_app) -> None:
    evil = "x'; DROP TABLE fct_interaction; --"
    drill = dq.Drill("orders", (Filter("country", "=", evil),))
    model = _model(t2_app)
    kinds = {"fct_interaction.interaction_key": "integer"}
    statement, _ = dq.detail_statement(
        model, drill, dialect=sa.create_engine("duckdb:///:memory:").dialect, kinds=kinds
    )
    compiled = statement.compile(dialect=sa.create_engine("duckdb:///:memory:").dialect)
    assert evil not in str(compiled) and evil in compiled.params.values()
    with as_user(t2_app, "ada"):
        assert dq.fetch_page(drill, 0, 10).rows == []
    assert direct(t2_app, "SELECT count(*) > 0 FROM fct_interaction") == [(True,)]


def test_requests_beyond_the_grid_limits_are_refused(t2_app) -> None:
    drill = _drill(t2_app, "orders")
    with as_user(t2_app, "ada"):
        with pytest.raises(QueryError, match="first 100,000 rows"):
            dq.fetch_page(drill, dq.BROWSE_MAX, 100)
        with pytest.raises(QueryError, match="expected a start"):
            dq.fetch_page(drill, -1, 100)
        assert len(dq.fetch_page(drill, 0, 10_000).rows) <= dq.PAGE_MAX
    with as_user(t2_app, "oscar"), pytest.raises(AccessDenied, match="operator"):
        dq.fetch_page(drill, 0, 10)
