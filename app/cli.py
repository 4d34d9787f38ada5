"""The ``starboard`` command: generate, load, demo, serve (and more as the layers grow).

A composition root: it may import every layer. Errors a user can act on are printed as one
clear paragraph with a non-zero exit; tracebacks only with ``--debug``.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.core.config import ROOT_DIR, Settings, load_settings
from app.core.errors import DataError, StarboardError

console = Console(stderr=True)
out = Console()
cli = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Starboard: self-hosted BI in tiers over a YAML semantic model.",
)
STATE: dict[str, Any] = {"debug": False}


@cli.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    from app.core.private import private_umask

    private_umask()  # raw files, warehouses, the metadata DB: private (app/core/private.py)
    STATE["debug"] = debug or os.environ.get("STARBOARD_DEBUG", "").lower() in ("1", "true")


def _settings(**overrides: Any) -> Settings:
    return load_settings({k: v for k, v in overrides.items() if v is not None})


class _Steps:
    """Rich progress: one line per load step, ticking while it runs."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        task = self.progress.add_task(name, total=1)
        yield
        self.progress.update(task, completed=1)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


@cli.command()
def generate(
    out_dir: Annotated[Path, typer.Argument(help="Directory for the raw files.")],
    interactions: Annotated[int, typer.Option(help="About how many interaction rows.")] = 2_000_000,
    seed: Annotated[int, typer.Option(help="Same seed, same files.")] = 42,
    format: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    end_date: Annotated[str | None, typer.Option(help="Last day of data (YYYY-MM-DD).")] = None,
) -> None:
    """Write the demo's raw files (users, products, channels, campaigns, interactions, spend)."""
    from app.loader.generate import generate as run_generate

    end = _parse_date(end_date, "--end-date")
    with _progress() as progress:
        task = progress.add_task("generate", total=1.0)
        summary = run_generate(
            out_dir,
            interactions=interactions,
            seed=seed,
            fmt=format,
            **({"end_date": end} if end else {}),
            progress=lambda _step, frac: progress.update(task, completed=frac),
        )
    table = Table("file", "rows", title=f"Generated in {summary.seconds:.1f} s → {out_dir}")
    for name, rows in summary.rows.items():
        table.add_row(name, f"{rows:,}")
    out.print(table)


