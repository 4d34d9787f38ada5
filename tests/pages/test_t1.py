"""/t1/<board>: funnel and cohort numbers equal direct SQL, scoped filter options, bad URL
values become notices, clicks and filter changes become URLs."""

from __future__ import annotations

import json

import pytest

from components.formatting import format_value
from tests.conftest import render, signed_in, texts

RANGE = "?from=2026-09-01&to=2026-09-30"
APPLY_OUTPUT = "..sb-url.search...t1-action-notice.children.."
OPTIONS_OUTPUT = '..{"dim":["ALL"],"type":"t1-filter"}.options...t1-options-notice.children..'


def options_body(ids: list, board: object = "growth", values: object = None) -> dict:
    """The filter-options callback as the page posts it (``ids``: the filters' ids)."""
    values = [[] for _ in ids] if values is None else values
    return {
        "output": OPTIONS_OUTPUT,
        "outputs": [
            [{"id": i, "property": "options"} for i in ids],
            {"id": "t1-options-notice", "property": "children"},
        ],
        "inputs": [{"id": "t1-board", "property": "data", "value": board}],
        "state": [
            [{"id": i, "property": "id", "value": i} for i in ids],
            [{"id": i, "property": "value", "value": v} for i, v in zip(ids, values, strict=True)],
        ],
        "changedPropIds": ["t1-board.data"],
    }


@pytest.fixture
def oscar(demo_app):
    return signed_in(demo_app, "oscar")


def _sql(app, sql: str):
    engine = app.server.extensions["starboard"].warehouse.snapshot().engine
    with engine.connect() as conn:
        return conn.exec_driver_sql(sql).all()


def _nodes(component, predicate) -> list[dict]:
    found = []

    def walk(node):
        if isinstance(node, list):
            for child in node:
                walk(child)
        elif isinstance(node, dict):
            if predicate(node):
                found.append(node)
            props = node.get("props", {})
            walk(props.get("children"))

    walk(component)
    return found


def _figures(page, trace_type: str) -> list[dict]:
    graphs = _nodes(page, lambda n: n.get("type") == "Graph")
    return [t for g in graphs for t in g["props"]["figure"]["data"] if t.get("type") == trace_type]


def test_funnel_steps_and_conversion_equal_sql(demo_app, oscar) -> None:
    page = render(oscar, "/t1/growth", RANGE + "&device=mobile")
    funnel = _figures(page, "funnel")[0]
    expected = []
    for kind in ("visit", "product_view", "add_to_cart", "purchase"):
        expected.append(
            _sql(
                demo_app,
                f"""SELECT count(DISTINCT user_key) FROM fct_interaction
            WHERE interaction_type = '{kind}' AND device = 'mobile'
            AND occurred_at >= '2026-09-01' AND occurred_at < '2026-10-01'""",
            )[0][0]
        )
    assert funnel["y"] == ["Visitors", "Product viewers", "Cart adders", "Buyers"]
    assert funnel["x"] == expected
    overall = _nodes(page, lambda n: n.get("props", {}).get("id") == "t1-funnel-overall")[0]
    assert float(overall["props"]["data-raw"]) == pytest.approx(expected[-1] / expected[0])
    step = format_value(expected[1] / expected[0], "percent")
    assert funnel["text"][1] == f"{format_value(expected[1], 'number')} · {step} of previous"
    assert "of first" in funnel["customdata"][2]


def test_cohort_shares_equal_sql(demo_app, oscar) -> None:
    page = render(oscar, "/t1/growth", RANGE)
    heat = _figures(page, "heatmap")[0]
    rows = _sql(
        demo_app,
        """
        WITH c AS (SELECT user_key, date_trunc('month', signup_date) AS m FROM dim_user
                   WHERE signup_date >= '2025-10-01' AND signup_date < '2026-10-01'),
             a AS (SELECT DISTINCT f.user_key, date_trunc('month', f.occurred_at) AS am
                   FROM fct_interaction f WHERE f.interaction_type <> 'email_sent'
                   AND f.occurred_at >= '2025-10-01' AND f.occurred_at < '2026-10-01')
        SELECT strftime(c.m, '%b %Y'),
               count(DISTINCT a.user_key) FILTER (WHERE a.am = c.m + INTERVAL 1 MONTH)
                 * 1.0 / count(DISTINCT c.user_key)
        FROM c LEFT JOIN a ON a.user_key = c.user_key GROUP BY c.m ORDER BY c.m""",
    )
    shown = {label.split(" (")[0]: row for label, row in zip(heat["y"], heat["z"], strict=True)}
    month1 = heat["x"].index("1")
    checked = 0
    for label, share in rows[:-1]:  # the last cohort has no month 1 yet
        assert shown[label][month1] == pytest.approx(float(share)), label
        checked += 1
    assert checked >= 10


