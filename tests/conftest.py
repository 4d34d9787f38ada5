"""Shared fixtures: strict mode, a small published warehouse, the app, page rendering.

``STARBOARD_STRICT=1`` (set by .ci/run) turns every "cannot run here" skip — no browser,
no PostgreSQL, no Redis — into a failure, so CI never passes by skipping.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dash
import pytest

from tests.app import rawdata

STRICT = os.environ.get("STARBOARD_STRICT", "") in ("1", "true", "yes")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
os.environ.setdefault("DASH_TEST_CHROMEPATH", CHROMIUM)


def unavailable(reason: str) -> None:
    """Skip with ``reason`` — or fail, in strict mode (CI)."""
    if STRICT:
        pytest.fail(f"{reason} (STARBOARD_STRICT=1: this must run in CI)", pytrace=False)
    pytest.skip(reason)


def pytest_setup_options():
    """Chrome options for dash[testing]'s dash_duo: Debian chromium, headless, offline."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1440,900",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-extensions", "--mute-audio"):
        options.add_argument(arg)
    return options


@pytest.fixture(scope="session")
def small_warehouse(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A warehouse published from the hand-written raw dataset (tests/app/rawdata.py)."""
    from app.build.load import load

    root = tmp_path_factory.mktemp("small")
    raw = rawdata.write_csv(root / "raw")
    url = f"duckdb:///{root / 'warehouse.duckdb'}"
    load(raw, url)
    return url


TINY_DEMO_INTERACTIONS = 40_000


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo (generator → loader → rollups → publish) at 40k interactions: its URL."""
    from app.build.generate import generate
    from app.build.load import load
    from app.config import DEMO_MODEL
    from queries.rollups import build_rollups

    root = tmp_path_factory.mktemp("tiny_demo")
    generate(root / "raw", interactions=TINY_DEMO_INTERACTIONS, seed=7)
    url = f"duckdb:///{root / 'warehouse.duckdb'}"
    load(root / "raw", url, rollups=lambda path: build_rollups(DEMO_MODEL, path))
    return url


def make_app(url: str, home: Path, **overrides: Any) -> dash.Dash:
    """A fresh app on ``url`` with the null cache."""
    from app.factory import create_app

    return create_app({"home": str(home), "db_url": url, "cache": "null", **overrides})


@pytest.fixture
def app(small_warehouse: str, tmp_path: Path) -> Iterator[dash.Dash]:
    app = make_app(small_warehouse, tmp_path)
    yield app
    app.server.extensions["starboard"].warehouse.dispose()


@pytest.fixture
def client(app: dash.Dash):
    with app.server.test_client() as client:
        client.get("/_dash-layout")  # registers the pages router callback
        yield client


def render(client, path: str, search: str = "") -> dict:
    """The page content Dash's router returns for ``path``: what the browser would draw."""
    response = client.post("/_dash-update-component", json={
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [{"id": "_pages_content", "property": "children"},
                    {"id": "_pages_store", "property": "data"}],
        "inputs": [{"id": "_pages_location", "property": "pathname", "value": path},
                   {"id": "_pages_location", "property": "search", "value": search}],
        "changedPropIds": ["_pages_location.pathname"], "state": []})
    assert response.status_code == 200, response.data[:500]
    return response.get_json()["response"]["_pages_content"]["children"]


def texts(component: Any) -> list[str]:
    """Every string in a rendered component tree, in document order."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            found.append(node)
        elif isinstance(node, list):
            for child in node:
                walk(child)
        elif isinstance(node, dict):
            walk(node.get("props", {}).get("children"))

    walk(component)
    return found


def find(component: Any, id_: str) -> dict | None:
    """The first node with ``id``."""
    if isinstance(component, list):
        for child in component:
            hit = find(child, id_)
            if hit:
                return hit
    elif isinstance(component, dict):
        props = component.get("props", {})
        if props.get("id") == id_:
            return component
        return find(props.get("children"), id_)
    return None