def _parse_date(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise DataError(f"{flag} {text!r} is not a date like 2026-10-31.") from None


def _rollup_builder(settings: Settings) -> Callable[[Path], list[str]] | None:
    """The model's rollups, materialised into a new warehouse file before it is published."""
    try:
        from queries.semantic.rollups import build_rollups
    except ImportError:
        return None
    return lambda path: build_rollups(settings.model, path)


def _publisher(settings: Settings) -> Callable[..., Any]:
    """The DuckDB loader, or the PostgreSQL one (same steps, then a schema swap)."""
    from app.loader.load import load
    from app.loader.postgres import is_postgres, load_postgres

    if not is_postgres(settings.db_url):
        return load
    return lambda *args, **kw: load_postgres(
        *args, schema_prefix=settings.pg_schema, work_dir=settings.home / "staging", **kw
    )


def _model_checks(settings: Settings):
    """The model's data quality checks, run on a new warehouse file before it is published."""
    try:
        from queries.quality.checks import PublishChecks
    except ImportError:
        return None
    return PublishChecks(settings.model)


def _record_checks(settings: Settings, checks, version: str | None, published: bool) -> None:
    """Keep a publish's check results in the metadata DB (history for /quality)."""
    if checks is None or not checks.results:
        return
    from app.core.meta import MetaDB
    from app.core.stores.checks import record_run, warehouse_key

    db = MetaDB(settings.meta_db_url)
    try:
        record_run(
            db,
            warehouse=warehouse_key(settings.db_url, settings.pg_schema),
            version=version or checks.version or "unknown",
            source="publish",
            published=published,
            results=checks.results,
        )
    finally:
        db.dispose()


def run_load(raw_dir: Path, settings: Settings):
    """Load ``raw_dir`` into the settings' warehouse with progress and a summary table."""
    from app.loader.gates import GateThresholds
    from app.loader.load import GateFailure

    thresholds = GateThresholds(freshness_hours=settings.freshness_slo_hours)
    checks = _model_checks(settings)  # PostgreSQL too: they run on the staged DuckDB build
    try:
        with _progress() as progress:
            result = _publisher(settings)(
                raw_dir,
                settings.db_url,
                thresholds=thresholds,
                memory_limit=settings.duckdb_memory_limit,
                threads=settings.duckdb_threads,
                rollups=_rollup_builder(settings),
                step=_Steps(progress),
                **({"checks": checks} if checks else {}),
            )
    except GateFailure as failure:
        _record_checks(settings, checks, None, published=False)
        _print_gates(failure.results)
        _alerts_after_load(settings, failed_gates=failure.failed)
        raise
    _record_checks(settings, checks, result.version, published=True)
    rows = Table("table", "rows", title=f"Published version {result.version}")
    for name, count in result.row_counts.items():
        rows.add_row(name, f"{count:,}")
    for name in result.rollups:
        rows.add_row(f"{name} (rollup)", "")
    steps = Table("step", "seconds", title="Time per step")
    for name, seconds in result.steps:
        steps.add_row(name, f"{seconds:.2f}")
    steps.add_row("total", f"{sum(s for _, s in result.steps):.2f}")
    out.print(rows)
    out.print(steps)
    _print_gates(result.gates)
    out.print(f"DQ score {result.dq_score:.1f}%  ·  {settings.db_url}")
    _warm(settings)
    _alerts_after_load(settings)
    return result


def _warm(settings: Settings) -> None:
    """Fill the shared query cache with every Tier 0 board's default and previous period,
    so the first executive after a publish gets cached numbers."""
    if settings.cache in ("null", "simple"):
        return  # nothing another process could read
    from app.core.runtime import standalone
    from queries.boards.tier0 import warm_tier0

    started = time.perf_counter()
    try:
        with standalone(settings) as runtime:
            count = warm_tier0(runtime)
    except StarboardError as exc:
        console.print(f"[yellow]Tier 0 boards not warmed:[/] {exc.message}", highlight=False)
        return
    out.print(f"Warmed {count} Tier 0 queries in {time.perf_counter() - started:.1f} s.")


def _print_gates(gates) -> None:
    failed = [g for g in gates if not g.passed]
    table = Table(
        "risk",
        "check",
        "target",
        "detail",
        title=f"Quality gates: {len(gates) - len(failed)} of {len(gates)} passed",
    )
    for g in failed:
        table.add_row(
            str(g.risk),
            g.check,
            f"{g.table}{'.' + g.column if g.column else ''}",
            g.detail,
            style="red" if g.risk == 1 else "yellow",
        )
    if failed:
        out.print(table)
    else:
        out.print(table.title)


@cli.command()
def load(
    raw_dir: Annotated[Path, typer.Argument(help="Directory of CSV or Parquet raw files.")],
    db: Annotated[str | None, typer.Option(help="Warehouse URL (duckdb:///path.duckdb).")] = None,
    model: Annotated[Path | None, typer.Option(help="Semantic model (for rollups).")] = None,
) -> None:
    """Load raw files: staging → star schema → quality gates → rollups → atomic publish."""
    run_load(raw_dir, _settings(db_url=db, model=str(model) if model else None))


@cli.command()
def demo(
    interactions: Annotated[int, typer.Option(help="About how many interactions.")] = 2_000_000,
    port: Annotated[int | None, typer.Option(help="Port to serve on.")] = None,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve after loading.")] = True,
    rebuild: Annotated[bool, typer.Option(help="Regenerate and reload the demo data.")] = False,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 42,
    db: Annotated[
        str | None,
        typer.Option(help="Warehouse URL (default: the demo DuckDB; or postgresql+psycopg://…)."),
    ] = None,
) -> None:
    """Generate, load and publish the demo warehouse under STARBOARD_HOME, then serve it."""
    settings = _settings(port=port, db_url=db)
    from app.loader.publish import check_writable

    demo_dir = settings.demo_dir
    check_writable(demo_dir)
    raw = demo_dir / "raw"
    where = _published_demo(settings)
    if rebuild or where is None:
        if rebuild and raw.exists():
            shutil.rmtree(raw)
        started = time.perf_counter()
        if not (raw / "interactions.parquet").exists():
            generate(raw, interactions=interactions, seed=seed, format="parquet", end_date=None)
        run_load(raw, settings)
        _alerts_after_load(settings, since="1900-01-01")  # the demo's whole history
        out.print(f"Demo ready in {time.perf_counter() - started:.1f} s.")
    else:
        out.print(f"Reusing the demo warehouse at {where} (--rebuild to regenerate).")
    table = Table("user", "role", "password", "row scope", title="Demo users")
    for row in ensure_demo_users(settings):
        table.add_row(*row)
    out.print(table)
    if serve:
        _serve(settings)


def _published_demo(settings: Settings) -> str | None:
    """Where the published warehouse of ``settings`` is, or None when nothing is published."""
    from app.loader.postgres import is_postgres

    if is_postgres(settings.db_url):
        import sqlalchemy as sa

        from app.core.pointer import read_pg_pointer

        engine = sa.create_engine(settings.db_url)
        try:
            with engine.connect() as conn:
                pointer = read_pg_pointer(conn, settings.pg_schema)
        except sa.exc.DBAPIError as exc:
            safe = sa.engine.make_url(settings.db_url).render_as_string(hide_password=True)
            raise DataError(
                f"PostgreSQL at {safe} is not reachable: {str(exc.orig).strip().splitlines()[0]}"
            ) from exc
        finally:
            engine.dispose()
        return f"PostgreSQL schema {pointer['schema_name']}" if pointer else None
    from app.core.pointer import WarehousePaths, duckdb_path

    paths = WarehousePaths(duckdb_path(settings.db_url))
    return str(paths.path) if paths.pointer.exists() else None


@cli.command("serve")
def serve_cmd(
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    host: Annotated[str | None, typer.Option(help="Address to bind.")] = None,
    dev: Annotated[bool, typer.Option(help="Flask's reloading development server.")] = False,
) -> None:
    """Serve the app: gunicorn with gunicorn.conf.py, or Flask's dev server with --dev."""
    settings = _settings(port=port, host=host)
    if dev:
        from app.factory import create_app

        create_app({"port": settings.port, "host": settings.host}).run(
            host=settings.host, port=settings.port, debug=True
        )
        return
    _serve(settings)


def _serve(settings: Settings) -> None:
    env = dict(
        os.environ,
        STARBOARD_HOST=settings.host,
        STARBOARD_PORT=str(settings.port),
        STARBOARD_DB_URL=settings.db_url,
        STARBOARD_HOME=str(settings.home),
    )
    gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
    out.print(f"Starboard on http://{settings.host}:{settings.port}/  (Ctrl+C to stop)")
    sys.stdout.flush()
    os.chdir(ROOT_DIR)
    os.execvpe(
        gunicorn, [gunicorn, "-c", str(ROOT_DIR / "gunicorn.conf.py"), "app.wsgi:server"], env
    )


@cli.command()
def query(
    metrics: Annotated[str, typer.Option(help="Comma-separated metric names.")],
    by: Annotated[
        str | None, typer.Option(help="Dimensions, e.g. channel_group,date:month.")
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            help="Filter 'dimension op value' (op: = != < <= > >= in not_in between); repeat."
        ),
    ] = None,
    order: Annotated[str | None, typer.Option(help="e.g. -revenue,date")] = None,
    limit: Annotated[int | None, typer.Option(help="Most rows to return.")] = None,
    format: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    model: Annotated[Path | None, typer.Option(help="Semantic model YAML.")] = None,
    db: Annotated[str | None, typer.Option(help="Warehouse URL.")] = None,
    explain: Annotated[bool, typer.Option(help="Print the compiled SQL, do not run.")] = False,
) -> None:
    """Run one MetricQuery through the semantic layer (the same door the web app uses)."""
    from app.core.runtime import standalone
    from queries.semantic.parse import parse_cli
    from queries.semantic.run import current_model, run
    from queries.semantic.run import explain as explain_query
    from queries.semantic.values import records

    if format not in ("table", "csv", "json"):
        raise DataError(f"--format {format!r}: choose table, csv or json.")
    settings = _settings(db_url=db, model=str(model) if model else None, cache="null")
    with standalone(settings) as runtime:
        parsed = parse_cli(metrics, by, where or (), order, limit, model=current_model(runtime))
        if explain:
            sql, klass = explain_query(parsed, runtime=runtime)
            out.print(f"-- cost class {klass}\n{sql}", highlight=False)
            return
        result = run(parsed, runtime=runtime)
    if format == "csv":
        result.frame.to_csv(sys.stdout, index=False, float_format="%.12g")
    elif format == "json":
        import json

        rows = [dict(zip(result.columns, row, strict=True)) for row in records(result.frame)]
        sys.stdout.write(json.dumps(rows, indent=1) + "\n")
    else:
        table = Table(
            *result.columns,
            title=f"{len(result.frame):,} rows · cost "
            f"{result.cost_class} · {result.ms:.0f} ms"
            + (f" · rollup {result.rollup}" if result.rollup else ""),
        )
        for row in records(result.frame):
            table.add_row(
                *("" if v is None else f"{v:,.2f}" if isinstance(v, float) else str(v) for v in row)
            )
        out.print(table)
    for notice in result.notices:
        console.print(notice)


