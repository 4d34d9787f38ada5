"""Files Starboard writes are private to the user it runs as.

``STARBOARD_HOME`` holds the metadata DB (password and token hashes, the audit log with
every SQL statement), the background-job results and the query cache (both may hold
personal data), the secret key, and the demo's raw and warehouse files. Each entry point
(the app factory, the CLI, gunicorn's config) sets the process umask to ``077``, so what it
creates is ``0600`` (files) and ``0700`` (directories), whichever library creates it
(SQLite and its ``-wal``/``-shm`` files, DuckDB, diskcache, pyarrow). An install made
before this has its files opened to the group and others; :func:`private_home` takes
those bits off everything already under the home when the app or a CLI command starts.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger("starboard.files")

PRIVATE_UMASK = 0o077
OPEN_BITS = stat.S_IRWXG | stat.S_IRWXO  # group and other: read, write, execute


def private_umask() -> None:
    """Files and directories this process creates from now on are its user's alone."""
    os.umask(PRIVATE_UMASK)


def _unlistable(exc: OSError) -> None:
    log.warning("cannot list %s: %s", exc.filename, exc.strerror)


def tighten(path: Path) -> int:
    """Take the group and other bits off ``path`` and, for a directory, off everything
    below it (the owner's bits stay as they are); symbolic links are neither changed nor
    followed. Returns how many modes changed; one that cannot be changed (not ours) is a
    warning, not a failure."""
    changed = 0
    paths = [str(path)]
    if path.is_dir() and not path.is_symlink():
        for top, dirs, files in os.walk(path, onerror=_unlistable):
            paths.extend(os.path.join(top, name) for name in (*dirs, *files))
    for name in paths:
        try:
            info = os.lstat(name)
            if stat.S_ISLNK(info.st_mode) or not info.st_mode & OPEN_BITS:
                continue
            os.chmod(name, stat.S_IMODE(info.st_mode) & ~OPEN_BITS)
            changed += 1
        except FileNotFoundError:
            continue  # removed meanwhile (a cache entry, a temporary file)
        except OSError as exc:
            log.warning("cannot make %s private: %s", name, exc.strerror)
    return changed


def private_home(home: Path, extra: Iterable[Path] = ()) -> None:
    """Set the private umask, create ``home`` (``0700``) if needed, and make what is
    already in it, and the ``extra`` files (a warehouse kept outside the home), private."""
    private_umask()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    changed = tighten(home)
    for path in extra:
        if path.exists():
            changed += tighten(path)
    if changed:
        log.info(
            "made %d files and directories under %s private (group and other bits removed)",
            changed,
            home,
        )
