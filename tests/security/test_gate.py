"""The gate, attacked: cross-site requests riding on a session cookie, JSON too deep to
parse, malformed callback bodies, and a metadata database that does not answer."""

from __future__ import annotations

import pytest

from tests.conftest import add_users, signed_in

DOWNLOADS = [
    "/api/v1/sql/export.csv?q=SELECT%201%20AS%20x",
    "/api/v1/export/detail?metric=revenue",
    "/api/v1/export/explore?metrics=revenue",
]
CROSS_SITE = [
    {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
    {"Sec-Fetch-Site": "same-site"},  # a sibling host: another origin
    {"Origin": "https://evil.example"},
    {"Origin": "null"},  # sandboxed iframe, data: URL
    {"Referer": "https://evil.example/page.html"},
    {"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"},  # the browser wins
]
SAME_SITE = [
    {},
    {"Sec-Fetch-Site": "same-origin", "Referer": "http://localhost/t2/sql"},
    {"Sec-Fetch-Site": "none"},  # typed or bookmarked
    {"Origin": "http://localhost"},
]


def _audited(app) -> int:
    return len(app.server.extensions["starboard"].users.audit_log(10_000))


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_cross_site_downloads_are_refused_and_not_run(app, headers: dict) -> None:
    add_users(app)
    client = signed_in(app, "ana")
    before = _audited(app)
    for url in DOWNLOADS:
        response = client.get(url, headers=headers)
        assert response.status_code == 403, (url, headers)
        assert "came from another site" in response.get_json()["error"]["message"]
        assert "text/csv" not in response.content_type
    query = client.post("/api/v1/query", json={"metrics": ["revenue"]}, headers=headers)
    assert query.status_code == 403
    assert _audited(app) == before  # nothing ran in the analyst's name


@pytest.mark.parametrize("headers", SAME_SITE)
def test_downloads_from_starboard_itself_still_work(app, headers: dict) -> None:
    add_users(app)
    client = signed_in(app, "ana")
    for url in DOWNLOADS:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.get_data(as_text=True)[:200])
        assert "text/csv" in response.content_type


def test_public_url_counts_as_this_site(small_warehouse: str, tmp_path) -> None:
    """Behind a proxy that rewrites Host, the browser's Origin is STARBOARD_PUBLIC_URL's."""
    from tests.conftest import make_app

    app = make_app(small_warehouse, tmp_path, public_url="https://bi.example.com")
    add_users(app)
    client = signed_in(app, "ana")
    ok = client.get(DOWNLOADS[0], headers={"Origin": "https://bi.example.com"})
    assert ok.status_code == 200
    assert (
        client.get(
            DOWNLOADS[0], headers={"Origin": "https://bi.example.com.evil.example"}
        ).status_code
        == 403
    )
    app.server.extensions["starboard"].warehouse.dispose()


def test_bearer_tokens_are_not_affected(app) -> None:
    """A browser never attaches a token on its own, so a token request is no forgery."""
    add_users(app)
    token = app.server.extensions["starboard"].users.create_token("ana", "ci")
    client = app.server.test_client()
    for headers in CROSS_SITE:
        response = client.get(DOWNLOADS[0], headers={"Authorization": f"Bearer {token}", **headers})
        assert response.status_code == 200, headers


def _admin_form_body(role: str) -> dict:
    return {
        "output": "..admin-message.children...admin-users-wrap.children..",
        "outputs": [
            {"id": "admin-message", "property": "children"},
            {"id": "admin-users-wrap", "property": "children"},
        ],
        "inputs": [{"id": "admin-apply", "property": "n_clicks", "value": 1}],
        "state": [
            {"id": "admin-user", "property": "value", "value": "erin"},
            {"id": "admin-role", "property": "value", "value": role},
            {"id": "admin-scope", "property": "value", "value": None},
            {"id": "admin-status", "property": "value", "value": None},
        ],
        "changedPropIds": ["admin-apply.n_clicks"],
    }


