"""Boolean filter groups (``AllOf``/``AnyOf``/``Not``) and HAVING for the compiler.

The compiler checks each leaf ``Filter`` as it always has (``_check_filter``: dimension known,
value coerced to the column's kind); this module walks the groups around the leaves:

* :func:`check` validates a group's shape and depth and returns a tree of checked leaves
  (:class:`Group`), a single leaf when a group has one part, or None after recording problems.
* :func:`render` turns a tree into one SQLAlchemy predicate, every value a bound parameter.
  The compiler ANDs it with the other filters and, separately, with the row scope, so a
  user's OR never widens the scope.
* :func:`day_bounds` gives the time bounds that hold for every row a tree admits: an AND
  narrows, an OR only to the span of its parts (unbounded if one part is), a NOT never.
* :func:`check_having` / :func:`render_having`: ``metric op value`` on the grouped result.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from queries.semantic.query import HAVING_OPS, MAX_DEPTH, AllOf, AnyOf, Filter, Having, Not
from queries.semantic.types import SemanticModel

Leaf = Any  # a checked leaf: the compiler's _Cond (any object that is not a Group)
Bounds = tuple[date | None, date | None]
_COMPARE: dict[str, Callable[[ColumnElement, Any], ColumnElement]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
MAX_PARTS = 200  # leaves a query's groups may hold in all


@dataclass(frozen=True)
class Group:
    """A checked group: kind "all" (AND), "any" (OR) or "not" (one part)."""

    kind: str
    parts: tuple[Any, ...]  # Groups and leaves


def is_group(item: object) -> bool:
    """True for an AllOf, AnyOf or Not."""
    return isinstance(item, AllOf | AnyOf | Not)


def describe(item: object) -> str:
    """A short text of a condition for messages: ``any of (country = 'DE', …)``."""
    if isinstance(item, Filter):
        return f"{item.dimension} {item.op} {item.value!r}"
    if isinstance(item, AllOf | AnyOf) and isinstance(item.parts, tuple | list):
        word = "all of" if isinstance(item, AllOf) else "any of"
        inner = ", ".join(describe(p) for p in list(item.parts)[:3])
        more = ", …" if len(item.parts) > 3 else ""
        return f"{word} ({inner}{more})"
    if isinstance(item, Not):
        return f"not ({describe(item.part)})"
    return repr(item)[:80]


def check(
    item: object,
    check_leaf: Callable[[Filter], Leaf | None],
    problems: list[str],
    depth: int = 1,
    counter: list[int] | None = None,
) -> Any | None:
    """Validate a condition tree; leaves go through ``check_leaf`` (which records its own
    problems and returns None for a bad leaf). None when anything is wrong."""
    counter = counter if counter is not None else [0]
    if isinstance(item, Filter):
        counter[0] += 1
        if counter[0] == MAX_PARTS + 1:
            problems.append(f"filters: more than {MAX_PARTS} conditions in groups")
        return check_leaf(item)
    if not is_group(item):
        problems.append(
            f"filter {describe(item)}: expected a Filter, AllOf, AnyOf or Not, "
            f"got {type(item).__name__}"
        )
        return None
    if depth > MAX_DEPTH:
        problems.append(
            f"filter {describe(item)}: groups nest more than {MAX_DEPTH} deep; simplify it"
        )
        return None
    if isinstance(item, Not):
        inner = check(item.part, check_leaf, problems, depth + 1, counter)
        return None if inner is None else Group("not", (inner,))
    assert isinstance(item, AllOf | AnyOf)
    kind = "all" if isinstance(item, AllOf) else "any"
    if not isinstance(item.parts, tuple | list) or not item.parts:
        problems.append(f"filter {describe(item)}: a group needs at least one part")
        return None
    checked = [check(p, check_leaf, problems, depth + 1, counter) for p in item.parts]
    if any(c is None for c in checked):
        return None
    parts: list[Any] = []
    for part in checked:
        assert part is not None
        if isinstance(part, Group) and part.kind == kind:  # (a or (b or c)) = (a or b or c)
            parts.extend(part.parts)
        else:
            parts.append(part)
    return parts[0] if len(parts) == 1 else Group(kind, tuple(parts))


def leaves(node: Any) -> list[Leaf]:
    """The checked leaves of a tree, in order."""
    if not isinstance(node, Group):
        return [node]
    return [leaf for part in node.parts for leaf in leaves(part)]


def render(node: Any, render_leaf: Callable[[Leaf], ColumnElement]) -> ColumnElement:
    """A tree as one predicate (parenthesised by SQLAlchemy where precedence needs it)."""
    if not isinstance(node, Group):
        return render_leaf(node)
    parts = [render(p, render_leaf) for p in node.parts]
    if node.kind == "not":
        return sa.not_(parts[0].self_group())
    if node.kind == "all":
        return sa.and_(*parts).self_group()
    return sa.or_(*parts).self_group()


def intersect(*bounds: Bounds) -> Bounds:
    """The bounds every one of ``bounds`` admits (AND)."""
    lows = [b[0] for b in bounds if b[0] is not None]
    highs = [b[1] for b in bounds if b[1] is not None]
    return (max(lows) if lows else None, min(highs) if highs else None)


def day_bounds(node: Any, leaf_bounds: Callable[[Leaf], Bounds]) -> Bounds:
    """Inclusive day bounds that hold for every row the tree admits."""
    if not isinstance(node, Group):
        return leaf_bounds(node)
    if node.kind == "not":
        return (None, None)  # not (date < X) admits any earlier… and later day
    parts = [day_bounds(p, leaf_bounds) for p in node.parts]
    if node.kind == "all":
        return intersect(*parts)
    lows = [b[0] for b in parts]
    highs = [b[1] for b in parts]
    return (
        None if any(v is None for v in lows) else min(v for v in lows if v is not None),
        None if any(v is None for v in highs) else max(v for v in highs if v is not None),
    )


# --------------------------------------------------------------------------- HAVING


@dataclass(frozen=True)
class HavingCond:
    """A checked HAVING condition: the value a number, or (low, high) for between."""

    metric: str
    op: str
    value: object


def _number(value: object) -> int | float:
    """A HAVING value as a number; ValueError if it is not one."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a finite number")
        return value
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a finite number")
        return number
    raise ValueError(f"{value!r} is not a number")


