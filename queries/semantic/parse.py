"""The query interface from text (CLI, URLs) and JSON (HTTP API) → ``MetricQuery``.

Filter text: ``dimension[:grain] op value`` with op one of ``= != <> < <= > >=``,
``in (a, b)``, ``not in (a, b)`` / ``not_in (a, b)``, ``between a and b``. Values are
bare (``DE``, ``2026-01-01``; a bare scalar may contain spaces: ``channel = Paid Search``)
or quoted with ``'…'`` or ``"…"`` (a doubled quote inside stands for itself), which is how
a value holding a comma, parenthesis or the word ``and`` is written. Values stay strings:
the compiler coerces them to the column's type and binds them as parameters, so text such
as ``x'; drop table users; --`` is only ever a value. :func:`parse_where` reads one filter;
:func:`parse_condition` (the CLI's ``--where``) also joins filters with ``and`` / ``or``,
negates with ``not`` and groups with parentheses. Filters apply to dimensions; a condition
on a metric is a HAVING (``--having "revenue > 1000"``, :func:`parse_having`).

JSON: ``{"metrics": [...], "dimensions": [...], "filters": [...], "order_by": [...],
"limit": n, "having": [...]}`` — the field names of ``MetricQuery``; a filter is a condition
string, ``{"dimension": ..., "op": ..., "value": ...}``, or a group ``{"or": [...]}``,
``{"and": [...]}``, ``{"not": {...}}``; a having is ``"revenue > 1000"`` or
``{"metric": ..., "op": ..., "value": number}``. Unknown keys, wrong types and groups nested
deeper than MAX_DEPTH are errors naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from app.core.errors import QueryError
from queries.semantic.inputs import whole_number
from queries.semantic.query import (
    HAVING_OPS,
    MAX_DEPTH,
    OPS,
    AllOf,
    AnyOf,
    Condition,
    Filter,
    Having,
    MetricQuery,
    Not,
)
from queries.semantic.types import SemanticModel

_REF = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z]+)?)\s*")
_OP = re.compile(r"(?:(not\s+in|not_in|between|in)\b|(!=|<>|<=|>=|=|<|>))\s*", re.IGNORECASE)
_QUOTES = ("'", '"')
JSON_KEYS = ("metrics", "dimensions", "filters", "order_by", "limit", "having")
FILTER_KEYS = ("dimension", "op", "value")
GROUP_KEYS = ("and", "or", "not")
HAVING_KEYS = ("metric", "op", "value")
_T = TypeVar("_T")


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


_WORD = re.compile(r"(and|or|not)(?![A-Za-z0-9_:])", re.IGNORECASE)
_SPACE = re.compile(r"\s*")


class _ConditionParser:
    """Recursive descent over condition text (see :func:`parse_condition`)::

    condition  := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" condition ")" | dimension op value
    """

    def __init__(self, text: str, model: SemanticModel | None, depth_limit: int) -> None:
        self.text, self.model, self.depth_limit = text, model, depth_limit
        self.pos = 0
        self.open_groups = 0  # "(" of groups not closed yet: only then does ")" end a value

    # -- helpers
    def fail(self, message: str, at: int | None = None) -> QueryError:
        at = self.pos if at is None else at
        found = self.text[at : at + 20].strip()
        where = f"at character {at + 1}" + (f" ({found!r})" if found else " (the end)")
        return QueryError(f"filter {self.text!r}: {where}: {message}")

    def after_space(self, pos: int) -> int:
        """The position after the whitespace starting at ``pos``."""
        match = _SPACE.match(self.text, pos)
        return match.end() if match else pos

    def skip(self) -> None:
        self.pos = self.after_space(self.pos)

    def word(self, name: str) -> bool:
        """Consume the keyword ``name`` if it comes next (whole word)."""
        self.skip()
        match = _WORD.match(self.text, self.pos)
        if match and match.group(1).lower() == name:
            self.pos = match.end()
            return True
        return False

    def at_keyword(self, pos: int) -> bool:
        """True when ``and``/``or`` starts at ``pos`` after whitespace (a value's end)."""
        match = _WORD.match(self.text, pos)
        return bool(match and match.group(1).lower() in ("and", "or"))

    # -- grammar
    def parse(self) -> Condition:
        self.skip()
        if self.pos == len(self.text):
            raise QueryError("filter: empty; write 'dimension op value', e.g. country = DE")
        node = self.condition(1)
        self.skip()
        if self.pos < len(self.text):
            if self.text[self.pos] == ")":
                raise self.fail("a ')' without its '('")
            raise self.fail("expected 'and', 'or' or the end")
        return node

    def condition(self, depth: int) -> Condition:
        parts = [self.term(depth)]
        while self.word("or"):
            parts.append(self.term(depth))
        return parts[0] if len(parts) == 1 else AnyOf(tuple(parts))

    def term(self, depth: int) -> Condition:
        parts = [self.factor(depth)]
        while self.word("and"):
            parts.append(self.factor(depth))
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def factor(self, depth: int) -> Condition:
        self.skip()
        if depth > self.depth_limit:
            raise self.fail(f"groups nest more than {self.depth_limit} deep; simplify it")
        start = self.pos
        if self.word("not"):
            rest = self.text[self.pos :].lstrip()
            if not rest.lower().startswith(("in ", "in(")):  # "not in" needs a dimension first
                return Not(self.factor(depth + 1))
            self.pos = start
        if self.text.startswith("(", self.pos):
            self.pos += 1
            self.open_groups += 1
            node = self.condition(depth + 1)
            self.open_groups -= 1
            self.skip()
            if not self.text.startswith(")", self.pos):
                raise self.fail(f"expected ')' to close the '(' at character {start + 1}")
            self.pos += 1
            return node
        return self.comparison()

    def comparison(self) -> Filter:
        start = self.pos
        ref = _REF.match(self.text, self.pos)
        if ref is None or self.at_keyword(self.pos):
            raise self.fail("expected a condition: write 'dimension op value', e.g. country = DE")
        op = _OP.match(self.text, ref.end())
        if op is None:
            before = self.text[:start].rstrip().lower()
            hint = (
                "; a value holding 'and' or 'or' must be quoted: channel = 'Paid or Organic'"
                if before.endswith((" and", " or"))
                else ""
            )
            raise self.fail(
                "write 'dimension op value' with op one of = != < <= > >= in, not in, "
                "between … and …" + hint,
                ref.end(),
            )
        word = (op.group(1) or op.group(2)).lower()
        name = "!=" if word == "<>" else "not_in" if word.startswith("not") else word
        self.pos = op.end()
        value: object
        if name in ("in", "not_in"):
            value = self.value_list()
        elif name == "between":
            low = self.value(stop_at_and=True)
            if not self.word("and"):
                raise self.fail("write 'between LOW and HIGH'")
            value = (low, self.value())
        else:
            value = self.value()
        dimension = ref.group(1)
        if self.model is not None:
            _check_dimension(
                self.model, dimension, f"filter {self.text[start : self.pos].strip()!r}"
            )
        assert name in OPS
        return Filter(dimension=dimension, op=name, value=value)

    def value_list(self) -> tuple[str, ...]:
        self.skip()
        if not self.text.startswith("(", self.pos):  # a bare list: up to and/or or the end
            values = [self.value(in_list=True)]
            while self.text.startswith(",", self.pos):
                self.pos += 1
                values.append(self.value(in_list=True))
                self.skip()
            return tuple(values)
        self.pos += 1
        values = [self.value(in_list=True)]
        while True:
            self.skip()
            if self.text.startswith(",", self.pos):
                self.pos += 1
                values.append(self.value(in_list=True))
                continue
            if self.text.startswith(")", self.pos):
                self.pos += 1
                return tuple(values)
            raise self.fail("expected ',' or ')' in the list")

    def value(self, *, in_list: bool = False, stop_at_and: bool = False) -> str:
        """One value: quoted ('…' or "…", doubled quotes inside), or bare up to the next
        and/or, or the ')' closing a group or list (or ',' in a list)."""
        self.skip()
        start = self.pos
        if self.pos < len(self.text) and self.text[self.pos] in _QUOTES:
            quote = self.text[self.pos]
            pos = self.pos + 1
            while True:
                end = self.text.find(quote, pos)
                if end < 0:
                    raise self.fail(f"unclosed quote {quote}", start)
                if self.text.startswith(quote * 2, end):
                    pos = end + 2
                    continue
                self.pos = end + 1
                return self.text[start + 1 : end].replace(quote * 2, quote)
        depth = 0
        pos = self.pos
        while pos < len(self.text):
            char = self.text[pos]
            if char == "(":
                depth += 1
            elif char == ")":
                if depth == 0 and (in_list or self.open_groups):
                    break
                depth = max(depth - 1, 0)
            elif char == "," and in_list and depth == 0:
                break
            elif char.isspace() and depth == 0 and self.at_keyword(self.after_space(pos)):
                break
            pos += 1
        raw = self.text[start:pos].strip()
        if not raw:
            raise self.fail("expected a value", start)
        self.pos = start + len(self.text[start:pos].rstrip())
        return raw


def parse_condition(
    text: str, model: SemanticModel | None = None, *, depth_limit: int = MAX_DEPTH
) -> Condition:
    """A condition from text: filters joined with ``and`` / ``or``, ``not``, parentheses::

        country = DE or channel = paid
        not (country in (DE, FR)) and date >= 2026-01-01

    ``and`` binds tighter than ``or``. A value is bare (``Paid Search``) up to the next
    ``and``/``or`` or an unmatched ``)``, or quoted: ``store = 'Smith''s, Main St'``; a value
    holding the word and/or, or an unbalanced parenthesis, must be quoted. A single condition
    is a plain :class:`Filter`. QueryError names the character where the text went wrong."""
    if not isinstance(text, str):
        raise QueryError("filter: expected text such as country = DE")
    return _ConditionParser(text, model, depth_limit).parse()


_HAVING = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(between\b|!=|<>|<=|>=|=|<|>)\s*", re.I)


def parse_having(text: str, model: SemanticModel | None = None) -> Having:
    """``metric op number`` (``revenue > 1000``, ``orders between 10 and 20``)."""
    if not isinstance(text, str) or not text.strip():
        raise QueryError("having: empty; write 'metric op number', e.g. revenue > 1000")
    match = _HAVING.match(text)
    if match is None:
        raise QueryError(
            f"having {text!r}: write 'metric op number' with op one of "
            "= != < <= > >= between … and …"
        )
    metric, word = match.group(1), match.group(2).lower()
    op = "!=" if word == "<>" else word
    rest = text[match.end() :].strip()
    value: object
    if op == "between":
        bounds = re.split(r"\s+and\s+", rest, flags=re.IGNORECASE)
        if len(bounds) != 2 or not all(b.strip() for b in bounds):
            raise QueryError(f"having {text!r}: write 'between LOW and HIGH'")
        value = tuple(b.strip() for b in bounds)
    elif not rest:
        raise QueryError(f"having {text!r}: a number is missing after {word}")
    else:
        value = rest
    _check_number(value, f"having {text!r}")
    if model is not None:
        _check_metric(model, metric, f"having {text!r}")
    return Having(metric=metric, op=op, value=value)


def _check_number(value: object, where: str) -> None:
    """A HAVING value (or pair) must look like a number."""
    for item in value if isinstance(value, tuple) else (value,):
        text = str(item).strip().replace("_", "")
        try:
            float(text)
        except ValueError:
            raise QueryError(f"{where}: {item!r} is not a number") from None
        if isinstance(item, bool) or text.lower() in ("nan", "inf", "-inf", "+inf", "infinity"):
            raise QueryError(f"{where}: {item!r} is not a number")


def _check_metric(model: SemanticModel, name: str, where: str) -> None:
    """Reject a HAVING on a dimension or an unknown metric early."""
    if name not in model.metrics:
        hint = " (it is a dimension: use a filter)" if name in model.dimensions else ""
        raise QueryError(f"{where}: unknown metric {name!r}{hint}")


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
    having: str | Iterable[str] = (),
) -> MetricQuery:
    """A MetricQuery from CLI/URL strings (``--metrics``, ``--by``, ``--where``…).

    Each ``where`` is a condition (:func:`parse_condition`: and/or/not, parentheses); several
    are ANDed. Each ``having`` is ``metric op number`` (:func:`parse_having`), ANDed."""
    names = _names(metrics, "--metrics")
    if not names:
        raise QueryError("--metrics: at least one metric is required")
    wheres = [where] if isinstance(where, str) else list(where or ())
    if limit is not None:
        limit = whole_number(limit, "--limit")
    return MetricQuery(
        metrics=names,
        dimensions=_names(by, "--by"),
        filters=tuple(parse_condition(w, model) for w in wheres),
        order_by=_names(order, "--order"),
        limit=limit,
        having=tuple(
            parse_having(h, model) for h in ([having] if isinstance(having, str) else having)
        ),
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


def _from_text(parse: Callable[..., _T], text: str, where: str, model: SemanticModel | None) -> _T:
    """``parse(text, model)``, its error prefixed with where the text was in the JSON."""
    try:
        return parse(text, model)
    except QueryError as err:
        raise QueryError(f"{where}: {err.message}") from err


def _json_triple(item: object, where: str, keys: tuple[str, ...]) -> tuple[Any, Any, Any]:
    """The three values of a JSON object with exactly ``keys`` (what, op, value)."""
    if not isinstance(item, Mapping):
        raise QueryError(f"{where}: expected a string or an object, got {_type_name(item)}")
    unknown = sorted(set(item) - set(keys))
    if unknown:
        raise QueryError(f"{where}.{unknown[0]}: unknown key; use {', '.join(keys)}")
    for key in keys:
        if key not in item:
            raise QueryError(f"{where}.{key}: required")
    first, op, value = (item[key] for key in keys)
    return first, op, value


def _json_filter(item: object, where: str, model: SemanticModel | None) -> Filter:
    """One JSON filter: a filter string or {dimension, op, value}."""
    if isinstance(item, str):
        return _from_text(parse_where, item, where, model)
    dimension, op, value = _json_triple(item, where, FILTER_KEYS)
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


def _json_condition(
    item: object, where: str, model: SemanticModel | None, depth: int = 1
) -> Condition:
    """One JSON filter: a condition string, {dimension, op, value}, or a group
    ``{"or": [...]}`` / ``{"and": [...]}`` / ``{"not": {...}}`` nested up to MAX_DEPTH."""
    if isinstance(item, str):
        try:
            return parse_condition(item, model, depth_limit=max(MAX_DEPTH - depth + 1, 0))
        except QueryError as err:
            raise QueryError(f"{where}: {err.message}") from err
    if not isinstance(item, Mapping) or not any(k in item for k in GROUP_KEYS):
        return _json_filter(item, where, model)
    keys = sorted(item)
    if len(keys) != 1:
        raise QueryError(
            f"{where}: a group has exactly one key (and, or or not), got {', '.join(keys)}"
        )
    key = keys[0]
    if depth > MAX_DEPTH:
        raise QueryError(f"{where}.{key}: groups nest more than {MAX_DEPTH} deep; simplify it")
    body = item[key]
    if key == "not":
        if isinstance(body, list | tuple):
            raise QueryError(f"{where}.not: expected one filter (an object or string), got array")
        return Not(_json_condition(body, f"{where}.not", model, depth + 1))
    if not isinstance(body, list | tuple):
        raise QueryError(f"{where}.{key}: expected an array of filters, got {_type_name(body)}")
    if not body:
        raise QueryError(f"{where}.{key}: a group needs at least one filter")
    parts = tuple(
        _json_condition(part, f"{where}.{key}[{i}]", model, depth + 1)
        for i, part in enumerate(body)
    )
    return AnyOf(parts) if key == "or" else AllOf(parts)


def _json_having(item: object, where: str, model: SemanticModel | None) -> Having:
    """One JSON HAVING: ``"revenue > 1000"`` or {metric, op, value}."""
    if isinstance(item, str):
        return _from_text(parse_having, item, where, model)
    metric, op, value = _json_triple(item, where, HAVING_KEYS)
    if not isinstance(metric, str) or not metric.strip():
        raise QueryError(f"{where}.metric: expected a string, got {_type_name(metric)}")
    if op not in HAVING_OPS:
        raise QueryError(f"{where}.op: expected one of {' '.join(HAVING_OPS)}, got {op!r}")
    if op == "between":
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise QueryError(f"{where}.value: between needs an array of 2 numbers")
        value = tuple(_json_number(v, f"{where}.value[{i}]") for i, v in enumerate(value))
    else:
        value = _json_number(value, f"{where}.value")
    if model is not None:
        _check_metric(model, metric.strip(), where)
    return Having(metric=metric.strip(), op=op, value=value)


def _json_number(value: object, where: str) -> object:
    """A JSON number (or text holding one) for HAVING."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise QueryError(f"{where}: expected a number, got {_type_name(value)}")
    _check_number(value, where)
    return value


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
    having = obj.get("having", [])
    if not isinstance(having, list | tuple):
        raise QueryError(f"having: expected an array, got {_type_name(having)}")
    limit = obj.get("limit")
    if limit is not None:  # JSON: a number, not text that looks like one
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise QueryError(f"limit: expected a whole number or null, got {_type_name(limit)}")
        limit = whole_number(limit, "limit")
    return MetricQuery(
        metrics=metrics,
        dimensions=_string_list(obj, "dimensions"),
        filters=tuple(_json_condition(f, f"filters[{i}]", model) for i, f in enumerate(filters)),
        order_by=_string_list(obj, "order_by"),
        limit=limit,
        having=tuple(_json_having(h, f"having[{i}]", model) for i, h in enumerate(having)),
    )


def query_to_json(query: MetricQuery) -> dict[str, object]:
    """The JSON form of a query (the inverse of :func:`query_from_json`)."""
    body: dict[str, object] = {
        "metrics": list(query.metrics),
        "dimensions": list(query.dimensions),
        "filters": [condition_to_json(f) for f in query.filters],
        "order_by": list(query.order_by),
        "limit": query.limit,
    }
    if query.having:  # absent when empty, so the JSON of a query without HAVING is unchanged
        body["having"] = [
            {
                "metric": h.metric,
                "op": h.op,
                "value": list(h.value) if isinstance(h.value, tuple | list) else h.value,
            }
            for h in query.having
        ]
    return body


def condition_to_json(cond: object) -> object:
    """The JSON form of a Filter or group (the inverse of the ``filters`` items)."""
    if isinstance(cond, AllOf | AnyOf):
        return {
            "and" if isinstance(cond, AllOf) else "or": [condition_to_json(p) for p in cond.parts]
        }
    if isinstance(cond, Not):
        return {"not": condition_to_json(cond.part)}
    assert isinstance(cond, Filter)
    return {
        "dimension": cond.dimension,
        "op": cond.op,
        "value": list(cond.value) if isinstance(cond.value, tuple | list) else cond.value,
    }


def _text_value(value: object) -> str:
    """A value as condition text: bare when it is plain, else quoted ('…', '' inside)."""
    text = str(value)
    words = f" {text.lower()} "
    if (
        text
        and all(c.isalnum() or c in "-_.:@/ " for c in text)
        and text == text.strip()
        and " and " not in words
        and " or " not in words
    ):
        return text
    return "'" + text.replace("'", "''") + "'"


def condition_text(cond: object) -> str:
    """A Filter or group as :func:`parse_condition` text (its inverse)."""
    if isinstance(cond, AllOf | AnyOf):
        word = " and " if isinstance(cond, AllOf) else " or "
        return word.join(
            f"({condition_text(p)})" if isinstance(p, AllOf | AnyOf) else condition_text(p)
            for p in cond.parts
        )
    if isinstance(cond, Not):
        return f"not ({condition_text(cond.part)})"
    assert isinstance(cond, Filter)
    op = "not in" if cond.op == "not_in" else cond.op
    if cond.op in ("in", "not_in"):
        values = cond.value if isinstance(cond.value, tuple | list) else (cond.value,)
        return f"{cond.dimension} {op} ({', '.join(_text_value(v) for v in values)})"
    if cond.op == "between":
        assert isinstance(cond.value, tuple | list) and len(cond.value) == 2
        low, high = cond.value
        return f"{cond.dimension} between {_text_value(low)} and {_text_value(high)}"
    return f"{cond.dimension} {op} {_text_value(cond.value)}"
