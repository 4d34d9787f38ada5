"""HTTP in production: compression, static cache headers, request ids, JSON request log
lines, and the reverse-proxy fix."""

from __future__ import annotations

import gzip
import json
import logging
import re
from pathlib import Path

import pytest

from app.core.serving import JsonFormatter
from tests.conftest import add_users, make_app, render, sign_in, texts

ROUTER = {
    "output": ".._pages_content.children..._pages_store.data..",
    "outputs": [
        {"id": "_pages_content", "property": "children"},
        {"id": "_pages_store", "property": "data"},
    ],
    "inputs": [
        {"id": "_pages_location", "property": "pathname", "value": "/t0/company"},
        {"id": "_pages_location", "property": "search", "value": ""},
    ],
    "changedPropIds": ["_pages_location.pathname"],
    "state": [],
}


@pytest.fixture(scope="module")
def http_app(tiny_demo: str, tmp_path_factory: pytest.TempPathFactory):
    app = make_app(tiny_demo, tmp_path_factory.mktemp("http_app"), cache="simple")
    add_users(app)
    yield app
    app.server.extensions["starboard"].warehouse.dispose()


@pytest.fixture
def exec_client(http_app):
    client = http_app.server.test_client()
    sign_in(client, "erin")
    client.get("/_dash-layout")
    return client


def test_callback_json_is_gzipped_when_the_browser_accepts_it(exec_client) -> None:
    plain = exec_client.post("/_dash-update-component", json=ROUTER)
    zipped = exec_client.post(
        "/_dash-update-component", json=ROUTER, headers={"Accept-Encoding": "gzip, deflate"}
    )
    assert plain.status_code == zipped.status_code == 200
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    body = gzip.decompress(zipped.data)
    assert len(zipped.data) < len(body) / 3
    assert json.loads(body)["response"]["_pages_content"]["children"]
    assert "Revenue" in json.dumps(json.loads(body))


def test_the_html_page_is_gzipped_too(exec_client) -> None:
    page = exec_client.get("/t0/company", headers={"Accept-Encoding": "gzip"})
    assert page.status_code == 200 and page.headers["Content-Encoding"] == "gzip"
    assert b"<html" in gzip.decompress(page.data).lower()


def _index_urls(client) -> list[str]:
    html = client.get("/t0/company").get_data(as_text=True)
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_fingerprinted_component_files_are_cached_for_a_year(exec_client) -> None:
    urls = [u for u in _index_urls(exec_client) if u.startswith("/_dash-component-suites/")]
    versioned = [u for u in urls if re.search(r"\.v[\w-]+m[0-9a-f]+\.", u)]
    assert versioned, urls
    first = exec_client.get(versioned[0], headers={"Accept-Encoding": "gzip"})
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert first.headers["Content-Encoding"] == "gzip"
    again = exec_client.get(versioned[0], headers={"Accept-Encoding": "gzip"})
    assert again.data == first.data  # served from the per-worker gzip cache, same bytes


def test_the_same_file_without_its_fingerprint_is_not_cached_forever(exec_client) -> None:
    urls = [u for u in _index_urls(exec_client) if u.startswith("/_dash-component-suites/")]
    versioned = next(u for u in urls if re.search(r"\.v[\w-]+m[0-9a-f]+\.", u))
    bare = re.sub(r"\.v[\w-]+m[0-9a-f]+\.", ".", versioned.split("?")[0])
    response = exec_client.get(bare)
    assert response.status_code == 200
    assert "immutable" not in response.headers.get("Cache-Control", "")


def test_an_unversioned_component_file_revalidates_to_304_compressed(exec_client) -> None:
    url = "/_dash-component-suites/plotly/package_data/plotly.min.js"
    first = exec_client.get(url, headers={"Accept-Encoding": "gzip"})
    assert first.status_code == 200 and first.headers["Content-Encoding"] == "gzip"
    assert "immutable" not in first.headers.get("Cache-Control", "")
    assert first.headers["ETag"].endswith(':gzip"')
    again = exec_client.get(
        url, headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304 and again.data == b""


def test_assets_are_long_cached_only_with_their_modification_stamp(exec_client) -> None:
    css = [u for u in _index_urls(exec_client) if u.startswith("/assets/")]
    assert any("?m=" in u for u in css), css
    stamped = exec_client.get(next(u for u in css if "?m=" in u))
    assert stamped.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    bare = exec_client.get("/assets/starboard.css")
    assert bare.status_code == 200 and bare.headers["Cache-Control"] == "no-cache"


def test_an_incoming_request_id_is_returned_and_a_missing_one_is_made(http_app) -> None:
    client = http_app.server.test_client()
    sent = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42"})
    assert sent.headers["X-Request-ID"] == "lb-7f3a.42"
    made = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])
    hostile = client.get("/healthz", headers={"X-Request-ID": 'x" injected=1 ' + "a" * 200})
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["X-Request-ID"])
    refused = client.get("/t0/company", headers={"X-Request-ID": "anon-1"})
    assert refused.status_code == 302 and refused.headers["X-Request-ID"] == "anon-1"


