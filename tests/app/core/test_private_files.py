"""Everything under STARBOARD_HOME is private to the user Starboard runs as: the metadata DB
(password and token hashes, the audit log), the background results and the query cache
(personal data), the secret key, the demo's raw and warehouse files. Created so by a fresh
install, and made so on start for an install made before."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.core.config import ROOT_DIR
from app.core.pointer import WarehousePaths, duckdb_path
from tests.conftest import add_users, make_app, render, signed_in, texts
from tests.pages.test_t2_callbacks import _explore


def _open_to_others(home: Path) -> list[str]:
    """Every file or directory under ``home`` (itself included) that the group or others
    may read, write or enter, with its mode."""
    found = []
    for path in [home, *home.rglob("*")]:
        if path.is_symlink():
            continue
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(f"{oct(mode)} {path.relative_to(home)}")
    return found


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    """The process umask an operator's shell would usually have (022) for the block."""
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def _use_the_app(url: str, home: Path) -> None:
    """An app start on ``home``, then what writes files: sign-ins (metadata DB and its WAL),
    a board (filesystem query cache), an explorer run (background results)."""
    app = make_app(url, home, cache="filesystem")
    try:
        add_users(app)
        assert "Revenue" in texts(render(signed_in(app, "erin"), "/t0/company"))
        result = _explore(signed_in(app, "ada"), "?metrics=orders&by=region")
        assert result
    finally:
        app.server.extensions["starboard"].warehouse.dispose()
        app.server.extensions["starboard"].users.db.dispose()


def test_a_fresh_demo_and_app_leave_nothing_open_to_group_or_others(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STARBOARD_")},
        "STARBOARD_HOME": str(home),
        "PYTHONPATH": str(ROOT_DIR),
    }
    done = subprocess.run(
        [sys.executable, "-m", "app", "demo", "--no-serve", "--interactions", "20000"],
        cwd=ROOT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    raw = home / "demo" / "raw"
    assert (raw / "interactions.parquet").exists() and list((home / "demo").glob("*.duckdb"))
    assert (home / "meta.sqlite").exists()
    assert _open_to_others(home) == []
    with _umask(0o022):
        _use_the_app(f"duckdb:///{home / 'demo' / 'warehouse.duckdb'}", home)
    assert (home / "secret_key").exists() and list((home / "background").iterdir())
    assert len(list((home / "cache").iterdir())) > 1
    assert _open_to_others(home) == []


def test_an_older_install_is_made_private_on_start(tiny_demo: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    source = WarehousePaths(duckdb_path(tiny_demo))
    with _umask(0o022):  # what an install made before looked like
        demo = home / "demo"
        (demo / "raw").mkdir(parents=True)
        for file in [source.pointer, *source.version_files()]:
            shutil.copy2(file, demo / file.name.replace(source.path.stem, "warehouse"))
        for name in (
            "meta.sqlite",
            "meta.sqlite-wal",
            "meta.sqlite-shm",
            "secret_key",
            "demo/raw/users.csv",
            "cache/0123abcd",
            "background/cache.db",
            "background/00/aa/result.val",
            "demo/warehouse.lock",
        ):
            (home / name).parent.mkdir(parents=True, exist_ok=True)
            (home / name).write_bytes(b"")  # SQLite takes empty files as empty databases
        (home / "secret_key").write_text("k" * 64)
        outside = tmp_path / "shared.txt"
        outside.write_text("someone else's")
        outside.chmod(0o644)
        (home / "link-out").symlink_to(outside)
        pointer = demo / "warehouse.current.json"
        pointer.write_text(pointer.read_text().replace(source.path.stem + "-", "warehouse-"))
        for path in [home, *home.rglob("*")]:
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)
    assert len(_open_to_others(home)) > 10
    _use_the_app(f"duckdb:///{demo / 'warehouse.duckdb'}", home)
    assert _open_to_others(home) == []
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644  # a link is not followed


def test_a_warehouse_outside_the_home_has_its_published_files_made_private(
    tiny_demo: str, tmp_path: Path
) -> None:
    source = WarehousePaths(duckdb_path(tiny_demo))
    target = WarehousePaths(tmp_path / "srv" / "wh.duckdb")
    target.path.parent.mkdir()
    for file in [source.pointer, *source.version_files()]:
        copied = target.path.with_name(file.name.replace(source.path.stem, "wh"))
        shutil.copy2(file, copied)
        copied.chmod(0o644)
    target.pointer.write_text(target.pointer.read_text().replace(source.path.stem + "-", "wh-"))
    target.pointer.chmod(0o644)
    unrelated = target.path.with_name("notes.txt")
    unrelated.write_text("not Starboard's")
    unrelated.chmod(0o644)
    _use_the_app(f"duckdb:///{target.path}", tmp_path / "home")
    published = [target.pointer, *target.version_files()]
    assert [stat.S_IMODE(p.stat().st_mode) for p in published] == [0o600] * len(published)
    assert stat.S_IMODE(unrelated.stat().st_mode) == 0o644  # not a file Starboard wrote
