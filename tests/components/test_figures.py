"""The figure factory: one template, SVG traces only, capped points, formatted axes."""

from __future__ import annotations

from datetime import date, timedelta

import plotly.graph_objects as go
import plotly.io as pio
import pytest
from dash import dcc

from components import figures
from components.figures import (
    BAD,
    GOOD,
    MAX_POINTS,
    area_chart,
    bar_chart,
    graph,
    line_chart,
    sparkline,
)

WEEKS = [date(2026, 1, 5) + timedelta(weeks=i) for i in range(20)]
VALUES = [1000.0 * (i + 1) for i in range(20)]


def all_figures() -> list[go.Figure]:
    return [
        line_chart(WEEKS, VALUES, name="Revenue", fmt="currency"),
        line_chart(
            WEEKS,
            VALUES,
            name="Revenue",
            compare=(WEEKS, VALUES[::-1], "Last year"),
            goal=15000.0,
            fmt="currency",
        ),
        area_chart(WEEKS, VALUES, name="Orders"),
        bar_chart(["a", "b"], [1.0, 2.0]),
        sparkline(VALUES[:12], tone="good"),
    ]


def test_template_is_registered_with_the_house_font_and_palette() -> None:
    template = pio.templates["starboard"]
    assert "Segoe UI" in template.layout.font.family
    assert template.layout.paper_bgcolor == "#ffffff"
    assert template.layout.colorway[0] == figures.ACCENT
    assert template.layout.yaxis.showgrid is True  # value axis only
    assert template.layout.xaxis.showgrid is False
    assert (GOOD, BAD) == ("#1a7f4b", "#c53030")


def test_every_figure_uses_the_template_and_svg_traces_only() -> None:
    for fig in all_figures():
        assert fig.layout.template.layout.font.family == figures.FONT
        for trace in fig.data:
            assert trace.type in ("scatter", "bar")
            assert not isinstance(trace, go.Scattergl)
            assert "scattergl" not in fig.to_json()


@pytest.mark.parametrize(
    "factory",
    [
        lambda n: line_chart(range(n), [1.0] * n, name="x"),
        lambda n: line_chart(range(3), [1.0] * 3, name="x", compare=(range(n), [1.0] * n, "c")),
        lambda n: area_chart(range(n), [1.0] * n, name="x"),
        lambda n: bar_chart([str(i) for i in range(n)], [1.0] * n),
        lambda n: sparkline([1.0] * n),
    ],
)
def test_points_are_capped_aggregation_belongs_in_sql(factory) -> None:
    factory(MAX_POINTS)
    with pytest.raises(ValueError, match="aggregate in SQL"):
        factory(MAX_POINTS + 1)


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError):
        line_chart([1, 2, 3], [1.0, 2.0], name="x")
    with pytest.raises(ValueError):
        bar_chart(["a"], [1.0, 2.0])


def test_axis_formats_follow_the_metric_format() -> None:
    money = line_chart(WEEKS, VALUES, name="Revenue", fmt="currency")
    assert money.layout.yaxis.tickprefix == "$"
    rate = line_chart(WEEKS, [0.1 + i / 100 for i in range(20)], name="Rate", fmt="percent")
    assert rate.layout.yaxis.tickformat == ".0%"
    narrow = line_chart(WEEKS, [0.031 + i / 1000 for i in range(20)], name="Rate", fmt="percent")
    assert narrow.layout.yaxis.tickformat == ".1~%"  # 3.1 % … 5 %: one decimal
    time = line_chart(WEEKS, [60.0 * i for i in range(20)], name="Session", fmt="duration")
    assert "10m 00s" in time.layout.yaxis.ticktext


def test_hover_shows_values_formatted_like_the_tiles() -> None:
    fig = line_chart(WEEKS, [12_345_678.0] * 20, name="Revenue", fmt="currency")
    assert fig.data[-1].customdata[0] == "$12.3M"
    assert "Revenue" in fig.data[-1].hovertemplate


def test_line_compare_is_a_muted_dashed_series_under_the_main_one() -> None:
    fig = line_chart(
        WEEKS,
        VALUES,
        name="Revenue",
        compare=(WEEKS, VALUES, "Last year"),
        goal=15000.0,
        fmt="currency",
    )
    compare, main = fig.data
    assert (compare.name, main.name) == ("Last year", "Revenue")
    assert compare.line.color == figures.MUTED and compare.line.dash == "dash"
    assert main.line.color == figures.ACCENT
    assert fig.layout.showlegend is True
    goal = fig.layout.shapes[0]
    assert (goal.y0, goal.y1) == (15000.0, 15000.0)
    assert fig.layout.annotations[0].text == "Goal $15K"


def test_missing_values_are_gaps_not_zeros() -> None:
    fig = line_chart([1, 2, 3], [1.0, float("nan"), None], name="x")
    assert list(fig.data[0].y) == [1.0, None, None]


def test_bar_chart_goes_horizontal_for_long_labels_and_highlights() -> None:
    short = bar_chart(["DE", "FR", "US"], [3.0, 2.0, 1.0])
    assert short.data[0].orientation == "v"
    long = bar_chart(
        ["Paid search", "Email", "Organic"], [3.0, 2.0, 1.0], fmt="currency", highlight="Email"
    )
    bar = long.data[0]
    assert bar.orientation == "h"
    assert list(bar.y) == ["Paid search", "Email", "Organic"]
    assert long.layout.yaxis.autorange == "reversed"  # first category on top
    assert bar.marker.color[1] == figures.ACCENT and bar.marker.color[0] != figures.ACCENT
    assert list(bar.text) == ["$3.00", "$2.00", "$1.00"]
    assert long.layout.xaxis.tickprefix == "$"
    assert bar_chart(["a", "b"], [1.0, 2.0], horizontal=True).data[0].orientation == "h"


def test_area_chart_is_one_filled_series() -> None:
    fig = area_chart(WEEKS, VALUES, name="Orders")
    assert len(fig.data) == 1 and fig.data[0].fill == "tozeroy"


def test_sparkline_has_no_axes_and_takes_the_tone_colour() -> None:
    fig = sparkline([1.0, 2.0, None, 3.0], tone="bad")
    assert fig.layout.xaxis.visible is False and fig.layout.yaxis.visible is False
    line, last = fig.data
    assert line.line.color == BAD and last.marker.color == BAD
    assert list(last.y) == [3.0]
    assert sparkline([1.0, 2.0], tone="good").data[0].line.color == GOOD
    assert sparkline([1.0, 2.0]).data[0].line.color == figures.ACCENT


def test_graph_has_no_mode_bar_and_a_fixed_height() -> None:
    component = graph(line_chart(WEEKS, VALUES, name="x"), id_="t0-trend", height=240)
    assert isinstance(component, dcc.Graph)
    assert component.id == "t0-trend"
    assert component.config == {"displayModeBar": False, "responsive": True}
    assert component.style == {"height": "240px"}
    static = graph(sparkline([1.0, 2.0]), height=36, static=True)
    assert static.config["staticPlot"] is True
