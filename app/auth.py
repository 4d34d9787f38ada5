"""Who may see what: roles, permissions, users, API tokens, throttling and the audit log.

Each rule has one source of truth: ``require(user, permission)`` raises ``AccessDenied``;
``can(user, permission)`` is a thin wrapper over it.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from flask import has_request_context, request
from flask_login import UserMixin, current_user
from werkzeug.security import check_password_hash, generate_password_hash

from app import meta
from app.errors import AccessDenied, StarboardError
from app.meta import MetaDB

# Permissions: tier0/tier1/tier2 open boards of that tier; sql runs raw SQL; pii sees PII
# columns; admin manages users. "signed_in" is what every signed-in user has.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "executive": frozenset({"signed_in", "tier0"}),
    "operator": frozenset({"signed_in", "tier0", "tier1"}),
    "analyst": frozenset({"signed_in", "tier0", "tier1", "tier2", "sql"}),
    "admin": frozenset({"signed_in", "tier0", "tier1", "tier2", "sql", "pii", "admin"}),
}
ROLES = tuple(ROLE_PERMISSIONS)
PERMISSIONS = frozenset().union(*ROLE_PERMISSIONS.values())
THROTTLE_LIMIT = 5
THROTTLE_WINDOW = timedelta(minutes=15)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
SCOPE_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+?)\s*$")


@dataclass(frozen=True)
class User(UserMixin):
    """A signed-in user as flask-login sees them."""

    id: int
    name: str
    role: str
    scopes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    disabled: bool = False
    permissions: frozenset[str] = field(default=frozenset(), compare=False)

    def get_id(self) -> str:
        return str(self.id)

    @property
    def is_active(self) -> bool:  # flask-login refuses inactive users
        return not self.disabled


class AccessError(StarboardError):
    """A user-management request was malformed (unknown role, bad scope, …)."""

    title = "Access error"


def permissions_of(role: str) -> frozenset[str]:
    return ROLE_PERMISSIONS.get(role, frozenset())


def require(user: object, permission: str) -> None:
    """Raise AccessDenied unless ``user`` is signed in, active and holds ``permission``."""
    if permission not in PERMISSIONS:
        raise AccessDenied(f"Unknown permission {permission!r}.")  # fail closed
    if not isinstance(user, User) or not user.is_active:
        raise AccessDenied("Sign in to see this page.")
    if permission not in user.permissions:
        raise AccessDenied(f"Your role ({user.role}) may not open this: it needs "
                           f"{permission.replace('tier', 'Tier ')}.")
    if permission == "sql" and user.scopes:
        # A row scope cannot be applied to free SQL, so scoped users get none.
        raise AccessDenied("Free SQL cannot apply your row scope "
                           f"({', '.join(d + '=' + ','.join(v) for d, v in user.scopes)}), "
                           "so it is closed to you: use the Tier 2 explorer instead.")


def can(user: object, permission: str) -> bool:
    """True when ``require(user, permission)`` would pass."""
    try:
        require(user, permission)
    except AccessDenied:
        return False
    return True


def signed_in_user() -> User | None:
    """The user of the current request, if one is signed in (sessions or API token)."""
    if not has_request_context():
        return None
    user = current_user._get_current_object() if current_user else None
    return user if isinstance(user, User) and user.is_active else None


def current_scope() -> tuple[tuple[str, tuple[str, ...]], ...] | None:
    """The row scope of the request's user; None outside a request (CLI: unrestricted).

    Inside a request with nobody signed in this raises: no data without a user.
    """
    if not has_request_context():
        return None
    user = signed_in_user()
    if user is None:
        raise AccessDenied("Sign in to see data.")
    return user.scopes


def parse_scopes(items: list[str] | tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``["region=EMEA", "country=DE,FR"]`` → sorted scope tuples; AccessError if malformed."""
    scopes: dict[str, set[str]] = {}
    for item in items:
        match = SCOPE_RE.match(item)
        if not match:
            raise AccessError(f"Scope {item!r} is not of the form dimension=value[,value…].")
        values = {v.strip() for v in match.group(2).split(",") if v.strip()}
        if not values:
            raise AccessError(f"Scope {item!r} names no value.")
        scopes.setdefault(match.group(1), set()).update(values)
    return tuple((dim, tuple(sorted(vals))) for dim, vals in sorted(scopes.items()))


