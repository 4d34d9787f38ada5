"""How numbers read on a tile: one formatter per metric format, changes, and their tone."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

from app.core.durations import duration_scale, duration_text

MINUS = "\u2212"  # a true minus sign: "−3.1%", not a hyphen
DASH = "—"  # what a missing value shows
NEUTRAL_BAND = 0.005  # |change| below 0.5 %: neither good nor bad

_UNITS = ((12, "T"), (9, "B"), (6, "M"), (3, "K"))  # powers of ten
_COMPACT_FROM = 10_000  # below this, numbers are written out in full


def as_number(value: object) -> float | None:
    """A finite float, or None for None, NaN, infinities and anything not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]  # Decimal, numpy and ints convert
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _fixed(number: float, digits: int, *, shift: int = 0, grouped: bool = True) -> str:
    """``number × 10**shift`` with ``digits`` decimals, halves rounded away from zero as
    people (and spreadsheets) do, not to even: 1234.5 → "1,235", 2.675 → "2.68"."""
    exact = (
        Decimal(repr(float(number)))
        .scaleb(shift)
        .quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    )
    return f"{exact:,.{digits}f}" if grouped else f"{exact:.{digits}f}"


def _strip_zeros(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def _compact(magnitude: float) -> str:
    """12_345_678 → "12.3M", 845_000 → "845K", 10_000 → "10K": three significant digits."""
    for index, (power, suffix) in enumerate(_UNITS):
        if magnitude >= 10**power * 0.9995 or index == len(_UNITS) - 1:
            scaled = magnitude / 10**power
            digits = 2 if scaled < 10 else 1 if scaled < 100 else 0
            text = _fixed(magnitude, digits, shift=-power, grouped=False)
            if float(text) >= 1000 and index > 0:  # 999.96K rounds up: say 1M
                power, suffix = _UNITS[index - 1]
                text = _fixed(magnitude, 2, shift=-power, grouped=False)
            return _strip_zeros(text) + suffix
    raise AssertionError("unreachable")  # pragma: no cover


def _plain(magnitude: float, *, decimals: int | None = None) -> str:
    """A number written out: "1,234", "3.21", "0.0342"."""
    if decimals is not None:
        return _fixed(magnitude, decimals)
    if magnitude >= 100 or magnitude == int(magnitude):
        return _fixed(magnitude, 0)
    if magnitude >= 1:
        return _strip_zeros(_fixed(magnitude, 2))
    return _strip_zeros(f"{magnitude:.3g}") if magnitude >= 1e-4 else f"{magnitude:.1e}"


def format_value(value: object, fmt: str, *, compact: bool = True) -> str:
    """A metric value as a tile shows it: "$12.3M", "3.4%", "845K", "2m 05s"; missing: "—".

    Currency and number are compacted from 10,000 up (``compact=False`` writes them out);
    percent takes a ratio (0.0342 → "3.4%"); duration takes seconds, or the unit its
    format names ("duration:minutes": 125 → "2h 05m").
    """
    number = as_number(value)
    if number is None:
        return DASH
    sign = MINUS if number < 0 else ""
    magnitude = abs(number)
    if fmt == "percent":
        text = _fixed(magnitude, 1, shift=2)
        return (sign if float(text.replace(",", "")) else "") + text + "%"
    scale = duration_scale(fmt)
    if scale is not None:
        return sign + duration_text(magnitude * scale)
    prefix = "$" if fmt == "currency" else ""
    if compact and magnitude >= _COMPACT_FROM:
        body = _compact(magnitude)
    elif fmt == "currency":
        body = _plain(magnitude, decimals=0 if magnitude >= 1000 else 2)
    else:
        body = _plain(magnitude)
    if not any(ch in body for ch in "123456789"):  # rounded to zero: no sign
        sign = ""
    return f"{sign}{prefix}{body}"


def format_change(rel: object) -> str:
    """A relative change as "+4.2%" or "−3.1%" (true minus sign); missing: "—"."""
    number = as_number(rel)
    if number is None:
        return DASH
    text = _fixed(abs(number), 1, shift=2) + "%"
    if text == "0.0%":
        return "0.0%"
    return ("+" if number > 0 else MINUS) + text


def change_tone(rel: object, direction: str) -> str:
    """ "good", "bad" or "neutral" for a change, given the metric's direction (down inverts)."""
    number = as_number(rel)
    if number is None or direction not in ("up", "down") or abs(number) < NEUTRAL_BAND:
        return "neutral"
    better = number > 0 if direction == "up" else number < 0
    return "good" if better else "bad"


def tone_class(tone: str) -> str:
    """The CSS class of a tone: sb-good, sb-bad, sb-warn or sb-neutral."""
    return f"sb-{tone}" if tone in ("good", "bad", "warn") else "sb-neutral"


NONE_LABEL = "(none)"  # a NULL dimension value (e.g. a NULL foreign key), wherever it is drawn


def dimension_text(value: object) -> str:
    """A dimension value as a label: NULL and NaN (pandas' NULL) are "(none)", never "nan"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NONE_LABEL
    try:
        import pandas as pd

        if pd.isna(value):  # type: ignore[arg-type]  # NaT, pd.NA
            return NONE_LABEL
    except (TypeError, ValueError):
        pass
    if hasattr(value, "isoformat") and hasattr(value, "hour"):
        text = value.isoformat()  # type: ignore[union-attr]
        return text[:10] if text.endswith("T00:00:00") else text
    return str(value)


def _noun(label: str) -> str:
    """A label inside a sentence: "Carrier" → "carrier", "ISO weekday" stays."""
    word = label.strip() or "value"
    return word if word[1:2].isupper() else word[:1].lower() + word[1:]


def plural(label: str) -> str:
    """A dimension's label as a plural noun: "Carrier" → "carriers", "Country" →
    "countries", "Channel group" → "channel groups"."""
    word = _noun(label)
    if word.endswith(("ss", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("s"):  # already plural ("Floors")
        return word
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def cut_note(
    hidden: int,
    label: str,
    *,
    at_least: bool = False,
    size: float | None = None,
    fmt: str = "number",
    metric_label: str = "",
    where: str = "",
    empty: int = 0,
) -> str:
    """What a truncated chart left out: "3 more carriers (5,210 flights) not shown"; with
    ``at_least`` the count is a lower bound; ``empty`` of them have no value of the metric
    ("3 channel groups with no return on ad spend not shown"); ``where`` ends the
    sentence ("in the chart")."""
    noun = _noun(label) if hidden == 1 else plural(label)
    without = f"with no {_noun(metric_label)}" if metric_label else "with no value"
    end = f" not shown{' ' + where if where else ''}."
    if empty and empty >= hidden and not at_least:
        return f"{hidden:,} {noun} {without}{end}"
    count = f"{'at least ' if at_least else ''}{hidden:,} more {noun}"
    if size is not None:
        amount = format_value(size, fmt)
        count += f" ({amount} {_noun(metric_label)})" if metric_label else f" ({amount})"
    if empty:
        end = f" not shown{' ' + where if where else ''}, {empty:,} of them {without}."
    return count + end


MAX_DECIMALS = 4  # a column of tiny numbers (0.0012, 0.0340) stops here


def _decimals_for(magnitude: float) -> int:
    """The decimals :func:`_plain` writes ``magnitude`` with (before trailing zeros go)."""
    if magnitude == int(magnitude) or magnitude >= 100:
        return 0
    if magnitude >= 1:
        return 2
    return min(MAX_DECIMALS, max(2, 1 - math.floor(math.log10(magnitude))))  # 2 significant


def column_decimals(values: object, fmt: str) -> int:
    """One number of decimals for every value of a column or axis in ``fmt`` (number or
    currency): the most any of its values needs, so 1.5 and 12.25 read "1.50" and "12.25"
    and a column of whole numbers has none. Currency: cents unless every value is $1,000+."""
    known = [abs(n) for n in (as_number(v) for v in values or ()) if n is not None]  # type: ignore[attr-defined]
    if not known:
        return 0
    if fmt == "currency":
        return 0 if all(k >= 1000 for k in known) else 2
    return max(_decimals_for(k) for k in known if k) if any(known) else 0


def format_values(values: object, fmt: str, *, compact: bool = True) -> list[str]:
    """Every value of one chart axis, bar set or table column in ``fmt``, written alike: the
    same number of decimals (and, compacted, the same unit: "12.3M", "0.8M"), so a column
    reads straight. Percent (one decimal) and duration keep :func:`format_value`."""
    items = list(values or ())  # type: ignore[call-overload]
    if fmt not in ("number", "currency"):
        return [format_value(v, fmt, compact=compact) for v in items]
    numbers = [as_number(v) for v in items]
    known = [abs(n) for n in numbers if n is not None]
    if not known:
        return [DASH for _ in items]
    prefix = "$" if fmt == "currency" else ""
    top = max(known)
    if compact and top >= _COMPACT_FROM:
        power, suffix = next((p, s) for p, s in _UNITS if top >= 10**p * 0.9995)
        scaled = top / 10**power
        digits = 2 if scaled < 10 else 1 if scaled < 100 else 0

        def one(n: float) -> str:
            text = _fixed(abs(n), digits, shift=-power, grouped=False)
            if n and not any(ch in text for ch in "123456789"):  # too small for the unit
                return "<" + _fixed(10.0**-digits, digits, grouped=False) + suffix
            return text + suffix
    else:
        digits = column_decimals(items, fmt)

        def one(n: float) -> str:
            return _fixed(abs(n), digits)

    out = []
    for n in numbers:
        if n is None:
            out.append(DASH)
            continue
        body = one(n)
        sign = MINUS if n < 0 and body[0] != "<" and any(ch in body for ch in "123456789") else ""
        out.append(f"{sign}{prefix}{body}")
    return out
