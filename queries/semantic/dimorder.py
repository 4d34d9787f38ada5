"""A dimension's display order: bucket dimensions (``order:``) in their bucket order,
calendar and time dimensions in their natural order, the others as the query ranked them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from queries.semantic.types import Dimension


def has_display_order(dim: Dimension | None) -> bool:
    """True when charts list this dimension's values in its own order, not by value."""
    return dim is not None and (bool(dim.order) or dim.kind == "calendar" or dim.temporal)


def display_key(dim: Dimension) -> Any:
    """A sort key for one value of ``dim``: its place in ``order`` (values not listed come
    after, then NULLs), or the value itself for a calendar/time dimension."""
    place = {str(v): i for i, v in enumerate(dim.order)}

    def key(value: Any) -> tuple[int, int, str, Any]:
        missing = value is None or (isinstance(value, float) and value != value)
        if missing:
            return (2, 0, "", 0)
        if dim.order:
            return (0 if str(value) in place else 1, place.get(str(value), 0), str(value), 0)
        return (0, 0, "", value)

    return key


def display_sorted(frame: pd.DataFrame, dim: Dimension | None, column: str) -> pd.DataFrame:
    """``frame``'s rows in the display order of ``dim`` (its column ``column``), when it
    has one; unchanged (the query's ranking) otherwise."""
    if not has_display_order(dim) or column not in frame.columns or frame.empty:
        return frame
    assert dim is not None
    key = display_key(dim)
    order = sorted(range(len(frame)), key=lambda i: key(frame[column].iloc[i]))
    return frame.iloc[order].reset_index(drop=True)


def display_pairs(
    x: Sequence[Any], y: Sequence[Any], dim: Dimension | None
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Bars (x, y) in the display order of ``dim`` when it has one."""
    if not has_display_order(dim):
        return tuple(x), tuple(y)
    assert dim is not None
    key = display_key(dim)
    pairs = sorted(zip(x, y, strict=True), key=lambda p: key(p[0]))
    return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)
