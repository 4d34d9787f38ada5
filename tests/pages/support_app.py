"""The app on the second schema (tests/queries/second_schema.py) with extra boards, and a
signed-in admin client: what the page tests on a model that is not the demo share."""

from __future__ import annotations

from pathlib import Path

import dash
from flask.testing import FlaskClient

from tests.conftest import PASSWORD, make_app, sign_in
from tests.queries.second_schema import MODEL_PATH, create_duckdb


def support_app(root: Path, boards: str, users: tuple[tuple, ...] = ()) -> dash.Dash:
    """The support warehouse and model (plus ``boards``, YAML appended to the model) under
    ``root``, with an admin ``ada`` and ``users`` ((name, role, scope), …)."""
    warehouse = create_duckdb(root / "support.duckdb")
    model = root / "support.yaml"
    model.write_text(MODEL_PATH.read_text(encoding="utf-8") + boards, encoding="utf-8")
    app = make_app(f"duckdb:///{warehouse}", root / "home", model=str(model))
    accounts = app.server.extensions["starboard"].users
    accounts.add("ada", "admin", PASSWORD)
    for name, role, scope in users:
        accounts.add(name, role, PASSWORD, scope)
    return app


def signed_in_admin(app: dash.Dash) -> FlaskClient:
    """A client signed in as ``ada``, the Dash layout fetched once (as a browser does)."""
    client = app.server.test_client()
    assert sign_in(client, "ada").status_code == 302
    client.get("/_dash-layout")
    return client
