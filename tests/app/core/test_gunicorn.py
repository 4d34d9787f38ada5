"""gunicorn with gunicorn.conf.py, for real: two workers on a free port serve /healthz and
a board, the Tier 0 cache is warmed once (not once per worker), a killed worker is
replaced, and the access log carries the request id."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from app.core.auth import Users
from app.core.config import ROOT_DIR
from app.core.meta import MetaDB
from tests.conftest import PASSWORD

START_TIMEOUT = 90


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(predicate, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(
        f"{what} within {timeout:.0f} s; log:\n" + log.read_text(errors="replace")[-3000:]
    )


@contextlib.contextmanager
def _gunicorn(tiny_demo: str, home: Path, **extra: str):
    """gunicorn -c gunicorn.conf.py on a free port of 127.0.0.1, serving ``tiny_demo`` with
    ``home``; (base URL, process, log file) once /healthz answers."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STARBOARD_")}
    env.update(
        STARBOARD_HOME=str(home),
        STARBOARD_DB_URL=tiny_demo,
        STARBOARD_PORT=str(port),
        STARBOARD_HOST="127.0.0.1",
        STARBOARD_WORKERS="2",
        STARBOARD_THREADS="2",
        STARBOARD_CACHE="filesystem",
        PYTHONUNBUFFERED="1",
        XDG_RUNTIME_DIR=str(home),
    )
    env.update(extra)
    log = home / "gunicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app.wsgi:server"],
            cwd=ROOT_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            body = requests.get(base + "/healthz", timeout=2).json()
        except (requests.RequestException, ValueError):
            return proc.poll() is not None
        return bool(body.get("data_version"))

    try:
        _wait_for(healthy, START_TIMEOUT, "/healthz did not answer", log)
        assert proc.poll() is None, log.read_text()
        yield base, proc, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


