"""Data problems reported from a page: what, where, when, by whom; triaged on /admin."""

from __future__ import annotations

import sqlalchemy as sa

from app import meta
from app.errors import DataError
from app.meta import MetaDB

MAX_TEXT = 4000


def report(db: MetaDB, *, reporter: str, url: str, period: str, text: str) -> int:
    """Store a report; DataError when the text is empty or too long. Returns its id."""
    text = (text or "").strip()
    if not text:
        raise DataError("Describe the problem first: what looks wrong, and where?")
    if len(text) > MAX_TEXT:
        raise DataError(f"Please keep the description under {MAX_TEXT:,} characters.")
    with db.engine.begin() as conn:
        result = conn.execute(meta.problems.insert().values(
            at=meta.now(), reporter=reporter, url=url[:2000], period=period[:40], text=text,
            status="open", assignee="", comment=""))
        return int(result.inserted_primary_key[0])


def recent(db: MetaDB, limit: int = 100) -> list[dict]:
    """The latest reports, newest first."""
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(meta.problems).order_by(meta.problems.c.id.desc())
                            .limit(limit)).mappings().all()
    return [dict(r) for r in rows]


def submit(db: MetaDB, reporter: str | None, text: str | None, pathname: str | None,
           search: str | None) -> tuple[bool, str]:
    """Store a report made on the page at ``pathname?search``: (stored, message to show)."""
    if not reporter:
        return False, "Sign in to report a problem."
    period = ""
    if search and "period=" in search:
        period = search.split("period=", 1)[1].split("&", 1)[0]
    try:
        number = report(db, reporter=reporter, url=f"{pathname or ''}{search or ''}",
                        period=period, text=text or "")
    except DataError as exc:
        return False, exc.message
    return True, f"Thank you: reported as problem #{number}."
