"""The boards on the second schema, whose foreign keys may be NULL (events without an agent
or a store): a NULL dimension value reads "(none)" on Tier 0 and Tier 1 charts and tables
(never "nan"), the cut it may fall into is counted as SQL counts it, and a metric in
minutes (`format: duration`, `unit: minutes`) reads in hours and minutes."""

from __future__ import annotations

import json

import pytest

from components.formatting import format_value
from tests.conftest import render, texts
from tests.pages.support_app import signed_in_admin, support_app
from tests.pages.test_t1 import _nodes

BOARDS = """
boards:
  desk:
    tier: 0
    title: Support desk
    period: month
    sections:
      - title: Volume
        bans: [events, handle_minutes]
        charts:
          - {type: bar, metric: events, by: agent}
  desk_ops:
    tier: 1
    title: Desk operations
    filters: [channel, team]
    sections:
      - title: Work
        charts:
          - {type: table, metrics: [events, handle_minutes], by: store}
          - {type: bar, metric: events, by: agent}
          - {type: breakdown, metric: handle_minutes, by: store}
          - {type: line, metric: events, by: agent}
"""
T1 = "?from=2026-02-01&to=2026-03-31"


@pytest.fixture(scope="module")
def null_app(tmp_path_factory: pytest.TempPathFactory):
    app = support_app(tmp_path_factory.mktemp("nulls"), BOARDS)
    yield app
    app.server.extensions["starboard"].warehouse.dispose()


@pytest.fixture(scope="module")
def ada(null_app):
    return signed_in_admin(null_app)


def _sql(app, sql: str):
    engine = app.server.extensions["starboard"].warehouse.snapshot().engine
    with engine.connect() as conn:
        return conn.exec_driver_sql(sql).all()


def _events_by_agent(app, first: str, last: str) -> list[tuple[str | None, int]]:
    return _sql(
        app,
        f"""SELECT a.agent_name, count(*) FROM f_ticket_event e
        JOIN d_calendar c ON c.cal_key = e.event_cal_key
        LEFT JOIN d_agent a ON a.agent_no = e.agent_no
        WHERE c.cal_date BETWEEN DATE '{first}' AND DATE '{last}'
        GROUP BY 1 ORDER BY 2 DESC, 1""",
    )


def _cut_notes(page) -> list[str]:
    found = _nodes(page, lambda n: "sb-cut-note" in str(n.get("props", {}).get("className", "")))
    out = []
    for node in found:
        children = node["props"]["children"]
        out.append(children if isinstance(children, str) else children[0])
    return out


def test_tier1_table_reads_none_for_a_null_store(null_app, ada) -> None:
    page = render(ada, "/t1/desk_ops", T1)
    drawn = json.dumps(page)
    grids = _nodes(page, lambda n: n.get("type") == "AgGrid")
    stores = [row["store"] for row in grids[0]["props"]["rowData"]]
    assert "(none)" in stores and not any(s in (None, "nan", "None") for s in stores)
    breakdown = _nodes(page, lambda n: n.get("type") == "Table")
    cells = [
        td["props"]["children"]
        for tr in _nodes(breakdown, lambda n: n.get("type") == "Tr")
        for td in tr["props"]["children"]
        if isinstance(td, dict) and td.get("type") == "Td"
    ]
    assert "(none)" in cells
    assert '"nan"' not in drawn and ">nan<" not in drawn and "'nan'" not in drawn
    assert "nan" not in [t.lower() for t in texts(page)]


def test_tier1_bars_and_lines_count_the_null_agent_and_say_what_they_cut(null_app, ada) -> None:
    page = render(ada, "/t1/desk_ops", T1)
    rows = _events_by_agent(null_app, "2026-02-01", "2026-03-31")
    assert len(rows) == 13 and any(name is None for name, _ in rows)  # 12 agents + none
    bars = [
        t
        for g in _nodes(page, lambda n: n.get("type") == "Graph")
        for t in g["props"]["figure"]["data"]
        if t.get("type") == "bar" and t.get("orientation") == "h"
    ]
    labels = [("(none)" if name is None else name) for name, _ in rows]
    assert list(bars[0]["y"]) == labels[:12]
    notes = _cut_notes(page)
    hidden = rows[12:]
    assert f"1 more agent ({hidden[0][1]:,} ticket events) not shown." in notes, notes
    lines = [
        t["name"]
        for g in _nodes(page, lambda n: n.get("type") == "Graph")
        for t in g["props"]["figure"]["data"]
        if t.get("type") == "scatter" and t.get("mode") != "markers"
    ]
    assert lines == labels[:6]  # the 6 largest series, the NULL agent among them if large
    size = sum(n for _, n in rows[6:])
    assert f"7 more agents ({format_value(size, 'number')} ticket events) not shown." in notes


def test_tier0_bar_reads_none_and_counts_its_cut(null_app, ada) -> None:
    page = render(ada, "/t0/desk", "?period=2026-03")
    rows = _events_by_agent(null_app, "2026-03-01", "2026-03-31")
    bars = [
        t
        for g in _nodes(page, lambda n: n.get("type") == "Graph")
        for t in g["props"]["figure"]["data"]
        if t.get("type") == "bar"
    ]
    shown = list(bars[0]["y"] if bars[0].get("orientation") == "h" else bars[0]["x"])
    assert shown == [("(none)" if name is None else name) for name, _ in rows][:12]
    assert "nan" not in [s.lower() for s in shown]
    hidden = rows[12:]
    assert hidden, "March has 12 agents and events without one: 13 bars, one cut"
    total = sum(n for _, n in hidden)
    noun = "agent" if len(hidden) == 1 else "agents"
    assert _cut_notes(page) == [f"{len(hidden)} more {noun} ({total:,} ticket events) not shown."]


def test_a_duration_in_minutes_reads_in_hours(null_app, ada) -> None:
    minutes = _sql(
        null_app,
        """SELECT sum(minutes_spent) FROM f_ticket_event e
        JOIN d_calendar c ON c.cal_key = e.event_cal_key
        WHERE c.cal_date BETWEEN DATE '2026-03-01' AND DATE '2026-03-31'""",
    )[0][0]
    page = render(ada, "/t0/desk", "?period=2026-03")
    expected = format_value(minutes * 60, "duration")  # the same time, in seconds
    assert expected.endswith("h") or "h " in expected
    assert expected in texts(page), (expected, texts(page)[:40])
    grid = _nodes(render(ada, "/t1/desk_ops", T1), lambda n: n.get("type") == "AgGrid")[0]
    formatter = {c["field"]: c.get("valueFormatter") for c in grid["props"]["columnDefs"]}
    assert formatter["handle_minutes"] == {"function": "sbDuration(params.value, 60)"}


def test_tier0_cut_links_to_the_full_list_for_the_period(ada) -> None:
    from queries.explore.state import state_from_search

    page = render(ada, "/t0/desk", "?period=2026-03")
    notes = _nodes(page, lambda n: "sb-cut-note" in str(n.get("props", {}).get("className", "")))
    links = [n["props"]["href"] for n in _nodes(notes, lambda n: n.get("type") == "Link")]
    assert len(links) == 1
    state = state_from_search(links[0].partition("?")[2])
    assert (state.metrics, state.by, state.order) == (("events",), ("agent",), ("-events",))
    assert state.where == ("period between 2026-03-01 and 2026-03-31",)
    full = texts(render(ada, "/t2/explore", "?" + links[0].partition("?")[2]))
    assert not any("unknown" in t.lower() or "invalid" in t.lower() for t in full)
