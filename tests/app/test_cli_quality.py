"""`starboard quality` on a warehouse Starboard did not publish: table, exit codes, history."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from app.core.meta import MetaDB
from app.core.stores import checks as checkstore
from tests.app.test_cli import starboard
from tests.fixtures.quality import defects_on_postgres

MODEL = """version: 1
name: shop
tables:
  good: {kind: fact, primary_key: id, time: seen_at, joins: {dim_customer: customer_id}}
  bad: {kind: fact, primary_key: id, time: seen_at, joins: {dim_customer: customer_id}}
  dim_customer: {kind: dimension, primary_key: customer_id, pii: [email]}
metrics:
  amount: {fact: good, sql: sum(amount)}
checks:
  good:
    - {kind: unique, column: id, risk: 1}
    - {kind: range, column: amount, min: 0, risk: 1}
    - {kind: row_count_change, max: 0.5}
"""
BAD = """  bad:
    - {kind: unique, column: id, risk: 1}
    - {kind: accepted_values, column: status, values: [paid, refunded]}
"""


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("STARBOARD_HOME", str(tmp_path / "home"))
    for name in ("STARBOARD_DB_URL", "STARBOARD_MODEL", "STARBOARD_CACHE", "STARBOARD_META_DB_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def _runs(home: Path, url: str) -> list[checkstore.CheckRun]:
    db = MetaDB(f"sqlite:///{home / 'meta.sqlite'}")
    try:
        return checkstore.runs(db, checkstore.warehouse_key(url))
    finally:
        db.dispose()


def test_quality_passes_prints_the_checks_and_records_them(
    monkeypatch, capsys, tmp_path, defects: str, home: Path
) -> None:
    model = tmp_path / "m.yaml"
    model.write_text(MODEL)
    code, out, err = starboard(
        monkeypatch, capsys, "quality", "--model", str(model), "--db", defects
    )
    assert code == 0, err
    assert "3 of 3 checks passed" in out and "unique_id" in out and "good.amount" in out
    assert "no earlier count to compare" in out and "DQ score 100.0%" in out
    [run] = _runs(home, defects)
    assert run.source == "quality" and run.checks_total == 3 and run.checks_failed == 0

    con = duckdb.connect(defects.removeprefix("duckdb:///"))
    con.execute("INSERT INTO good SELECT id + 10, customer_id, status, amount, seen_at FROM good")
    con.close()
    code, out, err = starboard(
        monkeypatch, capsys, "quality", "--model", str(model), "--db", defects
    )
    assert code == 0, err  # a Risk 2 warning does not fail the command
    assert "2 of 3 checks passed" in out and "3 → 6 rows (+100.0%)" in out
    second, first = _runs(home, defects)
    assert second.version != first.version and second.checks_failed == 1


def test_quality_exits_1_on_a_risk1_failure(
    monkeypatch, capsys, tmp_path, defects: str, home: Path
) -> None:
    model = tmp_path / "m.yaml"
    model.write_text(MODEL + BAD)
    code, out, err = starboard(
        monkeypatch, capsys, "quality", "--model", str(model), "--db", defects
    )
    assert code == 1
    assert "1 Risk 1 check(s) failed" in err
    assert "2 of 4 row(s) with duplicated id" in out
    assert "1 of 4 row(s) with unexpected status" in out
    [run] = _runs(home, defects)
    assert run.risk1_failed == 1 and run.checks_failed == 2


def test_quality_names_a_check_that_cannot_run_and_runs_the_rest(
    monkeypatch, capsys, tmp_path, defects: str
) -> None:
    model = tmp_path / "m.yaml"
    model.write_text(
        MODEL + "  bad:\n    - {kind: not_null, column: colour, risk: 1}\n"
        "    - {kind: range, column: amount, min: 0}\n"
    )
    code, out, _ = starboard(monkeypatch, capsys, "quality", "--model", str(model), "--db", defects)
    assert code == 1
    assert "error" in out and "column 'colour' does not exist in table 'bad'" in out
    assert "1 of 4 row(s) with out-of-range amount" in out


def test_quality_on_postgresql(monkeypatch, capsys, tmp_path, home: Path, pg_url: str) -> None:
    with defects_on_postgres(pg_url) as (_engine, schema):
        model = tmp_path / "m.yaml"
        model.write_text(MODEL + BAD)
        db = f"{pg_url}{'&' if '?' in pg_url else '?'}options=-csearch_path%3D{schema}"
        code, out, _ = starboard(monkeypatch, capsys, "quality", "--model", str(model), "--db", db)
        assert code == 1 and "2 of 4 row(s) with duplicated id" in out
        assert len(_runs(home, db)) == 1
