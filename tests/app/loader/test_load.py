"""The loader on the demo's pipeline project: the star it builds, bad input, gates (the
project's source gates and the model's checks) and atomic publish."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from app.core.errors import DataError
from app.core.pointer import WarehousePaths
from app.core.warehouse import Warehouse
from app.loader.demo_project import write_project
from app.loader.load import GateFailure, load
from tests.app.loader import rawdata

NOW = datetime(2026, 3, 21, 8, 0, tzinfo=UTC)


def _load(raw: Path, url: str, **kw):
    """A load with the demo model's checks (declared and implied) as its gates."""
    from app.core.config import DEMO_MODEL
    from queries.quality.checks import PublishChecks

    kw.setdefault("checks", PublishChecks(DEMO_MODEL, now=lambda: NOW))
    return load(raw, url, now=lambda: NOW, **kw)


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    return rawdata.write_csv(tmp_path / "raw")


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'wh' / 'warehouse.duckdb'}"


def _csv_files(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.endswith(".csv"))


def _digest(paths: WarehousePaths) -> dict[str, str]:
    """Every file of the warehouse, by content hash: 'byte-for-byte untouched'."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(paths.path.parent.iterdir())
        if not p.name.endswith(".lock")
    }


def _query(url: str, sql: str):
    snap = Warehouse(url).snapshot()
    with snap.engine.connect() as conn:
        return conn.exec_driver_sql(sql).fetchall()


def test_load_builds_the_star_schema_contract(raw: Path, url: str) -> None:
    result = _load(raw, url)
    assert result.row_counts["dim_date"] == 31046
    assert result.row_counts["dim_user"] == 4
    assert result.row_counts["fct_interaction"] == len(rawdata.interactions())
    assert result.row_counts["fct_marketing_spend"] == 10
    cols = _query(
        url,
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'dim_date' ORDER BY ordinal_position",
    )
    assert [c[0] for c in cols] == [
        "date_key",
        "date",
        "year",
        "quarter",
        "month",
        "month_name",
        "day_of_week",
        "day_name",
        "iso_week",
        "iso_year",
        "is_weekend",
        "is_holiday",
        "month_start",
        "quarter_start",
        "week_start",
        "fiscal_year",
        "fiscal_quarter",
    ]
    revenue = _query(
        url,
        "SELECT sum(revenue), count(DISTINCT order_id) FROM fct_interaction f "
        "JOIN dim_user u USING (user_key) WHERE u.country = 'DE'",
    )
    assert revenue == [(600.0, 5)]
    # surrogate keys resolve: every interaction has a user, channel; visits have no product
    assert _query(
        url, "SELECT count(*) FROM fct_interaction WHERE user_key IS NULL OR channel_key IS NULL"
    ) == [(0,)]
    assert _query(
        url,
        "SELECT count(*) FROM fct_interaction WHERE interaction_type = 'visit' "
        "AND product_key IS NOT NULL",
    ) == [(0,)]
    assert _query(url, "SELECT date_key FROM fct_interaction ORDER BY interaction_key LIMIT 1") == [
        (20260311,)
    ]


def test_publish_records_version_gates_and_score(raw: Path, url: str) -> None:
    result = _load(raw, url)
    version = Warehouse(url).snapshot().version
    assert version.id == result.version and version.source == "pointer"
    assert version.row_counts["fct_interaction"] == len(rawdata.interactions())
    assert version.dq_score == result.dq_score
    gates = _query(url, "SELECT count(*), count(*) FILTER (WHERE risk = 1) FROM starboard_gate")
    assert gates[0][0] == len(result.gates) and gates[0][1] > 10
    # the freshness gate sees data 19 h before the (frozen) load time: passes at the 36 h SLO
    fresh = [g for g in result.gates if g.check == "freshness"][0]
    assert fresh.passed and fresh.observed == pytest.approx(19.0, abs=0.1)


def test_second_load_keeps_history_and_prunes_old_versions(raw: Path, url: str) -> None:
    first = _load(raw, url)
    second = _load(raw, url)
    third = _load(raw, url)
    paths = WarehousePaths(Path(url.removeprefix("duckdb:///")))
    files = sorted(p.name for p in paths.version_files())
    assert files == sorted(
        [paths.version_file(second.version).name, paths.version_file(third.version).name]
    )
    assert first.version not in "".join(files)
    history = _query(url, "SELECT version FROM starboard_publish ORDER BY published_at")
    assert [h[0] for h in history][-1] == third.version and len(history) == 3
    change = [g for g in third.gates if g.check == "row_count_change"]
    assert change and all(g.passed for g in change)


def test_reader_notices_a_new_version_without_restart(raw: Path, url: str) -> None:
    _load(raw, url)
    warehouse = Warehouse(url, check_interval=0)
    before = warehouse.snapshot()
    data = rawdata.tables()
    data["users"] = data["users"] + [dict(data["users"][0], user_id=99, country="NL")]
    rawdata.write_csv(raw, data)
    result = _load(raw, url)
    after = warehouse.snapshot()
    assert after.version.id == result.version != before.version.id
    with after.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM dim_user").scalar() == 5


@pytest.mark.parametrize(
    "step", ["source interactions", "transform fct_interaction", "model checks"]
)
def test_a_load_that_dies_midway_leaves_the_live_warehouse_untouched(
    raw: Path, url: str, step: str
) -> None:
    _load(raw, url)
    paths = WarehousePaths(Path(url.removeprefix("duckdb:///")))
    before = _digest(paths)
    with pytest.raises(DataError, match="stopped on purpose"):
        _load(raw, url, fail_after=step)
    assert _digest(paths) == before


def test_parquet_and_csv_load_the_same(tmp_path: Path, raw: Path) -> None:
    pq_dir = tmp_path / "pq"
    pq_dir.mkdir()
    con = duckdb.connect()
    for name in _csv_files(raw):
        entity = name.removesuffix(".csv")
        con.execute(
            f"COPY (SELECT * FROM read_csv('{raw / name}', nullstr = '')) "
            f"TO '{pq_dir / entity}.parquet' (FORMAT parquet)"
        )
    write_project(pq_dir, "parquet")
    a = _load(raw, f"duckdb:///{tmp_path / 'a.duckdb'}")
    b = _load(pq_dir, f"duckdb:///{tmp_path / 'b.duckdb'}")
    assert a.row_counts == b.row_counts
    sql = "SELECT sum(revenue), count(order_id), count(product_key) FROM fct_interaction"
    assert _query(f"duckdb:///{tmp_path / 'a.duckdb'}", sql) == _query(
        f"duckdb:///{tmp_path / 'b.duckdb'}", sql
    )


# ---- bad input: a clear message, nothing published, the previous data still served ----


def _assert_refused(raw: Path, url: str, match: str) -> None:
    paths = WarehousePaths(Path(url.removeprefix("duckdb:///")))
    before = _digest(paths) if paths.pointer.exists() else None
    with pytest.raises(DataError, match=match) as info:
        _load(raw, url)
    if "Risk 1" in match:
        assert isinstance(info.value, GateFailure)
    if before is not None:
        assert _digest(paths) == before
    else:
        assert not paths.pointer.exists() and not paths.version_files()


@pytest.fixture
def live(raw: Path, url: str) -> str:
    """A warehouse with one good version published."""
    _load(raw, url)
    return url


def test_missing_file_is_named(raw: Path, live: str) -> None:
    (raw / "products.csv").unlink()
    _assert_refused(raw, live, r"Source products: no file matches products\.csv")


def test_a_missing_column_is_named_and_an_extra_one_is_kept(raw: Path, live: str) -> None:
    data = rawdata.tables()
    data["products"] = [
        {**{k: v for k, v in p.items() if k != "brand"}, "colour": "red"} for p in data["products"]
    ]
    rawdata.write_csv(raw, data)
    _assert_refused(raw, live, r"products\.csv \(source products\): missing column\(s\) brand")
    data["products"] = [{**p, "colour": "red"} for p in rawdata.tables()["products"]]
    rawdata.write_csv(raw, data)
    assert _load(raw, live).row_counts["dim_product"] == len(data["products"])


def test_unparsable_value_names_file_line_and_column(raw: Path, live: str) -> None:
    data = rawdata.tables()
    data["interactions"][4]["revenue"] = "12,50 EUR"
    rawdata.write_csv(raw, data)
    _assert_refused(raw, live, r"interactions\.csv line 6, column revenue: .*12,50 EUR")


def test_unparsable_parquet_value_names_row_and_column(tmp_path: Path, raw: Path) -> None:
    pq_dir = tmp_path / "pq"
    pq_dir.mkdir()
    con = duckdb.connect()
    for name in _csv_files(raw):
        entity = name.removesuffix(".csv")
        select = (
            "SELECT * REPLACE (CASE WHEN sku = 'SKU-2' THEN 'cheap' ELSE "
            "CAST(list_price AS VARCHAR) END AS list_price)"
            if entity == "products"
            else "SELECT *"
        )
        con.execute(
            f"COPY ({select} FROM read_csv('{raw / name}', nullstr = '', "
            f"all_varchar = true)) TO '{pq_dir / entity}.parquet' (FORMAT parquet)"
        )
    write_project(pq_dir, "parquet")
    _assert_refused(
        pq_dir,
        f"duckdb:///{tmp_path / 'x.duckdb'}",
        r"products\.parquet row 2, column list_price: 'cheap' is not a DOUBLE",
    )


def test_duplicate_primary_keys_stop_the_load(raw: Path, live: str) -> None:
    data = rawdata.tables()
    data["users"] = data["users"] + [dict(data["users"][1], country="IT")]
    rawdata.write_csv(raw, data)
    _assert_refused(
        raw,
        live,
        r"(?s)Risk 1.*users.user_id \[natural_key_unique\]: 1 duplicate "
        r"user_id value\(s\) in users \(e\.g\. user_id=2\)",
    )


def test_duplicate_fact_rows_stop_the_load(raw: Path, live: str) -> None:
    data = rawdata.tables()
    data["interactions"] = data["interactions"] + [data["interactions"][3]]
    rawdata.write_csv(raw, data)
    _assert_refused(
        raw,
        live,
        r"interactions.event_id \[natural_key_unique\]: 1 duplicate event_id value\(s\) "
        r"in interactions \(e\.g\. event_id=\d+\); 1 of them repeat a whole row",
    )


def test_orphan_keys_above_the_limit_stop_the_load(raw: Path, live: str) -> None:
    data = rawdata.tables()
    for row in data["interactions"][:10]:
        row["user_id"] = 777
    rawdata.write_csv(raw, data)
    _assert_refused(
        raw,
        live,
        r"fct_interaction.user_key \[relationship_user_key\]: 10 of "
        r"\d+ user_key value\(s\) \(\d+\.\d+%\) have no row in dim_user",
    )


def test_few_orphans_warn_and_publish(raw: Path, url: str) -> None:
    data = rawdata.tables()
    data["interactions"][0]["sku"] = "SKU-404"
    rawdata.write_csv(raw, data)
    result = _load(raw, url)
    gate = [g for g in result.gates if g.check == "relationship_product_key"][0]
    assert gate.risk == 2 and not gate.passed and "1 of" in gate.detail
    assert result.dq_score < 100


def test_empty_interactions_file_is_refused(raw: Path, live: str) -> None:
    data = rawdata.tables()
    data["interactions"] = []
    rawdata.write_csv(raw, data)
    _assert_refused(raw, live, r"interactions \[not_empty\]: source interactions has no data rows")


def test_required_value_missing_is_refused(raw: Path, live: str) -> None:
    data = rawdata.tables()
    data["interactions"][2]["interaction_type"] = ""
    rawdata.write_csv(raw, data)
    _assert_refused(
        raw,
        live,
        r"1 empty value\(s\) in required column "
        r"interactions\.interaction_type",
    )


def test_url_that_is_not_duckdb_is_refused(raw: Path) -> None:
    with pytest.raises(Exception, match="Expected a DuckDB URL"):
        _load(raw, "sqlite:///x.db")


def test_unwritable_home_is_refused(raw: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            # root ignores mode bits: make the target a path below a regular file instead
            blocker = tmp_path / "file"
            blocker.write_text("")
            target = blocker / "wh.duckdb"
        else:
            target = locked / "wh.duckdb"
        with pytest.raises(DataError, match=r"(not writable|Cannot create)"):
            _load(raw, f"duckdb:///{target}")
    finally:
        locked.chmod(0o700)


def test_damaged_pointer_gives_a_clear_error(raw: Path, live: str) -> None:
    paths = WarehousePaths(Path(live.removeprefix("duckdb:///")))
    paths.pointer.write_text("{not json")
    with pytest.raises(DataError, match="pointer .* is damaged"):
        Warehouse(live).snapshot()
    result = _load(raw, live)  # publishing again repairs it
    assert json.loads(paths.pointer.read_text())["version"] == result.version
    assert Warehouse(live).snapshot().version.id == result.version


KILLER = """
import contextlib, os, signal, sys
from pathlib import Path
from app.loader.load import GateFailure, load

