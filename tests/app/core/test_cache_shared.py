"""The query cache across worker processes: single-flight through the shared backend's lock,
and a failing Redis that degrades to uncached runs and comes back."""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from app.core import cache as cache_mod
from app.core.cache import FileLocks, QueryCache
from app.core.config import load_settings
from tests.conftest import render, signed_in, texts, unavailable

REDIS_URL = os.environ.get("STARBOARD_TEST_REDIS_URL", "")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cache(home: str, backend: str, redis_url: str | None = None) -> QueryCache:
    import flask

    settings = load_settings({"home": home, "cache": backend, "redis_url": redis_url}, environ={})
    cache = QueryCache(settings, lock_seconds=20)
    cache.init_app(flask.Flask("t"))
    return cache


def _compute_in_process(
    home: str,
    backend: str,
    redis_url: str | None,
    key: str,
    log_file: str,
    start_at: float,
    workers: int,
    results,
) -> None:
    """One 'worker': waits for the common start time, then asks for the same key."""
    cache = _cache(home, backend, redis_url)
    arrived = Path(log_file).with_name("arrived")

    def compute() -> str:
        with open(log_file, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        # A slow cold query: it runs until every worker has asked for the key (spawned
        # interpreters start at different speeds on a loaded machine), then a little more.
        deadline = time.time() + 30
        while len(arrived.read_text().split()) < workers and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(0.6)
        return f"value-of-{key}"

    time.sleep(max(0.0, start_at - time.time()))
    with open(arrived, "a") as handle:
        handle.write(f"{os.getpid()}\n")
    value, hit = cache.get_or_compute(key, compute)
    results.put((value, hit, cache.stats.lock_waits))


def _race(tmp_path: Path, backend: str, redis_url: str | None = None, n: int = 3):
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    key = f"race-{uuid.uuid4().hex}"
    log_file = tmp_path / "computed.log"
    start_at = time.time() + 3.0  # after every spawned interpreter has imported the app
    procs = [
        ctx.Process(
            target=_compute_in_process,
            args=(
                str(tmp_path / "home"),
                backend,
                redis_url,
                key,
                str(log_file),
                start_at,
                n,
                results,
            ),
        )
        for _ in range(n)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    got = [results.get(timeout=5) for _ in procs]
    computed = log_file.read_text().split()
    return key, got, computed


def test_identical_cold_queries_in_three_processes_run_once_filesystem(tmp_path) -> None:
    key, got, computed = _race(tmp_path, "filesystem")
    assert len(computed) == 1
    assert {value for value, _hit, _waits in got} == {f"value-of-{key}"}
    assert sorted(hit for _value, hit, _waits in got) == [False, True, True]
    assert sum(waits for _v, _h, waits in got) == 2
    assert not list((tmp_path / "home" / "cache-locks").glob("*.lock"))  # released


@pytest.mark.redis
def test_identical_cold_queries_in_three_processes_run_once_redis(tmp_path) -> None:
    if not REDIS_URL:
        unavailable("STARBOARD_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/15)")
    key, got, computed = _race(tmp_path, "redis", REDIS_URL)
    assert len(computed) == 1
    assert sorted(hit for _value, hit, _waits in got) == [False, True, True]
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    assert client.exists(f"sb:{key}") and not client.exists(f"sb:lock:{key}")
    client.delete(f"sb:{key}")


def test_a_stale_lock_file_of_a_dead_worker_is_taken_over(tmp_path) -> None:
    locks = FileLocks(tmp_path / "locks", ttl_seconds=30)
    held = locks.acquire("k")
    assert held and locks.acquire("k") is None and locks.held("k")
    old = time.time() - 60
    path = next((tmp_path / "locks").glob("*.lock"))
    os.utime(path, (old, old))
    assert not locks.held("k")
    mine = locks.acquire("k")
    assert mine and mine != held
    locks.release("k", held)  # the dead holder's token no longer releases it
    assert locks.held("k")
    locks.release("k", mine)
    assert not locks.held("k")


def test_a_waiter_computes_itself_when_the_lock_holder_fails(tmp_path) -> None:
    cache = _cache(str(tmp_path), "filesystem")
    other = FileLocks(cache._lock_dir, 20)
    token = other.acquire("k")

    def release_without_value() -> None:
        time.sleep(0.2)
        other.release("k", token)  # the other worker's query failed: no value stored

    import threading

    threading.Thread(target=release_without_value).start()
    value, hit = cache.get_or_compute("k", lambda: 42)
    assert (value, hit) == (42, False)
    assert cache.get_or_compute("k", lambda: 0) == (42, True)


def test_a_dead_redis_means_uncached_pages_and_one_warning(
    demo_app, tmp_path, caplog, monkeypatch
) -> None:
    from tests.conftest import make_app

    dead = f"redis://127.0.0.1:{_free_port()}/0"
    app = make_app(
        demo_app.server.extensions["starboard"].settings.db_url,
        tmp_path,
        cache="redis",
        redis_url=dead,
    )
    try:
        from tests.conftest import add_users

        add_users(app)
        client = signed_in(app, "erin")
        started = time.perf_counter()
        with caplog.at_level(logging.WARNING, logger="starboard.cache"):
            first = texts(render(client, "/t0/company"))
            second = texts(render(client, "/t0/company"))
        elapsed = time.perf_counter() - started
        assert "Revenue" in first and first == second
        warnings_ = [r for r in caplog.records if r.name == "starboard.cache"]
        assert len(warnings_) == 1 and "running uncached" in warnings_[0].getMessage()
        stats = app.server.extensions["starboard"].cache.stats
        assert stats.errors >= 1 and stats.bypassed > 0 and stats.hits == 0
        assert elapsed < 10
    finally:
        app.server.extensions["starboard"].warehouse.dispose()


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of this test on a free port (never the machine's shared one)."""
    server = shutil.which("redis-server")
    if server is None:
        unavailable("redis-server is not installed")
    port = _free_port()
    procs = []

    def start():
        proc = subprocess.Popen(
            [
                server,
                "--port",
                str(port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(tmp_path),
            ],
            stdout=subprocess.DEVNULL,
        )
        procs.append(proc)
        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop():
        proc = procs[-1]
        proc.terminate()
        proc.wait(10)

    start()
    yield f"redis://127.0.0.1:{port}/0", start, stop
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)


@pytest.mark.redis
def test_redis_stopping_mid_run_degrades_and_recovers(
    private_redis, tmp_path, caplog, monkeypatch
) -> None:
    url, start, stop = private_redis
    monkeypatch.setattr(cache_mod, "BACKOFF_SECONDS", 0.5)
    cache = _cache(str(tmp_path), "redis", url)
    calls = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get_or_compute("a", compute) == (1, False)
    assert cache.get_or_compute("a", compute) == (1, True)
    stop()
    with caplog.at_level(logging.WARNING, logger="starboard.cache"):
        started = time.perf_counter()
        assert cache.get_or_compute("a", compute) == (2, False)  # uncached, no error
        assert cache.get_or_compute("a", compute) == (3, False)  # in backoff: not asked
        assert time.perf_counter() - started < 2
    assert "running uncached" in caplog.text and cache.stats.bypassed == 1
    start()
    time.sleep(0.6)
    with caplog.at_level(logging.WARNING, logger="starboard.cache"):
        assert cache.get_or_compute("b", compute) == (4, False)
        assert cache.get_or_compute("b", compute) == (4, True)
    assert "caching resumed" in caplog.text
