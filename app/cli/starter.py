"""``starboard init``: write a starter semantic model from an existing warehouse."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli.root import cli_settings, out
from app.core.errors import ConfigError


def init(
    db: Annotated[
        str,
        typer.Option(
            "--db",
            help="Warehouse URL: duckdb:///path.duckdb or postgresql+psycopg://user@host/db.",
        ),
    ],
    schema: Annotated[
        str | None,
        typer.Option(
            help="PostgreSQL schema to read (default: the live version of a Starboard-"
            "published warehouse, else the connection's schema, public)."
        ),
    ] = None,
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the model YAML.")] = Path(
        "model.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
) -> None:
    """Introspect a warehouse and write a starter semantic model, every guess commented."""
    from queries.starter.init import starter_model

    if out_path.exists() and not force:
        raise ConfigError(f"{out_path} already exists: pass --force to overwrite it.")
    if out_path.exists() and not out_path.is_file():
        raise ConfigError(f"--out {out_path} is not a file.")
    if not out_path.parent.is_dir():
        raise ConfigError(f"--out {out_path}: the folder {out_path.parent} does not exist.")
    starter = starter_model(db, schema, pg_prefix=cli_settings().pg_schema, path=out_path)
    try:
        out_path.write_text(starter.text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot write {out_path}: {exc.strerror}.") from exc

    def line(head: str, items: list[str], empty: str = "none") -> None:
        body = ", ".join(items) if items else empty
        out.print(f"  {head:<11} {len(items):>3}  {body}", highlight=False, soft_wrap=True)

    out.print(f"Wrote {out_path} from {starter.source}", highlight=False)
    line("tables", starter.tables)
    line("facts", starter.facts)
    line("dim tables", starter.dimension_tables)
    line("joins", starter.joins)
    line("metrics", starter.metrics)
    line("dimensions", starter.dimensions)
    line("boards", starter.boards)
    if starter.undecided:
        out.print("Could not decide:", highlight=False)
        for item in starter.undecided:
            out.print(f"  - {item}", highlight=False, soft_wrap=True)
    for note in starter.notes:
        out.print(f"Note: {note}", highlight=False, soft_wrap=True)
    import sqlalchemy as sa

    serve = starter.serve_url or sa.engine.make_url(db).render_as_string(hide_password=True)
    out.print(
        f"Next: starboard check --model {out_path} --db '{serve}'\n"
        f"      STARBOARD_MODEL={out_path} STARBOARD_DB_URL='{serve}' starboard serve",
        highlight=False,
        soft_wrap=True,
    )
