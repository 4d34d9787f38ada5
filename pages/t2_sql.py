"""/t2/sql: one read-only SELECT over the warehouse, with time, row and byte limits
(queries/sql.py).

Open to the ``sql`` permission (analysts and admins) without a row scope; the access gate
applies the same rule to this page's callbacks, and queries.sql checks it again.
"""

from __future__ import annotations

import dash
from dash import Input, Output, State, callback, dcc, html

from app.core import background, web
from app.core.auth import signed_in_user
from app.core.errors import StarboardError
from app.core.runtime import current_runtime
from app.core.stores import problems
from components import shell, sqlpage
from queries import export
from queries import sql as sql_q
from queries.quality import trust as trust_q

dash.register_page(
    __name__,
    path="/t2/sql",
    name="SQL",
    title="SQL · Starboard",
    description="Read-only SQL over the warehouse for analysts.",
    nav=True,
    access="sql",
    order=45,
)

P = "t2sql"
EDITOR = f"{P}-editor"
RUN = f"{P}-run"
CANCEL = f"{P}-cancel"
DOWNLOAD = f"{P}-download"
DOWNLOAD_Q = f"{P}-download-q"
EXPORT_URL = "/api/v1/sql/export.csv"
STATUS = f"{P}-status"
RESULT = f"{P}-result"
NOTE = f"{P}-note"
GRID = f"{P}-grid"
SCHEMA = f"{P}-schema"
LIMITS = f"{P}-limits"


def _first(value: object) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


def _example_table(tables: list[sql_q.SchemaTable]) -> str:
    modelled = [t for t in tables if t.in_model] or tables
    return modelled[0].name if modelled else "a_table"


def _example(tables: list[sql_q.SchemaTable]) -> str:
    modelled = [t for t in tables if t.in_model] or tables
    if not modelled:
        return "SELECT 1"
    table = modelled[0]
    names = ", ".join(c for c, _kind, pii in table.columns[:4] if not pii) or "count(*)"
    return f"SELECT {names}\nFROM {table.name}\nLIMIT 100"


def layout(q: object = None, **_query: object):
    """The editor, the schema of the warehouse and an empty result area."""
    trust = shell.Trust(**trust_q.trust_summary().__dict__)
    viewer = shell.Viewer(**web.viewer())
    tables = sql_q.schema_listing()
    settings = current_runtime().settings
    cap = export.row_cap(signed_in_user())
    csv_rows = min(settings.sql_export_max_rows, cap) if cap > 0 else settings.sql_export_max_rows
    limits = (
        f"One SELECT or WITH statement · stops after {settings.sql_timeout_seconds:g} s"
        f" · first {settings.sql_max_rows:,} rows or "
        f"{export.human_bytes(settings.sql_max_bytes)} shown · CSV up to "
        f"{csv_rows:,} rows or {export.human_bytes(settings.export_max_bytes)} · no "
        "files, no writes"
    )
    hidden = "pii" not in viewer.permissions
    if hidden:
        limits += (
            " · columns marked PII are hidden from your role: * leaves them out and "
            "naming one is refused"
        )
    text = _first(q) or _example(tables)
    return shell.page(
        "SQL",
        html.Div(
            [
                html.Aside(
                    shell.section(
                        "Warehouse tables",
                        sqlpage.schema_panel(tables, panel_id=SCHEMA, pii_hidden=hidden),
                    ),
                    className="sb-sql-side",
                ),
                html.Div(
                    [
                        sqlpage.editor(EDITOR, text, _example_table(tables)),
                        html.Div(
                            [
                                html.Button(
                                    "Run",
                                    id=RUN,
                                    className="sb-button",
                                    title="Run the statement (Ctrl+Enter)",
                                ),
                                html.Button(
                                    "Cancel",
                                    id=CANCEL,
                                    className="sb-button sb-button-quiet",
                                    disabled=True,
                                ),
                                html.Form(
                                    [
                                        dcc.Input(
                                            type="hidden", name="csrf_token", value=viewer.csrf
                                        ),
                                        dcc.Input(type="hidden", name="q", id=DOWNLOAD_Q, value=""),
                                        html.Button(
                                            "Download CSV",
                                            id=DOWNLOAD,
                                            type="submit",
                                            disabled=True,
                                            className="sb-button sb-button-quiet",
                                            title="The last statement run, as CSV",
                                        ),
                                    ],
                                    action=EXPORT_URL,
                                    method="POST",
                                    className="sb-sql-download",
                                ),
                                html.Span(id=STATUS, className="sb-sql-status", role="status"),
                            ],
                            className="sb-form-row",
                        ),
                        html.P(limits, id=LIMITS, className="sb-section-note"),
                        html.Div(id=RESULT, className="sb-sql-result"),
                    ],
                    className="sb-sql-main",
                ),
            ],
            className="sb-sql-layout",
        ),
        path="/t2/sql",
        trust=trust,
        viewer=viewer,
        subtitle="Read-only SQL over the served data version. Every run is audited.",
        actions=shell.report_problem(P),
    )


@callback(
    Output(RESULT, "children"),
    Output(DOWNLOAD_Q, "value"),
    Output(DOWNLOAD, "disabled"),
    Input(RUN, "n_clicks"),
    State(EDITOR, "value"),
    background=True,
    cancel=[Input(CANCEL, "n_clicks")],
    running=[
        (Output(RUN, "disabled"), True, False),
        (Output(CANCEL, "disabled"), False, True),
        (Output(STATUS, "children"), "Running…", ""),
    ],
    prevent_initial_call=True,
)
@background.in_request(permission="sql")
def run_statement(_clicks, text):
    """Check and run the statement (queries.sql.run_sql); a refusal says exactly why."""
    text = text or ""
    try:
        result = sql_q.run_sql(text)
    except StarboardError as exc:
        return sqlpage.refusal(exc.message, NOTE), "", True
    # the download re-runs (and re-checks) exactly the statement shown
    return (
        [
            sqlpage.result_note(
                len(result.rows),
                result.truncated,
                result.row_cap,
                result.ms,
                NOTE,
                truncated_by=result.truncated_by,
                byte_cap=export.human_bytes(result.byte_cap),
            ),
            sqlpage.result_grid(GRID, result.columns, result.rows),
        ],
        text,
        False,
    )


@callback(*shell.report_problem_io(P), prevent_initial_call=True)
def report_problem(_clicks, text, pathname, search):
    """Store what the page's "Report a data problem" form sends."""
    stored, message = problems.submit_as_signed_in("sql", text, pathname, search)
    return shell.report_problem_result(stored, message, text)
