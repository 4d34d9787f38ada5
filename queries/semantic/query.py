"""The query interface: ``MetricQuery`` and the row scope of the user asking.

The same objects come from Python, from CLI strings (``--where "country in (DE,FR)"``)
and from JSON (``POST /api/v1/query``). They are frozen and made of tuples so they hash
and serialise the same in every process.
"""

from __future__ import annotations

from dataclasses import dataclass

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
