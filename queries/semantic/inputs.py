"""Values that arrive from outside — a URL's query string, a callback payload, an API
request — checked before anything uses them: QueryError naming the parameter, never a
TypeError, OverflowError or a blank page.

A browser sends only what the page drew, but anyone can post ``/_dash-update-component``
by hand, so every callback treats its inputs as untrusted text. Numbers are ASCII digits
only: ``str.isdigit()`` is true for ``'²'`` (``int()`` then fails) and for ``'१'`` (which
``int()`` reads as 1), so it is never used on input. Dates stay within the calendar every
warehouse and ``datetime.date`` arithmetic can represent (a period's history and the
previous period are computed from them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from app.core.errors import QueryError

MAX_WHOLE = 1_000_000_000
EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(2200, 12, 31)
_WHOLE = re.compile(r"[0-9]{1,18}")
_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def shown(value: object, width: int = 40) -> str:
    """``value`` as it may appear in a message: its repr, cut to ``width`` characters."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def whole_number(value: object, name: str, *, minimum: int = 1, maximum: int = MAX_WHOLE) -> int:
    """``value`` as a whole number from ``minimum`` to ``maximum``: an int (not a bool), an
    integral float, or text of ASCII digits; QueryError naming ``name`` otherwise."""
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        number = int(value.strip())
    if number is None or not minimum <= number <= maximum:
        raise QueryError(
            f"{name}: expected a whole number from {minimum:,} to {maximum:,}, got {shown(value)}"
        )
    return number


def text(value: object, name: str, *, default: str = "", max_length: int = 2000) -> str:
    """A string (``None``: ``default``); QueryError for any other type or a longer text."""
    if value is None:
        return default
    if not isinstance(value, str):
        raise QueryError(f"{name}: expected text, got {type(value).__name__}")
    if len(value) > max_length:
        raise QueryError(f"{name}: longer than {max_length:,} characters")
    return value


def texts(value: object, name: str, *, max_items: int = 1000) -> tuple[str, ...]:
    """A list of strings or numbers (a dropdown's value; ``None``: empty) as strings;
    QueryError for any other shape."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise QueryError(f"{name}: expected a list, got {type(value).__name__}")
    if len(value) > max_items:
        raise QueryError(f"{name}: more than {max_items:,} values")
    out = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise QueryError(f"{name}: expected text values, got {type(item).__name__}")
        out.append(str(item))
    return tuple(out)


def mapping(value: object, name: str) -> Mapping[str, Any] | None:
    """A JSON object (``None`` stays ``None``); QueryError for any other type."""
    if value is None or isinstance(value, Mapping):
        return value
    raise QueryError(f"{name}: expected an object, got {type(value).__name__}")


def day(value: object, name: str) -> date:
    """An ISO day ``YYYY-MM-DD`` (a longer ISO timestamp: its day) from
    :data:`EARLIEST_DAY` to :data:`LATEST_DAY`; QueryError naming ``name`` otherwise."""
    raw = value.strip() if isinstance(value, str) else ""
    match = _DAY.match(raw)
    if match is None or (len(raw) > 10 and raw[10] not in "T "):
        raise QueryError(f"{name}: {shown(value)} is not a date (YYYY-MM-DD)")
    try:
        found = date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise QueryError(f"{name}: {shown(value)} is not a calendar day") from None
    if not EARLIEST_DAY <= found <= LATEST_DAY:
        raise QueryError(
            f"{name}: {found.isoformat()} is out of range: dates run from "
            f"{EARLIEST_DAY.isoformat()} to {LATEST_DAY.isoformat()}"
        )
    return found
