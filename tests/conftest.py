"""Shared fixtures: strict mode, a small published warehouse, the app, page rendering.

``STARBOARD_STRICT=1`` (set by .ci/run) turns every "cannot run here" skip — no browser,
no PostgreSQL, no Redis — into a failure, so CI never passes by skipping.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dash
import pytest
import sqlalchemy as sa

from tests.app.loader import rawdata

STRICT = os.environ.get("STARBOARD_STRICT", "") in ("1", "true", "yes")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
os.environ.setdefault("DASH_TEST_CHROMEPATH", CHROMIUM)

# Fixtures shared across folders (the tests mirror the code, not the fixtures they use).
pytest_plugins = ["tests.fixtures.alerts", "tests.fixtures.quality", "tests.fixtures.t2"]


def unavailable(reason: str) -> None:
    """Skip with ``reason`` — or fail, in strict mode (CI)."""
    if STRICT:
        pytest.fail(f"{reason} (STARBOARD_STRICT=1: this must run in CI)", pytrace=False)
    pytest.skip(reason)


# --------------------------------------------------------------------------- PostgreSQL

PG_URL_ENV = "STARBOARD_TEST_PG_URL"


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The PostgreSQL server of ``STARBOARD_TEST_PG_URL`` (a user that may CREATE DATABASE),
    checked reachable; skipped without it (a failure under ``STARBOARD_STRICT=1``)."""
    url = os.environ.get(PG_URL_ENV)
    if not url:
        unavailable(f"{PG_URL_ENV} is not set (a PostgreSQL server for these tests)")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.DBAPIError as exc:
        unavailable(f"PostgreSQL at {PG_URL_ENV} is not reachable: {exc.orig}")
    finally:
        engine.dispose()
    return url


@contextlib.contextmanager
def fresh_database(server: str, stem: str = "sbtest") -> Iterator[str]:
    """A new, empty database on ``server`` (its URL), dropped afterwards."""
    name = f"{stem}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@contextlib.contextmanager
def fresh_schema(url: str, stem: str = "sbt") -> Iterator[tuple[sa.Engine, str]]:
    """A new schema in ``url``'s database and an engine whose search_path is it; both
    gone afterwards."""
    schema = f"{stem}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine = sa.create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine, schema
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(scope="session")
def pg_url(pg_server: str) -> Iterator[str]:
    """A database of this test session's own (warehouse schemas, metadata tables)."""
    with fresh_database(pg_server) as url:
        yield url


@pytest.fixture
def pg_empty_url(pg_server: str) -> Iterator[str]:
    """An empty database of this test's own (metadata migrations start from nothing)."""
    with fresh_database(pg_server, "sbempty") as url:
        yield url


@pytest.fixture(scope="session")
def pg_demo_app(
    tiny_demo: str, pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dash.Dash]:
    """The tiny demo's raw files published to PostgreSQL (prefix ``sbt_demo``), and an app
    on them with one user per role: the PostgreSQL twin of ``demo_app``."""
    from app.cli.pipeline import model_layout
    from app.core.config import DEMO_MODEL
    from app.loader.postgres import drop_all, load_postgres
    from queries.quality.checks import PublishChecks
    from queries.semantic.rollups import build_rollups

    work = tmp_path_factory.mktemp("pg_demo")
    raw = Path(tiny_demo.removeprefix("duckdb:///")).parent / "raw"
    layout = model_layout(DEMO_MODEL)
    load_postgres(  # as `starboard load --db postgresql…` does: see demo_load
        raw,
        pg_url,
        schema_prefix="sbt_demo",
        work_dir=work,
        time_columns=layout.time_columns,
        primary_keys=layout.primary_keys,
        indexes=layout.indexes,
        checks=PublishChecks(DEMO_MODEL),
        rollups=lambda path, since=None: build_rollups(DEMO_MODEL, path, since),
    )
    app = make_app(pg_url, work / "home", pg_schema="sbt_demo")
    add_users(app)
    yield app
    app.server.extensions["starboard"].warehouse.dispose()
    drop_all(pg_url, "sbt_demo")


def pytest_setup_options():
    """Chrome options for dash[testing]'s dash_duo: Debian chromium, headless, offline."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1440,900",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-extensions",
        "--mute-audio",
    ):
        options.add_argument(arg)
    return options


@pytest.fixture(scope="session")
def small_warehouse(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A warehouse published from the hand-written raw dataset (tests/app/rawdata.py)."""
    root = tmp_path_factory.mktemp("small")
    raw = rawdata.write_csv(root / "raw")
    url = f"duckdb:///{root / 'warehouse.duckdb'}"
    demo_load(raw, url, rollups=False)
    return url