@pytest.fixture(scope="module")
def served(tiny_demo: str, tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("gunicorn_home")
    users = Users(MetaDB(f"sqlite:///{home / 'meta.sqlite'}"))
    users.add("erin", "executive", PASSWORD)
    users.db.dispose()
    with _gunicorn(tiny_demo, home) as (base, proc, log):
        yield base, proc, log, home


def _signed_in(base: str) -> requests.Session:
    session = requests.Session()
    page = session.get(base + "/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = session.post(
        base + "/login",
        data={"csrf_token": csrf, "username": "erin", "password": PASSWORD, "next": "/"},
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text[:300]
    return session


def _router(session: requests.Session, base: str, path: str) -> requests.Response:
    return session.post(
        base + "/_dash-update-component",
        json={
            "output": ".._pages_content.children..._pages_store.data..",
            "outputs": [
                {"id": "_pages_content", "property": "children"},
                {"id": "_pages_store", "property": "data"},
            ],
            "inputs": [
                {"id": "_pages_location", "property": "pathname", "value": path},
                {"id": "_pages_location", "property": "search", "value": ""},
            ],
            "changedPropIds": ["_pages_location.pathname"],
            "state": [],
        },
        timeout=60,
    )


def _workers(proc: subprocess.Popen) -> list[psutil.Process]:
    return psutil.Process(proc.pid).children()


def test_two_workers_serve_health_readiness_and_a_board(served) -> None:
    base, proc, _log, _home = served
    assert len(_workers(proc)) == 2
    assert requests.get(base + "/readyz", timeout=5).json()["status"] == "ready"
    session = _signed_in(base)
    page = session.get(base + "/t0/company", timeout=30)
    assert page.status_code == 200 and page.headers["Content-Encoding"] == "gzip"
    board = _router(session, base, "/t0/company")
    assert board.status_code == 200 and "Revenue" in board.text


def test_the_tier0_cache_is_warmed_once_across_workers(served) -> None:
    _base, _proc, log, home = served
    _wait_for(
        lambda: "tier0 warm" in log.read_text(errors="replace"),
        120,
        "no worker warmed the Tier 0 cache",
        log,
    )
    time.sleep(1.0)  # a second (wrong) warm would have started with the first
    lines = [
        json.loads(line)
        for line in log.read_text().splitlines()
        if line.startswith("{") and "tier0 warm" in line
    ]
    assert len(lines) == 1, lines
    assert re.match(r"tier0 warm: [1-9]\d* queries", lines[0]["message"])
    assert len(list(home.glob("warm-tier0.*"))) == 1
    assert len(list((home / "cache").iterdir())) > 1  # the shared filesystem cache


def test_a_killed_worker_is_replaced_and_the_site_keeps_answering(served) -> None:
    base, proc, log, _home = served
    victim = _workers(proc)[0]
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)

    def replaced() -> bool:
        pids = [w.pid for w in _workers(proc)]
        return len(pids) == 2 and victim.pid not in pids

    _wait_for(replaced, 60, "gunicorn did not replace the killed worker", log)
    session = _signed_in(base)
    assert all(_router(session, base, "/t0/company").status_code == 200 for _ in range(4))
    text = log.read_text(errors="replace")
    assert text.count("tier0 warm") == 1  # the new worker did not warm again


def test_the_access_log_carries_the_request_id_and_duration(served) -> None:
    base, _proc, log, _home = served
    response = requests.get(base + "/healthz", headers={"X-Request-ID": "probe-4242"}, timeout=5)
    assert response.headers["X-Request-ID"] == "probe-4242"
    time.sleep(0.5)
    text = log.read_text(errors="replace")
    assert re.search(r'"GET /healthz HTTP/1\.1" 200 \d+ \d+ms rid=probe-4242', text), text[-1500:]
    request_lines = [
        json.loads(line)
        for line in text.splitlines()
        if line.startswith("{") and '"probe-4242"' in line
    ]
    assert request_lines and request_lines[0]["route"] == "/healthz"


def test_the_access_log_shows_no_query_string_so_no_background_handle(served) -> None:
    base, _proc, log, _home = served
    session = _signed_in(base)
    handles = {
        "endId": "end-0123456789abcdef~sig",
        "cacheKey": "cafe0123456789~sig",
        "job": "4242424242~sig",
    }
    poll = session.post(
        base + "/_dash-update-component",
        params=handles,
        headers={"X-Request-ID": "poll-4343"},
        json={
            "output": "t2-result.children",
            "outputs": {"id": "t2-result", "property": "children"},
            "inputs": [],
            "changedPropIds": [],
            "state": [],
        },
        timeout=10,
    )
    assert poll.status_code in (400, 403)  # erin may not poll Tier 2; logged all the same
    session.get(
        base + "/healthz",
        params={"q": "SELECT email FROM dim_user"},
        headers={"X-Request-ID": "query-4444"},
        timeout=5,
    )
    time.sleep(0.5)
    text = log.read_text(errors="replace")
    lines = [line for line in text.splitlines() if "rid=poll-4343" in line]
    assert lines and '"POST /_dash-update-component HTTP/1.1"' in lines[0], text[-1500:]
    assert re.search(r'"GET /healthz HTTP/1\.1" 200 .* rid=query-4444', text)
    access = "\n".join(line for line in text.splitlines() if " rid=" in line)
    for secret in [*handles.values(), "cacheKey", "endId", "dim_user", "SELECT", "?"]:
        assert secret not in access, access[-1500:]
    assert all(secret not in text for secret in handles.values())  # nor any other line


@pytest.fixture
def gunicorn_conf(tmp_path: Path, monkeypatch) -> dict:
    """gunicorn.conf.py's namespace, as gunicorn loads it (settings from this environment)."""
    import runpy

    monkeypatch.setenv("STARBOARD_HOME", str(tmp_path))
    return runpy.run_path(str(ROOT_DIR / "gunicorn.conf.py"))


def test_each_worker_caps_malloc_arenas_unless_the_environment_says(
    gunicorn_conf, monkeypatch
) -> None:
    import ctypes

    calls = []

    class FakeLibc:
        def mallopt(self, param: int, value: int) -> int:
            calls.append((param, value))
            return 1

    monkeypatch.setattr(ctypes, "CDLL", lambda name: FakeLibc())
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    gunicorn_conf["post_fork"](None, None)
    assert calls == [(-8, 2)]  # M_ARENA_MAX, 2 arenas
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    gunicorn_conf["post_fork"](None, None)
    assert calls == [(-8, 2)]  # an operator's MALLOC_ARENA_MAX is left to glibc


def test_a_worker_is_replaced_after_max_requests_without_a_failed_request(
    tiny_demo: str, tmp_path: Path
) -> None:
    with _gunicorn(tiny_demo, tmp_path, STARBOARD_WORKERS="1", STARBOARD_MAX_REQUESTS="8") as (
        base,
        proc,
        log,
    ):
        first = {w.pid for w in _workers(proc)}
        statuses = [requests.get(base + "/healthz", timeout=30).status_code for _ in range(30)]
        assert statuses == [200] * 30  # the restarts lose no request
        _wait_for(lambda: {w.pid for w in _workers(proc)} - first, 30, "no new worker", log)
        assert "Autorestarting worker after current request" in log.read_text()
