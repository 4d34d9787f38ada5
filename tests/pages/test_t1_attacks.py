"""/t1 attacked with hand-made URLs and callback payloads (#14, items 13 and 14): dates
outside the calendar, values of the wrong type, the options callback asked for a dimension
that is not one of the board's filters. Each gets a notice on the page, never a blank page,
a stale page without a word, or a list of values the board does not offer."""

from __future__ import annotations

import json

import pytest

from tests.conftest import find, render, signed_in, texts
from tests.pages.test_t1 import APPLY_OUTPUT, OPTIONS_OUTPUT, RANGE, _apply_body, options_body


@pytest.fixture
def oscar(demo_app):
    return signed_in(demo_app, "oscar")


def _post(client, body: dict) -> dict:
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.data[:300]
    return response.get_json()["response"]


@pytest.mark.parametrize(
    "search",
    [
        "?from=0001-01-01&to=9999-12-31",
        "?from=0001-01-01",
        "?to=9999-12-31",
        "?from=1899-12-31&to=2201-01-01",
        "?from=२०२६-०९-०१&to=2026-09-30",
    ],
)
def test_dates_outside_the_calendar_are_a_notice_and_the_board_renders(oscar, search) -> None:
    page = render(oscar, "/t1/growth", search)
    words = texts(page)
    assert any("is not a date (YYYY-MM-DD, 1900-01-01 to 2200-12-31)" in t for t in words), words[
        :30
    ]
    assert "Funnel" in words  # the charts are drawn for the default range


def test_the_widest_range_allowed_renders(oscar) -> None:
    page = render(oscar, "/t1/growth", "?from=1900-01-01&to=2200-12-31")
    assert "Funnel" in texts(page)
    assert find(page, "t1-ready")["props"]["data-state"].startswith(
        "?from=1900-01-01&to=2200-12-31"
    )


def test_options_callback_lists_only_the_boards_filters(demo_app, oscar) -> None:
    ids = [{"dim": "user", "type": "t1-filter"}]
    answer = _post(oscar, options_body(ids))
    assert answer["t1-options-notice"]["children"] == (
        "“user” is not a filter of this board: its values are not listed."
    )
    options = next(v["options"] for k, v in answer.items() if '"user"' in k)
    assert options == []
    # one board filter among foreign ones: nothing is listed, not even the allowed one
    mixed = [{"dim": "country", "type": "t1-filter"}, {"dim": "email", "type": "t1-filter"}]
    answer = _post(oscar, options_body(mixed))
    assert "“email” is not a filter of this board" in answer["t1-options-notice"]["children"]
    assert all(v.get("options") == [] for k, v in answer.items() if "options" in v)
    # the board's own filters are still listed
    good = [{"dim": d, "type": "t1-filter"} for d in ("channel_group", "country", "device")]
    answer = _post(oscar, options_body(good))
    assert answer["t1-options-notice"]["children"] == ""
    assert all(v["options"] for k, v in answer.items() if "options" in v)


@pytest.mark.parametrize(
    "board, values, message",
    [
        ({"a": 1}, None, "board: expected text, got dict"),
        (["growth"], None, "board: expected text, got list"),
        ("nope", None, "There is no Tier 1 board 'nope'"),
        ("growth", [7], "country values: expected a list, got int"),
        ("growth", [{"a": 1}], "country values: expected a list, got dict"),
        ("growth", [[{"a": 1}]], "country values: expected text values, got dict"),
    ],
)
def test_options_callback_with_values_of_the_wrong_type_says_so(
    oscar, board, values, message
) -> None:
    ids = [{"dim": "country", "type": "t1-filter"}]
    answer = _post(oscar, options_body(ids, board=board, values=values))
    assert message in answer["t1-options-notice"]["children"]


def test_options_callback_with_ids_of_the_wrong_type_says_so(oscar) -> None:
    body = options_body([{"dim": "country", "type": "t1-filter"}])
    body["state"][0][0]["value"] = 5  # the id an int, not an object
    answer = _post(oscar, body)
    assert "filter id: expected an object, got int" in answer["t1-options-notice"]["children"]


def _fid(dim: str) -> str:
    return json.dumps({"dim": dim, "type": "t1-filter"}, separators=(",", ":"))


CHART_ID = json.dumps(
    {"dim": "channel_group", "index": 5, "type": "t1-chart"}, separators=(",", ":")
)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"filters": {"device": 7}}, "device values: expected a list, got int"),
        ({"filters": {"device": {"a": "b"}}}, "device values: expected a list, got dict"),
        ({"filters": {"device": [["mobile"]]}}, "device values: expected text values, got list"),
        ({"start": 20260901}, "start date: 20260901 is not a date"),
        ({"start": "0001-01-01"}, "start date: 0001-01-01 is out of range"),
        ({"end": "9999-12-31"}, "end date: 9999-12-31 is out of range"),
        ({"end": ["2026-09-30"]}, "end date: ['2026-09-30'] is not a date"),
        ({"search": {"from": "x"}}, "search: expected text, got dict"),
        ({"board": 5}, "board: expected text, got int"),
        ({"click": [1, 2]}, "clickData: expected an object, got list"),
    ],
)
def test_apply_filters_with_values_of_the_wrong_type_shows_a_notice(oscar, change, message) -> None:
    trigger = (
        f"{_fid('device')}.value"
        if "filters" in change
        else f"{CHART_ID}.clickData"
        if "click" in change
        else "t1-dates.start_date"
    )
    body = _apply_body(RANGE, trigger, filters=change.get("filters"), click=change.get("click"))
    assert body["output"] == APPLY_OUTPUT
    if "start" in change:
        body["inputs"][1]["value"] = change["start"]
    if "end" in change:
        body["inputs"][2]["value"] = change["end"]
    if "search" in change:
        body["state"][0]["value"] = change["search"]
    if "board" in change:
        body["state"][1]["value"] = change["board"]
    answer = _post(oscar, body)
    assert message in answer["t1-action-notice"]["children"]
    assert "sb-url" not in answer  # the URL is left as it was


def test_a_click_whose_points_are_not_a_list_changes_nothing_quietly(oscar) -> None:
    body = _apply_body(RANGE, f"{CHART_ID}.clickData", click={"points": {"y": "Email"}})
    answer = _post(oscar, body)
    assert "sb-url" not in answer


def test_the_notices_are_on_the_page(oscar) -> None:
    page = render(oscar, "/t1/growth", RANGE)
    for id_ in ("t1-action-notice", "t1-options-notice"):
        assert find(page, id_)["props"]["role"] == "alert"


def test_the_options_output_is_the_callback_of_the_page(demo_app) -> None:
    assert OPTIONS_OUTPUT in demo_app.callback_map and APPLY_OUTPUT in demo_app.callback_map
