"""/healthz and /readyz: ready, warehouse unreadable, last publish failed a Risk 1 gate,
and recovery from both without a restart."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import duckdb
import pytest

from app.core.pointer import WarehousePaths, duckdb_path
from tests.conftest import make_app

RECHECK = 0.4  # the warehouse re-reads its pointer at most every ~200 ms


@pytest.fixture
def own_warehouse(tiny_demo: str, tmp_path: Path) -> WarehousePaths:
    """A private copy of the tiny demo's published files, free to break."""
    source = WarehousePaths(duckdb_path(tiny_demo))
    target = WarehousePaths(tmp_path / "wh" / "warehouse.duckdb")
    target.path.parent.mkdir()
    for file in [source.pointer, *source.version_files()]:
        shutil.copy2(file, target.path.with_name(file.name))
    return target


@pytest.fixture
def ready_app(own_warehouse: WarehousePaths, tmp_path: Path):
    app = make_app(f"duckdb:///{own_warehouse.path}", tmp_path / "home")
    yield app, app.server.test_client()
    app.server.extensions["starboard"].warehouse.dispose()


def _pointer(paths: WarehousePaths) -> dict:
    return json.loads(paths.pointer.read_text())


def _publish_copy(paths: WarehousePaths, version: str, risk1_failed: int) -> None:
    """Publish a copy of the live version as ``version`` with the given gate result."""
    pointer = _pointer(paths)
    new_file = paths.version_file(version)
    shutil.copy2(paths.path.with_name(pointer["file"]), new_file)
    with duckdb.connect(str(new_file)) as conn:
        conn.execute("UPDATE starboard_publish SET risk1_failed = ?", [risk1_failed])
    pointer.update(file=new_file.name, version=version)
    tmp = paths.pointer.with_suffix(".tmp")
    tmp.write_text(json.dumps(pointer))
    tmp.replace(paths.pointer)


def test_ready_reports_the_live_version_and_its_gates(ready_app, own_warehouse) -> None:
    _app, client = ready_app
    response = client.get("/readyz")
    body = response.get_json()
    assert response.status_code == 200 and body["status"] == "ready"
    assert body["data_version"] == str(_pointer(own_warehouse)["version"])
    assert body["published_at"] and body["dq_score"] is not None
    alive = client.get("/healthz")
    assert alive.status_code == 200 and alive.get_json()["status"] == "ok"


def test_an_unreadable_warehouse_is_not_ready_and_recovers(ready_app, own_warehouse) -> None:
    _app, client = ready_app
    assert client.get("/readyz").status_code == 200
    live = own_warehouse.path.with_name(_pointer(own_warehouse)["file"])
    hidden = live.with_name(live.name + ".away")
    live.rename(hidden)
    try:
        time.sleep(RECHECK)
        response = client.get("/readyz")
        body = response.get_json()
        assert response.status_code == 503 and body["status"] == "unavailable"
        assert live.name in body["reason"] and "missing" in body["reason"]
        alive = client.get("/healthz")  # the process itself is fine
        assert alive.status_code == 200 and alive.get_json()["data_version"] is None
    finally:
        hidden.rename(live)
    time.sleep(RECHECK)
    assert client.get("/readyz").status_code == 200


def test_a_missing_pointer_and_file_is_not_ready(ready_app, own_warehouse) -> None:
    _app, client = ready_app
    own_warehouse.pointer.rename(own_warehouse.pointer.with_suffix(".away"))
    time.sleep(RECHECK)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "No warehouse" in response.get_json()["reason"]


def test_a_publish_that_failed_a_risk1_gate_is_not_ready_until_a_good_one(
    ready_app, own_warehouse
) -> None:
    _app, client = ready_app
    _publish_copy(own_warehouse, "20990101T000000-bad", risk1_failed=2)
    time.sleep(RECHECK)
    response = client.get("/readyz")
    body = response.get_json()
    assert response.status_code == 503 and body["status"] == "gate_failed"
    assert body["data_version"] == "20990101T000000-bad" and "Risk 1" in body["reason"]
    _publish_copy(own_warehouse, "20990102T000000-good", risk1_failed=0)
    time.sleep(RECHECK)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["data_version"] == "20990102T000000-good"
