"""Sessions, attacked: a cookie copied before sign-out, a password reset, disabling or a
role or scope change is refused everywhere afterwards (pages, Dash endpoints and the API),
and the idle and absolute timeouts hold on the API as they do on pages."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.conftest import PASSWORD, add_users, render, sign_in, signed_in, texts

# The three API routes the tester reached with stale sessions, and how to call each.
API_CALLS = [
    ("POST", "/api/v1/query", {"json": {"metrics": ["revenue"]}}),
    ("GET", "/api/v1/export/detail?metric=revenue", {}),
    ("GET", "/api/v1/sql/export.csv?q=SELECT%201%20AS%20x", {}),
]


def _copy_of(app, client):
    """A second browser holding a copy of ``client``'s session cookie, as a thief would."""
    thief = app.server.test_client()
    thief.set_cookie("starboard_session", client.get_cookie("starboard_session").value)
    return thief


def _api_statuses(client) -> list[int]:
    return [client.open(path, method=method, **kw).status_code for method, path, kw in API_CALLS]


def _assert_refused_everywhere(client) -> None:
    page = client.get("/quality")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login?")
    assert client.get("/_dash-layout").status_code == 401
    body = {"output": "x.children", "outputs": [], "inputs": [], "state": []}
    assert client.post("/_dash-update-component", json=body).status_code == 401
    for (_, path, _kw), status in zip(API_CALLS, _api_statuses(client), strict=True):
        assert status == 401, path


def _logout(client) -> None:
    with client.session_transaction() as sess:
        token = sess["csrf"]
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302 and "signed_out=1" in response.headers["Location"]


def test_a_live_session_reaches_pages_callbacks_and_the_api(app) -> None:
    """The control: what the attacks below must lose."""
    add_users(app)
    client = signed_in(app, "ana")
    assert client.get("/quality").status_code == 200
    assert "No access" not in texts(render(client, "/quality"))
    assert _api_statuses(client) == [200, 200, 200]
    assert _api_statuses(_copy_of(app, client)) == [200, 200, 200]


def test_sign_out_ends_every_copy_of_the_session(app) -> None:
    add_users(app)
    client = signed_in(app, "ana")
    copied, second_copy = _copy_of(app, client), _copy_of(app, client)
    other_browser = signed_in(app, "ana")  # the same user signed in elsewhere
    bystander = signed_in(app, "ada")  # another user
    _logout(client)
    _assert_refused_everywhere(copied)
    _assert_refused_everywhere(other_browser)  # sign-out is everywhere, and says so:
    notice = client.get("/login?signed_out=1").get_data(as_text=True)
    assert "every other one you were signed in on" in notice
    assert bystander.get("/quality").status_code == 200
    redirect = second_copy.get("/t2/explore").headers["Location"]
    assert "ended=1" in redirect and "next=/t2/explore" in redirect
    assert "Your session was ended" in second_copy.get(redirect).get_data(as_text=True)
    again = app.server.test_client()
    assert sign_in(again, "ana").status_code == 302  # signing in again works
    assert again.get("/quality").status_code == 200


CHANGES: dict[str, Callable] = {
    "password_reset": lambda users: users.reset_password("ana", "a-new-password-1"),
    "disabled": lambda users: users.set_disabled("ana"),
    "role_changed": lambda users: users.set_role("ana", "operator"),
    "scope_changed": lambda users: users.set_scopes("ana", (("region", ("EMEA",)),)),
}


@pytest.mark.parametrize("change", CHANGES)
def test_account_changes_end_copied_sessions(app, change: str) -> None:
    add_users(app)
    client = signed_in(app, "ana")
    copied = _copy_of(app, client)
    assert _api_statuses(copied) == [200, 200, 200]
    users = app.server.extensions["starboard"].users
    CHANGES[change](users)
    assert users.audit_log(1)[0]["event"] in (change, "user_disabled")
    _assert_refused_everywhere(copied)
    _assert_refused_everywhere(client)


def test_old_password_no_longer_signs_in_after_a_reset(app) -> None:
    add_users(app)
    app.server.extensions["starboard"].users.reset_password("ana", "a-new-password-1")
    assert sign_in(app.server.test_client(), "ana", PASSWORD).status_code == 401
    assert sign_in(app.server.test_client(), "ana", "a-new-password-1").status_code == 302


def test_a_session_without_a_generation_is_refused(app) -> None:
    """A cookie signed in before sessions carried a generation (or forged without one)."""
    add_users(app)
    client = signed_in(app, "ana")
    with client.session_transaction() as sess:
        del sess["gen"]
    _assert_refused_everywhere(client)


@pytest.mark.parametrize(
    ("key", "age"),
    [("seen", 3 * 3600), ("login_at", 13 * 3600)],
    ids=["idle-3h", "signed-in-13h-ago"],
)
def test_timeouts_hold_on_the_api(app, key: str, age: int) -> None:
    add_users(app)
    for method, path, kw in API_CALLS:
        client = signed_in(app, "ana")
        assert client.open(path, method=method, **kw).status_code == 200, path
        with client.session_transaction() as sess:
            sess[key] = time.time() - age
        response = client.open(path, method=method, **kw)
        assert response.status_code == 401, path
        assert "session has ended" in response.get_json()["error"]["message"]
        with client.session_transaction() as sess:
            assert "_user_id" not in sess  # the expired session is gone
        assert client.get("/quality").status_code == 302


def test_api_activity_keeps_a_session_alive(app) -> None:
    add_users(app)
    client = signed_in(app, "ana")
    with client.session_transaction() as sess:
        sess["seen"] = time.time() - 50 * 60  # idle 50 min of the 60 allowed
    assert client.post("/api/v1/query", json={"metrics": ["revenue"]}).status_code == 200
    with client.session_transaction() as sess:
        assert time.time() - sess["seen"] < 60
