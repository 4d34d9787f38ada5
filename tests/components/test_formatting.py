"""Numbers as a tile shows them, and the tone of a change by the metric's direction."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from components.formatting import change_tone, format_change, format_value, tone_class


@pytest.mark.parametrize(
    ("value", "fmt", "text"),
    [
        (12_345_678, "currency", "$12.3M"),
        (845_000, "currency", "$845K"),
        (1_234, "currency", "$1,234"),  # below 10k: no compaction
        (9_999, "currency", "$9,999"),
        (10_000, "currency", "$10K"),
        (12.34, "currency", "$12.34"),
        (84.5, "currency", "$84.50"),
        (1_250_000, "currency", "$1.25M"),
        (2_500_000_000, "currency", "$2.5B"),
        (999_960, "currency", "$1M"),  # rounds up into the next unit
        (-1_500_000, "currency", "−$1.5M"),
        (0.0342, "percent", "3.4%"),
        (0.0345, "percent", "3.5%"),  # not 3.4 from 0.0345 * 100 = 3.4499…
        (1.0, "percent", "100.0%"),
        (-0.031, "percent", "−3.1%"),
        (12_300_000, "number", "12.3M"),
        (845_000, "number", "845K"),
        (1_234, "number", "1,234"),
        (3.21, "number", "3.21"),
        (0, "number", "0"),
        (125, "duration", "2m 05s"),
        (3_720, "duration", "1h 02m"),
        (45, "duration", "45s"),
        (4.25, "duration", "4.3s"),  # halves round up, as in a spreadsheet
        (59.97, "duration", "1m 00s"),
        (200_000, "duration", "2d 08h"),
        (Decimal("1234.5"), "currency", "$1,235"),
    ],
)
def test_format_value(value: object, fmt: str, text: str) -> None:
    assert format_value(value, fmt) == text


@pytest.mark.parametrize(
    ("value", "fmt", "text"),
    [
        (12_345_678, "currency", "$12,345,678"),
        (845_000, "number", "845,000"),
        (0.0342, "percent", "3.4%"),
    ],
)
def test_format_value_written_out(value: float, fmt: str, text: str) -> None:
    assert format_value(value, fmt, compact=False) == text


@pytest.mark.parametrize("missing", [None, math.nan, math.inf, "n/a"])
def test_missing_values_show_a_dash_never_zero(missing: object) -> None:
    for fmt in ("number", "currency", "percent", "duration"):
        assert format_value(missing, fmt) == "—"


@pytest.mark.parametrize(
    ("rel", "text"),
    [
        (0.042, "+4.2%"),
        (0.0425, "+4.3%"),
        (-0.031, "\u22123.1%"),  # a true minus sign
        (0.0, "0.0%"),
        (-0.00001, "0.0%"),
        (1.5, "+150.0%"),
        (None, "—"),
        (math.nan, "—"),
    ],
)
def test_format_change(rel: float | None, text: str) -> None:
    assert format_change(rel) == text


@pytest.mark.parametrize(
    ("rel", "direction", "tone"),
    [
        (0.05, "up", "good"),
        (-0.05, "up", "bad"),
        (-0.05, "down", "good"),  # a cost going down is good
        (0.05, "down", "bad"),
        (0.05, "none", "neutral"),
        (-0.05, "none", "neutral"),
        (0.004, "up", "neutral"),  # below 0.5 %: noise
        (-0.0049, "down", "neutral"),
        (0.005, "up", "good"),
        (None, "up", "neutral"),
    ],
)
def test_change_tone_follows_the_metric_direction(
    rel: float | None, direction: str, tone: str
) -> None:
    assert change_tone(rel, direction) == tone


def test_tone_classes() -> None:
    assert [tone_class(t) for t in ("good", "bad", "warn", "neutral", "odd")] == [
        "sb-good",
        "sb-bad",
        "sb-warn",
        "sb-neutral",
        "sb-neutral",
    ]