@cli.command()
def check(
    model: Annotated[Path | None, typer.Option(help="Semantic model YAML.")] = None,
    db: Annotated[str | None, typer.Option(help="Warehouse URL.")] = None,
) -> None:
    """Check the semantic model against the warehouse; print every problem at once."""
    from app.core.runtime import standalone
    from queries.semantic.against_warehouse import check as check_model

    settings = _settings(db_url=db, model=str(model) if model else None, cache="null")
    with standalone(settings) as runtime:
        problems = check_model(settings.model, runtime.warehouse.snapshot().engine)
        if not problems:  # a model that loads: its Tier 0 boards must stay cheap
            from queries.boards.tier0 import tier0_cost_problems

            problems = tier0_cost_problems(runtime)
    if problems:
        for problem in problems:
            out.print(str(problem), highlight=False)
        console.print(f"[bold red]{len(problems)} problem(s)[/] in {settings.model}")
        raise typer.Exit(1)
    out.print(f"{settings.model}: no problems against {settings.db_url}")


@cli.command()
def quality(
    model: Annotated[Path | None, typer.Option(help="Semantic model YAML.")] = None,
    db: Annotated[str | None, typer.Option(help="Warehouse URL (DuckDB or PostgreSQL).")] = None,
) -> None:
    """Run the model's data quality checks on any warehouse and record the results; exit 1
    when a Risk 1 check fails."""
    from app.core.runtime import standalone
    from queries.quality.checks import quality_run
    from queries.semantic.model import load_model

    settings = _settings(db_url=db, model=str(model) if model else None, cache="null")
    parsed = load_model(settings.model)
    if not parsed.checks:
        out.print(f"{settings.model} declares no checks (see the README: Data quality).")
        return
    with standalone(settings):
        version, results, _run_id = quality_run(parsed)
    checks = [r for r in results if r.origin == "model"]
    gates = [r for r in results if r.origin != "model"]
    failed = [r for r in checks if not r.passed]
    table = Table(
        "status",
        "risk",
        "check",
        "target",
        "failing",
        "rows",
        "message",
        title=f"Data quality: {len(checks) - len(failed)} of {len(checks)} checks "
        f"passed · version {version}",
    )
    styles = {"ok": "green", "warn": "yellow", "fail": "red"}
    for r in checks:
        status = "error" if r.error else r.status
        table.add_row(
            status,
            str(r.risk),
            r.name,
            r.target,
            "" if r.failing_rows is None else f"{r.failing_rows:,}",
            "" if r.total_rows is None else f"{r.total_rows:,}",
            r.message,
            style=styles.get(r.status),
        )
    out.print(table)
    from app.core.stores.checks import dq_score

    if gates:
        out.print(
            f"With the {len(gates)} load gates of this published version "
            f"({sum(1 for g in gates if not g.passed)} failing).",
            highlight=False,
        )
    out.print(
        f"DQ score {dq_score(results):.1f}%  ·  recorded in the metadata database", highlight=False
    )
    blocking = [r for r in results if r.risk == 1 and not r.passed]
    if blocking:
        console.print(f"[bold red]{len(blocking)} Risk 1 check(s) failed[/]")
        raise typer.Exit(1)