def test_cross_site_callback_posts_are_refused(app) -> None:
    add_users(app)
    admin = signed_in(app, "ada")
    users = app.server.extensions["starboard"].users
    refused = admin.post(
        "/_dash-update-component",
        json=_admin_form_body("admin"),
        headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    )
    assert refused.status_code == 403
    assert users.by_name("erin").role == "executive"
    done = admin.post(
        "/_dash-update-component",
        json=_admin_form_body("admin"),
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
    )
    assert done.status_code == 200 and users.by_name("erin").role == "admin"


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("path", ["/api/v1/query", "/_dash-update-component"])
def test_json_nested_too_deep_is_a_400(app, path: str) -> None:
    add_users(app)
    client = signed_in(app, "ana")
    for body in (DEEP, '{"output": ' + DEEP + "}", '{"metrics": ' + DEEP + "}"):
        response = client.post(path, data=body, content_type="application/json")
        assert response.status_code == 400, response.get_data(as_text=True)[:200]
        assert response.get_json()["error"]["message"] == "The JSON body is nested too deeply."
    anonymous = app.server.test_client()  # nobody parses an anonymous body
    assert anonymous.post(path, data=DEEP, content_type="application/json").status_code == 401


ROUTER = ".._pages_content.children..._pages_store.data.."
ROUTER_OUTPUTS = [
    {"id": "_pages_content", "property": "children"},
    {"id": "_pages_store", "property": "data"},
]
ROUTER_INPUTS = [
    {"id": "_pages_location", "property": "pathname", "value": "/quality"},
    {"id": "_pages_location", "property": "search", "value": ""},
]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"inputs": None}, "'inputs' is missing"),
        ({"inputs": 7}, "'inputs' must be a list"),
        ({"inputs": "x"}, "'inputs' must be a list"),
        ({"inputs": [1, 2]}, "'inputs' must be a list"),
        ({"inputs": [{"id": "_pages_location", "value": "/"}] * 2}, "'inputs' must be a list"),
        ({"inputs": [{"id": 3, "property": "pathname"}] * 2}, "'inputs' must be a list"),
        ({"inputs": ROUTER_INPUTS[:1]}, "'inputs' has 1 item(s); this callback takes 2"),
        ({"state": {"id": "a", "property": "b"}}, "'state' must be a list"),
        ({"state": [{"id": "a", "property": "b"}]}, "'state' has 1 item(s)"),
        ({"outputs": 5}, "'outputs' must be"),
        ({"changedPropIds": "_pages_location.pathname"}, "'changedPropIds' must be a list"),
    ],
)
def test_malformed_callback_bodies_are_a_400_naming_the_fault(
    client_as, change: dict, says: str
) -> None:
    client = client_as("analyst")
    body = {
        "output": ROUTER,
        "outputs": ROUTER_OUTPUTS,
        "inputs": ROUTER_INPUTS,
        "state": [],
        "changedPropIds": ["_pages_location.pathname"],
    }
    assert client.post("/_dash-update-component", json=body).status_code == 200  # control
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 400
    message = response.get_json()["error"]["message"]
    assert message.startswith("Malformed callback request: ") and says in message, message


def test_pattern_matching_input_lists_pass_the_shape_check() -> None:
    from app.core.gate import callback_body_problem

    entry = {"inputs": [{"id": {"type": "x", "i": "ALL"}, "property": "value"}], "state": []}
    body = {
        "output": "o.children",
        "outputs": {"id": "o", "property": "children"},
        "inputs": [[{"id": {"type": "x", "i": 1}, "property": "value", "value": 3}]],
    }
    assert callback_body_problem(body, entry) is None


def test_a_locked_metadata_db_gives_503_not_500_on_every_gate_path(locked_app) -> None:
    app, lock = locked_app
    client = signed_in(app, "ana")
    holder = lock(exclusive=True)  # even reads of sb_user wait, then fail
    page = client.get("/quality")
    assert page.status_code == 503 and page.headers["Retry-After"] == "60"
    assert "user database is not answering" in page.get_data(as_text=True)
    for response in (
        client.post("/api/v1/query", json={"metrics": ["revenue"]}),
        client.get("/_dash-layout"),
    ):
        assert response.status_code == 503
        assert response.get_json()["error"]["type"] == "MetaUnavailable"
    holder.close()
    assert client.get("/quality").status_code == 200  # the session survived the outage
