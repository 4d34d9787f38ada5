"""What the public sees when something is wrong: /readyz and error tiles name files, not
server paths; unknown or wrong-method /api/ URLs get JSON 404/405 (not the Dash index
page); and each log line is written once, as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.config import ROOT_DIR
from tests.app.test_http_readiness import RECHECK, _pointer, own_warehouse, ready_app  # noqa: F401
from tests.conftest import add_users, make_app, render, signed_in, texts


def test_readyz_names_the_missing_file_but_not_its_directory(
    ready_app,  # noqa: F811
    own_warehouse,  # noqa: F811
    caplog,
) -> None:
    _app, client = ready_app
    live = own_warehouse.path.with_name(_pointer(own_warehouse)["file"])
    hidden = live.with_name(live.name + ".away")
    live.rename(hidden)
    try:
        time.sleep(RECHECK)
        with caplog.at_level("WARNING", logger="starboard.warehouse"):
            first = client.get("/readyz").get_json()["reason"]
            again = client.get("/readyz").get_json()["reason"]
    finally:
        hidden.rename(live)
    assert live.name in first and first == again
    assert str(own_warehouse.path.parent) not in first and "/" not in first.split(" names")[0]
    logged = [r.getMessage() for r in caplog.records if r.name == "starboard.warehouse"]
    assert len(logged) == 1 and str(live) in logged[0]  # the full path, once, in the log


def test_readyz_and_tiles_without_a_warehouse_show_no_server_path(tmp_path: Path) -> None:
    missing = tmp_path / "srv" / "secret-place" / "warehouse.duckdb"
    app = make_app(f"duckdb:///{missing}", tmp_path / "home")
    try:
        add_users(app)
        ready = app.server.test_client().get("/readyz")
        reason = ready.get_json()["reason"]
        assert ready.status_code == 503 and "No warehouse at warehouse.duckdb" in reason
        tiles = " ".join(texts(render(signed_in(app, "erin"), "/t0/company")))
        assert "warehouse.duckdb" in tiles
        for shown in (reason, tiles):
            assert str(tmp_path) not in shown and "secret-place" not in shown
    finally:
        app.server.extensions["starboard"].warehouse.dispose()


def test_a_damaged_pointer_is_named_without_its_directory(
    ready_app,  # noqa: F811
    own_warehouse,  # noqa: F811
) -> None:
    _app, client = ready_app
    own_warehouse.pointer.write_text("{not json")
    time.sleep(RECHECK)
    response = client.get("/readyz")
    reason = response.get_json()["reason"]
    assert response.status_code == 503 and own_warehouse.pointer.name in reason
    assert str(own_warehouse.path.parent) not in reason


@pytest.fixture(scope="module")
def api_app(tiny_demo: str, tmp_path_factory: pytest.TempPathFactory):
    app = make_app(tiny_demo, tmp_path_factory.mktemp("api_errors"))
    add_users(app)
    yield app
    app.server.extensions["starboard"].warehouse.dispose()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/nope"),
        ("POST", "/api/v1/nope"),
        ("GET", "/api/nope"),
        ("GET", "/api/v1/export/nope.csv"),
        ("DELETE", "/api/v2/query"),
    ],
)
def test_an_unknown_api_route_is_a_json_404(api_app, method: str, path: str) -> None:
    response = signed_in(api_app, "ana").open(path, method=method)
    assert response.status_code == 404 and response.is_json, response.get_data()[:200]
    assert response.get_json()["error"]["message"] == f"No API route {path}."
    assert b"<html" not in response.get_data().lower()


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/api/v1/query", "POST"),
        ("PUT", "/api/v1/query", "POST"),
        ("DELETE", "/api/v1/sql/export.csv", "GET, HEAD, OPTIONS, POST"),
    ],
)
def test_a_wrong_method_on_an_api_route_is_a_json_405(
    api_app, method: str, path: str, allowed: str
) -> None:
    response = signed_in(api_app, "ana").open(path, method=method)
    assert response.status_code == 405 and response.is_json, response.get_data()[:200]
    assert set(response.headers["Allow"].split(", ")) >= set(allowed.split(", ")) - {
        "HEAD",
        "OPTIONS",
    }
    assert f"{method} is not allowed on {path}" in response.get_json()["error"]["message"]


def test_the_api_routes_themselves_still_answer(api_app) -> None:
    client = signed_in(api_app, "ana")
    response = client.post("/api/v1/query", json={"metrics": ["revenue"]})
    assert response.status_code == 200 and "rows" in response.get_json()
    assert signed_in(api_app, "ana").get("/t2/explore").status_code == 200  # pages too


def test_signed_out_api_calls_still_get_the_gates_answer(api_app) -> None:
    response = api_app.server.test_client().get("/api/v1/nope")
    assert response.status_code == 401 and response.is_json


LOG_TWICE = r"""
import logging, sys
from tests.conftest import make_app
app = make_app(sys.argv[1], __import__("pathlib").Path(sys.argv[2]))
logging.getLogger("starboard.probe").warning("before-%s", "library")
logging.warning("library warning on the root logger")   # what cachelib does
logging.getLogger("starboard.probe").warning("after-%s", "library")
app.server.test_client().get("/healthz", headers={"X-Request-ID": "once-1"})
"""


def test_each_log_line_is_written_once_and_as_json(tiny_demo: str, tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STARBOARD_")},
        "PYTHONPATH": str(ROOT_DIR),
    }
    done = subprocess.run(
        [sys.executable, "-c", LOG_TWICE, tiny_demo, str(tmp_path / "h")],
        cwd=ROOT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is JSON
    messages = [p["message"] for p in parsed]
    for message in ("before-library", "after-library", "library warning on the root logger"):
        assert messages.count(message) == 1, lines
    requests = [p for p in parsed if p["logger"] == "starboard.request"]
    assert [p["request_id"] for p in requests] == ["once-1"]
