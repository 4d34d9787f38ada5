"""Anomalies on daily series: robust, aware of the weekly cycle.

Method (the README states it the same way):

1. **Expected value.** For each day, the median of the same weekday's values up to
   ``NEIGHBOUR_WEEKS`` weeks before and after it (the day itself excluded). Comparing a
   Tuesday with the Tuesdays around it removes the weekly cycle; a centred window follows
   trends and yearly seasonality. At least ``MIN_NEIGHBOURS`` such days are needed.
2. **Scale.** Residuals ``value − expected`` divided by the expected value (relative
   residuals, so a growing series keeps one scale); their spread is the median absolute
   deviation (MAD) of all relative residuals of the series, times 1.4826 (σ for normal
   data), floored at ``MIN_SCALE`` and, per day, at ``1/√expected`` (the counting noise of
   a small count: 2 instead of 1 expected is not news). Days of a count series expecting
   fewer than ``MIN_EXPECTED`` are not judged. Ratios (``counts=False``) skip both.
3. **Flag.** A day is an anomaly when its robust z-score ``|residual / scale|`` is at least
   ``Z_THRESHOLD`` **and** it is at least ``MIN_CHANGE`` away from the expected value (so a
   very smooth series does not flag a 3 % wobble). Missing days of a count series are 0.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from queries.analysis.changes import MAD_SCALE

NEIGHBOUR_WEEKS = 4  # same weekday, up to 4 weeks either side
MIN_NEIGHBOURS = 3
Z_THRESHOLD = 4.0  # robust z-score cut-off
MIN_CHANGE = 0.25  # and at least 25 % off the expected value
MIN_SCALE = 0.02  # relative spread floor (2 %)
MIN_EXPECTED = 10  # counts: fewer expected than this are too noisy to judge


@dataclass(frozen=True)
class DayAnomaly:
    """One flagged day of a series."""

    day: date
    value: float
    expected: float
    z: float

    @property
    def change(self) -> float | None:
        """Relative distance from the expected value."""
        return (self.value - self.expected) / abs(self.expected) if self.expected else None

    @property
    def direction(self) -> str:
        """ "high" or "low"."""
        return "high" if self.value > self.expected else "low"


def expected_values(days: Sequence[date], values: Sequence[float | None]) -> list[float | None]:
    """Each day's expected value: the median of the same weekday ±NEIGHBOUR_WEEKS weeks."""
    by_day = {d: v for d, v in zip(days, values, strict=True) if v is not None}
    out: list[float | None] = []
    for day in days:
        around = [
            by_day[other]
            for k in range(1, NEIGHBOUR_WEEKS + 1)
            for other in (day - timedelta(weeks=k), day + timedelta(weeks=k))
            if other in by_day
        ]
        out.append(statistics.median(around) if len(around) >= MIN_NEIGHBOURS else None)
    return out


def daily_anomalies(
    days: Sequence[date],
    values: Sequence[float | None],
    *,
    z_threshold: float = Z_THRESHOLD,
    min_change: float = MIN_CHANGE,
    counts: bool = True,
) -> list[DayAnomaly]:
    """The days of a daily series that stand out (see the module docstring for the rule)."""
    expected = expected_values(days, values)
    residuals: list[tuple[date, float, float, float]] = []
    for day, value, exp in zip(days, values, expected, strict=True):
        if value is None or exp is None or exp <= 0 or not math.isfinite(value):
            continue
        residuals.append((day, value, exp, (value - exp) / exp))
    if len(residuals) < 2 * MIN_NEIGHBOURS:
        return []
    rel = [r for *_, r in residuals]
    centre = statistics.median(rel)
    scale = max(MAD_SCALE * statistics.median(abs(r - centre) for r in rel), MIN_SCALE)
    found = []
    for day, value, exp, r in residuals:
        if counts and exp < MIN_EXPECTED:
            continue
        z = (r - centre) / (max(scale, 1 / math.sqrt(exp)) if counts else scale)
        if abs(z) >= z_threshold and abs(r) >= min_change:
            found.append(DayAnomaly(day, value, exp, z))
    return found
