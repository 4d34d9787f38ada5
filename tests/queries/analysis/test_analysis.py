"""Tier 0 rules: relative change, goal status at its boundaries, the robust anomaly flag."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from queries.analysis.changes import anomaly, change, goal_status


@pytest.mark.parametrize(
    ("current", "base", "expected"),
    [
        (110, 100, 0.10),
        (90, 100, -0.10),
        (100, 100, 0.0),
        (-50, -100, 0.5),  # a loss shrinking is an increase
        (None, 100, None),
        (100, None, None),
        (100, 0, None),
        (math.nan, 100, None),
        (100, math.nan, None),
        (Decimal("110"), Decimal("100"), 0.10),
    ],
)
def test_change_is_relative_and_none_without_a_base(current, base, expected) -> None:
    result = change(current, base)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


# --------------------------------------------------------------------------- goal status


@pytest.mark.parametrize(
    ("actual", "status"),
    [
        (100.0, "on_track"),  # exactly 100 %
        (120.0, "on_track"),
        (99.99, "at_risk"),  # just below 100 %
        (90.0, "at_risk"),  # exactly 90 %
        (89.99, "off_track"),  # just below 90 %
        (0.0, "off_track"),
    ],
)
def test_goal_status_direction_up_at_its_boundaries(actual: float, status: str) -> None:
    result = goal_status(actual, 100.0, elapsed_fraction=1.0, direction="up")
    assert result.status == status
    assert result.attainment == pytest.approx(actual / 100)
    assert result.projected == actual


def test_goal_status_boundaries_survive_float_noise() -> None:
    # 0.1 * 3 is 0.30000000000000004 and 0.9 * 1 is not exactly 0.9 * 1.0 in every path
    assert goal_status(0.1 * 3, 0.3, elapsed_fraction=1.0, direction="up").status == "on_track"
    assert goal_status(0.3 * 3, 1.0, elapsed_fraction=1.0, direction="up").status == "at_risk"
    assert goal_status(1.1 * 100, 100.0, elapsed_fraction=1.0, direction="down").status == "at_risk"


@pytest.mark.parametrize(
    ("actual", "status"),
    [
        (100.0, "on_track"),  # exactly at the ceiling
        (80.0, "on_track"),
        (100.01, "at_risk"),  # just above
        (110.0, "at_risk"),  # exactly 110 %
        (110.01, "off_track"),
    ],
)
def test_goal_status_direction_down_is_mirrored(actual: float, status: str) -> None:
    assert goal_status(actual, 100.0, elapsed_fraction=1.0, direction="down").status == status


@pytest.mark.parametrize(
    ("actual", "status"),
    [
        (100.0, "on_track"),
        (105.0, "on_track"),
        (95.0, "on_track"),
        (105.01, "at_risk"),
        (90.0, "at_risk"),
        (110.0, "at_risk"),
        (89.99, "off_track"),
        (110.01, "off_track"),
    ],
)
def test_goal_status_direction_none_is_a_target_band(actual: float, status: str) -> None:
    assert goal_status(actual, 100.0, elapsed_fraction=1.0, direction="none").status == status


def test_running_period_is_judged_on_its_projection() -> None:
    # half the month gone, half the goal reached: on track
    half = goal_status(50.0, 100.0, elapsed_fraction=0.5, direction="up")
    assert (half.status, half.projected, half.attainment) == ("on_track", 100.0, 0.5)
    assert half.projected_attainment == pytest.approx(1.0)
    # a third gone, 30 % reached: projected 90 %: at risk
    third = goal_status(30.0, 100.0, elapsed_fraction=1 / 3, direction="up")
    assert third.status == "at_risk" and third.projected == pytest.approx(90.0)
    # a cost: 60 of a 100 budget spent half way projects to 120: off track
    cost = goal_status(60.0, 100.0, elapsed_fraction=0.5, direction="down")
    assert (cost.status, cost.projected) == ("off_track", 120.0)


def test_ratios_are_not_projected() -> None:
    rate = goal_status(0.03, 0.03, elapsed_fraction=0.5, direction="up", accumulates=False)
    assert (rate.status, rate.projected) == ("on_track", 0.03)


def test_goal_status_without_goal_or_value() -> None:
    assert goal_status(50.0, None, elapsed_fraction=1.0, direction="up").status == "no_goal"
    assert goal_status(None, 100.0, elapsed_fraction=1.0, direction="up").status == "no_data"
    assert goal_status(math.nan, 100.0, elapsed_fraction=1.0, direction="up").status == "no_data"
    assert goal_status(None, 100.0, elapsed_fraction=1.0, direction="up").label == "no data"


def test_zero_goal_works_for_a_ceiling() -> None:
    zero = goal_status(0.0, 0.0, elapsed_fraction=1.0, direction="down")
    assert (zero.status, zero.attainment) == ("on_track", None)
    assert goal_status(1.0, 0.0, elapsed_fraction=1.0, direction="down").status == "off_track"


def test_goal_status_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="direction"):
        goal_status(1.0, 1.0, elapsed_fraction=1.0, direction="sideways")
    for fraction in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="elapsed_fraction"):
            goal_status(1.0, 1.0, elapsed_fraction=fraction, direction="up")


def test_status_labels_read_as_words() -> None:
    labels = {
        goal_status(a, 100.0, elapsed_fraction=1.0, direction="up").label
        for a in (100.0, 95.0, 10.0)
    }
    assert labels == {"on track", "at risk", "off track"}


# --------------------------------------------------------------------------- anomalies

STEADY = [100.0, 104.0, 98.0, 101.0, 97.0, 103.0, 99.0, 102.0]


def test_too_little_history_never_flags() -> None:
    assert anomaly(1_000_000.0, STEADY[:5]) is None
    assert anomaly(1_000_000.0, [*STEADY[:5], None, math.nan]) is None  # missing ones ignored
    assert anomaly(1_000_000.0, STEADY[:6]) is not None  # six are enough


def test_clear_outlier_is_flagged_with_expected_range_and_direction() -> None:
    high = anomaly(200.0, STEADY)
    assert high is not None
    assert high.direction == "above"
    assert high.median == pytest.approx(100.5)
    mad = 2.0  # |x - 100.5| has median 2.0
    assert high.low == pytest.approx(100.5 - 3.5 * 1.4826 * mad)
    assert high.high == pytest.approx(100.5 + 3.5 * 1.4826 * mad)
    assert high.score == pytest.approx((200.0 - 100.5) / (1.4826 * mad))
    low = anomaly(50.0, STEADY)
    assert low is not None and low.direction == "below"


def test_value_at_the_edge_of_the_range_is_not_flagged() -> None:
    edge = 100.5 + 3.5 * 1.4826 * 2.0
    assert anomaly(edge, STEADY) is None
    assert anomaly(edge + 0.01, STEADY) is not None
    assert anomaly(105.0, STEADY) is None


def test_one_extreme_period_in_history_does_not_hide_the_next() -> None:
    # a mean/stdev rule would be widened by the spike; median and MAD are not
    history = [*STEADY, 1000.0]
    assert anomaly(130.0, history) is not None


def test_flat_history_uses_a_ten_percent_band() -> None:
    flat = [50.0] * 8
    assert anomaly(50.0, flat) is None
    assert anomaly(55.0, flat) is None  # exactly 10 %: inside
    flagged = anomaly(55.5, flat)
    assert flagged is not None and (flagged.low, flagged.high) == (45.0, 55.0)
    assert flagged.score is None
    assert anomaly(44.0, flat).direction == "below"  # type: ignore[union-attr]


def test_missing_value_is_not_an_anomaly() -> None:
    assert anomaly(None, STEADY) is None
    assert anomaly(math.nan, STEADY) is None
