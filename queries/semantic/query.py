"""The query interface: ``MetricQuery`` and the row scope of the user asking.

The same objects come from Python, from CLI strings (``--where "country in (DE,FR)"``)
and from JSON (``POST /api/v1/query``). They are frozen and made of tuples so they hash
and serialise the same in every process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

OPS = ("=", "!=", "<", "<=", ">", ">=", "in", "not_in", "between")
HAVING_OPS = ("=", "!=", "<", "<=", ">", ">=", "between")
MAX_DEPTH = 6  # nesting of AllOf/AnyOf/Not a query may have (a plain Filter is depth 0)


@dataclass(frozen=True)
class Filter:
    """``dimension op value``; value is a scalar, or a tuple for in/not_in/between."""

    dimension: str  # may carry a grain: "date:month"
    op: str
    value: object


@dataclass(frozen=True)
class AllOf:
    """Every part holds (AND). Parts are Filters or groups."""

    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    """At least one part holds (OR)."""

    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    """The part does not hold. As in SQL, a row whose value is NULL matches neither
    ``country = DE`` nor ``not (country = DE)``."""

    part: Condition


Condition = Filter | AllOf | AnyOf | Not


@dataclass(frozen=True)
class Having:
    """``metric op value`` on the aggregated result (SQL's HAVING): keeps the groups whose
    metric compares true; value is a number, or a (low, high) tuple for between."""

    metric: str
    op: str
    value: object


@dataclass(frozen=True)
class MetricQuery:
    metrics: tuple[str, ...]
    dimensions: tuple[str, ...] = ()  # "channel_group", "date:month"
    filters: tuple[Condition, ...] = ()  # ANDed; a part may be an AllOf/AnyOf/Not group
    order_by: tuple[str, ...] = ()  # "-revenue" descending, "date" ascending
    limit: int | None = None
    having: tuple[Having, ...] = ()  # ANDed conditions on metrics


def filter_leaves(conditions: object) -> list[Filter]:
    """Every Filter inside ``conditions`` (a condition or a sequence of them), in order;
    anything else found (a malformed part) is skipped: the compiler reports it."""
    found: list[Filter] = []
    stack: list[object] = [conditions]
    seen = 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > 100_000:  # a cyclic or absurd structure: the compiler refuses it
            break
        if isinstance(item, Filter):
            found.append(item)
        elif isinstance(item, AllOf | AnyOf):
            stack.extend(reversed(item.parts) if isinstance(item.parts, tuple | list) else ())
        elif isinstance(item, Not):
            stack.append(item.part)
        elif isinstance(item, tuple | list):
            stack.extend(reversed(item))
    return found


# A user's row scope: sorted ((dimension, (value, ...)), ...). Empty means unrestricted.
RowScope = tuple[tuple[str, tuple[str, ...]], ...]


def days_between(time_name: str, first: date, last: date) -> Filter:
    """The filter "the time dimension ``time_name`` from day ``first`` to ``last``, both
    included" (the time dimension's name comes from the model)."""
    return Filter(time_name, "between", (first.isoformat(), last.isoformat()))


def in_window(time_name: str, start: date, end: date) -> Filter:
    """The days of the half-open window [start, end) as a filter."""
    return days_between(time_name, start, end - timedelta(days=1))
