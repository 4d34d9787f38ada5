"""``starboard alerts run``, and the alerts evaluated after every load."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from app.cli.root import cli_settings, console, out
from app.core.config import Settings
from app.core.errors import StarboardError

alerts_cli = typer.Typer(
    no_args_is_help=True, help="Alert rules of the model: evaluate, store, send to webhooks."
)


RETRY_HOURS = 24  # `alerts run` sends again deliveries that failed this recently


def fire_alerts(
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


def print_alerts(rows: list[tuple[int | None, Any]], report) -> None:
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


def alerts_after_load(
    settings: Settings, *, since: str | None = None, failed_gates: list | None = None
) -> None:
    """After a publish (or a stopped load: risk1 rules only); never fails the load."""
    import sqlalchemy

    try:
        _events, report, _errors = fire_alerts(settings, since=since, failed_gates=failed_gates)
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
    settings = cli_settings(db_url=db, model=str(model) if model else None, cache="null")
    events, report, errors = fire_alerts(
        settings, since=since, period=period, rules=rule, dry_run=dry_run, retry=True
    )
    if report is None:
        print_alerts([(None, e) for e in events], None)
        out.print(f"{len(events)} alert(s) would fire (dry run: nothing stored or sent).")
        if errors:
            raise typer.Exit(1)
        return
    print_alerts(report.stored, report)
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
