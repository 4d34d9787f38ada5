"""Small, pure analysis rules behind the Tier 0 tiles: change, goal status, anomaly flag.

Each rule is stated in its docstring exactly as the README states it, so the two cannot
drift apart unnoticed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

DIRECTIONS = ("up", "down", "none")

# Goal status thresholds (see goal_status).
AT_RISK_BAND = 0.10  # within 10 % of the goal on the wrong side: at risk
TARGET_ON_TRACK_BAND = 0.05  # direction none: within ±5 % of the goal: on track

# Anomaly rule constants (see anomaly).
MIN_HISTORY = 6
MAD_SCALE = 1.4826  # makes the MAD a consistent estimator of σ for normal data
MAD_THRESHOLD = 3.5  # Iglewicz & Hoaglin's cut-off for the modified z-score
FLAT_TOLERANCE = 0.10  # MAD = 0: flag only beyond ±10 % of the median

_EPS = 1e-9

STATUS_LABELS = {
    "on_track": "on track",
    "at_risk": "at risk",
    "off_track": "off track",
    "no_goal": "no goal",
    "no_data": "no data",
}


def finite(value: object) -> float | None:
    """A finite float, or None for None, NaN, infinities, pandas.NA and non-numbers."""
    if value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]  # Decimal, numpy, int all convert
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def change(current: float | None, base: float | None) -> float | None:
    """Relative change ``(current − base) / |base|``; None when either is missing or base is 0."""
    cur, ref = finite(current), finite(base)
    if cur is None or ref is None or ref == 0:
        return None
    return (cur - ref) / abs(ref)


@dataclass(frozen=True)
class GoalStatus:
    """Where a metric stands against its goal for one period."""

    status: str  # on_track | at_risk | off_track | no_goal | no_data
    actual: float | None
    goal: float | None
    attainment: float | None  # actual / goal (None when goal is missing or 0)
    projected: float | None  # projected end-of-period value
    projected_attainment: float | None  # projected / goal

    @property
    def label(self) -> str:
        """The status as a user reads it: "on track", "at risk", "off track"."""
        return STATUS_LABELS[self.status]


def _ratio(value: float, goal: float) -> float | None:
    return value / goal if goal != 0 else None


def goal_status(
    actual: float | None,
    goal: float | None,
    *,
    elapsed_fraction: float,
    direction: str,
    accumulates: bool = True,
) -> GoalStatus:
    """Goal status of a period from its value so far and the share of it that has elapsed.

    Rule: the projected end-of-period value is the value so far divided by the elapsed
    fraction of the period (a complete period: the value itself; a ratio or average, which
    does not grow with time, ``accumulates=False``: the value itself). Then, for a metric
    whose direction is *up* (the goal is a floor), the status is **on track** when the
    projection is at least 100 % of the goal, **at risk** when it is at least 90 %, and
    **off track** below that. For direction *down* (the goal is a ceiling) the rule is
    mirrored: on track at or below 100 % of the goal, at risk up to 110 %, off track above.
    For direction *none* (the goal is a target) it is on track within ±5 % of the goal, at
    risk within ±10 %, off track beyond. The bands are measured on |goal|, so a goal of 0
    or a negative goal works too. No goal: ``no_goal``; no value: ``no_data``.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction '{direction}': use up, down or none")
    if not 0 < elapsed_fraction <= 1:
        raise ValueError(f"elapsed_fraction must be in (0, 1], got {elapsed_fraction}")
    actual, goal = finite(actual), finite(goal)
    if goal is None:
        return GoalStatus("no_goal", actual, None, None, None, None)
    if actual is None:
        return GoalStatus("no_data", None, goal, None, None, None)
    projected = actual / elapsed_fraction if accumulates else actual
    band = AT_RISK_BAND * abs(goal)
    tol = _EPS * max(1.0, abs(goal))  # exact boundaries must not fall to float noise
    if direction == "up":
        status = (
            "on_track"
            if projected >= goal - tol
            else "at_risk"
            if projected >= goal - band - tol
            else "off_track"
        )
    elif direction == "down":
        status = (
            "on_track"
            if projected <= goal + tol
            else "at_risk"
            if projected <= goal + band + tol
            else "off_track"
        )
    else:
        off = abs(projected - goal)
        status = (
            "on_track"
            if off <= TARGET_ON_TRACK_BAND * abs(goal) + tol
            else "at_risk"
            if off <= band + tol
            else "off_track"
        )
    return GoalStatus(
        status, actual, goal, _ratio(actual, goal), projected, _ratio(projected, goal)
    )


@dataclass(frozen=True)
class Anomaly:
    """A value outside the range its history leads one to expect."""

    value: float
    median: float
    low: float  # expected range, inclusive
    high: float
    direction: str  # above | below
    score: float | None  # robust z-score (None when the MAD is 0)


def anomaly(value: float | None, history: Sequence[float | None]) -> Anomaly | None:
    """Flag ``value`` when it lies outside the range expected from ``history``; else None.

    Rule: take the previous periods' values (missing ones are ignored; at least 6 are
    needed, otherwise nothing is flagged), their median and their median absolute deviation
    (MAD). The expected range is the median ± 3.5 × 1.4826 × MAD, i.e. a robust z-score of
    3.5, which one or two extreme periods in the history cannot widen. When the MAD is 0
    (a flat history) the expected range is the median ± 10 % of the median. A value outside
    the expected range is flagged as above or below it.
    """
    value = finite(value)
    if value is None:
        return None
    points = [x for x in map(finite, history) if x is not None]
    if len(points) < MIN_HISTORY:
        return None
    median = statistics.median(points)
    mad = statistics.median(abs(x - median) for x in points)
    if mad > 0:
        half_width = MAD_THRESHOLD * MAD_SCALE * mad
        score: float | None = (value - median) / (MAD_SCALE * mad)
    else:
        half_width = FLAT_TOLERANCE * abs(median)
        score = None
    low, high = median - half_width, median + half_width
    if low <= value <= high:
        return None
    return Anomaly(value, median, low, high, "above" if value > high else "below", score)
