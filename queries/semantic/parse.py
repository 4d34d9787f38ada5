"""The query interface from text (CLI, URLs) and JSON (HTTP API) → ``MetricQuery``.

Filter text: ``dimension[:grain] op value`` with op one of ``= != <> < <= > >=``,
``in (a, b)``, ``not in (a, b)`` / ``not_in (a, b)``, ``between a and b``. Values are
bare (``DE``, ``2026-01-01``; a bare scalar may contain spaces: ``channel = Paid Search``)
or quoted with ``'…'`` or ``"…"`` (a doubled quote inside stands for itself), which is how
a value holding a comma, parenthesis or the word ``and`` is written. Values stay strings:
the compiler coerces them to the column's type and binds them as parameters, so text such
as ``x'; drop table users; --`` is only ever a value. Filters apply to dimensions; a
condition on a metric (``revenue > 10``, SQL's HAVING) is not supported and is rejected.

JSON: ``{"metrics": [...], "dimensions": [...], "filters": [...], "order_by": [...],
"limit": n}`` — the field names of ``MetricQuery``; a filter is a filter string or
``{"dimension": ..., "op": ..., "value": ...}``. Unknown keys and wrong types are errors
naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence

from app.core.errors import QueryError
from queries.semantic.inputs import whole_number
from queries.semantic.query import OPS, Filter, MetricQuery
from queries.semantic.types import SemanticModel

_REF = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z]+)?)\s*")
_OP = re.compile(r"(?:(not\s+in|not_in|between|in)\b|(!=|<>|<=|>=|=|<|>))\s*", re.IGNORECASE)
_QUOTES = ("'", '"')
JSON_KEYS = ("metrics", "dimensions", "filters", "order_by", "limit")
FILTER_KEYS = ("dimension", "op", "value")


def _split(text: str, separator: re.Pattern[str]) -> list[str]:
    """Split ``text`` at ``separator`` matches that lie outside quotes."""
    parts: list[str] = []
    start = pos = 0
    quote: str | None = None
    while pos < len(text):
        char = text[pos]
        if quote:
            if char == quote:
                if text[pos + 1 : pos + 2] == quote:  # doubled quote: a literal quote
                    pos += 2
                    continue
                quote = None
            pos += 1
            continue
        if char in _QUOTES and not text[start:pos].strip():  # quotes open a value only
            quote = char
            pos += 1
            continue
        match = separator.match(text, pos)
        if match and match.end() > pos:
            parts.append(text[start:pos])
            start = pos = match.end()
            continue
        pos += 1
    if quote:
        raise ValueError(f"unclosed quote {quote} in {text!r}")
    parts.append(text[start:])
    return parts


def _value(raw: str) -> str:
    """One value: unquoted, doubled quotes undone; bare values stripped."""
    text = raw.strip()
    if not text:
        raise ValueError("empty value")
    if text[0] in _QUOTES:
        quote = text[0]
        if len(text) < 2 or text[-1] != quote:
            raise ValueError(f"unclosed quote in {raw.strip()!r}")
        inner = text[1:-1]
        if quote in inner.replace(quote * 2, ""):
            raise ValueError(f"text after a closing quote in {raw.strip()!r}")
        return inner.replace(quote * 2, quote)
    return text


def parse_where(text: str, model: SemanticModel | None = None) -> Filter:
    """A filter from text such as ``country in (DE,FR)``; QueryError when malformed."""
    if not isinstance(text, str) or not text.strip():
        raise QueryError("filter: empty; write 'dimension op value', e.g. country = DE")
    ref = _REF.match(text)
    op = _OP.match(text, ref.end()) if ref else None
    if ref is None or op is None:
        raise QueryError(
            f"filter {text!r}: write 'dimension op value' with op one of "
            "= != < <= > >= in, not in, between … and …"
        )
    dimension = ref.group(1)
    word = (op.group(1) or op.group(2)).lower()
    name = "!=" if word == "<>" else "not_in" if word.startswith("not") else word
    rest = text[op.end() :]
    try:
        if name in ("in", "not_in"):
            body = rest.strip()
            if body.startswith("(") != body.endswith(")") or body == "(":
                raise ValueError(f"unbalanced parentheses in {body!r}")
            if body.startswith("("):
                body = body[1:-1]
            value: object = tuple(_value(v) for v in _split(body, re.compile(r",")))
        elif name == "between":
            bounds = _split(rest, re.compile(r"\s+and\s+", re.IGNORECASE))
            if len(bounds) != 2:
                raise ValueError("write 'between LOW and HIGH'")
            value = tuple(_value(v) for v in bounds)
        else:
            value = _value(rest)
    except ValueError as err:
        raise QueryError(f"filter {text!r}: {err}") from err
    if model is not None:
        _check_dimension(model, dimension, f"filter {text!r}")
    assert name in OPS
    return Filter(dimension=dimension, op=name, value=value)


def _check_dimension(model: SemanticModel, ref: str, where: str) -> None:
    """Reject a filter on a metric or on an unknown dimension early, with the model at hand."""
    name = ref.partition(":")[0]
    if name in model.metrics and name not in model.dimensions:
        raise QueryError(
            f"{where}: {name!r} is a metric; filters apply to dimensions only "
            "(conditions on metrics are not supported)"
        )
    if name not in model.dimensions:
        raise QueryError(f"{where}: unknown dimension {name!r}")


def _names(value: str | Sequence[str] | None, what: str) -> tuple[str, ...]:
    """Comma-separated names (or a list of such strings) as a tuple, blanks dropped."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence) or not all(isinstance(v, str) for v in items):
        raise QueryError(f"{what}: expected comma-separated names, got {value!r}")
    return tuple(n.strip() for item in items for n in item.split(",") if n.strip())


