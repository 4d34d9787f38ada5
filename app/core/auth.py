"""Who may see what: roles, permissions, users, API tokens, throttling and the audit log.

Each rule has one source of truth: ``require(user, permission)`` raises ``AccessDenied``;
``can(user, permission)`` is a thin wrapper over it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import has_request_context, request
from flask_login import UserMixin, current_user
from werkzeug.security import check_password_hash, generate_password_hash

from app.core import meta
from app.core.errors import AccessDenied, StarboardError
from app.core.meta import MetaDB, MetaUnavailable

log = logging.getLogger("starboard.auth")

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
# Failed sign-ins within THROTTLE_WINDOW: THROTTLE_LIMIT per name from one address, and
# THROTTLE_IP_LIMIT from one address over all names. Nothing is counted per name alone, so
# nobody can lock a user out from another address.
THROTTLE_LIMIT = 5
THROTTLE_IP_LIMIT = 25
THROTTLE_WINDOW = timedelta(minutes=15)
# A token's last_used_at is written at most this often, and never waits long for a lock.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
TOKEN_TOUCH_WAIT_MS = 100
TOKEN_MAX_DAYS = 3650
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
    session_gen: int = field(default=0, compare=False)  # see meta.users.session_gen

    def get_id(self) -> str:
        return str(self.id)

    @property
    def is_active(self) -> bool:  # flask-login refuses inactive users
        return not self.disabled


class AccessError(StarboardError):
    """A user-management request was malformed (unknown role, bad scope, …)."""

    title = "Access error"


class Throttled(AccessDenied):
    """Too many failed sign-ins from this address (for this name, or for all names)."""

    title = "Too many sign-ins"
    status = 429


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown of an API token: never the secret, nor its hash."""

    id: int
    user: str
    label: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked: bool
    revoked_at: datetime | None

    def status(self, at: datetime | None = None) -> str:
        """``revoked``, ``expired`` or ``active`` (at ``at``, default now)."""
        if self.revoked:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (at or meta.now()):
            return "expired"
        return "active"


def permissions_of(role: str) -> frozenset[str]:
    return ROLE_PERMISSIONS.get(role, frozenset())


def require(user: object, permission: str) -> None:
    """Raise AccessDenied unless ``user`` is signed in, active and holds ``permission``."""
    if permission not in PERMISSIONS:
        raise AccessDenied(f"Unknown permission {permission!r}.")  # fail closed
    if not isinstance(user, User) or not user.is_active:
        raise AccessDenied("Sign in to see this page.")
    if permission not in user.permissions:
        raise AccessDenied(
            f"Your role ({user.role}) may not open this: it needs "
            f"{permission.replace('tier', 'Tier ')}."
        )
    if permission == "sql" and user.scopes:
        # A row scope cannot be applied to free SQL, so scoped users get none.
        raise AccessDenied(
            "Free SQL cannot apply your row scope "
            f"({', '.join(d + '=' + ','.join(v) for d, v in user.scopes)}), "
            "so it is closed to you: use the Tier 2 explorer instead."
        )


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
    """``["DIM=VALUE", "DIM=V1,V2"]`` (dimensions of the model) → sorted scope tuples;
    AccessError if malformed."""
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
    return User(
        id=row.id,
        name=row.name,
        role=row.role,
        scopes=_scopes_from_json(row.scopes),
        disabled=bool(row.disabled),
        permissions=permissions_of(row.role),
        session_gen=row.session_gen or 0,
    )


@functools.cache
def _dummy_hash() -> str:
    """An scrypt hash of a random password, made once per process: unknown user names are
    checked against it, so a sign-in takes as long whether the name exists or not."""
    return generate_password_hash(secrets.token_urlsafe(16), method="scrypt")


