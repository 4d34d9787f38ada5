"""Sign-in, attacked: throttling that nobody can turn into a lockout from elsewhere and
that holds under parallel guesses (threads, processes, PostgreSQL); no user-name
enumeration by timing; a clear 503 when the metadata database is locked."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

import app.core.auth as auth
from app.core.auth import THROTTLE_IP_LIMIT, THROTTLE_LIMIT, AccessDenied, Throttled, Users
from app.core.meta import MetaDB
from tests.conftest import PASSWORD, add_users, sign_in


def _from(app, ip: str):
    """A browser at address ``ip``."""
    client = app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


@pytest.fixture
def checked(monkeypatch) -> list[str]:
    """The password hashes check_password_hash was asked about, in order."""
    calls: list[str] = []
    original = auth.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        calls.append(pwhash)
        return original(pwhash, password)

    monkeypatch.setattr(auth, "check_password_hash", counting)
    return calls


def test_failures_from_one_address_do_not_lock_the_user_out_elsewhere(app) -> None:
    add_users(app)
    attacker = _from(app, "203.0.113.7")
    for _ in range(THROTTLE_LIMIT):
        assert sign_in(attacker, "ana", "nope-nope-nope").status_code == 401
    refused = sign_in(attacker, "ana", PASSWORD)  # the attacker's address waits
    assert refused.status_code == 429 and "wait 15 minutes" in refused.get_data(as_text=True)
    real_user = _from(app, "198.51.100.20")
    assert sign_in(real_user, "ana", PASSWORD).status_code == 302
    assert real_user.get("/quality").status_code == 200
    assert sign_in(_from(app, "203.0.113.7"), "ada", PASSWORD).status_code == 302


def test_one_address_has_a_budget_over_all_names(app) -> None:
    """Spraying one password over many names from one address stops at the address's
    budget, although no single name reached its limit."""
    users = app.server.extensions["starboard"].users
    add_users(app)
    for i in range(THROTTLE_IP_LIMIT):
        with pytest.raises(AccessDenied, match="Wrong user name or password"):
            users.authenticate(f"user{i}", "Summer2026!", "203.0.113.8")
    with pytest.raises(Throttled):
        users.authenticate("ana", PASSWORD, "203.0.113.8")
    assert users.authenticate("ana", PASSWORD, "203.0.113.9").name == "ana"
    assert users.audit_log(2)[1]["event"] == "login_throttled"


def _race(users: Users, threads: int, ip: str = "10.8.8.8") -> list[BaseException | None]:
    """``threads`` wrong guesses for ``ana`` from one address, released at once."""
    start = threading.Barrier(threads)
    outcomes: list[BaseException | None] = []

    def one() -> None:
        start.wait()
        try:
            users.authenticate("ana", "wrong-guess", ip)
            outcomes.append(None)
        except (AccessDenied, auth.MetaUnavailable) as exc:
            outcomes.append(exc)

    workers = [threading.Thread(target=one) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return outcomes


def test_thirty_parallel_guesses_evaluate_at_most_the_limit(tmp_path: Path, checked) -> None:
    users = Users(MetaDB(f"sqlite:///{tmp_path / 'meta.sqlite'}"))
    users.add("ana", "analyst", PASSWORD)
    outcomes = _race(users, 30)
    assert len(checked) <= THROTTLE_LIMIT
    assert sum(isinstance(o, Throttled) for o in outcomes) == 30 - len(checked)
    assert all(isinstance(o, AccessDenied) for o in outcomes)  # none passed, none crashed
    users.db.dispose()


def test_parallel_guesses_from_several_processes_evaluate_at_most_the_limit(tmp_path: Path) -> None:
    """Three processes (gunicorn workers) × ten threads on one SQLite file."""
    url = f"sqlite:///{tmp_path / 'meta.sqlite'}"
    users = Users(MetaDB(url))
    users.add("ana", "analyst", PASSWORD)
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    from tests.security._guesser import guess

    procs = [ctx.Process(target=guess, args=(url, 10, ready, go, results)) for _ in range(3)]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=120)
    go.set()
    evaluated = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    assert 1 <= sum(evaluated) <= THROTTLE_LIMIT, evaluated
    users.db.dispose()


@pytest.mark.postgres
def test_parallel_guesses_on_postgresql_evaluate_at_most_the_limit(
    pg_empty_url: str, checked
) -> None:
    users = Users(MetaDB(pg_empty_url))
    users.add("ana", "analyst", PASSWORD)
    outcomes = _race(users, 30)
    assert 1 <= len(checked) <= THROTTLE_LIMIT
    assert all(isinstance(o, AccessDenied) for o in outcomes)
    with pytest.raises(Throttled):
        users.authenticate("ana", PASSWORD, "10.8.8.8")
    assert users.authenticate("ana", PASSWORD, "10.8.8.9").name == "ana"
    users.db.dispose()


def test_unknown_names_cost_a_password_check_too(app, checked) -> None:
    """No timing oracle: the password is hashed whether or not the name exists (against a
    dummy scrypt hash of the same cost), once per attempt."""
    add_users(app)
    assert sign_in(_from(app, "10.1.1.1"), "nobody", PASSWORD).status_code == 401
    assert len(checked) == 1 and checked[0].startswith("scrypt:")
    users = app.server.extensions["starboard"].users
    with pytest.raises(AccessDenied, match="Wrong user name or password"):
        users.authenticate("erin", "wrong-password", "10.1.1.2")
    assert len(checked) == 2
    known = (
        users.db.engine.connect()
        .exec_driver_sql("SELECT password_hash FROM sb_user WHERE name = 'erin'")
        .scalar()
    )
    # same method and cost parameters as a real user's hash
    assert checked[0].split("$")[0] == checked[1].split("$")[0] == known.split("$")[0]


def test_sign_in_says_503_while_the_metadata_db_is_locked(locked_app) -> None:
    app, lock = locked_app
    client = app.server.test_client()
    holder = lock()
    response = sign_in(client, "ana")
    assert response.status_code == 503
    assert "user database is not answering" in response.get_data(as_text=True)
    holder.rollback()
    assert sign_in(client, "ana").status_code == 302
