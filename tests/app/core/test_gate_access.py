"""Access, attacked: every page and callback for every role, scopes, redirects, sessions,
throttling, tokens and headers. The matrix is generated from Dash's registries, so a new
page or callback is covered without editing this file."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import dash
import pytest
from flask import session as flask_session

from app.core.auth import ROLE_PERMISSIONS
from tests.conftest import PASSWORD, ROLE_USERS, add_users, render, sign_in, texts

ROLES = [None, *ROLE_PERMISSIONS]  # None: anonymous
SAMPLE = {"board": "company", "metric": "revenue"}


def _concrete(path_template: str) -> str:
    return re.sub(r"<(\w+)>", lambda m: SAMPLE.get(m.group(1), "x"), path_template)


def _pages() -> list[dict]:
    return sorted(dash.page_registry.values(), key=lambda p: p["path"])


def _allowed(role: str | None, access: str | None) -> bool:
    return role is not None and access in ROLE_PERMISSIONS[role]


def test_every_page_declares_a_known_access_rule(app) -> None:
    for page in _pages():
        assert page.get("access") in set().union(*ROLE_PERMISSIONS.values()), page["module"]


@pytest.mark.parametrize("role", ROLES)
def test_page_requests_by_role(client_as, role: str | None) -> None:
    client = client_as(role)
    for page in _pages():
        path = _concrete(page.get("path_template") or page["path"])
        response = client.get(path + "?period=2026-10")
        if role is None:
            assert response.status_code == 302, path
            location = urlsplit(response.headers["Location"])
            assert location.path == "/login"
            assert parse_qs(location.query)["next"] == [path + "?period=2026-10"]
        elif _allowed(role, page["access"]):
            assert response.status_code == 200, (role, path)
        else:
            assert response.status_code == 403, (role, path)
            assert "No access" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ROLES[1:])
def test_router_renders_only_allowed_pages(client_as, role: str) -> None:
    client = client_as(role)
    for page in _pages():
        path = _concrete(page.get("path_template") or page["path"])
        words = " ".join(texts(render(client, path)))
        if _allowed(role, page["access"]):
            assert "No access" not in words, (role, path)
        else:
            assert "No access" in words and f"Your role ({role})" in words, (role, path)


def test_anonymous_gets_401_on_dash_endpoints_and_api(client_as) -> None:
    client = client_as(None)
    for url in ("/_dash-layout", "/_dash-dependencies"):
        assert client.get(url).status_code == 401
    assert client.post("/_dash-update-component", json={"output": "x"}).status_code == 401
    response = client.post("/api/v1/query", json={"metrics": ["revenue"]})
    assert response.status_code == 401 and "Sign in" in response.get_json()["error"]["message"]
    for url in ("/login", "/healthz", "/readyz", "/assets/starboard.css"):
        assert client.get(url).status_code in (200, 503), url


def _callback_pages(app) -> dict[str, str]:
    """Every registered callback's output key → the access rule of its page."""
    with app.server.test_client() as c:
        sign_in(c, ROLE_USERS["admin"])
        c.get("/_dash-layout")
    rules = {}
    for output, entry in app.callback_map.items():
        fn = entry.get("callback")
        if fn is None:
            continue
        module = fn.__module__
        if module == "dash.dash" and fn.__name__ == "cancel_call":
            # a background callback's Cancel: the access of the page it cancels for
            target = output.rpartition(".")[0]
            module = next(
                e["callback"].__module__
                for e in app.callback_map.values()
                if e.get("callback") is not None
                and any(
                    c.get("id") == target for c in (e.get("background") or {}).get("cancel") or []
                )
            )
        page = next((p for p in dash.page_registry.values() if p["module"] == module), None)
        rules[output] = page["access"] if page else ("signed_in" if module == "dash.dash" else None)
    return rules


def test_every_callback_belongs_to_a_page_with_an_access_rule(app) -> None:
    add_users(app)
    rules = _callback_pages(app)
    assert len(rules) >= 2  # the router and /admin's form at least
    assert all(rules.values()), [k for k, v in rules.items() if not v]


@pytest.mark.parametrize("role", ROLES)
def test_direct_callback_posts_by_role(app, client_as, role: str | None) -> None:
    add_users(app)
    rules = _callback_pages(app)
    client = client_as(role)
    for output, access in rules.items():
        body = {"output": output, "outputs": [], "inputs": [], "state": [], "changedPropIds": []}
        status = client.post("/_dash-update-component", json=body).status_code
        if role is None:
            assert status == 401, output
        elif _allowed(role, access):
            assert status not in (401, 403), (role, output)
        else:
            assert status == 403, (role, output)


def test_executive_cannot_drive_the_admin_form(app, client_as) -> None:
    client = client_as("executive")
    output = next(k for k in _callback_pages(app) if "admin-message.children" in k)
    body = {
        "output": output,
        "outputs": [
            {"id": "admin-message", "property": "children"},
            {"id": "admin-users-wrap", "property": "children"},
        ],
        "inputs": [{"id": "admin-apply", "property": "n_clicks", "value": 1}],
        "state": [
            {"id": "admin-user", "property": "value", "value": "erin"},
            {"id": "admin-role", "property": "value", "value": "admin"},
            {"id": "admin-scope", "property": "value", "value": None},
            {"id": "admin-status", "property": "value", "value": None},
        ],
        "changedPropIds": ["admin-apply.n_clicks"],
    }
    assert client.post("/_dash-update-component", json=body).status_code == 403
    users = app.server.extensions["starboard"].users
    assert users.by_name("erin").role == "executive"
    admin = client_as("admin")
    assert admin.post("/_dash-update-component", json=body).status_code == 200
    assert users.by_name("erin").role == "admin"
    assert users.audit_log(1)[0]["event"] == "role_changed"
    assert users.audit_log(1)[0]["actor"] == "ada"


