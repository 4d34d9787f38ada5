"""/pipeline?run=<id>: the pipeline project's DAG coloured by the last run, the last runs and
one run's tasks, each output's freshness against its SLO, and the schedule."""

from __future__ import annotations

from pathlib import Path

import dash
from dash import html

from app.core import web
from app.core.errors import PipelineError, StarboardError
from app.core.runtime import current_runtime
from app.core.stores.pipeline import RunRecord
from app.loader.project import PROJECT_FILE, Project, load_project
from components import pipeline as dag_c
from components import shell
from components.tables import Column, table
from queries.quality import pipeline as pipeline_q
from queries.quality import trust as trust_q
from queries.semantic.run import current_model

dash.register_page(
    __name__,
    path="/pipeline",
    name="Pipeline",
    title="Pipeline · Starboard",
    description="The load pipeline: DAG, runs, freshness against SLOs, schedule.",
    nav=True,
    access="tier2",
    order=88,
)

P = "pipeline"
RUNS = f"{P}-runs"
TASKS = f"{P}-tasks"
FRESHNESS = f"{P}-freshness"
SCHEDULE = f"{P}-schedule"
PROBLEMS = f"{P}-problems"
MISSING = f"{P}-missing"
LAST_ERROR = f"{P}-last-error"
RUN_BADGES = {"published": "ok", "running": "muted", "failed": "fail", "killed": "fail"}
FRESH_BADGES = {"within": "ok", "breached": "fail", "unknown": "muted"}


def _text(value: object) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


def _run_id(value: object) -> int | None:
    try:
        return int(_text(value))
    except ValueError:
        return None


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes / 60:.1f} h"


def _badge(text: str, kind: str) -> html.Span:
    return html.Span(text, className=f"sb-badge sb-badge-{kind}")


def _no_project(path: Path) -> html.Section:
    return shell.section(
        "No pipeline project",
        html.Div(
            [
                html.P(
                    [
                        "STARBOARD_PIPELINE is ",
                        html.Code(str(path)),
                        f", which holds no {PROJECT_FILE}: this deployment's warehouse is "
                        "loaded some other way, so there is no DAG, run history or schedule "
                        "to show here.",
                    ]
                ),
                html.P(
                    "To load your own data through Starboard (README, “Loading your own data”):"
                ),
                html.Ol(
                    [
                        html.Li(
                            [
                                "write a project: a folder with ",
                                html.Code(PROJECT_FILE),
                                " (sources, outputs, schedule) and one SELECT per table in ",
                                html.Code("transforms/"),
                                "; ",
                                html.Code("starboard generate DIR"),
                                " writes an example project with its raw files;",
                            ]
                        ),
                        html.Li(
                            [
                                "build it once: ",
                                html.Code("starboard load DIR"),
                                ";",
                            ]
                        ),
                        html.Li(
                            [
                                "point the server at it: ",
                                html.Code("STARBOARD_PIPELINE=DIR"),
                                ", and refresh it with ",
                                html.Code("starboard refresh"),
                                " from cron or a systemd timer, or ",
                                html.Code("STARBOARD_SCHEDULER=true"),
                                ".",
                            ]
                        ),
                    ]
                ),
            ],
            id=MISSING,
        ),
    )


def _problems(error: PipelineError) -> html.Section:
    return shell.section(
        "The pipeline project has problems",
        html.Div(
            [
                html.P(
                    "Nothing can run until these are fixed; the warehouse keeps serving the "
                    "last published version.",
                    className="sb-pipe-note",
                ),
                html.Ul(
                    [
                        html.Li(html.Code(str(p)), className="sb-pipe-problem")
                        for p in error.problems
                    ]
                ),
            ],
            id=PROBLEMS,
            className="sb-pipe-alert",
        ),
    )


def _nodes(project: Project, last: RunRecord | None) -> list[dag_c.Node]:
    try:
        tables = list(current_model().tables)
    except StarboardError:
        tables = None
    outputs = project.output_names(tables)
    tasks = project.tasks
    kinds = {n: "source" for n in project.sources} | {n: "transform" for n in project.transforms}
    statuses: dict[str, str] = {}
    details: dict[str, str] = {}
    for t in last.tasks if last else ():
        if t.name in tasks:
            statuses[t.name] = t.status
            done = f"{t.rows:,} rows in {t.seconds:.2f} s" if t.rows is not None else ""
            details[t.name] = (t.detail.splitlines() or [""])[0] if t.status == "failed" else done
    return dag_c.dag_nodes(tasks, kinds, outputs, statuses, details)


