"""The page shell every page shares: header, navigation, data as of, DQ status dot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import dash
from dash import Input, Output, State, dcc, html
from dash.development.base_component import Component

STATUS_LABELS = {
    "ok": "All quality checks pass",
    "warn": "Some quality checks warn",
    "fail": "A blocking quality check failed",
    "unknown": "Data quality unknown",
}


@dataclass(frozen=True)
class Trust:
    """How fresh and how trustworthy the data behind a page is."""

    status: str = "unknown"  # ok | warn | fail | unknown
    as_of: datetime | None = None  # latest fact time in the data
    published_at: datetime | None = None
    version: str | None = None
    dq_score: float | None = None
    failing: tuple[str, ...] = ()  # one line per failing check
    error: str | None = None  # the warehouse could not be read
    stale: str | None = None  # a fact is older than its freshness SLO: which, how old


@dataclass(frozen=True)
class Viewer:
    """Who is looking: shown in the header, and what the navigation may offer them."""

    name: str | None = None
    role: str | None = None
    permissions: frozenset[str] = frozenset()
    csrf: str = ""
    absent: frozenset[str] = frozenset()  # page ``needs`` the loaded model does not declare


def offered_pages(viewer: Viewer) -> list[dict]:
    """Every ``nav=True`` page the viewer may open and whose ``needs`` the loaded model
    declares, in ``order`` (the menu and the home page's cards)."""
    pages = [
        p
        for p in dash.page_registry.values()
        if p.get("nav")
        and p.get("access") in viewer.permissions
        and not (p.get("needs") and p["needs"] in viewer.absent)
    ]
    pages.sort(key=lambda p: (p.get("order", 50), p["name"]))
    return pages


def nav_items(current_path: str, viewer: Viewer) -> list[tuple[str, str, bool]]:
    """(label, href, active) for every page :func:`offered_pages` offers the viewer."""
    items = []
    for page in offered_pages(viewer):
        href = page["path"]
        active = current_path == href or (href != "/" and current_path.startswith(href))
        items.append((page["name"], href, active))
    return items


def dq_dot(trust: Trust) -> html.Span:
    """A coloured dot whose tooltip lists the failing checks."""
    lines = [STATUS_LABELS.get(trust.status, trust.status)]
    if trust.dq_score is not None:
        lines.append(f"DQ score {trust.dq_score:.1f}%")
    lines += list(trust.failing[:8])
    if len(trust.failing) > 8:
        lines.append(f"… and {len(trust.failing) - 8} more")
    return html.A(
        [
            html.Span(className=f"sb-dot sb-dot-{trust.status}"),
            html.Span(
                f"DQ {trust.dq_score:.0f}%" if trust.dq_score is not None else "DQ —",
                className="sb-dq-label",
            ),
        ],
        href="/quality",
        title="\n".join(lines),
        className="sb-dq",
        **{"data-status": trust.status},
    )


def as_of_text(trust: Trust) -> str:
    if trust.error:
        return "Data unavailable"
    if trust.as_of is None:
        return "Data as of —"
    return f"Data as of {trust.as_of:%d %b %Y %H:%M}"


def user_menu(viewer: Viewer) -> html.Form | None:
    """Name, role and a sign-out button (a POST form with the session's CSRF token)."""
    if not viewer.name:
        return None
    return html.Form(
        [
            html.Span(viewer.name, className="sb-user-name", title=f"Role: {viewer.role}"),
            html.Span(viewer.role, className="sb-badge sb-badge-muted"),
            dcc.Input(type="hidden", name="csrf_token", value=viewer.csrf),
            html.Button("Sign out", type="submit", className="sb-link-button", id="sb-logout"),
        ],
        action="/logout",
        method="POST",
        className="sb-user",
    )


def header(current_path: str, trust: Trust, viewer: Viewer) -> html.Header:
    links = [
        html.A(label, href=href, className="sb-nav-link" + (" active" if active else ""))
        for label, href, active in nav_items(current_path, viewer)
    ]
    return html.Header(
        [
            html.A(
                [html.Span("★", className="sb-logo"), "Starboard"], href="/", className="sb-brand"
            ),
            html.Nav(links, className="sb-nav"),
            html.Div(
                [
                    html.Span(
                        as_of_text(trust),
                        className="sb-asof",
                        title=f"Data version {trust.version}" if trust.version else None,
                    ),
                    dq_dot(trust),
                    user_menu(viewer),
                ],
                className="sb-trust",
            ),
        ],
        className="sb-header",
    )


def page(
    title: str,
    children: Sequence[Component] | Component,
    *,
    path: str,
    trust: Trust,
    viewer: Viewer,
    subtitle: str | None = None,
    actions: Component | None = None,
) -> html.Div:
    """A whole page: header, title block, a banner when data is unavailable, blocked or
    older than its freshness SLO (on every page alike)."""
    banner = None
    if trust.error:
        banner = html.Div(trust.error, className="sb-banner sb-banner-fail", role="alert")
    elif trust.status == "fail":
        banner = html.Div(
            "A blocking (Risk 1) quality check fails on this data: the numbers below may be "
            "incomplete.",
            className="sb-banner sb-banner-fail",
            role="alert",
        )
    if trust.stale and not trust.error:
        stale = html.Div(
            trust.stale, className="sb-banner sb-banner-warn sb-banner-stale", role="status"
        )
        banner = html.Div([banner, stale]) if banner is not None else stale
    body = list(children) if isinstance(children, Sequence) else [children]
    return html.Div(
        [
            header(path, trust, viewer),
            html.Main(
                [
                    html.Div(
                        [
                            html.Div(
                                [
                                    html.H1(title, className="sb-title"),
                                    html.P(subtitle, className="sb-subtitle") if subtitle else None,
                                ]
                            ),
                            actions,
                        ],
                        className="sb-title-block",
                    ),
                    banner,
                    *body,
                ],
                className="sb-main",
            ),
        ],
        className="sb-page",
    )


def error_tile(title: str, message: str) -> html.Div:
    """What a widget shows instead of data when its query cannot run."""
    return html.Div(
        [
            html.Div(title, className="sb-error-title"),
            html.Div(message, className="sb-error-message"),
        ],
        className="sb-tile sb-error",
        role="alert",
    )


def stat(
    label: str,
    value: str,
    note: str | None = None,
    *,
    status: str | None = None,
    test_id: str | None = None,
) -> html.Div:
    """A small labelled figure (not a BAN tile: those come with the Tier 0 board)."""
    value_div = (
        html.Div(value, className="sb-stat-value", id=test_id)
        if test_id
        else html.Div(value, className="sb-stat-value")
    )
    return html.Div(
        [
            html.Div(label, className="sb-stat-label"),
            value_div,
            html.Div(note, className="sb-stat-note") if note else None,
        ],
        className="sb-stat" + (f" sb-stat-{status}" if status else ""),
    )


def section(
    title: str, children: Sequence[Component] | Component, note: str | None = None
) -> html.Section:
    body = list(children) if isinstance(children, Sequence) else [children]
    return html.Section(
        [
            html.H2(title, className="sb-section-title"),
            html.P(note, className="sb-section-note") if note else None,
            *body,
        ],
        className="sb-section",
    )


def not_declared(message: str) -> html.Div:
    """What a page the loaded model does not declare shows (its route answers 404)."""
    return html.Div(
        html.Main(
            [
                html.H1("Not in this model", className="sb-title"),
                html.P(message, id="sb-not-declared"),
                html.A("Back to the boards you can open", href="/"),
            ],
            className="sb-main",
        ),
        className="sb-page",
    )


def denied(message: str) -> html.Div:
    """What a page shows a user whose role may not open it: no data, a way back."""
    return html.Div(
        html.Main(
            [
                html.H1("No access", className="sb-title"),
                html.P(message, id="sb-denied"),
                html.A("Back to the boards you can open", href="/"),
            ],
            className="sb-main",
        ),
        className="sb-page",
    )


def report_problem(
    prefix: str, placeholder: str = "What looks wrong on this page?"
) -> html.Details:
    """ "Report a data problem": a folded form; the page's own callback stores it."""
    return html.Details(
        [
            html.Summary("Report a data problem", className="sb-link-button"),
            html.Div(
                [
                    dcc.Textarea(
                        id=f"{prefix}-report-text",
                        placeholder=placeholder,
                        className="sb-field-wide sb-textarea",
                    ),
                    html.Button("Send", id=f"{prefix}-report-send", className="sb-button"),
                    html.Div(id=f"{prefix}-report-done", className="sb-form-message"),
                ],
                className="sb-report-form",
            ),
        ],
        className="sb-report sb-no-print",
    )


def report_problem_io(prefix: str) -> list:
    """The outputs, input and states of the callback a page registers for
    :func:`report_problem`'s form (the page's own callback, so the gate applies its rule)."""
    return [
        Output(f"{prefix}-report-done", "children"),
        Output(f"{prefix}-report-text", "value"),
        Input(f"{prefix}-report-send", "n_clicks"),
        State(f"{prefix}-report-text", "value"),
        State("sb-url", "pathname"),
        State("sb-url", "search"),
    ]


def report_problem_result(stored: bool, message: str, text: str | None) -> tuple:
    """What the form shows after a send: the message, and the text kept when not stored."""
    return html.Span(message, className="sb-good" if stored else "sb-bad"), "" if stored else text
