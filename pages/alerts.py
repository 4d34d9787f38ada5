"""/quality/alerts?rule=…: alerts fired by the model's rules, with their delivery status.

Alert values are computed over all the data (the rules run after a publish, for nobody in
particular), so a viewer with a row scope sees what fired and when, without the numbers.
"""

from __future__ import annotations

import dash
from dash import callback, html

from app.core import web
from app.core.auth import signed_in_user
from app.core.errors import StarboardError
from app.core.runtime import current_runtime
from app.core.stores import alerts as alert_store
from app.core.stores import problems
from components import shell
from components.tables import Column, table
from queries.quality import trust as trust_q
from queries.semantic.alert_rules import AlertRule
from queries.semantic.run import current_model

dash.register_page(
    __name__,
    path="/quality/alerts",
    name="Alerts",
    title="Alerts · Starboard",
    description="Alerts from the model's rules and where they were delivered.",
    nav=False,
    access="tier2",
    order=92,
)

P = "alerts"
TABLE = f"{P}-table"
RULES = f"{P}-rules"
SEVERITY = {"critical": "fail", "warning": "warn", "info": "muted"}
DELIVERY = {
    "delivered": "ok",
    "partly delivered": "warn",
    "failed": "fail",
    "skipped": "muted",
    "no webhook": "muted",
}


def _text(value: object) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if abs(value) >= 1000 or value == int(value) else f"{value:,.4g}"


def normal_range(low: float | None, high: float | None) -> str:
    """ "12 – 40", "≥ 1", "≤ 36" or "—"."""
    if low is not None and high is not None:
        return f"{_number(low)} – {_number(high)}"
    if low is not None:
        return f"≥ {_number(low)}"
    if high is not None:
        return f"≤ {_number(high)}"
    return "—"


def _delivery(row: alert_store.AlertRow) -> html.Span:
    state = row.delivery_status
    detail = "; ".join(
        f"{d.webhook}: {d.status}"
        + (f" after {d.attempts} attempt{'s' if d.attempts != 1 else ''}" if d.attempts else "")
        + (f" ({d.error})" if d.error else "")
        for d in row.deliveries
    )
    return html.Span(
        state,
        title=detail or "This rule names no webhook.",
        className=f"sb-badge sb-badge-{DELIVERY.get(state, 'muted')}",
    )


def _delivery_detail(row: alert_store.AlertRow) -> str:
    failed = [d for d in row.deliveries if d.status != "delivered"]
    return "; ".join(
        f"{d.webhook}: {d.error or d.status}"
        + (f" ({d.attempts} attempts)" if d.attempts > 1 else "")
        for d in failed
    )


def alerts_table(rows: list[alert_store.AlertRow], *, numbers: bool) -> html.Div:
    """Newest first: when, how bad, which rule, for which period (a link to that view)."""
    columns = [Column("Severity"), Column("Rule"), Column("Period"), Column("For")]
    if numbers:
        columns += [Column("Value", "right"), Column("Normal range", "right")]
    columns += [
        Column("Delivery"),
        Column("What happened"),
        Column("Delivery detail"),
        Column("Fired (UTC)"),
    ]
    body = []
    for r in rows:
        period = html.Span(r.period, className="sb-nowrap")
        cells: list[object] = [
            html.Span(
                r.severity, className=f"sb-badge sb-badge-{SEVERITY.get(r.severity, 'muted')}"
            ),
            r.rule,
            html.A(period, href=r.link, title="Open this view")
            if r.link.startswith("/")
            else period,
            ", ".join(f"{d} = {v}" for d, v in r.member.items()) or "—",
        ]
        if numbers:
            cells += [_number(r.value), normal_range(r.low, r.high)]
        cells += [
            _delivery(r),
            r.message if numbers else r.rule.replace("_", " "),
            _delivery_detail(r) or "—",
            f"{r.fired_at:%Y-%m-%d %H:%M}",
        ]
        body.append(tuple(cells))
    return table(
        columns,
        body,
        table_id=TABLE,
        row_classes=["sb-row-fail" if r.severity == "critical" else "" for r in rows],
        empty="No alerts have fired.",
    )


