"""Staging sources (CSV, Parquet, JSON, SQLite, PostgreSQL) and the sources' gates.

Every rejected value is named by file, line (CSV) or row (Parquet) and column; a failed gate
publishes nothing (the pointer and the live file stay byte-for-byte as they were).
"""

from __future__ import annotations

import sqlite3
import textwrap
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from app.core.errors import DataError
from app.core.pointer import WarehousePaths, duckdb_path
from app.loader.gates import GateFailure
from app.loader.load import load
from app.loader.project import Project, load_project
from app.loader.sources import stage_source
from tests.app.loader.test_load import _digest
from tests.conftest import fresh_schema


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def make(root: Path, yaml: str, files: dict[str, str] | None = None) -> Project:
    write(root, {"pipeline.yaml": yaml, **(files or {})})
    return load_project(root)


def stage(proj: Project, name: str) -> tuple[duckdb.DuckDBPyConnection, int]:
    con = duckdb.connect()
    return con, stage_source(proj, proj.sources[name], con)


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    return {r[0]: r[1] for r in con.execute(f"DESCRIBE {table}").fetchall()}


ORDERS = {
    "raw/orders/2026-01.csv": "order_id,ordered_on,amount,note\n1,2026-01-05,10.5,a\n"
    "2,2026-01-09,7,\n",
    "raw/orders/2026-02.csv": "order_id,ordered_on,amount,note\n3,2026-02-01,1.25,c\n",
}
ORDERS_YAML = """
version: 1
sources:
  orders:
    path: raw/orders/*.csv
    columns: {order_id: BIGINT, amount: 'DECIMAL(10,2)'}
    key: order_id
"""


def test_a_glob_of_csv_files_is_one_table(tmp_path: Path) -> None:
    proj = make(tmp_path, ORDERS_YAML, ORDERS)
    con, count = stage(proj, "orders")
    assert count == 3
    assert rows(con, "SELECT order_id, ordered_on, amount, note FROM orders ORDER BY 1") == [
        (1, date(2026, 1, 5), pytest.approx(10.5), "a"),
        (2, date(2026, 1, 9), pytest.approx(7), None),  # an empty field is NULL
        (3, date(2026, 2, 1), pytest.approx(1.25), "c"),
    ]
    # declared types applied, the others inferred
    assert types(con, "orders") == {
        "order_id": "BIGINT",
        "ordered_on": "DATE",
        "amount": "DECIMAL(10,2)",
        "note": "VARCHAR",
    }


def test_a_csv_value_that_does_not_parse_is_named(tmp_path: Path) -> None:
    files = dict(ORDERS)
    files["raw/orders/2026-02.csv"] = (
        "order_id,ordered_on,amount,note\n3,2026-02-01,1.25,c\n4,2026-02-02,12x,d\n"
    )
    proj = make(tmp_path, ORDERS_YAML, files)
    with pytest.raises(DataError) as err:
        stage(proj, "orders")
    message = err.value.message
    assert message.startswith("Source orders: 1 value(s) do not parse:")
    assert "2026-02.csv line 3, column amount" in message
    assert "2026-01.csv" not in message


def test_a_file_missing_a_declared_column(tmp_path: Path) -> None:
    files = dict(ORDERS)
    files["raw/orders/2026-02.csv"] = "order_id,ordered_on,note\n3,2026-02-01,c\n"
    proj = make(tmp_path, ORDERS_YAML, files)
    with pytest.raises(DataError) as err:
        stage(proj, "orders")
    assert err.value.message == (
        "2026-02.csv (source orders): missing column(s) amount. "
        "Columns found: order_id, ordered_on, note."
    )


def test_files_of_one_source_with_different_headers(tmp_path: Path) -> None:
    files = dict(ORDERS)
    files["raw/orders/2026-02.csv"] = "order_id,amount,ordered_on,note\n3,1.25,2026-02-01,c\n"
    proj = make(tmp_path, ORDERS_YAML, files)
    with pytest.raises(
        DataError,
        match=r"2026-02\.csv \(source orders\) has the columns "
        r"order_id, amount, ordered_on, note, but 2026-01\.csv has "
        r"order_id, ordered_on, amount, note",
    ):
        stage(proj, "orders")


