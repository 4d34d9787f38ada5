"""Failing-row samples on /quality under row scope and PII (#14, item 14).

Samples are taken at publish from all rows, with no user in sight, so a row scope cannot
be applied to them: a user with a row scope sees the counts and a note saying why, never
the rows (an APAC-scoped admin saw an AMER user's e-mail). A ``sql`` check that renames a
PII column, computes from it or hides it behind a column list has it masked before the
sample is stored, as a plainly named PII column is."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.core.stores.checks import MASK
from queries.quality.checks import run_checks, sql_pii_outputs, unmasked_rows
from queries.semantic.model import parse_model
from tests.conftest import PASSWORD, add_users, find, find_all, make_app, render, signed_in, texts
from tests.queries.quality.test_check_kinds import MODEL, NOW

CHECK = "model:dim_user.no_internal_users"


@pytest.fixture(scope="module")
def planted_app(planted_demo):
    settings, _ = planted_demo
    app = make_app(settings.db_url, settings.home, model=str(settings.model))
    add_users(app)
    users = app.server.extensions["starboard"].users
    users.add("apac_admin", "admin", PASSWORD, (("region", ("APAC",)),))
    yield app
    app.server.extensions["starboard"].warehouse.dispose()


def _samples(page) -> list[dict]:
    return find_all(page, lambda n: "data-check" in n.get("props", {}))


def test_an_unscoped_admin_sees_the_failing_rows_with_their_emails(planted_app) -> None:
    page = render(signed_in(planted_app, "ada"), "/quality")
    [block] = [b for b in _samples(page) if b["props"]["data-check"] == CHECK]
    assert sum("@example.com" in t for t in texts(block)) == 4  # the yardstick


@pytest.mark.parametrize("who", ["apac_admin", "emea"])
def test_a_scoped_user_sees_counts_and_why_not_the_rows(planted_app, who) -> None:
    page = render(signed_in(planted_app, who), "/quality")
    assert _samples(page) == []
    note = find(page, "quality-samples")
    assert note["props"]["data-reason"] == "row-scope"
    region = "APAC" if who == "apac_admin" else "EMEA"
    [text] = texts(note)
    assert text.startswith(f"Your access is limited to region = {region}.")
    assert "not shown to you" in text
    words = texts(page)
    assert not any("@example.com" in t for t in words)
    assert not any(MASK in t for t in words)  # no rows at all, not masked
    assert any(t.startswith("4 of ") for t in words)  # the check's count stays


def test_the_scoped_admin_gets_no_unmasked_read_behind_the_page(planted_app, monkeypatch) -> None:
    import queries.quality.dq

    calls = []
    monkeypatch.setattr(queries.quality.dq, "unmasked_rows", lambda *a: calls.append(a) or [])
    render(signed_in(planted_app, "apac_admin"), "/quality")
    assert calls == []
    render(signed_in(planted_app, "ada"), "/quality")
    assert calls, "an unscoped admin's page reads the PII back by key"


RENAMES = [
    ("SELECT customer_id, email AS contact FROM dim_customer WHERE tier = 'gold'", ("contact",)),
    ("SELECT customer_id, lower(email) AS e FROM dim_customer WHERE tier = 'gold'", ("e",)),
    (
        "WITH g AS (SELECT customer_id, email AS x FROM dim_customer WHERE tier = 'gold') "
        "SELECT customer_id, x AS y FROM g",
        ("y",),
    ),
    (
        "SELECT * FROM (SELECT customer_id, email AS mail FROM dim_customer WHERE tier = 'gold') s",
        ("mail",),
    ),
    ("SELECT k, m FROM dim_customer AS t(k, m, tier) WHERE tier = 'gold'", ("k", "m")),
    (
        "SELECT customer_id, max(email) FROM dim_customer WHERE tier = 'gold' GROUP BY customer_id",
        None,
    ),
]


@pytest.mark.parametrize("sql, masked", RENAMES)
def test_a_sql_check_cannot_store_pii_under_another_name(defects, sql, masked) -> None:
    engine = sa.create_engine(defects)
    model = parse_model(
        MODEL.replace("TABLE", "dim_customer").replace(
            "CHECK", f'{{kind: sql, name: gold, sql: "{sql}"}}'
        )
    )
    [result] = run_checks(model, engine, now=NOW)
    sample = result.sample
    assert result.failing_rows == 2 and len(sample.rows) == 2
    stored = sample.to_json()
    assert "@x.org" not in stored, stored
    assert set(masked or sample.columns) <= set(sample.masked)
    unmasked_rows(model, engine, "dim_customer", sample)  # reading back still works
    engine.dispose()


def test_plain_columns_of_a_sql_check_are_not_masked() -> None:
    model = parse_model(
        MODEL.replace("TABLE", "dim_customer").replace("CHECK", "{kind: not_null, column: tier}")
    )
    sql = "SELECT customer_id, tier FROM dim_customer WHERE email IS NULL"
    assert sql_pii_outputs(model, sql, ["customer_id", "tier"]) == frozenset()
    assert sql_pii_outputs(model, "SELECT id FROM good", ["id"]) == frozenset()
