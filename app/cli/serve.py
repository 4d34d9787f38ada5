"""``starboard serve``: gunicorn with gunicorn.conf.py, or Flask's dev server."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from app.cli.root import cli_settings, out
from app.core.config import ROOT_DIR, Settings


def serve_cmd(
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    host: Annotated[str | None, typer.Option(help="Address to bind.")] = None,
    dev: Annotated[bool, typer.Option(help="Flask's reloading development server.")] = False,
) -> None:
    """Serve the app: gunicorn with gunicorn.conf.py, or Flask's dev server with --dev."""
    settings = cli_settings(port=port, host=host)
    if dev:
        from app.cli.scheduler import start_scheduler
        from app.factory import create_app

        app = create_app({"port": settings.port, "host": settings.host})
        # The reloader's watcher and its child both start one; the lock lets one run it.
        start_scheduler(settings)
        app.run(host=settings.host, port=settings.port, debug=True)
        return
    serve_app(settings)


def serve_app(settings: Settings) -> None:
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
