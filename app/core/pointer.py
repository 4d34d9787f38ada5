"""Both sides of the pointer protocol that names the live warehouse version.

The loader (``app/loader/publish.py``, ``app/loader/postgres.py``) writes pointers; the
warehouse reader (``app/core/warehouse.py``) reads them. What a pointer is lives here, so
the reader never imports the loader.

DuckDB: for ``duckdb:///srv/wh.duckdb`` the files sit beside that path::

    /srv/wh.current.json          pointer: {"version", "file", "previous", "published_at"}
    /srv/wh-<version>.duckdb      one closed DuckDB file per published version
    /srv/wh.lock                  held by the one loader that may run at a time

PostgreSQL: a one-row table ``<prefix>.current`` names the live version's schema.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from app.core.errors import ConfigError, WarehouseUnavailable

POINTER_SUFFIX = ".current.json"


@dataclass(frozen=True)
class WarehousePaths:
    """Where the files of one DuckDB warehouse live."""

    path: Path  # the logical path named in the URL

    @property
    def pointer(self) -> Path:
        return self.path.with_name(self.path.stem + POINTER_SUFFIX)

    @property
    def lock(self) -> Path:
        return self.path.with_name(self.path.stem + ".lock")

    def version_file(self, version: str) -> Path:
        return self.path.with_name(f"{self.path.stem}-{version}.duckdb")

    def version_files(self) -> list[Path]:
        return sorted(self.path.parent.glob(f"{self.path.stem}-*.duckdb"))


def duckdb_path(url: str) -> Path:
    """The file path of a ``duckdb:///…`` URL; other URLs are a clear error."""
    prefix = "duckdb:///"
    if not url.startswith(prefix):
        raise ConfigError(
            f"Expected a DuckDB URL like duckdb:///path/warehouse.duckdb (or, "
            f"for starboard load, postgresql+psycopg://…), got {url!r}."
        )
    raw = url[len(prefix) :].split("?", 1)[0]
    if not raw or raw == ":memory:":
        raise ConfigError(f"{url!r} names no file: the loader publishes to a DuckDB file.")
    return Path(raw).expanduser()


def read_pointer(paths: WarehousePaths, *, strict: bool = True) -> dict | None:
    """The pointer's contents, or None when no version was ever published.

    A damaged pointer is an error for readers; the loader (``strict=False``) treats it as
    absent so that publishing again repairs it.
    """
    try:
        text = paths.pointer.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("file"), str):
            raise ValueError("no file named")
    except ValueError as exc:
        if not strict:
            return None
        # The name only: readers show this on /readyz and on error tiles.
        raise WarehouseUnavailable(
            f"The warehouse pointer {paths.pointer.name} is damaged ({exc}); "
            "publish again with `starboard load` to replace it."
        ) from exc
    return data


POINTER_TABLE = "current"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_pg_pointer(conn: sa.Connection, prefix: str) -> dict | None:
    """The live version's pointer row, or None when nothing was published under ``prefix``."""
    exists = conn.execute(
        sa.text("SELECT to_regclass(:name)"),
        {"name": f"{quote_ident(prefix)}.{quote_ident(POINTER_TABLE)}"},
    ).scalar()
    if exists is None:
        return None
    row = (
        conn.execute(
            sa.text(
                f"SELECT version, schema_name, previous, published_at "
                f"FROM {quote_ident(prefix)}.{quote_ident(POINTER_TABLE)} WHERE id = 1"
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None
