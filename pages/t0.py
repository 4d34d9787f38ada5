"""/t0/<board>?period=2026-10: the executive one-pager for any `tier: 0` board of the model.

Rendered whole in the layout from cached results (all queries at once, no callback
waterfall); the one callback stores a reported data problem.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import dash
from dash import callback, dcc, html

from app.core import web
from app.core.stores import problems
from components import ban, figures, shell, trustbadge
from components.formatting import cut_note
from queries.boards import tier0 as boards
from queries.explore import state as explore_q
from queries.quality import trust as trust_q
from queries.semantic.periods import PeriodWindow
from queries.semantic.run import current_model

dash.register_page(
    __name__,
    path_template="/t0/<board>",
    name="Executive",
    title="Executive · Starboard",
    access="tier0",
    order=10,
)

P = "t0"
READY = f"{P}-ready"


def _tile_link(metric: str, has_tree: bool) -> str | None:
    """The metric's tree when there is one, else a Tier 1 board showing it, else Tier 2."""
    templates = {p.get("path_template") or p["path"] for p in dash.page_registry.values()}
    if has_tree and "/tree/<metric>" in templates:
        return f"/tree/{metric}"
    if "/t1/<board>" in templates:
        board = boards.tier1_board_for(metric)
        if board is not None:
            return f"/t1/{board}"
    if "/t2/explore" in templates:
        time = current_model().time_dimension()
        by = {"by": f"{time.name}:month"} if time else {}
        return "/t2/explore?" + urlencode({"metrics": metric, **by})
    return None


def _ban_data(figures_: boards.BanFigures, grain: str) -> ban.BanData:
    metric = figures_.metric
    flagged = None
    if figures_.anomaly is not None:
        flagged = ban.anomaly_note(
            figures_.anomaly.direction,
            figures_.anomaly.low,
            figures_.anomaly.high,
            metric.value_format,
            periods=boards.HISTORY - 1,
        )
    status = figures_.status
    checked = trust_q.trust_for(metric.name)
    return ban.BanData(
        metric=metric.name,
        label=metric.label,
        description=metric.description,
        fmt=metric.value_format,
        direction=metric.direction,
        value=figures_.value,
        previous=figures_.previous,
        last_year=figures_.last_year,
        previous_label=figures_.previous_window.label if figures_.previous_window else "",
        last_year_label=figures_.last_year_window.label if figures_.last_year_window else "",
        goal=figures_.goal,
        goal_status=status.status
        if status and status.status in ("on_track", "at_risk", "off_track")
        else None,
        attainment=status.attainment if status else None,
        projected=status.projected if status else None,
        sparkline=tuple(v for _, v in figures_.history),
        sparkline_labels=tuple(w.short_label for w, _ in figures_.history),
        anomaly=flagged,
        href=_tile_link(metric.name, figures_.has_tree),
        no_data_reason=figures_.no_data_reason,
        trust=checked.status,
        trust_lines=checked.lines,
    )


def _cut_note(chart: boards.ChartFigures, window: PeriodWindow, can_explore: bool) -> html.P | None:
    """ "3 more carriers (5,210 flights) not shown", with the full list in the explorer (same
    metric, dimension and period) for those who may explore."""
    cut, metric, by = chart.cut, chart.metric, chart.chart.by
    if cut is None or metric is None or not by:
        return None
    model = current_model()
    text = cut_note(
        cut.hidden,
        model.dimensions[by].label if by in model.dimensions else by,
        at_least=cut.at_least,
        size=cut.size,
        fmt=metric.value_format,
        metric_label=metric.label,
        empty=cut.empty,
    )
    parts: list[Any] = [text]
    if can_explore:
        href = explore_q.link_for(
            [metric.name],
            [by],
            window.start,
            window.end - timedelta(days=1),
            chart="table",
            time_name=model.time_name("a Tier 0 board"),
            order=(f"-{metric.name}",),
        )
        parts += [" ", dcc.Link("See the full list ›", href=href, className="sb-cut-link")]
    return html.P(parts, className="sb-chart-note sb-cut-note", **{"data-hidden": str(cut.hidden)})


