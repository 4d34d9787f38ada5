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

from app.config import ROOT_DIR, Settings, load_settings
from app.errors import DataError, StarboardError

console = Console(stderr=True)
out = Console()
cli = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Starboard: self-hosted BI in tiers over a YAML semantic model.")
STATE: dict[str, Any] = {"debug": False}


@cli.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
          ) -> None:
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
    return Progress(SpinnerColumn(), TextColumn("{task.description:<28}"), BarColumn(),
                    TimeElapsedColumn(), console=console, transient=False)


@cli.command()
def generate(
    out_dir: Annotated[Path, typer.Argument(help="Directory for the raw files.")],
    interactions: Annotated[int, typer.Option(help="About how many interaction rows.")] = 2_000_000,
    seed: Annotated[int, typer.Option(help="Same seed, same files.")] = 42,
    format: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    end_date: Annotated[str | None, typer.Option(help="Last day of data (YYYY-MM-DD).")] = None,
) -> None:
    """Write the demo's raw files (users, products, channels, campaigns, interactions, spend)."""
    from app.build.generate import generate as run_generate

    end = _parse_date(end_date, "--end-date")
    with _progress() as progress:
        task = progress.add_task("generate", total=1.0)
        summary = run_generate(out_dir, interactions=interactions, seed=seed, fmt=format,
                               **({"end_date": end} if end else {}),
                               progress=lambda _step, frac: progress.update(task, completed=frac))
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
        from queries.rollups import build_rollups
    except ImportError:
        return None
    return lambda path: build_rollups(settings.model, path)


def run_load(raw_dir: Path, settings: Settings):
    """Load ``raw_dir`` into the settings' warehouse with progress and a summary table."""
    from app.build.gates import GateThresholds
    from app.build.load import GateFailure, load

    thresholds = GateThresholds(freshness_hours=settings.freshness_slo_hours)
    try:
        with _progress() as progress:
            result = load(raw_dir, settings.db_url, thresholds=thresholds,
                          memory_limit=settings.duckdb_memory_limit,
                          threads=settings.duckdb_threads, rollups=_rollup_builder(settings),
                          step=_Steps(progress))
    except GateFailure as failure:
        _print_gates(failure.results)
        raise
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
    return result


def _warm(settings: Settings) -> None:
    """Fill the shared query cache with every Tier 0 board's default and previous period,
    so the first executive after a publish gets cached numbers."""
    if settings.cache in ("null", "simple"):
        return  # nothing another process could read
    from app.runtime import standalone
    from queries.boards import warm_tier0

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
    table = Table("risk", "check", "target", "detail",
                  title=f"Quality gates: {len(gates) - len(failed)} of {len(gates)} passed")
    for g in failed:
        table.add_row(str(g.risk), g.check, f"{g.table}{'.' + g.column if g.column else ''}",
                      g.detail, style="red" if g.risk == 1 else "yellow")
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
) -> None:
    """Generate, load and publish the demo warehouse under STARBOARD_HOME, then serve it."""
    settings = _settings(port=port)
    from app.build.publish import WarehousePaths, check_writable, duckdb_path

    demo_dir = settings.demo_dir
    check_writable(demo_dir)
    raw = demo_dir / "raw"
    paths = WarehousePaths(duckdb_path(settings.db_url))
    if rebuild or not paths.pointer.exists():
        if rebuild and raw.exists():
            shutil.rmtree(raw)
        started = time.perf_counter()
        if not (raw / "interactions.parquet").exists():
            generate(raw, interactions=interactions, seed=seed, format="parquet", end_date=None)
        run_load(raw, settings)
        out.print(f"Demo ready in {time.perf_counter() - started:.1f} s.")
    else:
        out.print(f"Reusing the demo warehouse at {paths.path} (--rebuild to regenerate).")
    table = Table("user", "role", "password", "row scope", title="Demo users")
    for row in ensure_demo_users(settings):
        table.add_row(*row)
    out.print(table)
    if serve:
        _serve(settings)


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
            host=settings.host, port=settings.port, debug=True)
        return
    _serve(settings)


def _serve(settings: Settings) -> None:
    env = dict(os.environ, STARBOARD_HOST=settings.host, STARBOARD_PORT=str(settings.port),
               STARBOARD_DB_URL=settings.db_url, STARBOARD_HOME=str(settings.home))
    gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
    out.print(f"Starboard on http://{settings.host}:{settings.port}/  (Ctrl+C to stop)")
    sys.stdout.flush()
    os.chdir(ROOT_DIR)
    os.execvpe(gunicorn, [gunicorn, "-c", str(ROOT_DIR / "gunicorn.conf.py"),
                          "app.wsgi:server"], env)


