"""/t0/<board>: numbers a user sees equal direct SQL, periods in the URL, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import find_all, render, sign_in, signed_in, texts


@pytest.fixture
def exec_client(demo_app):
    return signed_in(demo_app, "erin")


def _nodes(component, predicate) -> list[dict]:
    return find_all(component, predicate)


def _tile(page, metric: str) -> dict:
    hits = _nodes(page, lambda n: n.get("props", {}).get("id") == {"type": "ban", "metric": metric})
    assert hits, f"no tile for {metric}"
    return hits[0]


def _raw(tile: dict) -> float:
    values = _nodes(tile, lambda n: "data-raw" in n.get("props", {}))
    return float(values[0]["props"]["data-raw"])


def _sql(app, sql: str):
    engine = app.server.extensions["starboard"].warehouse.snapshot().engine
    with engine.connect() as conn:
        return conn.exec_driver_sql(sql).scalar()


SEPTEMBER = "occurred_at >= '2026-09-01' AND occurred_at < '2026-10-01'"


def test_tiles_equal_direct_sql_for_a_fixed_period(demo_app, exec_client) -> None:
    page = render(exec_client, "/t0/company", "?period=2026-09")
    expected = {
        "revenue": f"SELECT sum(revenue) FROM fct_interaction WHERE interaction_type = "
        f"'purchase' AND {SEPTEMBER}",
        "active_users": f"SELECT count(DISTINCT user_key) FROM fct_interaction WHERE "
        f"interaction_type <> 'email_sent' AND {SEPTEMBER}",
        "new_users": "SELECT count(*) FROM dim_user WHERE signup_date BETWEEN '2026-09-01' "
        "AND '2026-09-30'",
        "aov": f"SELECT sum(revenue) / count(DISTINCT order_id) FROM fct_interaction WHERE "
        f"interaction_type = 'purchase' AND {SEPTEMBER}",
        "roas": f"SELECT (SELECT sum(revenue) FROM fct_interaction WHERE interaction_type = "
        f"'purchase' AND {SEPTEMBER}) / (SELECT sum(spend) FROM fct_marketing_spend "
        f"WHERE date_key BETWEEN 20260901 AND 20260930)",
    }
    for metric, sql in expected.items():
        assert _raw(_tile(page, metric)) == pytest.approx(_sql(demo_app, sql)), metric
    words = texts(page)
    assert "September 2026" in words and "Revenue" in words


def test_change_chips_compare_with_previous_period_and_last_year(demo_app, exec_client) -> None:
    page = render(exec_client, "/t0/company", "?period=2026-09")
    tile = _tile(page, "revenue")
    now = _raw(tile)
    before = _sql(
        demo_app,
        "SELECT sum(revenue) FROM fct_interaction WHERE interaction_type = "
        "'purchase' AND occurred_at >= '2026-08-01' "
        "AND occurred_at < '2026-09-01'",
    )
    shown = " ".join(texts(tile))
    change = (now - before) / abs(before)
    assert f"{abs(change):.1%}" in shown


def test_period_round_trips_through_the_url(exec_client) -> None:
    page = render(exec_client, "/t0/company", "?period=2026-08")
    links = {
        n["props"]["id"]: n["props"]["href"]
        for n in _nodes(page, lambda n: n.get("props", {}).get("id") in ("t0-prev", "t0-next"))
    }
    assert links == {
        "t0-prev": "/t0/company?period=2026-07",
        "t0-next": "/t0/company?period=2026-09",
    }
    assert "August 2026" in texts(page)


def test_default_period_is_the_last_complete_one(exec_client) -> None:
    words = texts(render(exec_client, "/t0/company"))
    assert "October 2026" in words  # the demo's data ends on 2026-10-31


@pytest.mark.parametrize("bad", ["2026-13", "2026-Q3", "'; drop table dim_user; --", "2099-01"])
def test_invalid_period_shows_a_notice_and_the_default(demo_app, exec_client, bad) -> None:
    words = " ".join(texts(render(exec_client, "/t0/company", f"?period={bad}")))
    assert "Showing October 2026" in words
    assert _sql(demo_app, "SELECT count(*) FROM dim_user") > 0


def test_unknown_board_is_a_clear_error(exec_client) -> None:
    words = " ".join(texts(render(exec_client, "/t0/nope")))
    assert "There is no Tier 0 board 'nope'" in words and "company" in words


def test_period_before_the_data_says_why_there_is_no_number(exec_client) -> None:
    page = render(exec_client, "/t0/company", "?period=2020-03")
    words = " ".join(texts(_tile(page, "revenue")))
    assert "No revenue recorded for March 2020" in words


def test_report_a_data_problem_is_stored_with_page_period_and_user(demo_app, exec_client) -> None:
    render(exec_client, "/t0/company", "?period=2026-09")
    output = next(k for k in demo_app.callback_map if "t0-report-done" in k)
    body = {
        "output": output,
        "outputs": [
            {"id": "t0-report-done", "property": "children"},
            {"id": "t0-report-text", "property": "value"},
        ],
        "inputs": [{"id": "t0-report-send", "property": "n_clicks", "value": 1}],
        "state": [
            {
                "id": "t0-report-text",
                "property": "value",
                "value": "Revenue looks doubled for Paid Search",
            },
            {"id": "sb-url", "property": "pathname", "value": "/t0/company"},
            {"id": "sb-url", "property": "search", "value": "?period=2026-09"},
        ],
        "changedPropIds": ["t0-report-send.n_clicks"],
    }
    response = exec_client.post("/_dash-update-component", json=body)
    assert response.status_code == 200
    assert "reported as problem #" in response.get_data(as_text=True)
    from app.core.stores import problems

    latest = problems.recent(demo_app.server.extensions["starboard"].users.db, 1)[0]
    assert (latest["reporter"], latest["url"], latest["period"]) == (
        "erin",
        "/t0/company?period=2026-09",
        "2026-09",
    )
    assert latest["text"] == "Revenue looks doubled for Paid Search"
    admin = demo_app.server.test_client()
    sign_in(admin, "ada")
    admin.get("/_dash-layout")
    assert "Revenue looks doubled for Paid Search" in texts(render(admin, "/admin"))
    body["state"][0]["value"] = "   "
    empty = exec_client.post("/_dash-update-component", json=body).get_data(as_text=True)
    assert "Describe the problem first" in empty


def test_catalogue_lists_the_tier0_boards(exec_client) -> None:
    words = texts(render(exec_client, "/"))
    assert "Company pulse" in words and "Tier 0 · executive one-pagers" in words


def test_check_refuses_a_tier0_board_with_a_class_d_query(demo_app, monkeypatch) -> None:
    from app.core.runtime import standalone
    from queries.boards.tier0 import tier0_cost_problems
    from queries.semantic import run as run_mod

    settings = demo_app.server.extensions["starboard"].settings
    with standalone(settings) as runtime:
        assert tier0_cost_problems(runtime) == []
        monkeypatch.setattr(
            run_mod,
            "estimate_rows",
            # every query of the interactions as if it scanned 10M rows
            lambda compiled, *_a: 10**7 + 1 if "fct_interaction" in compiled.facts else 10,
        )
        found = tier0_cost_problems(runtime)
    assert found and all("cost class D" in p.message for p in found)
    assert {p.key for p in found} >= {"boards.company"}
    assert any("tile active_users" in p.message for p in found)
    assert found[0].line is not None and Path(found[0].file).name == "demo.yaml"


def test_chart_with_too_many_points_is_a_clear_tile_and_goal_compare_draws_goals(
    demo_app, exec_client
) -> None:
    from dataclasses import replace

    from queries.boards import tier0 as boards
    from queries.semantic.jobs import run_jobs
    from queries.semantic.run import current_model
    from queries.semantic.types import Chart, Section

    runtime = demo_app.server.extensions["starboard"]
    with demo_app.server.test_request_context():
        model = current_model(runtime)
    board = replace(
        model.boards["company"],
        sections=(
            Section(
                "T",
                charts=(
                    Chart("line", metric="revenue", grain="day"),
                    Chart("line", metric="revenue", grain="quarter", compare="goal"),
                ),
            ),
        ),
    )
    window = boards.periods.window_from_key("2026-06")
    jobs = boards.board_jobs(model, board, window)
    with demo_app.server.test_request_context():
        from flask_login import login_user

        login_user(runtime.users.by_name("erin"))
        results = run_jobs(jobs, runtime)
        many = boards._chart(model, board.sections[0].charts[0], 0, window, results)
        goal = boards._chart(model, board.sections[0].charts[1], 1, window, results)
    assert many.error is None and len(many.x) <= boards.MAX_POINTS  # a year of days fits
    assert goal.compare is not None and goal.compare[2] == "Goal"
    by_quarter = dict(zip(goal.compare[0], goal.compare[1], strict=True))
    assert (
        by_quarter[boards.periods.window_from_key("2026-Q2").start]
        == model.goals["revenue"]["2026-Q2"]
    )


def test_tiles_open_the_tree_or_else_a_tier1_board_with_the_metric(exec_client) -> None:
    page = render(exec_client, "/t0/marketing", "?period=2026-09")
    hrefs = {
        n["props"]["id"]["metric"]: n["props"].get("href")
        for n in _nodes(
            page,
            lambda n: (
                isinstance(n.get("props", {}).get("id"), dict)
                and n["props"]["id"].get("type") == "ban"
            ),
        )
    }
    assert hrefs["roas"] == "/tree/roas" or hrefs["roas"].startswith("/t1/")
    assert hrefs["spend"] == "/t1/channels"  # no tree for spend: the board that shows it
