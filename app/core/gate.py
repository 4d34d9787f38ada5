"""The access gate in front of every route and every Dash callback, and security headers.

The gate fails closed: a route or callback is served only when it is public (sign-in page,
health checks, the stylesheet) or when the signed-in user holds the permission its page
declares (``register_page(..., access="tier1")``). Dash's page router callback is allowed
for signed-in users because every page layout is wrapped with the same check at start-up;
a layout that raises a ``StarboardError`` is drawn as its page's frame with an error tile.
Requests signed in by cookie may not come from another site when they reach the API or
change anything (a cross-site page cannot make the browser download an export as its
user). A page that ``needs`` a feature of the semantic model (``register_page(...,
needs="segments")``) is not there when the loaded model does not declare it: its route
answers 404, its layout a "not in this model" page, its callbacks 404. Refusals are raised
as errors; ``app/http.py`` answers them (JSON or page).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, g, redirect, request, session
from flask_login import logout_user
from werkzeug.wrappers import Response as BaseResponse

from app.core import web
from app.core.auth import PERMISSIONS, can, require, signed_in_user
from app.core.config import Settings
from app.core.errors import (
    AccessDenied,
    MalformedRequest,
    NotDeclared,
    SignInRequired,
    StarboardError,
)
from app.core.meta import MetaUnavailable
from app.core.web import TOO_DEEP

PUBLIC_PATHS = frozenset({"/login", "/healthz", "/readyz", "/_favicon.ico"})
PUBLIC_ASSETS = ("/assets/starboard.css",)
ROUTER_OUTPUT = ".._pages_content.children..._pages_store.data.."
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'; "
    "object-src 'none'"
)


FOREIGN_MESSAGE = (
    "Refused: this request came from another site ({why}). Downloads and "
    "changes run only from Starboard's own pages, or with an API token."
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
    *,
    callback_map: Callable[[], Mapping[str, dict]],
    page_registry: Callable[[], Mapping[str, dict]],
    denied_layout: Callable[[str], Any],
    failed_layout: Callable[[Mapping[str, Any], StarboardError], Any],
    missing_feature: Callable[[str], str | None] = lambda _feature: None,
    missing_layout: Callable[[str], Any] | None = None,
) -> None:
    """The gate (before every request), page-layout guards and security headers.

    Every page layout is wrapped: its access rule first (``denied_layout(message)``), then
    what it ``needs`` of the model (``missing_feature(need)`` gives why it is not there, and
    ``missing_layout(message)`` draws that), then the layout; a ``StarboardError`` it raises
    becomes ``failed_layout(page, error)``, the page's frame with an error tile, so pages do
    not catch errors one by one."""
    guards: dict[str, str | None] = {}

    def absent() -> frozenset[str]:
        needs = {str(p["needs"]) for p in page_registry().values() if p.get("needs")}
        return frozenset(n for n in needs if missing_feature(n) is not None)

    server.extensions[web.FEATURES] = absent

    def not_there(page: Mapping[str, Any]) -> str | None:
        """Why ``page`` is not there for the loaded model, or None."""
        need = page.get("needs")
        return missing_feature(str(need)) if need else None

    def guard_layouts() -> None:
        """Wrap every page layout with its page's access check (covers the router)."""
        for module, page in page_registry().items():
            if module in guards:
                continue
            access = page.get("access")
            original = page.get("layout")

            def guarded(
                *args: Any, _orig=original, _access=access, _page=page, **kwargs: Any
            ) -> Any:
                try:
                    if _access not in PERMISSIONS:
                        raise AccessDenied("This page declares no access rule, so it is closed.")
                    require(signed_in_user(), _access)
                except AccessDenied as exc:
                    return denied_layout(exc.message)
                absent = not_there(_page)
                if absent is not None:
                    return (missing_layout or denied_layout)(absent)
                try:
                    return _orig(*args, **kwargs) if callable(_orig) else _orig
                except MetaUnavailable:
                    raise  # the one handler answers 503 for the whole request
                except StarboardError as exc:
                    return failed_layout(_page, exc)

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
        page = callback_page(module)
        if page is not None:
            access = page.get("access")
            return access if access in PERMISSIONS else None
        return None  # a callback that belongs to no page is refused

    def callback_page(module: str) -> Mapping[str, Any] | None:
        return next((p for p in page_registry().values() if p["module"] == module), None)

    def to_sign_in(path: str, api: bool) -> BaseResponse:
        """Nobody is signed in: the API and Dash get a 401, a page the sign-in form."""
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
        return redirect(f"/login?{flag}next=" + web.quote_next(target))

    def check_callback(body: Any, user: Any) -> None:
        """A Dash callback: its page's rule for ``user``, and a body of the shape Dash sends."""
        if not isinstance(body, dict) or not isinstance(body.get("output"), str):
            raise MalformedRequest("Malformed callback request.")
        permission = callback_permission(body["output"])
        if permission is None:
            if body["output"] not in callback_map():
                raise MalformedRequest("Unknown or unprotected callback.")
            raise AccessDenied("Unknown or unprotected callback.")
        if not can(user, permission):
            raise AccessDenied(f"Your role ({user.role}) may not use this page.")
        entry = callback_map().get(body["output"])
        if entry is not None and entry.get("callback") is not None:
            page = callback_page(entry["callback"].__module__)
            absent = not_there(page) if page is not None else None
            if absent is not None:
                raise NotDeclared(absent)
        problem = callback_body_problem(body, callback_map().get(body["output"]))
        if problem is not None:
            raise MalformedRequest("Malformed callback request: " + problem)

    @server.before_request
    def gate() -> BaseResponse | None:
        guard_layouts()
        path = request.path
        if path in PUBLIC_PATHS or path in PUBLIC_ASSETS:
            return None
        api = path.startswith("/api/")
        web.expire_session(settings)  # every path: pages, callbacks and the API
        user = signed_in_user()  # may raise MetaUnavailable: a 503 (app/http.py)
        if g.pop("session_ended", False) and user is None:
            logout_user()
            session.clear()
            g.session_notice = "ended"
        if user is None:
            return to_sign_in(path, api)
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
            check_callback(body, user)
            return None
        if path.startswith("/_dash-") or path.startswith("/assets/") or path == "/_reload-hash":
            return None
        page = match_page(path, page_registry())
        if page is not None and not can(user, page.get("access", "")):
            raise AccessDenied(f"Your role ({user.role}) may not open {path}.")
        absent = not_there(page) if page is not None else None
        if absent is not None:
            raise NotDeclared(absent)
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
