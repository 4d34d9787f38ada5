"""Boards and the explorer with time-aware metrics on the support schema: every page renders
(no error tile) and a tier 0 BAN of a balance shows its last day's value, not a sum."""

from __future__ import annotations

import json

import pytest

from tests.conftest import PASSWORD, make_app, render, sign_in, texts
from tests.queries.second_schema import MODEL_PATH, create_duckdb

BOARDS = """
boards:
  tw:
    tier: 0
    title: Time-aware
    period: month
    sections:
      - title: Rolling
        bans: [events_7d, openers_28d, backlog, backlog_avg, events_change, backlog_sum_yoy]
        charts:
          - {type: line, metric: openers_28d, grain: week}
          - {type: line, metric: backlog, grain: month, compare: previous_year}
          - {type: bar, metric: backlog, by: store}
  tw1:
    tier: 1
    title: Time-aware ops
    filters: [channel, store]
    sections:
      - title: Work
        charts:
          - {type: line, metric: events_7d, by: channel}
          - {type: table, metrics: [events_mtd, events_running, backlog], by: store}
"""


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("tw")
    wh = create_duckdb(root / "s.duckdb")
    model = root / "support.yaml"
    model.write_text(MODEL_PATH.read_text() + BOARDS)
    app = make_app(f"duckdb:///{wh}", root / "home", model=str(model))
    app.server.extensions["starboard"].users.add("ada", "admin", PASSWORD)
    c = app.server.test_client()
    assert sign_in(c, "ada").status_code == 302
    c.get("/_dash-layout")
    yield c, app
    app.server.extensions["starboard"].warehouse.dispose()


@pytest.mark.parametrize(
    ("path", "search"),
    [
        ("/t0/tw", ""),
        ("/t0/tw", "?period=2026-01"),
        ("/t1/tw1", ""),
        ("/t1/tw1", "?from=2026-01-01&to=2026-02-15"),
        ("/t2/explore", "?metrics=events_7d,backlog&by=period:month"),
        ("/t2/explore", "?metrics=openers_28d&by=store&view=table"),
        ("/t2/explore", "?metrics=events_change,backlog_sum_yoy&by=period:week"),
    ],
)
def test_pages_with_time_aware_metrics_render(client, path, search) -> None:
    page = render(client[0], path, search)
    shown = " ".join(texts(page))
    for bad in ("Query error", "Traceback", "Something went wrong", "Invalid query", "unknown"):
        assert bad not in shown, (path, search, bad, shown[:3000])
    assert "sb-error" not in json.dumps(page), (path, search, shown[:3000])


def test_tier0_shows_a_balance_on_its_last_day_with_data(client) -> None:
    """January 2026: no store reports on the 31st, so the BAN is the 30th's total."""
    c, app = client
    engine = app.server.extensions["starboard"].warehouse.snapshot().engine
    with engine.connect() as con:
        last, total = con.exec_driver_sql(
            "SELECT snapshot_day, SUM(open_tickets) FROM f_backlog WHERE snapshot_day = "
            "(SELECT MAX(snapshot_day) FROM f_backlog WHERE snapshot_day < DATE '2026-02-01') "
            "GROUP BY 1"
        ).fetchone()
        month_sum = con.exec_driver_sql(
            "SELECT SUM(open_tickets) FROM f_backlog WHERE snapshot_day >= DATE '2026-01-01' "
            "AND snapshot_day < DATE '2026-02-01'"
        ).fetchone()[0]
    assert str(last) == "2026-01-30"
    shown = " ".join(texts(render(c, "/t0/tw", "?period=2026-01")))
    assert f"Open tickets {total:,}" in shown, shown[:1500]
    assert f"{month_sum:,}" not in shown
