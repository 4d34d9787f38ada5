"""``starboard query``, ``check`` and ``quality``: the semantic model from the command line."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from app.cli.root import cli_settings, console, out
from app.core.errors import DataError


def query(
    metrics: Annotated[str, typer.Option(help="Comma-separated metric names.")],
    by: Annotated[
        str | None, typer.Option(help="Dimensions, e.g. channel_group,date:month.")
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            help="Filter 'dimension op value' (op: = != < <= > >= in not_in between), joined "
            "with and/or, negated with not, grouped with ( ); repeat to AND them."
        ),
    ] = None,
    having: Annotated[
        list[str] | None,
        typer.Option(help="Condition on a metric, 'metric op number' (revenue > 1000); repeat."),
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
    settings = cli_settings(db_url=db, model=str(model) if model else None, cache="null")
    with standalone(settings) as runtime:
        semantic_model = current_model(runtime)
        parsed = parse_cli(
            metrics,
            by,
            where or (),
            order,
            limit,
            model=semantic_model,
            having=having or (),
        )
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
        formats = {m: semantic_model.metrics[m].format for m in parsed.metrics}
        title = f"{len(result.frame):,} rows · cost {result.cost_class} · {result.ms:.0f} ms" + (
            f" · rollup {result.rollup}" if result.rollup else ""
        )
        out.print(result_table(result.columns, records(result.frame), formats, title))
    for notice in result.notices:
        console.print(notice)


def result_table(
    columns: Sequence[str], rows: Iterable[Sequence[object]], formats: Mapping[str, str], title: str
) -> Table:
    """Query rows as a terminal table: each metric in its model ``format`` as the pages
    write it out ($1,234,567 · 3.4% · 2m 05s · 12,345; missing: —), right-aligned;
    dimension values as they are."""
    from components.formatting import format_value  # pure: no Dash, no page code

    table = Table(title=title)
    for name in columns:
        table.add_column(name, justify="right" if name in formats else "left")
    for row in rows:
        table.add_row(
            *(
                format_value(v, formats[c], compact=False)
                if c in formats
                else ("" if v is None else str(v))
                for c, v in zip(columns, row, strict=True)
            )
        )
    return table


def check(
    model: Annotated[Path | None, typer.Option(help="Semantic model YAML.")] = None,
    db: Annotated[str | None, typer.Option(help="Warehouse URL.")] = None,
) -> None:
    """Check the semantic model against the warehouse; print every problem at once."""
    from app.core.runtime import standalone
    from queries.semantic.against_warehouse import check as check_model

    settings = cli_settings(db_url=db, model=str(model) if model else None, cache="null")
    with standalone(settings) as runtime:
        # structural problems, the warehouse's and the tree's, all in one run
        problems = check_model(settings.model, runtime.warehouse.snapshot().engine)
        from queries import features
        from queries.semantic.model import load_model_partial

        loaded, broken = load_model_partial(settings.model)
        if loaded is not None and not broken:  # declarations read outside the loader
            problems += [p for p in features.check(loaded) if p not in problems]
        if not problems:  # a model that loads and matches: its Tier 0 boards must stay cheap
            from queries.boards.tier0 import tier0_cost_problems

            problems = tier0_cost_problems(runtime)
    if problems:
        for problem in problems:
            out.print(str(problem), highlight=False)
        console.print(f"[bold red]{len(problems)} problem(s)[/] in {settings.model}")
        raise typer.Exit(1)
    out.print(f"{settings.model}: no problems against {settings.db_url}")


def quality(
    model: Annotated[Path | None, typer.Option(help="Semantic model YAML.")] = None,
    db: Annotated[str | None, typer.Option(help="Warehouse URL (DuckDB or PostgreSQL).")] = None,
) -> None:
    """Run the model's data quality checks on any warehouse and record the results; exit 1
    when a Risk 1 check fails."""
    from app.core.runtime import standalone
    from queries.quality.checks import quality_run
    from queries.semantic.model import load_model

    settings = cli_settings(db_url=db, model=str(model) if model else None, cache="null")
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
