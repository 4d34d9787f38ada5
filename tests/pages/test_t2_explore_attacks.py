"""The explorer attacked with hand-made URLs and callback payloads (#14, items 12 and 13):
numbers that are not ASCII digits, values of the wrong type in every callback. Each gets
a clear message on the page (or a 400 on the API), never a blank page, a 500 or a stale
page without a word."""

from __future__ import annotations

import pytest

from tests.conftest import find, render, signed_in, texts
from tests.pages.test_t2_callbacks import _call, _detail, _explore, _rows

NOT_NUMBERS = ["²", "१", "٣", "-1", "0", "1.5", "1e3", "ten", "99999999999999999999999"]


@pytest.fixture
def ana(t2_app):
    return signed_in(t2_app, "ana")


@pytest.mark.parametrize("limit", NOT_NUMBERS)
def test_a_limit_that_is_not_a_number_is_a_notice_on_the_page(ana, limit) -> None:
    page = render(ana, "/t2/explore", f"?metrics=revenue&limit={limit}")
    words = texts(page)
    assert "This exploration cannot be read" in words
    assert any(t.startswith("limit: expected a whole number from 1 to") for t in words), words


@pytest.mark.parametrize("limit", NOT_NUMBERS)
def test_a_limit_that_is_not_a_number_is_a_400_on_the_export(ana, limit) -> None:
    response = ana.get(
        "/api/v1/export/explore", query_string={"metrics": "revenue", "limit": limit}
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["message"].startswith("limit: expected a whole number")


def test_a_plain_limit_still_works(ana) -> None:
    page = render(ana, "/t2/explore", "?metrics=revenue&by=device&limit=2")
    assert find(page, "t2-limit")["props"]["value"] == 2
    response = ana.get("/api/v1/export/explore?metrics=revenue&by=device&limit=2")
    assert response.status_code == 200
    assert len(response.get_data(as_text=True).strip().splitlines()) == 3  # header + 2


def _change(t2_app, client, **values):
    output = next(k for k in t2_app.callback_map if "t2-f-error.children" in k)
    inputs = [
        ("t2-metrics", "value", values.get("metrics", ["revenue"])),
        ("t2-by", "value", values.get("by", [])),
        ("t2-chart", "value", values.get("chart", "table")),
        ("t2-order", "value", values.get("order")),
        ("t2-limit", "value", values.get("limit")),
        ("t2-f-add", "n_clicks", None),
    ]
    state = [
        ("t2-f-dim", "value", None),
        ("t2-f-op", "value", "="),
        ("t2-f-value", "value", "DE"),
        ("t2-state", "data", values.get("search", "?metrics=revenue")),
    ]
    response = _call(client, output, inputs, state)  # the metrics "changed"
    assert response.status_code in (200, 204), response.get_data(as_text=True)[:300]
    return response.get_json()["response"] if response.status_code == 200 else {}


def test_a_good_control_change_writes_the_url(t2_app, ana) -> None:
    answer = _change(t2_app, ana, metrics=["revenue"], by=["device"], limit=5)
    assert answer["sb-url"]["search"] == "?metrics=revenue&by=device&limit=5"
    assert answer["t2-f-error"]["children"] == ""


@pytest.mark.parametrize(
    "values, message",
    [
        ({"metrics": 5}, "metrics: expected a list, got int"),
        ({"metrics": "revenue"}, "metrics: expected a list, got str"),
        ({"metrics": [{"a": 1}]}, "metrics: expected text values, got dict"),
        ({"by": {"a": 1}}, "by: expected a list, got dict"),
        ({"chart": ["bar"]}, "chart: expected text, got list"),
        ({"order": {"x": 1}}, "sort: expected text, got dict"),
        ({"limit": "²"}, "limit: expected a whole number"),
        ({"limit": "१"}, "limit: expected a whole number"),
        ({"limit": [3]}, "limit: expected a whole number"),
        ({"limit": -2}, "limit: expected a whole number"),
        ({"limit": 1e30}, "limit: expected a whole number"),
        ({"search": 7}, "exploration: expected text, got int"),
        ({"search": ["?metrics=revenue"]}, "exploration: expected text, got list"),
    ],
)
def test_control_values_of_the_wrong_type_are_a_message(t2_app, ana, values, message) -> None:
    answer = _change(t2_app, ana, **values)
    assert message in answer["t2-f-error"]["children"]
    assert "sb-url" not in answer


def test_a_filter_dimension_of_the_wrong_type_is_a_message(t2_app, ana) -> None:
    output = next(k for k in t2_app.callback_map if "t2-f-error.children" in k)
    inputs = [
        ("t2-f-add", "n_clicks", 1),
        ("t2-metrics", "value", ["revenue"]),
        ("t2-by", "value", []),
        ("t2-chart", "value", "table"),
        ("t2-order", "value", None),
        ("t2-limit", "value", None),
    ]
    # the callback's arguments are positional: post them in the declared order, with the
    # add button as the input that changed
    declared = [inputs[1], inputs[2], inputs[3], inputs[4], inputs[5], inputs[0]]
    for f_dim, message in [
        ({"dim": "country"}, "filter dimension: expected text, got dict"),
        (["country"], "filter dimension: expected text, got list"),
    ]:
        state = [
            ("t2-f-dim", "value", f_dim),
            ("t2-f-op", "value", "="),
            ("t2-f-value", "value", "DE"),
            ("t2-state", "data", "?metrics=revenue"),
        ]
        response = ana.post(
            "/_dash-update-component",
            json={
                "output": output,
                "outputs": [
                    {"id": "sb-url", "property": "search"},
                    {"id": "t2-f-error", "property": "children"},
                ],
                "inputs": [{"id": i, "property": p, "value": v} for i, p, v in declared],
                "changedPropIds": ["t2-f-add.n_clicks"],
                "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
            },
        )
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        assert message in response.get_json()["response"]["t2-f-error"]["children"]


@pytest.mark.parametrize(
    "search, message",
    [
        (7, "exploration: expected text, got int"),
        ({"metrics": "revenue"}, "exploration: expected text, got dict"),
        ("?metrics=revenue&limit=²", "limit: expected a whole number"),
    ],
)
def test_crafted_background_states_are_a_message(ana, search, message) -> None:
    result = _explore(ana, search)
    assert "This exploration cannot run" in texts(result)
    assert any(message in t for t in texts(result)), texts(result)


def _drill(t2_app, client, inputs, state) -> list[dict]:
    """What the drill callback whose input is ``inputs[0]`` answers to this payload."""
    output = next(
        k
        for k, v in t2_app.callback_map.items()
        if k.startswith("t2-drill.data@")
        and v["inputs"][0] == {"id": inputs[0][0], "property": inputs[0][1]}
    )
    response = _call(client, output, inputs, state)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return [response.get_json()["response"]["t2-drill"]["data"]]


SEARCH = "?metrics=revenue&by=channel_group%2Cdevice&chart=pivot"


@pytest.mark.parametrize(
    "click, message",
    [
        ({"points": 5}, "clickData.points: expected a list of points"),
        ({"points": [5]}, "clickData.points: expected a list of points"),
        ({"points": [{"customdata": [{"a": 1}]}]}, "metric: expected text, got dict"),
    ],
)
def test_crafted_chart_clicks_are_a_message(t2_app, ana, click, message) -> None:
    answers = _drill(
        t2_app, ana, [("t2-graph", "clickData", click)], [("t2-state", "data", SEARCH)]
    )
    assert any(message in a.get("error", "") for a in answers), answers


def test_a_chart_click_that_is_not_an_object_is_a_message(t2_app, ana) -> None:
    answers = _drill(
        t2_app, ana, [("t2-graph", "clickData", [1, 2])], [("t2-state", "data", SEARCH)]
    )
    assert any("clickData: expected an object, got list" in a.get("error", "") for a in answers), (
        answers
    )


@pytest.mark.parametrize(
    "cell, meta, message",
    [
        ({"colId": "c²", "rowId": "Email"}, None, "pivot column: expected a whole number"),
        ({"colId": "c१", "rowId": "Email"}, None, "pivot column: expected a whole number"),
        (
            {"colId": "c9", "rowId": "Email"},
            None,
            "pivot column: expected a whole number from 0 to 3",
        ),
        ({"colId": ["c1"], "rowId": "Email"}, None, "colId: expected text, got list"),
        ({"colId": "c1", "rowId": {"a": 1}}, None, "rowId: expected text, got dict"),
        (
            {"colId": "c1", "rowId": "Email"},
            {"columns": 5, "metric": "revenue"},
            "pivot columns: expected a list",
        ),
        (
            {"colId": "c0", "rowId": "Email"},
            {"columns": ["a"], "metric": 5},
            "metric: expected text, got int",
        ),
    ],
)
def test_crafted_pivot_cells_are_a_message(t2_app, ana, cell, meta, message) -> None:
    meta = meta or {"columns": ["desktop", "mobile", "tablet", "Total"], "metric": "revenue"}
    answers = _drill(
        t2_app,
        ana,
        [("t2-pivot", "cellClicked", cell)],
        [("t2-pivot-meta", "data", meta), ("t2-state", "data", SEARCH)],
    )
    assert any(message in a.get("error", "") for a in answers), answers


@pytest.mark.parametrize(
    "cell, rows, message",
    [
        ({"colId": "orders", "data": 5}, [], "cellClicked.data: expected an object, got int"),
        ({"colId": "orders", "rowIndex": 0}, {"a": 1}, "rowData: expected a list of rows"),
        ({"colId": "orders", "rowIndex": 0}, [7], "rowData row: expected an object, got int"),
    ],
)
def test_crafted_table_rows_are_a_message(t2_app, ana, cell, rows, message) -> None:
    answers = _drill(
        t2_app,
        ana,
        [("t2-table", "cellClicked", cell)],
        [
            ("t2-table", "virtualRowData", rows),
            ("t2-table", "rowData", rows),
            ("t2-state", "data", "?metrics=revenue%2Corders&by=channel_group"),
        ],
    )
    assert any(message in a.get("error", "") for a in answers), answers


@pytest.mark.parametrize(
    "drill, message",
    [
        ({"metric": "orders", "where": [], "notes": 5}, "notes: expected a list, got int"),
        ({"metric": "orders", "where": [], "notes": [{"a": 1}]}, "notes: expected text values"),
        ([1, 2], "drill: expected an object"),
        (5, "drill: expected an object"),
    ],
)
def test_crafted_detail_panels_are_a_message(ana, drill, message) -> None:
    panel = _detail(ana, drill)
    assert find(panel, "t2-detail-grid") is None
    assert any(message in t for t in texts(panel)), texts(panel)


@pytest.mark.parametrize(
    "request_",
    [
        {"startRow": "²", "endRow": 10},
        {"startRow": 0, "endRow": "१"},
        {"startRow": [0], "endRow": 10},
        {"startRow": 0, "endRow": 10, "sortModel": {"a": 1}},
        {"startRow": -5, "endRow": 10},
    ],
)
def test_crafted_grid_requests_get_no_rows_not_an_error(ana, request_) -> None:
    page = _rows(ana, request_, {"metric": "orders", "where": []})
    if "sortModel" in request_:  # a sort model of the wrong type is ignored
        assert len(page["rowData"]) == 10
    else:
        assert page == {"rowData": [], "rowCount": 0}


def test_copy_link_returns_only_text(t2_app, ana) -> None:
    response = _call(
        ana, "t2-copy.content", [("t2-copy", "n_clicks", 1)], [("sb-url", "href", {"a": 1})]
    )
    assert response.status_code == 200
    assert response.get_json()["response"]["t2-copy"]["content"] == ""
