"""A problem report made while the metadata database is locked says so and loses nothing."""

from __future__ import annotations

from app.core.stores import problems


def test_a_problem_report_on_a_locked_metadata_db_says_why_and_keeps_the_text(locked_app) -> None:
    app, lock = locked_app
    db = app.server.extensions["starboard"].users.db
    holder = lock()
    stored, message = problems.submit(
        db, "ana", "Revenue looks doubled", "/t0/company", "?period=2026-10"
    )
    assert not stored
    assert "not answering" in message and "try again" in message
    holder.close()  # the lock is gone: the same report works
    stored, message = problems.submit(
        db, "ana", "Revenue looks doubled", "/t0/company", "?period=2026-10"
    )
    assert stored and message.startswith("Thank you")
    assert [p["text"] for p in problems.recent(db)] == ["Revenue looks doubled"]
