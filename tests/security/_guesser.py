"""A separate process guessing one user's password from many threads at once, for the
cross-process throttling test (kept free of test imports: spawned processes import it)."""

from __future__ import annotations

import threading


def guess(url: str, threads: int, ready, go, results) -> None:
    """Wait for ``go``, then make ``threads`` simultaneous wrong guesses for ``ana`` from
    one address; put how many passwords were actually checked on ``results``."""
    import app.core.auth as auth
    from app.core.meta import MetaDB

    checked = []
    original = auth.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        checked.append(1)
        return original(pwhash, password)

    auth.check_password_hash = counting
    users = auth.Users(MetaDB(url))
    assert users.by_name("ana") is not None  # the engine is open before the race
    start = threading.Barrier(threads)

    def one() -> None:
        start.wait()
        try:
            users.authenticate("ana", "wrong-guess", "10.9.9.9")
        except auth.AccessDenied:
            pass

    ready.put(1)
    go.wait(60)
    workers = [threading.Thread(target=one) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    users.db.dispose()
    results.put(len(checked))