@pytest.mark.parametrize("body", [None, [], {"output": 3}, {"output": "nope.children"}])
def test_malformed_callback_payloads_are_400(client_as, body) -> None:
    client = client_as("admin")
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_next_never_leaves_the_site(client_as, target: str) -> None:
    add_users_client = client_as(None)
    response = sign_in(add_users_client, "ada", next_url=target)
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_next_keeps_a_local_bookmark_with_its_query(client_as) -> None:
    client = client_as(None)
    response = sign_in(client, "erin", next_url="/quality?period=2026-10&x=1")
    assert response.headers["Location"] == "/quality?period=2026-10&x=1"


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("erin", "wrong-password", "Wrong user name or password."),
        ("nobody", PASSWORD, "Wrong user name or password."),
    ],
)
def test_wrong_credentials_say_so_without_revealing_users(
    client_as, name, password, message
) -> None:
    client = client_as(None)
    response = sign_in(client, name, password)
    assert response.status_code == 401 and message in response.get_data(as_text=True)
    assert client.get("/quality").status_code == 302


def test_disabled_user_cannot_sign_in_or_keep_a_session(app, client_as) -> None:
    client = client_as("operator")
    app.server.extensions["starboard"].users.set_disabled("oscar")
    assert client.get("/quality").status_code == 302  # the live session stops working
    response = sign_in(client_as(None), "oscar")
    assert response.status_code == 401 and "disabled" in response.get_data(as_text=True)


def test_throttling_after_five_failures(client_as) -> None:
    client = client_as(None)
    for _ in range(5):
        assert sign_in(client, "ana", "nope-nope-nope").status_code == 401
    response = sign_in(client, "ana", PASSWORD)  # even the right password waits
    assert response.status_code == 429 and "wait 15 minutes" in response.get_data(as_text=True)


def test_login_form_needs_its_csrf_token(client_as) -> None:
    client = client_as(None)
    client.get("/login")
    response = client.post("/login", data={"username": "ada", "password": PASSWORD})
    assert response.status_code == 400 and "expired" in response.get_data(as_text=True)


def test_tampered_session_cookie_is_anonymous(client_as) -> None:
    client = client_as("admin")
    cookie = client.get_cookie("starboard_session")
    client.set_cookie("starboard_session", cookie.value[:-4] + "AAAA")
    assert client.get("/admin").status_code == 302


def test_idle_session_expires_and_says_so(app, client_as) -> None:
    client = client_as("analyst")
    with client.session_transaction() as sess:
        sess["seen"] = time.time() - 2 * 3600
    response = client.get("/quality")
    assert response.status_code == 302 and "expired=1" in response.headers["Location"]
    assert "session expired" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_absolute_timeout_even_when_active(client_as) -> None:
    client = client_as("analyst")
    with client.session_transaction() as sess:
        sess["login_at"] = time.time() - 13 * 3600
    assert client.get("/quality").status_code == 302


def test_cookie_flags_and_remember_me(client_as, app) -> None:
    client = client_as(None)
    response = sign_in(client, "ana")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie and "Expires" not in cookie  # a browser-session cookie
    remembered = sign_in(app.server.test_client(), "ana", remember=True)
    assert "Expires" in remembered.headers["Set-Cookie"]
    secure = app.server.test_client()
    page = secure.get("/login", base_url="https://sb.example").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    over_https = secure.post(
        "/login",
        base_url="https://sb.example",
        data={"csrf_token": token, "username": "ana", "password": PASSWORD, "next": "/"},
    )
    assert "Secure" in over_https.headers["Set-Cookie"]


def test_logout_needs_csrf_and_ends_the_session(client_as) -> None:
    client = client_as("analyst")
    assert client.post("/logout").status_code == 400
    with client.session_transaction() as sess:
        token = sess["csrf"]
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/quality").status_code == 302


def test_security_headers(client_as) -> None:
    response = client_as("analyst").get("/quality")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_api_tokens(app) -> None:
    add_users(app)
    users = app.server.extensions["starboard"].users
    token = users.create_token("ana", "ci")
    client = app.server.test_client()
    ok = client.post(
        "/api/v1/query", json={"metrics": ["revenue"]}, headers={"Authorization": f"Bearer {token}"}
    )
    assert ok.status_code == 200, ok.get_data(as_text=True)
    bad = client.post(
        "/api/v1/query",
        json={"metrics": ["revenue"]},
        headers={"Authorization": "Bearer sb_forged"},
    )
    assert bad.status_code == 401
    exec_token = users.create_token("erin")
    denied = client.post(
        "/api/v1/query",
        json={"metrics": ["revenue"]},
        headers={"Authorization": f"Bearer {exec_token}"},
    )
    assert denied.status_code == 403
    users.set_disabled("ana")
    assert (
        client.post(
            "/api/v1/query",
            json={"metrics": ["revenue"]},
            headers={"Authorization": f"Bearer {token}"},
        ).status_code
        == 401
    )


def test_navigation_lists_only_what_the_role_may_open(client_as) -> None:
    words = texts(render(client_as("executive"), "/"))
    assert "Quality" in words and "Admin" not in words
    assert "Admin" in texts(render(client_as("admin"), "/"))


def test_session_is_fresh_after_sign_in(app) -> None:
    add_users(app)
    client = app.server.test_client()
    with client.session_transaction() as sess:
        sess["planted"] = "attacker"
    sign_in(client, "ana")
    with client.session_transaction() as sess:
        assert "planted" not in sess
    assert flask_session is not None
