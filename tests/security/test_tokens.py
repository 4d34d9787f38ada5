"""API tokens, attacked: revoked and expired tokens get 401, listings never show a
secret, /admin revokes (admins only, audited), and a locked metadata database neither
fails nor stalls a token call."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.core import meta
from app.core.auth import TOKEN_TOUCH_INTERVAL, AccessError
from tests.conftest import add_users, find, render, signed_in, texts

QUERY = {"metrics": ["revenue"]}


def _call(app, token: str) -> int:
    client = app.server.test_client()
    return client.post(
        "/api/v1/query", json=QUERY, headers={"Authorization": f"Bearer {token}"}
    ).status_code


def _stored_hashes(users) -> list[str]:
    with users.db.engine.connect() as conn:
        return list(conn.execute(sa.select(meta.tokens.c.token_hash)).scalars())


def test_revoked_and_expired_tokens_get_401(app) -> None:
    add_users(app)
    users = app.server.extensions["starboard"].users
    keep, revoke, expire = (
        users.create_token("ana", label, expires_days=days)
        for label, days in (("keep", None), ("old", None), ("temp", 1))
    )
    assert [_call(app, t) for t in (keep, revoke, expire)] == [200, 200, 200]
    ids = {t.label: t.id for t in users.tokens("ana")}
    users.revoke_token(ids["old"], actor="ada")
    with users.db.engine.begin() as conn:  # a day later for the one-day token
        conn.execute(
            meta.tokens.update()
            .where(meta.tokens.c.id == ids["temp"])
            .values(expires_at=meta.now() - timedelta(seconds=1))
        )
    assert [_call(app, t) for t in (keep, revoke, expire)] == [200, 401, 401]
    status = {t.label: t.status() for t in users.tokens("ana")}
    assert status == {"keep": "active", "old": "revoked", "temp": "expired"}
    event = users.audit_log(1)[0]
    assert (event["event"], event["actor"]) == ("token_revoked", "ada")


def test_token_listing_never_shows_a_secret(app) -> None:
    add_users(app)
    users = app.server.extensions["starboard"].users
    token = users.create_token("ana", "ci", expires_days=30)
    listed = users.tokens("ana")
    text = repr(listed)
    assert token not in text and not any(h in text for h in _stored_hashes(users))
    assert listed[0].expires_at - listed[0].created_at == timedelta(days=30)
    with pytest.raises(AccessError, match="No user named"):
        users.tokens("nobody")


@pytest.mark.parametrize("days", [0, -3, 100_000])
def test_token_expiry_must_be_sensible(app, days: int) -> None:
    add_users(app)
    with pytest.raises(AccessError, match="expires after 1 to"):
        app.server.extensions["starboard"].users.create_token("ana", expires_days=days)


def test_revoking_an_unknown_token_says_so(app) -> None:
    with pytest.raises(AccessError, match="No API token with id 999"):
        app.server.extensions["starboard"].users.revoke_token(999)


def test_last_use_is_written_at_most_once_a_minute(app) -> None:
    add_users(app)
    users = app.server.extensions["starboard"].users
    token = users.create_token("ana", "ci")
    writes: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        if statement.startswith("UPDATE sb_token SET last_used_at") and "id = ?" in statement:
            writes.append(statement)

    sa.event.listen(users.db.engine, "before_cursor_execute", count)
    for _ in range(5):
        assert _call(app, token) == 200
    assert len(writes) == 1
    first = users.tokens("ana")[0].last_used_at
    with users.db.engine.begin() as conn:  # a minute later
        conn.execute(meta.tokens.update().values(last_used_at=first - TOKEN_TOUCH_INTERVAL))
    assert _call(app, token) == 200
    assert len(writes) == 2 and users.tokens("ana")[0].last_used_at >= first
    sa.event.remove(users.db.engine, "before_cursor_execute", count)


def test_a_locked_metadata_db_neither_fails_nor_stalls_a_token_call(locked_app) -> None:
    """The database is locked for writes far longer than the busy timeout: the token is
    still read and served; only its "last used" stamp waits for a later call."""
    app, lock = locked_app
    users = app.server.extensions["starboard"].users
    token = users.create_token("ana", "ci")
    holder = lock()
    started = time.perf_counter()
    assert _call(app, token) == 200
    assert time.perf_counter() - started < 0.3 + 2  # not the busy timeout, not 15 s
    holder.rollback()
    assert users.tokens("ana")[0].last_used_at is None
    assert _call(app, token) == 200
    assert users.tokens("ana")[0].last_used_at is not None


def _revoke_body(token_id: object) -> dict:
    return {
        "output": "..admin-token-message.children...admin-tokens-wrap.children..."
        "admin-token.options...admin-token.value..",
        "outputs": [
            {"id": "admin-token-message", "property": "children"},
            {"id": "admin-tokens-wrap", "property": "children"},
            {"id": "admin-token", "property": "options"},
            {"id": "admin-token", "property": "value"},
        ],
        "inputs": [{"id": "admin-revoke", "property": "n_clicks", "value": 1}],
        "state": [{"id": "admin-token", "property": "value", "value": token_id}],
        "changedPropIds": ["admin-revoke.n_clicks"],
    }


def test_admin_lists_and_revokes_tokens(app) -> None:
    add_users(app)
    users = app.server.extensions["starboard"].users
    token = users.create_token("ana", "nightly-etl", expires_days=7)
    token_id = users.tokens("ana")[0].id
    admin = signed_in(app, "ada")
    page = render(admin, "/admin")
    words = " ".join(texts(find(page, "admin-tokens")))
    assert "nightly-etl" in words and "ana" in words and "active" in words
    assert token not in str(page) and not any(h in str(page) for h in _stored_hashes(users))
    for who in ("erin", "ana"):  # not admins: refused by the gate
        other = signed_in(app, who)
        assert other.post("/_dash-update-component", json=_revoke_body(token_id)).status_code == 403
    forged = admin.post(
        "/_dash-update-component",
        json=_revoke_body(token_id),
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert forged.status_code == 403 and _call(app, token) == 200
    for bad in ("1; DROP TABLE sb_token", [token_id], {"id": token_id}, True, None):
        response = admin.post("/_dash-update-component", json=_revoke_body(bad))
        assert response.status_code == 200
        assert "Choose a token" in str(response.get_json()["response"]["admin-token-message"])
    assert _call(app, token) == 200
    done = admin.post("/_dash-update-component", json=_revoke_body(token_id))
    assert done.status_code == 200
    assert "revoked" in str(done.get_json()["response"]["admin-token-message"])
    assert _call(app, token) == 401
    event = users.audit_log(1)[0]
    assert (event["event"], event["actor"]) == ("token_revoked", "ada")
