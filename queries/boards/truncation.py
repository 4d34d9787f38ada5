"""What a chart left out: the values a top-N cut, counted and, for additive metrics, sized.

A bar chart shows its 12 largest values, a line chart split by a dimension its 6 largest
series, a table its first 200 rows. Each says how many values it left out and how much of
the metric they hold ("3 more carriers (5,210 flights) not shown"), so nothing vanishes
without a word. The query behind a cut chart fetches up to ``FETCH_LIMIT`` rows, enough to
count what was cut; past that the count is a lower bound ("at least 988 more").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from queries.semantic.types import Metric

FETCH_LIMIT = 1000  # rows a cut chart's query fetches, to count (and size) what it leaves out
NONE_LABEL = "(none)"  # a NULL dimension value's label (as components.formatting.NONE_LABEL)


def is_null(value: object) -> bool:
    """None, NaN, NaT or pd.NA: a NULL dimension value as pandas hands it back."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def label_of(value: object) -> str:
    """A dimension value as a series name: NULL is "(none)", never "nan"."""
    return NONE_LABEL if is_null(value) else str(value)


@dataclass(frozen=True)
class Cut:
    """The values a chart left out."""

    hidden: int  # how many values (bars, series, rows) are not shown
    at_least: bool = False  # the query stopped at FETCH_LIMIT: there may be more
    size: float | None = None  # the metric over the hidden values (additive metrics only)
    empty: int = 0  # of the hidden values, those without a number (a ratio over zero)


def _finite(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _size(values: pd.Series, metric: Metric | None, complete: bool) -> float | None:
    """The sum of ``values`` when it means something: an additive metric, every hidden
    value fetched."""
    if metric is None or not metric.additive or not complete:
        return None
    known = [v for v in (_finite(x) for x in values) if v is not None]
    return float(sum(known)) if known else None  # values without a number: nothing to add


def top_rows(
    frame: pd.DataFrame,
    column: str,
    limit: int,
    metric: Metric | None,
    *,
    fetched: int | None = None,
    require_value: bool = True,
) -> tuple[pd.DataFrame, Cut | None]:
    """The first ``limit`` rows of ``frame`` (already ordered, largest first) that have a
    value in ``column``, and what the rest leave out (None when nothing is).

    ``fetched`` is the limit the query ran with: a frame that long may hold only part of
    the values, so the count becomes a lower bound and the size is unknown. Rows without
    a value are never drawn (``require_value``, as bars); they count as left out too."""
    valued = frame[frame[column].notna()] if require_value else frame
    shown = valued.head(limit)
    rest = frame.drop(index=shown.index)
    if rest.empty:
        return shown.reset_index(drop=True), None
    at_least = fetched is not None and len(frame) >= fetched
    empty = int(rest[column].isna().sum())
    return shown.reset_index(drop=True), Cut(
        len(rest), at_least, _size(rest[column], metric, not at_least), empty
    )


def top_groups(
    frame: pd.DataFrame, by: str, column: str, limit: int, metric: Metric | None
) -> tuple[list[object], Cut | None]:
    """The ``limit`` values of ``by`` with the largest total of ``column`` (a NULL value is
    a group too), and what the other groups leave out (None when nothing is)."""
    totals = frame.groupby(by, dropna=False)[column].sum(min_count=1)
    ordered = totals.sort_values(ascending=False, na_position="last")
    keep = list(ordered.index[:limit])
    rest = ordered.iloc[limit:]
    if rest.empty:
        return keep, None
    return keep, Cut(len(rest), False, _size(rest, metric, True), int(rest.isna().sum()))


def rows_of(frame: pd.DataFrame, by: str, value: object) -> pd.DataFrame:
    """The rows of ``frame`` whose ``by`` is ``value`` (NULL matching NULL)."""
    if is_null(value):
        return frame[frame[by].isna()]
    return frame[frame[by] == value]
