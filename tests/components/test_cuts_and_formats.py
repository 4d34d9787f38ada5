"""Nothing hidden and numbers that read alike: truncation notes, "(none)" for a NULL
dimension value, one number of decimals per column or bar set, durations with a unit,
counts in whole units on the tree."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from components import figures, tier1
from components.formatting import (
    NONE_LABEL,
    column_decimals,
    cut_note,
    dimension_text,
    duration_scale,
    format_value,
    format_values,
    plural,
)
from components.tree import format_delta
from queries.boards import truncation
from queries.semantic.model import load_model
from queries.semantic.types import Metric
from tests.queries.semantic.test_model import only, problems_in, tiny_with

COUNT = Metric("flights", "Flights", "aggregate", fact="f", sql="count(*)")
DISTINCT = Metric("users", "Users", "aggregate", fact="f", sql="count(distinct user_id)")


# --------------------------------------------------------------------------- truncation


def _ranked(values: list[float | None], labels: list[object] | None = None) -> pd.DataFrame:
    labels = labels if labels is not None else [f"c{i:02d}" for i in range(len(values))]
    return pd.DataFrame({"carrier": labels, "flights": values})


def test_a_top_n_cut_counts_and_sizes_what_it_left_out() -> None:
    values = [float(100 - i) for i in range(15)]
    shown, cut = truncation.top_rows(_ranked(values), "flights", 12, COUNT, fetched=1000)
    assert list(shown["carrier"]) == [f"c{i:02d}" for i in range(12)]
    assert cut == truncation.Cut(3, False, sum(values[12:]))
    assert (
        cut_note(cut.hidden, "Carrier", size=cut.size, metric_label="Flights")
        == "3 more carriers (261 flights) not shown."
    )


def test_nothing_cut_is_no_note() -> None:
    shown, cut = truncation.top_rows(_ranked([3.0, 2.0, 1.0]), "flights", 12, COUNT)
    assert len(shown) == 3 and cut is None


def test_a_value_without_a_number_is_left_out_and_counted() -> None:
    shown, cut = truncation.top_rows(_ranked([3.0, None, 1.0]), "flights", 12, COUNT)
    assert list(shown["carrier"]) == ["c00", "c02"]
    assert cut == truncation.Cut(1, False, None, empty=1)  # no number to add up
    assert cut_note(1, "Carrier", empty=1, metric_label="Flights") == (
        "1 carrier with no flights not shown."
    )


def test_a_distinct_count_is_counted_not_summed() -> None:
    _, cut = truncation.top_rows(_ranked([5.0, 4.0, 3.0]), "flights", 2, DISTINCT)
    assert cut == truncation.Cut(1, False, None)  # users of two carriers may overlap


def test_a_fetch_that_hit_its_limit_is_a_lower_bound() -> None:
    frame = _ranked([float(50 - i) for i in range(20)])
    _, cut = truncation.top_rows(frame, "flights", 12, COUNT, fetched=20)
    assert cut == truncation.Cut(8, True, None)
    assert cut_note(8, "Carrier", at_least=True) == "at least 8 more carriers not shown."


def test_series_cut_keeps_a_null_group_and_counts_the_rest() -> None:
    frame = pd.DataFrame({"store": ["a", "a", None, None, "b", "c"], "events": [5, 5, 4, 4, 3, 1]})
    keep, cut = truncation.top_groups(frame, "store", "events", 2, COUNT)
    assert keep[0] == "a" and truncation.is_null(keep[1])
    assert cut == truncation.Cut(2, False, 4.0)
    assert len(truncation.rows_of(frame, "store", keep[1])) == 2


def test_plural_labels() -> None:
    assert [plural(w) for w in ("Carrier", "Country", "Channel group", "Class", "Floors")] == [
        "carriers",
        "countries",
        "channel groups",
        "classes",
        "floors",
    ]
    assert plural("ISO weekday") == "ISO weekdays"
    assert cut_note(1, "Country", size=12_345.6, fmt="currency", metric_label="Revenue") == (
        "1 more country ($12.3K revenue) not shown."
    )


# --------------------------------------------------------------------------- NULL values


@pytest.mark.parametrize("value", [None, float("nan"), pd.NaT, pd.NA])
def test_a_null_dimension_value_reads_none(value) -> None:
    assert dimension_text(value) == NONE_LABEL == truncation.NONE_LABEL == "(none)"
    assert truncation.label_of(value) == "(none)"


def test_null_bars_are_labelled_none_not_nan() -> None:
    bars = tier1.click_bars(["Delta", float("nan"), None], [3, 2, 1])
    assert list(bars.data[0].y) == ["Delta", "(none)", "(none)"]
    assert "nan" not in str(bars.to_plotly_json()).lower().replace("nanosecond", "")
    plain = figures.bar_chart(["Delta", None], [3, 2])
    assert list(plain.data[0].x) == ["Delta", "(none)"]


# --------------------------------------------------------------------------- decimals


def test_a_column_shares_one_number_of_decimals() -> None:
    assert format_values([1.5, 12.25, 3], "number") == ["1.50", "12.25", "3.00"]
    assert format_values([1234, 56, 7], "number") == ["1,234", "56", "7"]
    assert format_values([12.5, 1500], "currency") == ["$12.50", "$1,500.00"]
    assert format_values([2500, 1500], "currency") == ["$2,500", "$1,500"]
    assert format_values([None, -3.5, 2], "number") == ["—", "−3.50", "2.00"]
    # compacted, every value takes the largest one's unit and decimals
    assert format_values([12_345_678, 845_000, 1234, 0], "number") == [
        "12.3M",
        "0.8M",
        "<0.1M",
        "0.0M",
    ]
    assert format_values([0.5, 0.25], "percent") == ["50.0%", "25.0%"]
    assert column_decimals([0.0012, 0.034], "number") == 4


def test_bar_labels_share_their_decimals() -> None:
    fig = figures.bar_chart(["a", "b", "c"], [1.5, 12.25, 3.0])
    assert list(fig.data[0].text) == ["1.50", "12.25", "3.00"]
    bars = tier1.click_bars(["a", "b"], [0.5, 2.0])
    assert list(bars.data[0].text) == ["0.50", "2.00"]


def test_grid_columns_fix_their_decimals() -> None:
    grid = tier1.grid(
        [{"c": "x", "v": 1.5, "n": 3}, {"c": "y", "v": 2.25, "n": 4}],
        [("c", "C", None), ("v", "V", "number"), ("n", "N", "number")],
    )
    formatters = {d["field"]: d.get("valueFormatter", {}).get("function") for d in grid.columnDefs}
    assert "d3.format(',.2f')" in formatters["v"]
    assert "d3.format(',.0f')" in formatters["n"]


# --------------------------------------------------------------------------- durations


def test_duration_unit_scales_to_seconds() -> None:
    assert duration_scale("duration") == 1 and duration_scale("duration:minutes") == 60
    assert duration_scale("number") is None
    assert format_value(125, "duration") == "2m 05s"
    assert format_value(125, "duration:minutes") == "2h 05m"
    assert format_value(36, "duration:hours") == "1d 12h"
    axis = figures.value_axis("duration:minutes", [0, 300])  # 0 to 5 hours
    assert list(axis["ticktext"]) == [format_value(v, "duration:minutes") for v in axis["tickvals"]]
    assert axis["ticktext"][1].endswith("h 00m")
    grid = tier1.grid([{"m": 90}], [("m", "M", "duration:minutes")])
    assert grid.columnDefs[0]["valueFormatter"]["function"] == "sbDuration(params.value, 60)"


def test_metric_unit_loads_and_is_validated(tmp_path: Path) -> None:
    text = tiny_with("    format: currency\n", "    format: duration\n    unit: minutes\n")
    path = tmp_path / "model.yaml"
    path.write_text(text)
    sales = load_model(path).metrics["sales"]
    assert (sales.format, sales.unit, sales.value_format) == (
        "duration",
        "minutes",
        "duration:minutes",
    )
    plain = load_model(Path(__file__).parents[1] / "queries" / "models" / "tiny.yaml")
    assert all(m.value_format == m.format for m in plain.metrics.values())
    bad = tiny_with("    format: currency\n", "    format: duration\n    unit: fortnights\n")
    assert "'fortnights' is not one of seconds, minutes, hours, days" in (
        only(problems_in(tmp_path, bad), "metrics.sales.unit").message
    )
    stray = tiny_with("    format: currency\n", "    format: currency\n    unit: minutes\n")
    assert "applies only to `format: duration`" in (
        only(problems_in(tmp_path, stray), "metrics.sales.unit").message
    )


# --------------------------------------------------------------------------- the tree


def test_count_contributions_are_whole() -> None:
    assert format_delta(12.4, "number", whole=True) == "+12"
    assert format_delta(-12.5, "number", whole=True) == "−13"
    assert format_delta(12.4, "number") == "+12.4"
    assert format_delta(0.4, "number", whole=True) == "0"
    assert format_delta(1234.5, "currency", whole=True) == "+$1,235"  # only counts round


def test_explorer_grid_reads_none_and_fixes_decimals() -> None:
    from components.explore import result_grid

    frame = pd.DataFrame({"store": ["a", None], "events": [1.5, 2.25]})
    grid = result_grid(frame, [("store", "Store", None), ("events", "Events", "number")], "g")
    store, events = grid.columnDefs
    assert grid.rowData[1]["store"] is None  # the drill still sees a NULL
    assert store["valueFormatter"]["function"] == "params.value == null ? '(none)' : params.value"
    assert "d3.format(',.2f')" in events["valueFormatter"]["function"]