def test_scoped_user_sees_only_their_values_in_filter_options(demo_app) -> None:
    emea = signed_in(demo_app, "emea")
    ids = [{"dim": d, "type": "t1-filter"} for d in ("channel_group", "country", "device")]
    body = options_body(ids)
    response = emea.post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.data[:300]
    options = response.get_json()["response"]
    countries = {
        o["value"] for o in next(iter(v["options"] for k, v in options.items() if '"country"' in k))
    }
    emea_countries = {
        r[0] for r in _sql(demo_app, "SELECT DISTINCT country FROM dim_user WHERE region = 'EMEA'")
    }
    assert countries and countries <= emea_countries
    page = render(emea, "/t1/growth", RANGE + "&country=US")
    assert "“US” is not a country you can filter by: ignored." in texts(page)


@pytest.mark.parametrize(
    "search, notice",
    [
        ("?from=2026-09-01&to=2026-09-30&planet=Mars", "“planet” is not a filter of this board"),
        (
            "?from=2026-09-01&to=2026-09-30&device=mobile'%3B%20DROP%20TABLE%20dim_user%3B--",
            "is not a device you can filter by: ignored.",
        ),
        ("?from=2026-02-31&to=2026-09-30", "“2026-02-31” is not a date"),
        ("?drill=product:Foo", "“product:Foo” is not a drill step of this board"),
    ],
)
def test_bad_url_values_are_a_notice_not_a_crash(oscar, search: str, notice: str) -> None:
    page = render(oscar, "/t1/growth", search)
    assert any(notice in t for t in texts(page)), texts(page)[:40]
    assert "Funnel" in texts(page)


def test_filters_narrow_the_numbers_and_drill_shows_the_next_level(demo_app, oscar) -> None:
    page = render(oscar, "/t1/channels", RANGE + "&drill=channel_group:Paid%20Search")
    bars = _figures(page, "bar")
    roas = [b for b in bars if b.get("orientation") == "h"]
    channels = {
        r[0]
        for r in _sql(
            demo_app, "SELECT channel FROM dim_channel WHERE channel_group = 'Paid Search'"
        )
    }
    assert roas and set(roas[-1]["y"]) <= channels
    assert "Channel group: Paid Search" in texts(page)
    assert "All channel group values" in texts(page)


def _callback(client, body: dict):
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code in (200, 204), response.data[:300]
    return (
        response.get_json()["response"].get("sb-url", {}).get("search")
        if response.status_code == 200
        else None
    )


def _apply_body(search: str, trigger: str, *, filters=None, click=None) -> dict:
    filters = filters or {}
    chart = {"dim": "channel_group", "index": 5, "type": "t1-chart"}
    fids = [{"dim": d, "type": "t1-filter"} for d in ("channel_group", "channel", "device")]
    return {
        "output": APPLY_OUTPUT,
        "outputs": [
            {"id": "sb-url", "property": "search"},
            {"id": "t1-action-notice", "property": "children"},
        ],
        "inputs": [
            [{"id": i, "property": "value", "value": filters.get(i["dim"], [])} for i in fids],
            {"id": "t1-dates", "property": "start_date", "value": "2026-09-01"},
            {"id": "t1-dates", "property": "end_date", "value": "2026-09-30"},
            [{"id": chart, "property": "clickData", "value": click}],
        ],
        "state": [
            {"id": "sb-url", "property": "search", "value": search},
            {"id": "t1-board", "property": "data", "value": "channels"},
        ],
        "changedPropIds": [trigger],
    }


def test_filter_change_and_bar_click_become_urls(oscar) -> None:
    fid = json.dumps({"dim": "device", "type": "t1-filter"}, separators=(",", ":"))
    search = _callback(
        oscar, _apply_body(RANGE, f"{fid}.value", filters={"device": ["mobile", "tablet"]})
    )
    assert search == RANGE + "&device=mobile,tablet"
    cid = json.dumps(
        {"dim": "channel_group", "index": 5, "type": "t1-chart"}, separators=(",", ":")
    )
    click = {"points": [{"y": "Email", "x": 3.2, "customdata": ["Email", "3.2"]}]}
    search = _callback(oscar, _apply_body(search, f"{cid}.clickData", click=click))
    assert search == RANGE + "&device=mobile,tablet&drill=channel_group:Email"


def _explore_links(page) -> list[str]:
    return [
        n["props"]["href"]
        for n in _nodes(page, lambda n: n.get("props", {}).get("className") == "sb-t1-explore")
    ]


def test_charts_open_in_the_explorer_with_the_boards_dates_and_filters(demo_app) -> None:
    from queries.explore.state import state_from_search

    page = render(signed_in(demo_app, "ana"), "/t1/growth", RANGE + "&device=mobile")
    links = _explore_links(page)
    assert links, "an analyst gets an Explore link on the charts"
    states = [state_from_search(link.partition("?")[2]) for link in links]
    for state in states:
        assert "date between 2026-09-01 and 2026-09-30" in state.where
        assert "device in ('mobile')" in state.where
    assert any(s.by and s.by[0] == "date" and s.chart == "line" for s in states)
    # the link opens a working exploration of the same numbers
    explored = texts(
        render(signed_in(demo_app, "ana"), "/t2/explore", "?" + links[0].partition("?")[2])
    )
    assert "Explore" in explored and not any("unknown" in t.lower() for t in explored)


def test_no_explore_link_for_a_role_without_tier2(oscar) -> None:
    assert _explore_links(render(oscar, "/t1/growth", RANGE)) == []
