"""Each kind of check catches its planted defect and passes clean data (DuckDB and, when
STARBOARD_TEST_PG_URL is set, PostgreSQL), with a PII-masked sample of the failing rows."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from app.core.stores.checks import MASK
from queries.quality.checks import run_checks, unmasked_rows
from queries.semantic.model import parse_model
from tests.fixtures.quality import defects_on_postgres

NOW = datetime(2026, 11, 24, 12, 0)
MODEL = """
version: 1
name: defects
tables:
  good: {kind: fact, primary_key: id, time: seen_at, joins: {dim_customer: customer_id}}
  bad: {kind: fact, primary_key: id, time: seen_at, joins: {dim_customer: customer_id}}
  dim_customer: {kind: dimension, primary_key: customer_id, pii: [email]}
metrics:
  amount: {fact: good, sql: sum(amount)}
checks:
  TABLE:
    - CHECK
"""
# kind: (check, failing rows on `bad` (None: not a row count), observed on `bad`)
KINDS = {
    "not_null": ("{kind: not_null, column: status, risk: 1}", 1, 1),
    "unique": ("{kind: unique, column: id}", 2, 2),
    "accepted_values": ("{kind: accepted_values, column: status, values: [paid, refunded]}", 1, 1),
    "range": ("{kind: range, column: amount, min: 0, max: 100}", 1, 1),
    "relationship": (
        "{kind: relationship, column: customer_id, "
        "to: dim_customer.customer_id, max_orphan_rate: 0.1}",
        1,
        0.25,
    ),
    "freshness": ("{kind: freshness, column: seen_at, max_age_hours: 48}", None, 564.0),
    "row_count_change": ("{kind: row_count_change, min: -0.1, max: 0.5}", None, 1.0),
    "sql": (
        '{kind: sql, name: unknown_customer, sql: "SELECT id, customer_id FROM TABLE t '
        "WHERE NOT EXISTS (SELECT 1 FROM dim_customer d WHERE d.customer_id = "
        't.customer_id)"}',
        1,
        1,
    ),
}
PREVIOUS = {"good": 3, "bad": 2}


def _model(table: str, check: str):
    return parse_model(MODEL.replace("TABLE", table).replace("CHECK", check))


def _engines():
    yield "duckdb"
    yield "postgresql"


@pytest.fixture(params=list(_engines()))
def engine(request, defects: str):
    if request.param == "duckdb":
        engine = sa.create_engine(defects)
        yield engine
        engine.dispose()
        return
    with defects_on_postgres(request.getfixturevalue("pg_url")) as (engine, _schema):
        yield engine


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_check_kind_catches_its_defect_and_passes_clean_data(engine, kind: str) -> None:
    check, failing, observed = KINDS[kind]
    results = {}
    for table in ("good", "bad"):
        model = _model(table, check.replace("TABLE", table))
        [result] = run_checks(model, engine, now=NOW, previous_counts=lambda c: PREVIOUS[c.table])
        results[table] = result
    good, bad = results["good"], results["bad"]
    assert good.passed and not good.error, good.message
    assert not bad.passed and not bad.error, bad.message
    assert bad.kind == kind and bad.table == "bad" and bad.check_id.startswith("model:bad.")
    assert bad.status == ("fail" if "risk: 1" in check else "warn")
    if failing is not None:
        assert bad.failing_rows == failing
        assert len(bad.sample.rows) == failing
        assert good.failing_rows == 0
    assert bad.observed == pytest.approx(observed, abs=0.01)


def test_sample_masks_pii_before_storage_and_unmasks_by_key(engine) -> None:
    model = parse_model(
        MODEL.replace("TABLE", "dim_customer").replace(
            "CHECK",
            '{kind: sql, name: gold, sql: "SELECT customer_id, email, tier FROM '
            "dim_customer WHERE tier = 'gold'\"}",
        )
    )
    [result] = run_checks(model, engine, now=NOW)
    assert result.failing_rows == 2 and result.total_rows == 3
    sample = result.sample
    assert sample.masked == ("email",) and sample.keys == ("customer_id",)
    assert sorted(sample.rows) == [(1, MASK, "gold"), (3, MASK, "gold")]
    assert "a@x.org" not in sample.to_json()
    assert sorted(unmasked_rows(model, engine, "dim_customer", sample)) == [
        (1, "a@x.org", "gold"),
        (3, "c@x.org", "gold"),
    ]


def test_a_check_that_cannot_run_is_reported_and_the_others_still_run(engine) -> None:
    model = parse_model(
        MODEL.replace("TABLE", "bad").replace(
            "    - CHECK",
            """\
    - {kind: not_null, column: colour}
    - {kind: sql, name: broken, sql: "SELECT id FROM bad WHERE no_such_column > 1"}
    - {kind: range, column: amount, min: 0}""",
        )
    )
    colour, broken, amount = run_checks(model, engine, now=NOW)
    assert colour.error and not colour.passed
    assert "checks.bad.0" in colour.message and "column 'colour' does not exist" in colour.message
    assert broken.error and "bad.broken" in broken.message and "could not run" in broken.message
    assert not amount.error and amount.failing_rows == 1
