"""Browser tests need Debian's chromium and chromedriver: skipped without them, failed in CI."""

from __future__ import annotations

import os

import pytest

from tests.conftest import CHROMEDRIVER, CHROMIUM, unavailable


@pytest.fixture
def browser_ready() -> None:
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        unavailable("Debian chromium and chromium-driver are not installed "
                    "(apt-get install chromium chromium-driver)")
