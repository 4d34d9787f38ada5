"""BAN tiles: what a user reads on them, their colours, links, ids and the no-data state."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from dash import dcc, html

from components.ban import BanData, anomaly_note, ban_tile, tiles
from components.figures import BAD, GOOD

REVENUE = BanData(
    metric="revenue",
    label="Revenue",
    description="Net revenue of completed purchases.",
    fmt="currency",
    direction="up",
    value=12_345_678.0,
    previous=11_000_000.0,
    last_year=13_000_000.0,
    previous_label="September 2026",
    last_year_label="October 2025",
    goal=12_000_000.0,
    goal_status="on_track",
    attainment=12_345_678 / 12_000_000,
    projected=12_345_678.0,
    sparkline=tuple(float(v) for v in range(1, 13)),
    sparkline_labels=tuple(f"M{i}" for i in range(1, 13)),
    href="/tree/revenue",
)
CAC = BanData(
    metric="cac",
    label="CAC",
    fmt="currency",
    direction="down",
    value=40.0,
    previous=50.0,
    last_year=30.0,
    sparkline=(55.0, 52.0, 50.0, 40.0),
    href="/t1/marketing",
)


def walk(component: Any) -> Iterator[Any]:
    yield component
    children = getattr(component, "children", None)
    if children is None:
        return
    for child in children if isinstance(children, list | tuple) else [children]:
        yield from walk(child)


def texts(component: Any) -> list[str]:
    return [c for c in walk(component) if isinstance(c, str)]


def by_class(component: Any, name: str) -> list[Any]:
    return [c for c in walk(component) if name in (getattr(c, "className", None) or "").split()]


def one(component: Any, name: str) -> Any:
    found = by_class(component, name)
    assert len(found) == 1, f"{len(found)} elements with class {name}"
    return found[0]


def test_tile_shows_label_number_changes_and_goal_as_a_user_reads_them() -> None:
    tile = ban_tile(REVENUE)
    words = texts(tile)
    assert words[:2] == ["Revenue", "$12.3M"]
    assert "+12.2%" in words and "vs prev" in words
    assert "\u22125.0%" in words and "vs last year" in words
    assert "103% of $12M goal" in words
    assert "on track" in words


def test_description_and_exact_value_are_on_hover() -> None:
    tile = ban_tile(REVENUE)
    assert one(tile, "sb-ban-label").title == "Net revenue of completed purchases."
    value = one(tile, "sb-ban-value")
    assert value.title == "$12,345,678"
    chips = by_class(tile, "sb-chip")
    assert chips[0].title == "September 2026: $11M"
    assert chips[1].title == "October 2025: $13M"


def test_tile_is_a_link_with_a_stable_id_and_a_readable_value() -> None:
    tile = ban_tile(REVENUE)
    assert isinstance(tile, html.A)
    assert tile.href == "/tree/revenue"
    assert tile.id == {"type": "ban", "metric": "revenue"}
    value = one(tile, "sb-ban-value")
    props = value.to_plotly_json()["props"]
    assert props["data-value"] == "$12.3M"
    assert float(props["data-raw"]) == 12_345_678.0
    assert ban_tile(replace(REVENUE, key="revenue-2")).id == {"type": "ban", "metric": "revenue-2"}
    assert isinstance(ban_tile(replace(REVENUE, href=None)), html.Div)


def test_ban_colours_follow_metric_direction() -> None:
    up = by_class(ban_tile(REVENUE), "sb-chip")
    assert ["sb-good" in c.className for c in up] == [True, False]  # +12 % good
    assert ["sb-bad" in c.className for c in up] == [False, True]  # −5 % bad
    down = by_class(ban_tile(CAC), "sb-chip")
    # a cost going down (50 → 40) is good; up against last year (30 → 40) is bad
    assert "sb-good" in down[0].className and texts(down[0])[:2] == ["▼", "\u221220.0%"]
    assert "sb-bad" in down[1].className and texts(down[1])[:2] == ["▲", "+33.3%"]
    neutral = by_class(ban_tile(replace(CAC, direction="none")), "sb-chip")
    assert all("sb-neutral" in c.className for c in neutral)


def test_sparkline_is_small_static_and_coloured_by_the_change() -> None:
    spark = one(ban_tile(CAC), "sb-ban-spark")
    graph = spark.children
    assert isinstance(graph, dcc.Graph)
    assert graph.config["staticPlot"] is True and graph.style == {"height": "36px"}
    assert graph.figure.data[0].line.color == GOOD  # CAC fell
    rising = ban_tile(replace(CAC, value=60.0))
    assert one(rising, "sb-ban-spark").children.figure.data[0].line.color == BAD
    assert one(ban_tile(REVENUE), "sb-ban-spark").title == "M1 – M12: low $1.00, high $12.00"


def test_goal_progress_bar_and_status_colours() -> None:
    at_risk = ban_tile(
        replace(
            REVENUE,
            value=11_000_000.0,
            goal_status="at_risk",
            attainment=11 / 12,
            projected=11_400_000.0,
        )
    )
    bar = one(at_risk, "sb-progress-bar")
    assert bar.style == {"width": "92%"} and "sb-warn" in bar.className
    status = one(at_risk, "sb-status")
    assert texts(status) == ["at risk"] and "sb-warn" in status.className
    assert (
        "Projected by the end of the period: $11.4M (95% of goal)"
        in one(at_risk, "sb-ban-goal").title
    )
    over = ban_tile(replace(REVENUE, attainment=1.4))
    assert one(over, "sb-progress-bar").style == {"width": "100%"}  # capped
    off = ban_tile(replace(REVENUE, goal_status="off_track", attainment=0.5))
    assert "sb-bad" in one(off, "sb-status").className
    assert "sb-ban-off-track" in off.className


def test_no_goal_no_goal_block() -> None:
    assert by_class(ban_tile(CAC), "sb-ban-goal") == []


def test_anomaly_flag_shows_the_expected_range_on_hover() -> None:
    text = "Outside the expected range $9.1M – $11.2M"
    flag = one(ban_tile(replace(REVENUE, anomaly=text)), "sb-ban-anomaly")
    assert texts(flag) == ["⚠"] and flag.title == text
    assert by_class(ban_tile(REVENUE), "sb-ban-anomaly") == []


def test_no_data_state_says_why_and_shows_no_zero() -> None:
    empty = ban_tile(
        replace(REVENUE, value=None, no_data_reason="No purchases loaded for October 2026.")
    )
    words = texts(empty)
    assert "No data" in words and "No purchases loaded for October 2026." in words
    assert not any(w.startswith(("$0", "0")) for w in words)
    assert by_class(empty, "sb-chip") == [] and by_class(empty, "sb-ban-goal") == []
    assert "sb-ban-nodata" in empty.className
    assert one(empty, "sb-ban-value").to_plotly_json()["props"]["data-value"] == ""
    plain = texts(ban_tile(replace(REVENUE, value=float("nan"))))
    assert "No data for this period." in plain


def test_missing_comparison_shows_a_dash_and_says_why() -> None:
    chip = by_class(ban_tile(replace(REVENUE, last_year=None)), "sb-chip")[1]
    assert "—" in texts(chip) and "sb-neutral" in chip.className
    assert chip.title == "No value for October 2025"


def test_tiles_builds_a_grid() -> None:
    grid = tiles([REVENUE, CAC])
    assert grid.className == "sb-ban-grid"
    assert [t.id["metric"] for t in grid.children] == ["revenue", "cac"]


def test_anomaly_note_names_the_side_and_the_range() -> None:
    assert anomaly_note("above", 9_100_000.0, 11_200_000.0, "currency") == (
        "Above the expected range $9.1M – $11.2M (from the previous 12 periods)"
    )
    assert anomaly_note("below", 0.02, 0.03, "percent", periods=11).startswith(
        "Below the expected range 2.0% – 3.0%"
    )
