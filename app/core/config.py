"""Settings as data: defaults, then ``STARBOARD_*`` environment variables, then overrides.

Every setting is declared once in ``SETTINGS`` with its type and help text; the README's
configuration table is checked against this list by a test.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from app.core.errors import ConfigError

CACHE_BACKENDS = ("null", "simple", "filesystem", "redis")
BACKGROUND_RUNNERS = ("threads", "celery")


@dataclass(frozen=True)
class Setting:
    """One setting: its field name, environment variable, parser and help."""

    name: str
    parse: Callable[[str], Any]
    help: str
    default: str = ""

    @property
    def env(self) -> str:
        return "STARBOARD_" + self.name.upper()


def _int(text: str) -> int:
    return int(text)


def _float(text: str) -> float:
    return float(text)


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _cache(text: str) -> str:
    if text not in CACHE_BACKENDS:
        raise ValueError(f"expected one of {', '.join(CACHE_BACKENDS)}, got {text!r}")
    return text


def _background(text: str) -> str:
    if text not in BACKGROUND_RUNNERS:
        raise ValueError(f"expected one of {', '.join(BACKGROUND_RUNNERS)}, got {text!r}")
    return text


def _str(text: str) -> str:
    return text


BYTE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
}


def _bytes(text: str) -> int:
    """A size: ``20MB``, ``500 MB``, ``1GiB`` or a number of bytes (kB/MB/GB are decimal,
    KiB/MiB/GiB binary)."""
    match = re.fullmatch(r"\s*([0-9][0-9_]*)\s*([A-Za-z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in BYTE_UNITS:
        raise ValueError(f"expected a size such as 20MB, 500MB or 1GB, got {text!r}")
    return int(match.group(1).replace("_", "")) * BYTE_UNITS[unit]


EXPORT_ROLES = ("analyst", "admin")
DEFAULT_EXPORT_CAPS: tuple[tuple[str, int], ...] = (("admin", 5_000_000), ("analyst", 1_000_000))


def _export_caps(text: str) -> tuple[tuple[str, int], ...]:
    """``analyst=1000000,admin=5000000`` (or one number for every exporting role) as
    sorted (role, rows) pairs."""
    raw = text.strip().replace("_", "")
    if re.fullmatch(r"\d+", raw):
        return tuple(sorted((role, int(raw)) for role in EXPORT_ROLES))
    caps = dict(DEFAULT_EXPORT_CAPS)
    for item in raw.split(","):
        role, sep, number = item.partition("=")
        role = role.strip()
        if not sep or role not in EXPORT_ROLES or not re.fullmatch(r"\s*\d+\s*", number):
            raise ValueError(
                f"write role=rows with role one of {', '.join(EXPORT_ROLES)}, "
                f"e.g. analyst=1000000 (got {item.strip()!r})"
            )
        caps[role] = int(number)
    return tuple(sorted(caps.items()))


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "home",
        _str,
        "Directory for the demo warehouse, cache files, secret key and metadata DB.",
        "~/.local/share/starboard",
    ),
    Setting(
        "db_url",
        _str,
        "Warehouse SQLAlchemy URL (`duckdb:///path.duckdb`, `postgresql+psycopg://…`).",
        "the demo DuckDB under the home directory",
    ),
    Setting(
        "pg_schema",
        _str,
        "Schema prefix of a PostgreSQL warehouse: the pointer "
        "table `<prefix>.current` and one schema `<prefix>_v<version>` per publish.",
        "starboard",
    ),
    Setting(
        "model",
        _str,
        "Path of the semantic model YAML.",
        "the demo model shipped in `queries/models/demo.yaml`",
    ),
    Setting(
        "pipeline",
        _str,
        "The pipeline project (a folder with `pipeline.yaml`) that `starboard load`, "
        "`starboard refresh`, the scheduler and `/pipeline` use; its `model:` is the model "
        "when `STARBOARD_MODEL` is not set.",
        "the demo's project under `STARBOARD_HOME/demo/raw`",
    ),
    Setting(
        "scheduler",
        _bool,
        "Run the pipeline's `schedule:` inside `starboard serve` (one scheduler per "
        "deployment: the process that takes the lock runs it; the others stand by).",
        "false",
    ),
    Setting(
        "meta_db_url",
        _str,
        "Metadata database URL (users, audit log, reported problems).",
        "SQLite under the home directory",
    ),
    Setting(
        "meta_busy_timeout_seconds",
        _float,
        "Seconds a SQLite metadata database "
        "waits for another writer before sign-in and access checks answer 503.",
        "15",
    ),
    Setting(
        "secret_key",
        _str,
        "Session signing key.",
        "generated once and kept in the home directory (mode 0600)",
    ),
    Setting(
        "cache",
        _cache,
        "Query cache backend: `null`, `simple`, `filesystem` or `redis`.",
        "filesystem",
    ),
    Setting(
        "cache_ttl",
        _int,
        "Seconds a cached query result is kept (the data version "
        "in every key already retires stale results).",
        "86400",
    ),
    Setting("cache_max_items", _int, "Most results the simple or filesystem cache keeps.", "5000"),
    Setting("redis_url", _str, "Redis for the shared cache and its locks.", "unset"),
    Setting(
        "background",
        _background,
        "Where long callbacks (explorer, SQL) run: "
        "`threads` (a thread pool in each web worker) or `celery` (Celery workers on "
        "`STARBOARD_REDIS_URL`; needs `pip install 'starboard[celery]'` and "
        "`celery -A app.wsgi:celery_app worker`).",
        "threads",
    ),
    Setting("host", _str, "Address the server binds to.", "127.0.0.1"),
    Setting("port", _int, "Port the server listens on.", "8050"),
    Setting("workers", _int, "gunicorn worker processes.", "2 × CPU count + 1, at most 8"),
    Setting("threads", _int, "Threads per gunicorn worker.", "4"),
    Setting("timeout", _int, "Seconds before gunicorn restarts a silent worker.", "120"),
    Setting(
        "max_requests",
        _int,
        "Requests after which gunicorn replaces a worker with a "
        "fresh one (±10 %, so workers do not restart together); bounds the slow growth "
        "of a worker's native memory. 0: never.",
        "10000",
    ),
    Setting("log_level", _str, "gunicorn and app log level (debug, info, warning, error).", "info"),
    Setting(
        "duckdb_memory_limit",
        _str,
        "DuckDB `memory_limit` for each process that opens the warehouse.",
        "2GB",
    ),
    Setting(
        "duckdb_threads", _int, "DuckDB threads for each process that opens the warehouse.", "2"
    ),
    Setting(
        "sql_timeout_seconds",
        _int,
        "Time limit of one statement on the /t2/sql page (and of its CSV download).",
        "30",
    ),
    Setting("sql_max_rows", _int, "Rows the /t2/sql page shows at most.", "10000"),
    Setting(
        "sql_export_max_rows", _int, "Rows a CSV download of /t2/sql holds at most.", "1000000"
    ),
    Setting(
        "sql_max_bytes",
        _bytes,
        "Bytes of result the /t2/sql page keeps, sends to the "
        'browser and caches at most (whole rows; "First N rows shown" says which cap '
        "cut it). A size: `20MB`, `1GB`, or bytes.",
        "20MB",
    ),
    Setting(
        "sql_memory_limit",
        _str,
        "DuckDB `memory_limit` of the separate read-only connection /t2/sql statements run on.",
        "1GB",
    ),
    Setting(
        "export_max_rows",
        _export_caps,
        "Rows one CSV export (explorer result or detail "
        "rows) may hold, per role: `analyst=1000000,admin=5000000`, or one number for every "
        "role that may export.",
        "analyst=1000000,admin=5000000",
    ),
    Setting(
        "export_max_bytes",
        _bytes,
        "Bytes one CSV export (explorer, detail rows, "
        "segments, /t2/sql) may hold; the file ends after the last whole row that fits "
        "and the audit record says `truncated_by: bytes`.",
        "500MB",
    ),
    Setting(
        "api_max_rows",
        _int,
        "Rows one `POST /api/v1/query` answer holds at most; a "
        "longer result is cut there and the answer says `truncated`.",
        "100000",
    ),
    Setting(
        "api_max_bytes",
        _bytes,
        "Bytes of rows one `POST /api/v1/query` answer holds at "
        "most (its JSON); a bigger result is cut there and says `truncated`. Same size "
        "syntax as `STARBOARD_SQL_MAX_BYTES`.",
        "25MB",
    ),
    Setting(
        "api_timeout_seconds",
        _int,
        "Time limit of the warehouse query behind one "
        "`POST /api/v1/query`; a longer one is stopped with a 400 saying so.",
        "30",
    ),
    Setting(
        "freshness_slo_hours",
        _int,
        "Data older than this (latest fact time vs now) raises the freshness warning.",
        "36",
    ),
    Setting(
        "session_idle_minutes",
        _int,
        "Sign out after this long without a request (unless “remember me” was ticked).",
        "60",
    ),
    Setting(
        "session_max_hours",
        _int,
        "Sign out this long after signing in, however active (unless “remember me” was ticked).",
        "12",
    ),
    Setting("remember_days", _int, "How long “remember me” keeps a user signed in.", "14"),
    Setting("debug", _bool, "Show tracebacks in the CLI and run Dash in debug mode.", "false"),
    Setting(
        "proxy_fix",
        _int,
        "Number of reverse proxies in front of the app whose "
        "`X-Forwarded-For/-Proto/-Host/-Port` headers to trust (werkzeug ProxyFix); 0 "
        "trusts none.",
        "0",
    ),
    Setting(
        "compress",
        _bool,
        "gzip HTML and JSON responses in the app (turn off when the reverse proxy compresses).",
        "true",
    ),
    Setting(
        "public_url",
        _str,
        "Base URL people open Starboard at; alert webhooks link to views under it.",
        "http://STARBOARD_HOST:STARBOARD_PORT",
    ),
)


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one process."""

    home: Path
    db_url: str
    pg_schema: str
    model: Path
    pipeline: Path
    scheduler: bool
    meta_db_url: str
    meta_busy_timeout_seconds: float
    secret_key: str | None
    cache: str
    cache_ttl: int
    cache_max_items: int
    redis_url: str | None
    background: str
    host: str
    port: int
    workers: int
    threads: int
    timeout: int
    max_requests: int
    log_level: str
    duckdb_memory_limit: str
    duckdb_threads: int
    sql_timeout_seconds: int
    sql_max_rows: int
    sql_export_max_rows: int
    sql_max_bytes: int
    sql_memory_limit: str
    export_max_rows: tuple[tuple[str, int], ...]
    export_max_bytes: int
    api_max_rows: int
    api_max_bytes: int
    api_timeout_seconds: int
    freshness_slo_hours: int
    session_idle_minutes: int
    session_max_hours: int
    remember_days: int
    debug: bool
    proxy_fix: int
    compress: bool
    public_url: str

    @property
    def demo_dir(self) -> Path:
        """Where `starboard demo` keeps its raw files and warehouse."""
        return self.home / "demo"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def secret_key_file(self) -> Path:
        return self.home / "secret_key"