def _runs_table(runs: list[RunRecord], selected: int | None) -> html.Div:
    rows = []
    for r in runs:
        rows.append(
            (
                html.A(f"#{r.id}", href=f"/pipeline?run={r.id}", title="Show this run's tasks"),
                _badge(r.status, RUN_BADGES.get(r.status, "muted")),
                f"{r.started_at:%Y-%m-%d %H:%M:%S}",
                r.trigger,
                r.mode,
                _seconds(r.seconds),
                r.version or "—",
                f"{r.dq_score:.1f}%" if r.dq_score is not None else "—",
                html.Span(" ".join(r.error.split()), title=r.error, className="sb-pipe-err"),
            )
        )
    return table(
        [
            Column("Run"),
            Column("Status"),
            Column("Started (UTC)"),
            Column("Trigger"),
            Column("Mode"),
            Column("Duration", "right"),
            Column("Version"),
            Column("DQ score", "right"),
            Column("Error"),
        ],
        rows,
        table_id=RUNS,
        row_classes=[
            ("sb-row-fail" if r.status in ("failed", "killed") else "")
            + (" sb-pipe-selected" if r.id == selected else "")
            for r in runs
        ],
        empty="No run recorded yet: `starboard load` or `starboard refresh` records one.",
    )


def _run_tasks(run: RunRecord) -> list:
    head = [
        html.P(
            [
                _badge(run.status, RUN_BADGES.get(run.status, "muted")),
                f" Run #{run.id} · {run.mode} · {run.trigger} · started "
                f"{run.started_at:%Y-%m-%d %H:%M:%S} UTC · {_seconds(run.seconds)}",
                f" · version {run.version}" if run.version else "",
            ],
            className="sb-pipe-run-head",
        )
    ]
    if run.error:
        head.append(
            html.Div(
                [html.B(f"Run #{run.id} {run.status}: "), html.Span(run.error)],
                className="sb-pipe-alert sb-pipe-run-error",
                role="alert",
            )
        )
    rows = [
        (
            str(i + 1),
            t.name,
            t.kind,
            dag_c.status_badge(t.status if t.status != "pending" else "not run"),
            f"{t.rows:,}" if t.rows is not None else "—",
            f"{t.seconds:.2f}",
            ", ".join(t.inputs) or "—",
            html.Span(t.detail, className="sb-pipe-detail"),
        )
        for i, t in enumerate(run.tasks)
    ]
    return [
        *head,
        table(
            [
                Column("#", "right"),
                Column("Task"),
                Column("Kind"),
                Column("Status"),
                Column("Rows", "right"),
                Column("Seconds", "right"),
                Column("Reads"),
                Column("Detail"),
            ],
            rows,
            table_id=TASKS,
            row_classes=[
                "sb-row-fail"
                if t.status == "failed"
                else "sb-row-warn"
                if t.status == "skipped"
                else ""
                for t in run.tasks
            ],
            empty="This run recorded no tasks (it stopped before the first one).",
        ),
    ]


def _freshness(project: Project, outputs: list[str] | None) -> html.Div | html.P:
    try:
        rows = pipeline_q.output_freshness(outputs)
    except StarboardError as exc:
        return shell.error_tile("Freshness unavailable", exc.message)
    return table(
        [
            Column("Status"),
            Column("Output"),
            Column("Time column"),
            Column("Latest (UTC)"),
            Column("Age", "right"),
            Column("SLO", "right"),
            Column("SLO from"),
        ],
        [
            (
                _badge(f.status, FRESH_BADGES[f.status]),
                f.table,
                f.column,
                f"{f.latest:%Y-%m-%d %H:%M}" if f.latest else "—",
                f"{f.age_hours:,.1f} h" if f.age_hours is not None else "—",
                f"{f.slo_hours:g} h",
                f.slo_from,
            )
            for f in rows
        ],
        table_id=FRESHNESS,
        row_classes=["sb-row-fail" if f.status == "breached" else "" for f in rows],
        empty="No output is a fact table with a time column: nothing to hold to a freshness SLO.",
    )


