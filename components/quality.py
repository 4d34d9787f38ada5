"""Figures of /quality: the DQ score across runs, and each check's pass/fail history."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from components.figures import BAD, GOOD, LINE

MAX_CHECK_ROWS = 40


def score_history(
    labels: Sequence[str], scores: Sequence[float], stopped: Sequence[bool]
) -> go.Figure:
    """DQ score (0–100) per run, oldest first; runs whose publish was stopped in red."""
    fig = go.Figure(layout=dict(template="starboard"))
    fig.add_trace(
        go.Scatter(
            x=list(labels),
            y=list(scores),
            mode="lines+markers",
            name="DQ score",
            marker=dict(size=8, color=[BAD if s else GOOD for s in stopped]),
            customdata=["publish stopped" if s else "" for s in stopped],
            hovertemplate="DQ score %{y:.1f}% %{customdata}<extra></extra>",
        )
    )
    low = min([*scores, 90.0])
    fig.update_yaxes(range=[max(0.0, low - 5), 100.5], ticksuffix="%")
    fig.update_xaxes(type="category")
    return fig


def check_history(
    checks: Sequence[str], runs: Sequence[str], passed: Sequence[Sequence[bool | None]]
) -> go.Figure:
    """One row per check, one column per run: green passed, red failed, blank not run."""
    checks = list(checks)[:MAX_CHECK_ROWS]
    z = [[None if v is None else (1 if v else 0) for v in row] for row in passed[: len(checks)]]
    text = [
        ["not run" if v is None else ("passed" if v else "failed") for v in row]
        for row in passed[: len(checks)]
    ]
    fig = go.Figure(layout=dict(template="starboard", hovermode="closest"))
    fig.add_trace(
        go.Heatmap(
            z=z,
            x=list(runs),
            y=checks,
            text=text,
            zmin=0,
            zmax=1,
            showscale=False,
            colorscale=[[0, BAD], [0.5, BAD], [0.5, GOOD], [1, GOOD]],
            xgap=2,
            ygap=2,
            hovertemplate="%{y}<br>%{x}: %{text}<extra></extra>",
        )
    )
    fig.update_xaxes(type="category", showline=False, linecolor=LINE)
    fig.update_yaxes(
        type="category",
        autorange="reversed",
        showgrid=False,
        tickfont=dict(size=11),
        tickmode="array",
        tickvals=checks,
    )
    return fig
