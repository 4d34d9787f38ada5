"""Sign-in, sessions and the access gate in front of every route and every Dash callback.

The gate fails closed: a route or callback is served only when it is public (sign-in page,
health checks, the stylesheet) or when the signed-in user holds the permission its page
declares (``register_page(..., access="tier1")``). Dash's page router callback is allowed
for signed-in users because every page layout is wrapped with the same check at start-up.

Sessions are signed cookies that carry the user's session generation (``sb_user.
session_gen``) from sign-in; the user loader, which reads the user's row on every request
anyway, refuses a session whose generation is no longer the user's. Sign-out, a password
reset, disabling and a role or scope change move the generation on, which ends every copy
of every session of that user at once. The idle and absolute timeouts apply to every path,
the API included. Requests signed in by cookie may not come from another site when they
reach the API or change anything (a cross-site page cannot make the browser download an
export as its user). Every JSON body is parsed once, here, so a body too deep to parse is
a 400 for the API and for Dash alike.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Request, Response, g, redirect, render_template_string, request, session
from flask.sessions import SecureCookieSessionInterface
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, login_user, logout_user, user_logged_in
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response as BaseResponse

from app.core.auth import PERMISSIONS, User, Users, can, require, signed_in_user
from app.core.config import Settings
from app.core.errors import AccessDenied, MalformedRequest, SignInRequired
from app.core.meta import MetaUnavailable
from app.core.urls import local_path

PUBLIC_PATHS = frozenset({"/login", "/healthz", "/readyz", "/_favicon.ico"})
PUBLIC_ASSETS = ("/assets/starboard.css",)
ROUTER_OUTPUT = ".._pages_content.children..._pages_store.data.."
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'; "
    "object-src 'none'"
)


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


def viewer() -> dict[str, Any]:
    """Who is looking, for the page shell: name, role, permissions, logout CSRF token."""
    user = signed_in_user()
    if user is None:
        return {"name": None, "role": None, "permissions": frozenset(), "csrf": ""}
    # what ``can`` grants, not the role's raw list (a row scope withdraws free SQL)
    granted = frozenset(p for p in user.permissions if can(user, p))
    return {"name": user.name, "role": user.role, "permissions": granted, "csrf": csrf_token()}


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
FOREIGN_MESSAGE = (
    "Refused: this request came from another site ({why}). Downloads and "
    "changes run only from Starboard's own pages, or with an API token."
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def error_page(status: int, title: str, message: str) -> Response:
    """The error page (HTML) with ``status``."""
    return Response(render_template_string(DENIED_PAGE, title=title, message=message), status)


def foreign_origin(settings: Settings) -> str | None:
    """Why the current request was made by another site's page (None: it was not, or the
    browser did not say). Sec-Fetch-Site when the browser sends it (same-site means another
    origin on a sibling host), else Origin, else Referer, against this host and
    STARBOARD_PUBLIC_URL's."""
    site = request.headers.get("Sec-Fetch-Site", "").strip().lower()
    if site in ("cross-site", "same-site"):
        return f"Sec-Fetch-Site: {site}"
    own = {request.host.lower(), urlsplit(settings.public_url).netloc.lower()}
    origin = request.headers.get("Origin")
    if origin is not None and (
        origin.strip().lower() == "null" or urlsplit(origin.strip()).netloc.lower() not in own
    ):
        return "Origin: " + origin[:100]
    referer = request.headers.get("Referer")
    if referer and urlsplit(referer.strip()).netloc.lower() not in own:
        return "Referer from another site"
    return None


def _is_prop_ref(item: object) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("id"), str | dict)
        and isinstance(item.get("property"), str)
    )


def _is_prop_list(items: object) -> bool:
    """A list of {id, property, value} objects, or of lists of them (pattern-matching)."""
    return isinstance(items, list) and all(
        _is_prop_ref(i) or (isinstance(i, list) and all(_is_prop_ref(j) for j in i)) for i in items
    )