def check_having(
    item: object, model: SemanticModel, problems: list[str], suggest: Callable[[str], str]
) -> HavingCond | None:
    """Validate one HAVING condition (metric known, op allowed, numeric value)."""
    if not isinstance(item, Having):
        problems.append(f"having {item!r}: expected a Having(metric, op, value)")
        return None
    what = f"having {item.metric} {item.op} {item.value!r}"
    if not isinstance(item.metric, str) or item.metric not in model.metrics:
        hint = (
            " (it is a dimension: use a filter)"
            if isinstance(item.metric, str) and item.metric in model.dimensions
            else suggest(str(item.metric))
        )
        problems.append(f"{what}: unknown metric {item.metric!r}{hint}")
        return None
    if item.op not in HAVING_OPS:
        problems.append(f"{what}: unknown operator {item.op!r}; use one of {' '.join(HAVING_OPS)}")
        return None
    try:
        if item.op == "between":
            if not isinstance(item.value, tuple | list) or len(item.value) != 2:
                raise ValueError("between needs exactly 2 values")
            low, high = (_number(v) for v in item.value)
            if low > high:
                raise ValueError("between bounds are reversed")
            value: object = (low, high)
        else:
            if isinstance(item.value, tuple | list):
                raise ValueError(f"{item.op} needs a single value")
            value = _number(item.value)
    except ValueError as err:
        problems.append(f"{what}: {err}")
        return None
    return HavingCond(metric=item.metric, op=item.op, value=value)


def render_having(cond: HavingCond, metric: ColumnElement) -> ColumnElement:
    """``metric op :value`` (a group whose metric is NULL never matches)."""
    if cond.op == "between":
        assert isinstance(cond.value, tuple)
        return metric.between(cond.value[0], cond.value[1])
    return _COMPARE[cond.op](metric, cond.value)


def having_leaves(conds: Sequence[HavingCond]) -> list[str]:
    """The metrics HAVING conditions name, in first-use order."""
    return list(dict.fromkeys(c.metric for c in conds))
