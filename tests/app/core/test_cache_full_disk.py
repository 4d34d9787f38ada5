"""A full disk under the filesystem query cache: the failed write is seen (not swallowed by
cachelib), the cache backs off, /admin names the failure, and no temporary file is left."""

from __future__ import annotations

import errno
import logging
import os
import tempfile
import time
from pathlib import Path

import pytest

from app.core import cache as cache_mod
from tests.app.core.test_cache_shared import _cache
from tests.conftest import add_users, make_app, render, signed_in, texts, unavailable

TEMP_SUFFIX = ".__wz_cache"  # cachelib's temporary-file suffix


def _leftovers(directory: Path) -> list[str]:
    """Temporary files and empty files in the cache directory: what a failed write leaks."""
    return sorted(
        p.name for p in directory.iterdir() if p.name.endswith(TEMP_SUFFIX) or p.stat().st_size == 0
    )


def _wait_until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def full_disk(monkeypatch):
    """Every write of a cache file under ``directory`` goes to /dev/full: the kernel's own
    ENOSPC. The temporary file is still created where the cache would create it."""
    if not os.path.exists("/dev/full"):
        unavailable("/dev/full is not available")
    real_mkstemp = tempfile.mkstemp
    state = {"directory": None, "attempts": 0}

    def mkstemp(suffix=None, prefix=None, dir=None, text=False):  # noqa: A002 - tempfile's name
        fd, name = real_mkstemp(suffix=suffix, prefix=prefix, dir=dir, text=text)
        if state["directory"] and Path(dir or "") == state["directory"]:
            state["attempts"] += 1
            os.close(fd)
            return os.open("/dev/full", os.O_WRONLY), name
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    return state


def test_a_full_disk_is_detected_backed_off_and_leaks_no_temp_file(
    tmp_path, full_disk, monkeypatch, caplog
) -> None:
    monkeypatch.setattr(cache_mod, "BACKOFF_SECONDS", 0.2)
    cache = _cache(str(tmp_path / "home"), "filesystem")
    directory = Path(cache._config["CACHE_DIR"])
    full_disk["directory"] = directory
    computed = []

    def compute() -> dict:
        computed.append(1)
        return {"rows": list(range(1000))}

    with caplog.at_level(logging.WARNING):
        value, hit = cache.get_or_compute("board-1", compute)
        assert value == {"rows": list(range(1000))} and not hit  # the page still gets it
        assert full_disk["attempts"] == 1
        assert not cache.available and cache.stats.errors == 1
        assert "No space left on device" in cache.last_error
        assert str(directory) not in cache.last_error  # no server path
        assert _leftovers(directory) == []
        cache.get_or_compute("board-2", compute)  # during the backoff:
        assert full_disk["attempts"] == 1 and cache.stats.bypassed == 1  # no new attempt
    ours = [r for r in caplog.records if r.name == "starboard.cache"]
    assert len(ours) == 1 and "write failed" in ours[0].getMessage()
    assert [r for r in caplog.records if r.name == "root"] == []  # cachelib said nothing

    _wait_until(lambda: cache.available)
    cache.get_or_compute("board-3", compute)  # still full: again
    assert full_disk["attempts"] == 2 and cache.stats.errors == 2
    assert _leftovers(directory) == []

    full_disk["directory"] = None  # space again
    _wait_until(lambda: cache.available)
    assert cache.get_or_compute("board-4", compute) == ({"rows": list(range(1000))}, False)
    assert cache.get_or_compute("board-4", compute) == ({"rows": list(range(1000))}, True)
    assert _leftovers(directory) == []


def test_an_unpicklable_value_is_a_failed_write_with_nothing_left(tmp_path, caplog) -> None:
    cache = _cache(str(tmp_path / "home"), "filesystem")
    directory = Path(cache._config["CACHE_DIR"])
    with caplog.at_level(logging.WARNING):
        value, _hit = cache.get_or_compute("lambda", lambda: lambda: 1)
    assert callable(value) and cache.stats.errors == 1 and not cache.available
    assert "write failed" in cache.last_error
    assert _leftovers(directory) == []
    assert [r for r in caplog.records if r.name == "root"] == []


def test_admin_shows_the_full_disk_as_a_backend_error(
    tiny_demo: str, tmp_path: Path, monkeypatch
) -> None:
    app = make_app(tiny_demo, tmp_path / "home", cache="filesystem")
    try:
        add_users(app)
        directory = app.server.extensions["starboard"].settings.cache_dir
        real_write = os.write

        def write(fd: int, data) -> int:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(str(directory)):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_write(fd, data)

        monkeypatch.setattr(os, "write", write)
        board = texts(render(signed_in(app, "erin"), "/t0/company"))
        assert "Revenue" in board  # uncached, not broken
        shown = " ".join(texts(render(signed_in(app, "ada"), "/admin")))
        assert "Backend state down" in shown
        assert "write failed" in shown and "No space left on device" in shown
        assert str(directory) not in shown
        assert _leftovers(directory) == []
    finally:
        app.server.extensions["starboard"].warehouse.dispose()
