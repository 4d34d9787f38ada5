"""`starboard load --db postgresql+psycopg://…`: gated, versioned schemas, atomic swap."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.core.errors import ConfigError, DataError
from app.core.pointer import read_pg_pointer
from app.core.warehouse import Warehouse
from app.loader.load import GateFailure, load
from app.loader.postgres import load_postgres, pg_type
from tests.app.loader import rawdata

pytestmark = pytest.mark.postgres
NOW = datetime(2026, 3, 21, 8, 0, tzinfo=UTC)


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    return rawdata.write_csv(tmp_path / "raw")


def _load(raw: Path, url: str, prefix: str, tmp_path: Path, **kw):
    """A PostgreSQL publish with the demo model's keys, indexes and checks, as the CLI does."""
    from app.cli.pipeline import model_layout
    from app.core.config import DEMO_MODEL
    from queries.quality.checks import PublishChecks

    layout = model_layout(DEMO_MODEL)
    kw.setdefault("checks", PublishChecks(DEMO_MODEL, now=lambda: NOW))
    return load_postgres(
        raw,
        url,
        schema_prefix=prefix,
        work_dir=tmp_path / "work",
        now=lambda: NOW,
        primary_keys=layout.primary_keys,
        indexes=layout.indexes,
        **kw,
    )


def _schemas(url: str, prefix: str) -> list[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        names = (
            conn.execute(
                sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p ORDER BY 1"),
                {"p": prefix + "%"},
            )
            .scalars()
            .all()
        )
    engine.dispose()
    return list(names)


def _pointer(url: str, prefix: str) -> dict | None:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        pointer = read_pg_pointer(conn, prefix)
    engine.dispose()
    return pointer


def _rows(url: str, prefix: str, sql: str) -> list[tuple]:
    warehouse = Warehouse(url, pg_schema=prefix, check_interval=0)
    try:
        with warehouse.snapshot().engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(sql).fetchall()]
    finally:
        warehouse.dispose()


def test_publish_copies_the_same_star_schema_as_duckdb(raw, pg_url, prefix, tmp_path) -> None:
    result = _load(raw, pg_url, prefix, tmp_path)
    duck_url = f"duckdb:///{tmp_path / 'duck' / 'warehouse.duckdb'}"
    duck = load(raw, duck_url, now=lambda: NOW)
    assert result.row_counts == duck.row_counts
    assert result.row_counts["fct_interaction"] == 85
    assert _pointer(pg_url, prefix)["schema_name"] == f"{prefix}_v{result.version.lower()}"
    for sql in (
        "SELECT count(*), sum(revenue), min(occurred_at), max(occurred_at), "
        "count(DISTINCT user_key) FROM fct_interaction",
        "SELECT channel, channel_group, is_paid FROM dim_channel ORDER BY 1",
        "SELECT sum(spend), sum(clicks), min(date_key) FROM fct_marketing_spend",
        "SELECT count(*), count(email), sum(CASE WHEN is_internal THEN 1 ELSE 0 END) FROM dim_user",
    ):
        assert _rows(pg_url, prefix, sql) == _rows(duck_url, "unused", sql), sql
    version = Warehouse(pg_url, pg_schema=prefix).snapshot().version
    assert (version.id, version.source) == (result.version, "pointer")
    assert version.dq_score == result.dq_score and version.row_counts == result.row_counts


def test_keys_and_indexes_are_added(raw, pg_url, prefix, tmp_path) -> None:
    result = _load(raw, pg_url, prefix, tmp_path)
    indexes = _rows(
        pg_url,
        prefix,
        f"SELECT tablename, indexdef FROM pg_indexes WHERE "
        f"schemaname = '{result.file}' ORDER BY 1, 2",
    )
    tables = {table for table, _ in indexes}
    assert {"dim_date", "dim_user", "fct_interaction", "fct_marketing_spend"} <= tables
    assert any("occurred_at" in ddl for table, ddl in indexes if table == "fct_interaction")
    assert any("date_key" in ddl for table, ddl in indexes if table == "fct_marketing_spend")


def test_third_publish_keeps_live_and_previous_and_the_history(
    raw, pg_url, prefix, tmp_path
) -> None:
    first = _load(raw, pg_url, prefix, tmp_path)
    second = _load(raw, pg_url, prefix, tmp_path)
    third = _load(raw, pg_url, prefix, tmp_path)
    live = f"{prefix}_v{third.version.lower()}"
    previous = f"{prefix}_v{second.version.lower()}"
    assert _schemas(pg_url, prefix) == sorted([prefix, previous, live])
    assert [str(p) for p in third.pruned] == [f"{prefix}_v{first.version.lower()}"]
    assert _pointer(pg_url, prefix)["previous"] == previous
    history = _rows(pg_url, prefix, "SELECT version FROM starboard_publish ORDER BY 1")
    assert history == sorted([(first.version,), (second.version,), (third.version,)])
    gates = _rows(pg_url, prefix, "SELECT count(DISTINCT version) FROM starboard_gate")
    assert gates == [(3,)]
    # the row-count gates compared against the live PostgreSQL version
    assert any(g.check == "row_count_change" and g.passed for g in third.gates)


def test_a_failing_gate_publishes_nothing(raw, pg_url, prefix, tmp_path) -> None:
    first = _load(raw, pg_url, prefix, tmp_path)
    before = _schemas(pg_url, prefix)
    bad = rawdata.tables()
    bad["users"] = [*bad["users"], dict(bad["users"][0])]  # a duplicate user_id
    bad_raw = rawdata.write_csv(tmp_path / "bad", bad)
    with pytest.raises(GateFailure, match="user_id"):
        _load(bad_raw, pg_url, prefix, tmp_path)
    assert _schemas(pg_url, prefix) == before
    assert _pointer(pg_url, prefix)["version"] == first.version