@contextlib.contextmanager
def step(name):
    if name == sys.argv[3]:
        os.kill(os.getpid(), signal.SIGKILL)
    yield

load(Path(sys.argv[1]), sys.argv[2], step=step)
"""


@pytest.mark.parametrize("step", ["transform fct_interaction", "publish"])
def test_a_killed_load_leaves_the_live_warehouse_untouched(
    raw: Path, live: str, tmp_path: Path, step: str
) -> None:
    import subprocess
    import sys

    paths = WarehousePaths(Path(live.removeprefix("duckdb:///")))
    before = _digest(paths)
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(raw), live, step],
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
    )
    assert proc.returncode == -9, proc.stderr.decode()
    after = _digest(paths)
    leftovers = set(after) - set(before)
    assert {k: after[k] for k in before} == before  # live files byte-for-byte equal
    assert all(name.startswith("warehouse-") for name in leftovers)  # a dead half-built file
    assert Warehouse(live).snapshot().version.id in paths.pointer.read_text()
    result = _load(raw, live)  # the next load cleans up
    assert not (leftovers & {p.name for p in paths.version_files()})
    assert Warehouse(live).snapshot().version.id == result.version


def test_the_fact_is_stored_in_time_order_with_stable_keys(raw: Path, url: str) -> None:
    _load(raw, url)
    stored = _query(url, "SELECT occurred_at, interaction_key FROM fct_interaction")  # physical
    assert stored == sorted(stored)  # zone maps: date-range scans skip row groups
    keys = [k for _, k in stored]
    assert len(set(keys)) == len(keys)
    events = sorted(int(r["event_id"]) for r in rawdata.interactions())
    assert sorted(keys) == events  # the source's event_id: stable across refreshes


def test_one_request_reads_one_data_version_even_across_a_publish(raw: Path, url: str) -> None:
    from flask import Flask

    _load(raw, url)
    warehouse = Warehouse(url, check_interval=0)
    server = Flask("pin-test")
    with server.test_request_context("/t0/company"):
        first = warehouse.snapshot()
        newer = _load(raw, url)  # a publish lands mid-request
        assert warehouse.snapshot() is first  # this request keeps its version
    with server.test_request_context("/t0/company"):
        assert warehouse.snapshot().version.id == newer.version  # the next one gets the new
    assert warehouse.snapshot().version.id == newer.version
