"""Browser tests need Debian's chromium and chromedriver: skipped without them, failed in CI."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.conftest import CHROMEDRIVER, CHROMIUM, PASSWORD, add_users, make_app, unavailable


@pytest.fixture
def browser_ready() -> None:
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        unavailable(
            "Debian chromium and chromium-driver are not installed "
            "(apt-get install chromium chromium-driver)"
        )


def open_signed_in(
    dash_duo,
    tiny_demo: str,
    home,
    path: str,
    user: str = "erin",
    ready: str = "body[data-sb-ready='1']",
    **overrides: Any,
):
    """Serve an app on the tiny demo (or the warehouse URL given, with setting
    ``overrides``), open ``path`` signed out (as a bookmark would), sign in through the
    form, and wait for ``ready``; returns the app."""
    app = make_app(tiny_demo, home, **overrides)
    add_users(app)
    dash_duo.start_server(app, navigate=False)
    dash_duo.driver.get(f"{dash_duo.server.url}{path}")
    dash_duo.wait_for_element("#username", timeout=15).send_keys(user)
    dash_duo.find_element("#password").send_keys(PASSWORD)
    dash_duo.find_element("#login-submit").click()
    dash_duo.wait_for_element(ready, timeout=20)
    return app
