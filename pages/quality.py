"""/quality: the DQ score, the model's checks by table, their history across publishes,
freshness against its SLO, failing rows (PII masked unless the viewer may see it), every
load gate of the live version, what the warehouse holds and the last publishes."""

from __future__ import annotations

from typing import Any

import dash
from dash import callback, html

from app.core import web
from app.core.auth import can, signed_in_user
from app.core.errors import StarboardError
from app.core.stores import problems
from app.core.stores.checks import MASK
from components import quality as quality_c
from components import shell
from components.figures import graph
from components.tables import Column, table
from queries.quality import dq as dq_q
from queries.quality import status as status_q
from queries.quality import trust as trust_q
from queries.semantic.run import effective_scope

dash.register_page(
    __name__,
    path="/quality",
    name="Quality",
    title="Data quality · Starboard",
    description="Checks on every load, DQ score, freshness and publishes.",
    nav=True,
    access="signed_in",
    order=90,
)

P = "quality"
TABLES = f"{P}-tables"
GATES = f"{P}-gates"
PUBLISHES = f"{P}-publishes"
CHECKS = f"{P}-checks-by-table"
HISTORY = f"{P}-history"
FRESHNESS = f"{P}-freshness"
SAMPLES = f"{P}-samples"
LINKS = f"{P}-links"
BADGE = {"ok": ("passed", "ok"), "warn": ("warning", "warn"), "fail": ("failed", "fail")}


def _number(value: float | None, threshold: float | None) -> str:
    if value is None:
        return "—"
    if threshold is not None and threshold <= 1 and abs(value) <= 1 and value != int(value):
        return f"{value:.2%}"
    return f"{value:,.4g}" if value != int(value) else f"{int(value):,}"


def _badge(status: str):
    text, kind = BADGE[status]
    return html.Span(text, className=f"sb-badge sb-badge-{kind}")


def _links() -> html.Div:
    """The "Problems and alerts" row: links to the quality pages registered next to this one."""
    # Problems and alerts (PART B) register pages under /quality/…; they show up here.
    pages = sorted(
        (
            pg
            for pg in dash.page_registry.values()
            if str(pg.get("path", "")).startswith("/quality/")
        ),
        key=lambda pg: (pg.get("order", 50), pg["name"]),
    )
    links = [html.A(pg["name"], href=pg["path"], className="sb-link") for pg in pages]
    return html.Div(
        [html.Span("Problems and alerts:", className="sb-muted"), *links] if links else [],
        className="sb-quality-links",
        id=LINKS,
    )


def _failing(r) -> str:
    if r.failing_rows is None:
        return "—"
    return (
        f"{r.failing_rows:,} of {r.total_rows:,}"
        if r.total_rows is not None
        else f"{r.failing_rows:,}"
    )


def _checks_by_table(view: dq_q.QualityView):
    columns = [
        Column("Status"),
        Column("Risk"),
        Column("Check"),
        Column("Kind"),
        Column("Column"),
        Column("Failing rows", "right"),
        Column("Weight", "right"),
        Column("Result"),
    ]
    blocks = []
    for group in view.tables:
        failed = sum(1 for r in group.results if not r.passed)
        rows = [
            (
                html.Span("error", className="sb-badge sb-badge-fail")
                if r.error
                else _badge(r.status),
                str(r.risk),
                r.name.replace("_", " "),
                r.kind.replace("_", " "),
                r.column or "—",
                _failing(r),
                f"{r.weight:g}",
                r.message,
            )
            for r in group.results
        ]
        summary = html.Summary(
            [
                _badge(group.status),
                " ",
                html.B(group.table),
                f" · {len(group.results) - failed} of {len(group.results)} checks pass",
            ]
        )
        blocks.append(
            html.Details(
                [
                    summary,
                    table(columns, rows, row_classes=[f"sb-row-{r.status}" for r in group.results]),
                ],
                open=group.status != "ok",
                className="sb-details",
                **{"data-table": group.table, "data-status": group.status},
            )
        )
    if not blocks:
        return html.P(
            "No check results are recorded for this data version yet: run "
            "`starboard quality` or publish with `starboard load`.",
            className="sb-empty",
        )
    return html.Div(blocks, id=CHECKS)