def test_an_empty_glob(tmp_path: Path) -> None:
    proj = make(tmp_path, ORDERS_YAML)
    with pytest.raises(DataError, match=r"Source orders: no file matches raw/orders/\*\.csv"):
        stage(proj, "orders")


def test_a_parquet_value_that_does_not_fit_is_named(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    pq.write_table(
        pa.table({"sku": ["A", "B"], "price": ["1.5", "2"]}), tmp_path / "raw" / "p1.parquet"
    )
    pq.write_table(
        pa.table({"sku": ["C", "D", "E"], "price": ["3", "three", "4"]}),
        tmp_path / "raw" / "p2.parquet",
    )
    proj = make(
        tmp_path,
        "version: 1\nsources:\n  prices:\n    path: raw/*.parquet\n    columns: {price: DOUBLE}\n",
    )
    with pytest.raises(DataError) as err:
        stage(proj, "prices")
    assert err.value.message == (
        "Source prices: values that do not fit their column types:\n"
        "  p2.parquet row 2, column price: 'three' is not a DOUBLE"
    )


def test_parquet_files_are_cast_and_unioned(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    pq.write_table(pa.table({"sku": ["A"], "price": ["1.5"]}), tmp_path / "raw" / "p1.parquet")
    pq.write_table(pa.table({"sku": ["B"], "price": ["2"]}), tmp_path / "raw" / "p2.parquet")
    proj = make(
        tmp_path,
        "version: 1\nsources:\n  prices:\n    path: raw/*.parquet\n    columns: {price: DOUBLE}\n",
    )
    con, count = stage(proj, "prices")
    assert count == 2
    assert rows(con, "SELECT sku, price FROM prices ORDER BY 1") == [("A", 1.5), ("B", 2.0)]
    assert types(con, "prices") == {"sku": "VARCHAR", "price": "DOUBLE"}


def test_a_json_source(tmp_path: Path) -> None:
    proj = make(
        tmp_path,
        "version: 1\nsources:\n  agents:\n    path: raw/agents.jsonl\n"
        "    columns: {agent_no: INTEGER, hired_on: DATE}\n",
        {
            "raw/agents.jsonl": '{"agent_no": "1", "name": "Ada", "hired_on": "2024-01-01"}\n'
            '{"agent_no": "2", "name": "Bo", "hired_on": "2025-06-30"}\n'
        },
    )
    con, count = stage(proj, "agents")
    assert count == 2
    assert rows(con, "SELECT agent_no, name, hired_on FROM agents ORDER BY 1") == [
        (1, "Ada", date(2024, 1, 1)),
        (2, "Bo", date(2025, 6, 30)),
    ]
    assert types(con, "agents")["agent_no"] == "INTEGER"


def test_a_json_value_that_does_not_fit_is_named(tmp_path: Path) -> None:
    proj = make(
        tmp_path,
        "version: 1\nsources:\n  agents:\n    path: raw/agents.json\n"
        "    columns: {hired_on: DATE}\n",
        {"raw/agents.json": '[{"agent_no": 1, "hired_on": "someday"}]\n'},
    )
    with pytest.raises(DataError, match=r"agents\.json column hired_on: 'someday' is not a DATE"):
        stage(proj, "agents")


@pytest.fixture
def crm(tmp_path: Path) -> Path:
    """A small SQLite database in the project folder."""
    (tmp_path / "data").mkdir()
    db = tmp_path / "data" / "crm.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE stores (code TEXT, label TEXT, opened TEXT, floors INTEGER)")
        conn.executemany(
            "INSERT INTO stores VALUES (?, ?, ?, ?)",
            [("B1", "Berlin", "2019-05-01", 3), ("P1", "Paris", "2017-03-20", None)],
        )
    return db


def test_a_sqlite_table_and_query(tmp_path: Path, crm: Path) -> None:
    proj = make(
        tmp_path,
        """
        version: 1
        sources:
          stores:
            db: sqlite:///data/crm.sqlite
            table: stores
            columns: {opened: DATE}
            key: code
          big_stores:
            db: sqlite:///data/crm.sqlite
            query: SELECT code, floors FROM stores WHERE floors > 1
        """,
    )
    assert proj.sources["stores"].db == f"sqlite:///{crm.resolve()}"
    con, count = stage(proj, "stores")
    assert count == 2
    assert rows(con, "SELECT code, label, opened, floors FROM stores ORDER BY 1") == [
        ("B1", "Berlin", date(2019, 5, 1), 3),
        ("P1", "Paris", date(2017, 3, 20), None),
    ]
    assert types(con, "stores")["opened"] == "DATE"
    assert stage_source(proj, proj.sources["big_stores"], con) == 1
    assert rows(con, "SELECT * FROM big_stores") == [("B1", 3)]


def test_a_database_value_that_does_not_fit_is_named(tmp_path: Path, crm: Path) -> None:
    proj = make(
        tmp_path,
        "version: 1\nsources:\n  stores:\n    db: sqlite:///data/crm.sqlite\n    table: stores\n"
        "    columns: {label: INTEGER}\n",
    )
    with pytest.raises(DataError, match="column label holds 'Berlin', which is not a INTEGER"):
        stage(proj, "stores")


def test_a_postgresql_table(tmp_path: Path, pg_url: str) -> None:
    with fresh_schema(pg_url, "sbsrc") as (engine, schema):
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE agents (agent_no INTEGER PRIMARY KEY, agent_name TEXT, "
                "hired_on DATE, rate NUMERIC(6,2))"
            )
            conn.exec_driver_sql(
                "INSERT INTO agents VALUES (1, 'Ada', '2024-01-01', 12.50), "
                "(2, 'Bo', NULL, 9.75), (3, 'Cy', '2025-02-03', NULL)"
            )
        proj = make(
            tmp_path,
            f"version: 1\nsources:\n  agents:\n    db: {pg_url}\n    table: {schema}.agents\n"
            "    columns: {rate: DOUBLE}\n    key: agent_no\n",
        )
        con, count = stage(proj, "agents")
    assert count == 3
    assert rows(con, "SELECT * FROM agents ORDER BY 1") == [
        (1, "Ada", date(2024, 1, 1), 12.5),
        (2, "Bo", None, 9.75),
        (3, "Cy", date(2025, 2, 3), None),
    ]
    assert types(con, "agents")["rate"] == "DOUBLE"


def test_an_unreachable_database_is_one_clear_error(tmp_path: Path) -> None:
    proj = make(
        tmp_path,
        "version: 1\nsources:\n  agents:\n"
        "    db: postgresql+psycopg://bob:s3cret-pw@127.0.0.1:1/crm\n    table: agents\n",
    )
    with pytest.raises(DataError) as err:
        stage(proj, "agents")
    message = err.value.message
    assert message.startswith(
        "Source agents: postgresql+psycopg://bob:***@127.0.0.1:1/crm cannot be read:"
    )
    assert "s3cret-pw" not in message and "\n" not in message
    assert "s3cret-pw" not in str(err.value)


def test_a_missing_sqlite_table_is_named(tmp_path: Path, crm: Path) -> None:
    proj = make(
        tmp_path,
        "version: 1\nsources:\n  stores:\n    db: sqlite:///data/crm.sqlite\n    table: shops\n",
    )
    with pytest.raises(
        DataError,
        match=r"Source stores: sqlite:///.*crm\.sqlite cannot be read: "
        "no such table: shops",
    ):
        stage(proj, "stores")


# ------------------------------------------------------------------------- gates and publish

GATED = """
version: 1
sources:
  orders:
    path: raw/orders.csv
    columns: {order_id: BIGINT, amount: DOUBLE}
    key: [order_id]
    required: [order_id, amount]
  stores: raw/stores.csv
outputs:
  f_order: {}
"""
GOOD = {
    "raw/orders.csv": "order_id,store,amount\n1,B1,10\n2,P1,5\n3,B1,2.5\n",
    "raw/stores.csv": "store,label\nB1,Berlin\nP1,Paris\n",
    "transforms/f_order.sql": "SELECT o.order_id, s.label, o.amount\n"
    "FROM orders o LEFT JOIN stores s USING (store)\n",
}


def _published(tmp_path: Path, files: dict[str, str]) -> tuple[Path, str, WarehousePaths]:
    root = tmp_path / "proj"
    write(root, {"pipeline.yaml": GATED, **files})
    url = f"duckdb:///{tmp_path / 'wh' / 'warehouse.duckdb'}"
    return root, url, WarehousePaths(duckdb_path(url))


def test_a_good_project_publishes_only_its_outputs(tmp_path: Path) -> None:
    root, url, paths = _published(tmp_path, GOOD)
    result = load(root, url)
    assert result.row_counts == {"f_order": 3}
    assert {(g.check, g.table, g.passed) for g in result.gates} == {
        ("not_empty", "orders", True),
        ("natural_key_unique", "orders", True),
        ("not_null", "orders", True),
        ("not_empty", "stores", True),
    }
    con = duckdb.connect(str(result.file), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert "orders" not in tables and "stores" not in tables and "f_order" in tables
        assert con.execute("SELECT sum(amount), count(label) FROM f_order").fetchone() == (
            17.5,
            3,
        )
    finally:
        con.close()


@pytest.mark.parametrize(
    ("orders", "check", "detail"),
    [
        (
            "order_id,store,amount\n1,B1,10\n2,P1,5\n2,B1,2.5\n",
            "natural_key_unique",
            "1 duplicate order_id value(s) in orders (e.g. order_id=2)",
        ),
        (
            "order_id,store,amount\n1,B1,10\n2,P1,\n3,B1,\n",
            "not_null",
            "2 empty value(s) in required column orders.amount",
        ),
        ("order_id,store,amount\n", "not_empty", "source orders has no data rows"),
    ],
)
def test_a_failed_gate_publishes_nothing(
    tmp_path: Path, orders: str, check: str, detail: str
) -> None:
    root, url, paths = _published(tmp_path, GOOD)
    first = load(root, url)
    before = _digest(paths)
    (root / "raw" / "orders.csv").write_text(orders, encoding="utf-8")
    with pytest.raises(GateFailure) as err:
        load(root, url)
    assert [(g.check, g.table, g.detail) for g in err.value.failed] == [(check, "orders", detail)]
    assert "nothing was published" in err.value.message and detail in err.value.message
    assert _digest(paths) == before  # pointer and live file byte-for-byte unchanged
    assert sorted(paths.path.parent.glob("*.duckdb")) == [first.file]


def test_a_key_the_data_does_not_have(tmp_path: Path) -> None:
    root, url, paths = _published(tmp_path, GOOD)
    (root / "pipeline.yaml").write_text(GATED.replace("key: [order_id]", "key: [id]"))
    with pytest.raises(
        DataError,
        match=r"Source orders: key names column\(s\) id, which the "
        "data does not have",
    ):
        load(root, url)
    assert not paths.path.parent.exists() or not list(paths.path.parent.glob("*.duckdb"))


def test_a_transform_error_publishes_nothing(tmp_path: Path) -> None:
    root, url, paths = _published(tmp_path, GOOD)
    load(root, url)
    before = _digest(paths)
    (root / "transforms" / "f_order.sql").write_text(
        "SELECT o.order_id, o.no_such_column\nFROM orders o\n"
    )
    with pytest.raises(DataError, match=r"Transform f_order\.sql failed: .*no_such_column"):
        load(root, url)
    assert _digest(paths) == before


def test_a_database_column_empty_in_the_first_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a column NULL in every row of the first Arrow batch was typed "NULL", so a
    later batch with values failed ("Unimplemented type for cast (VARCHAR -> NULL)") and an
    all-NULL column reached the build with a type no one can publish."""
    (tmp_path / "data").mkdir()
    with sqlite3.connect(tmp_path / "data" / "crm.sqlite") as conn:
        conn.execute("CREATE TABLE notes (id INTEGER, note TEXT, never TEXT)")
        conn.executemany(
            "INSERT INTO notes VALUES (?, ?, NULL)", [(i, None) for i in range(5)] + [(9, "x")]
        )
    monkeypatch.setattr("app.loader.sources.DB_BATCH", 2)
    proj = make(
        tmp_path,
        "version: 1\nsources:\n  notes:\n    db: sqlite:///data/crm.sqlite\n    table: notes\n",
    )
    con, count = stage(proj, "notes")
    assert count == 6
    assert types(con, "notes") == {"id": "BIGINT", "note": "VARCHAR", "never": "VARCHAR"}
    assert rows(con, "SELECT id, note FROM notes WHERE note IS NOT NULL") == [(9, "x")]


@pytest.mark.parametrize(
    ("values", "passed", "detail"),
    [
        # regression: one NULL key crashed the gate (RuntimeError: no row) instead of passing
        ([1, 2, None], True, "code unique"),
        ([None, None, 1, 1], False, "2 duplicate code value(s) in t (e.g. code=1)"),
        ([None, None, 1], False, "1 duplicate code value(s) in t (e.g. code=None)"),
    ],
)
def test_the_key_gate_counts_null_keys_like_group_by(
    values: list[int | None], passed: bool, detail: str
) -> None:
    from app.loader.gates import source_gates
    from app.loader.project import Source

    con = duckdb.connect()
    con.execute("CREATE TABLE t (code INTEGER, n INTEGER)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(v, i) for i, v in enumerate(values)])
    found = source_gates(Source("t", path="t.csv", key=("code",)), con, len(values))
    key_gate = next(g for g in found if g.check == "natural_key_unique")
    assert (key_gate.passed, key_gate.detail) == (passed, detail)


def test_a_csv_with_a_byte_order_mark(tmp_path: Path) -> None:
    """Regression: Excel's "CSV UTF-8" starts with a BOM; the header check read it as part of
    the first column's name and said "missing column(s) order_id" with order_id in sight."""
    files = {k: "\ufeff" + v for k, v in ORDERS.items()}
    proj = make(tmp_path, ORDERS_YAML, files)
    con, count = stage(proj, "orders")
    assert count == 3
    assert rows(con, "SELECT sum(order_id), sum(amount) FROM orders") == [(6, pytest.approx(18.75))]


INCREMENTAL = """
version: 1
sources:
  ev: {path: ev.csv, columns: {id: BIGINT, ts: TIMESTAMP, v: INTEGER}, time: ts, key: id}
transforms:
  f_ev:
    incremental: {by: time, column: ts, lookback_days: 1}
outputs:
  f_ev: {}
"""


@pytest.mark.parametrize(
    "sql",
    ["SELECT id, ts, v FROM ev -- every event", "SELECT id, ts, v FROM ev;\n-- the end\n"],
)
def test_an_incremental_run_of_a_transform_ending_in_a_comment(tmp_path: Path, sql: str) -> None:
    root = tmp_path / "proj"
    write(
        root,
        {
            "pipeline.yaml": INCREMENTAL,
            "ev.csv": "id,ts,v\n1,2026-01-01 10:00,5\n2,2026-01-02 11:00,7\n",
            "transforms/f_ev.sql": sql,
        },
    )
    url = f"duckdb:///{tmp_path / 'wh' / 'warehouse.duckdb'}"
    assert load(root, url).row_counts == {"f_ev": 2}  # a full build works
    (root / "ev.csv").write_text(
        "id,ts,v\n1,2026-01-01 10:00,5\n2,2026-01-02 11:00,7\n3,2026-01-03 09:00,1\n"
    )
    result = load(root, url, incremental=True)
    assert (result.mode, result.row_counts) == ("incremental", {"f_ev": 3})


def test_outputs_that_read_no_source_publish(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(
        root,
        {
            "pipeline.yaml": "version: 1\nsources:\n  unused: unused.csv\noutputs:\n  d_day: {}\n",
            "unused.csv": "a\n1\n",
            "transforms/d_day.sql": "SELECT CAST(d AS DATE) AS day FROM "
            "generate_series(DATE '2026-01-01', DATE '2026-01-31', INTERVAL 1 DAY) AS t(d)\n",
        },
    )
    result = load(root, f"duckdb:///{tmp_path / 'wh' / 'warehouse.duckdb'}")
    assert (result.row_counts, result.gates) == ({"d_day": 31}, [])