def _schedule(project: Project, in_server: bool) -> html.Div:
    info = pipeline_q.schedule_info(project.schedule, in_server)
    runner = (
        "this server (STARBOARD_SCHEDULER=true): one process of the deployment runs it"
        if in_server
        else "not this server: run `starboard refresh` from cron or a systemd timer "
        "(or set STARBOARD_SCHEDULER=true)"
    )
    if info.cron is None:
        return html.Div(
            html.P(
                f'{project.file.name} has no schedule: add schedule: "0 6 * * *" (cron, UTC) '
                "to refresh it daily; until then it runs when someone runs `starboard load` "
                "or `starboard refresh`.",
                className="sb-empty",
            ),
            id=SCHEDULE,
        )
    return html.Div(
        [
            html.Div(
                [
                    shell.stat("Schedule", info.cron, info.words or "cron, UTC"),
                    shell.stat(
                        "Next due",
                        f"{info.next_due:%d %b %H:%M}" if info.next_due else "—",
                        "UTC",
                    ),
                    shell.stat(
                        "Run by",
                        "server" if in_server else "cron / systemd",
                        "STARBOARD_SCHEDULER=true" if in_server else "STARBOARD_SCHEDULER is off",
                    ),
                ],
                className="sb-stats",
            ),
            html.P(f"Runs on {runner}.", className="sb-pipe-note"),
        ],
        id=SCHEDULE,
    )


def layout(run: object = None, **_query: object):
    """Server-rendered from the project files, the run history and the live warehouse."""
    runtime = current_runtime()
    settings = runtime.settings
    trust = shell.Trust(**trust_q.trust_summary().__dict__)
    viewer = shell.Viewer(**web.viewer())

    def page(children: list, subtitle: str | None = None) -> html.Div:
        return shell.page(
            "Pipeline", children, path="/pipeline", trust=trust, viewer=viewer, subtitle=subtitle
        )

    path = settings.pipeline
    file = path / PROJECT_FILE if path.is_dir() else path
    if not file.is_file():
        return page([_no_project(path)])
    try:
        project = load_project(path)
    except PipelineError as exc:
        return page([_problems(exc)], subtitle=str(file))
    runs = pipeline_q.pipeline_runs(project.name)
    last = runs[0] if runs else None
    wanted = _run_id(run)
    chosen = next((r for r in runs if r.id == wanted), None) if wanted is not None else last
    try:
        tables: list[str] | None = list(current_model().tables)
    except StarboardError:
        tables = None
    outputs = project.output_names(tables)
    nodes = _nodes(project, last)
    alert = None
    if last is not None and last.status in ("failed", "killed"):
        alert = html.Div(
            [
                html.B(
                    f"The last run (#{last.id}, {last.started_at:%Y-%m-%d %H:%M} UTC) "
                    f"{last.status}: "
                ),
                html.Span(last.error or "no error was recorded."),
                " ",
                html.A("Its tasks", href=f"/pipeline?run={last.id}"),
            ],
            className="sb-pipe-alert",
            role="alert",
            id=LAST_ERROR,
        )
    if chosen is not None:
        tasks_body = _run_tasks(chosen)
    elif wanted is not None:
        tasks_body = [
            html.P(
                f"Run #{wanted} is not among the last {pipeline_q.RUNS_SHOWN} runs of "
                f"{project.name}.",
                className="sb-empty",
            )
        ]
    else:
        tasks_body = [html.P("No run recorded yet.", className="sb-empty")]
    legend = (
        "Circles are sources, squares transforms; a dark ring marks an output (published). "
        "Colour: the task's status in the last run"
        + (f" (#{last.id})." if last else " (no run yet: every task is 'not run').")
    )
    return page(
        [
            alert,
            shell.section("DAG", dag_c.dag(nodes, P), legend),
            shell.section(
                "Last runs",
                _runs_table(runs, chosen.id if chosen else None),
                "Newest first; open a run to see its tasks.",
            ),
            shell.section(
                f"Tasks of run #{chosen.id}" if chosen else "Tasks",
                tasks_body,
                "In run order; gates, rollups and publish are steps after the transforms.",
            ),
            shell.section(
                "Freshness against SLO",
                _freshness(project, outputs),
                "The newest time of each output fact in the live warehouse.",
            ),
            shell.section("Schedule", _schedule(project, settings.scheduler)),
        ],
        subtitle=f"{project.name} · {file}",
    )