def _history(view: dq_q.QualityView):
    if not view.history:
        return html.P(
            "No run recorded yet: history starts at the next publish or `starboard quality` run.",
            className="sb-empty",
            id=HISTORY,
        )
    labels = [f"#{run.id} {run.at:%d %b %H:%M} {run.source}" for run, _ in view.history]
    score = quality_c.score_history(
        labels,
        [run.dq_score for run, _ in view.history],
        [not run.published for run, _ in view.history],
    )
    ids = sorted(
        {c for _, passed in view.history for c, ok in passed.items() if not ok},
        key=lambda c: view.names.get(c, c),
    )
    total = len({c for _, passed in view.history for c in passed})
    if ids:
        matrix = [[passed.get(c) for _, passed in view.history] for c in ids]
        checks = quality_c.check_history(
            [view.names.get(c, c.split(":", 1)[-1]) for c in ids], labels, matrix
        )
        height = min(len(ids), quality_c.MAX_CHECK_ROWS) * 22 + 70
        per_check: Any = [
            graph(checks, height=height),
            html.P(f"{total - len(ids)} other checks passed in every run.", className="sb-muted"),
        ]
        if len(ids) > quality_c.MAX_CHECK_ROWS:  # the heatmap draws the first rows only
            cut = len(ids) - quality_c.MAX_CHECK_ROWS
            per_check.insert(
                1,
                html.P(
                    f"{cut} more {'check' if cut == 1 else 'checks'} that failed at least once "
                    "not shown in the heatmap.",
                    className="sb-chart-note sb-cut-note",
                ),
            )
    else:
        per_check = html.P(f"All {total} checks passed in every run.", className="sb-empty")
    return html.Div(
        [
            html.H3("DQ score per run", className="sb-chart-title"),
            graph(score, height=200),
            html.H3("Checks that failed in any run", className="sb-chart-title"),
            *(per_check if isinstance(per_check, list) else [per_check]),
            table(
                [
                    Column("Run"),
                    Column("Version"),
                    Column("Source"),
                    Column("DQ score", "right"),
                    Column("Failed", "right"),
                    Column("Published"),
                ],
                [
                    (
                        f"{run.at:%Y-%m-%d %H:%M}",
                        run.version,
                        run.source,
                        f"{run.dq_score:.1f}%",
                        f"{run.checks_failed} of {run.checks_total}",
                        "yes" if run.published else "stopped (Risk 1)",
                    )
                    for run, _ in view.history[::-1]
                ],
                table_id=f"{HISTORY}-runs",
            ),
        ],
        id=HISTORY,
    )


def _freshness(view: dq_q.QualityView):
    rows = [
        (
            _badge(f.status) if f.status in BADGE else html.Span("unknown", className="sb-badge"),
            f.table,
            f.column,
            f"{f.latest:%Y-%m-%d %H:%M}" if f.latest else "—",
            f"{f.age_hours:,.1f} h" if f.age_hours is not None else "—",
            f"{f.slo_hours:g} h",
            f.source,
        )
        for f in view.freshness
    ]
    return table(
        [
            Column("Status"),
            Column("Fact"),
            Column("Time column"),
            Column("Latest"),
            Column("Age", "right"),
            Column("SLO", "right"),
            Column("SLO from"),
        ],
        rows,
        table_id=FRESHNESS,
        empty="No fact table has a time column.",
    )


def _samples(view: dq_q.QualityView, show_pii: bool, scope: tuple = ()):
    if scope and view.samples:
        # Samples are taken at publish, for everyone: no row scope is applied to them, so a
        # user who sees only part of the data sees the counts above, not the rows.
        limited = "; ".join(f"{dim} = {', '.join(values)}" for dim, values in scope)
        return html.P(
            f"Your access is limited to {limited}. Failing-row samples are taken "
            "at publish from all rows, without a row scope, so they are not shown "
            "to you; the failing-row counts above are for all rows. Ask an "
            "administrator without a row scope to look at them.",
            className="sb-empty",
            id=SAMPLES,
            **{"data-reason": "row-scope"},
        )
    blocks = []
    for result, rows in view.samples:
        masked = [
            c
            for c in result.sample.masked
            if any(row[result.sample.columns.index(c)] == MASK for row in rows)
        ]
        note = f" · {', '.join(masked)} masked (PII)" if masked and not show_pii else ""
        blocks.append(
            html.Div(
                [
                    html.H3(f"{result.table} · {result.name.replace('_', ' ')}"),
                    html.P(f"{result.message}; showing {len(rows)}{note}", className="sb-muted"),
                    table(
                        [Column(c) for c in result.sample.columns],
                        [tuple("NULL" if v is None else str(v) for v in row) for row in rows],
                    ),
                ],
                className="sb-quality-sample",
                **{"data-check": result.check_id},
            )
        )
    if not blocks:
        return html.P(
            "No failing rows: every row-level check passed.", className="sb-empty", id=SAMPLES
        )
    return html.Div(blocks, id=SAMPLES)


