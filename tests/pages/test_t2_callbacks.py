"""The explorer's callbacks through the access gate, with crafted payloads.

Everything a browser sends is client data: the drill store, the grid's row requests and
the URL state the background callback runs. Each is checked again on the server.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest

from tests.conftest import find, find_all, render, signed_in, texts
from tests.fixtures.t2 import direct


def _call(
    client,
    output: str,
    inputs: list[tuple[str, str, object]],
    state: list[tuple[str, str, object]] = (),
    query: str = "",
):
    outputs = [
        dict(zip(("id", "property"), o.rsplit(".", 1), strict=True))
        for o in output.strip(".").split("...")
    ]
    body = {
        "output": output,
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
        "changedPropIds": [f"{inputs[0][0]}.{inputs[0][1]}"],
        "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
    }
    return client.post("/_dash-update-component" + query, json=body)


def _detail(client, drill: object):
    response = _call(client, "t2-detail.children", [("t2-drill", "data", drill)])
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()["response"]["t2-detail"]["children"]


def _rows(client, request: dict, drill: object) -> dict:
    response = _call(
        client,
        "t2-detail-grid.getRowsResponse",
        [("t2-detail-grid", "getRowsRequest", request)],
        [("t2-drill", "data", drill)],
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()["response"]["t2-detail-grid"]["getRowsResponse"]


RESULT = "..t2-result.children...t2-query.children.."


def _explore(client, search: str, timeout: float = 20.0) -> list:
    """Start the background callback and poll it as the browser does; its result."""
    inputs = [("t2-state", "data", search)]
    started = _call(client, RESULT, inputs)
    assert started.status_code == 200, started.get_data(as_text=True)[:300]
    handles = started.get_json()
    query = f"?cacheKey={handles['cacheKey']}&job={handles['job']}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        polled = _call(client, RESULT, inputs, query=query)
        assert polled.status_code in (200, 204), polled.get_data(as_text=True)[:300]
        body = polled.get_json(silent=True) or {}
        if "response" in body:
            return body["response"]["t2-result"]["children"]
        time.sleep(0.1)
    raise AssertionError("the background callback did not finish")


def test_the_page_is_tier2_only(t2_app) -> None:
    assert signed_in(t2_app, "erin").get("/t2/explore").status_code == 403
    assert signed_in(t2_app, "oscar").get("/t2/explore").status_code == 403
    assert signed_in(t2_app, "ana").get("/t2/explore").status_code == 200
    shown = texts(render(signed_in(t2_app, "erin"), "/t2/explore", "?metrics=revenue"))
    assert "No access" in shown


def test_the_layout_restores_the_url_state(t2_app) -> None:
    search = (
        "?metrics=revenue%2Corders&by=channel_group%2Cdate%3Amonth"
        "&where=country+in+%28DE%2CFR%29&chart=bar&order=-revenue&limit=20"
    )
    page = render(signed_in(t2_app, "ana"), "/t2/explore", search)
    assert find(page, "t2-metrics")["props"]["value"] == ["revenue", "orders"]
    assert find(page, "t2-by")["props"]["value"] == ["channel_group", "date:month"]
    assert find(page, "t2-chart")["props"]["value"] == "bar"
    assert find(page, "t2-order")["props"]["value"] == "-revenue"
    assert find(page, "t2-limit")["props"]["value"] == 20
    assert find(page, "t2-state")["props"]["data"] == search
    assert "country in (DE,FR) ✕" in texts(page)
    assert find(page, "t2-export")["props"]["href"] == "/api/v1/export/explore" + search


def test_unreachable_dimensions_are_disabled_with_the_reason(t2_app) -> None:
    page = render(signed_in(t2_app, "ana"), "/t2/explore", "?metrics=spend&by=device")
    options = {o["value"]: o for o in find(page, "t2-by")["props"]["options"]}
    assert options["device"]["disabled"] and options["channel_group"]["disabled"] is False
    assert "has no join path to fct_interaction" in options["device"]["title"]
    banners = texts(find(page, "t2-explanations"))
    assert any(b.startswith("Device cannot split Marketing spend") for b in banners)


def test_the_background_run_draws_the_result(t2_app) -> None:
    client = signed_in(t2_app, "ana")
    result = _explore(client, "?metrics=orders&by=channel_group&order=-orders")
    grid = find(result, "t2-table")
    expected = direct(
        t2_app,
        """
        SELECT c.channel_group, count(DISTINCT f.order_id) FROM fct_interaction f
        LEFT JOIN dim_channel c ON c.channel_key = f.channel_key
        WHERE f.interaction_type = 'purchase' GROUP BY 1 ORDER BY 2 DESC, 1""",
    )
    assert [(r["channel_group"], r["orders"]) for r in grid["props"]["rowData"]] == expected


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ("?metrics=nope", "unknown metric 'nope'"),
        ("?metrics=revenue&by=email", "personal data"),
        ("?metrics=revenue&where=email = a@b.c", "personal data"),
        ("?metrics=revenue&chart=<script>", "not a chart type"),
    ],
)
def test_crafted_background_runs_are_refused(t2_app, search, message) -> None:
    result = _explore(signed_in(t2_app, "ana"), search)
    assert find(result, "t2-table") is None
    assert any(message in t for t in texts(result)), texts(result)


def test_sql_in_a_filter_value_is_only_a_value(t2_app) -> None:
    evil = "x'); DROP TABLE fct_interaction; --"
    result = _explore(
        signed_in(t2_app, "ana"),
        "?metrics=orders&by=country&" + urlencode({"where": f"country = {evil}"}),
    )
    assert "No rows match this exploration." in texts(result)
    assert direct(t2_app, "SELECT count(*) > 0 FROM fct_interaction") == [(True,)]


def test_roles_without_tier2_cannot_start_or_poll_a_run(t2_app) -> None:
    ana = signed_in(t2_app, "ana")
    started = _call(ana, RESULT, [("t2-state", "data", "?metrics=revenue")]).get_json()
    query = f"?cacheKey={started['cacheKey']}&job={started['job']}"
    for who in ("erin", "oscar"):
        client = signed_in(t2_app, who)
        assert _call(client, RESULT, [("t2-state", "data", "?metrics=revenue")]).status_code == 403
        assert (
            _call(
                client, RESULT, [("t2-state", "data", "?metrics=revenue")], query=query
            ).status_code
            == 403
        )
        assert (
            _call(client, "t2-cancel.id", [("t2-cancel", "n_clicks", 1)], query=query).status_code
            == 403
        )
    assert _call(ana, "t2-cancel.id", [("t2-cancel", "n_clicks", 1)], query=query).status_code in (
        200,
        204,
    )
    anonymous = t2_app.server.test_client()
    assert _call(anonymous, RESULT, [("t2-state", "data", "?metrics=revenue")]).status_code == 401


def test_crafted_drills_are_refused_with_a_message(t2_app) -> None:
    ana = signed_in(t2_app, "ana")
    for drill, message in [
        ({"metric": "nope", "where": []}, "unknown metric 'nope'"),
        ({"metric": "orders", "where": ["email = a@b.c"]}, "personal data"),
        ({"metric": "orders", "where": "country = DE"}, "list of filter"),
        ("drop table", "expected an object"),
    ]:
        panel = _detail(ana, drill)
        assert find(panel, "t2-detail-grid") is None
        assert any(message in t for t in texts(panel)), texts(panel)


def test_the_grid_gets_only_the_requested_page_within_scope(t2_app) -> None:
    drill = {"metric": "orders", "where": ["region in (EMEA, AMER)"]}
    emea = signed_in(t2_app, "emea")
    panel = _detail(emea, drill)
    headers = [c["field"] for c in find(panel, "t2-detail-grid")["props"]["columnDefs"]]
    assert "region" in headers
    page = _rows(emea, {"startRow": 100, "endRow": 150, "sortModel": []}, drill)
    assert len(page["rowData"]) == 50
    assert {r["region"] for r in page["rowData"]} == {"EMEA"}
    keys = [r["interaction_key"] for r in page["rowData"]]
    expected = [
        k
        for (k,) in direct(
            t2_app,
            """
        SELECT f.interaction_key FROM fct_interaction f JOIN dim_user u USING (user_key)
        WHERE f.interaction_type = 'purchase' AND u.region = 'EMEA'
        ORDER BY f.interaction_key LIMIT 50 OFFSET 100""",
        )
    ]
    assert keys == expected


def test_grid_sorting_is_whitelisted_and_pii_stays_masked(t2_app) -> None:
    drill = {"metric": "orders", "where": []}
    ana, ada = signed_in(t2_app, "ana"), signed_in(t2_app, "ada")
    for sort in ([{"colId": "nope", "sort": "asc"}], [{"colId": "email", "sort": "asc"}]):
        assert _rows(ana, {"startRow": 0, "endRow": 10, "sortModel": sort}, drill) == {
            "rowData": [],
            "rowCount": 0,
        }
    by_email = _rows(
        ada, {"startRow": 0, "endRow": 5, "sortModel": [{"colId": "email", "sort": "asc"}]}, drill
    )
    emails = [r["email"] for r in by_email["rowData"]]
    assert emails == sorted(emails) and all("@" in e for e in emails)
    masked = _rows(ana, {"startRow": 0, "endRow": 5, "sortModel": []}, drill)
    assert {r["email"] for r in masked["rowData"]} == {"•••"}
    columns = find(_detail(ana, drill), "t2-detail-grid")["props"]["columnDefs"]
    assert [c["sortable"] for c in columns if c["field"] == "email"] == [False]
    assert (
        _call(
            signed_in(t2_app, "oscar"),
            "t2-detail-grid.getRowsResponse",
            [("t2-detail-grid", "getRowsRequest", {"startRow": 0, "endRow": 5})],
            [("t2-drill", "data", drill)],
        ).status_code
        == 403
    )


def test_a_click_on_a_point_opens_the_rows_behind_it(t2_app) -> None:
    ana = signed_in(t2_app, "ana")
    outputs = [k for k in t2_app.callback_map if k.startswith("t2-drill.data@")]
    search = "?metrics=orders&by=date%3Amonth%2Cdevice&where=channel_group+%3D+Email"
    click = {"points": [{"customdata": ["orders", "2026-02-01", "mobile"]}]}
    for output in outputs:
        response = _call(
            ana, output, [("t2-graph", "clickData", click)], [("t2-state", "data", search)]
        )
        if response.status_code == 200:
            drill = response.get_json()["response"]["t2-drill"]["data"]
            break
    else:
        raise AssertionError("no drill callback answered a chart click")
    assert drill["where"] == [
        "channel_group = Email",
        "date between 2026-02-01 and 2026-02-28",
        "device = mobile",
    ]
    shown = texts(_detail(ana, drill))
    assert "Rows behind Orders" in shown
    links = find_all(
        _detail(ana, drill), lambda n: n.get("props", {}).get("id") == "t2-detail-export"
    )
    assert links[0]["props"]["href"].startswith("/api/v1/export/detail?metric=orders&where=")


def _drill_via(client, app, inputs, state) -> dict:
    for output in [k for k in app.callback_map if k.startswith("t2-drill.data@")]:
        response = _call(client, output, inputs, state)
        if response.status_code == 200:
            return response.get_json()["response"]["t2-drill"]["data"]
    raise AssertionError("no drill callback answered")


def test_pivot_cells_totals_and_table_rows_drill(t2_app) -> None:
    ana = signed_in(t2_app, "ana")
    search = "?metrics=revenue&by=channel_group%2Cdevice&chart=pivot"
    meta = {"columns": ["desktop", "mobile", "tablet", "Total"], "metric": "revenue"}

    def cell(col: str, row: str) -> dict:
        return _drill_via(
            ana,
            t2_app,
            [("t2-pivot", "cellClicked", {"colId": col, "rowId": row, "value": 1})],
            [("t2-pivot-meta", "data", meta), ("t2-state", "data", search)],
        )

    assert cell("c1", "Email")["where"] == ["channel_group = Email", "device = mobile"]
    assert cell("c3", "Email")["where"] == ["channel_group = Email"]  # Total column
    assert cell("c0", "b-0")["where"] == ["device = desktop"]  # Total row
    assert cell("row", "Display")["where"] == ["channel_group = Display"]
    rows = [{"channel_group": "Direct", "orders": 3}, {"channel_group": "Email", "orders": 1}]
    drill = _drill_via(
        ana,
        t2_app,
        [("t2-table", "cellClicked", {"colId": "orders", "rowIndex": 1})],
        [
            ("t2-table", "virtualRowData", rows),
            ("t2-table", "rowData", rows),
            ("t2-state", "data", "?metrics=revenue%2Corders&by=channel_group"),
        ],
    )
    assert drill == {"metric": "orders", "where": ["channel_group = Email"], "notes": []}
    crafted = _drill_via(
        ana,
        t2_app,
        [("t2-graph", "clickData", {"points": [{"customdata": ["password", "x"]}]})],
        [("t2-state", "data", search)],
    )
    assert crafted == {"error": "'password' is not a metric of this exploration."}