def _chart(
    chart: boards.ChartFigures, window: PeriodWindow | None = None, can_explore: bool = False
) -> html.Div:
    if chart.error:
        body = shell.error_tile(chart.title, chart.error)
    elif not chart.x:
        body = html.P("No data for this period.", className="sb-empty")
    else:
        fmt = chart.metric.value_format if chart.metric else "number"
        if chart.chart.type == "bar":
            fig = figures.bar_chart(list(chart.x), list(chart.y), fmt=fmt)
        elif chart.chart.type == "area":
            fig = figures.area_chart(list(chart.x), list(chart.y), name=chart.title, fmt=fmt)
        else:
            compare = (
                (list(chart.compare[0]), list(chart.compare[1]), chart.compare[2])
                if chart.compare
                else None
            )
            fig = figures.line_chart(
                list(chart.x),
                list(chart.y),
                name=chart.metric.label if chart.metric else "",
                compare=compare,
                fmt=fmt,
            )
        body = figures.graph(fig, height=240)
    note = html.P(chart.note, className="sb-chart-note") if chart.note else None
    cut = _cut_note(chart, window, can_explore) if window is not None and not chart.error else None
    names = [chart.chart.metric] if chart.chart.metric else list(chart.chart.metrics)
    checked = trust_q.trust_for(names, [chart.chart.by] if chart.chart.by else [])
    title = html.Div(
        [
            html.H3(chart.title, className="sb-chart-title"),
            trustbadge.badge(checked.status, checked.lines),
        ],
        className="sb-chart-head",
    )
    return html.Div([title, body, cut, note], className="sb-chart")


def _period_bar(view: boards.Tier0View, path: str) -> html.Div:
    def step(label: str, key: str | None, rel: str) -> html.A:
        if key is None:
            return html.A(label, className="sb-period-step disabled", **{"aria-disabled": "true"})
        return html.A(
            label, href=f"{path}?period={key}", className="sb-period-step", rel=rel, id=f"{P}-{rel}"
        )

    running = "" if view.complete else f" · running: {view.elapsed:.0%} of the period in"
    return html.Div(
        [
            html.Div(
                [
                    step("‹", view.previous_key, "prev"),
                    html.Span(view.window.label, className="sb-period-label", id=f"{P}-period"),
                    step("›", view.next_key, "next"),
                ],
                className="sb-period-nav sb-no-print-nav",
            ),
            html.Span(f"Data to {view.latest:%d %b %Y}{running}", className="sb-period-note"),
        ],
        className="sb-t0-bar",
    )


def layout(board: str | None = None, period: str | list[str] | None = None, **_query: object):
    """The whole board, server-rendered for the period in the URL."""
    trust = shell.Trust(**trust_q.trust_summary().__dict__)
    viewer = shell.Viewer(**web.viewer())
    path = f"/t0/{board}"
    view = boards.tier0_view(board or "", period)
    sections = []
    for section in view.sections:
        parts = []
        if section.bans:
            parts.append(ban.tiles([_ban_data(b, view.window.grain) for b in section.bans]))
        if section.charts:
            can_explore = "tier2" in viewer.permissions
            charts = [_chart(c, view.window, can_explore) for c in section.charts]
            parts.append(html.Div(charts, className="sb-chart-grid"))
        sections.append(
            shell.section(section.title, parts)
            if section.title
            else html.Section(parts, className="sb-section")
        )
    notice = (
        html.Div(view.notice, className="sb-banner sb-banner-warn", role="status", id=f"{P}-notice")
        if view.notice
        else None
    )
    errors = sum(1 for s in view.sections for b in s.bans if b.error)
    body = [
        _period_bar(view, path),
        notice,
        *sections,
        html.P(
            f"Printed {view.window.label} · data to {view.latest:%d %b %Y}",
            className="sb-print-only",
        ),
    ]
    return shell.page(
        view.board.title,
        html.Div(
            body,
            className="sb-t0",
            id=READY,
            **{"data-period": view.window.key, "data-errors": str(errors)},
        ),
        path=path,
        trust=trust,
        viewer=viewer,
        subtitle=view.board.description or None,
        actions=shell.report_problem(P, f"What looks wrong on this page for {view.window.label}?"),
    )


@callback(*shell.report_problem_io(P), prevent_initial_call=True)
def report_problem(_clicks, text, pathname, search):
    """Store what the page's "Report a data problem" form sends."""
    stored, message = problems.submit_as_signed_in("tier0", text, pathname, search)
    return shell.report_problem_result(stored, message, text)
