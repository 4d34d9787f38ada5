"""Fixtures of the Tier 2 explorer tests: apps on the tiny demo, direct SQL, users."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.config import DEMO_MODEL
from tests.conftest import add_users, make_app

PII_DIMENSION = "  email:            {column: dim_user.email, label: E-mail}\n"


@pytest.fixture(scope="module")
def pii_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model plus a dimension on a PII column (dim_user.email)."""
    text = DEMO_MODEL.read_text(encoding="utf-8")
    if "column: dim_user.email" in text:  # the demo model has one already
        return DEMO_MODEL
    anchor = "dimensions:\n"
    assert anchor in text
    path = tmp_path_factory.mktemp("pii_model") / "demo_with_email.yaml"
    path.write_text(text.replace(anchor, anchor + PII_DIMENSION, 1), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def t2_app(tiny_demo: str, pii_model: Path, tmp_path_factory: pytest.TempPathFactory):
    """An app on the tiny demo whose model has a PII dimension; one user per role."""
    app = make_app(tiny_demo, tmp_path_factory.mktemp("t2_app"), model=str(pii_model))
    add_users(app)
    yield app
    app.server.extensions["starboard"].warehouse.dispose()


def direct(app, sql: str, **params) -> list[tuple]:
    """Rows of hand-written SQL on the app's warehouse (the reference answer)."""
    import sqlalchemy as sa

    engine = app.server.extensions["starboard"].warehouse.snapshot().engine
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params).all()]


@contextlib.contextmanager
def as_user(app, name: str) -> Iterator[None]:
    """A request context in which ``name`` is the signed-in user (do not nest two: they
    share the app context, where flask-login keeps the user)."""
    from flask_login import login_user

    runtime = app.server.extensions["starboard"]
    with app.server.test_request_context("/t2/explore"):
        login_user(runtime.users.by_name(name))
        yield
