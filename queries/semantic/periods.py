"""Calendar windows for boards: parse the URL's period, step it, find the default.

A board has one grain (day, week, month, quarter or year). Everything here is relative to
the data's last loaded day (``latest``), never to the wall clock: a board shows the last
period the data covers completely unless the URL asks for another one.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from queries.semantic.inputs import EARLIEST_DAY
from queries.semantic.types import GRAINS

# Before this day a period is refused: its history (12 periods and last year) would leave
# the calendar that `datetime.date` and any warehouse's date dimension can represent.
EARLIEST = EARLIEST_DAY

_DAY = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")
_EXAMPLES = {
    "day": "2026-10-31",
    "week": "2026-W43",
    "month": "2026-10",
    "quarter": "2026-Q3",
    "year": "2026",
}
_NOUNS = {"day": "day", "week": "ISO week", "month": "month", "quarter": "quarter", "year": "year"}


_PERIOD = re.compile(
    r"^(?P<year>[0-9]{4})(?:-(?:Q(?P<quarter>[0-9])|W(?P<week>[0-9]{2})|(?P<month>[0-9]{2})))?$"
)


@dataclass(frozen=True)
class Period:
    """A calendar period: ``2026``, ``2026-Q4``, ``2026-10`` or ISO week ``2026-W43``."""

    key: str
    grain: str  # year | quarter | month | week
    start: date
    end: date  # exclusive


def parse_period(text: str | int) -> Period:
    """Parse a period key (year, quarter, month or ISO week); ValueError when it is none."""
    key = str(text).strip()
    match = _PERIOD.match(key)
    if not match:
        raise ValueError(f"'{key}' is not a period: use 2026, 2026-Q4, 2026-10 or 2026-W43")
    year = int(match["year"])
    if year < 1:
        raise ValueError(f"'{key}' has no valid year")
    if match["quarter"] is not None:
        quarter = int(match["quarter"])
        if not 1 <= quarter <= 4:
            raise ValueError(f"'{key}': a quarter is Q1 to Q4")
        start = date(year, 3 * quarter - 2, 1)
        end = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
        return Period(key, "quarter", start, end)
    if match["week"] is not None:
        week = int(match["week"])
        try:
            start = date.fromisocalendar(year, week, 1)
        except ValueError:
            raise ValueError(f"'{key}': {year} has no ISO week {week}") from None
        return Period(key, "week", start, date.fromordinal(start.toordinal() + 7))
    if match["month"] is not None:
        month = int(match["month"])
        if not 1 <= month <= 12:
            raise ValueError(f"'{key}': a month is 01 to 12")
        end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        return Period(key, "month", date(year, month, 1), end)
    return Period(key, "year", date(year, 1, 1), date(year + 1, 1, 1))


@dataclass(frozen=True)
class PeriodWindow:
    """One calendar period of a grain: ``[start, end)`` with its URL key and a label."""

    key: str  # 2026-10-31 | 2026-W43 | 2026-10 | 2026-Q3 | 2026
    grain: str  # day | week | month | quarter | year
    start: date
    end: date  # exclusive
    label: str  # "October 2026", "Q3 2026", "Week 43, 2026", "2026"

    @property
    def days(self) -> int:
        """Number of days in the window."""
        return (self.end - self.start).days

    @property
    def short_label(self) -> str:
        """A compact label for axes and sparklines: "Oct 2026", "Q3 2026", "W43 2026"."""
        if self.grain == "day":
            return f"{self.start.day} {self.start:%b %Y}"
        if self.grain == "week":
            year, week, _ = self.start.isocalendar()
            return f"W{week} {year}"
        if self.grain == "month":
            return f"{self.start:%b %Y}"
        return self.label

    def contains(self, day: date) -> bool:
        """True when ``day`` falls inside the window."""
        return self.start <= day < self.end


def _article(noun: str) -> str:
    return ("an " if noun[0] in "aeiouAEIOU" else "a ") + noun


def _check_grain(grain: str) -> None:
    if grain not in GRAINS:
        raise ValueError(f"unknown grain '{grain}': use one of {', '.join(GRAINS)}")


def window_containing(grain: str, day: date) -> PeriodWindow:
    """The window of ``grain`` that contains ``day``."""
    _check_grain(grain)
    if grain == "day":
        return PeriodWindow(
            day.isoformat(), "day", day, day + timedelta(days=1), f"{day.day} {day:%B %Y}"
        )
    if grain == "week":
        year, week, weekday = day.isocalendar()
        start = day - timedelta(days=weekday - 1)
        return PeriodWindow(
            f"{year}-W{week:02d}", "week", start, start + timedelta(days=7), f"Week {week}, {year}"
        )
    if grain == "month":
        start = day.replace(day=1)
        end = date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)
        return PeriodWindow(f"{day:%Y-%m}", "month", start, end, f"{day:%B %Y}")
    if grain == "quarter":
        quarter = (day.month - 1) // 3 + 1
        start = date(day.year, 3 * quarter - 2, 1)
        end = date(day.year + 1, 1, 1) if quarter == 4 else date(day.year, 3 * quarter + 1, 1)
        return PeriodWindow(
            f"{day.year}-Q{quarter}", "quarter", start, end, f"Q{quarter} {day.year}"
        )
    return PeriodWindow(
        str(day.year), "year", date(day.year, 1, 1), date(day.year + 1, 1, 1), str(day.year)
    )


def window_from_key(key: str) -> PeriodWindow:
    """Parse any period key (2026-10-31, 2026-W43, 2026-10, 2026-Q3, 2026); ValueError if none."""
    text = key.strip()
    day_match = _DAY.match(text)
    if day_match:
        try:
            day = date(int(day_match[1]), int(day_match[2]), int(day_match[3]))
        except ValueError:
            raise ValueError(f"'{text}' is not a calendar day") from None
        return window_containing("day", day)
    period = parse_period(text)  # raises ValueError with a readable message
    return window_containing(period.grain, period.start)


def previous(window: PeriodWindow) -> PeriodWindow:
    """The window of the same grain just before ``window``."""
    return window_containing(window.grain, window.start - timedelta(days=1))


def next(window: PeriodWindow) -> PeriodWindow:  # shadows the builtin on purpose: periods.next
    """The window of the same grain just after ``window``."""
    return window_containing(window.grain, window.end)


def same_period_last_year(window: PeriodWindow) -> PeriodWindow:
    """The same period one year earlier (ISO weeks: the same week number of the previous ISO
    year, or its last week when that year has no week 53; 29 February: 28 February)."""
    start = window.start
    if window.grain == "week":
        year, week, _ = start.isocalendar()
        weeks_last_year = date(year - 1, 12, 28).isocalendar()[1]  # 28 Dec is in the last week
        return window_containing(
            "week", date.fromisocalendar(year - 1, min(week, weeks_last_year), 1)
        )
    day = start.day
    if start.month == 2 and day == 29 and not calendar.isleap(start.year - 1):
        day = 28
    return window_containing(window.grain, date(start.year - 1, start.month, day))


def history(window: PeriodWindow, n: int = 12) -> list[PeriodWindow]:
    """The ``n`` windows ending with ``window``, oldest first."""
    if n < 1:
        raise ValueError("history needs at least one period")
    out = [window]
    while len(out) < n:
        out.append(previous(out[-1]))
    out.reverse()
    return out


def default_period(grain: str, latest: date) -> PeriodWindow:
    """The last complete period of ``grain`` when the data's last loaded day is ``latest``."""
    # The window holding the day after `latest` is the first one the data does not complete.
    return previous(window_containing(grain, latest + timedelta(days=1)))


