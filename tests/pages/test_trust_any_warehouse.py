"""Trust on a warehouse Starboard did not load (no publish record, no pointer): the support
desk model on a plain DuckDB file. "Data as of" and staleness come from the data itself,
each fact is judged against its own freshness SLO, the DQ dot reads the same on every page,
and pages whose feature the model does not declare are neither in the menu nor reachable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import PASSWORD, find_all, make_app, render, sign_in, texts
from tests.queries.second_schema import MODEL_PATH, create_duckdb

CHECKS = """
checks:
  f_ticket_event:
    - {kind: not_null, column: store_ref}
    - {kind: not_null, column: channel}
    - {kind: accepted_values, column: channel, values: [email, phone]}
  d_store:
    - {kind: unique, column: store_ref, risk: 1}

boards:
  desk:
    tier: 0
    title: Support desk
    period: month
    sections:
      - title: Volume
        bans: [tickets_opened, resolutions, staffed_hours]
  desk_ops:
    tier: 1
    title: Desk operations
    filters: [channel, team]
    sections:
      - charts:
          - {type: line, metric: events, by: channel}
"""

PAGES = ["/", "/t0/desk", "/t1/desk_ops", "/t2/explore", "/t2/sql", "/quality", "/admin"]


def _model(
    root: Path,
    ticket_slo: float | None,
    staffing_slo: float | None = None,
    backlog_slo: float | None = None,
) -> Path:
    text = MODEL_PATH.read_text(encoding="utf-8")
    if ticket_slo is not None:
        text = text.replace(
            "    time: d_calendar.cal_date\n",
            f"    time: d_calendar.cal_date\n    freshness_hours: {ticket_slo}\n",
        )
    if staffing_slo is not None:
        text = text.replace(
            "    time: shift_start\n",
            f"    time: shift_start\n    freshness_hours: {staffing_slo}\n",
        )
    if backlog_slo is not None:
        text = text.replace(
            "    time: snapshot_day\n",
            f"    time: snapshot_day\n    freshness_hours: {backlog_slo}\n",
        )
    path = root / "support.yaml"
    path.write_text(text + CHECKS, encoding="utf-8")
    return path


def _app(root: Path, model: Path):
    warehouse = create_duckdb(root / "support.duckdb")
    app = make_app(f"duckdb:///{warehouse}", root / "home", model=str(model))
    app.server.extensions["starboard"].users.add("ada", "admin", PASSWORD)
    return app


def _client(app):
    client = app.server.test_client()
    assert sign_in(client, "ada").status_code == 302
    client.get("/_dash-layout")
    return client


@pytest.fixture(scope="module")
def stale_app(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("foreign-stale")
    app = _app(root, _model(root, ticket_slo=48))
    from queries.quality.checks import quality_run
    from queries.semantic.run import current_model

    with app.server.test_request_context():  # `starboard quality` on the foreign warehouse
        _version, results, _run = quality_run(current_model())
    app.quality_results = results
    yield app
    app.server.extensions["starboard"].warehouse.dispose()


@pytest.fixture(scope="module")
def fresh_app(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("foreign-fresh")
    app = _app(
        root, _model(root, ticket_slo=10_000_000, staffing_slo=10_000_000, backlog_slo=10_000_000)
    )
    yield app
    app.server.extensions["starboard"].warehouse.dispose()


@pytest.fixture(scope="module")
def stale(stale_app):
    return _client(stale_app)


def _latest(app) -> dict[str, datetime]:
    """Each fact's latest time by hand-written SQL."""
    engine = app.server.extensions["starboard"].warehouse.snapshot().engine
    with engine.connect() as conn:
        ticket = conn.exec_driver_sql(
            "SELECT max(c.cal_date) FROM f_ticket_event e "
            "JOIN d_calendar c ON c.cal_key = e.event_cal_key"
        ).scalar()
        shift = conn.exec_driver_sql("SELECT max(shift_start) FROM f_staffing").scalar()
        assert "starboard_publish" not in sa.inspect(conn).get_table_names()  # not ours
    return {
        "f_ticket_event": datetime(ticket.year, ticket.month, ticket.day),
        "f_staffing": shift,
    }


def _banner(page) -> list[str]:
    found = find_all(page, lambda n: "sb-banner-stale" in str(n.get("props", {}).get("className")))
    return [" ".join(texts(b)) for b in found]


def _dot(page) -> dict:
    [dot] = find_all(page, lambda n: n.get("props", {}).get("className") == "sb-dq")
    return dot


