"""Sign-in and sessions (the access gate in front of every route is ``app/core/gate.py``).

Sessions are signed cookies that carry the user's session generation (``sb_user.
session_gen``) from sign-in; the user loader, which reads the user's row on every request
anyway, refuses a session whose generation is no longer the user's. Sign-out, a password
reset, disabling and a role or scope change move the generation on, which ends every copy
of every session of that user at once. The idle and absolute timeouts are
``expire_session``, which the gate calls on every path, the API included. Every JSON body
is parsed once, by the request class here, so a body too deep to parse is a 400 for the
API and for Dash alike.
"""

from __future__ import annotations

import hmac
import secrets
import time
from datetime import timedelta
from typing import Any

from flask import (
    Flask,
    Request,
    Response,
    current_app,
    g,
    redirect,
    render_template_string,
    request,
    session,
)
from flask.sessions import SecureCookieSessionInterface
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, login_user, logout_user, user_logged_in
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response as BaseResponse

from app.core.auth import User, Users, can, signed_in_user
from app.core.config import Settings
from app.core.errors import AccessDenied
from app.core.meta import MetaUnavailable
from app.core.urls import local_path


class _SessionInterface(SecureCookieSessionInterface):
    """Session cookies are Secure whenever the request came over https."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


TOO_DEEP = "The JSON body is nested too deeply."


class _Request(Request):
    """A request whose JSON body too deep to parse is malformed JSON like any other: Flask
    lets the RecursionError through, even from ``get_json(silent=True)``, and every later
    reader (the gate, Dash, the API, the request log) would meet it again."""

    json_too_deep = False

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        try:
            return super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError as exc:
            self.json_too_deep = True
            if silent:
                return None
            raise BadRequest(TOO_DEEP) from exc


def safe_next(target: str | None) -> str:
    """``next=`` only to a local path of this site; anything else goes home."""
    return local_path(target) or "/"  # the one rule for local links: app/core/urls.py


def csrf_token() -> str:
    """The session's CSRF token for server-rendered forms."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def csrf_ok() -> bool:
    """True when the form carries this session's CSRF token."""
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    return bool(sent) and bool(expected) and hmac.compare_digest(sent, expected)


FEATURES = "starboard.absent_features"  # server.extensions: () → needs the model lacks


def viewer() -> dict[str, Any]:
    """Who is looking, for the page shell: name, role, permissions, logout CSRF token, and
    which model-dependent pages are there (``needs`` of each registered page)."""
    user = signed_in_user()
    if user is None:
        return {"name": None, "role": None, "permissions": frozenset(), "csrf": ""}
    # what ``can`` grants, not the role's raw list (a row scope withdraws free SQL)
    granted = frozenset(p for p in user.permissions if can(user, p))
    return {
        "name": user.name,
        "role": user.role,
        "permissions": granted,
        "csrf": csrf_token(),
        "absent": absent_features(),
    }


def absent_features() -> frozenset[str]:
    """The ``needs`` of registered pages that the loaded model does not declare (the check
    app/core/gate.py installs; none before it is installed)."""
    check = current_app.extensions.get(FEATURES)
    return check() if check is not None else frozenset()


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Starboard</title><link rel="stylesheet" href="/assets/starboard.css"></head>
<body class="sb-login-body"><main class="sb-login">
<div class="sb-brand sb-login-brand"><span class="sb-logo">★</span>Starboard</div>
<h1 class="sb-title">Sign in</h1>
{% if error %}<div class="sb-banner sb-banner-fail" role="alert" id="login-error">{{ error }}</div>{% endif %}
{% if notice %}<div class="sb-banner sb-banner-warn" role="status">{{ notice }}</div>{% endif %}
<form method="post" action="/login" class="sb-login-form">
  <input type="hidden" name="csrf_token" value="{{ csrf }}">
  <input type="hidden" name="next" value="{{ next }}">
  <label for="username">User name</label>
  <input id="username" name="username" autocomplete="username" required autofocus value="{{ username }}">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <label class="sb-check"><input type="checkbox" name="remember" value="1"> Remember me for {{ remember_days }} days</label>
  <button type="submit" id="login-submit">Sign in</button>
</form></main></body></html>"""  # noqa: E501

DENIED_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · Starboard</title><link rel="stylesheet" href="/assets/starboard.css">
</head><body class="sb-login-body"><main class="sb-login"><h1 class="sb-title">{{ title }}</h1>
<p>{{ message }}</p><p><a href="/">Back to the boards you can open</a></p></main></body></html>"""

SESSION_NOTICES = {
    "expired": "Your session expired: please sign in again.",
    "ended": "Your session was ended (signed out, or your password or access changed): "
    "please sign in again.",
    "signed_out": "You are signed out, in this browser and in every other one you were "
    "signed in on.",
}


