"""Incremental refresh: a new day appended and the last days replaced equals a full rebuild."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from app.core.pointer import WarehousePaths, read_pointer
from app.loader.demo_project import write_project
from app.loader.load import load
from app.loader.project import load_project
from tests.app.loader import rawdata

NOW = datetime(2026, 3, 21, 8, 0, tzinfo=UTC)
TABLES = (
    "dim_channel",
    "dim_user",
    "dim_product",
    "dim_campaign",
    "fct_interaction",
    "fct_marketing_spend",
    "agg_daily_interaction",
    "agg_daily_channel",
    "agg_daily_spend",
)


SINCE: list[dict | None] = []


def _rollups(path: Path, since: dict | None = None) -> list[str]:
    from app.core.config import DEMO_MODEL
    from queries.semantic.rollups import build_rollups

    SINCE.append(since)
    return build_rollups(DEMO_MODEL, path, since)


def _write(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _live_file(url: str) -> Path:
    paths = WarehousePaths(Path(url.removeprefix("duckdb:///")))
    pointer = read_pointer(paths)
    assert pointer is not None
    return paths.path.with_name(pointer["file"])


def _differences(a: str, b: str, table: str) -> int:
    con = duckdb.connect()
    con.execute(f"ATTACH '{_live_file(a)}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{_live_file(b)}' AS b (READ_ONLY)")
    row = con.execute(
        f"SELECT (SELECT count(*) FROM (SELECT * FROM a.{table} EXCEPT ALL "
        f"SELECT * FROM b.{table})) + (SELECT count(*) FROM (SELECT * FROM b.{table} "
        f"EXCEPT ALL SELECT * FROM a.{table}))"
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def split(tmp_path: Path) -> tuple[Path, list[dict], list[dict]]:
    """The small dataset with its last day held back, and that day's rows."""
    raw = rawdata.write_csv(tmp_path / "raw")
    rows = rawdata.interactions()
    last = max(r["occurred_at"][:10] for r in rows)
    old = [r for r in rows if r["occurred_at"][:10] < last]
    new = [r for r in rows if r["occurred_at"][:10] == last]
    _write(raw / "interactions.csv", old)
    return raw, old, new


def test_a_new_day_refreshed_incrementally_equals_a_full_rebuild(
    split: tuple[Path, list[dict], list[dict]], tmp_path: Path
) -> None:
    raw, old, new = split
    inc = f"duckdb:///{tmp_path / 'inc' / 'wh.duckdb'}"
    full = f"duckdb:///{tmp_path / 'full' / 'wh.duckdb'}"
    first = load(raw, inc, now=lambda: NOW, rollups=_rollups)
    assert first.mode == "full" and first.row_counts["fct_interaction"] == len(old)

    # the daily export adds a file; one row of the day before arrives late with it
    late = dict(new[0], event_id=9_001, occurred_at=new[0]["occurred_at"].replace("-20 ", "-19 "))
    _write(raw / "interactions_2026-03-20.csv", [*new, late])
    SINCE.clear()
    refreshed = load(raw, inc, incremental=True, now=lambda: NOW, rollups=_rollups)
    assert SINCE == [{"fct_interaction": datetime(2026, 3, 18)}]  # only the new days re-rolled
    rebuilt = load(raw, full, now=lambda: NOW, rollups=_rollups)

    assert refreshed.mode == "incremental" and rebuilt.mode == "full"
    tasks = {t.name: t for t in refreshed.tasks}
    assert tasks["fct_interaction"].detail == "incremental from 2026-03-18"
    assert tasks["interactions"].detail == "from 2026-03-18 00:00"
    # only the replaced days were read: two days of the old file plus the new file
    window = [r for r in old if r["occurred_at"][:10] >= "2026-03-18"]
    assert tasks["interactions"].rows == len(window) + len(new) + 1
    assert tasks["dim_user"].detail == "unchanged: kept from the live version"  # same users.csv
    assert refreshed.row_counts == rebuilt.row_counts
    assert refreshed.row_counts["fct_interaction"] == len(old) + len(new) + 1
    for table in TABLES:
        assert _differences(inc, full, table) == 0, table


def test_an_incremental_refresh_with_nothing_live_is_a_full_build(
    split: tuple[Path, list[dict], list[dict]], tmp_path: Path
) -> None:
    raw, old, _ = split
    result = load(raw, f"duckdb:///{tmp_path / 'wh.duckdb'}", incremental=True, now=lambda: NOW)
    assert result.mode == "full"
    assert result.row_counts["fct_interaction"] == len(old)


