"""/: what there is to open, with the data's freshness and quality."""

from __future__ import annotations

import dash
from dash import html

from app.core import web
from app.core.errors import StarboardError
from components import shell
from queries.quality import trust as trust_q
from queries.semantic.run import current_model

dash.register_page(
    __name__, path="/", name="Home", title="Starboard", nav=True, access="signed_in", order=0
)


TIER_NAMES = {
    0: "Tier 0 · executive one-pagers",
    1: "Tier 1 · operational boards",
    2: "Tier 2 · exploration",
}
TIER_PATHS = {0: "/t0/<board>", 1: "/t1/<board>"}


def _board_cards(viewer: shell.Viewer) -> list:
    """The model's boards by tier, only the tiers the viewer may open and that exist."""
    templates = {p.get("path_template") or p["path"] for p in dash.page_registry.values()}
    try:
        boards = list(current_model().boards.values())
    except StarboardError as exc:
        return [shell.error_tile("Boards unavailable", exc.message)]
    sections = []
    for tier, title in TIER_NAMES.items():
        template = TIER_PATHS.get(tier)
        if f"tier{tier}" not in viewer.permissions or template not in templates:
            continue
        cards = [
            html.A(
                [
                    html.Div(b.title, className="sb-card-title"),
                    html.Div(b.description or f"Tier {tier} board", className="sb-card-note"),
                ],
                href=template.replace("<board>", b.name),
                className="sb-card",
                id=f"home-board-{b.name}",
            )
            for b in boards
            if b.tier == tier
        ]
        if cards:
            sections.append(shell.section(title, html.Div(cards, className="sb-cards")))
    return sections


def layout(**_query: object):
    """The catalogue of boards and pages the user may open."""
    trust = shell.Trust(**trust_q.trust_summary().__dict__)
    viewer = shell.Viewer(**web.viewer())
    cards = []
    for page in shell.offered_pages(viewer):  # what the menu offers: access and `needs`
        if page["path"] == "/":
            continue
        cards.append(
            html.A(
                [
                    html.Div(page["name"], className="sb-card-title"),
                    html.Div(page.get("description") or page["title"], className="sb-card-note"),
                ],
                href=page["path"],
                className="sb-card",
            )
        )
    return shell.page(
        "Starboard",
        [*_board_cards(viewer), shell.section("Pages", html.Div(cards, className="sb-cards"))],
        path="/",
        trust=trust,
        viewer=viewer,
        subtitle="Boards by tier, exploration and data quality.",
    )
