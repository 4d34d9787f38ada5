"""A demo warehouse big enough for the planted stories to stand out day by day.

The session's tiny demo (40k interactions) has days without a single tablet visitor by
chance; at 600k the tablet outage (2025-09-17) is the only such day, as in the real demo.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

ALERTS_DEMO_INTERACTIONS = 600_000


@pytest.fixture(scope="session")
def alerts_demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo (generator → loader) at 600k interactions, seed 7: its URL."""
    from app.loader.generate import generate
    from app.loader.load import load

    root = tmp_path_factory.mktemp("alerts_demo")
    generate(root / "raw", interactions=ALERTS_DEMO_INTERACTIONS, seed=7)
    url = f"duckdb:///{root / 'warehouse.duckdb'}"
    load(root / "raw", url)
    return url


@dataclass
class Hook:
    """A local webhook: answers with ``statuses`` in turn (then 200); records bodies."""

    statuses: list[int] = field(default_factory=list)
    bodies: list[dict] = field(default_factory=list)
    hang: bool = False
    url: str = ""


@pytest.fixture
def webhook() -> Iterator:
    """``webhook(statuses=[500, 500], hang=False)`` → a Hook listening on 127.0.0.1."""
    import json

    servers = []

    def make(statuses: list[int] | None = None, hang: bool = False) -> Hook:
        hook = Hook(list(statuses or []), hang=hang)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if hook.hang:
                    threading.Event().wait(5)
                    return
                hook.bodies.append(json.loads(body))
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_args) -> None:
                return

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        hook.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        return hook

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"
