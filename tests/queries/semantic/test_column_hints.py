"""The optional ``tables.<t>.columns`` hints (for ``starboard mock``): parsed into
``Table.columns``, absent from every existing model, and checked with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.errors import ModelError
from queries.semantic.model import load_model, parse_model
from queries.semantic.types import ColumnHint

DEMO = Path(__file__).resolve().parents[3] / "queries" / "models" / "demo.yaml"

HEAD = """version: 1
name: hinted
tables:
  visits:
    kind: fact
    primary_key: visit_id
    time: visited_at
    columns:
"""
TAIL = """metrics:
  visits: {fact: visits, sql: count(*)}
"""


def model_with(hints: str):
    return parse_model(HEAD + hints + TAIL, "hinted.yaml")


def test_hints_are_parsed_into_the_table() -> None:
    model = model_with(
        "      plan: {values: [free, pro], null_rate: 0.05}\n"
        "      amount: {type: double, min: 0, max: 500, distribution: lognormal}\n"
    )
    assert model.tables["visits"].columns == (
        ColumnHint("plan", values=("free", "pro"), null_rate=0.05),
        ColumnHint("amount", type="DOUBLE", min=0.0, max=500.0, distribution="lognormal"),
    )


def test_models_without_hints_are_unchanged() -> None:
    assert all(t.columns == () for t in load_model(DEMO).tables.values())


@pytest.mark.parametrize(
    ("hints", "expected"),
    [
        (
            "      plan: {valus: [a]}\n",
            "hinted.yaml:9: tables.visits.columns.plan.valus: "
            "unknown key 'valus'; did you mean 'values'?",
        ),
        (
            "      plan: {type: TEXT}\n",
            "hinted.yaml:9: tables.visits.columns.plan.type: "
            "'TEXT' is not one of BIGINT, INTEGER, DOUBLE, VARCHAR, BOOLEAN, DATE, TIMESTAMP",
        ),
        (
            "      plan: {values: []}\n",
            "tables.visits.columns.plan.values: expected a non-empty list of values",
        ),
        (
            "      amount: {min: 10, max: 1}\n",
            "tables.visits.columns.amount.max: max 1 is below min 10",
        ),
        (
            "      amount: {distribution: gaussian}\n",
            "tables.visits.columns.amount."
            "distribution: 'gaussian' is not one of lognormal, normal, uniform, zipf",
        ),
        (
            "      amount: {null_rate: 2}\n",
            "tables.visits.columns.amount.null_rate: 2 is out of "
            "range: use a number between 0 and 1",
        ),
        (
            "      visit_id: {null_rate: 0.1}\n",
            "tables.visits.columns.visit_id.null_rate: "
            "'visit_id' is a primary key: it cannot be null",
        ),
        (
            "      visited_at: {type: BIGINT}\n",
            "tables.visits.columns.visited_at.type: "
            "'visited_at' is the table's time column: use DATE or TIMESTAMP",
        ),
        ("      bad-name: {type: DOUBLE}\n", "'bad-name' is not a valid name"),
        ("      plan: [free, pro]\n", "tables.visits.columns.plan: expected a mapping"),
    ],
)
def test_bad_hints_name_file_line_and_key(hints: str, expected: str) -> None:
    with pytest.raises(ModelError) as caught:
        model_with(hints)
    assert expected in str(caught.value), str(caught.value)


def test_hints_under_a_table_the_model_does_not_declare_are_an_error() -> None:
    text = HEAD + "      plan: {values: [a]}\n  visitz:\n    columns:\n      x: {type: DOUBLE}\n"
    with pytest.raises(ModelError) as caught:
        parse_model(text + TAIL, "hinted.yaml")
    assert (
        "hinted.yaml:10: tables.visitz: column hints for table 'visitz', which is not "
        "declared (no `kind`); did you mean 'visits'?"
    ) in str(caught.value)