@pytest.mark.parametrize("step", ["copy to PostgreSQL", "keys and statistics"])
def test_a_load_that_dies_after_copying_leaves_the_live_version(
    raw, pg_url, prefix, tmp_path, step
) -> None:
    first = _load(raw, pg_url, prefix, tmp_path)
    before = _schemas(pg_url, prefix)
    with pytest.raises(DataError, match="stopped on purpose"):
        _load(raw, pg_url, prefix, tmp_path, fail_after=step)
    assert _schemas(pg_url, prefix) == before
    assert _pointer(pg_url, prefix)["version"] == first.version
    assert not list((tmp_path / "work").iterdir())  # the staged DuckDB file is gone


def test_a_second_loader_is_refused_while_one_runs(raw, pg_url, prefix, tmp_path) -> None:
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        conn.execute(
            sa.text("SELECT pg_advisory_lock(hashtext(:k))"), {"k": f"starboard-load:{prefix}"}
        )
        with pytest.raises(DataError, match="Another load .* is running"):
            _load(raw, pg_url, prefix, tmp_path)
        conn.execute(
            sa.text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": f"starboard-load:{prefix}"}
        )
    engine.dispose()
    assert _pointer(pg_url, prefix) is None


@pytest.mark.parametrize(
    ("prefix_text", "message"),
    [
        ("Bad-Prefix", "STARBOARD_PG_SCHEMA='Bad-Prefix' is not usable"),
        ("1abc", "not starting with a digit"),
        ("p" * 40, "use 1–39 lower-case letters"),  # schema names stop at 63 characters
    ],
)
def test_bad_schema_prefix_is_named(raw, tmp_path, prefix_text, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_postgres(
            raw, "postgresql+psycopg://nobody@127.0.0.1:1/none", schema_prefix=prefix_text
        )


@pytest.mark.parametrize(
    ("duck", "pg"),
    [
        ("INTEGER", "INTEGER"),
        ("BIGINT", "BIGINT"),
        ("DOUBLE", "DOUBLE PRECISION"),
        ("VARCHAR", "TEXT"),
        ("DECIMAL(18,2)", "NUMERIC(18,2)"),
        ("HUGEINT", "NUMERIC(38,0)"),
        ("TIMESTAMP", "TIMESTAMP"),
        ("BOOLEAN", "BOOLEAN"),
        ("DATE", "DATE"),
    ],
)
def test_duckdb_types_map_to_postgresql(duck: str, pg: str) -> None:
    assert pg_type(duck, "Column t.c") == pg


def test_a_type_without_a_postgresql_twin_is_named() -> None:
    with pytest.raises(DataError, match=r"Column t\.tags has DuckDB type VARCHAR\[\]"):
        pg_type("VARCHAR[]", "Column t.tags")


def test_unreachable_server_is_a_clear_error(raw, tmp_path) -> None:
    with pytest.raises(DataError, match="cannot be used for publishing"):
        load_postgres(raw, "postgresql+psycopg://nobody:secret@127.0.0.1:1/none", work_dir=tmp_path)


def test_pointer_to_a_missing_schema_is_warehouse_unavailable(
    raw, pg_url, prefix, tmp_path
) -> None:
    from app.core.errors import WarehouseUnavailable

    result = _load(raw, pg_url, prefix, tmp_path)
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{result.file}" CASCADE')
    engine.dispose()
    with pytest.raises(WarehouseUnavailable, match="which is missing; publish again"):
        Warehouse(pg_url, pg_schema=prefix).snapshot()


def test_cli_load_publishes_to_postgresql(raw, pg_url, prefix, tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from app.cli import cli

    monkeypatch.setenv("STARBOARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("STARBOARD_PG_SCHEMA", prefix)
    monkeypatch.setenv("STARBOARD_CACHE", "null")
    result = CliRunner().invoke(cli, ["load", str(raw), "--db", pg_url])
    assert result.exit_code == 0, result.output
    assert "Published version" in result.output and "copy to PostgreSQL" in result.output
    pointer = _pointer(pg_url, prefix)
    assert pointer is not None and pointer["version"] in result.output
    from app.core.meta import MetaDB
    from app.core.stores.checks import latest_run, warehouse_key

    meta_db = MetaDB(f"sqlite:///{tmp_path / 'home' / 'meta.sqlite'}")
    run = latest_run(meta_db, warehouse_key(pg_url, prefix), pointer["version"])
    meta_db.dispose()
    assert run is not None and run.published and run.checks_total > 0  # the model's checks
    check = CliRunner().invoke(cli, ["check", "--db", pg_url])
    assert check.exit_code == 0, check.output
    assert "no problems" in check.output


def test_cli_demo_on_postgresql_builds_once_then_reuses(
    pg_url, prefix, tmp_path, monkeypatch
) -> None:
    from typer.testing import CliRunner

    from app.cli import cli

    monkeypatch.setenv("STARBOARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("STARBOARD_PG_SCHEMA", prefix)
    monkeypatch.setenv("STARBOARD_CACHE", "null")
    args = ["demo", "--db", pg_url, "--interactions", "3000", "--no-serve"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    pointer = _pointer(pg_url, prefix)
    assert pointer is not None and "Demo ready" in first.output
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    words = " ".join(again.output.split())  # rich wraps long lines
    assert f"Reusing the demo warehouse at PostgreSQL schema {pointer['schema_name']}" in words
    assert _pointer(pg_url, prefix)["version"] == pointer["version"]
