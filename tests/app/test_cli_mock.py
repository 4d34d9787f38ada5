"""``starboard mock``: a pipeline project (--out) or a database (--db) for any model, and
clear errors for bad input."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import duckdb
import pytest
from ruamel.yaml import YAML

from queries.quality.checks import run_checks
from queries.semantic.model import load_model
from tests.app.test_cli import home, starboard  # noqa: F401  (home: autouse fixture)
from tests.conftest import fresh_schema
from tests.queries.second_schema import MODEL_PATH as SUPPORT_PATH
from tests.queries.starter.library import write_library

END = "2026-11-30"


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_out_writes_a_pipeline_project_with_one_source_per_table(
    monkeypatch, capsys, tmp_path: Path, fmt: str
) -> None:
    model_path = write_library(tmp_path)
    project = tmp_path / "library_mock"
    code, out, err = starboard(
        monkeypatch,
        capsys,
        "mock",
        "--model",
        str(model_path),
        "--out",
        str(project),
        "--rows",
        "3000",
        "--end-date",
        END,
        "--days",
        "400",
        "--format",
        fmt,
    )
    assert code == 0, err
    assert "loans" in out and "3,000" in out and "2025-10-27 … 2026-11-30" in out
    spec = YAML(typ="safe").load((project / "pipeline.yaml").read_text(encoding="utf-8"))
    model = load_model(model_path)
    assert spec["version"] == 1
    assert spec["model"] == "../library.yaml"  # relative to the project
    assert (project / spec["model"]).resolve() == model_path.resolve()
    assert set(spec["sources"]) == set(model.tables)
    with duckdb.connect() as con:
        for name, source in spec["sources"].items():
            assert source["key"] == list(model.tables[name].primary_key)
            assert source["format"] == fmt and source["path"] == f"raw/{name}.{fmt}"
            path = project / source["path"]
            if fmt == "parquet":
                relation = f"read_parquet('{path}')"
            else:  # the declared types read the CSV back
                types = ", ".join(f"'{c}': '{t}'" for c, t in source["columns"].items())
                relation = f"read_csv('{path}', header = true, columns = {{{types}}})"
            described = dict(
                con.execute(
                    f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {relation})"
                ).fetchall()
            )
            assert described == {c: t for c, t in source["columns"].items()}, name
            key = ", ".join(source["key"])
            total, distinct = con.execute(
                f"SELECT count(*), count(DISTINCT ({key})) FROM {relation}"
            ).fetchone()
            assert total == distinct > 0, name
    assert spec["sources"]["loans"]["time"] == "loaned_at"
    assert spec["sources"]["members"]["columns"]["age"] == "INTEGER"


def test_model_outside_the_project_tree_is_named_absolutely(tmp_path: Path) -> None:
    from queries.starter.mock import MockOptions, generate, pipeline_spec

    model = load_model(SUPPORT_PATH)
    mock = generate(model, MockOptions(rows=50, days=30))
    assert Path("/tmp") in tmp_path.resolve().parents and "/tmp/" not in str(SUPPORT_PATH)
    spec = pipeline_spec(mock, model, tmp_path / "elsewhere", "parquet")
    assert spec["model"] == str(SUPPORT_PATH.resolve())  # they share only the root


def test_db_writes_duckdb_that_starboard_check_accepts(monkeypatch, capsys, tmp_path) -> None:
    url = f"duckdb:///{tmp_path / 'support.duckdb'}"
    code, out, err = starboard(
        monkeypatch,
        capsys,
        "mock",
        "--model",
        str(SUPPORT_PATH),
        "--db",
        url,
        "--rows",
        "2000",
        "--end-date",
        END,
        "--seed",
        "5",
    )
    assert code == 0, err
    assert "f_ticket_event" in out and "2,000" in out
    with duckdb.connect(str(tmp_path / "support.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM f_staffing").fetchone() == (2000,)
        assert con.execute("SELECT max(cal_date) FROM d_calendar").fetchone()[0].isoformat() == END
    code, out, err = starboard(
        monkeypatch, capsys, "check", "--model", str(SUPPORT_PATH), "--db", url
    )
    assert code == 0, out + err
    assert "no problems" in out


def test_db_writes_a_postgresql_schema_that_passes_the_checks(pg_url: str, tmp_path) -> None:
    from queries.starter.mock import MockOptions, generate, write_database

    model = load_model(write_library(tmp_path))
    with fresh_schema(pg_url, "sbmock") as (engine, schema):
        options = urllib.parse.quote(f"-csearch_path={schema}")
        write_database(
            generate(model, MockOptions(rows=2000, days=200)), f"{pg_url}?options={options}"
        )
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM loans").scalar() == 2000
            assert (
                conn.exec_driver_sql(
                    "SELECT count(*) FROM loans l LEFT JOIN books b USING (book_id) "
                    "WHERE b.book_id IS NULL"
                ).scalar()
                == 0
            )
        results = run_checks(model, engine)
        assert [r.name for r in results if not r.passed] == []
        assert len(results) == len(model.checks)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "{tmp}/o", "--db", "duckdb:///{tmp}/x.duckdb"], "exactly one of --out"),
        ([], "exactly one of --out"),
        (["--out", "{tmp}/o", "--rows", "0"], "--rows 0: give at least 1 row"),
        (["--out", "{tmp}/o", "--days", "0"], "--days 0"),
        (["--out", "{tmp}/o", "--format", "xlsx"], "--format 'xlsx'"),
        (["--out", "{tmp}/o", "--end-date", "soon"], "--end-date 'soon'"),
        (["--out", "{tmp}/afile/o"], "cannot write there"),
        (["--db", "sqlite:///{tmp}/x.db"], "writes DuckDB"),
        (["--db", "not a url"], "is not a database URL"),
    ],
)
def test_bad_options_get_a_clear_error(monkeypatch, capsys, tmp_path, args, message) -> None:
    (tmp_path / "afile").write_text("not a folder", encoding="utf-8")
    filled = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code, out, err = starboard(
        monkeypatch, capsys, "mock", "--model", str(SUPPORT_PATH), "--rows", "10", *filled
    )
    assert code != 0
    assert message in err + out, err + out
    assert "Traceback" not in err + out


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        ("version: 1\nname: x\ntables: [\n", "YAML syntax error"),
        (
            "version: 1\nname: x\ntables:\n  t:\n    kind: fact\n    primary_key: id\n"
            "    columns:\n      amount: {type: MONEY}\nmetrics:\n  n: {fact: t, sql: count(*)}\n",
            "m.yaml:8: tables.t.columns.amount.type: 'MONEY' is not one of",
        ),
        (  # hints for a table the model does not have: the typo is named with its line
            "version: 1\nname: x\ntables:\n  loans:\n    kind: fact\n    primary_key: id\n"
            "  loan:\n    columns:\n      fee: {type: DOUBLE}\n"
            "metrics:\n  n: {fact: loans, sql: count(*)}\n",
            "m.yaml:7: tables.loan: column hints for table 'loan', which is not declared "
            "(no `kind`); did you mean 'loans'?",
        ),
    ],
)
def test_a_bad_model_shows_the_model_error(monkeypatch, capsys, tmp_path, yaml, message) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(yaml, encoding="utf-8")
    code, out, err = starboard(
        monkeypatch, capsys, "mock", "--model", str(path), "--out", str(tmp_path / "o")
    )
    assert code == 1
    assert message in err + out, err + out
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_mock_project_loads_through_the_pipeline(
    monkeypatch, capsys, tmp_path: Path, fmt: str
) -> None:
    """`starboard mock --out` then `starboard load`: gated by the model's checks, published."""
    from app.core.warehouse import Warehouse

    model_path = write_library(tmp_path)
    project = tmp_path / "library_mock"
    code, _, err = starboard(
        monkeypatch, capsys, "mock", "--model", str(model_path), "--out", str(project),
        "--rows", "2000", "--end-date", END, "--days", "200", "--format", fmt,
    )  # fmt: skip
    assert code == 0, err
    url = f"duckdb:///{tmp_path / 'wh' / 'library.duckdb'}"
    code, out, err = starboard(monkeypatch, capsys, "load", str(project), "--db", url)
    assert code == 0, err
    assert "Published version" in out and "DQ score" in out  # freshness may warn: old END
    snap = Warehouse(url).snapshot()
    with snap.engine.connect() as conn:
        loans = conn.exec_driver_sql("SELECT count(*) FROM loans").scalar()
    assert loans == 2000 and snap.version.source == "pointer"