def test_an_upsert_by_key_replaces_changed_rows(tmp_path: Path) -> None:
    """by: key reads only source rows newer than the last run's high-water mark."""
    project = tmp_path / "p"
    (project / "transforms").mkdir(parents=True)
    (project / "pipeline.yaml").write_text(
        "name: accounts\n"
        "sources:\n"
        "  changes:\n"
        "    path: changes*.csv\n"
        "    columns: {id: BIGINT, balance: DOUBLE, updated_at: TIMESTAMP}\n"
        "    time: updated_at\n"
        "transforms:\n"
        "  accounts:\n"
        "    incremental: {by: key, key: [id]}\n"
    )
    (project / "transforms" / "accounts.sql").write_text(
        "SELECT id, arg_max(balance, updated_at) AS balance, max(updated_at) AS updated_at\n"
        "FROM changes GROUP BY id\n"
    )
    _write(
        project / "changes_1.csv",
        [
            {"id": 1, "balance": 10.0, "updated_at": "2026-03-01 10:00:00"},
            {"id": 2, "balance": 20.0, "updated_at": "2026-03-01 11:00:00"},
        ],
    )
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    load(project, url, now=lambda: NOW)
    _write(
        project / "changes_2.csv",
        [
            {"id": 2, "balance": 25.0, "updated_at": "2026-03-02 09:00:00"},
            {"id": 3, "balance": 30.0, "updated_at": "2026-03-02 09:30:00"},
        ],
    )
    result = load(project, url, incremental=True, now=lambda: NOW)
    tasks = {t.name: t for t in result.tasks}
    # only rows at or after the high-water mark were staged (at: a row stamped the same
    # instant as the last one seen is not missed)
    assert tasks["changes"].rows == 3
    assert tasks["accounts"].detail == "upserted 2 row(s)"
    con = duckdb.connect(str(_live_file(url)), read_only=True)
    assert con.execute("SELECT id, balance FROM accounts ORDER BY id").fetchall() == [
        (1, 10.0),
        (2, 25.0),
        (3, 30.0),
    ]
    full = f"duckdb:///{tmp_path / 'full.duckdb'}"
    load(project, full, now=lambda: NOW)
    assert _differences(url, full, "accounts") == 0
    assert load_project(project).transforms["accounts"].incremental is not None


def test_the_demo_project_declares_its_fact_incremental(tmp_path: Path) -> None:
    write_project(tmp_path, "parquet")
    project = load_project(tmp_path)
    inc = project.transforms["fct_interaction"].incremental
    assert inc is not None and (inc.by, inc.column, inc.lookback_days) == (
        "time",
        "occurred_at",
        1,
    )
    assert project.sources["interactions"].time == "occurred_at"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"revenue": -5.0}, r"fct_interaction.revenue \[range_revenue\]"),
        ({"event_id": 1}, r"fct_interaction.interaction_key \[unique_interaction_key\]"),
    ],
    ids=["bad value in a new row", "new row repeats an old key"],
)
def test_an_incremental_refresh_checks_the_new_rows_against_the_whole_table(
    split: tuple[Path, list[dict], list[dict]], tmp_path: Path, change: dict, match: str
) -> None:
    from app.core.config import DEMO_MODEL
    from app.loader.gates import GateFailure
    from queries.quality.checks import PublishChecks

    raw, _, new = split
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    checks = PublishChecks(DEMO_MODEL, now=lambda: NOW)
    load(raw, url, now=lambda: NOW, checks=checks)
    before = _live_file(url)
    _write(raw / "interactions_new.csv", [dict(new[0], **change), *new[1:]])
    with pytest.raises(GateFailure, match=match):
        load(raw, url, incremental=True, now=lambda: NOW, checks=checks)
    assert _live_file(url) == before  # the previous version is still served


def test_only_what_changed_is_rebuilt(
    split: tuple[Path, list[dict], list[dict]], tmp_path: Path
) -> None:
    """Unchanged outputs are kept; a changed file rebuilds what reads it; a changed SQL file
    rebuilds its table in full, even an incremental one."""
    raw, _, new = split
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    load(raw, url, now=lambda: NOW)
    again = {t.name: t for t in load(raw, url, incremental=True, now=lambda: NOW).tasks}
    kept = {n for n, t in again.items() if t.detail == "unchanged: kept from the live version"}
    assert kept == set(TABLES[:6]) | {"dim_date"}  # nothing changed: every table kept
    assert not {"users", "channels", "interactions"} & set(again)  # no source was read

    data = rawdata.tables()
    data["users"] = [*data["users"], dict(data["users"][0], user_id=99, country="NL")]
    _write(raw / "users.csv", data["users"])
    _write(raw / "interactions_new.csv", new)
    changed = {t.name: t for t in load(raw, url, incremental=True, now=lambda: NOW).tasks}
    assert changed["dim_user"].detail == "full" and changed["dim_user"].rows == 5
    assert changed["dim_channel"].detail == "unchanged: kept from the live version"
    assert changed["fct_interaction"].detail.startswith("incremental from")

    sql = raw / "transforms" / "fct_interaction.sql"
    sql.write_text(sql.read_text().replace("i.revenue\n", "i.revenue * 2 AS revenue\n"))
    rebuilt = load(raw, url, incremental=True, now=lambda: NOW)
    assert {t.name: t.detail for t in rebuilt.tasks}["fct_interaction"] == "full"
    full = f"duckdb:///{tmp_path / 'full.duckdb'}"
    load(raw, full, now=lambda: NOW)
    for table in ("dim_user", "fct_interaction"):
        assert _differences(url, full, table) == 0, table
