"""Data problems reported from a page: what, where, when, by whom; triaged on
/quality/problems (open → acknowledged → resolved, with an assignee and a comment)."""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa

from app.core import meta, urls
from app.core.auth import Users, require, signed_in_user
from app.core.errors import DataError
from app.core.meta import MetaDB
from app.core.runtime import current_runtime

MAX_TEXT = 4000
MAX_COMMENT = 2000
STATUSES = ("open", "acknowledged", "resolved")
# Where each state may go: forward, or reopened when the fix did not hold.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("acknowledged", "resolved"),
    "acknowledged": ("resolved", "open"),
    "resolved": ("open",),
}


def report(db: MetaDB, *, reporter: str, url: str, period: str, text: str) -> int:
    """Store a report; DataError when the text is empty or too long, or when ``url`` is not
    a path of this site (it is rendered as a link on /quality/problems). Returns its id."""
    if urls.local_path(url) is None:
        raise DataError("A problem can only be reported from a page of this site.")
    text = (text or "").strip()
    if not text:
        raise DataError("Describe the problem first: what looks wrong, and where?")
    if len(text) > MAX_TEXT:
        raise DataError(f"Please keep the description under {MAX_TEXT:,} characters.")
    with db.begin() as conn:
        result = conn.execute(
            meta.problems.insert().values(
                at=meta.now(),
                reporter=reporter,
                url=url[:2000],
                period=period[:40],
                text=text,
                status="open",
                assignee="",
                comment="",
            )
        )
        return int(cast(sa.Row[Any], result.inserted_primary_key)[0])


def recent(db: MetaDB, limit: int = 100) -> list[dict]:
    """The latest reports, newest first."""
    with db.connect() as conn:
        rows = (
            conn.execute(sa.select(meta.problems).order_by(meta.problems.c.id.desc()).limit(limit))
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


def submit_as_signed_in(
    permission: str, text: str | None, pathname: str | None, search: str | None
) -> tuple[bool, str]:
    """:func:`submit` for the signed-in user, who must hold ``permission`` (the page's)."""
    user = signed_in_user()
    require(user, permission)
    assert user is not None
    return submit(current_runtime().users.db, user.name, text, pathname, search)


def submit(
    db: MetaDB, reporter: str | None, text: str | None, pathname: str | None, search: str | None
) -> tuple[bool, str]:
    """Store a report made on the page at ``pathname?search``: (stored, message to show).

    The page's path must be a path of this site; a backslash or control character in the
    query string is percent-encoded, so the stored link opens the same view here and
    nowhere else.
    """
    if not reporter:
        return False, "Sign in to report a problem."
    if not isinstance(pathname, str) or urls.local_path(pathname) is None:
        return False, "A problem can only be reported from a page of this site."
    search = urls.escape_unsafe(search) if isinstance(search, str) else ""
    if search and not search.startswith("?"):
        search = "?" + search
    period = ""
    if "period=" in search:
        period = search.split("period=", 1)[1].split("&", 1)[0]
    if not isinstance(text, str):
        text = ""
    try:
        number = report(db, reporter=reporter, url=f"{pathname}{search}", period=period, text=text)
    except DataError as exc:
        return False, exc.message
    except meta.MetaUnavailable:
        return False, (
            "Not sent: the report could not be stored because the user database "
            "is not answering. Your text is kept here: try again in a minute."
        )
    return True, f"Thank you: reported as problem #{number}."


def get(db: MetaDB, problem_id: int) -> dict | None:
    """One report, or None."""
    with db.connect() as conn:
        row = (
            conn.execute(sa.select(meta.problems).where(meta.problems.c.id == problem_id))
            .mappings()
            .first()
        )
    return dict(row) if row else None


def listing(
    db: MetaDB, *, status: str | None = None, reporter: str | None = None, limit: int = 200
) -> list[dict]:
    """Reports, newest first, optionally of one status or one reporter."""
    if status is not None and status not in STATUSES:
        raise DataError(f"Unknown status {status!r}: use one of {', '.join(STATUSES)}.")
    query = sa.select(meta.problems).order_by(meta.problems.c.id.desc()).limit(limit)
    if status:
        query = query.where(meta.problems.c.status == status)
    if reporter:
        query = query.where(meta.problems.c.reporter == reporter)
    with db.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings().all()]


def counts(db: MetaDB) -> dict[str, int]:
    """How many reports are in each status."""
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(meta.problems.c.status, sa.func.count()).group_by(meta.problems.c.status)
        ).all()
    found = {status: int(n) for status, n in rows}
    return {status: found.get(status, 0) for status in STATUSES}


def triage(
    users: Users,
    problem_id: int,
    *,
    actor: str,
    status: str | None = None,
    assignee: str | None = None,
    comment: str | None = None,
) -> dict:
    """Move a report along its lifecycle, (re)assign it, comment on it; audited.

    ``None`` leaves a field as it is; ``assignee=""`` clears it. DataError names what is
    wrong: an unknown report, status or user, a transition that is not allowed, nothing
    to change.
    """
    db = users.db
    row = get(db, problem_id)
    if row is None:
        raise DataError(f"There is no reported problem #{problem_id}.")
    values: dict[str, object] = {}
    old = row["status"]
    if status is not None and status != old:
        if status not in STATUSES:
            raise DataError(f"Unknown status {status!r}: use one of {', '.join(STATUSES)}.")
        if status not in TRANSITIONS.get(old, ()):
            allowed = " or ".join(TRANSITIONS.get(old, ())) or "nothing"
            raise DataError(
                f"Problem #{problem_id} is {old}: it can go to {allowed}, not {status}."
            )
        values["status"] = status
    if assignee is not None and assignee.strip() != row["assignee"]:
        name = assignee.strip()
        if name:
            user = users.by_name(name)
            if user is None or user.disabled:
                raise DataError(
                    f"Cannot assign problem #{problem_id} to {name!r}: there is "
                    "no active user of that name."
                )
        values["assignee"] = name
    if comment is not None and comment.strip():
        text = comment.strip()
        if len(text) > MAX_COMMENT:
            raise DataError(f"Please keep the comment under {MAX_COMMENT:,} characters.")
        values["comment"] = text
    if not values:
        raise DataError(
            f"Nothing to change on problem #{problem_id}: pick a new status, "
            "an assignee or write a comment."
        )
    values.update(updated_at=meta.now(), updated_by=actor)
    with db.begin() as conn:
        changed = conn.execute(
            meta.problems.update()
            .where((meta.problems.c.id == problem_id) & (meta.problems.c.status == old))
            .values(**values)
        ).rowcount
    if not changed:
        raise DataError(
            f"Problem #{problem_id} was changed by someone else a moment ago: reload and try again."
        )
    detail: dict[str, object] = {"problem": problem_id}
    if "status" in values:
        detail["status"] = f"{old} → {values['status']}"
    if "assignee" in values:
        detail["assignee"] = values["assignee"] or "(none)"
    if "comment" in values:
        detail["comment"] = values["comment"]
    users.audit(actor, "problem_triage", detail)
    return get(db, problem_id) or {}
