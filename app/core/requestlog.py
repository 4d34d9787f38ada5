"""The request id and the queries of the request being served.

Kept apart from ``app/core/serving.py`` (which also wires compression and Dash's static
files) so that the semantic layer can note its queries without importing the web stack.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field

from flask import Request, has_request_context, request

HEADER = "X-Request-ID"
_ENVIRON_KEY = "starboard.request"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass
class RequestLog:
    """What one request's log line reports, kept in its WSGI environ (threads that copied
    the request context share it)."""

    id: str
    started: float = field(default_factory=time.perf_counter)
    queries: list[tuple[str, bool]] = field(default_factory=list)  # (query id, cache hit)


def incoming_id(req: Request) -> str:
    """The client's ``X-Request-ID`` when it is sane, else a new id."""
    sent = req.headers.get(HEADER, "").strip()
    return sent if _SANE_ID.match(sent) else uuid.uuid4().hex


def begin(req: Request) -> RequestLog:
    """The request's log record, created on first use."""
    found = req.environ.get(_ENVIRON_KEY)
    if found is None:
        found = req.environ[_ENVIRON_KEY] = RequestLog(incoming_id(req))
    return found


def current() -> RequestLog | None:
    """The record of the request being served (None outside a request or before it began)."""
    if not has_request_context():
        return None
    return request.environ.get(_ENVIRON_KEY)


def request_id() -> str | None:
    """The id of the request being served (None outside a request)."""
    found = current()
    return found.id if found else None


def note_query(query_id: str, cache_hit: bool) -> None:
    """Record a query under the current request, for its log line."""
    found = current()
    if found is not None:
        found.queries.append((query_id, cache_hit))
