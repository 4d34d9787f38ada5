"""``starboard users …``: users, roles, row scopes and API tokens; the demo's users."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.table import Table

from app.cli.root import cli_settings, console, out
from app.core.config import Settings
from app.core.errors import DataError

users_cli = typer.Typer(
    no_args_is_help=True, help="Manage users, roles, row scopes and API tokens."
)


def user_store(settings: Settings | None = None):
    from app.core.auth import Users
    from app.core.meta import MetaDB

    settings = settings or cli_settings()
    return Users(MetaDB(settings.meta_db_url, busy_timeout=settings.meta_busy_timeout_seconds))


def _read_password(password_stdin: bool, name: str) -> tuple[str, bool]:
    """(password, generated): from stdin, an interactive prompt, or a generated one."""
    import secrets

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise DataError("--password-stdin: no password on standard input.")
        return password, False
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass(f"Password for {name}: ")
        if password != getpass.getpass("Again: "):
            raise DataError("The two passwords differ; nothing was changed.")
        return password, False
    return secrets.token_urlsafe(12), True


@users_cli.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Option(help="executive, operator, analyst or admin.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(help="Row scope dimension=value[,value]; repeat for several."),
    ] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:
    """Add a user (the password is prompted, read from stdin, or generated and printed)."""
    from app.core.auth import parse_scopes

    users = user_store()
    scopes = parse_scopes(scope or [])
    users._check_role(role)  # before asking for a password
    password, generated = _read_password(password_stdin, name)
    user = users.add(name, role, password, scopes)
    out.print(
        f"Added {user.name} ({user.role})"
        + (f", scope {scope_text(user.scopes)}" if user.scopes else "")
    )
    if generated:
        out.print(f"Password: {password}", highlight=False)


def scope_text(scopes) -> str:
    return "; ".join(f"{dim}={','.join(vals)}" for dim, vals in scopes) or "—"


@users_cli.command("list")
def users_list() -> None:
    """List users with their roles, scopes and status."""
    table = Table("user", "role", "scope", "status")
    for user in user_store().all():
        table.add_row(
            user.name,
            user.role,
            scope_text(user.scopes),
            "disabled" if user.disabled else "active",
        )
    out.print(table)


@users_cli.command("set-role")
def users_set_role(name: str, role: str) -> None:
    """Change a user's role."""
    user = user_store().set_role(name, role)
    out.print(f"{user.name} is now {user.role}.")


@users_cli.command("set-scope")
def users_set_scope(
    name: str,
    scope: Annotated[
        list[str] | None,
        typer.Option(help="dimension=value[,value]; repeat; none clears the scope."),
    ] = None,
) -> None:
    """Replace a user's row scope (no --scope: unrestricted)."""
    from app.core.auth import parse_scopes

    user = user_store().set_scopes(name, parse_scopes(scope or []))
    out.print(f"{user.name}: scope {scope_text(user.scopes)}.")


@users_cli.command("disable")
def users_disable(
    name: str, enable: Annotated[bool, typer.Option(help="Enable again.")] = False
) -> None:
    """Disable a user (they can no longer sign in or use tokens)."""
    user = user_store().set_disabled(name, not enable)
    out.print(f"{user.name} is {'disabled' if user.disabled else 'active'}.")


@users_cli.command("reset-password")
def users_reset_password(
    name: str,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:
    """Set a new password (prompted, from stdin, or generated and printed)."""
    users = user_store()
    if users.by_name(name) is None:
        from app.core.auth import AccessError

        raise AccessError(f"No user named {name!r}.")
    password, generated = _read_password(password_stdin, name)
    users.reset_password(name, password)
    out.print(
        f"Password of {name} changed; every session of theirs is ended."
        + (f" New password: {password}" if generated else ""),
        highlight=False,
    )


@users_cli.command("token")
def users_token(
    name: str,
    label: Annotated[str, typer.Option(help="What it is for.")] = "",
    expires_days: Annotated[
        int | None, typer.Option(help="Days until it expires (default: valid until revoked).")
    ] = None,
) -> None:
    """Create an API token for /api/v1 (shown once; send as 'Authorization: Bearer …')."""
    users = user_store()
    token = users.create_token(name, label, expires_days=expires_days)
    out.print(token, highlight=False)  # stdout holds the token alone, for scripts
    info = users.tokens(name)[-1]
    console.print(
        f"Token #{info.id} for {name}"
        + (
            f", expires {info.expires_at:%Y-%m-%d %H:%M} UTC"
            if info.expires_at
            else ", valid until revoked"
        )
        + f". Revoke it with: starboard users revoke {info.id}",
        highlight=False,
    )


def _when(stamp) -> str:
    return f"{stamp:%Y-%m-%d %H:%M}" if stamp else "—"


@users_cli.command("tokens")
def users_tokens(name: str) -> None:
    """List a user's API tokens: id, label, created, last used, expiry, status (never the
    token itself)."""
    table = Table(
        "id",
        "label",
        "created (UTC)",
        "last used",
        "expires",
        "status",
        title=f"API tokens of {name}",
    )
    tokens = user_store().tokens(name)
    for info in tokens:
        table.add_row(
            str(info.id),
            info.label or "—",
            _when(info.created_at),
            _when(info.last_used_at),
            _when(info.expires_at) if info.expires_at else "never",
            info.status(),
        )
    if tokens:
        out.print(table)
    else:
        out.print(f"{name} has no API tokens.")


@users_cli.command("revoke")
def users_revoke(
    token_id: Annotated[
        int, typer.Argument(help="The token's id, from 'starboard users tokens NAME'.")
    ],
) -> None:
    """Revoke an API token: calls with it get 401 from now on."""
    users = user_store()
    before = users.token(token_id)
    info = users.revoke_token(token_id)
    if before.revoked:
        out.print(f"Token #{info.id} of {info.user} was already revoked.")
    else:
        out.print(f"Token #{info.id} of {info.user} ({info.label or 'no label'}) revoked.")


DEMO_USERS = (
    ("exec", "executive"),
    ("ops", "operator"),
    ("analyst", "analyst"),
    ("admin", "admin"),
    ("emea", "operator"),
)


def ensure_demo_users(settings: Settings) -> list[tuple[str, str, str, str]]:
    """One demo user per role (and an EMEA-scoped operator); credentials kept 0600 in the
    demo directory so every `starboard demo` can print them."""
    import json
    import secrets

    path = settings.demo_dir / "credentials.json"
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        known = {}
    users = user_store(settings)
    rows = []
    for name, role in DEMO_USERS:
        scopes = (("region", ("EMEA",)),) if name == "emea" else ()
        if users.by_name(name) is None or name not in known:
            password = secrets.token_urlsafe(9)
            if users.by_name(name) is None:
                users.add(name, role, password, scopes, actor="demo")
            else:
                users.reset_password(name, password, actor="demo")
            known[name] = password
        rows.append((name, role, known[name], scope_text(scopes)))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(known, handle)
    return rows
