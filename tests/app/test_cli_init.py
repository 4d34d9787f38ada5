"""``starboard init``: what a user types and reads, bad input included, and that the model it
writes passes ``starboard check`` on the same warehouse."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.app.test_cli import starboard
from tests.queries import second_schema
from tests.queries.starter import flights


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("STARBOARD_HOME", str(tmp_path / "home"))
    for name in ("STARBOARD_DB_URL", "STARBOARD_MODEL", "STARBOARD_CACHE", "STARBOARD_PG_SCHEMA"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


@pytest.mark.parametrize("build", [flights.create_duckdb, second_schema.create_duckdb])
def test_init_writes_a_model_that_starboard_check_passes(
    monkeypatch, capsys, tmp_path: Path, build
) -> None:
    url = f"duckdb:///{build(tmp_path / 'wh.duckdb')}"
    out_file = tmp_path / "model.yaml"
    code, out, err = starboard(monkeypatch, capsys, "init", "--db", url, "--out", str(out_file))
    assert code == 0, err
    assert f"Wrote {out_file}" in out and "facts" in out and "joins" in out
    assert f"starboard check --model {out_file}" in out
    code, out, err = starboard(monkeypatch, capsys, "check", "--model", str(out_file), "--db", url)
    assert code == 0, out + err
    assert "no problems" in out


def test_init_summary_says_what_it_could_not_decide(monkeypatch, capsys, tmp_path: Path) -> None:
    path = flights.create_duckdb(tmp_path / "wh.duckdb")
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE notes (body VARCHAR)")  # no key, no join, no time
    con.execute("INSERT INTO notes VALUES ('a'), ('a')")
    con.close()
    code, out, err = starboard(
        monkeypatch, capsys, "init", "--db", f"duckdb:///{path}", "--out", str(tmp_path / "m.yaml")
    )
    assert code == 0, err
    assert "Could not decide:" in out
    assert "notes: no joins in or out and no time column: left out of the model" in out
    from queries.semantic.model import load_model

    assert "# What starboard init could not decide:" in (tmp_path / "m.yaml").read_text()
    assert "notes" not in load_model(tmp_path / "m.yaml").tables


@pytest.mark.postgres
def test_init_on_postgres_prints_the_url_to_serve_it_with(
    monkeypatch, capsys, tmp_path: Path, pg_server: str
) -> None:
    from tests.conftest import fresh_schema

    with fresh_schema(pg_server, "sbinit") as (engine, schema):
        flights.create_postgres(engine, schema)
        out_file = tmp_path / "model.yaml"
        code, out, err = starboard(
            monkeypatch,
            capsys,
            "init",
            "--db",
            pg_server,
            "--schema",
            schema,
            "--out",
            str(out_file),
        )
        assert code == 0, err
        served = f"{pg_server}?options=-csearch_path%3D{schema}"
        assert served in out
        code, out, err = starboard(
            monkeypatch, capsys, "check", "--model", str(out_file), "--db", served
        )
        assert code == 0, out + err


def test_init_refuses_to_overwrite_without_force(monkeypatch, capsys, tmp_path: Path) -> None:
    url = f"duckdb:///{flights.create_duckdb(tmp_path / 'wh.duckdb')}"
    existing = tmp_path / "model.yaml"
    existing.write_text("mine\n")
    code, out, err = starboard(monkeypatch, capsys, "init", "--db", url, "--out", str(existing))
    assert code == 1
    assert f"{existing} already exists: pass --force to overwrite it." in err
    assert existing.read_text() == "mine\n"
    code, out, err = starboard(
        monkeypatch, capsys, "init", "--db", url, "--out", str(existing), "--force"
    )
    assert code == 0, err
    assert existing.read_text().startswith("# Written by `starboard init`")


def _empty_duckdb(tmp: Path) -> str:
    path = tmp / "empty.duckdb"
    duckdb.connect(str(path)).close()
    return f"duckdb:///{path}"


@pytest.mark.parametrize(
    ("db", "message"),
    [
        ("postgresql+psycopg://root@127.0.0.1:1/test", "Cannot reach the PostgreSQL warehouse"),
        ("duckdb:///{tmp}/nowhere/wh.duckdb", "No DuckDB file at {tmp}/nowhere/wh.duckdb"),
        ("{empty}", "has no tables in it: nothing to model"),
        ("not a url", "is not a database URL"),
        ("sqlite:///{tmp}/x.db", "starboard init reads DuckDB"),
    ],
)
def test_bad_input_gives_one_clear_message_and_exit_1(
    monkeypatch, capsys, tmp_path: Path, db: str, message: str
) -> None:
    empty = _empty_duckdb(tmp_path) if "{empty}" in db else ""
    db = db.format(tmp=tmp_path, empty=empty)
    out_file = tmp_path / "model.yaml"
    code, out, err = starboard(monkeypatch, capsys, "init", "--db", db, "--out", str(out_file))
    assert code == 1
    assert message.format(tmp=tmp_path) in err, err
    assert "Traceback" not in err + out
    assert not out_file.exists()
    if db.startswith("duckdb:///") and "nowhere" in db:
        assert not (tmp_path / "nowhere").exists()  # nothing created on the way


@pytest.mark.postgres
def test_a_missing_postgres_schema_is_named(monkeypatch, capsys, tmp_path: Path, pg_server) -> None:
    code, out, err = starboard(
        monkeypatch,
        capsys,
        "init",
        "--db",
        pg_server,
        "--schema",
        "no_such_schema_x",
        "--out",
        str(tmp_path / "m.yaml"),
    )
    assert code == 1
    assert "Schema 'no_such_schema_x' does not exist" in err


def test_init_reads_the_live_version_of_a_published_warehouse(
    monkeypatch, capsys, tmp_path: Path, small_warehouse: str
) -> None:
    out_file = tmp_path / "model.yaml"
    code, out, err = starboard(
        monkeypatch, capsys, "init", "--db", small_warehouse, "--out", str(out_file)
    )
    assert code == 0, err
    text = out_file.read_text()
    assert "# Read the live version " in text and "Read the live version" in out
    assert "starboard_publish" not in text and "starboard_gate" not in text
    code, out, err = starboard(
        monkeypatch, capsys, "check", "--model", str(out_file), "--db", small_warehouse
    )
    assert code == 0, out + err
