"""Sign-in, sessions and the access gate in front of every route and every Dash callback.

The gate fails closed: a route or callback is served only when it is public (sign-in page,
health checks, the stylesheet) or when the signed-in user holds the permission its page
declares (``register_page(..., access="tier1")``). Dash's page router callback is allowed
for signed-in users because every page layout is wrapped with the same check at start-up.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from flask import Flask, Response, g, redirect, render_template_string, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, login_user, logout_user

from app.auth import PERMISSIONS, User, Users, can, require, signed_in_user
from app.config import Settings
from app.errors import AccessDenied
from app.urls import local_path

PUBLIC_PATHS = frozenset({"/login", "/healthz", "/readyz", "/_favicon.ico"})
PUBLIC_ASSETS = ("/assets/starboard.css",)
ROUTER_OUTPUT = ".._pages_content.children..._pages_store.data.."
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
       "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'; "
       "object-src 'none'")

class _SessionInterface(SecureCookieSessionInterface):
    """Session cookies are Secure whenever the request came over https."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


def safe_next(target: str | None) -> str:
    """``next=`` only to a local path of this site; anything else goes home."""
    return local_path(target) or "/"  # the one rule for local links: app/urls.py


def csrf_token() -> str:
    """The session's CSRF token for server-rendered forms."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _csrf_ok() -> bool:
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    return bool(sent) and bool(expected) and hmac.compare_digest(sent, expected)


def viewer() -> dict[str, Any]:
    """Who is looking, for the page shell: name, role, permissions, logout CSRF token."""
    user = signed_in_user()
    if user is None:
        return {"name": None, "role": None, "permissions": frozenset(), "csrf": ""}
    # what ``can`` grants, not the role's raw list (a row scope withdraws free SQL)
    granted = frozenset(p for p in user.permissions if can(user, p))
    return {"name": user.name, "role": user.role, "permissions": granted,
            "csrf": csrf_token()}


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
<title>No access · Starboard</title><link rel="stylesheet" href="/assets/starboard.css">
</head><body class="sb-login-body"><main class="sb-login"><h1 class="sb-title">No access</h1>
<p>{{ message }}</p><p><a href="/">Back to the boards you can open</a></p></main></body></html>"""


def _json_error(status: int, message: str) -> Response:
    return Response(json.dumps({"error": {"type": "AccessDenied", "message": message}}),
                    status=status, mimetype="application/json")


def match_page(path: str, registry: Mapping[str, dict]) -> dict | None:
    """The registered page whose path (or path template) matches ``path``."""
    parts = [p for p in path.split("/") if p]
    for page in registry.values():
        template = page.get("path_template") or page["path"]
        tparts = [p for p in template.split("/") if p]
        if len(tparts) != len(parts):
            continue
        if all(t == p or (t.startswith("<") and t.endswith(">")) for t, p in
               zip(tparts, parts, strict=True)):
            return page
    return None


