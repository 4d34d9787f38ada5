"""/quality: what the warehouse holds, every gate of the live version, the last publishes."""

from __future__ import annotations

import dash
from dash import Input, Output, State, callback, html

from app import problems, web
from app.auth import require, signed_in_user
from app.errors import StarboardError
from app.runtime import current_runtime
from components import shell
from components.tables import Column, table
from queries import status as status_q

dash.register_page(__name__, path="/quality", name="Quality", title="Data quality · Starboard",
                   description="Checks on every load, DQ score, freshness and publishes.",
                   nav=True, access="signed_in", order=90)

P = "quality"
TABLES = f"{P}-tables"
GATES = f"{P}-gates"
PUBLISHES = f"{P}-publishes"
BADGE = {"ok": ("passed", "ok"), "warn": ("warning", "warn"), "fail": ("failed", "fail")}


def _number(value: float | None, threshold: float | None) -> str:
    if value is None:
        return "—"
    if threshold is not None and threshold <= 1 and abs(value) <= 1 and value != int(value):
        return f"{value:.2%}"
    return f"{value:,.4g}" if value != int(value) else f"{int(value):,}"


def _badge(status: str):
    text, kind = BADGE[status]
    return html.Span(text, className=f"sb-badge sb-badge-{kind}")


def layout(**_query: object):
    """Server-rendered from the live data version; no callbacks."""
    trust = shell.Trust(**status_q.trust_summary().__dict__)
    viewer = shell.Viewer(**web.viewer())
    try:
        status = status_q.warehouse_status()
    except StarboardError as exc:
        return shell.page("Data quality", shell.error_tile("Warehouse unavailable", exc.message),
                          path="/quality", trust=trust, viewer=viewer)
    version = status.version
    failed = [g for g in status.gates if not g.passed]
    risk1 = [g for g in failed if g.risk == 1]
    stats = html.Div([
        shell.stat("DQ score", f"{version.dq_score:.1f}%" if version.dq_score is not None
                   else "—", "weighted share of checks passed", status=status.status,
                   test_id=f"{P}-score"),
        shell.stat("Checks", f"{len(status.gates) - len(failed)} / {len(status.gates)}",
                   f"{len(risk1)} blocking, {len(failed) - len(risk1)} warnings",
                   test_id=f"{P}-checks"),
        shell.stat("Data covers", f"{status.data_from:%d %b %Y}" if status.data_from else "—",
                   f"to {status.data_to:%d %b %Y %H:%M}" if status.data_to else None),
        shell.stat("Published", f"{version.published_at:%d %b %Y %H:%M}"
                   if version.published_at else "—", f"version {version.id}",
                   test_id=f"{P}-version"),
    ], className="sb-stats")

    tables = table([Column("Table"), Column("Rows", "right")],
                   [(name, f"{rows:,}") for name, rows in status.tables], table_id=TABLES)
    gate_columns = [Column("Status"), Column("Risk"), Column("Check"),
                    Column("Table / column"), Column("Observed", "right"),
                    Column("Limit", "right"), Column("Detail")]

    def gate_rows(rows: list[status_q.GateRow]) -> list[tuple]:
        return [(_badge(g.status), str(g.risk), g.check.replace("_", " "), g.target,
                 _number(g.observed, g.threshold), _number(g.threshold, g.threshold), g.detail)
                for g in rows]

    passed = [g for g in status.gates if g.passed]
    if not status.gates:
        gates = html.P("No gate results are recorded for this warehouse: it was not loaded by "
                       "Starboard.", className="sb-empty")
    else:
        gates = html.Div([
            table(gate_columns, gate_rows(failed), table_id=GATES,
                  row_classes=[f"sb-row-{g.status}" for g in failed],
                  empty="Every check passed."),
            html.Details([html.Summary(f"{len(passed)} passed checks"),
                          table(gate_columns, gate_rows(passed), table_id=f"{GATES}-passed")],
                         className="sb-details"),
        ])
    publishes = table(
        [Column("Version"), Column("Published"), Column("DQ score", "right"),
         Column("Checks failed", "right"), Column("Fact rows", "right"),
         Column("Load time", "right")],
        [(p.version, f"{p.published_at:%Y-%m-%d %H:%M}",
          f"{p.dq_score:.1f}%" if p.dq_score is not None else "—",
          f"{p.gates_failed} of {p.gates_total}", f"{p.fact_rows:,}" if p.fact_rows else "—",
          f"{p.seconds:.1f} s" if p.seconds is not None else "—") for p in status.publishes],
        table_id=PUBLISHES, empty="No publishes recorded.")
    return shell.page(
        "Data quality",
        [stats,
         shell.section("Quality gates", gates,
                       "Risk 1 checks stop a load; Risk 2 checks warn and the load publishes."),
         html.Div([shell.section("Tables", tables),
                   shell.section("Last publishes", publishes)], className="sb-two-col")],
        path="/quality", trust=trust, viewer=viewer,
        subtitle="Checks run on every load, before anything is published.",
        actions=shell.report_problem(P))


@callback(Output(f"{P}-report-done", "children"), Output(f"{P}-report-text", "value"),
          Input(f"{P}-report-send", "n_clicks"), State(f"{P}-report-text", "value"),
          State("sb-url", "pathname"), State("sb-url", "search"), prevent_initial_call=True)
def report_problem(_clicks, text, pathname, search):
    """Store a reported data problem with this page, its period and the user (/admin)."""
    user = signed_in_user()
    require(user, "signed_in")
    stored, message = problems.submit(current_runtime().users.db, user.name, text, pathname,
                                      search)
    return html.Span(message, className="sb-good" if stored else "sb-bad"), "" if stored else text
