"""Errors whose message is safe to show a user; everything else is an internal failure.

Lower layers raise these ``from`` the original exception so the traceback is kept for
the log while the user sees one clear paragraph.
"""

from __future__ import annotations

from dataclasses import dataclass


class StarboardError(Exception):
    """Base class: ``str(err)`` is a message fit for the user who caused it.

    ``status`` is the HTTP status a request that raised it answers with (one handler,
    ``app/http.py``, turns any of these into a JSON error or an error page); ``title`` heads
    the error tile or page.
    """

    title = "Something went wrong"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(StarboardError):
    """A setting (environment variable, CLI flag) is missing or malformed."""

    title = "Configuration error"
    status = 500


class DataError(StarboardError):
    """Raw files, the warehouse or a quality gate rejected the data."""

    title = "Data error"
    status = 400


class WarehouseUnavailable(DataError):
    """The warehouse cannot be opened or reached."""

    title = "Warehouse unavailable"
    status = 503


class QueryError(StarboardError):
    """A query asked for something the model does not offer, or failed to run."""

    title = "Query error"


class AccessDenied(StarboardError):
    """The user may not see what they asked for."""

    title = "No access"
    status = 403


class SignInRequired(AccessDenied):
    """Nobody is signed in (or the session ended) and the request needs someone."""

    title = "Sign in"
    status = 401


class NotDeclared(StarboardError):
    """A page or feature the loaded semantic model does not declare (no ``segments:``,
    no ``tree:``): not there for this model, rather than broken."""

    title = "Not in this model"
    status = 404


class MalformedRequest(StarboardError):
    """A request body or callback payload that no page of Starboard sends."""

    title = "Malformed request"
    status = 400


@dataclass(frozen=True)
class Problem:
    """One problem found in a model file: where it is and what is wrong."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}"


class ProblemsError(StarboardError):
    """A file (or files) with one or more problems, each with its file, line and key; all are
    reported together. Subclasses name what the files are (``where``)."""

    where = "the files"

    def __init__(self, problems: list[Problem] | Problem) -> None:
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        count = len(self.problems)
        head = "1 problem" if count == 1 else f"{count} problems"
        super().__init__(f"{head} in {self.where}:\n" + "\n".join(map(str, self.problems)))


class ModelError(ProblemsError):
    """The semantic model has one or more problems; all are reported together."""

    title = "Semantic model error"
    status = 500
    where = "the semantic model"


class PipelineError(ProblemsError):
    """A pipeline project (``pipeline.yaml`` and its SQL transforms) has problems; all are
    reported together, each with its file, line and key."""

    title = "Pipeline error"
    status = 500
    where = "the pipeline"
