"""POST /api/v1/query: the same interface and door as the CLI and the pages."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

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
    response = api.post(
        "/api/v1/query",
        json={
            "metrics": ["revenue", "orders"],
            "dimensions": ["device"],
            "filters": [
                {"dimension": "date", "op": "between", "value": ["2026-01-01", "2026-03-31"]}
            ],
            "order_by": ["-revenue"],
            "limit": 2,
        },
    )
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["columns"] == ["device", "revenue", "orders"]
    expected = _sql(
        api,
        "SELECT device, sum(revenue), count(DISTINCT order_id) "
        "FROM fct_interaction WHERE interaction_type = 'purchase' "
        "AND occurred_at >= '2026-01-01' AND occurred_at < '2026-04-01' "
        "GROUP BY device ORDER BY 2 DESC LIMIT 2",
    )
    assert [(d, pytest.approx(r), o) for d, r, o in body["rows"]] == expected
    assert body["cost_class"] in "ABC" and body["data_version"] and body["sql"].startswith("SELECT")


def test_dates_and_nulls_are_json(api) -> None:
    body = api.post(
        "/api/v1/query",
        json={
            "metrics": ["roas"],
            "dimensions": ["date:month"],
            "filters": [
                {"dimension": "date", "op": "between", "value": ["2026-01-01", "2026-02-28"]}
            ],
        },
    ).get_json()
    assert [row[0] for row in body["rows"]] == ["2026-01-01", "2026-02-01"]
    assert all(isinstance(row[1], float) for row in body["rows"])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"metrics": ["revnue"]}, "unknown metric 'revnue'"),
        ({"metrics": ["revenue"], "dimensions": ["colour"]}, "colour"),
        (
            {
                "metrics": ["revenue"],
                "filters": [{"dimension": "country", "op": "like", "value": "D%"}],
            },
            "like",
        ),
        ({"metrics": ["revenue"], "limit": "ten"}, "limit"),
        ({"metrics": ["revenue"], "sql": "select 1"}, "sql"),
        ({"metrics": "revenue; drop table dim_user"}, "metrics"),
    ],
)
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
        crafted = client.post(
            "/api/v1/query",
            json={
                "metrics": ["revenue"],
                "dimensions": ["region"],
                "filters": [{"dimension": "region", "op": "=", "value": "AMER"}],
            },
        ).get_json()
        assert crafted["rows"] == []
        everything = client.post(
            "/api/v1/query", json={"metrics": ["revenue"], "dimensions": ["region"]}
        ).get_json()
        assert [row[0] for row in everything["rows"]] == ["EMEA"]
        spend = client.post("/api/v1/query", json={"metrics": ["spend"]}).get_json()
        assert spend["rows"] == [[None]] and "fct_marketing_spend" in spend["notices"][0]
    with demo_app.server.test_client() as admin:
        sign_in(admin, "ada")
        body = admin.post(
            "/api/v1/query", json={"metrics": ["revenue"], "dimensions": ["region"]}
        ).get_json()
        assert not body["cache_hit"]  # never the scoped user's cached rows
        assert [row[0] for row in body["rows"]] == ["AMER", "APAC", "EMEA"]


def test_pii_dimensions_are_refused_without_the_permission(demo_app) -> None:
    from dataclasses import replace

    from app.core.auth import AccessDenied
    from queries.semantic.query import MetricQuery
    from queries.semantic.run import check_pii, current_model
    from queries.semantic.types import Dimension

    runtime = demo_app.server.extensions["starboard"]
    with demo_app.server.test_request_context():
        model = current_model(runtime)
    model = replace(
        model,
        dimensions={**model.dimensions, "email": Dimension("email", "E-mail", "dim_user", "email")},
    )
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


# --------------------------------------------------------------------------- caps (#14, item 5)

USER_BY_DAY = {"metrics": ["revenue"], "dimensions": ["user", "date:day"]}


def _capped_app(tiny_demo: str, home: Path, **overrides):
    app = make_app(tiny_demo, home, **overrides)
    add_users(app)
    client = app.server.test_client()
    sign_in(client, "ana")
    return app, client


def test_an_answer_is_cut_at_the_row_cap_and_says_so(tiny_demo: str, tmp_path: Path) -> None:
    app, client = _capped_app(tiny_demo, tmp_path, api_max_rows=5)
    body = client.post("/api/v1/query", json=USER_BY_DAY).get_json()
    assert len(body["rows"]) == 5
    assert (body["truncated"], body["truncated_by"], body["row_cap"]) == (True, "rows", 5)
    assert "LIMIT" in body["sql"].upper()  # the warehouse sends at most cap + 1
    assert any("capped at 5 rows" in n for n in body["notices"])
    own_limit = client.post("/api/v1/query", json={**USER_BY_DAY, "limit": 3}).get_json()
    assert len(own_limit["rows"]) == 3 and own_limit["truncated"] is False
    exactly = client.post("/api/v1/query", json={**USER_BY_DAY, "limit": 5}).get_json()
    assert len(exactly["rows"]) == 5 and exactly["truncated"] is False
    app.server.extensions["starboard"].warehouse.dispose()


def test_an_answer_is_cut_at_the_byte_cap_and_says_so(tiny_demo: str, tmp_path: Path) -> None:
    app, client = _capped_app(tiny_demo, tmp_path, api_max_bytes=300)
    response = client.post("/api/v1/query", json=USER_BY_DAY)
    body = response.get_json()
    assert body["truncated"] is True and body["truncated_by"] == "bytes"
    assert body["byte_cap"] == 300 and 0 < len(body["rows"]) < 20
    assert len(json.dumps(body["rows"])) <= 300
    small = client.post("/api/v1/query", json={"metrics": ["revenue"]}).get_json()
    assert small["truncated"] is False and small["truncated_by"] is None
    app.server.extensions["starboard"].warehouse.dispose()


def test_the_default_caps_are_stated_in_every_answer(api) -> None:
    body = api.post("/api/v1/query", json={"metrics": ["revenue"]}).get_json()
    assert (body["row_cap"], body["byte_cap"], body["truncated"]) == (100_000, 25_000_000, False)


SLOW = sa.text("SELECT count(*) FROM range(200000) a, range(200000) b WHERE a.range + b.range < 0")


def _slow_statement(monkeypatch) -> None:
    """Every compiled query runs a cross join of 4·10¹⁰ rows instead (one column, like a
    query for one metric)."""
    import queries.semantic.run

    real = queries.semantic.run.compile_query

    def compile_slow(*args, **kwargs):
        return dataclasses.replace(real(*args, **kwargs), statement=SLOW)

    monkeypatch.setattr(queries.semantic.run, "compile_query", compile_slow)


def test_a_query_past_the_time_limit_is_stopped_with_a_clear_400(
    tiny_demo: str, tmp_path: Path, monkeypatch
) -> None:
    app, client = _capped_app(tiny_demo, tmp_path, api_timeout_seconds=0.3)
    _slow_statement(monkeypatch)
    started = time.monotonic()
    response = client.post("/api/v1/query", json={"metrics": ["revenue"]})
    elapsed = time.monotonic() - started
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    error = response.get_json()["error"]
    assert error["type"] == "QueryStopped"
    assert error["message"].startswith(
        "Stopped: the query ran longer than the API's time "
        "limit of 0.3 s (STARBOARD_API_TIMEOUT_SECONDS)."
    )
    assert elapsed < 10
    monkeypatch.undo()
    # another query (plans are cached per query): the pool still serves
    after = client.post("/api/v1/query", json={"metrics": ["orders"]})
    assert after.status_code == 200, after.get_json()
    assert after.get_json()["rows"][0][0] > 0
    app.server.extensions["starboard"].warehouse.dispose()


def test_fetch_all_stops_a_slow_duckdb_statement_and_drops_the_connection(demo_app) -> None:
    from queries.semantic.run import QueryStopped, fetch_all

    snap = demo_app.server.extensions["starboard"].warehouse.snapshot()
    with pytest.raises(QueryStopped, match="time limit of 0.2 s"):
        fetch_all(snap, SLOW, 0.2)
    for _ in range(3):  # no stray interrupt reaches a later statement on a pooled connection
        assert fetch_all(snap, sa.text("SELECT 42"), 0.2)[0][0] == 42
    assert fetch_all(snap, sa.text("SELECT 7"))[0][0] == 7


def test_fetch_all_stops_a_slow_postgresql_statement(pg_server: str) -> None:
    from queries.semantic.run import QueryStopped, fetch_all

    engine = sa.create_engine(pg_server)
    snap = SimpleNamespace(engine=engine)
    with pytest.raises(QueryStopped, match="time limit of 0.2 s"):
        fetch_all(snap, sa.text("SELECT pg_sleep(5)"), 0.2)
    with engine.connect() as conn:  # the timeout was local to that transaction
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "0"
    assert fetch_all(snap, sa.text("SELECT 1"), 0.2)[0][0] == 1
    engine.dispose()


def test_api_settings_must_be_positive(tmp_path: Path) -> None:
    from app.core.config import load_settings
    from app.core.errors import ConfigError

    for name in (
        "STARBOARD_API_MAX_ROWS",
        "STARBOARD_API_MAX_BYTES",
        "STARBOARD_API_TIMEOUT_SECONDS",
    ):
        with pytest.raises(ConfigError, match=f"{name} must be a positive number"):
            load_settings({"home": str(tmp_path)}, environ={name: "0"})
    settings = load_settings({"home": str(tmp_path)}, environ={})
    assert (settings.api_max_rows, settings.api_max_bytes, settings.api_timeout_seconds) == (
        100_000,
        25_000_000,
        30,
    )


# --------------------------------------------------------------------------- or / not / having


def test_or_not_groups_and_having_match_hand_written_sql(api) -> None:
    response = api.post(
        "/api/v1/query",
        json={
            "metrics": ["orders"],
            "dimensions": ["country"],
            "filters": [
                {
                    "or": [
                        {"dimension": "region", "op": "=", "value": "EMEA"},
                        {"not": {"dimension": "device", "op": "in", "value": ["desktop"]}},
                    ]
                },
                "date >= 2026-01-01",
            ],
            "having": [{"metric": "revenue", "op": ">", "value": 50}],
        },
    )
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["columns"] == ["country", "orders"]
    expected = _sql(
        api,
        "SELECT u.country, count(DISTINCT f.order_id) FROM fct_interaction f "
        "LEFT JOIN dim_user u USING (user_key) WHERE f.interaction_type = 'purchase' "
        "AND (u.region = 'EMEA' OR NOT (f.device IN ('desktop'))) "
        "AND f.occurred_at >= '2026-01-01' GROUP BY 1 HAVING sum(f.revenue) > 50 ORDER BY 1",
    )
    assert expected and [tuple(r) for r in body["rows"]] == expected


def test_a_scoped_users_or_group_cannot_widen_the_scope(demo_app) -> None:
    with demo_app.server.test_client() as client:
        sign_in(client, "emea")
        body = client.post(
            "/api/v1/query",
            json={
                "metrics": ["revenue"],
                "dimensions": ["region"],
                "filters": ["region = AMER or region != AMER", {"or": ["region = APAC"]}],
            },
        ).get_json()
        assert body["rows"] == []
        body = client.post(
            "/api/v1/query",
            json={
                "metrics": ["revenue"],
                "dimensions": ["region"],
                "filters": [{"not": {"dimension": "region", "op": "=", "value": "nowhere"}}],
            },
        ).get_json()
        assert [row[0] for row in body["rows"]] == ["EMEA"]


def _deep(depth: int) -> dict:
    node: dict = {"dimension": "region", "op": "=", "value": "EMEA"}
    for _ in range(depth):
        node = {"not": node}
    return node


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"filters": [{"or": "region = EMEA"}]}, "filters[0].or: expected an array"),
        ({"filters": [{"and": []}]}, "filters[0].and: a group needs at least one filter"),
        ({"filters": [{"not": {"or": [{"xor": 1}]}}]}, "filters[0].not.or[0].xor: unknown key"),
        ({"filters": [{"or": ["region = EMEA"], "not": {}}]}, "exactly one key"),
        ({"filters": [_deep(50)]}, "groups nest more than"),
        ({"filters": ["region = EMEA or (device = x"]}, "expected ')' to close"),
        ({"having": [{"metric": "revnue", "op": ">", "value": 1}]}, "unknown metric 'revnue'"),
        ({"having": [{"metric": "region", "op": ">", "value": 1}]}, "it is a dimension"),
        ({"having": [{"metric": "revenue", "op": ">", "value": "1; drop"}]}, "not a number"),
        ({"having": "revenue > 1"}, "having: expected an array"),
    ],
)
def test_malformed_groups_and_having_are_a_400_naming_the_fault(
    api, extra: dict, message: str
) -> None:
    response = api.post("/api/v1/query", json={"metrics": ["revenue"], **extra})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["type"] == "QueryError" and message in error["message"], error
