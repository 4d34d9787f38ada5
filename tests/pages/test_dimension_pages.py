"""Computed and calendar dimensions on the pages, on the support model: bars in bucket
order, Tier 1 filters and their options on computed dimensions, the tree's movers without
calendar dimensions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import render, texts
from tests.pages.support_app import signed_in_admin, support_app
from tests.pages.test_t1 import options_body

BOARDS = """
tree:
  handle_minutes:
    relation: product
    children: [resolutions, minutes_per_resolution]

boards:
  bands:
    tier: 0
    title: Effort
    period: month
    sections:
      - title: Bands
        bans: [events]
        charts:
          - {type: bar, metric: events, by: effort}
          - {type: bar, metric: events, by: day_of_week}
  bands_ops:
    tier: 1
    title: Effort operations
    filters: [effort, month_of_year, channel]
    sections:
      - title: Work
        charts:
          - {type: bar, metric: events, by: effort}
          - {type: table, metrics: [events, handle_minutes], by: store_size}
          - {type: breakdown, metric: events, by: store_size}
"""


@pytest.fixture(scope="module")
def dims_app(tmp_path_factory: pytest.TempPathFactory):
    app = support_app(tmp_path_factory.mktemp("dims"), BOARDS)
    yield app
    app.server.extensions["starboard"].warehouse.dispose()


@pytest.fixture(scope="module")
def admin(dims_app):
    return signed_in_admin(dims_app)


def _bars(page: Any) -> list[list[Any]]:
    """The x values of every bar trace drawn on the page, in page order."""
    found: list[list[Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            figure = node.get("figure")
            if isinstance(figure, dict):
                for trace in figure.get("data", []):
                    if trace.get("type") == "bar":
                        values = (
                            trace.get("y") if trace.get("orientation") == "h" else trace.get("x")
                        )
                        found.append(list(values or []))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(page)
    return found


def _clean(page: Any) -> str:
    shown = " ".join(texts(page))
    for bad in ("Invalid query", "Query error", "Traceback", "Something went wrong"):
        assert bad not in shown, (bad, shown[:2000])
    assert "sb-error" not in json.dumps(page), shown[:2000]
    return shown


def test_tier0_bars_follow_the_bucket_order(admin) -> None:
    page = render(admin, "/t0/bands", "?period=2026-02")
    _clean(page)
    effort, weekday = _bars(page)
    assert effort[:3] == ["quick", "medium", "long"]  # not by value, not alphabetical
    assert weekday == ["0", "1", "2", "3", "4", "5", "6"]  # a calendar dimension: in order


def test_tier1_filters_on_computed_dimensions_and_their_options(admin) -> None:
    search = "?from=2026-01-01&to=2026-03-31&effort=long,quick&month_of_year=2"
    page = render(admin, "/t1/bands_ops", search)
    shown = _clean(page)
    assert "ignored" not in shown, shown[:2000]
    bars = _bars(page)
    assert bars[0] == ["quick", "long"]  # filtered, in bucket order
    assert bars[1] == ["small", "medium", "large"]  # the breakdown's bars too
    ids = [{"dim": d, "type": "t1-filter"} for d in ("effort", "month_of_year")]
    response = admin.post("/_dash-update-component", json=options_body(ids, board="bands_ops"))
    assert response.status_code == 200, response.data[:300]
    options = response.get_json()["response"]
    values = {
        dim: [o["value"] for o in next(v["options"] for k, v in options.items() if dim in k)]
        for dim in ("effort", "month_of_year")
    }
    assert values["effort"] == ["quick", "medium", "long"]
    assert values["month_of_year"] == ["1", "2", "3", "10", "11", "12"]


def test_tree_movers_leave_calendar_dimensions_out(admin) -> None:
    page = render(admin, "/tree/handle_minutes", "?period=2026-02")
    shown = _clean(page)
    assert "Top movers" in shown
    for label in ("Month of year", "month of year", "Day of week", "day of week", "Agent hired"):
        assert label not in shown, shown[:3000]
