"""The query interface from text and JSON: filters, CLI arguments, strict JSON."""

from __future__ import annotations

import json

import pytest

from app.core.errors import QueryError
from queries.semantic.parse import parse_cli, parse_where, query_from_json, query_to_json
from queries.semantic.query import Filter, MetricQuery
from tests.queries.second_schema import TRICKY_STORE, support_model

INJECTION = "x'; drop table users; --"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("country in (DE,FR)", Filter("country", "in", ("DE", "FR"))),
        ("country in DE, FR", Filter("country", "in", ("DE", "FR"))),
        ("country IN ( DE , 'FR' )", Filter("country", "in", ("DE", "FR"))),
        ("country not in (DE)", Filter("country", "not_in", ("DE",))),
        ("country not_in (DE,FR)", Filter("country", "not_in", ("DE", "FR"))),
        (
            "date between 2026-01-01 and 2026-03-31",
            Filter("date", "between", ("2026-01-01", "2026-03-31")),
        ),
        (
            "date BETWEEN '2026-01-01' AND '2026-03-31'",
            Filter("date", "between", ("2026-01-01", "2026-03-31")),
        ),
        ("date:month >= 2026-01-01", Filter("date:month", ">=", "2026-01-01")),
        ("channel = 'Paid Search'", Filter("channel", "=", "Paid Search")),
        ("channel = Paid Search", Filter("channel", "=", "Paid Search")),
        ('channel != "Paid Search"', Filter("channel", "!=", "Paid Search")),
        ("floors<>3", Filter("floors", "!=", "3")),
        ("floors<=3", Filter("floors", "<=", "3")),
        ("floors > 1", Filter("floors", ">", "1")),
        ("floors < 1", Filter("floors", "<", "1")),
        ("store = 'Smith''s, Main St'", Filter("store", "=", TRICKY_STORE)),
        (
            "store in ('Smith''s, Main St', \"a (b)\", O'Brien)",
            Filter("store", "in", (TRICKY_STORE, "a (b)", "O'Brien")),
        ),
        ("name between 'x and y' and z", Filter("name", "between", ("x and y", "z"))),
        (f"store = {INJECTION}", Filter("store", "=", INJECTION)),
        (f"store in ({INJECTION})", Filter("store", "in", (INJECTION,))),
    ],
)
def test_parse_where(text: str, expected: Filter) -> None:
    assert parse_where(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("country", "write 'dimension op value'"),
        ("country ~ DE", "write 'dimension op value'"),
        ("country like DE%", "write 'dimension op value'"),
        ("country in (DE", "unbalanced parentheses"),
        ("country in (DE,,FR)", "empty value"),
        ("date between 2026-01-01", "between LOW and HIGH"),
        ("date between a and b and c", "between LOW and HIGH"),
        ("country = 'DE", "unclosed quote"),
        ("country = 'DE' x'", "text after a closing quote"),
        ("country =", "empty value"),
    ],
)
def test_parse_where_rejects_malformed_filters(text: str, message: str) -> None:
    with pytest.raises(QueryError, match="filter") as err:
        parse_where(text)
    assert message in str(err.value)


def test_filters_on_metrics_are_rejected() -> None:
    model = support_model()
    with pytest.raises(QueryError, match="'events' is a metric; filters apply to dimensions"):
        parse_where("events > 10", model)
    with pytest.raises(QueryError, match="unknown dimension 'contry'"):
        parse_where("contry = DE", model)
    assert parse_where("country = DE", model) == Filter("country", "=", "DE")


def test_parse_cli_builds_the_query() -> None:
    query = parse_cli(
        metrics="events, handle_minutes",
        by="country,period:month",
        where=["country in (Germany,France)", "period between 2025-11-01 and 2026-01-31"],
        order="-events",
        limit="100",
    )
    assert query == MetricQuery(
        metrics=("events", "handle_minutes"),
        dimensions=("country", "period:month"),
        filters=(
            Filter("country", "in", ("Germany", "France")),
            Filter("period", "between", ("2025-11-01", "2026-01-31")),
        ),
        order_by=("-events",),
        limit=100,
    )
    assert parse_cli(["events", "resolutions,shifts"], where="channel = chat") == MetricQuery(
        metrics=("events", "resolutions", "shifts"), filters=(Filter("channel", "=", "chat"),)
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metrics": ""}, "--metrics: at least one metric"),
        ({"metrics": " , "}, "--metrics: at least one metric"),
        ({"metrics": "events", "limit": "ten"}, "--limit: expected a whole number"),
        ({"metrics": "events", "limit": 0}, "--limit: expected a whole number"),
        ({"metrics": "events", "by": 3}, "--by: expected comma-separated names"),
        ({"metrics": "events", "where": ["country"]}, "write 'dimension op value'"),
    ],
)
def test_parse_cli_rejects(kwargs: dict, message: str) -> None:
    with pytest.raises(QueryError) as err:
        parse_cli(**kwargs)
    assert message in str(err.value)


