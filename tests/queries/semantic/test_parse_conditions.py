"""Condition text (and / or / not / parentheses), HAVING text and their JSON forms."""

from __future__ import annotations

import json

import pytest

from app.core.errors import QueryError
from queries.semantic.parse import (
    parse_cli,
    parse_condition,
    parse_having,
    query_from_json,
    query_to_json,
)
from queries.semantic.query import MAX_DEPTH, AllOf, AnyOf, Filter, Having, MetricQuery, Not
from tests.queries.second_schema import TRICKY_STORE, support_model

DE = Filter("country", "=", "DE")
PAID = Filter("channel", "=", "paid")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("country = DE", DE),
        ("country = DE or channel = paid", AnyOf((DE, PAID))),
        ("country = DE OR channel = paid", AnyOf((DE, PAID))),
        ("not (country in (DE,FR))", Not(Filter("country", "in", ("DE", "FR")))),
        ("not country = DE", Not(DE)),
        ("country not in (DE, FR)", Filter("country", "not_in", ("DE", "FR"))),
        (
            "country = DE or channel = paid and floors > 2",  # and binds tighter
            AnyOf((DE, AllOf((PAID, Filter("floors", ">", "2"))))),
        ),
        (
            "(country = DE or channel = paid) and floors > 2",
            AllOf((AnyOf((DE, PAID)), Filter("floors", ">", "2"))),
        ),
        ("store = Smith's, Main St", Filter("store", "=", TRICKY_STORE)),
        (
            "store = 'Smith''s, Main St' or store in (\"a, (b)\", O'Brien)",
            AnyOf(
                (Filter("store", "=", TRICKY_STORE), Filter("store", "in", ("a, (b)", "O'Brien")))
            ),
        ),
        (
            "channel = Paid Search or channel = 'x or y'",
            AnyOf((Filter("channel", "=", "Paid Search"), Filter("channel", "=", "x or y"))),
        ),
        (
            "date between 2026-01-01 and 2026-01-31 and channel = paid",
            AllOf((Filter("date", "between", ("2026-01-01", "2026-01-31")), PAID)),
        ),
        (
            "name = Foo (Bar) and origin = Oregon",
            AllOf((Filter("name", "=", "Foo (Bar)"), Filter("origin", "=", "Oregon"))),
        ),
        (
            "country in DE, FR or channel = paid",
            AnyOf((Filter("country", "in", ("DE", "FR")), PAID)),
        ),
        ("not not country = DE", Not(Not(DE))),
        ("store = x); drop", Filter("store", "=", "x); drop")),  # top level: ) is text
        (
            "(store = x) or store = y)",
            AnyOf((Filter("store", "=", "x"), Filter("store", "=", "y)"))),
        ),
        ("((country = DE))", DE),
        ("store = x'; drop table users; --", Filter("store", "=", "x'; drop table users; --")),
    ],
)
def test_parse_condition(text: str, expected: object) -> None:
    assert parse_condition(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("country = DE or", "at character 16 (the end): expected a condition"),
        ("country = DE or 1=1", "at character 17 ('1=1'): expected a condition"),
        (
            "(country = DE",
            "at character 14 (the end): expected ')' to close the '(' at character 1",
        ),
        ("(country = DE))", "at character 15 (')'): a ')' without its '('"),
        ("country = 'DE", "unclosed quote"),
        ("country = 'DE' x", "expected 'and', 'or' or the end"),
        ("country = Paid or Organic", "a value holding 'and' or 'or' must be quoted"),
        ("country in (DE,,FR)", "at character 16 (',FR)'): expected a value"),
        ("country in (DE FR", "expected ',' or ')' in the list"),
        ("date between 2026-01-01", "write 'between LOW and HIGH'"),
        ("country ~ DE", "write 'dimension op value'"),
        ("not (" * (MAX_DEPTH + 1) + "country = DE" + ")" * (MAX_DEPTH + 1), "nest more than"),
    ],
)
def test_parse_condition_errors_name_the_position(text: str, message: str) -> None:
    with pytest.raises(QueryError) as err:
        parse_condition(text)
    assert message in str(err.value)


def test_parse_condition_checks_dimensions_with_the_model() -> None:
    model = support_model()
    with pytest.raises(QueryError, match="'events' is a metric"):
        parse_condition("country = DE or events > 3", model)
    with pytest.raises(QueryError, match="unknown dimension 'contry'"):
        parse_condition("not contry = DE", model)


def test_parse_having() -> None:
    assert parse_having("revenue > 1000") == Having("revenue", ">", "1000")
    assert parse_having("events <> 3") == Having("events", "!=", "3")
    assert parse_having("events BETWEEN 1 and 2.5") == Having("events", "between", ("1", "2.5"))
    for text, message in [
        ("", "empty"),
        ("events", "write 'metric op number'"),
        ("events in (1, 2)", "write 'metric op number'"),
        ("events > lots", "'lots' is not a number"),
        ("events > nan", "'nan' is not a number"),
        ("events between 1", "between LOW and HIGH"),
        ("events >", "a number is missing"),
    ]:
        with pytest.raises(QueryError) as err:
            parse_having(text)
        assert message in str(err.value), text
    with pytest.raises(QueryError, match="unknown metric 'country' .it is a dimension"):
        parse_having("country > 3", support_model())