def demo_load(raw: Path, url: str, *, rollups: bool = True, **kw: Any) -> Any:
    """Publish the demo project at ``raw`` as ``starboard load`` does: the demo model's
    checks (declared and implied) gate it, its time column gives the data's span, and its
    rollups are built."""
    from app.cli.pipeline import model_layout
    from app.core.config import DEMO_MODEL
    from app.loader.load import load
    from queries.quality.checks import PublishChecks
    from queries.semantic.rollups import build_rollups

    layout = model_layout(DEMO_MODEL)
    kw.setdefault("checks", PublishChecks(DEMO_MODEL))
    if rollups:
        kw.setdefault("rollups", lambda path, since=None: build_rollups(DEMO_MODEL, path, since))
    return load(raw, url, time_columns=layout.time_columns, **kw)


TINY_DEMO_INTERACTIONS = 40_000


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo (generator → loader → rollups → publish) at 40k interactions: its URL."""
    from app.loader.generate import generate

    root = tmp_path_factory.mktemp("tiny_demo")
    generate(root / "raw", interactions=TINY_DEMO_INTERACTIONS, seed=7)
    url = f"duckdb:///{root / 'warehouse.duckdb'}"
    demo_load(root / "raw", url)
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


PASSWORD = "correct-horse-battery"
ROLE_USERS = {"executive": "erin", "operator": "oscar", "analyst": "ana", "admin": "ada"}


def add_users(app: dash.Dash) -> None:
    """One user per role (password PASSWORD), plus ``emea``: an operator scoped to EMEA."""
    users = app.server.extensions["starboard"].users
    for role, name in ROLE_USERS.items():
        if users.by_name(name) is None:
            users.add(name, role, PASSWORD)
    if users.by_name("emea") is None:
        users.add("emea", "analyst", PASSWORD, (("region", ("EMEA",)),))


def sign_in(
    client, name: str, password: str = PASSWORD, *, next_url: str = "/", remember: bool = False
):
    """Sign in through the form, as a browser would; returns the POST's response."""
    page = client.get("/login?next=" + next_url).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page[:500]
    form = {"csrf_token": match.group(1), "username": name, "password": password, "next": next_url}
    if remember:
        form["remember"] = "1"
    return client.post("/login", data=form)


@pytest.fixture
def client_as(app: dash.Dash):
    """``client_as(role_or_name)``: a test client signed in as that user."""
    add_users(app)
    clients = []

    def make(who: str | None):
        client = app.server.test_client()
        clients.append(client)
        if who is not None:
            name = ROLE_USERS.get(who, who)
            response = sign_in(client, name)
            assert response.status_code == 302, response.get_data(as_text=True)[:300]
            client.get("/_dash-layout")  # registers the pages router callback
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(client_as):
    """A test client signed in as an admin."""
    return client_as("admin")


def render(client, path: str, search: str = "") -> dict:
    """The page content Dash's router returns for ``path``: what the browser would draw."""
    response = client.post(
        "/_dash-update-component",
        json={
            "output": ".._pages_content.children..._pages_store.data..",
            "outputs": [
                {"id": "_pages_content", "property": "children"},
                {"id": "_pages_store", "property": "data"},
            ],
            "inputs": [
                {"id": "_pages_location", "property": "pathname", "value": path},
                {"id": "_pages_location", "property": "search", "value": search},
            ],
            "changedPropIds": ["_pages_location.pathname"],
            "state": [],
        },
    )
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


@pytest.fixture(scope="module")
def demo_app(tiny_demo: str, tmp_path_factory: pytest.TempPathFactory):
    """An app on the tiny demo with one user per role, shared by a test module."""
    app = make_app(tiny_demo, tmp_path_factory.mktemp("demo_app"))
    add_users(app)
    yield app
    app.server.extensions["starboard"].warehouse.dispose()


def find_all(component: Any, predicate) -> list[dict]:
    """Every node of a rendered component tree for which ``predicate(node)`` is true."""
    found: list[dict] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for child in node:
                walk(child)
        elif isinstance(node, dict):
            if predicate(node):
                found.append(node)
            walk(node.get("props", {}).get("children"))

    walk(component)
    return found


def signed_in(app: dash.Dash, name: str):
    """A plain test client signed in as ``name`` (not `with client:`: a preserved request
    context would share its app context, and flask-login's cached user in g, with another
    client's requests in the same test)."""
    client = app.server.test_client()
    sign_in(client, name)
    client.get("/_dash-layout")
    return client


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


def pytest_sessionfinish(session, exitstatus) -> None:
    session.config._starboard_exit = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config) -> None:
    """Leave as soon as pytest has reported. DuckDB's bindings (nanobind) print pages of
    "leaked function" lines during interpreter shutdown, which would bury pytest's closing
    summary line that CI reads; the status is pytest's own."""
    import sys

    code = getattr(config, "_starboard_exit", None)
    if code is None or os.environ.get("STARBOARD_KEEP_SHUTDOWN"):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


PG_FIXTURES = frozenset({"pg_server", "pg_url", "pg_empty_url", "pg_demo_app"})
BROWSER_FIXTURES = frozenset({"dash_duo", "browser_ready"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests are grouped by the code they test; what they need is a marker, set from the
    fixtures they use: ``-m "not postgres"`` or ``-m browser`` select across folders."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & PG_FIXTURES:
            item.add_marker(pytest.mark.postgres)
        if used & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
