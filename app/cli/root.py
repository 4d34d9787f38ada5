"""The root of the ``starboard`` command: the Typer app, its ``--debug`` option and the
helpers every command shares (settings, consoles, progress).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from app.core.config import Settings, load_settings
from app.core.errors import DataError

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


def cli_settings(**overrides: Any) -> Settings:
    return load_settings({k: v for k, v in overrides.items() if v is not None})


class Steps:
    """Rich progress: one line per load step, ticking while it runs."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        task = self.progress.add_task(name, total=1)
        yield
        self.progress.update(task, completed=1)


def progress_bar() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def parse_date(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise DataError(f"{flag} {text!r} is not a date like 2026-10-31.") from None