def _model(model: str | None, pipeline: str | None) -> Path:
    """STARBOARD_MODEL, else the ``model:`` of STARBOARD_PIPELINE's project, else the demo's."""
    if model:
        return Path(model).expanduser()
    if pipeline:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        root = Path(pipeline).expanduser()
        file = root / "pipeline.yaml" if root.is_dir() else root
        try:
            data = YAML(typ="safe").load(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, YAMLError):
            data = None  # `starboard load` reports what is wrong with the project
        if isinstance(data, dict) and isinstance(data.get("model"), str):
            path = Path(os.path.expandvars(data["model"])).expanduser()
            return path if path.is_absolute() else file.parent / path
    return DEMO_MODEL


def ensure_secret_key(settings: Settings) -> str:
    """STARBOARD_SECRET_KEY, or a random key generated once and kept (mode 0600) in the
    home directory, so no two installs ever share a key."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.secret_key_file
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(f"Cannot read the secret key {path}: {exc.strerror}.") from exc
    # Written whole to a private temporary file, then linked into place: link() fails if
    # another worker got there first, and nobody ever reads a half-written key.
    key = secrets.token_urlsafe(48)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"Cannot create the secret key in {path.parent} ({exc.strerror}); "
            "set STARBOARD_SECRET_KEY or a writable STARBOARD_HOME."
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return key


ROOT_DIR = Path(__file__).resolve().parents[2]
DEMO_MODEL = ROOT_DIR / "queries" / "models" / "demo.yaml"


def default_workers() -> int:
    """gunicorn's rule of thumb, capped so a big box does not open dozens of DuckDBs."""
    return min(2 * (os.cpu_count() or 1) + 1, 8)


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _size_or(value: Any, default: int, name: str) -> int:
    """A size setting from the environment (already parsed) or an override (a number of
    bytes, or text such as ``20MB``)."""
    if value is None:
        return default
    if isinstance(value, str):
        try:
            return _bytes(value)
        except ValueError as exc:
            raise ConfigError(f"STARBOARD_{name.upper()}={value!r} is not valid: {exc}.") from exc
    return int(value)


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Defaults, then the environment, then ``overrides`` (tests, CLI flags)."""
    env = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    known = {s.name for s in SETTINGS}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"Unknown setting(s): {', '.join(unknown)}.")
    raw: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in overrides and overrides[setting.name] is not None:
            raw[setting.name] = overrides[setting.name]
            continue
        text = env.get(setting.env)
        if text is None or text == "":
            raw[setting.name] = None
            continue
        try:
            raw[setting.name] = setting.parse(text)
        except ValueError as exc:
            raise ConfigError(f"{setting.env}={text!r} is not valid: {exc}.") from exc

    home = Path(raw["home"] or "~/.local/share/starboard").expanduser()
    demo_db = home / "demo" / "warehouse.duckdb"
    values: dict[str, Any] = {
        "home": home,
        "db_url": raw["db_url"] or f"duckdb:///{demo_db}",
        "pg_schema": raw["pg_schema"] or "starboard",
        "model": _model(raw["model"], raw["pipeline"]),
        "pipeline": (
            Path(raw["pipeline"]).expanduser() if raw["pipeline"] else home / "demo" / "raw"
        ),
        "scheduler": bool(raw["scheduler"]),
        "meta_db_url": raw["meta_db_url"] or f"sqlite:///{home / 'meta.sqlite'}",
        "meta_busy_timeout_seconds": float(_or(raw["meta_busy_timeout_seconds"], 15)),
        "secret_key": raw["secret_key"],
        "cache": raw["cache"] or "filesystem",
        "cache_ttl": raw["cache_ttl"] if raw["cache_ttl"] is not None else 86400,
        "cache_max_items": raw["cache_max_items"] if raw["cache_max_items"] is not None else 5000,
        "redis_url": raw["redis_url"],
        "background": raw["background"] or "threads",
        "host": raw["host"] or "127.0.0.1",
        "port": raw["port"] if raw["port"] is not None else 8050,
        "workers": raw["workers"] if raw["workers"] is not None else default_workers(),
        "threads": raw["threads"] if raw["threads"] is not None else 4,
        "timeout": raw["timeout"] if raw["timeout"] is not None else 120,
        "max_requests": _or(raw["max_requests"], 10000),
        "log_level": raw["log_level"] or "info",
        "duckdb_memory_limit": raw["duckdb_memory_limit"] or "2GB",
        "duckdb_threads": raw["duckdb_threads"] if raw["duckdb_threads"] is not None else 2,
        "sql_timeout_seconds": _or(raw["sql_timeout_seconds"], 30),
        "sql_max_rows": _or(raw["sql_max_rows"], 10000),
        "sql_export_max_rows": _or(raw["sql_export_max_rows"], 1_000_000),
        "sql_max_bytes": _size_or(raw["sql_max_bytes"], 20 * 10**6, "sql_max_bytes"),
        "sql_memory_limit": raw["sql_memory_limit"] or "1GB",
        "export_max_rows": (
            _export_caps(raw["export_max_rows"])
            if isinstance(raw["export_max_rows"], str)
            else tuple(sorted(raw["export_max_rows"] or DEFAULT_EXPORT_CAPS))
        ),
        "export_max_bytes": _size_or(raw["export_max_bytes"], 500 * 10**6, "export_max_bytes"),
        "api_max_rows": _or(raw["api_max_rows"], 100_000),
        "api_max_bytes": _size_or(raw["api_max_bytes"], 25 * 10**6, "api_max_bytes"),
        "api_timeout_seconds": _or(raw["api_timeout_seconds"], 30),
        "freshness_slo_hours": (
            raw["freshness_slo_hours"] if raw["freshness_slo_hours"] is not None else 36
        ),
        "session_idle_minutes": _or(raw["session_idle_minutes"], 60),
        "session_max_hours": _or(raw["session_max_hours"], 12),
        "remember_days": _or(raw["remember_days"], 14),
        "debug": bool(raw["debug"]),
        "proxy_fix": _or(raw["proxy_fix"], 0),
        "compress": _or(raw["compress"], True),
        "public_url": (raw["public_url"] or "").rstrip("/"),
    }
    if not values["public_url"]:
        values["public_url"] = f"http://{values['host']}:{values['port']}"
    elif not values["public_url"].startswith(("http://", "https://")):
        raise ConfigError(
            f"STARBOARD_PUBLIC_URL={values['public_url']!r} must start with http:// or https://."
        )
    if not 0 < values["meta_busy_timeout_seconds"] < 3600:
        raise ConfigError(
            "STARBOARD_META_BUSY_TIMEOUT_SECONDS must be a positive number of seconds (below 3600)."
        )
    if values["max_requests"] < 0:
        raise ConfigError("STARBOARD_MAX_REQUESTS must be 0 (never) or a positive number.")
    if values["proxy_fix"] < 0:
        raise ConfigError(
            "STARBOARD_PROXY_FIX must be 0 or the number of proxies in front of the app."
        )
    if values["cache"] == "redis" and not values["redis_url"]:
        raise ConfigError("STARBOARD_CACHE=redis needs STARBOARD_REDIS_URL.")
    if values["background"] == "celery" and not values["redis_url"]:
        raise ConfigError(
            "STARBOARD_BACKGROUND=celery needs STARBOARD_REDIS_URL (the Celery "
            "broker and result store)."
        )
    if values["redis_url"] and raw["cache"] is None:
        values["cache"] = "redis"
    for name in (
        "port",
        "workers",
        "threads",
        "timeout",
        "duckdb_threads",
        "cache_ttl",
        "sql_timeout_seconds",
        "sql_max_rows",
        "sql_export_max_rows",
        "sql_max_bytes",
        "export_max_bytes",
        "cache_max_items",
        "session_idle_minutes",
        "session_max_hours",
        "remember_days",
    ):
        if values[name] < 0 or (name != "cache_ttl" and values[name] == 0):
            raise ConfigError(f"STARBOARD_{name.upper()} must be a positive number.")
    for name in ("api_max_rows", "api_max_bytes", "api_timeout_seconds"):
        if values[name] <= 0:
            raise ConfigError(f"STARBOARD_{name.upper()} must be a positive number.")
    assert {f.name for f in fields(Settings)} == set(values)
    return Settings(**values)
