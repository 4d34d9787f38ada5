"""The query interface: ``MetricQuery`` and the row scope of the user asking.

The same objects come from Python, from CLI strings (``--where "country in (DE,FR)"``)
and from JSON (``POST /api/v1/query``). They are frozen and made of tuples so they hash
and serialise the same in every process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

OPS = ("=", "!=", "<", "<=", ">", ">=", "in", "not_in", "between")


@dataclass(frozen=True)
class Filter:
    """``dimension op value``; value is a scalar, or a tuple for in/not_in/between."""

    dimension: str  # may carry a grain: "date:month"
    op: str
    value: object


@dataclass(frozen=True)
class MetricQuery:
    metrics: tuple[str, ...]
    dimensions: tuple[str, ...] = ()  # "channel_group", "date:month"
    filters: tuple[Filter, ...] = ()
    order_by: tuple[str, ...] = ()  # "-revenue" descending, "date" ascending
    limit: int | None = None


# A user's row scope: sorted ((dimension, (value, ...)), ...). Empty means unrestricted.
RowScope = tuple[tuple[str, tuple[str, ...]], ...]


def days_between(time_name: str, first: date, last: date) -> Filter:
    """The filter "the time dimension ``time_name`` from day ``first`` to ``last``, both
    included" (the time dimension's name comes from the model)."""
    return Filter(time_name, "between", (first.isoformat(), last.isoformat()))


def in_window(time_name: str, start: date, end: date) -> Filter:
    """The days of the half-open window [start, end) as a filter."""
    return days_between(time_name, start, end - timedelta(days=1))