def test_one_json_line_per_request_names_user_route_status_time_and_queries(
    http_app, exec_client, caplog
) -> None:
    http_app.server.extensions["starboard"].cache.clear()
    with caplog.at_level(logging.INFO, logger="starboard"):
        response = exec_client.post(
            "/_dash-update-component", json=ROUTER, headers={"X-Request-ID": "req-one"}
        )
        exec_client.post(
            "/_dash-update-component", json=ROUTER, headers={"X-Request-ID": "req-two"}
        )
    assert response.status_code == 200
    requests = [r for r in caplog.records if r.name == "starboard.request"]
    lines = {r.fields["request_id"]: json.loads(JsonFormatter().format(r)) for r in requests}
    one, two = lines["req-one"], lines["req-two"]
    assert one["message"] == "request" and one["user"] == "erin"
    assert one["route"] == "/_dash-update-component" and one["status"] == 200
    assert one["method"] == "POST" and one["ms"] > 0
    assert one["callback"].startswith(".._pages_content")
    assert one["queries"] and one["cache_misses"] == len(one["queries"])
    assert one["cache_hits"] == 0
    assert two["cache_hits"] == len(two["queries"]) == len(one["queries"])
    queries = [
        json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "starboard.query"
    ]
    mine = [q for q in queries if q["request_id"] == "req-one"]
    assert sorted(q["query_id"] for q in mine) == sorted(one["queries"])
    assert all(q["message"] == "query" and q["cache"] == "miss" for q in mine)


def test_admin_shows_the_cache_backend_its_state_and_cross_worker_waits(http_app) -> None:
    client = http_app.server.test_client()
    sign_in(client, "ada")
    client.get("/_dash-layout")
    shown = " ".join(texts(render(client, "/admin")))
    assert "simple" in shown and "Backend state answering" in shown
    assert "Other workers' results 0" in shown


def test_log_lines_outside_requests_are_json_with_no_request_id() -> None:
    record = logging.LogRecord(
        "starboard.cache", logging.WARNING, __file__, 1, "cache read failed (%s)", ("boom",), None
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "cache read failed (boom)" and line["level"] == "warning"
    assert line["request_id"] is None and line["logger"] == "starboard.cache"


@pytest.mark.parametrize("proxies", [0, 1])
def test_proxy_fix_trusts_forwarded_headers_only_when_configured(
    tiny_demo: str, tmp_path: Path, proxies: int, caplog
) -> None:
    app = make_app(tiny_demo, tmp_path, proxy_fix=proxies)
    try:
        client = app.server.test_client()
        with caplog.at_level(logging.INFO, logger="starboard.request"):
            response = client.get(
                "/login",
                headers={
                    "X-Forwarded-Proto": "https",
                    "X-Forwarded-For": "203.0.113.9",
                    "X-Forwarded-Host": "bi.example.com",
                },
            )
        assert response.status_code == 200
        line = next(r.fields for r in caplog.records if r.name == "starboard.request")
        if proxies:
            assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
            assert "Secure" in response.headers["Set-Cookie"]
            assert line["remote"] == "203.0.113.9"
        else:
            assert "Strict-Transport-Security" not in response.headers
            assert "Secure" not in response.headers["Set-Cookie"]
            assert line["remote"] == "127.0.0.1"
    finally:
        app.server.extensions["starboard"].warehouse.dispose()


def test_compression_can_be_left_to_the_proxy(tiny_demo: str, tmp_path: Path) -> None:
    app = make_app(tiny_demo, tmp_path, compress=False)
    try:
        page = app.server.test_client().get("/login", headers={"Accept-Encoding": "gzip"})
        assert page.status_code == 200 and "Content-Encoding" not in page.headers
        assert "Sign in" in page.get_data(as_text=True)
    finally:
        app.server.extensions["starboard"].warehouse.dispose()
