"""Settings: documented, parsed, and refused with a clear message when malformed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from app.core.config import SETTINGS, ensure_secret_key, load_settings
from app.core.errors import ConfigError

README = Path(__file__).resolve().parents[3] / "README.md"


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.env)
def test_every_setting_is_documented_in_the_readme(setting) -> None:
    assert f"`{setting.env}`" in README.read_text(encoding="utf-8")


def test_environment_overrides_defaults_and_overrides_win(tmp_path: Path) -> None:
    env = {"STARBOARD_HOME": str(tmp_path), "STARBOARD_PORT": "9000", "STARBOARD_CACHE": "simple"}
    settings = load_settings({"port": 9100}, environ=env)
    assert settings.home == tmp_path and settings.port == 9100 and settings.cache == "simple"
    assert settings.db_url == f"duckdb:///{tmp_path / 'demo' / 'warehouse.duckdb'}"
    assert settings.meta_db_url == f"sqlite:///{tmp_path / 'meta.sqlite'}"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STARBOARD_PORT": "eighty"}, "STARBOARD_PORT='eighty' is not valid"),
        ({"STARBOARD_CACHE": "memcached"}, "expected one of null, simple, filesystem, redis"),
        ({"STARBOARD_CACHE": "redis"}, "STARBOARD_CACHE=redis needs STARBOARD_REDIS_URL"),
        ({"STARBOARD_WORKERS": "0"}, "STARBOARD_WORKERS must be a positive number"),
        ({"STARBOARD_DEBUG": "maybe"}, "expected true or false"),
    ],
)
def test_malformed_settings_name_the_variable(env: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=env)


def test_redis_url_selects_the_redis_cache() -> None:
    settings = load_settings(environ={"STARBOARD_REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert settings.cache == "redis"


def test_secret_key_is_generated_once_private_and_unique(tmp_path: Path) -> None:
    first = load_settings(environ={"STARBOARD_HOME": str(tmp_path / "a")})
    second = load_settings(environ={"STARBOARD_HOME": str(tmp_path / "b")})
    key = ensure_secret_key(first)
    assert key == ensure_secret_key(first)  # kept, not regenerated
    assert len(key) >= 48 and key != ensure_secret_key(second)  # never shared by two installs
    mode = stat.S_IMODE(os.stat(first.secret_key_file).st_mode)
    assert mode == 0o600
    assert ensure_secret_key(load_settings(environ={"STARBOARD_SECRET_KEY": "s3cret"})) == "s3cret"


RACE = """
import sys
from app.core.config import ensure_secret_key, load_settings
print(ensure_secret_key(load_settings(environ={"STARBOARD_HOME": sys.argv[1]})))
"""


def test_workers_starting_together_agree_on_one_complete_key(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    for trial in range(3):
        home = tmp_path / f"home{trial}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", RACE, str(home)], cwd=root, stdout=subprocess.PIPE, text=True
            )
            for _ in range(6)
        ]
        keys = {p.communicate(timeout=60)[0].strip() for p in procs}
        assert len(keys) == 1 and len(keys.pop()) >= 48
        assert not list(home.glob(".secret_key.*"))  # no temporary file left behind