users_cli = typer.Typer(
    no_args_is_help=True, help="Manage users, roles, row scopes and API tokens."
)
cli.add_typer(users_cli, name="users")


def _users(settings: Settings | None = None):
    from app.core.auth import Users
    from app.core.meta import MetaDB

    settings = settings or _settings()
    return Users(MetaDB(settings.meta_db_url, busy_timeout=settings.meta_busy_timeout_seconds))


def _read_password(password_stdin: bool, name: str) -> tuple[str, bool]:
    """(password, generated): from stdin, an interactive prompt, or a generated one."""
    import secrets

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise DataError("--password-stdin: no password on standard input.")
        return password, False
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass(f"Password for {name}: ")
        if password != getpass.getpass("Again: "):
            raise DataError("The two passwords differ; nothing was changed.")
        return password, False
    return secrets.token_urlsafe(12), True


@users_cli.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Option(help="executive, operator, analyst or admin.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(help="Row scope dimension=value[,value]; repeat for several."),
    ] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:
    """Add a user (the password is prompted, read from stdin, or generated and printed)."""
    from app.core.auth import parse_scopes

    users = _users()
    scopes = parse_scopes(scope or [])
    users._check_role(role)  # before asking for a password
    password, generated = _read_password(password_stdin, name)
    user = users.add(name, role, password, scopes)
    out.print(
        f"Added {user.name} ({user.role})"
        + (f", scope {_scope_text(user.scopes)}" if user.scopes else "")
    )
    if generated:
        out.print(f"Password: {password}", highlight=False)