def elapsed_fraction(window: PeriodWindow, latest: date) -> float:
    """Share of the window's days covered by data ending on ``latest`` (0 to 1)."""
    covered = (min(latest + timedelta(days=1), window.end) - window.start).days
    return max(0.0, min(1.0, covered / window.days))


def is_complete(window: PeriodWindow, latest: date) -> bool:
    """True when data ending on ``latest`` covers the whole window."""
    return latest + timedelta(days=1) >= window.end


def goal_for(goals: Mapping[str, float], window: PeriodWindow) -> float | None:
    """The goal set for exactly this window (goal keys are period keys), or None."""
    value = goals.get(window.key)
    return None if value is None else float(value)


def parse_board_period(
    text: str | Sequence[str] | None, grain: str, latest: date
) -> tuple[PeriodWindow, str | None]:
    """The window a board shows for ``?period=text``, and a notice when ``text`` was refused.

    No text: the default (last complete) period, no notice. An unparsable key, a key of
    another grain, a period after ``latest`` or before 1900: the default period and a
    notice naming the value and the expected form. A repeated query key (a list) uses its
    last value. A period still running on ``latest`` is accepted.
    """
    fallback = default_period(grain, latest)
    if text is not None and not isinstance(text, str):
        text = text[-1] if len(text) else None
    if text is None or not text.strip():
        return fallback, None
    raw = text.strip()
    shown = raw if len(raw) <= 40 else raw[:40] + "…"
    expected = f"{_article(_NOUNS[grain])} such as {_EXAMPLES[grain]}"
    showing = f"Showing {fallback.label}."
    try:
        window = window_from_key(raw)
    except ValueError:
        return fallback, (
            f"'{shown}' is not a valid period: this board expects {expected}. {showing}"
        )
    if window.grain != grain:
        return fallback, (
            f"'{shown}' is {_article(_NOUNS[window.grain])}: this board shows one "
            f"{_NOUNS[grain]} at a time, e.g. {_EXAMPLES[grain]}. {showing}"
        )
    if window.start > latest:
        return fallback, (
            f"There is no data for {window.label} yet: the data ends on "
            f"{latest:%d %B %Y}. {showing}"
        )
    if window.start < EARLIEST:
        return fallback, (f"'{shown}' is out of range: periods start in {EARLIEST.year}. {showing}")
    return window, None