def _next_session_gen() -> sa.ColumnElement:
    return sa.func.coalesce(meta.users.c.session_gen, 0) + 1


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
        with self.db.connect() as conn:
            row = conn.execute(sa.select(meta.users).where(meta.users.c.id == key)).first()
        return _row_to_user(row) if row else None

    def by_name(self, name: str) -> User | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(meta.users).where(meta.users.c.name == name)).first()
        return _row_to_user(row) if row else None

    def all(self) -> list[User]:
        with self.db.connect() as conn:
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
            raise AccessError(
                f"User name {name!r} may use letters, digits and . _ @ - (up to 100 characters)."
            )
        self._check_role(role)
        self._check_password(password)
        if self.by_name(name):
            raise AccessError(f"A user named {name!r} already exists.")
        stamp = meta.now()
        with self.db.begin() as conn:
            conn.execute(
                meta.users.insert().values(
                    name=name,
                    password_hash=generate_password_hash(password, method="scrypt"),
                    role=role,
                    scopes=_scopes_to_json(scopes),
                    disabled=False,
                    created_at=stamp,
                    password_changed_at=stamp,
                )
            )
        self.audit(
            actor, "user_added", {"user": name, "role": role, "scopes": _scopes_to_json(scopes)}
        )
        user = self.by_name(name)
        assert user is not None
        return user

    def _update(self, name: str, event: str, actor: str, detail: dict, **values) -> User:
        """Change one user and end their sessions: every change made here (role, scope,
        status, password) must reach copies of a session signed in before it."""
        user = self.by_name(name)
        if user is None:
            raise AccessError(f"No user named {name!r}.")
        with self.db.begin() as conn:
            conn.execute(
                meta.users.update()
                .where(meta.users.c.id == user.id)
                .values(session_gen=_next_session_gen(), **values)
            )
        self.audit(actor, event, {"user": name, **detail})
        updated = self.by_name(name)
        assert updated is not None
        return updated

    def set_role(self, name: str, role: str, *, actor: str = "cli") -> User:
        self._check_role(role)
        before = self.by_name(name)
        return self._update(
            name,
            "role_changed",
            actor,
            {"from": before.role if before else None, "to": role},
            role=role,
        )

    def set_scopes(self, name: str, scopes, *, actor: str = "cli") -> User:
        return self._update(
            name,
            "scope_changed",
            actor,
            {"scopes": _scopes_to_json(scopes)},
            scopes=_scopes_to_json(scopes),
        )

    def set_disabled(self, name: str, disabled: bool = True, *, actor: str = "cli") -> User:
        return self._update(
            name, "user_disabled" if disabled else "user_enabled", actor, {}, disabled=disabled
        )

    def reset_password(self, name: str, password: str, *, actor: str = "cli") -> User:
        self._check_password(password)
        return self._update(
            name,
            "password_reset",
            actor,
            {},
            password_hash=generate_password_hash(password, method="scrypt"),
            password_changed_at=meta.now(),
        )

    def end_sessions(self, user_id: int, *, actor: str, event: str = "logout") -> None:
        """End every session of this user, in every browser (sign-out): sessions carry the
        generation they signed in with, and this moves it on."""
        u = meta.users
        with self.db.begin() as conn:
            conn.execute(
                u.update().where(u.c.id == user_id).values(session_gen=_next_session_gen())
            )
        self.audit(actor, event, {"sessions": "ended everywhere"})

    # ---- sign-in
    def _reserve_attempt(self, name: str, ip: str) -> int | None:
        """Count this sign-in attempt before its password is checked: one statement inserts
        it, as a failure, only while this address is under both limits, and returns its
        id (None: throttled). Counting and inserting in one statement is atomic on SQLite
        (the INSERT holds the write lock while it counts), across processes too; PostgreSQL
        first takes a transaction lock on the address, since READ COMMITTED would let two
        concurrent statements both see the old count."""
        t = meta.login_attempts
        stamp = meta.now()
        since = stamp - THROTTLE_WINDOW

        def failures(*where: sa.ColumnElement) -> sa.ScalarSelect:
            return (
                sa.select(sa.func.count())
                .select_from(t)
                .where(t.c.at >= since, t.c.success.is_(False), *where)
                .scalar_subquery()
            )

        attempt = sa.select(
            sa.literal(stamp, sa.DateTime),
            sa.literal(name, sa.String),
            sa.literal(ip, sa.String),
            sa.literal(False, sa.Boolean),
        ).where(
            failures(t.c.ip == ip, t.c.name == name) < THROTTLE_LIMIT,
            failures(t.c.ip == ip) < THROTTLE_IP_LIMIT,
        )
        insert = t.insert().from_select(["at", "name", "ip", "success"], attempt)
        with self.db.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                    {"key": f"starboard-login:{ip}"},
                )
            row = conn.execute(insert.returning(t.c.id)).first()
        return None if row is None else int(row[0])

    def authenticate(self, name: str, password: str, ip: str) -> User:
        """The user for these credentials. AccessDenied with a message that does not say
        whether the name exists (nor does the time it takes); Throttled once this address
        has failed too often; MetaUnavailable when the database does not answer."""
        name, ip = name[:100], ip[:64]
        attempt = self._reserve_attempt(name, ip)
        if attempt is None:
            self.audit(name, "login_throttled", {}, ip=ip)
            raise Throttled(
                "Too many failed sign-ins from your address: wait 15 minutes and try again."
            )
        with self.db.connect() as conn:
            row = conn.execute(sa.select(meta.users).where(meta.users.c.name == name)).first()
        # An unknown name is checked against a dummy hash, so it costs what a known one does.
        matched = check_password_hash(
            row.password_hash if row is not None else _dummy_hash(), password
        )
        if row is None or not matched:
            self.audit(name, "login_failed", {}, ip=ip)
            raise AccessDenied("Wrong user name or password.")
        t = meta.login_attempts
        with self.db.begin() as conn:
            conn.execute(t.update().where(t.c.id == attempt).values(success=True))
        user = _row_to_user(row)
        if user.disabled:
            self.audit(name, "login_refused_disabled", {}, ip=ip)
            raise AccessDenied("This account is disabled: ask an administrator.")
        self.audit(name, "login", {}, ip=ip)
        return user

    # ---- API tokens
    def create_token(
        self, name: str, label: str = "", *, expires_days: int | None = None, actor: str = "cli"
    ) -> str:
        """A new bearer token for ``name``, valid ``expires_days`` days (None: until
        revoked); only its hash is stored, so it is shown once."""
        user = self.by_name(name)
        if user is None:
            raise AccessError(f"No user named {name!r}.")
        if len(label) > 100:
            raise AccessError("A token label has at most 100 characters.")
        if expires_days is not None and not 1 <= expires_days <= TOKEN_MAX_DAYS:
            raise AccessError(
                f"A token expires after 1 to {TOKEN_MAX_DAYS} days (got {expires_days})."
            )
        token = "sb_" + secrets.token_urlsafe(32)
        stamp = meta.now()
        expires = stamp + timedelta(days=expires_days) if expires_days is not None else None
        with self.db.begin() as conn:
            conn.execute(
                meta.tokens.insert().values(
                    user_id=user.id,
                    token_hash=_token_hash(token),
                    label=label,
                    created_at=stamp,
                    revoked=False,
                    expires_at=expires,
                )
            )
        self.audit(
            actor,
            "token_created",
            {
                "user": name,
                "label": label,
                "expires": f"{expires:%Y-%m-%d %H:%M} UTC" if expires else "never",
            },
        )
        return token

    def tokens(self, name: str | None = None) -> list[TokenInfo]:
        """Every token (of ``name``, or of everyone), oldest first; never the secret."""
        t, u = meta.tokens, meta.users
        query = (
            sa.select(
                t.c.id,
                u.c.name,
                t.c.label,
                t.c.created_at,
                t.c.last_used_at,
                t.c.expires_at,
                t.c.revoked,
                t.c.revoked_at,
            )
            .join(u, u.c.id == t.c.user_id)
            .order_by(t.c.id)
        )
        if name is not None:
            if self.by_name(name) is None:
                raise AccessError(f"No user named {name!r}.")
            query = query.where(u.c.name == name)
        with self.db.connect() as conn:
            rows = conn.execute(query).all()
        return [
            TokenInfo(
                id=r.id,
                user=r.name,
                label=r.label,
                created_at=r.created_at,
                last_used_at=r.last_used_at,
                expires_at=r.expires_at,
                revoked=bool(r.revoked),
                revoked_at=r.revoked_at,
            )
            for r in rows
        ]

    def token(self, token_id: int) -> TokenInfo:
        """One token by id; AccessError when there is none."""
        found = [t for t in self.tokens() if t.id == token_id]
        if not found:
            raise AccessError(f"No API token with id {token_id}.")
        return found[0]

    def revoke_token(self, token_id: int, *, actor: str = "cli") -> TokenInfo:
        """Revoke a token (at once: the next call with it gets 401). Revoking a revoked
        token changes nothing and is not audited again."""
        before = self.token(token_id)
        if before.revoked:
            return before
        t = meta.tokens
        with self.db.begin() as conn:
            conn.execute(
                t.update()
                .where(t.c.id == token_id, t.c.revoked.is_(False))
                .values(revoked=True, revoked_at=meta.now())
            )
        self.audit(
            actor, "token_revoked", {"token": token_id, "user": before.user, "label": before.label}
        )
        return self.token(token_id)

    def by_token(self, token: str) -> User | None:
        """The active user owning an unrevoked, unexpired token, or None. One read; the
        token's last use is written at most once a minute, best effort."""
        t, u = meta.tokens, meta.users
        stamp = meta.now()
        with self.db.connect() as conn:
            row = conn.execute(
                sa.select(u, t.c.id.label("token_id"), t.c.last_used_at.label("token_used"))
                .join(t, t.c.user_id == u.c.id)
                .where(
                    t.c.token_hash == _token_hash(token),
                    t.c.revoked.is_(False),
                    sa.or_(t.c.expires_at.is_(None), t.c.expires_at > stamp),
                )
            ).first()
        if row is None:
            return None
        if row.token_used is None or stamp - row.token_used >= TOKEN_TOUCH_INTERVAL:
            self._touch_token(row.token_id, stamp)
        user = _row_to_user(row)
        return user if user.is_active else None

    def _touch_token(self, token_id: int, stamp: datetime) -> None:
        """Record a token's use. Waits at most TOKEN_TOUCH_WAIT_MS for a lock and never
        fails the request: a missed stamp only makes "last used" a minute older."""
        t = meta.tokens
        update = (
            t.update()
            .where(
                t.c.id == token_id,
                sa.or_(
                    t.c.last_used_at.is_(None), t.c.last_used_at <= stamp - TOKEN_TOUCH_INTERVAL
                ),
            )
            .values(last_used_at=stamp)
        )
        try:
            with self.db.connect() as conn:
                sqlite = conn.dialect.name == "sqlite"
                if sqlite:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={TOKEN_TOUCH_WAIT_MS}")
                elif conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{TOKEN_TOUCH_WAIT_MS}ms'")
                try:
                    conn.execute(update)
                    conn.commit()
                finally:
                    if sqlite:
                        _restore_busy_timeout(conn, self.db.busy_timeout)
        except (MetaUnavailable, sa.exc.DBAPIError) as exc:
            log.warning(
                "token %s: last use not recorded (%s)",
                token_id,
                type(exc.__cause__ or exc).__name__,
            )

    # ---- audit
    def audit(self, actor: str, event: str, detail: dict, *, ip: str | None = None) -> None:
        """Append one event to the audit log."""
        with self.db.begin() as conn:
            conn.execute(
                meta.audit.insert().values(
                    at=meta.now(),
                    actor=actor,
                    event=event,
                    detail=json.dumps(detail, sort_keys=True, default=str),
                    ip=ip if ip is not None else _client_ip(),
                )
            )

    def audit_log(self, limit: int = 200) -> list[dict]:
        with self.db.connect() as conn:
            rows = (
                conn.execute(sa.select(meta.audit).order_by(meta.audit.c.id.desc()).limit(limit))
                .mappings()
                .all()
            )
        return [dict(r) for r in rows]


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _restore_busy_timeout(conn: sa.Connection, seconds: float) -> None:
    """Give a pooled SQLite connection its normal busy timeout back (or drop it from the
    pool, so no later statement runs with the short one)."""
    try:
        conn.rollback()
        conn.exec_driver_sql(f"PRAGMA busy_timeout={max(int(seconds * 1000), 0)}")
        conn.commit()
    except sa.exc.DBAPIError:
        conn.invalidate()
