"""/t2/segments: behavioural segments of the model's members (queries/segments.py)."""

from __future__ import annotations

import dash
from dash import callback, html

from app.core import web
from app.core.auth import can, signed_in_user
from app.core.stores import problems
from components import figures, shell
from components.formatting import format_value
from components.tables import Column, table
from queries import export
from queries import segments as seg_q
from queries.quality import trust as trust_q
from queries.semantic.run import current_model

dash.register_page(
    __name__,
    path="/t2/segments",
    name="Segments",
    title="Segments · Starboard",
    description="Behavioural segments: k-means over recency, frequency, value and mix.",
    nav=True,
    access="tier2",
    needs="segments",  # the model's `segments:` section (queries/features.py)
    order=46,
)

P = "t2seg"
TABLE = f"{P}-table"
CHOICE = f"{P}-choice"
STATS = f"{P}-stats"
VALUE_CHART = f"{P}-value"
SIZE_CHART = f"{P}-size"


def _short(label: str, width: int = 26) -> str:
    """Chart labels short enough to leave the bars room on a phone."""
    return label if len(label) <= width else label[: width - 1].rstrip(" ,") + "…"


def export_href(number: int) -> str:
    return f"/api/v1/segments/export.csv?segment={number}"


def layout(**_query: object):
    """Server-rendered from the cached clustering of the viewer's scope."""
    trust = shell.Trust(**trust_q.trust_summary().__dict__)
    viewer = shell.Viewer(**web.viewer())
    spec, result = seg_q.segments()
    model = current_model()
    value_fmt = model.metrics[spec.value].value_format
    value_label = model.metrics[spec.value].label
    freq_label = model.metrics[spec.frequency].label
    members = sum(s.members for s in result.segments)
    best = dict(result.silhouettes).get(result.k)
    user = signed_in_user()
    scoped = bool(getattr(user, "scopes", ()))
    stats = html.Div(
        [
            shell.stat(
                f"{spec.title} clustered",
                f"{members:,}",
                "with any activity" + (" in your scope" if scoped else ""),
                test_id=f"{P}-members",
            ),
            shell.stat("Segments", str(result.k), "k with the best silhouette", test_id=f"{P}-k"),
            shell.stat(
                "Silhouette",
                f"{best:.3f}" if best is not None else "—",
                f"on {result.sample:,} members",
                test_id=f"{P}-silhouette",
            ),
            shell.stat(
                value_label,
                format_value(sum(s.value for s in result.segments), value_fmt),
                "all segments",
            ),
        ],
        className="sb-stats",
        id=STATS,
    )
    rows = [
        (
            str(s.number),
            html.Span(s.name, className="sb-seg-name"),
            f"{s.members:,}",
            f"{s.share:.1%}",
            format_value(s.value, value_fmt),
            format_value(s.value_per_member, value_fmt),
            f"{s.frequency:.2f}",
            f"{s.recency_days:.0f}",
            html.Span(
                ", ".join(f"{label} {z:+.1f}" for label, z in s.traits[:3]),
                className="sb-seg-traits",
            ),
            html.A(
                "CSV",
                href=export_href(s.number),
                className="sb-seg-export",
                id=f"{P}-export-{s.number}",
            ),
        )
        for s in result.segments
    ]
    segment_table = table(
        [
            Column("#"),
            Column("Segment"),
            Column("Members", "right"),
            Column("Share", "right"),
            Column(value_label, "right"),
            Column(f"{value_label} per member", "right"),
            Column(f"{freq_label} per member", "right"),
            Column("Days since active", "right"),
            Column("Strongest traits (z)"),
            Column("Export"),
        ],
        rows,
        table_id=TABLE,
    )
    names = [_short(f"{s.number}. {s.name}") for s in result.segments]
    value_chart = figures.graph(
        figures.bar_chart(
            names,
            [s.value for s in result.segments],
            fmt=value_fmt,
            horizontal=True,
            name=value_label,
        ),
        id_=VALUE_CHART,
        height=60 + 44 * len(names),
    )
    size_chart = figures.graph(
        figures.bar_chart(
            names, [s.members for s in result.segments], horizontal=True, name="Members"
        ),
        id_=SIZE_CHART,
        height=60 + 44 * len(names),
    )
    choice = table(
        [Column("k"), Column("Silhouette", "right")],
        [
            (html.B(str(k)) if k == result.k else str(k), f"{score:.3f}")
            for k, score in result.silhouettes
        ],
        table_id=CHOICE,
    )
    method = (
        f"k-means (fixed random state) on standardised features: days since last "
        f"active, {freq_label.lower()} and {value_label.lower()} (log scale), and each "
        f"member's share of {model.metrics[spec.activity].label.lower()} by "
        f"{', '.join(model.dimensions[d].label.lower() for d in spec.mix)}. k is the one "
        f"with the highest mean silhouette over k = 2…8, measured on a fixed sample. "
        f"Names come from each segment's strongest z-scores."
    )
    pii_note = export.cap_note(user)
    if not can(user, "pii"):
        pii_note += " Personal-data columns are masked for your role."
    return shell.page(
        "Segments",
        [
            stats,
            shell.section(f"{spec.title} by segment", segment_table, pii_note),
            html.Div(
                [
                    shell.section(f"{value_label} by segment", value_chart),
                    shell.section("Members by segment", size_chart),
                ],
                className="sb-seg-charts",
            ),
            html.Div(
                [shell.section("How k was chosen", choice, method)], className="sb-seg-method"
            ),
        ],
        path="/t2/segments",
        trust=trust,
        viewer=viewer,
        subtitle=f"Behavioural segments of {spec.title.lower()}"
        + (" in your scope" if scoped else "")
        + ", recomputed for each data version.",
        actions=shell.report_problem(P),
    )


@callback(*shell.report_problem_io(P), prevent_initial_call=True)
def report_problem(_clicks, text, pathname, search):
    """Store what the page's "Report a data problem" form sends."""
    stored, message = problems.submit_as_signed_in("tier2", text, pathname, search)
    return shell.report_problem_result(stored, message, text)
