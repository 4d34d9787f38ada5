"""/: what there is to open, with the data's freshness and quality."""

from __future__ import annotations

import dash
from dash import html

from app import web
from components import shell
from queries import status as status_q

dash.register_page(__name__, path="/", name="Home", title="Starboard", nav=True,
                   access="signed_in", order=0)


def layout(**_query: object):
    """The catalogue of pages the user may open."""
    trust = shell.Trust(**status_q.trust_summary().__dict__)
    viewer = shell.Viewer(**web.viewer())
    cards = []
    for page in sorted(dash.page_registry.values(), key=lambda p: p.get("order", 50)):
        if not page.get("nav") or page["path"] == "/":
            continue
        if page.get("access") not in viewer.permissions:
            continue
        cards.append(html.A([html.Div(page["name"], className="sb-card-title"),
                             html.Div(page.get("description") or page["title"],
                                      className="sb-card-note")],
                            href=page["path"], className="sb-card"))
    return shell.page("Starboard", shell.section("Pages", html.Div(cards, className="sb-cards")),
                      path="/", trust=trust, viewer=viewer,
                      subtitle="Boards by tier, exploration and data quality.")