def test_query_from_json_accepts_filter_objects_and_strings() -> None:
    obj = {
        "metrics": ["events"],
        "dimensions": ["store"],
        "filters": [
            {"dimension": "floors", "op": "in", "value": [1, 2]},
            "channel = 'walk in'",
            {"dimension": "store", "op": "=", "value": INJECTION},
        ],
        "order_by": ["-events"],
        "limit": 5,
    }
    query = query_from_json(json.dumps(obj))
    assert query == MetricQuery(
        metrics=("events",),
        dimensions=("store",),
        filters=(
            Filter("floors", "in", (1, 2)),
            Filter("channel", "=", "walk in"),
            Filter("store", "=", INJECTION),
        ),
        order_by=("-events",),
        limit=5,
    )
    assert query_from_json(query_to_json(query)) == query
    assert query_from_json({"metrics": ["events"]}) == MetricQuery(metrics=("events",))


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "query: expected an object, got array"),
        ("{not json", "query: not valid JSON"),
        ({}, "metrics: required"),
        ({"metrics": []}, "metrics: at least one metric"),
        ({"metrics": "events"}, "metrics: expected an array of strings, got string"),
        ({"metrics": ["events", 3]}, "metrics[1]: expected a non-empty string, got number"),
        ({"metrics": ["events"], "by": ["store"]}, "by: unknown key"),
        ({"metrics": ["events"], "dimensions": [None]}, "dimensions[0]: expected a non-empty"),
        ({"metrics": ["events"], "filters": {}}, "filters: expected an array, got object"),
        ({"metrics": ["events"], "filters": [3]}, "filters[0]: expected a string or an object"),
        ({"metrics": ["events"], "filters": ["country"]}, "filters[0]: filter 'country'"),
        (
            {"metrics": ["events"], "filters": [{"dimension": "store", "op": "="}]},
            "filters[0].value: required",
        ),
        (
            {
                "metrics": ["events"],
                "filters": [{"dimension": "store", "op": "=", "value": 1, "negate": True}],
            },
            "filters[0].negate: unknown key",
        ),
        (
            {"metrics": ["events"], "filters": [{"dimension": "store", "op": "~", "value": 1}]},
            "filters[0].op: expected one of",
        ),
        (
            {"metrics": ["events"], "filters": [{"dimension": 1, "op": "=", "value": 1}]},
            "filters[0].dimension: expected a string",
        ),
        (
            {"metrics": ["events"], "filters": [{"dimension": "s", "op": "in", "value": "a"}]},
            "filters[0].value: in needs an array, got string",
        ),
        (
            {"metrics": ["events"], "filters": [{"dimension": "s", "op": "=", "value": None}]},
            "filters[0].value: expected a string, number or boolean, got null",
        ),
        (
            {"metrics": ["events"], "filters": [{"dimension": "s", "op": "in", "value": [[1]]}]},
            "filters[0].value[0]: expected a string, number or boolean, got array",
        ),
        ({"metrics": ["events"], "limit": "5"}, "limit: expected a whole number"),
        ({"metrics": ["events"], "limit": True}, "limit: expected a whole number"),
        ({"metrics": ["events"], "order_by": "-events"}, "order_by: expected an array"),
    ],
)
def test_query_from_json_is_strict(obj: object, message: str) -> None:
    with pytest.raises(QueryError) as err:
        query_from_json(obj)
    assert message in str(err.value)


def test_query_from_json_with_model_rejects_metric_filters() -> None:
    obj = {"metrics": ["events"], "filters": [{"dimension": "events", "op": ">", "value": 3}]}
    with pytest.raises(QueryError, match=r"filters\[0\]: 'events' is a metric"):
        query_from_json(obj, support_model())