def test_parse_cli_with_groups_and_having() -> None:
    query = parse_cli(
        "events",
        "country",
        ["country = DE or channel = paid", "not (floors in (1, 2))"],
        having=["events > 10", "handle_minutes <= 500"],
    )
    assert query.filters == (AnyOf((DE, PAID)), Not(Filter("floors", "in", ("1", "2"))))
    assert query.having == (Having("events", ">", "10"), Having("handle_minutes", "<=", "500"))
    assert parse_cli("events", having="events > 1").having == (Having("events", ">", "1"),)


GROUPED = {
    "metrics": ["events"],
    "dimensions": ["country"],
    "filters": [
        {"or": [{"dimension": "country", "op": "=", "value": "DE"}, "channel = paid"]},
        {"not": {"and": [{"dimension": "floors", "op": "in", "value": [1, 2]}, "store = x"]}},
        "country = DE or not channel = paid",
    ],
    "having": [{"metric": "events", "op": ">", "value": 10}, "handle_minutes between 1 and 9"],
}


def test_query_from_json_groups_and_having_round_trip() -> None:
    query = query_from_json(json.dumps(GROUPED))
    assert query == MetricQuery(
        metrics=("events",),
        dimensions=("country",),
        filters=(
            AnyOf((DE, PAID)),
            Not(AllOf((Filter("floors", "in", (1, 2)), Filter("store", "=", "x")))),
            AnyOf((DE, Not(PAID))),
        ),
        having=(Having("events", ">", 10), Having("handle_minutes", "between", ("1", "9"))),
    )
    assert query_from_json(query_to_json(query)) == query
    assert "having" not in query_to_json(MetricQuery(metrics=("events",)))


def _nested(depth: int) -> dict:
    node: dict = {"dimension": "country", "op": "=", "value": "DE"}
    for _ in range(depth):
        node = {"not": node}
    return node


BASE = {"metrics": ["events"]}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"filters": [{"or": []}]}, "filters[0].or: a group needs at least one filter"),
        ({"filters": [{"or": {"dimension": "a"}}]}, "filters[0].or: expected an array of filters"),
        ({"filters": [{"not": [DE.__dict__]}]}, "filters[0].not: expected one filter"),
        ({"filters": [{"or": [], "and": []}]}, "filters[0]: a group has exactly one key"),
        (
            {"filters": [{"or": [{"dimension": "a", "op": "=", "value": 1}], "dimension": "a"}]},
            "a group has exactly one key",
        ),
        ({"filters": [{"or": [3]}]}, "filters[0].or[0]: expected a string or an object"),
        (
            {"filters": [{"and": [{"not": {"dimension": "a", "op": "~", "value": 1}}]}]},
            "filters[0].and[0].not.op: expected one of",
        ),
        ({"filters": [{"or": ["country ="]}]}, "filters[0].or[0]: filter 'country ='"),
        ({"filters": [_nested(MAX_DEPTH + 1)]}, f"groups nest more than {MAX_DEPTH} deep"),
        ({"having": {}}, "having: expected an array, got object"),
        ({"having": [3]}, "having[0]: expected a string or an object"),
        ({"having": [{"metric": "events", "op": ">"}]}, "having[0].value: required"),
        ({"having": [{"metric": "events", "op": "in", "value": 1}]}, "having[0].op: expected"),
        (
            {"having": [{"metric": "events", "op": ">", "value": None}]},
            "expected a number, got null",
        ),
        (
            {"having": [{"metric": "events", "op": ">", "value": True}]},
            "expected a number, got boolean",
        ),
        ({"having": [{"metric": "events", "op": ">", "value": "x"}]}, "'x' is not a number"),
        ({"having": [{"metric": "e", "op": ">", "value": 1, "x": 1}]}, "having[0].x: unknown key"),
        ({"having": [{"metric": "events", "op": "between", "value": [1]}]}, "array of 2 numbers"),
        ({"having": ["events ~ 3"]}, "having[0]: having 'events ~ 3'"),
    ],
)
def test_malformed_groups_and_having_name_the_fault(extra: dict, message: str) -> None:
    with pytest.raises(QueryError) as err:
        query_from_json({**BASE, **extra})
    assert message in str(err.value)


def test_json_depth_at_the_limit_parses_and_strings_share_the_limit() -> None:
    assert query_from_json({**BASE, "filters": [_nested(MAX_DEPTH)]}).filters
    inner = "not " * MAX_DEPTH + "country = DE"
    with pytest.raises(QueryError, match="nest more than"):
        query_from_json({**BASE, "filters": [{"not": inner}]})