def _scope_text(scopes) -> str:
    return "; ".join(f"{dim}={','.join(vals)}" for dim, vals in scopes) or "—"


@users_cli.command("list")
def users_list() -> None:
    """List users with their roles, scopes and status."""
    table = Table("user", "role", "scope", "status")
    for user in _users().all():
        table.add_row(
            user.name,
            user.role,
            _scope_text(user.scopes),
            "disabled" if user.disabled else "active",
        )
    out.print(table)


@users_cli.command("set-role")
def users_set_role(name: str, role: str) -> None:
    """Change a user's role."""
    user = _users().set_role(name, role)
    out.print(f"{user.name} is now {user.role}.")


@users_cli.command("set-scope")
def users_set_scope(
    name: str,
    scope: Annotated[
        list[str] | None,
        typer.Option(help="dimension=value[,value]; repeat; none clears the scope."),
    ] = None,
) -> None:
    """Replace a user's row scope (no --scope: unrestricted)."""
    from app.core.auth import parse_scopes

    user = _users().set_scopes(name, parse_scopes(scope or []))
    out.print(f"{user.name}: scope {_scope_text(user.scopes)}.")


@users_cli.command("disable")
def users_disable(
    name: str, enable: Annotated[bool, typer.Option(help="Enable again.")] = False
) -> None:
    """Disable a user (they can no longer sign in or use tokens)."""
    user = _users().set_disabled(name, not enable)
    out.print(f"{user.name} is {'disabled' if user.disabled else 'active'}.")