def parse_cli(
    metrics: str | Sequence[str],
    by: str | Sequence[str] | None = None,
    where: str | Iterable[str] = (),
    order: str | Sequence[str] | None = None,
    limit: int | str | None = None,
    *,
    model: SemanticModel | None = None,
) -> MetricQuery:
    """A MetricQuery from CLI/URL strings (``--metrics``, ``--by``, ``--where``…)."""
    names = _names(metrics, "--metrics")
    if not names:
        raise QueryError("--metrics: at least one metric is required")
    wheres = [where] if isinstance(where, str) else list(where or ())
    if limit is not None:
        limit = whole_number(limit, "--limit")
    return MetricQuery(
        metrics=names,
        dimensions=_names(by, "--by"),
        filters=tuple(parse_where(w, model) for w in wheres),
        order_by=_names(order, "--order"),
        limit=limit,
    )


def _type_name(value: object) -> str:
    """JSON type name of a decoded value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _string_list(obj: Mapping[str, object], key: str) -> tuple[str, ...]:
    """A JSON array of non-empty strings (absent: empty)."""
    value = obj.get(key, [])
    if not isinstance(value, list | tuple):
        raise QueryError(f"{key}: expected an array of strings, got {_type_name(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise QueryError(f"{key}[{i}]: expected a non-empty string, got {_type_name(item)}")
    return tuple(v.strip() for v in value)


def _scalar(value: object, where: str) -> object:
    """A JSON filter value: string, number or boolean."""
    if isinstance(value, str | int | float) and not isinstance(value, Mapping | list):
        return value
    raise QueryError(f"{where}: expected a string, number or boolean, got {_type_name(value)}")


def _json_filter(item: object, where: str, model: SemanticModel | None) -> Filter:
    """One JSON filter: a filter string or {dimension, op, value}."""
    if isinstance(item, str):
        try:
            return parse_where(item, model)
        except QueryError as err:
            raise QueryError(f"{where}: {err.message}") from err
    if not isinstance(item, Mapping):
        raise QueryError(f"{where}: expected a string or an object, got {_type_name(item)}")
    unknown = sorted(set(item) - set(FILTER_KEYS))
    if unknown:
        raise QueryError(f"{where}.{unknown[0]}: unknown key; use {', '.join(FILTER_KEYS)}")
    for key in FILTER_KEYS:
        if key not in item:
            raise QueryError(f"{where}.{key}: required")
    dimension, op, value = item["dimension"], item["op"], item["value"]
    if not isinstance(dimension, str) or not dimension.strip():
        raise QueryError(f"{where}.dimension: expected a string, got {_type_name(dimension)}")
    if op not in OPS:
        raise QueryError(f"{where}.op: expected one of {' '.join(OPS)}, got {op!r}")
    if op in ("in", "not_in", "between"):
        if not isinstance(value, list | tuple):
            raise QueryError(f"{where}.value: {op} needs an array, got {_type_name(value)}")
        value = tuple(_scalar(v, f"{where}.value[{i}]") for i, v in enumerate(value))
    else:
        value = _scalar(value, f"{where}.value")
    if model is not None:
        _check_dimension(model, dimension, where)
    return Filter(dimension=dimension.strip(), op=op, value=value)


def query_from_json(obj: object, model: SemanticModel | None = None) -> MetricQuery:
    """A MetricQuery from decoded JSON (or JSON text), strictly checked."""
    if isinstance(obj, str | bytes):
        try:
            obj = json.loads(obj)
        except ValueError as err:
            raise QueryError(f"query: not valid JSON ({err})") from err
    if not isinstance(obj, Mapping):
        raise QueryError(f"query: expected an object, got {_type_name(obj)}")
    unknown = sorted(set(obj) - set(JSON_KEYS))
    if unknown:
        raise QueryError(f"{unknown[0]}: unknown key; use {', '.join(JSON_KEYS)}")
    if "metrics" not in obj:
        raise QueryError("metrics: required")
    metrics = _string_list(obj, "metrics")
    if not metrics:
        raise QueryError("metrics: at least one metric is required")
    filters = obj.get("filters", [])
    if not isinstance(filters, list | tuple):
        raise QueryError(f"filters: expected an array, got {_type_name(filters)}")
    limit = obj.get("limit")
    if limit is not None:  # JSON: a number, not text that looks like one
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise QueryError(f"limit: expected a whole number or null, got {_type_name(limit)}")
        limit = whole_number(limit, "limit")
    return MetricQuery(
        metrics=metrics,
        dimensions=_string_list(obj, "dimensions"),
        filters=tuple(_json_filter(f, f"filters[{i}]", model) for i, f in enumerate(filters)),
        order_by=_string_list(obj, "order_by"),
        limit=limit,
    )


def query_to_json(query: MetricQuery) -> dict[str, object]:
    """The JSON form of a query (the inverse of :func:`query_from_json`)."""
    return {
        "metrics": list(query.metrics),
        "dimensions": list(query.dimensions),
        "filters": [
            {
                "dimension": f.dimension,
                "op": f.op,
                "value": list(f.value) if isinstance(f.value, tuple | list) else f.value,
            }
            for f in query.filters
        ],
        "order_by": list(query.order_by),
        "limit": query.limit,
    }