def error_page(status: int, title: str, message: str) -> Response:
    """The error page (HTML) with ``status``."""
    return Response(render_template_string(DENIED_PAGE, title=title, message=message), status)


def install(
    server: Flask,
    settings: Settings,
    users: Users,
) -> None:
    """Sessions: the cookie, the user and token loaders, the sign-in and sign-out routes."""
    server.session_interface = _SessionInterface()
    server.request_class = _Request
    server.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="starboard_session",
        PERMANENT_SESSION_LIFETIME=timedelta(days=settings.remember_days),
        REMEMBER_COOKIE_DURATION=timedelta(days=settings.remember_days),
    )
    # One LoginManager per app: a module-level one would hand every earlier app the
    # user loader of the last app created in the process.
    login_manager = LoginManager()
    login_manager.init_app(server)
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        # The one metadata read of a request: the user's row, generation included.
        user = users.get(user_id)
        if user is None or session.get("gen") != user.session_gen:
            g.session_ended = True
            return None
        return user

    def _stamp_generation(_sender: Flask, user: User, **_extra: Any) -> None:
        # Whoever signs a user in (the login form, a test, an extension) binds the session
        # to the user's current generation; without it the loader would end the session.
        session["gen"] = user.session_gen

    user_logged_in.connect(_stamp_generation, server, weak=False)

    @login_manager.request_loader
    def load_token_user(req) -> User | None:
        header = req.headers.get("Authorization", "")
        if req.path.startswith("/api/") and header.startswith("Bearer "):
            user = users.by_token(header.removeprefix("Bearer ").strip())
            g.token_auth = user is not None
            return user
        return None

    @server.route("/login", methods=["GET", "POST"])
    def login() -> ResponseReturnValue:
        target = safe_next(request.values.get("next"))
        notice = next(
            (text for flag, text in SESSION_NOTICES.items() if request.args.get(flag)), None
        )
        context = {
            "next": target,
            "remember_days": settings.remember_days,
            "error": None,
            "notice": notice,
            "username": "",
        }
        if request.method == "GET":
            if signed_in_user() is not None:
                return redirect(target)
            return render_template_string(LOGIN_PAGE, csrf=csrf_token(), **context)
        name = request.form.get("username", "").strip()[:100]
        context["username"] = name
        if not csrf_ok():
            context["error"] = "The form expired: please sign in again."
            return render_template_string(LOGIN_PAGE, csrf=csrf_token(), **context), 400
        try:
            user = users.authenticate(
                name, request.form.get("password", ""), request.remote_addr or ""
            )
        except (AccessDenied, MetaUnavailable) as exc:
            context["error"] = exc.message
            # a wrong name or password is 401; throttled 429; metadata DB down 503
            status = 401 if type(exc) is AccessDenied else exc.status
            return render_template_string(LOGIN_PAGE, csrf=csrf_token(), **context), status
        remember = request.form.get("remember") == "1"
        session.clear()  # a fresh session: no fixation
        session.permanent = remember
        login_user(user, remember=False)
        stamp = time.time()
        session.update(login_at=stamp, seen=stamp, remember=remember)
        csrf_token()
        return redirect(target)

    @server.post("/logout")
    def logout() -> BaseResponse:
        """Sign out everywhere: a signed cookie cannot be recalled, so ending this session
        and its copies means ending every session of the user (their generation moves)."""
        if not csrf_ok():
            return error_page(400, "No access", "The sign-out form expired: reload the page.")
        user = signed_in_user()
        if user is not None:
            try:
                users.end_sessions(user.id, actor=user.name)
            except MetaUnavailable:
                return error_page(
                    503,
                    "Not signed out",
                    "The sign-out could not be recorded (the "
                    "user database is not answering), so you are still signed in: "
                    "try again in a minute.",
                )
        logout_user()
        session.clear()
        return redirect("/login?signed_out=1")


def quote_next(target: str) -> str:
    from urllib.parse import quote

    return quote(target, safe="/")


def expire_session(settings: Settings) -> None:
    """Idle and absolute timeouts (both longer with “remember me”)."""
    if "_user_id" not in session:
        return
    now = time.time()
    remember = bool(session.get("remember"))
    idle = settings.remember_days * 86400 if remember else settings.session_idle_minutes * 60
    absolute = settings.remember_days * 86400 if remember else settings.session_max_hours * 3600
    seen = float(session.get("seen", 0))
    started = float(session.get("login_at", 0))
    if now - seen > idle or now - started > absolute:
        logout_user()
        session.clear()
        g.session_notice = "expired"
        return
    if now - seen > 60:  # refresh at most once a minute: fewer cookie rewrites
        session["seen"] = now
