"""The explorer's chart: metrics in different units are not read on one scale."""

from __future__ import annotations

import pandas as pd

from components.explore import chart

LABELS = {
    "device": "Device",
    "conversion_rate": "Conversion rate",
    "visitors": "Visitors",
    "buyers": "Buyers",
}
FORMATS = {"conversion_rate": "percent", "visitors": "number", "buyers": "number"}
FRAME = pd.DataFrame(
    {
        "device": ["desktop", "mobile"],
        "conversion_rate": [0.08, 0.04],
        "visitors": [7867, 8223],
        "buyers": [585, 318],
    }
)


def test_a_rate_beside_counts_gets_its_own_axis() -> None:
    fig, _ = chart(
        "bar", FRAME, ["device"], ["visitors", "buyers", "conversion_rate"], LABELS, FORMATS
    )
    assert [(t.name, t.yaxis) for t in fig.data] == [
        ("Visitors", "y"),
        ("Buyers", "y"),
        ("Conversion rate", "y2"),
    ]
    # each axis is labelled like its metric (figures.value_axis), the right-hand one too
    assert fig.layout.yaxis.separatethousands and fig.layout.yaxis.exponentformat == "B"
    assert fig.layout.yaxis2.tickformat == ".1~%"  # 4% to 8%: a decimal where it matters
    assert fig.layout.yaxis2.title.text == "Conversion rate"


def test_secondary_axis_ticks_read_like_the_metric() -> None:
    from components.formatting import format_value

    frame = FRAME.assign(spend=[1234.5, 98.0], handle=[5400.0, 900.0])
    labels = {**LABELS, "spend": "Spend", "handle": "Handling time"}
    money = chart(
        "bar", frame, ["device"], ["visitors", "spend"], labels, {**FORMATS, "spend": "currency"}
    )[0]
    assert money.layout.yaxis2.tickprefix == "$"
    timed = chart(
        "line", frame, ["device"], ["visitors", "handle"], labels, {**FORMATS, "handle": "duration"}
    )[0]
    ticks = timed.layout.yaxis2
    assert ticks.tickvals and list(ticks.ticktext) == [
        format_value(v, "duration") for v in ticks.tickvals
    ]
    assert max(ticks.tickvals) >= 5400  # the axis reaches the largest duration


def test_metrics_of_one_unit_share_the_axis() -> None:
    fig, _ = chart("line", FRAME, ["device"], ["visitors", "buyers"], LABELS, FORMATS)
    assert {t.yaxis for t in fig.data} == {"y"}
    assert "yaxis2" not in fig.to_plotly_json()["layout"]


def test_series_cut_says_how_many_and_how_much() -> None:
    days = [f"2026-01-0{d}" for d in (1, 2)]
    values = [f"v{i:02d}" for i in range(15)] + [None]
    frame = pd.DataFrame(
        [{"date": d, "store": v, "events": 100 - i} for i, v in enumerate(values) for d in days]
    )
    labels = {"date": "Date", "store": "Store", "events": "Events"}
    fig, note = chart(
        "line", frame, ["date", "store"], ["events"], labels, {"events": "number"}, {"events": True}
    )
    assert len(fig.data) == 12
    hidden = [100 - i for i in range(12, 16)]  # the 3 smallest stores and the NULL one
    assert (
        note
        == f"4 more stores ({2 * sum(hidden):,} events) not shown in the chart (the table has all)."
    )
    # a distinct count does not add up: the cut is counted, not sized
    _, note = chart("line", frame, ["date", "store"], ["events"], labels, {"events": "number"})
    assert note == "4 more stores not shown in the chart (the table has all)."


def test_a_null_category_reads_none_not_nan() -> None:
    frame = pd.DataFrame({"store": ["a", None], "events": [3, 2]})
    fig, _ = chart(
        "bar",
        frame,
        ["store"],
        ["events"],
        {"store": "Store", "events": "Events"},
        {"events": "number"},
    )
    assert list(fig.data[0].x) == ["a", "(none)"]
    assert fig.data[0].customdata[1][1] is None  # the drill still sees a NULL