def _scopes_to_json(scopes) -> str:
    return json.dumps({dim: list(vals) for dim, vals in scopes}, sort_keys=True)


def _scopes_from_json(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    data = json.loads(text or "{}")
    return tuple((dim, tuple(sorted(vals))) for dim, vals in sorted(data.items()))


def _row_to_user(row) -> User:
    return User(id=row.id, name=row.name, role=row.role, scopes=_scopes_from_json(row.scopes),
                disabled=bool(row.disabled), permissions=permissions_of(row.role))


def _client_ip() -> str:
    return (request.remote_addr or "") if has_request_context() else "cli"


class Users:
    """User management on the metadata database."""

    def __init__(self, db: MetaDB) -> None:
        self.db = db

    # ---- queries
    def get(self, user_id: int | str) -> User | None:
        try:
            key = int(user_id)
        except (TypeError, ValueError):
            return None
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(meta.users).where(meta.users.c.id == key)).first()
        return _row_to_user(row) if row else None

    def by_name(self, name: str) -> User | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(meta.users).where(meta.users.c.name == name)).first()
        return _row_to_user(row) if row else None

    def all(self) -> list[User]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(sa.select(meta.users).order_by(meta.users.c.name)).all()
        return [_row_to_user(r) for r in rows]

    # ---- changes
    @staticmethod
    def _check_role(role: str) -> None:
        if role not in ROLE_PERMISSIONS:
            raise AccessError(f"Unknown role {role!r}: choose one of {', '.join(ROLES)}.")

    @staticmethod
    def _check_password(password: str) -> None:
        if len(password) < 8:
            raise AccessError("A password needs at least 8 characters.")

    def add(self, name: str, role: str, password: str, scopes=(), *, actor: str = "cli") -> User:
        """Create a user; AccessError for a taken name, an unknown role or a short password."""
        if not NAME_RE.match(name or ""):
            raise AccessError(f"User name {name!r} may use letters, digits and . _ @ - "
                              "(up to 100 characters).")
        self._check_role(role)
        self._check_password(password)
        if self.by_name(name):
            raise AccessError(f"A user named {name!r} already exists.")
        stamp = meta.now()
        with self.db.engine.begin() as conn:
            conn.execute(meta.users.insert().values(
                name=name, password_hash=generate_password_hash(password, method="scrypt"),
                role=role, scopes=_scopes_to_json(scopes), disabled=False, created_at=stamp,
                password_changed_at=stamp))
        self.audit(actor, "user_added", {"user": name, "role": role,
                                         "scopes": _scopes_to_json(scopes)})
        user = self.by_name(name)
        assert user is not None
        return user

    def _update(self, name: str, event: str, actor: str, detail: dict, **values) -> User:
        user = self.by_name(name)
        if user is None:
            raise AccessError(f"No user named {name!r}.")
        with self.db.engine.begin() as conn:
            conn.execute(meta.users.update().where(meta.users.c.id == user.id).values(**values))
        self.audit(actor, event, {"user": name, **detail})
        updated = self.by_name(name)
        assert updated is not None
        return updated

    def set_role(self, name: str, role: str, *, actor: str = "cli") -> User:
        self._check_role(role)
        before = self.by_name(name)
        return self._update(name, "role_changed", actor,
                            {"from": before.role if before else None, "to": role}, role=role)

    def set_scopes(self, name: str, scopes, *, actor: str = "cli") -> User:
        return self._update(name, "scope_changed", actor, {"scopes": _scopes_to_json(scopes)},
                            scopes=_scopes_to_json(scopes))

    def set_disabled(self, name: str, disabled: bool = True, *, actor: str = "cli") -> User:
        return self._update(name, "user_disabled" if disabled else "user_enabled", actor, {},
                            disabled=disabled)

    def reset_password(self, name: str, password: str, *, actor: str = "cli") -> User:
        self._check_password(password)
        return self._update(name, "password_reset", actor, {},
                            password_hash=generate_password_hash(password, method="scrypt"),
                            password_changed_at=meta.now())

    # ---- sign-in
    def throttled(self, name: str, ip: str) -> bool:
        """True after THROTTLE_LIMIT failures for this name or this IP within the window."""
        since = meta.now() - THROTTLE_WINDOW
        t = meta.login_attempts
        with self.db.engine.connect() as conn:
            failures = conn.execute(
                sa.select(sa.func.count()).where(t.c.at >= since, t.c.success.is_(False),
                                                 sa.or_(t.c.name == name, t.c.ip == ip))
            ).scalar_one()
        return failures >= THROTTLE_LIMIT

    def authenticate(self, name: str, password: str, ip: str) -> User:
        """The user for these credentials; AccessDenied with a message that does not say
        whether the name exists."""
        if self.throttled(name, ip):
            self.audit(name, "login_throttled", {}, ip=ip)
            raise AccessDenied("Too many failed sign-ins: wait 15 minutes and try again.")
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(meta.users).where(meta.users.c.name == name)).first()
        ok = row is not None and check_password_hash(row.password_hash, password)
        with self.db.engine.begin() as conn:
            conn.execute(meta.login_attempts.insert().values(at=meta.now(), name=name[:100],
                                                             ip=ip, success=ok))
        if not ok:
            self.audit(name[:100], "login_failed", {}, ip=ip)
            raise AccessDenied("Wrong user name or password.")
        assert row is not None
        user = _row_to_user(row)
        if user.disabled:
            self.audit(name, "login_refused_disabled", {}, ip=ip)
            raise AccessDenied("This account is disabled: ask an administrator.")
        self.audit(name, "login", {}, ip=ip)
        return user

    # ---- API tokens
    def create_token(self, name: str, label: str = "", *, actor: str = "cli") -> str:
        """A new bearer token for ``name``; only its hash is stored, so it is shown once."""
        user = self.by_name(name)
        if user is None:
            raise AccessError(f"No user named {name!r}.")
        token = "sb_" + secrets.token_urlsafe(32)
        with self.db.engine.begin() as conn:
            conn.execute(meta.tokens.insert().values(
                user_id=user.id, token_hash=_token_hash(token), label=label,
                created_at=meta.now(), revoked=False))
        self.audit(actor, "token_created", {"user": name, "label": label})
        return token

    def by_token(self, token: str) -> User | None:
        """The active user owning an unrevoked token, or None."""
        t, u = meta.tokens, meta.users
        with self.db.engine.begin() as conn:
            row = conn.execute(sa.select(u, t.c.id.label("token_id")).join(
                t, t.c.user_id == u.c.id).where(t.c.token_hash == _token_hash(token),
                                                t.c.revoked.is_(False))).first()
            if row is None:
                return None
            conn.execute(t.update().where(t.c.id == row.token_id).values(
                last_used_at=meta.now()))
        user = _row_to_user(row)
        return user if user.is_active else None

    # ---- audit
    def audit(self, actor: str, event: str, detail: dict, *, ip: str | None = None) -> None:
        """Append one event to the audit log."""
        with self.db.engine.begin() as conn:
            conn.execute(meta.audit.insert().values(
                at=meta.now(), actor=actor, event=event,
                detail=json.dumps(detail, sort_keys=True, default=str),
                ip=ip if ip is not None else _client_ip()))

    def audit_log(self, limit: int = 200) -> list[dict]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(sa.select(meta.audit).order_by(meta.audit.c.id.desc())
                                .limit(limit)).mappings().all()
        return [dict(r) for r in rows]


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

