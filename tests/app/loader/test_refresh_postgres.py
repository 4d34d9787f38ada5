"""Zero-downtime refresh: readers querying through a publish never fail, never see a mix of
versions, and get the new numbers (not a cached old result) once it has landed.

The same test runs on a DuckDB warehouse (pointer file) and a PostgreSQL one (pointer
table and versioned schemas).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import flask_login
import pytest

from app.loader.load import load
from app.loader.postgres import load_postgres
from queries.semantic.query import MetricQuery
from queries.semantic.run import run
from tests.app.loader import rawdata
from tests.conftest import add_users, make_app

READERS = 4
PUBLISHES = 4


def _datasets(tmp_path: Path) -> tuple[Path, Path]:
    """Two raw datasets whose revenue and spend totals both differ."""
    old = rawdata.write_csv(tmp_path / "raw-old")
    changed = rawdata.tables()
    changed["interactions"] = [
        {**row, "revenue": row["revenue"] * 3} for row in changed["interactions"]
    ]
    changed["marketing_spend"] = [
        {**row, "spend": row["spend"] + 7} for row in changed["marketing_spend"]
    ]
    return old, rawdata.write_csv(tmp_path / "raw-new", changed)


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouse(request, tmp_path: Path) -> tuple[str, dict, Callable[[Path], str]]:
    """(url, settings overrides, publish(raw) → version) for each backend."""
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'wh' / 'warehouse.duckdb'}"
        return url, {}, lambda raw: load(raw, url).version
    pg_url = request.getfixturevalue("pg_url")
    prefix = request.getfixturevalue("prefix")
    return (
        pg_url,
        {"pg_schema": prefix},
        lambda raw: (
            load_postgres(raw, pg_url, schema_prefix=prefix, work_dir=tmp_path / "work").version
        ),
    )


def test_readers_see_whole_versions_through_publishes(warehouse, tmp_path: Path) -> None:
    url, overrides, publish = warehouse
    old_raw, new_raw = _datasets(tmp_path)
    publish(old_raw)
    app = make_app(url, tmp_path / "home", cache="simple", **overrides)
    add_users(app)
    runtime = app.server.extensions["starboard"]
    runtime.warehouse.check_interval = 0.05
    user = runtime.users.by_name("ada")

    def read() -> tuple[str, float, float]:
        """One request: two queries on two fact tables, then the version it pinned."""
        with app.server.test_request_context("/t0/company"):
            flask_login.login_user(user)
            revenue = run(MetricQuery(("revenue",)), runtime=runtime).frame.iloc[0, 0]
            spend = run(MetricQuery(("spend",)), runtime=runtime).frame.iloc[0, 0]
            return runtime.warehouse.snapshot().version.id, float(revenue), float(spend)

    first = read()
    seen: list[tuple[str, float, float]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            try:
                seen.append(read())
            except BaseException as exc:  # every failure counts, whatever its type
                errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(READERS)]
    for thread in threads:
        thread.start()
    published = []
    try:
        for n in range(PUBLISHES):
            published.append(publish(new_raw if n % 2 == 0 else old_raw))
            time.sleep(0.2)
    finally:
        done.set()
        for thread in threads:
            thread.join()
    assert errors == []
    old_totals, new_totals = first[1:], None
    by_version: dict[str, set[tuple[float, float]]] = {}
    for version, revenue, spend in seen:
        by_version.setdefault(version, set()).add((revenue, spend))
    assert all(len(totals) == 1 for totals in by_version.values()), by_version
    for n, version in enumerate(published):
        if version in by_version and n % 2 == 0:
            new_totals = next(iter(by_version[version]))
    assert new_totals is not None and new_totals != old_totals
    assert new_totals[0] == pytest.approx(3 * old_totals[0])  # every read: all old or all new
    for version, totals in by_version.items():
        expected = new_totals if version in published[::2] else old_totals
        assert totals == {expected}, version
    assert len(by_version) >= 3  # the readers lived through swaps
    time.sleep(0.1)
    final = read()  # after the swap: the last data
    assert final[0] == published[-1] and final[1:] == old_totals
    runtime.warehouse.dispose()
