"""BAN tiles (big aggregate numbers) for Tier 0 boards: plain values in, one link out.

A page maps its query results into ``BanData``; nothing here queries or computes a
goal status or an anomaly (those rules live in ``queries.analysis.changes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dash import html

from components import trustbadge
from components.figures import graph, sparkline
from components.formatting import (
    DASH,
    as_number,
    change_tone,
    format_change,
    format_value,
    tone_class,
)

STATUS_TEXT = {"on_track": "on track", "at_risk": "at risk", "off_track": "off track"}
STATUS_TONE = {"on_track": "good", "at_risk": "warn", "off_track": "bad"}
SPARKLINE_HEIGHT = 36
NO_DATA = "No data for this period."


@dataclass(frozen=True)
class BanData:
    """Everything one tile shows, as plain values (numbers unformatted)."""

    metric: str
    label: str
    description: str = ""
    fmt: str = "number"  # number | currency | percent | duration
    direction: str = "up"  # up | down | none
    value: float | None = None
    previous: float | None = None
    last_year: float | None = None
    previous_label: str = "previous period"  # e.g. "September 2026"
    last_year_label: str = "same period last year"  # e.g. "October 2025"
    goal: float | None = None
    goal_status: str | None = None  # on_track | at_risk | off_track (None: no goal)
    attainment: float | None = None  # value / goal
    projected: float | None = None  # projected end-of-period value (running periods)
    sparkline: tuple[float | None, ...] = ()  # last periods, oldest first
    sparkline_labels: tuple[str, ...] = ()
    anomaly: str | None = None  # e.g. "Outside the expected range $1.1M – $1.4M"
    href: str | None = None  # /tree/<metric> or the metric's Tier 1/2 view
    no_data_reason: str | None = None
    key: str | None = None  # the tile's id when a page shows one metric twice
    trust: str = "unknown"  # ok | warn | fail | unknown: checks on its data
    trust_lines: tuple[str, ...] = ()  # one line per failing check


def anomaly_note(direction: str, low: float, high: float, fmt: str, *, periods: int = 12) -> str:
    """The hover text of an anomaly flag: which side of which expected range, and why."""
    side = "Above" if direction == "above" else "Below"
    return (
        f"{side} the expected range {format_value(low, fmt)} – {format_value(high, fmt)} "
        f"(from the previous {periods} periods)"
    )


def relative_change(current: float | None, base: float | None) -> float | None:
    """(current − base) / |base|, None when either is missing or base is 0."""
    cur, ref = as_number(current), as_number(base)
    if cur is None or ref is None or ref == 0:
        return None
    return (cur - ref) / abs(ref)


def _arrow(rel: float | None) -> str:
    if rel is None or format_change(rel) in ("0.0%", DASH):
        return "■"
    return "▲" if rel > 0 else "▼"


def change_chip(
    current: float | None, base: float | None, *, against: str, short: str, direction: str, fmt: str
) -> html.Span:
    """ "▲ +4.2% vs prev" coloured by whether the change is good for this metric."""
    rel = relative_change(current, base)
    tone = change_tone(rel, direction)
    if as_number(base) is None:
        title = f"No value for {against}"
    else:
        title = f"{against[:1].upper()}{against[1:]}: {format_value(base, fmt)}"
        if rel is None:
            title += " (no relative change from zero)"
    return html.Span(
        [
            html.Span(_arrow(rel), className="sb-chip-arrow", **{"aria-hidden": "true"}),
            html.Span(format_change(rel), className="sb-chip-value"),
            html.Span(f"vs {short}", className="sb-chip-label"),
        ],
        className=f"sb-chip {tone_class(tone)}",
        title=title,
        **{"data-tone": tone},
    )


def _percent(ratio: float | None) -> str:
    return DASH if ratio is None else f"{ratio * 100:,.0f}%"


def goal_block(data: BanData) -> html.Div | None:
    """Progress bar, attainment and status against the period's goal (None without a goal)."""
    goal = as_number(data.goal)
    if goal is None:
        return None
    status = data.goal_status if data.goal_status in STATUS_TEXT else None
    tone = STATUS_TONE.get(status or "", "neutral")
    attainment = as_number(data.attainment)
    width = 0.0 if attainment is None else max(0.0, min(100.0, attainment * 100))
    hover = [f"Goal: {format_value(goal, data.fmt)}"]
    projected = as_number(data.projected)
    if projected is not None and projected != as_number(data.value):
        hover.append(
            f"Projected by the end of the period: {format_value(projected, data.fmt)}"
            f" ({_percent(projected / goal if goal else None)} of goal)"
        )
    if data.direction == "down":
        hover.append("Lower is better: the goal is a ceiling.")
    return html.Div(
        [
            html.Div(
                html.Div(
                    className=f"sb-progress-bar {tone_class(tone)}",
                    style={"width": f"{width:.0f}%"},
                ),
                className="sb-progress",
                role="progressbar",
                **{"aria-valuenow": f"{width:.0f}", "aria-valuemin": "0", "aria-valuemax": "100"},
            ),
            html.Div(
                [
                    html.Span(
                        f"{_percent(attainment)} of {format_value(goal, data.fmt)} goal",
                        className="sb-goal-text",
                    ),
                    html.Span(
                        STATUS_TEXT[status],
                        className=f"sb-status {tone_class(tone)}",
                        **{"data-status": status},
                    )
                    if status
                    else None,
                ],
                className="sb-goal-line",
            ),
        ],
        className="sb-ban-goal",
        title="\n".join(hover),
    )


