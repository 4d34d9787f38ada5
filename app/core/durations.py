"""Durations as people read them ("45s", "2m 05s", "3h 10m", "2d 04h"), shared by the
pages (components/formatting.py) and the tree's narrative (queries/tree.py)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

DURATION_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


def duration_scale(fmt: str) -> float | None:
    """Seconds per unit of a duration format: "duration" (values in seconds) → 1,
    "duration:minutes" → 60 (a metric with ``unit: minutes``); None for other formats."""
    kind, _, unit = fmt.partition(":")
    if kind != "duration":
        return None
    return float(DURATION_SECONDS.get(unit or "seconds", 1))


def duration_text(seconds: float) -> str:
    """A non-negative number of seconds: under a minute with one decimal at most ("4.5s"),
    then minutes and seconds, hours and minutes, days and hours."""
    if seconds < 60:
        tenths = Decimal(repr(float(seconds))).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        text = f"{tenths:f}"
        text = text.rstrip("0").rstrip(".") if "." in text else text
        if float(text) < 60:
            return f"{text}s"
    total = round(seconds)
    if total < 3600:
        return f"{total // 60}m {total % 60:02d}s"
    if total < 86400:
        minutes = round(seconds / 60)
        if minutes < 24 * 60:
            return f"{minutes // 60}h {minutes % 60:02d}m"
    hours = round(seconds / 3600)
    return f"{hours // 24}d {hours % 24:02d}h"
