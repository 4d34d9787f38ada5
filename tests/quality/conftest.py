"""Warehouses for the data quality tests: small hand-made ones with planted defects, and the
tiny demo published with the demo model's checks plus two planted Risk 2 failures."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from app.core.config import DEMO_MODEL, load_settings
from app.core.pointer import duckdb_path
from tests.conftest import fresh_schema

# Two Risk 2 checks that fail on the demo: tablets are not an accepted device, and the
# demo's internal users are flagged (the sample shows their e-mail: PII).
PLANTED = {
    "fct_interaction": "    - {kind: accepted_values, name: device_known, column: device, "
    "values: [desktop, mobile]}\n",
    "dim_user": '    - {kind: sql, name: no_internal_users, sql: "SELECT user_key, email, '
    'country FROM dim_user WHERE is_internal"}\n',
}


def demo_model_with(tmp_path: Path, extra: dict[str, str]) -> Path:
    """A copy of the demo model with ``extra`` check items (YAML) added per table."""
    head, marker, checks = DEMO_MODEL.read_text(encoding="utf-8").partition("\nchecks:\n")
    for table, items in extra.items():
        key = f"  {table}:\n"
        assert key in checks, table
        checks = checks.replace(key, key + items, 1)
    path = tmp_path / "model.yaml"
    path.write_text(head + marker + checks, encoding="utf-8")
    return path


def settings_for(home: Path, url: str, model: Path):
    return load_settings({"home": str(home), "db_url": url, "model": str(model), "cache": "null"})


@pytest.fixture(scope="module")
def planted_demo(tiny_demo: str, tmp_path_factory: pytest.TempPathFactory):
    """(settings, load result): the tiny demo's raw files published through ``run_load``
    with the demo checks and the PLANTED ones; results recorded in the metadata DB."""
    from app.cli import run_load

    root = tmp_path_factory.mktemp("planted")
    raw = duckdb_path(tiny_demo).parent / "raw"
    settings = settings_for(
        root / "home", f"duckdb:///{root / 'warehouse.duckdb'}", demo_model_with(root, PLANTED)
    )
    result = run_load(raw, settings)
    return settings, result


@pytest.fixture
def defects(tmp_path: Path) -> str:
    """A small DuckDB warehouse (not published by Starboard) with one defect per check kind
    in ``bad`` and none in ``good`` (same schema); its URL."""
    path = tmp_path / "defects.duckdb"
    con = duckdb.connect(str(path))
    con.execute(SCHEMA_SQL)
    con.close()
    return f"duckdb:///{path}"


SCHEMA_SQL = """
CREATE TABLE dim_customer (customer_id INTEGER, email VARCHAR, tier VARCHAR);
INSERT INTO dim_customer VALUES (1, 'a@x.org', 'gold'), (2, 'b@x.org', 'silver'),
    (3, 'c@x.org', 'gold');
CREATE TABLE good (id INTEGER, customer_id INTEGER, status VARCHAR, amount DOUBLE,
                   seen_at TIMESTAMP);
INSERT INTO good VALUES
    (1, 1, 'paid', 10.0, TIMESTAMP '2026-11-24 00:00:00'),
    (2, 2, 'paid', 20.0, TIMESTAMP '2026-11-23 12:00:00'),
    (3, 3, 'refunded', 5.0, TIMESTAMP '2026-11-23 08:00:00');
CREATE TABLE bad (id INTEGER, customer_id INTEGER, status VARCHAR, amount DOUBLE,
                  seen_at TIMESTAMP);
INSERT INTO bad VALUES
    (1, 1, 'paid', 10.0, TIMESTAMP '2026-11-01 00:00:00'),
    (1, 2, 'paid', -20.0, TIMESTAMP '2026-11-01 00:00:00'),
    (3, 9, 'lost', 5.0, TIMESTAMP '2026-10-30 00:00:00'),
    (4, 3, NULL, 7.0, NULL);
"""


@contextlib.contextmanager
def defects_on_postgres(pg_url: str) -> Iterator[tuple[sa.Engine, str]]:
    """The planted-defects tables (SCHEMA_SQL) in a schema of their own on PostgreSQL: an
    engine whose search_path is it, and the schema name; dropped afterwards."""
    with fresh_schema(pg_url, "sb_quality") as (engine, schema):
        with engine.begin() as conn:
            for statement in SCHEMA_SQL.replace("DOUBLE", "DOUBLE PRECISION").split(";"):
                if statement.strip():
                    conn.execute(sa.text(statement))
        yield engine, schema