def _sparkline(data: BanData, tone: str) -> html.Div | None:
    known = [v for v in data.sparkline if as_number(v) is not None]
    if len(known) < 2:
        return None
    labels = data.sparkline_labels if len(data.sparkline_labels) == len(data.sparkline) else None
    fig = sparkline(data.sparkline, tone=tone, labels=labels, fmt=data.fmt)
    low, high = min(known), max(known)
    span = f"{labels[0]} – {labels[-1]}: " if labels else f"Last {len(data.sparkline)} periods: "
    title = f"{span}low {format_value(low, data.fmt)}, high {format_value(high, data.fmt)}"
    return html.Div(
        graph(fig, height=SPARKLINE_HEIGHT, static=True, class_name="sb-spark-graph"),
        className="sb-ban-spark",
        title=title,
    )


def ban_tile(data: BanData) -> html.A | html.Div:
    """One BAN tile; the whole tile links to ``data.href`` (the metric's tree or view)."""
    label = html.Span(data.label, className="sb-ban-label", title=data.description or None)
    value = as_number(data.value)
    missing = value is None or data.no_data_reason is not None
    head_children: list[html.Span] = [label]
    if data.anomaly and not missing:
        head_children.append(
            html.Span(
                "⚠",
                className="sb-ban-anomaly",
                title=data.anomaly,
                role="img",
                **{"aria-label": data.anomaly},
            )
        )
    flag = trustbadge.badge(data.trust, data.trust_lines, compact=True)
    if flag is not None:
        head_children.append(flag)
    head = html.Div(head_children, className="sb-ban-head")
    if missing:
        reason = data.no_data_reason or NO_DATA
        body = [
            html.Div(
                "No data",
                className="sb-ban-value sb-ban-nodata",
                **{"data-value": "", "data-raw": ""},
            ),
            html.Div(reason, className="sb-ban-reason"),
        ]
        status = "nodata"
    else:
        shown = format_value(value, data.fmt)
        trend_tone = change_tone(relative_change(value, data.previous), data.direction)
        body = [
            html.Div(
                shown,
                className="sb-ban-value",
                title=format_value(value, data.fmt, compact=False),
                **{"data-value": shown, "data-raw": repr(value)},
            ),
            html.Div(
                [
                    change_chip(
                        value,
                        data.previous,
                        against=data.previous_label,
                        short="prev",
                        direction=data.direction,
                        fmt=data.fmt,
                    ),
                    change_chip(
                        value,
                        data.last_year,
                        against=data.last_year_label,
                        short="last year",
                        direction=data.direction,
                        fmt=data.fmt,
                    ),
                ],
                className="sb-ban-changes",
            ),
            goal_block(data),
            _sparkline(data, trend_tone),
        ]
        status = data.goal_status if data.goal_status in STATUS_TEXT else "none"
    children = [head, *[part for part in body if part is not None]]
    props = dict(
        id={"type": "ban", "metric": data.key or data.metric},
        className=f"sb-ban sb-ban-{status.replace('_', '-')}",
    )
    props["data-metric"] = data.metric
    if data.href:
        return html.A(children, href=data.href, **props)
    return html.Div(children, **props)


def tiles(items: Sequence[BanData]) -> html.Div:
    """The grid of BAN tiles of one board section."""
    return html.Div([ban_tile(item) for item in items], className="sb-ban-grid")
