"""The ``starboard`` command: generate, load, demo, serve (and more as the layers grow).

A composition root: it may import every layer. Errors a user can act on are printed as one
clear paragraph with a non-zero exit; tracebacks only with ``--debug``.

The commands live in the modules of this package (root, data, pipeline, starter, mock,
serve, semantic, users, alerts) and are registered on ``cli`` below.
"""

from __future__ import annotations

import typer

from app.cli import alerts, data, mock, pipeline, semantic, serve, starter, users
from app.cli.pipeline import run_load
from app.cli.root import STATE, cli, console
from app.core.errors import StarboardError

# One place for the command tree; this order is the order of `starboard --help`.
cli.command()(data.generate)
cli.command("load")(pipeline.load_cmd)
cli.command("refresh")(pipeline.refresh_cmd)
cli.command()(data.demo)
cli.command("serve")(serve.serve_cmd)
cli.command()(semantic.query)
cli.command()(semantic.check)
cli.command()(semantic.quality)
cli.command()(starter.init)
cli.command()(mock.mock)
cli.add_typer(users.users_cli, name="users")
cli.add_typer(alerts.alerts_cli, name="alerts")

__all__ = ["cli", "main", "run_load"]


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