def callback_body_problem(body: dict, entry: Mapping | None) -> str | None:
    """What makes a ``/_dash-update-component`` body one Dash would fail on (a 500) rather
    than answer: None when its shape is right for the callback ``entry`` it names."""
    for key, required in (("inputs", True), ("state", False)):
        if key not in body and required:
            return f"'{key}' is missing."
        items = body.get(key, [])
        if not _is_prop_list(items):
            return f"'{key}' must be a list of {{id, property, value}} objects."
        wanted = len((entry or {}).get(key) or [])
        if entry is not None and len(items) != wanted:
            return f"'{key}' has {len(items)} item(s); this callback takes {wanted}."
    outputs = body.get("outputs", [])
    if not (_is_prop_ref(outputs) or _is_prop_list(outputs)):
        return "'outputs' must be an {id, property} object or a list of them."
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        return "'changedPropIds' must be a list of strings."
    return None


def match_page(path: str, registry: Mapping[str, dict]) -> dict | None:
    """The registered page whose path (or path template) matches ``path``."""
    parts = [p for p in path.split("/") if p]
    for page in registry.values():
        template = page.get("path_template") or page["path"]
        tparts = [p for p in template.split("/") if p]
        if len(tparts) != len(parts):
            continue
        if all(
            t == p or (t.startswith("<") and t.endswith(">"))
            for t, p in zip(tparts, parts, strict=True)
        ):
            return page
    return None


def install(
    server: Flask,
    settings: Settings,
    users: Users,
    *,
    callback_map: Callable[[], Mapping[str, dict]],
    page_registry: Callable[[], Mapping[str, dict]],
    denied_layout: Callable[[str], Any],
) -> None:
    """Sessions, sign-in routes, the gate, page-layout guards and security headers."""
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

    guards: dict[str, str | None] = {}

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
                    c.get("id") == target for c in cancels
                ):
                    module = other["callback"].__module__
                    break
        for page in page_registry().values():
            if page["module"] == module:
                access = page.get("access")
                return access if access in PERMISSIONS else None
        return None  # a callback that belongs to no page is refused

    @server.before_request
    def gate() -> BaseResponse | None:
        guard_layouts()
        path = request.path
        if path in PUBLIC_PATHS or path in PUBLIC_ASSETS:
            return None
        api = path.startswith("/api/")
        _expire_session(settings)  # every path: pages, callbacks and the API
        user = signed_in_user()  # may raise MetaUnavailable: a 503 (app/http.py)
        if g.pop("session_ended", False) and user is None:
            logout_user()
            session.clear()
            g.session_notice = "ended"
        if user is None:
            notice = g.pop("session_notice", None)
            if api:
                ended = "Your session has ended. " if notice else ""
                raise SignInRequired(
                    ended + "Sign in, or send an API token as 'Authorization: Bearer …'."
                )
            if path.startswith("/_") or request.method != "GET":
                raise SignInRequired("Sign in first.")
            target = request.full_path if request.query_string else path
            flag = f"{notice}=1&" if notice else ""
            return redirect(f"/login?{flag}next=" + _quote(target))
        if not g.get("token_auth") and (api or request.method not in SAFE_METHODS):
            # A session cookie rides along on requests other sites' pages make.
            why = foreign_origin(settings)
            if why is not None:
                raise AccessDenied(FOREIGN_MESSAGE.format(why=why))
        body = request.get_json(silent=True) if request.is_json else None  # cached
        if getattr(request, "json_too_deep", False):
            raise MalformedRequest(TOO_DEEP)
        if api:
            if not can(user, "tier2"):
                raise AccessDenied(f"Your role ({user.role}) may not use the query API.")
            return None
        if path == "/_dash-update-component":
            if not isinstance(body, dict) or not isinstance(body.get("output"), str):
                raise MalformedRequest("Malformed callback request.")
            permission = callback_permission(body["output"])
            if permission is None:
                if body["output"] not in callback_map():
                    raise MalformedRequest("Unknown or unprotected callback.")
                raise AccessDenied("Unknown or unprotected callback.")
            if not can(user, permission):
                raise AccessDenied(f"Your role ({user.role}) may not use this page.")
            problem = callback_body_problem(body, callback_map().get(body["output"]))
            if problem is not None:
                raise MalformedRequest("Malformed callback request: " + problem)
            return None
        if path.startswith("/_dash-") or path.startswith("/assets/") or path == "/_reload-hash":
            return None
        page = match_page(path, page_registry())
        if page is not None and not can(user, page.get("access", "")):
            raise AccessDenied(f"Your role ({user.role}) may not open {path}.")
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


def _quote(target: str) -> str:
    from urllib.parse import quote

    return quote(target, safe="/")


def _expire_session(settings: Settings) -> None:
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