@cli.command()
def query(
    metrics: Annotated[str, typer.Option(help="Comma-separated metric names.")],
    by: Annotated[str | None, typer.Option(help="Dimensions, e.g. channel_group,date:month.")
                  ] = None,
    where: Annotated[list[str] | None, typer.Option(
        help="Filter 'dimension op value' (op: = != < <= > >= in not_in between); repeat.")
        ] = None,
    order: Annotated[str | None, typer.Option(help="e.g. -revenue,date")] = None,
    limit: Annotated[int | None, typer.Option(help="Most rows to return.")] = None,
    format: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    model: Annotated[Path | None, typer.Option(help="Semantic model YAML.")] = None,
    db: Annotated[str | None, typer.Option(help="Warehouse URL.")] = None,
    explain: Annotated[bool, typer.Option(help="Print the compiled SQL, do not run.")] = False,
) -> None:
    """Run one MetricQuery through the semantic layer (the same door the web app uses)."""
    from app.runtime import standalone
    from queries.api import records
    from queries.parse import parse_cli
    from queries.run import current_model, run
    from queries.run import explain as explain_query

    if format not in ("table", "csv", "json"):
        raise DataError(f"--format {format!r}: choose table, csv or json.")
    settings = _settings(db_url=db, model=str(model) if model else None, cache="null")
    with standalone(settings) as runtime:
        parsed = parse_cli(metrics, by, where or (), order, limit,
                           model=current_model(runtime))
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
        table = Table(*result.columns, title=f"{len(result.frame):,} rows · cost "
                      f"{result.cost_class} · {result.ms:.0f} ms"
                      + (f" · rollup {result.rollup}" if result.rollup else ""))
        for row in records(result.frame):
            table.add_row(*("" if v is None else f"{v:,.2f}" if isinstance(v, float)
                            else str(v) for v in row))
        out.print(table)
    for notice in result.notices:
        console.print(notice)


@cli.command()
def check(
    model: Annotated[Path | None, typer.Option(help="Semantic model YAML.")] = None,
    db: Annotated[str | None, typer.Option(help="Warehouse URL.")] = None,
) -> None:
    """Check the semantic model against the warehouse; print every problem at once."""
    from app.runtime import standalone
    from queries.model import check as check_model

    settings = _settings(db_url=db, model=str(model) if model else None, cache="null")
    with standalone(settings) as runtime:
        problems = check_model(settings.model, runtime.warehouse.snapshot().engine)
        if not problems:  # a model that loads: its Tier 0 boards must stay cheap
            from queries.boards import tier0_cost_problems

            problems = tier0_cost_problems(runtime)
    if problems:
        for problem in problems:
            out.print(str(problem), highlight=False)
        console.print(f"[bold red]{len(problems)} problem(s)[/] in {settings.model}")
        raise typer.Exit(1)
    out.print(f"{settings.model}: no problems against {settings.db_url}")


users_cli = typer.Typer(no_args_is_help=True,
                        help="Manage users, roles, row scopes and API tokens.")
cli.add_typer(users_cli, name="users")


def _users(settings: Settings | None = None):
    from app.auth import Users
    from app.meta import MetaDB

    settings = settings or _settings()
    return Users(MetaDB(settings.meta_db_url))


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
    scope: Annotated[list[str] | None, typer.Option(
        help="Row scope dimension=value[,value]; repeat for several.")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:
    """Add a user (the password is prompted, read from stdin, or generated and printed)."""
    from app.auth import parse_scopes

    users = _users()
    scopes = parse_scopes(scope or [])
    users._check_role(role)  # before asking for a password
    password, generated = _read_password(password_stdin, name)
    user = users.add(name, role, password, scopes)
    out.print(f"Added {user.name} ({user.role})" + (f", scope {_scope_text(user.scopes)}"
                                                    if user.scopes else ""))
    if generated:
        out.print(f"Password: {password}", highlight=False)


def _scope_text(scopes) -> str:
    return "; ".join(f"{dim}={','.join(vals)}" for dim, vals in scopes) or "—"


@users_cli.command("list")
def users_list() -> None:
    """List users with their roles, scopes and status."""
    table = Table("user", "role", "scope", "status")
    for user in _users().all():
        table.add_row(user.name, user.role, _scope_text(user.scopes),
                      "disabled" if user.disabled else "active")
    out.print(table)


@users_cli.command("set-role")
def users_set_role(name: str, role: str) -> None:
    """Change a user's role."""
    user = _users().set_role(name, role)
    out.print(f"{user.name} is now {user.role}.")


@users_cli.command("set-scope")
def users_set_scope(
    name: str,
    scope: Annotated[list[str] | None, typer.Option(
        help="dimension=value[,value]; repeat; none clears the scope.")] = None,
) -> None:
    """Replace a user's row scope (no --scope: unrestricted)."""
    from app.auth import parse_scopes

    user = _users().set_scopes(name, parse_scopes(scope or []))
    out.print(f"{user.name}: scope {_scope_text(user.scopes)}.")


@users_cli.command("disable")
def users_disable(name: str,
                  enable: Annotated[bool, typer.Option(help="Enable again.")] = False) -> None:
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
        from app.auth import AccessError

        raise AccessError(f"No user named {name!r}.")
    password, generated = _read_password(password_stdin, name)
    users.reset_password(name, password)
    out.print(f"Password of {name} changed." + (f" New password: {password}" if generated
                                                 else ""), highlight=False)


@users_cli.command("token")
def users_token(name: str, label: Annotated[str, typer.Option(help="What it is for.")] = ""
                ) -> None:
    """Create an API token for /api/v1 (shown once; send as 'Authorization: Bearer …')."""
    token = _users().create_token(name, label)
    out.print(token, highlight=False)


DEMO_USERS = (("exec", "executive"), ("ops", "operator"), ("analyst", "analyst"),
              ("admin", "admin"), ("emea", "operator"))


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

        if isinstance(exc, click.ClickException):
            exc.show()
            raise SystemExit(exc.exit_code) from None
        if STATE["debug"]:
            raise
        console.print(f"[bold red]Unexpected error:[/] {exc!r} (run with --debug for the "
                      "traceback)", highlight=False)
        raise SystemExit(1) from None
    if isinstance(code, int) and code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