def install(server: Flask, settings: Settings, users: Users, *,
            callback_map: Callable[[], Mapping[str, dict]],
            page_registry: Callable[[], Mapping[str, dict]],
            denied_layout: Callable[[str], Any]) -> None:
    """Sessions, sign-in routes, the gate, page-layout guards and security headers."""
    server.session_interface = _SessionInterface()
    server.config.update(
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="starboard_session",
        PERMANENT_SESSION_LIFETIME=timedelta(days=settings.remember_days),
        REMEMBER_COOKIE_DURATION=timedelta(days=settings.remember_days))
    # One LoginManager per app: a module-level one would hand every earlier app the
    # user loader of the last app created in the process.
    login_manager = LoginManager()
    login_manager.init_app(server)
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        return users.get(user_id)

    @login_manager.request_loader
    def load_token_user(req) -> User | None:
        header = req.headers.get("Authorization", "")
        if req.path.startswith("/api/") and header.startswith("Bearer "):
            return users.by_token(header.removeprefix("Bearer ").strip())
        return None

    guards: dict[str, str] = {}

    def guard_layouts() -> None:
        """Wrap every page layout with its page's access check (covers the router)."""
        for module, page in page_registry().items():
            if module in guards:
                continue
            access = page.get("access")
            original = page.get("layout")

            def guarded(*args: Any, _orig=original, _access=access, **kwargs: Any) -> Any:
                try:
                    if _access not in PERMISSIONS:
                        raise AccessDenied("This page declares no access rule, so it is closed.")
                    require(signed_in_user(), _access)
                except AccessDenied as exc:
                    return denied_layout(exc.message)
                return _orig(*args, **kwargs) if callable(_orig) else _orig

            page["layout"] = guarded
            guards[module] = access

    def callback_permission(output: str) -> str | None:
        if output == ROUTER_OUTPUT:
            return "signed_in"
        entry = callback_map().get(output)
        if entry is None or entry.get("callback") is None:
            return None
        module = entry["callback"].__module__
        if module == "dash.dash" and entry["callback"].__name__ == "cancel_call":
            # Dash's Cancel callback of a background callback: the access of the page whose
            # callback it cancels (it can only stop jobs whose signed handles it was sent).
            target = output.rpartition(".")[0]
            for other in callback_map().values():
                cancels = (other.get("background") or {}).get("cancel") or []
                if other.get("callback") is not None and any(
                        c.get("id") == target for c in cancels):
                    module = other["callback"].__module__
                    break
        for page in page_registry().values():
            if page["module"] == module:
                access = page.get("access")
                return access if access in PERMISSIONS else None
        return None  # a callback that belongs to no page is refused

    @server.before_request
    def gate() -> Response | None:
        guard_layouts()
        path = request.path
        if path in PUBLIC_PATHS or path in PUBLIC_ASSETS:
            return None
        if path.startswith("/api/"):
            user = signed_in_user()
            if user is None:
                return _json_error(401, "Sign in, or send an API token as "
                                        "'Authorization: Bearer …'.")
            if not can(user, "tier2"):
                return _json_error(403, f"Your role ({user.role}) may not use the query API.")
            return None
        _expire_session(settings)
        user = signed_in_user()
        if user is None:
            if path.startswith("/_") or request.method != "GET":
                return _json_error(401, "Sign in first.")
            target = request.full_path if request.query_string else path
            expired = "expired=1&" if g.pop("session_expired", False) else ""
            return redirect(f"/login?{expired}next=" + _quote(target))
        if path == "/_dash-update-component":
            body = request.get_json(silent=True)
            if not isinstance(body, dict) or not isinstance(body.get("output"), str):
                return _json_error(400, "Malformed callback request.")
            permission = callback_permission(body["output"])
            if permission is None:
                return _json_error(400 if body["output"] not in callback_map() else 403,
                                   "Unknown or unprotected callback.")
            if not can(user, permission):
                return _json_error(403, f"Your role ({user.role}) may not use this page.")
            return None
        if path.startswith("/_dash-") or path.startswith("/assets/") or path == "/_reload-hash":
            return None
        page = match_page(path, page_registry())
        if page is not None and not can(user, page.get("access", "")):
            return Response(render_template_string(
                DENIED_PAGE, message=f"Your role ({user.role}) may not open {path}."), 403)
        return None

    @server.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", CSP)
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    @server.route("/login", methods=["GET", "POST"])
    def login() -> Response | str | tuple[str, int]:
        target = safe_next(request.values.get("next"))
        context = {"next": target, "remember_days": settings.remember_days, "error": None,
                   "notice": "Your session expired: please sign in again."
                   if request.args.get("expired") else None, "username": ""}
        if request.method == "GET":
            if signed_in_user() is not None:
                return redirect(target)
            return render_template_string(LOGIN_PAGE, csrf=csrf_token(), **context)
        name = request.form.get("username", "").strip()[:100]
        context["username"] = name
        if not _csrf_ok():
            context["error"] = "The form expired: please sign in again."
            return render_template_string(LOGIN_PAGE, csrf=csrf_token(), **context), 400
        try:
            user = users.authenticate(name, request.form.get("password", ""),
                                      request.remote_addr or "")
        except AccessDenied as exc:
            context["error"] = exc.message
            status = 429 if "Too many" in exc.message else 401
            return render_template_string(LOGIN_PAGE, csrf=csrf_token(), **context), status
        remember = request.form.get("remember") == "1"
        session.clear()                     # a fresh session: no fixation
        session.permanent = remember
        login_user(user, remember=False)
        stamp = time.time()
        session.update(login_at=stamp, seen=stamp, remember=remember)
        csrf_token()
        return redirect(target)

    @server.post("/logout")
    def logout() -> Response:
        if not _csrf_ok():
            return Response(render_template_string(
                DENIED_PAGE, message="The sign-out form expired: reload the page."), 400)
        user = signed_in_user()
        if user is not None:
            users.audit(user.name, "logout", {})
        logout_user()
        session.clear()
        return redirect("/login")


def _quote(target: str) -> str:
    from urllib.parse import quote

    return quote(target, safe="/")


def _expire_session(settings: Settings) -> None:
    """Idle and absolute timeouts (both longer with “remember me”)."""
    if "_user_id" not in session:
        return
    now = time.time()
    remember = bool(session.get("remember"))
    idle = (settings.remember_days * 86400 if remember else settings.session_idle_minutes * 60)
    absolute = (settings.remember_days * 86400 if remember
                else settings.session_max_hours * 3600)
    seen = float(session.get("seen", 0))
    started = float(session.get("login_at", 0))
    if now - seen > idle or now - started > absolute:
        logout_user()
        session.clear()
        g.session_expired = True
        return
    if now - seen > 60:  # refresh at most once a minute: fewer cookie rewrites
        session["seen"] = now