def layout(**_query: object):
    """Server-rendered from the live data version; no callbacks."""
    trust = shell.Trust(**trust_q.trust_summary().__dict__)
    viewer = shell.Viewer(**web.viewer())
    status = status_q.warehouse_status()
    scope = effective_scope()
    show_pii = can(signed_in_user(), "pii") and not scope
    try:
        view = dq_q.quality_view(show_pii=show_pii)
    except StarboardError as exc:
        view = None
        extra = [shell.error_tile("Check results unavailable", exc.message)]
    if view is not None:
        extra = [
            shell.section(
                "Checks by table",
                _checks_by_table(view),
                "The model's checks and the load gates on the live data version.",
            ),
            shell.section(
                "Freshness", _freshness(view), "Latest time per fact against its freshness SLO."
            ),
            shell.section(
                "History",
                _history(view),
                "Every publish and `starboard quality` run, kept in the metadata database.",
            ),
            shell.section(
                "Failing rows",
                _samples(view, show_pii, scope),
                "Up to 20 rows per failing check, for users without a row scope. "
                "PII columns are masked unless your role may see personal data.",
            ),
            shell.section(
                "How the DQ score is computed",
                html.P(dq_q.FORMULA, className="sb-quality-formula", id=f"{P}-formula"),
            ),
        ]
    version = status.version
    score = version.dq_score
    if score is None and view is not None:  # a warehouse Starboard did not publish
        score = view.live.dq_score
    every: list = (
        list(view.live.results) if view is not None and view.live.results else status.gates
    )
    failed = [g for g in status.gates if not g.passed]
    broken = [r for r in every if not r.passed]
    blocking = sum(1 for r in broken if r.risk == 1)
    stats = html.Div(
        [
            shell.stat(
                "DQ score",
                f"{score:.1f}%" if score is not None else "—",
                "weighted share of checks passed",
                status=status.status,
                test_id=f"{P}-score",
            ),
            shell.stat(
                "Checks",
                f"{len(every) - len(broken)} / {len(every)}",
                f"{blocking} blocking, {len(broken) - blocking} warnings",
                test_id=f"{P}-checks",
            ),
            shell.stat(
                "Data covers",
                f"{status.data_from:%d %b %Y}" if status.data_from else "—",
                f"to {status.data_to:%d %b %Y %H:%M}" if status.data_to else None,
            ),
            shell.stat(
                "Published",
                f"{version.published_at:%d %b %Y %H:%M}" if version.published_at else "—",
                f"version {version.id}",
                test_id=f"{P}-version",
            ),
        ],
        className="sb-stats",
    )

    tables = table(
        [Column("Table"), Column("Rows", "right")],
        [(name, f"{rows:,}") for name, rows in status.tables],
        table_id=TABLES,
    )
    gate_columns = [
        Column("Status"),
        Column("Risk"),
        Column("Check"),
        Column("Table / column"),
        Column("Observed", "right"),
        Column("Limit", "right"),
        Column("Detail"),
    ]

    def gate_rows(rows: list[status_q.GateRow]) -> list[tuple]:
        return [
            (
                _badge(g.status),
                str(g.risk),
                g.check.replace("_", " "),
                g.target,
                _number(g.observed, g.threshold),
                _number(g.threshold, g.threshold),
                g.detail,
            )
            for g in rows
        ]

    passed = [g for g in status.gates if g.passed]
    if not status.gates:
        gates = html.P(
            "No gate results are recorded for this warehouse: it was not loaded by Starboard.",
            className="sb-empty",
        )
    else:
        gates = html.Div(
            [
                table(
                    gate_columns,
                    gate_rows(failed),
                    table_id=GATES,
                    row_classes=[f"sb-row-{g.status}" for g in failed],
                    empty="Every check passed.",
                ),
                html.Details(
                    [
                        html.Summary(f"{len(passed)} passed checks"),
                        table(gate_columns, gate_rows(passed), table_id=f"{GATES}-passed"),
                    ],
                    className="sb-details",
                ),
            ]
        )
    publishes = table(
        [
            Column("Version"),
            Column("Published"),
            Column("DQ score", "right"),
            Column("Checks failed", "right"),
            Column("Fact rows", "right"),
            Column("Load time", "right"),
        ],
        [
            (
                p.version,
                f"{p.published_at:%Y-%m-%d %H:%M}",
                f"{p.dq_score:.1f}%" if p.dq_score is not None else "—",
                f"{p.gates_failed} of {p.gates_total}",
                f"{p.fact_rows:,}" if p.fact_rows else "—",
                f"{p.seconds:.1f} s" if p.seconds is not None else "—",
            )
            for p in status.publishes
        ],
        table_id=PUBLISHES,
        empty="No publishes recorded.",
    )
    return shell.page(
        "Data quality",
        [
            stats,
            _links(),
            *extra,
            shell.section(
                "Quality gates",
                gates,
                "Risk 1 checks stop a load; Risk 2 checks warn and the load publishes.",
            ),
            html.Div(
                [shell.section("Tables", tables), shell.section("Last publishes", publishes)],
                className="sb-two-col",
            ),
        ],
        path="/quality",
        trust=trust,
        viewer=viewer,
        subtitle="Checks run on every load, before anything is published.",
        actions=shell.report_problem(P),
    )


@callback(*shell.report_problem_io(P), prevent_initial_call=True)
def report_problem(_clicks, text, pathname, search):
    """Store what the page's "Report a data problem" form sends."""
    stored, message = problems.submit_as_signed_in("signed_in", text, pathname, search)
    return shell.report_problem_result(stored, message, text)
