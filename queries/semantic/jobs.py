"""Several MetricQueries at once: boards, the tree and alerts run their queries together.

Each job runs through the one door (``queries.semantic.run.run``) on a worker thread that
carries the caller's request (user, row scope) or app; a job's failure is its result, not
an exception, except an unavailable warehouse, which stops the whole set.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import pandas as pd
from flask import copy_current_request_context, current_app, has_request_context

from app.core.errors import StarboardError, WarehouseUnavailable
from app.core.runtime import Runtime
from queries.semantic.query import MetricQuery
from queries.semantic.run import run

WORKERS = 8


@dataclass(frozen=True)
class Job:
    """One query of a set, named by the key its result is returned under."""

    key: str
    query: MetricQuery


def _in_context(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Run ``fn`` in a worker thread with the caller's request (user, scope) or app."""
    if has_request_context():
        return copy_current_request_context(fn)
    app = cast(Any, current_app)._get_current_object()  # a LocalProxy, typed as Flask

    def wrapped() -> Any:
        with app.app_context():
            return fn()

    return wrapped


def run_jobs(
    jobs: list[Job], runtime: Runtime, *, tier: int = 0
) -> dict[str, pd.DataFrame | StarboardError]:
    """Run the jobs concurrently as ``tier`` queries; each result is a frame or its error."""
    if not jobs:
        return {}

    def one(job: Job) -> pd.DataFrame | StarboardError:
        try:
            return run(job.query, tier=tier, runtime=runtime).frame
        except WarehouseUnavailable:
            raise
        except StarboardError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=min(WORKERS, max(1, len(jobs)))) as pool:
        futures = {job.key: pool.submit(_in_context(partial(one, job))) for job in jobs}
        return {key: future.result() for key, future in futures.items()}