def _condition(rule: AlertRule) -> str:
    where = f" where {'; '.join(rule.where)}" if rule.where else ""
    each = f" for each {rule.by}" if rule.by else ""
    if rule.kind == "threshold":
        bounds = " or ".join(
            b
            for b in (
                f"below {rule.below:g}" if rule.below is not None else "",
                f"above {rule.above:g}" if rule.above is not None else "",
            )
            if b
        )
        return f"{rule.metric} per {rule.grain}{where}{each} {bounds}"
    if rule.kind == "anomaly":
        side = {"high": "unusually high", "low": "unusually low", "both": "unusual"}[rule.direction]
        return f"{rule.metric} per day{where}{each} {side} (robust z ≥ {rule.z:g})"
    if rule.kind == "stale":
        hours = (
            f"{rule.hours:g}"
            if rule.hours is not None
            else (
                f"{current_runtime().settings.freshness_slo_hours} (STARBOARD_FRESHNESS_SLO_HOURS)"
            )
        )
        return f"data older than {hours} hours"
    return "a Risk 1 quality check fails (a load stopped, or the live data)"


def rules_table() -> html.Div:
    """The rules the model declares."""
    try:
        rules = list(current_model().alerts.values())
    except StarboardError as exc:
        return shell.error_tile("Model unavailable", exc.message)
    return table(
        [
            Column("Rule"),
            Column("Kind"),
            Column("Fires when"),
            Column("Severity"),
            Column("Sends to"),
        ],
        [
            (
                r.name,
                r.kind,
                _condition(r),
                r.severity,
                ", ".join(alert_store.target_label(t) for t in r.notify) or "—",
            )
            for r in rules
        ],
        table_id=RULES,
        empty="The model declares no alert rules (alerts: in the model YAML).",
    )


def layout(rule: str | list[str] | None = None, **_query: object):
    """Stats, the alert history (of one rule with ?rule=), and the rules."""
    trust = shell.Trust(**trust_q.trust_summary().__dict__)
    viewer = shell.Viewer(**web.viewer())
    user = signed_in_user()
    numbers = user is not None and not user.scopes
    chosen = _text(rule) or None
    rows = alert_store.recent(current_runtime().users.db, limit=300, rule=chosen)
    failed = sum(1 for r in rows if r.delivery_status in ("failed", "partly delivered"))
    critical = sum(1 for r in rows if r.severity == "critical")
    stats = html.Div(
        [
            shell.stat(
                "Alerts",
                f"{len(rows):,}",
                "latest 300" if len(rows) >= 300 else "stored",
                test_id=f"{P}-count",
            ),
            shell.stat(
                "Critical",
                f"{critical:,}",
                status="fail" if critical else None,
                test_id=f"{P}-critical",
            ),
            shell.stat(
                "Deliveries failed",
                f"{failed:,}",
                "recorded with the last error",
                status="fail" if failed else "ok",
                test_id=f"{P}-failed",
            ),
        ],
        className="sb-stats",
    )
    note = (
        "Newest first. A period links to the view it is about."
        if numbers
        else "Your row scope hides the values: alerts are computed over all the data."
    )
    history = [alerts_table(rows, numbers=numbers)]
    if chosen:
        history.insert(
            0, html.P([f"Rule {chosen} only · ", html.A("all rules", href="/quality/alerts")])
        )
    return shell.page(
        "Alerts",
        [
            stats,
            shell.section("History", history, note),
            shell.section(
                "Rules",
                rules_table(),
                "Declared under alerts: in the model; evaluated after every publish "
                "and by `starboard alerts run`. One alert per rule and period.",
            ),
        ],
        path="/quality/alerts",
        trust=trust,
        viewer=viewer,
        subtitle="What the model's alert rules found, and whether the webhooks got it.",
        actions=html.Div(
            [
                html.A("← Data quality", href="/quality", className="sb-link-button"),
                shell.report_problem(P),
            ],
            className="sb-actions",
        ),
    )


@callback(*shell.report_problem_io(P), prevent_initial_call=True)
def report_problem(_clicks, text, pathname, search):
    """Store what the page's "Report a data problem" form sends."""
    stored, message = problems.submit_as_signed_in("signed_in", text, pathname, search)
    return shell.report_problem_result(stored, message, text)
