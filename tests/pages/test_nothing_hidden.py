"""Nothing hidden on the boards: a cut chart says what it left out (checked against SQL)
and links to the full list; every ignored part of a Tier 1 URL is a notice that stays on
the page; a NULL dimension value reads "(none)", never "nan"."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from components.formatting import format_value
from queries.explore.state import state_from_search
from tests.conftest import render, signed_in, texts
from tests.pages.test_t1 import APPLY_OUTPUT, _nodes, _sql

RANGE = "?from=2026-09-01&to=2026-09-30"
WIDE = ("2025-01-01", "2026-10-31")  # a channel's campaigns over the years: more than 12
SPAN = f"?from={WIDE[0]}&to={WIDE[1]}"


def _notes(page) -> list[dict]:
    return _nodes(page, lambda n: "sb-cut-note" in str(n.get("props", {}).get("className", "")))


def _text(node) -> str:
    children = node["props"]["children"]
    if isinstance(children, str):
        return children
    return "".join(c if isinstance(c, str) else "" for c in children).strip()


def _links(node) -> list[str]:
    return [n["props"]["href"] for n in _nodes(node, lambda n: n.get("type") == "Link")]


def _busiest_channel(app) -> tuple[str, str, int]:
    """(channel group, channel, campaigns) of the channel with the most campaigns spending
    over the whole of WIDE."""
    return _sql(
        app,
        f"""SELECT ch.channel_group, ch.channel, count(DISTINCT s.campaign_key)
        FROM fct_marketing_spend s JOIN dim_channel ch ON ch.channel_key = s.channel_key
        JOIN dim_date d ON d.date_key = s.date_key
        WHERE d.date BETWEEN '{WIDE[0]}' AND '{WIDE[1]}'
        GROUP BY 1, 2 ORDER BY 3 DESC, 2 LIMIT 1""",
    )[0]


def _spend_by_campaign(app, channel: str) -> list[tuple[str, float]]:
    return [
        (name, float(spend))
        for name, spend in _sql(
            app,
            f"""SELECT c.name, sum(s.spend) FROM fct_marketing_spend s
            JOIN dim_campaign c ON c.campaign_key = s.campaign_key
            JOIN dim_channel ch ON ch.channel_key = s.channel_key
            JOIN dim_date d ON d.date_key = s.date_key
            WHERE ch.channel = '{channel}' AND d.date BETWEEN '{WIDE[0]}' AND '{WIDE[1]}'
            GROUP BY 1 ORDER BY 2 DESC""",
        )
    ]


def _roas_campaigns(app, channel: str) -> tuple[int, int]:
    """Campaigns (NULL included) with revenue or spend on ``channel`` (ROAS is drill-across),
    and how many of them have both, so a ROAS."""
    both = _sql(
        app,
        f"""SELECT count(*) FROM (
            SELECT c.name FROM fct_marketing_spend s
            JOIN dim_campaign c ON c.campaign_key = s.campaign_key
            JOIN dim_channel ch ON ch.channel_key = s.channel_key
            JOIN dim_date d ON d.date_key = s.date_key
            WHERE ch.channel = '{channel}' AND d.date BETWEEN '{WIDE[0]}' AND '{WIDE[1]}'
            GROUP BY 1 HAVING sum(s.spend) <> 0
            INTERSECT
            SELECT c.name FROM fct_interaction i
            JOIN dim_campaign c ON c.campaign_key = i.campaign_key
            JOIN dim_channel ch ON ch.channel_key = i.channel_key
            WHERE ch.channel = '{channel}' AND i.interaction_type = 'purchase'
            AND i.occurred_at >= '{WIDE[0]}' AND i.occurred_at < DATE '{WIDE[1]}' + 1
            GROUP BY 1 HAVING sum(i.revenue) IS NOT NULL)""",
    )[0][0]
    return _sql(
        app,
        f"""SELECT count(*) FROM (
            SELECT c.name FROM fct_marketing_spend s
            JOIN dim_campaign c ON c.campaign_key = s.campaign_key
            JOIN dim_channel ch ON ch.channel_key = s.channel_key
            JOIN dim_date d ON d.date_key = s.date_key
            WHERE ch.channel = '{channel}' AND d.date BETWEEN '{WIDE[0]}' AND '{WIDE[1]}'
            UNION
            SELECT c.name FROM fct_interaction i
            LEFT JOIN dim_campaign c ON c.campaign_key = i.campaign_key
            JOIN dim_channel ch ON ch.channel_key = i.channel_key
            WHERE ch.channel = '{channel}' AND i.interaction_type = 'purchase'
            AND i.occurred_at >= '{WIDE[0]}' AND i.occurred_at < DATE '{WIDE[1]}' + 1)""",
    )[0][0], both


def test_cut_bars_and_stacks_say_what_they_left_out_as_sql_counts(demo_app) -> None:
    group, channel, campaigns = _busiest_channel(demo_app)
    spend = _spend_by_campaign(demo_app, channel)
    assert campaigns > 12 and len(spend) > 12, "the demo needs a channel with 13+ campaigns"
    search = f"{SPAN}&drill=channel_group:{group},channel:{channel}"
    page = render(signed_in(demo_app, "ana"), "/t1/channels", search)
    notes = {_text(n) for n in _notes(page)}
    # the stacked bars keep 6 series: the other campaigns are counted and their spend summed
    stacked = spend[6:]
    size = format_value(sum(v for _, v in stacked), "currency")
    assert f"{len(stacked)} more campaigns ({size} marketing spend) not shown." in notes, notes
    # ROAS is a ratio: the 12 bars' cut is counted, never summed
    total, with_roas = _roas_campaigns(demo_app, channel)
    assert with_roas >= 12
    assert (
        f"{total - 12} more campaigns not shown, {total - with_roas} of them with no return "
        "on ad spend." in notes
    ), notes


def test_the_full_list_link_opens_the_same_question_in_the_explorer(demo_app) -> None:
    group, channel, _ = _busiest_channel(demo_app)
    analyst = signed_in(demo_app, "ana")
    search = f"{SPAN}&drill=channel_group:{group},channel:{channel}"
    page = render(analyst, "/t1/channels", search)
    links = [href for n in _notes(page) for href in _links(n)]
    assert links, "an analyst gets a link to the full list"
    state = state_from_search(links[0].partition("?")[2])
    assert state.by == ("campaign",) and state.chart == "table"
    assert state.order and state.order[0].startswith("-")
    assert f"date between {WIDE[0]} and {WIDE[1]}" in state.where
    assert f"channel in ('{channel}')" in state.where
    explored = texts(render(analyst, "/t2/explore", "?" + links[0].partition("?")[2]))
    assert not any("unknown" in t.lower() for t in explored)
    # someone without the explorer reads the note without a link
    oscar = render(signed_in(demo_app, "oscar"), "/t1/channels", search)
    assert _notes(oscar) and not [h for n in _notes(oscar) for h in _links(n)]


def test_an_uncut_chart_has_no_note(demo_app) -> None:
    page = render(signed_in(demo_app, "ana"), "/t1/growth", RANGE)
    assert _notes(page) == []
    # the channels breakdown lists channel groups without spend (their other metrics come
    # from other facts): they have no bar, and the note says so
    page = render(signed_in(demo_app, "ana"), "/t1/channels", RANGE)
    with_spend = _sql(
        demo_app,
        """SELECT count(DISTINCT ch.channel_group) FROM fct_marketing_spend s
        JOIN dim_channel ch ON ch.channel_key = s.channel_key
        JOIN dim_date d ON d.date_key = s.date_key
        WHERE d.date BETWEEN '2026-09-01' AND '2026-09-30'""",
    )[0][0]
    card = _nodes(page, lambda n: n.get("props", {}).get("data-type") == "breakdown")[0]
    bars = [
        t
        for g in _nodes(card, lambda n: n.get("type") == "Graph")
        for t in g["props"]["figure"]["data"]
    ]
    table = _nodes(card, lambda n: n.get("type") == "Tbody")[0]["props"]["children"]
    assert len(bars[0]["y"]) == with_spend < len(table)
    without = len(table) - with_spend
    notes = {_text(n) for n in _notes(page)}
    assert (
        f"{without} channel groups with no marketing spend not shown in the bars; "
        "the table lists them." in notes
    ), notes
    # ROAS over no spend has no value: those bars are left out, and said to be
    assert any(n.endswith("channel groups with no return on ad spend not shown.") for n in notes)


# --------------------------------------------------------------------------- Tier 1 notices


@pytest.mark.parametrize(
    "search, notice",
    [
        ("?month=7", "“month” is not a filter of this board: ignored."),
        ("?from=2013-02-30", "“2013-02-30” is not a date"),
        ("?from=2026-09-01&to=2026-02-30", "“2026-02-30” is not a date"),
        (
            "?drill=device:mobile",
            "“device:mobile” is not a drill step of this board "
            "(device has no level below it to drill into): ignored.",
        ),
        ("?drill=planet:Mars", "(“planet” is not a dimension): ignored."),
        ("?drill=channel_group", "(a drill step is dimension:value): ignored."),
    ],
)
def test_every_ignored_url_part_is_named(demo_app, search: str, notice: str) -> None:
    page = render(signed_in(demo_app, "oscar"), "/t1/growth", search)
    assert any(notice in t for t in texts(page)), [t for t in texts(page) if "ignored" in t]


def _apply(client, search: str, trigger: str, start="2026-09-01", end="2026-09-30"):
    chart = {"dim": "channel_group", "index": 5, "type": "t1-chart"}
    fids = [{"dim": d, "type": "t1-filter"} for d in ("channel_group", "channel", "device")]
    body = {
        "output": APPLY_OUTPUT,
        "outputs": [
            {"id": "sb-url", "property": "search"},
            {"id": "t1-action-notice", "property": "children"},
        ],
        "inputs": [
            [{"id": i, "property": "value", "value": []} for i in fids],
            {"id": "t1-dates", "property": "start_date", "value": start},
            {"id": "t1-dates", "property": "end_date", "value": end},
            [{"id": chart, "property": "clickData", "value": None}],
        ],
        "state": [
            {"id": "sb-url", "property": "search", "value": search},
            {"id": "t1-board", "property": "data", "value": "channels"},
        ],
        "changedPropIds": [trigger],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code in (200, 204), response.data[:300]
    if response.status_code == 204:
        return None
    return response.get_json()["response"].get("sb-url", {}).get("search")


@pytest.mark.parametrize("extra", ["&month=7", "&drill=device:mobile", "&planet=Mars"])
def test_the_page_does_not_rewrite_an_ignored_part_away(demo_app, extra: str) -> None:
    """The browser's date picker reports its dates when the page is drawn: that must not
    replace the URL by the state understood (which would drop the notices unseen)."""
    oscar = signed_in(demo_app, "oscar")
    assert _apply(oscar, RANGE + extra, "t1-dates.start_date") is None
    # a real change still becomes a new URL, without the ignored part
    moved = _apply(oscar, RANGE + extra, "t1-dates.start_date", start="2026-09-02")
    assert moved is not None and parse_qs(moved.lstrip("?"))["from"] == ["2026-09-02"]
    assert extra.lstrip("&").partition("=")[0] not in parse_qs(moved.lstrip("?"))


def test_a_click_on_the_none_bar_says_why_it_does_not_filter(demo_app) -> None:
    oscar = signed_in(demo_app, "oscar")
    chart = {"dim": "channel_group", "index": 5, "type": "t1-chart"}
    fids = [{"dim": d, "type": "t1-filter"} for d in ("channel_group", "channel", "device")]
    cid = json.dumps(chart, separators=(",", ":"))
    body = {
        "output": APPLY_OUTPUT,
        "outputs": [
            {"id": "sb-url", "property": "search"},
            {"id": "t1-action-notice", "property": "children"},
        ],
        "inputs": [
            [{"id": i, "property": "value", "value": []} for i in fids],
            {"id": "t1-dates", "property": "start_date", "value": "2026-09-01"},
            {"id": "t1-dates", "property": "end_date", "value": "2026-09-30"},
            [{"id": chart, "property": "clickData", "value": {"points": [{"y": "(none)"}]}}],
        ],
        "state": [
            {"id": "sb-url", "property": "search", "value": RANGE},
            {"id": "t1-board", "property": "data", "value": "channels"},
        ],
        "changedPropIds": [f"{cid}.clickData"],
    }
    answer = oscar.post("/_dash-update-component", json=body).get_json()["response"]
    assert "stands for rows without a channel group" in answer["t1-action-notice"]["children"]


def _registered_paths() -> list[str]:
    import dash

    return [p["path"] for p in dash.page_registry.values()]


def test_what_stands_out_says_how_many_more_days_it_left_out(demo_app) -> None:
    from datetime import date

    import plotly

    from queries.analysis.anomalies import DayAnomaly
    from queries.boards import tier1
    from tests.fixtures.t2 import page_module

    # the module Dash registered (importing pages.t1 again would register it twice)
    page = next(page_module(p) for p in _registered_paths() if p.startswith("/t1"))

    flagged = DayAnomaly(date(2026, 9, 1), 10.0, 30.0, -5.0)
    items = tuple(tier1.StandOut("Visitors", "mobile", flagged, "number") for _ in range(11))
    view = tier1.Tier1View(
        None,  # type: ignore[arg-type]  # the panel reads only its anomalies
        tier1.State(date(2026, 9, 1), date(2026, 9, 30)),
        date(2026, 9, 30),
        (),
        stand_out=items,
    )
    section = json.loads(json.dumps(page._stand_out(view), cls=plotly.utils.PlotlyJSONEncoder))
    shown = _nodes(section, lambda n: n.get("props", {}).get("id") == "t1-standout-cut")
    assert shown[0]["props"]["children"] == "3 more days stand out (smaller deviations) not shown."
    assert len(_nodes(section, lambda n: n.get("type") == "Li")) == page.STAND_OUT_LIMIT
