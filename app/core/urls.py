"""The one rule for "a path of this site": used for ``next=`` after sign-in and for the page a
problem report links back to, so an address a browser would resolve elsewhere is never
followed, stored or rendered as a link.

Browsers are more forgiving than ``urlsplit``: Chromium and Firefox read ``\\`` as ``/`` in an
http URL (``/\\evil.example`` is ``//evil.example``, another host) and drop tabs and newlines
anywhere (``/\\t/evil.example`` is ``//evil.example`` too). The rule is therefore stricter than
"no scheme, no host": a local path starts with exactly one ``/`` and carries no backslash
and no control character at all.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# C0 controls, DEL and the backslash: what browsers strip or rewrite before parsing.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")


def local_path(target: object) -> str | None:
    """``target`` when it is a path (with query) that resolves on this site, else None."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return None
    if _UNSAFE.search(target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def escape_unsafe(text: str) -> str:
    """``text`` with backslashes and control characters percent-encoded: a query string a
    browser reported keeps its meaning and can no longer be rewritten into another host."""
    return _UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", text)
