"""Off-site links (#14, item 6): a problem report's page must be a path of this site when
it is stored, and /quality/problems links only to such paths, even for rows an older
version stored unchecked. ``next=`` after sign-in follows the same rule (app/core/urls.py)."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest

from app.core import meta, urls, web
from app.core.errors import DataError
from app.core.stores import problems
from tests.conftest import find, find_all, render, texts

BASE = "http://testserver/"
ATTACKS = [
    "/\\evil.example/phish",
    "/\t/evil.example/phish",
    "/\n/evil.example/phish",
    "/\r\n/evil.example/phish",
    "\\/evil.example/phish",
    "//evil.example/phish",
    "///evil.example/phish",
    " //evil.example/phish",
    "https://evil.example/phish",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "evil.example/phish",
    "/\x00/evil.example",
    "/\x7f/evil.example",
]


def browser_resolves(href: str) -> str:
    """Where a WHATWG URL parser (Chromium, Firefox) sends ``href`` from this site: leading
    and trailing C0 controls and spaces stripped, tabs and newlines removed anywhere, ``\\``
    read as ``/`` in an http URL."""
    cleaned = re.sub(r"[\t\n\r]", "", href.strip("".join(map(chr, range(33)))))
    cleaned = re.sub(r"^/{3,}", "//", cleaned.replace("\\", "/"))  # extra slashes: ignored
    return urljoin(BASE, cleaned)


@pytest.mark.parametrize("target", ATTACKS[:9])
def test_the_browser_model_sends_the_path_attacks_off_site(target: str) -> None:
    # the yardstick of the tests below: these would take a click to evil.example
    assert urlsplit(browser_resolves(target)).netloc == "evil.example"


@pytest.mark.parametrize("target", ATTACKS)
def test_no_attack_is_a_local_path_and_next_goes_home(target: str) -> None:
    assert urls.local_path(target) is None
    assert web.safe_next(target) == "/"


@pytest.mark.parametrize(
    "target",
    [
        "/",
        "/t0/company?period=2026-09",
        "/t2/explore?metrics=revenue&where=country%20in%20(DE)",
        "/quality/problems?status=open#top",
    ],
)
def test_local_paths_are_kept_as_they_are(target: str) -> None:
    assert urls.local_path(target) == target == web.safe_next(target)


@pytest.mark.parametrize("target", ATTACKS)
def test_report_refuses_a_page_that_is_not_on_this_site(app, target: str) -> None:
    db = app.server.extensions["starboard"].users.db
    with pytest.raises(DataError, match="only be reported from a page of this site"):
        problems.report(db, reporter="oscar", url=target, period="", text="Looks wrong")
    assert problems.recent(db) == []


def _report_body(app, pathname: object, search: object) -> dict:
    output = next(k for k in app.callback_map if "quality-report-done" in k)
    return {
        "output": output,
        "outputs": [
            {"id": "quality-report-done", "property": "children"},
            {"id": "quality-report-text", "property": "value"},
        ],
        "inputs": [{"id": "quality-report-send", "property": "n_clicks", "value": 1}],
        "state": [
            {"id": "quality-report-text", "property": "value", "value": "Row counts look doubled"},
            {"id": "sb-url", "property": "pathname", "value": pathname},
            {"id": "sb-url", "property": "search", "value": search},
        ],
        "changedPropIds": ["quality-report-send.n_clicks"],
    }


@pytest.mark.parametrize("pathname", [*ATTACKS, 7, ["/quality"], {"a": 1}, None])
def test_a_crafted_page_address_in_the_report_callback_is_refused(app, client_as, pathname) -> None:
    client = client_as("executive")
    response = client.post("/_dash-update-component", json=_report_body(app, pathname, ""))
    assert response.status_code == 200
    answer = response.get_json()["response"]
    assert texts(answer["quality-report-done"]["children"]) == [
        "A problem can only be reported from a page of this site."
    ]
    assert answer["quality-report-text"]["value"] == "Row counts look doubled"  # kept
    assert problems.recent(app.server.extensions["starboard"].users.db) == []


@pytest.mark.parametrize("search", ["?x=\\evil.example", "?x=\t//evil", "x=\\y", 5])
def test_a_crafted_query_string_is_stored_as_a_local_path(app, client_as, search) -> None:
    client = client_as("executive")
    response = client.post("/_dash-update-component", json=_report_body(app, "/quality", search))
    assert "reported as problem #" in response.get_data(as_text=True)
    stored = problems.recent(app.server.extensions["starboard"].users.db, 1)[0]["url"]
    assert urls.local_path(stored) == stored and stored.startswith("/quality")
    assert urlsplit(browser_resolves(stored))[:3] == ("http", "testserver", "/quality")


def test_bad_links_an_older_version_stored_render_as_text_not_links(app, client_as) -> None:
    client = client_as("analyst")
    db = app.server.extensions["starboard"].users.db
    with db.engine.begin() as conn:  # what the unchecked report() used to accept
        for number, url in enumerate([*ATTACKS, "/t0/company?period=2026-09"]):
            conn.execute(
                meta.problems.insert().values(
                    at=meta.now(),
                    reporter="oscar",
                    url=url,
                    period="",
                    text=f"report {number}",
                    status="open",
                    assignee="",
                    comment="",
                )
            )
    page = render(client, "/quality/problems")
    hrefs = [n["props"]["href"] for n in find_all(page, lambda n: "href" in n.get("props", {}))]
    assert hrefs, "the page has links (navigation, tabs, the good report)"
    for href in hrefs:
        resolved = urlsplit(browser_resolves(href))
        assert (resolved.scheme, resolved.netloc) == ("http", "testserver"), href
    table = find(page, "problems-table")
    links = find_all(table, lambda n: n.get("props", {}).get("href"))
    assert [n["props"]["href"] for n in links] == ["/t0/company?period=2026-09"]
    words = texts(table)
    assert "/\\evil.example/phish" in words and "javascript:alert(1)" in words  # as text
