"""/quality/problems?status=open: reported data problems and their triage.

Analysts and admins (the ``tier2`` permission) see every report and move it along
open → acknowledged → resolved (or reopen it), assign it and comment; each change is
audited. A report links to the exact page and period it was made on.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import dash
from dash import Input, Output, State, callback, dcc, html

from app.core import urls, web
from app.core.auth import require, signed_in_user
from app.core.errors import StarboardError
from app.core.runtime import current_runtime
from app.core.stores import problems
from components import shell
from components.tables import Column, table
from queries.quality import trust as trust_q
from queries.semantic import inputs

dash.register_page(
    __name__,
    path="/quality/problems",
    name="Reported problems",
    title="Reported problems · Starboard",
    description="Data problems reported from any page, and their triage.",
    nav=False,
    access="tier2",
    order=91,
)

P = "problems"
TABLE = f"{P}-table"
WRAP = f"{P}-wrap"
PROBLEM = f"{P}-problem"
STATUS = f"{P}-status"
ASSIGNEE = f"{P}-assignee"
COMMENT = f"{P}-comment"
APPLY = f"{P}-apply"
MESSAGE = f"{P}-message"
FILTER = f"{P}-filter"
BADGE = {"open": "fail", "acknowledged": "warn", "resolved": "ok"}
UNASSIGNED = "(nobody)"


def _text(value: object) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


def _view(row: dict) -> html.A | str:
    """The page and period the report came from, as a link that opens that exact view."""
    url = row["url"] or ""
    if urls.local_path(url) is None:  # stored before reports were checked: text, no link
        return url or "—"
    path, _, search = url.partition("?")
    params = dict(parse_qsl(search))
    when = row["period"] or (
        f"{params['from']} – {params['to']}" if params.get("from") and params.get("to") else ""
    )
    label = path + (f" · {when}" if when else "")
    return html.A(label, href=url, title=url, className="sb-problem-link")


def problems_table(status: str | None) -> html.Div:
    """Reports (of ``status``), newest first."""
    rows = problems.listing(current_runtime().users.db, status=status or None)
    return table(
        [
            Column("#", "right"),
            Column("Reported (UTC)"),
            Column("By"),
            Column("Where"),
            Column("Problem"),
            Column("Status"),
            Column("Assignee"),
            Column("Comment"),
            Column("Updated"),
        ],
        [
            (
                str(r["id"]),
                f"{r['at']:%Y-%m-%d %H:%M}",
                r["reporter"],
                _view(r),
                r["text"],
                html.Span(
                    r["status"], className=f"sb-badge sb-badge-{BADGE.get(r['status'], 'muted')}"
                ),
                r["assignee"] or "—",
                r["comment"] or "—",
                (
                    f"{r['updated_at']:%Y-%m-%d %H:%M} by {r['updated_by']}"
                    if r.get("updated_at")
                    else "—"
                ),
            )
            for r in rows
        ],
        table_id=TABLE,
        empty="No problems reported." if not status else f"No {status} problems.",
    )


def _filters(current: str) -> html.Nav:
    links = [
        html.A(
            "All",
            href="/quality/problems",
            className="sb-tab" + (" sb-tab-active" if not current else ""),
        )
    ]
    for status in problems.STATUSES:
        links.append(
            html.A(
                status.capitalize(),
                href=f"/quality/problems?status={status}",
                className="sb-tab" + (" sb-tab-active" if current == status else ""),
            )
        )
    return html.Nav(links, className="sb-tabs", id=FILTER, **{"aria-label": "Status"})


def _form() -> html.Div:
    db = current_runtime().users.db
    choices = [
        {"label": f"#{r['id']} · {r['status']} · {r['text'][:50]}", "value": r["id"]}
        for r in problems.listing(db, limit=500)
    ]
    names = [u.name for u in current_runtime().users.all() if not u.disabled]
    return html.Div(
        [
            dcc.Dropdown(
                choices,
                id=PROBLEM,
                placeholder="Problem",
                clearable=False,
                className="sb-field sb-field-problem",
            ),
            dcc.Dropdown(
                list(problems.STATUSES),
                id=STATUS,
                placeholder="Status (unchanged)",
                className="sb-field",
            ),
            dcc.Dropdown(
                [UNASSIGNED, *names],
                id=ASSIGNEE,
                placeholder="Assignee (unchanged)",
                className="sb-field",
            ),
            dcc.Input(
                id=COMMENT,
                placeholder="Comment (what was found, what was done)",
                className="sb-field-wide",
                debounce=False,
            ),
            html.Button("Apply", id=APPLY, className="sb-button"),
        ],
        className="sb-form-row",
    )


def layout(status: str | list[str] | None = None, **_query: object):
    """Counts by status, the reports, and the triage form."""
    trust = shell.Trust(**trust_q.trust_summary().__dict__)
    viewer = shell.Viewer(**web.viewer())
    current = _text(status)
    if current and current not in problems.STATUSES:
        current = ""
    counts = problems.counts(current_runtime().users.db)
    stats = html.Div(
        [
            shell.stat(
                "Open",
                f"{counts['open']:,}",
                "waiting for someone",
                status="fail" if counts["open"] else "ok",
                test_id=f"{P}-open",
            ),
            shell.stat(
                "Acknowledged",
                f"{counts['acknowledged']:,}",
                "being looked at",
                test_id=f"{P}-acknowledged",
            ),
            shell.stat("Resolved", f"{counts['resolved']:,}", test_id=f"{P}-resolved"),
        ],
        className="sb-stats",
    )
    return shell.page(
        "Reported problems",
        [
            stats,
            shell.section(
                "Reports",
                [_filters(current), html.Div(problems_table(current), id=WRAP)],
                "Each report links to the page and period it was made on.",
            ),
            shell.section(
                "Triage",
                [_form(), html.Div(id=MESSAGE, className="sb-form-message")],
                "Open → acknowledged → resolved; a resolved problem can be reopened. "
                "Every change is in the audit log.",
            ),
        ],
        path="/quality/problems",
        trust=trust,
        viewer=viewer,
        subtitle="Problems people reported from any page, and what is being done about them.",
        actions=html.A("← Data quality", href="/quality", className="sb-link-button"),
    )


@callback(
    Output(MESSAGE, "children"),
    Output(WRAP, "children"),
    Input(APPLY, "n_clicks"),
    State(PROBLEM, "value"),
    State(STATUS, "value"),
    State(ASSIGNEE, "value"),
    State(COMMENT, "value"),
    State("sb-url", "search"),
    prevent_initial_call=True,
)
def triage_problem(_clicks, problem_id, status, assignee, comment, search):
    """Apply the form to one report; audited under the signed-in user's name."""
    user = signed_in_user()
    require(user, "tier2")  # the gate already checked; this is the second lock
    current = ""
    if isinstance(search, str) and "status=" in search:
        current = search.split("status=", 1)[1].split("&", 1)[0]
    current = current if current in problems.STATUSES else ""
    if not problem_id:
        return html.Span("Choose a problem first.", className="sb-bad"), problems_table(current)
    try:
        number = inputs.whole_number(problem_id, "problem")
        assignee = inputs.text(assignee, "assignee", max_length=100)
        row = problems.triage(
            current_runtime().users,
            number,
            actor=user.name,
            status=inputs.text(status, "status", max_length=20) or None,
            assignee=("" if assignee == UNASSIGNED else assignee or None),
            comment=inputs.text(comment, "comment", max_length=20_000) or None,
        )
    except StarboardError as exc:
        return html.Span(exc.message, className="sb-bad"), problems_table(current)
    text = (
        f"Problem #{number}: {row['status']}"
        + (f", assigned to {row['assignee']}" if row["assignee"] else "")
        + "."
    )
    return html.Span(text, className="sb-good"), problems_table(current)