@users_cli.command("reset-password")
def users_reset_password(
    name: str,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:
    """Set a new password (prompted, from stdin, or generated and printed)."""
    users = _users()
    if users.by_name(name) is None:
        from app.core.auth import AccessError

        raise AccessError(f"No user named {name!r}.")
    password, generated = _read_password(password_stdin, name)
    users.reset_password(name, password)
    out.print(
        f"Password of {name} changed; every session of theirs is ended."
        + (f" New password: {password}" if generated else ""),
        highlight=False,
    )


@users_cli.command("token")
def users_token(
    name: str,
    label: Annotated[str, typer.Option(help="What it is for.")] = "",
    expires_days: Annotated[
        int | None, typer.Option(help="Days until it expires (default: valid until revoked).")
    ] = None,
) -> None:
    """Create an API token for /api/v1 (shown once; send as 'Authorization: Bearer …')."""
    users = _users()
    token = users.create_token(name, label, expires_days=expires_days)
    out.print(token, highlight=False)  # stdout holds the token alone, for scripts
    info = users.tokens(name)[-1]
    console.print(
        f"Token #{info.id} for {name}"
        + (
            f", expires {info.expires_at:%Y-%m-%d %H:%M} UTC"
            if info.expires_at
            else ", valid until revoked"
        )
        + f". Revoke it with: starboard users revoke {info.id}",
        highlight=False,
    )


def _when(stamp) -> str:
    return f"{stamp:%Y-%m-%d %H:%M}" if stamp else "—"


@users_cli.command("tokens")
def users_tokens(name: str) -> None:
    """List a user's API tokens: id, label, created, last used, expiry, status (never the
    token itself)."""
    table = Table(
        "id",
        "label",
        "created (UTC)",
        "last used",
        "expires",
        "status",
        title=f"API tokens of {name}",
    )
    tokens = _users().tokens(name)
    for info in tokens:
        table.add_row(
            str(info.id),
            info.label or "—",
            _when(info.created_at),
            _when(info.last_used_at),
            _when(info.expires_at) if info.expires_at else "never",
            info.status(),
        )
    if tokens:
        out.print(table)
    else:
        out.print(f"{name} has no API tokens.")


@users_cli.command("revoke")
def users_revoke(
    token_id: Annotated[
        int, typer.Argument(help="The token's id, from 'starboard users tokens NAME'.")
    ],
) -> None:
    """Revoke an API token: calls with it get 401 from now on."""
    users = _users()
    before = users.token(token_id)
    info = users.revoke_token(token_id)
    if before.revoked:
        out.print(f"Token #{info.id} of {info.user} was already revoked.")
    else:
        out.print(f"Token #{info.id} of {info.user} ({info.label or 'no label'}) revoked.")


DEMO_USERS = (
    ("exec", "executive"),
    ("ops", "operator"),
    ("analyst", "analyst"),
    ("admin", "admin"),
    ("emea", "operator"),
)


def ensure_demo_users(settings: Settings) -> list[tuple[str, str, str, str]]:
    """One demo user per role (and an EMEA-scoped operator); credentials kept 0600 in the
    demo directory so every `starboard demo` can print them."""
    import json
    import secrets

    path = settings.demo_dir / "credentials.json"
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        known = {}
    users = _users(settings)
    rows = []
    for name, role in DEMO_USERS:
        scopes = (("region", ("EMEA",)),) if name == "emea" else ()
        if users.by_name(name) is None or name not in known:
            password = secrets.token_urlsafe(9)
            if users.by_name(name) is None:
                users.add(name, role, password, scopes, actor="demo")
            else:
                users.reset_password(name, password, actor="demo")
            known[name] = password
        rows.append((name, role, known[name], _scope_text(scopes)))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(known, handle)
    return rows


alerts_cli = typer.Typer(
    no_args_is_help=True, help="Alert rules of the model: evaluate, store, send to webhooks."
)
cli.add_typer(alerts_cli, name="alerts")


RETRY_HOURS = 24  # `alerts run` sends again deliveries that failed this recently


def _fire_alerts(
    settings: Settings,
    *,
    since: str | None = None,
    period: str | None = None,
    rules: list[str] | None = None,
    failed_gates: list | None = None,
    dry_run: bool = False,
    retry: bool = False,
):
    """Evaluate the model's alert rules, store the new alerts and deliver them (and, with
    ``retry``, send again the deliveries that failed in the last RETRY_HOURS)."""
    from datetime import UTC, datetime, timedelta

    from app.core.meta import MetaDB
    from app.core.runtime import standalone
    from app.core.stores import alerts as alert_store
    from queries.alerts.evaluate import Window, evaluate
    from queries.semantic.alert_rules import KINDS
    from queries.semantic.run import current_model

    window = Window.parse(since, period)
    now = datetime.now(UTC).replace(tzinfo=None)
    failures = None
    if failed_gates is not None:  # gate results, or model check results (name, message)
        failures = [
            alert_store.CheckFailure(
                int(getattr(g, "risk", 1)),
                str(getattr(g, "check", None) or getattr(g, "name", "")),
                str(getattr(g, "target", "")),
                str(getattr(g, "detail", None) or getattr(g, "message", "")),
            )
            for g in failed_gates
        ]
    with standalone(settings) as runtime:
        model = current_model(runtime)
        kinds = ("risk1",) if failures is not None else KINDS
        errors: list[tuple[str, str]] = []
        events = evaluate(
            runtime,
            model,
            window,
            now=now,
            kinds=kinds,
            rules=rules,
            load_failures=failures,
            errors=errors,
        )
        for name, message in errors:  # the other rules still fire
            console.print(f"[red]Alert rule {name} not evaluated:[/] {message}", highlight=False)
        version = runtime.warehouse.snapshot().version.id if failures is None else ""
    if dry_run:
        return events, None, errors
    db = MetaDB(settings.meta_db_url)
    try:
        retried = (
            alert_store.retry_failed(  # before this run's own deliveries
                db,
                {r.name: r.notify for r in model.alerts.values()},
                model.webhooks,
                since=now - timedelta(hours=RETRY_HOURS),
            )
            if retry
            else []
        )
        report = alert_store.fire(
            db,
            events,
            model.webhooks,
            public_url=settings.public_url,
            data_version=version,
            now=now,
        )
        report.retried = retried
    finally:
        db.dispose()
    return events, report, errors


def _print_alerts(rows: list[tuple[int | None, Any]], report) -> None:
    """One line per alert: what fired and where it was delivered."""
    sent: dict[int, list[str]] = {}
    for d in report.deliveries if report else ():
        sent.setdefault(d.alert_id, []).append(
            f"{d.webhook}: {d.status}" + (f" ({d.error})" if d.error else "")
        )
    table = Table("rule", "period", "for", "value", "normal range", "delivery", title="Alerts")
    for alert_id, event in rows:
        delivery = "dry run" if alert_id is None else "; ".join(sent.get(alert_id, ["no webhook"]))
        normal = " – ".join("" if v is None else f"{v:,.4g}" for v in (event.low, event.high))
        table.add_row(
            event.rule,
            event.period,
            ", ".join(v for _, v in event.member),
            "" if event.value is None else f"{event.value:,.4g}",
            normal,
            delivery,
            style="red" if event.severity == "critical" else None,
        )
    if table.row_count:
        out.print(table)


def _alerts_after_load(
    settings: Settings, *, since: str | None = None, failed_gates: list | None = None
) -> None:
    """After a publish (or a stopped load: risk1 rules only); never fails the load."""
    import sqlalchemy

    try:
        _events, report, _errors = _fire_alerts(settings, since=since, failed_gates=failed_gates)
    except StarboardError as exc:
        console.print(f"[yellow]Alerts not evaluated:[/] {exc.message}", highlight=False)
        return
    except (OSError, sqlalchemy.exc.SQLAlchemyError) as exc:  # the load itself succeeded
        console.print(f"[yellow]Alerts not evaluated:[/] {exc}", highlight=False)
        return
    if report is None:
        return
    failed = len(report.failed)
    out.print(
        f"Alerts: {len(report.new)} new, {report.duplicates} already sent"
        + (f", {failed} delivery(ies) failed (see /quality/alerts)" if failed else "")
    )


@alerts_cli.command("run")
def alerts_run(
    model: Annotated[Path | None, typer.Option(help="Semantic model YAML.")] = None,
    db: Annotated[str | None, typer.Option(help="Warehouse URL.")] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Judge periods starting on or after this day (YYYY-MM-DD); default: the last "
            "14 days."
        ),
    ] = None,
    period: Annotated[
        str | None,
        typer.Option(help="Judge one period: 2025-09-17, 2026-W24, 2026-06, 2026-Q2 or 2026."),
    ] = None,
    rule: Annotated[
        list[str] | None, typer.Option("--rule", help="Only this rule (repeatable).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Evaluate and print; store and send nothing.")
    ] = False,
) -> None:
    """Evaluate the alert rules (for cron): new alerts are stored once and sent to webhooks.
    Exit 0: done; 1: an error; 2: some webhook deliveries failed (they are recorded)."""
    settings = _settings(db_url=db, model=str(model) if model else None, cache="null")
    events, report, errors = _fire_alerts(
        settings, since=since, period=period, rules=rule, dry_run=dry_run, retry=True
    )
    if report is None:
        _print_alerts([(None, e) for e in events], None)
        out.print(f"{len(events)} alert(s) would fire (dry run: nothing stored or sent).")
        if errors:
            raise typer.Exit(1)
        return
    _print_alerts(report.stored, report)
    failed = report.failed
    states = [d.status for d in report.deliveries]
    out.print(
        f"{len(report.new)} new alert(s), {report.duplicates} already sent; deliveries: "
        f"{states.count('delivered')} delivered, {states.count('skipped')} skipped, "
        f"{len(failed)} failed."
    )
    if report.retried:
        again = sum(1 for d in report.retried if d.status == "delivered")
        out.print(
            f"Earlier failed deliveries sent again: {again} of {len(report.retried)} delivered."
        )
    failed = failed + [d for d in report.retried if d.status == "failed"]
    if errors:
        raise typer.Exit(1)
    if failed:
        for d in failed:
            console.print(
                f"[red]Delivery failed[/] alert {d.alert_id} → {d.webhook} after "
                f"{d.attempts} attempt(s): {d.error}",
                highlight=False,
            )
        raise typer.Exit(2)


def main() -> None:
    """Entry point of the console script."""
    try:
        code = cli(standalone_mode=False)  # click returns typer.Exit's code here
    except StarboardError as exc:
        if STATE["debug"]:
            console.print_exception()
        console.print(f"[bold red]{exc.title}:[/] {exc.message}", highlight=False)
        raise SystemExit(1) from None
    except (typer.Exit, typer.Abort) as exc:
        raise SystemExit(getattr(exc, "exit_code", 1)) from None
    except KeyboardInterrupt:
        console.print("Interrupted.")
        raise SystemExit(130) from None
    except Exception as exc:  # click usage errors and the unexpected
        import click

        # typer ships its own copy of click: its usage errors are TyperExceptions
        if isinstance(exc, click.ClickException | typer.TyperException) and hasattr(exc, "show"):
            exc.show()
            raise SystemExit(getattr(exc, "exit_code", 2)) from None
        if STATE["debug"]:
            raise
        console.print(
            f"[bold red]Unexpected error:[/] {exc!r} (run with --debug for the traceback)",
            highlight=False,
        )
        raise SystemExit(1) from None
    if isinstance(code, int) and code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
