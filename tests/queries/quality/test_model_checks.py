"""The `checks:` section of the model: what loads, and every bad input named by file, line
and key."""

from __future__ import annotations

import pytest

from app.core.config import DEMO_MODEL
from app.core.errors import ModelError
from queries.semantic.model import load_model, parse_model

HEAD = """version: 1
name: t
tables:
  orders: {kind: fact, primary_key: id, time: placed_at, joins: {customers: customer_id}}
  customers: {kind: dimension, primary_key: customer_id}
metrics:
  revenue: {fact: orders, sql: sum(amount)}
checks:
  orders:
"""


def problems(body: str) -> list[str]:
    with pytest.raises(ModelError) as caught:
        parse_model(HEAD + body, "shop.yaml")
    return [str(p) for p in caught.value.problems]


def test_checks_load_with_defaults_and_ids() -> None:
    model = parse_model(
        HEAD
        + """\
    - {kind: not_null, columns: [id, placed_at], risk: 1}
    - {kind: relationship, column: customer_id, to: customers.customer_id}
    - {kind: sql, name: big, sql: "SELECT id FROM orders WHERE amount > 1000", weight: 5}
"""
    )
    not_null, rel, big = model.checks
    assert (not_null.name, not_null.columns, not_null.risk, not_null.weight) == (
        "not_null_id_placed_at",
        ("id", "placed_at"),
        1,
        3.0,
    )
    assert (rel.to, rel.max_orphan_rate, rel.risk, rel.weight) == (
        ("customers", "customer_id"),
        0.0,
        2,
        1.0,
    )
    assert big.id == "model:orders.big" and big.weight == 5.0 and big.key == "checks.orders.2"


def test_demo_model_declares_checks_and_critical_metrics() -> None:
    model = load_model(DEMO_MODEL)
    assert {c.kind for c in model.checks} == {
        "unique",
        "not_null",
        "accepted_values",
        "range",
        "relationship",
        "row_count_change",
        "sql",
    }
    assert {"revenue", "orders"} <= {m.name for m in model.metrics.values() if m.critical}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "    - {kind: nul, column: id}\n",
            "shop.yaml:10: checks.orders.0.kind: 'nul' is not one of not_null",
        ),
        ("    - {column: id}\n", "shop.yaml:10: checks.orders.0: missing required key 'kind'"),
        (
            "    - {kind: range, column: amount}\n",
            "shop.yaml:10: checks.orders.0: a range check needs `min or max`",
        ),
        ("    - {kind: not_null}\n", "shop.yaml:10: checks.orders.0: a not_null check needs"),
        (
            "    - {kind: accepted_values, column: status, values: paid}\n",
            "checks.orders.0.values: expected a non-empty list of values",
        ),
        (
            "    - {kind: relationship, column: customer_id, to: customers}\n",
            "checks.orders.0.to: 'customers' is not table.column",
        ),
        (
            "    - {kind: relationship, column: customer_id, to: people.id}\n",
            "checks.orders.0.to: unknown table 'people'",
        ),
        (
            "    - {kind: not_null, column: id, risk: 3}\n",
            "checks.orders.0.risk: '3' is not one of 1, 2",
        ),
        (
            "    - {kind: range, column: amount, min: 5, max: 1}\n",
            "checks.orders.0.max: max 1 is below min 5",
        ),
        (
            "    - {kind: freshness, column: placed_at, max_age_hours: soon}\n",
            "checks.orders.0.max_age_hours: expected a number, got a string",
        ),
        (
            "    - {kind: not_null, column: id, treshold: 1}\n",
            "checks.orders.0.treshold: unknown key 'treshold'",
        ),
        (
            '    - {kind: sql, name: s, sql: "SELEC id FROM orders"}\n',
            "shop.yaml:10: checks.orders.0.sql: ",
        ),
        (
            '    - {kind: sql, name: s, sql: "DELETE FROM orders"}\n',
            "checks.orders.0.sql: a sql check must be a SELECT returning the failing rows, "
            "not DELETE",
        ),
        (
            '    - {kind: sql, name: s, sql: "CREATE TABLE x AS SELECT 1"}\n',
            "checks.orders.0.sql: a sql check must be a SELECT returning the failing rows, "
            "not CREATE",
        ),
        (
            '    - {kind: sql, name: s, sql: "SELECT 1; DROP TABLE orders"}\n',
            "checks.orders.0.sql: expected one SELECT statement, got 2 statements",
        ),
        (
            '    - {kind: sql, name: s, sql: "SELECT id FROM order_lines"}\n',
            "checks.orders.0.sql: unknown table 'order_lines'",
        ),
        (
            "    - {kind: unique, column: id}\n    - {kind: unique, column: id}\n",
            "shop.yaml:11: checks.orders.1.name: two checks on 'orders' are named 'unique_id'",
        ),
    ],
)
def test_bad_checks_are_named_by_file_line_and_key(body: str, expected: str) -> None:
    found = problems(body)
    assert any(expected in p for p in found), found


def test_a_check_on_an_unknown_table_is_reported() -> None:
    found = problems(
        "    - {kind: not_null, column: id}\n  ordrs:\n    - {kind: unique, column: id}\n"
    )
    assert any(
        "shop.yaml:11: checks.ordrs: unknown table 'ordrs'; did you mean 'orders'?" in p
        for p in found
    ), found


def test_starboard_check_reports_a_check_on_an_unknown_column(tmp_path) -> None:
    import duckdb
    import sqlalchemy as sa

    from queries.semantic.against_warehouse import check_model_against_warehouse

    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE orders (id INTEGER, customer_id INTEGER, placed_at TIMESTAMP, "
        "amount DOUBLE); CREATE TABLE customers (customer_id INTEGER)"
    )
    con.close()
    model = parse_model(HEAD + "    - {kind: not_null, column: amont}\n", "shop.yaml")
    engine = sa.create_engine(f"duckdb:///{path}")
    found = [str(p) for p in check_model_against_warehouse(model, engine)]
    engine.dispose()
    assert found == [
        "shop.yaml:10: checks.orders.0.column: column 'amont' does not exist in "
        "table 'orders'; did you mean 'amount'?"
    ]
