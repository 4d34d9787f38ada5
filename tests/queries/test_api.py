"""POST /api/v1/query: the same interface and door as the CLI and the pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import add_users, make_app, sign_in


@pytest.fixture
def demo_app(tiny_demo: str, tmp_path: Path):
    app = make_app(tiny_demo, tmp_path)
    add_users(app)
    yield app
    app.server.extensions["starboard"].warehouse.dispose()


@pytest.fixture
def api(demo_app):
    with demo_app.server.test_client() as client:
        sign_in(client, "ana")
        yield client


def _sql(client, sql: str):
    engine = client.application.extensions["starboard"].warehouse.snapshot().engine
    with engine.connect() as conn:
        return conn.exec_driver_sql(sql).all()


def test_query_returns_columns_rows_and_provenance(api) -> None:
    response = api.post("/api/v1/query", json={
        "metrics": ["revenue", "orders"], "dimensions": ["device"],
        "filters": [{"dimension": "date", "op": "between",
                     "value": ["2026-01-01", "2026-03-31"]}],
        "order_by": ["-revenue"], "limit": 2})
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["columns"] == ["device", "revenue", "orders"]
    expected = _sql(api, "SELECT device, sum(revenue), count(DISTINCT order_id) "
                         "FROM fct_interaction WHERE interaction_type = 'purchase' "
                         "AND occurred_at >= '2026-01-01' AND occurred_at < '2026-04-01' "
                         "GROUP BY device ORDER BY 2 DESC LIMIT 2")
    assert [(d, pytest.approx(r), o) for d, r, o in body["rows"]] == expected
    assert body["cost_class"] in "ABC" and body["data_version"] and body["sql"].startswith(
        "SELECT")


def test_dates_and_nulls_are_json(api) -> None:
    body = api.post("/api/v1/query", json={
        "metrics": ["roas"], "dimensions": ["date:month"],
        "filters": [{"dimension": "date", "op": "between",
                     "value": ["2026-01-01", "2026-02-28"]}]}).get_json()
    assert [row[0] for row in body["rows"]] == ["2026-01-01", "2026-02-01"]
    assert all(isinstance(row[1], float) for row in body["rows"])


@pytest.mark.parametrize(("payload", "message"), [
    ({"metrics": ["revnue"]}, "unknown metric 'revnue'"),
    ({"metrics": ["revenue"], "dimensions": ["colour"]}, "colour"),
    ({"metrics": ["revenue"], "filters": [{"dimension": "country", "op": "like",
                                           "value": "D%"}]}, "like"),
    ({"metrics": ["revenue"], "limit": "ten"}, "limit"),
    ({"metrics": ["revenue"], "sql": "select 1"}, "sql"),
    ({"metrics": "revenue; drop table dim_user"}, "metrics"),
])
def test_bad_payloads_are_refused_with_a_clear_400(api, payload: dict, message: str) -> None:
    response = api.post("/api/v1/query", json=payload)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["type"] == "QueryError" and message in error["message"]
    assert _sql(api, "SELECT count(*) FROM dim_user")[0][0] > 0


def test_body_that_is_not_json_is_refused(api) -> None:
    response = api.post("/api/v1/query", data="metrics=revenue")
    assert response.status_code == 400
    assert "JSON object" in response.get_json()["error"]["message"]


def test_warehouse_down_is_503_not_a_stack_trace(tmp_path: Path) -> None:
    app = make_app(f"duckdb:///{tmp_path / 'gone.duckdb'}", tmp_path)
    add_users(app)
    with app.server.test_client() as client:
        sign_in(client, "ana")
        response = client.post("/api/v1/query", json={"metrics": ["revenue"]})
    assert response.status_code == 503
    assert "No warehouse" in response.get_json()["error"]["message"]


def test_scoped_user_cannot_escape_with_a_crafted_filter(demo_app) -> None:
    with demo_app.server.test_client() as client:
        sign_in(client, "emea")
        crafted = client.post("/api/v1/query", json={
            "metrics": ["revenue"], "dimensions": ["region"],
            "filters": [{"dimension": "region", "op": "=", "value": "AMER"}]}).get_json()
        assert crafted["rows"] == []
        everything = client.post("/api/v1/query", json={
            "metrics": ["revenue"], "dimensions": ["region"]}).get_json()
        assert [row[0] for row in everything["rows"]] == ["EMEA"]
        spend = client.post("/api/v1/query", json={"metrics": ["spend"]}).get_json()
        assert spend["rows"] == [[None]] and "fct_marketing_spend" in spend["notices"][0]
    with demo_app.server.test_client() as admin:
        sign_in(admin, "ada")
        body = admin.post("/api/v1/query", json={
            "metrics": ["revenue"], "dimensions": ["region"]}).get_json()
        assert not body["cache_hit"]  # never the scoped user's cached rows
        assert [row[0] for row in body["rows"]] == ["AMER", "APAC", "EMEA"]


def test_pii_dimensions_are_refused_without_the_permission(demo_app) -> None:
    from dataclasses import replace

    from app.auth import AccessDenied
    from queries.model import Dimension
    from queries.query import MetricQuery
    from queries.run import check_pii, current_model

    runtime = demo_app.server.extensions["starboard"]
    with demo_app.server.test_request_context():
        model = current_model(runtime)
    model = replace(model, dimensions={**model.dimensions, "email": Dimension(
        "email", "E-mail", "dim_user", "email")})
    query = MetricQuery(("revenue",), ("email",))
    with demo_app.server.test_client() as client:
        sign_in(client, "ana")
        with client.application.test_request_context():
            from flask_login import login_user

            login_user(runtime.users.by_name("ana"))
            with pytest.raises(AccessDenied, match="E-mail is personal data"):
                check_pii(model, query)
            login_user(runtime.users.by_name("ada"))
            check_pii(model, query)  # admins hold the pii permission
