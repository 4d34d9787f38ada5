"""/admin: users and roles, API tokens, the audit log, reported data problems, cache
statistics."""

from __future__ import annotations

import json
import re

import dash
from dash import Input, Output, State, callback, dcc, html

from app.core import web
from app.core.auth import ROLES, AccessError, parse_scopes, require, signed_in_user
from app.core.errors import StarboardError
from app.core.runtime import current_runtime
from app.core.stores import problems
from components import shell
from components.tables import Column, table
from queries.quality import trust as trust_q
from queries.semantic.run import current_model

dash.register_page(
    __name__,
    path="/admin",
    name="Admin",
    title="Admin · Starboard",
    description="Users, roles and scopes, audit log, reported problems, cache.",
    nav=True,
    access="admin",
    order=95,
)

P = "admin"
USERS = f"{P}-users"
USER = f"{P}-user"
ROLE = f"{P}-role"
SCOPE = f"{P}-scope"
STATUS = f"{P}-status"
APPLY = f"{P}-apply"
MESSAGE = f"{P}-message"
AUDIT = f"{P}-audit"
TOKENS = f"{P}-tokens"
TOKEN = f"{P}-token"
REVOKE = f"{P}-revoke"
TOKEN_MESSAGE = f"{P}-token-message"


def _scope_example() -> str:
    """A row scope spelled with one of the model's own dimensions."""
    try:
        model = current_model()
    except StarboardError:
        return "dimension=value"
    for dim in model.dimensions.values():
        if not dim.is_time and dim.table and not model.dimension_is_pii(dim):
            return f"{dim.name}=VALUE"
    return "dimension=value"


def _scope_text(scopes) -> str:
    return "; ".join(f"{d}={','.join(v)}" for d, v in scopes)


def users_table() -> html.Div:
    users = current_runtime().users.all()
    return table(
        [Column("User"), Column("Role"), Column("Row scope"), Column("Status")],
        [
            (u.name, u.role, _scope_text(u.scopes) or "—", "disabled" if u.disabled else "active")
            for u in users
        ],
        table_id=USERS,
    )


def _when(stamp) -> str:
    return f"{stamp:%Y-%m-%d %H:%M}" if stamp else "—"


def tokens_table() -> html.Div:
    """Every API token with its owner, use and state; never the secret."""
    tokens = current_runtime().users.tokens()
    return table(
        [
            Column("Id", "right"),
            Column("User"),
            Column("Label"),
            Column("Created (UTC)"),
            Column("Last used"),
            Column("Expires"),
            Column("Status"),
        ],
        [
            (
                t.id,
                t.user,
                t.label or "—",
                _when(t.created_at),
                _when(t.last_used_at),
                _when(t.expires_at) if t.expires_at else "never",
                t.status(),
            )
            for t in tokens
        ],
        table_id=TOKENS,
        empty="No API tokens.",
    )


def token_options() -> list[dict]:
    """The tokens that can still be revoked, for the revoke form."""
    return [
        {"label": f"#{t.id} · {t.user} · {t.label or 'no label'}", "value": t.id}
        for t in current_runtime().users.tokens()
        if t.status() == "active"
    ]


def audit_table() -> html.Div:
    rows = current_runtime().users.audit_log(200)
    return table(
        [Column("When (UTC)"), Column("Who"), Column("Event"), Column("Detail"), Column("IP")],
        [
            (
                f"{r['at']:%Y-%m-%d %H:%M:%S}",
                r["actor"],
                r["event"].replace("_", " "),
                _detail(r["detail"]),
                r["ip"],
            )
            for r in rows
        ],
        table_id=AUDIT,
        empty="Nothing recorded yet.",
    )


def _detail(text: str) -> str:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return text
    return ", ".join(f"{k}: {v}" for k, v in data.items())


def problems_table() -> html.Div:
    rows = problems.recent(current_runtime().users.db)
    return table(
        [
            Column("When (UTC)"),
            Column("Reporter"),
            Column("Page"),
            Column("Period"),
            Column("Problem"),
            Column("Status"),
        ],
        [
            (
                f"{r['at']:%Y-%m-%d %H:%M}",
                r["reporter"],
                r["url"],
                r["period"] or "—",
                r["text"],
                r["status"],
            )
            for r in rows
        ],
        table_id=f"{P}-problems",
        empty="No data problems reported.",
    )


def cache_stats() -> html.Div:
    cache = current_runtime().cache
    stats = cache.stats
    lookups = stats.hits + stats.misses
    return html.Div(
        [
            shell.stat("Backend", cache.backend_name),
            shell.stat(
                "Hit rate",
                f"{stats.hits / lookups:.0%}" if lookups else "—",
                f"{stats.hits:,} hits, {stats.misses:,} misses (this worker)",
            ),
            shell.stat("Shared in flight", f"{stats.shared:,}", "identical queries run once"),
            shell.stat(
                "Other workers' results",
                f"{stats.lock_waits:,}",
                f"waited on the shared lock; {stats.lock_timeouts:,} waits gave up",
            ),
            shell.stat(
                "Backend errors",
                f"{stats.errors:,}",
                f"{stats.bypassed:,} queries ran uncached during backoff"
                + (f"; last: {cache.last_error}" if cache.last_error else ""),
                status="warn" if stats.errors else None,
            ),
            shell.stat(
                "Backend state",
                "answering" if cache.available else "down",
                None if cache.available else "queries run uncached until it answers",
                status=None if cache.available else "warn",
            ),
        ],
        className="sb-stats",
    )


