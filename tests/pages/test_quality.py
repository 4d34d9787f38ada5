"""/quality and / as a user sees them, rendered through Dash's router."""

from __future__ import annotations

from tests.conftest import find, render, texts


def test_quality_lists_tables_with_their_row_counts(app, client) -> None:
    shown = texts(find(render(client, "/quality"), "quality-tables"))
    engine = app.server.extensions["starboard"].warehouse.snapshot().engine
    with engine.connect() as conn:
        for name in ("dim_date", "dim_user", "fct_interaction", "fct_marketing_spend"):
            count = conn.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar()
            assert shown[shown.index(name) + 1] == f"{count:,}"


def test_quality_shows_score_version_and_failing_checks_first(client) -> None:
    page = render(client, "/quality")
    words = texts(page)
    assert "Data quality" in words
    score = texts(find(page, "quality-score"))[0]
    assert score.endswith("%") and 90 <= float(score.rstrip("%")) <= 100
    failing = texts(find(page, "quality-gates"))
    # the hand-written data ends in March 2026: freshness is the one warning, listed first
    assert failing[7:10] == ["warning", "2", "freshness"]  # after the header row
    passed = texts(find(page, "quality-gates-passed"))
    assert passed.count("passed") >= 40 and "primary key" in passed


def test_shell_shows_data_as_of_and_dq_dot(client) -> None:
    page = render(client, "/")
    words = texts(page)
    assert "Data as of 20 Mar 2026 13:01" in words
    assert any(w.startswith("DQ ") for w in words)
    assert "Quality" in words  # navigation


def test_missing_warehouse_shows_an_error_tile_not_a_traceback(tmp_path) -> None:
    from tests.conftest import add_users, make_app, sign_in

    app = make_app(f"duckdb:///{tmp_path / 'nowhere.duckdb'}", tmp_path)
    add_users(app)
    with app.server.test_client() as client:
        sign_in(client, "erin")
        client.get("/_dash-layout")
        page = render(client, "/quality")
        words = " ".join(texts(page))
        assert "Warehouse unavailable" in words and "starboard demo" in words
        assert "Traceback" not in words
        assert client.get("/healthz").get_json() == {"status": "ok", "data_version": None}
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "No warehouse" in ready.get_json()["reason"]


def test_healthz_and_readyz_report_the_data_version(client, small_warehouse: str) -> None:
    health = client.get("/healthz").get_json()
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert health["data_version"] == ready.get_json()["data_version"]
    assert ready.get_json()["status"] == "ready"