def _nav(page) -> list[str]:
    links = find_all(page, lambda n: "sb-nav-link" in str(n.get("props", {}).get("className")))
    return [" ".join(texts(link)) for link in links]


def test_data_as_of_is_the_datas_latest_time_without_a_load_record(stale, stale_app) -> None:
    latest = max(_latest(stale_app).values())
    for path in ("/", "/t0/desk", "/quality"):
        words = texts(render(stale, path))
        assert f"Data as of {latest:%d %b %Y %H:%M}" in words, (path, words[:20])
        assert "Data as of —" not in words


def test_stale_banner_on_every_page_names_each_late_fact_its_age_and_slo(stale, stale_app) -> None:
    latest = _latest(stale_app)
    default = stale_app.server.extensions["starboard"].settings.freshness_slo_hours
    for path in PAGES:
        before = datetime.now(UTC).replace(tzinfo=None)
        page = render(stale, path)
        after = datetime.now(UTC).replace(tzinfo=None)
        [banner] = _banner(page)
        for fact, slo in (("f_ticket_event", 48), ("f_staffing", default)):
            hours = [(m - latest[fact]).total_seconds() / 3600 for m in (before, after)]
            # the page rounds the age to 0.1 h before printing whole hours (half to even)
            ages = {f"{h:,.0f}" for h in hours} | {f"{round(h, 1):,.0f}" for h in hours}
            assert any(f"{fact} is {age} h old" in banner for age in ages), (path, banner)
            assert f"latest {latest[fact]:%d %b %Y %H:%M}; freshness SLO {slo:g} h" in banner


def test_fresh_data_shows_no_stale_banner(fresh_app) -> None:
    client = _client(fresh_app)
    latest = max(_latest(fresh_app).values())
    for path in ("/", "/t0/desk", "/quality"):
        page = render(client, path)
        assert _banner(page) == [], path
        assert f"Data as of {latest:%d %b %Y %H:%M}" in texts(page)


def test_dq_dot_reads_the_same_on_every_page(stale, stale_app) -> None:
    from app.core.stores.checks import dq_score

    score = dq_score(stale_app.quality_results)
    assert 0 < score < 100  # the checks above: some pass, store_ref has NULLs
    labels, statuses = set(), set()
    for path in PAGES:
        dot = _dot(render(stale, path))
        labels.add(" ".join(texts(dot)))
        statuses.add(dot["props"]["data-status"])
    assert labels == {f"DQ {score:.0f}%"}
    assert len(statuses) == 1 and statuses != {"unknown"}
    shown = texts(render(stale, "/quality"))
    assert f"{score:.1f}%" in shown


def test_segments_are_not_in_the_menu_nor_reachable_without_a_declaration(stale) -> None:
    nav = _nav(render(stale, "/"))
    assert "Explore" in nav and "Segments" not in nav
    response = stale.get("/t2/segments")
    body = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "This model declares no segments" in body and "support.yaml" in body
    shown = " ".join(texts(render(stale, "/t2/segments")))
    assert "This model declares no segments" in shown and "Query error" not in shown


def test_segments_callbacks_answer_404_without_a_declaration(stale, stale_app) -> None:
    outputs = [
        out
        for out, entry in stale_app.callback_map.items()
        if entry.get("callback") is not None
        and entry["callback"].__module__.endswith("pages.t2_segments")
    ]
    assert outputs
    response = stale.post(
        "/_dash-update-component",
        json={"output": outputs[0], "outputs": [], "inputs": [], "state": []},
    )
    assert response.status_code == 404
    assert "declares no segments" in response.get_json()["error"]["message"]


def test_tree_is_unreachable_without_a_tree_declaration(stale) -> None:
    response = stale.get("/tree/handle_minutes")
    assert response.status_code == 404
    assert "This model declares no metric tree" in response.get_data(as_text=True)
    shown = " ".join(texts(render(stale, "/tree/handle_minutes")))
    assert "declares no metric tree" in shown
    board = render(stale, "/t0/desk")
    links = find_all(board, lambda n: str(n.get("props", {}).get("href", "")).startswith("/tree"))
    assert links == []


def test_demo_still_offers_segments_and_the_tree(demo_app) -> None:
    client = _client_demo(demo_app)
    assert "Segments" in _nav(render(client, "/"))
    assert client.get("/t2/segments").status_code == 200
    assert client.get("/tree/revenue").status_code == 200


def _client_demo(app):
    from tests.conftest import add_users

    add_users(app)
    client = app.server.test_client()
    assert sign_in(client, "ada").status_code == 302
    client.get("/_dash-layout")
    return client