def layout(**_query: object):
    """Server-rendered; the user form is the page's one callback."""
    trust = shell.Trust(**trust_q.trust_summary().__dict__)
    viewer = shell.Viewer(**web.viewer())
    names = [u.name for u in current_runtime().users.all()]
    form = html.Div(
        [
            dcc.Dropdown(names, id=USER, placeholder="User", clearable=False, className="sb-field"),
            dcc.Dropdown(
                list(ROLES), id=ROLE, placeholder="Role (unchanged)", className="sb-field"
            ),
            dcc.Input(
                id=SCOPE,
                placeholder=f"Row scope, e.g. {_scope_example()} (blank: unchanged; 'none': clear)",
                className="sb-field sb-field-wide",
                debounce=True,
            ),
            dcc.Dropdown(
                ["active", "disabled"],
                id=STATUS,
                placeholder="Status (unchanged)",
                className="sb-field",
            ),
            html.Button("Apply", id=APPLY, className="sb-button"),
        ],
        className="sb-form-row",
    )
    return shell.page(
        "Admin",
        [
            shell.section(
                "Users",
                [
                    html.Div(users_table(), id=f"{P}-users-wrap"),
                    form,
                    html.Div(id=MESSAGE, className="sb-form-message"),
                ],
                "Change a role, a row scope or the status of a user. Every change "
                "goes to the audit log.",
            ),
            shell.section(
                "API tokens",
                [
                    html.Div(tokens_table(), id=f"{P}-tokens-wrap"),
                    html.Div(
                        [
                            dcc.Dropdown(
                                token_options(),
                                id=TOKEN,
                                placeholder="Token to revoke",
                                className="sb-field sb-field-wide",
                            ),
                            html.Button("Revoke", id=REVOKE, className="sb-button"),
                        ],
                        className="sb-form-row",
                    ),
                    html.Div(id=TOKEN_MESSAGE, className="sb-form-message"),
                ],
                "Tokens are created with 'starboard users token NAME [--expires-days N]'. A "
                "revoked or expired token gets 401 at once; revoking is audited.",
            ),
            shell.section("Cache", cache_stats()),
            shell.section("Reported data problems", problems_table()),
            shell.section("Audit log", audit_table(), "Latest 200 events."),
        ],
        path="/admin",
        trust=trust,
        viewer=viewer,
    )


@callback(
    Output(MESSAGE, "children"),
    Output(f"{P}-users-wrap", "children"),
    Input(APPLY, "n_clicks"),
    State(USER, "value"),
    State(ROLE, "value"),
    State(SCOPE, "value"),
    State(STATUS, "value"),
    prevent_initial_call=True,
)
def update_user(_clicks, name, role, scope, status):
    """Apply the form to one user; every change is audited under the admin's name."""
    admin = signed_in_user()
    require(admin, "admin")  # the gate already checked; this is the second lock
    users = current_runtime().users
    if not name:
        return html.Span("Choose a user first.", className="sb-bad"), users_table()
    done = []
    try:
        if role:
            users.set_role(name, role, actor=admin.name)
            done.append(f"role {role}")
        if scope:
            scopes = (
                ()
                if scope.strip().lower() == "none"
                else parse_scopes([s for s in scope.split(";") if s.strip()])
            )
            users.set_scopes(name, scopes, actor=admin.name)
            done.append(f"scope {_scope_text(scopes) or 'cleared'}")
        if status:
            users.set_disabled(name, status == "disabled", actor=admin.name)
            done.append(status)
    except (AccessError, StarboardError) as exc:
        return html.Span(exc.message, className="sb-bad"), users_table()
    text = f"{name}: {', '.join(done)}." if done else "Nothing to change."
    return html.Span(text, className="sb-good"), users_table()


@callback(
    Output(TOKEN_MESSAGE, "children"),
    Output(f"{P}-tokens-wrap", "children"),
    Output(TOKEN, "options"),
    Output(TOKEN, "value"),
    Input(REVOKE, "n_clicks"),
    State(TOKEN, "value"),
    prevent_initial_call=True,
)
def revoke_token(_clicks, token_id):
    """Revoke one API token; audited under the admin's name."""
    admin = signed_in_user()
    require(admin, "admin")  # the gate already checked; this is the second lock
    users = current_runtime().users
    # the value comes from the browser: accept only a token id (an int, or its digits)
    text = (
        str(token_id) if isinstance(token_id, int | str) and not isinstance(token_id, bool) else ""
    )
    if not re.fullmatch(r"[0-9]{1,18}", text):
        message = "Choose a token first." if token_id is None else "Choose a token from the list."
        return html.Span(message, className="sb-bad"), tokens_table(), token_options(), None
    try:
        info = users.revoke_token(int(text), actor=admin.name)
    except StarboardError as exc:
        return html.Span(exc.message, className="sb-bad"), tokens_table(), token_options(), None
    message = (
        f"Token #{info.id} of {info.user} ({info.label or 'no label'}) is revoked: "
        "it gets 401 from now on."
    )
    return html.Span(message, className="sb-good"), tokens_table(), token_options(), None
