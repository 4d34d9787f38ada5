"""The semantic model from a YAML file: read (``load.py``), cross-checked (``validate.py``),
frozen (``types.py``). ``load_model`` is what the app, the CLI and the tests call.
"""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from app.core.errors import ModelError, Problem
from queries.semantic.load import Loader
from queries.semantic.types import SemanticModel
from queries.semantic.validate import Validator


def parse_model(text: str, path: str | Path = "<model>") -> SemanticModel:
    """Build a SemanticModel from YAML text; raises ModelError listing every problem."""
    model, problems = parse_model_partial(text, path)
    if problems or model is None:
        raise ModelError(problems)
    return model


def parse_model_partial(
    text: str, path: str | Path = "<model>"
) -> tuple[SemanticModel | None, list[Problem]]:
    """The parts of a model that loaded, and every problem found (sorted by line).

    With problems the model holds only what read cleanly (a metric with a bad key is left
    out) and may still name what does not exist: it is for checks that can still be made,
    such as ``starboard check`` against the warehouse, never for running queries in the app.
    None when nothing could be read (a YAML syntax error, an empty file).
    """
    path = Path(path)
    loader = Loader(str(path))
    yaml = YAML(typ="rt")
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        problem = Problem(
            str(path), mark.line + 1 if mark else None, "syntax", f"YAML syntax error: {message}"
        )
        return None, [problem]
    except YAMLError as exc:
        return None, [Problem(str(path), None, "syntax", f"YAML error: {exc}")]
    if data is None:
        return None, [Problem(str(path), None, "", "the model file is empty")]
    loader.collect_lines(data, "")
    try:
        model = loader.model(data, path)
    except ModelError as exc:  # not even a mapping at the top
        return None, list(exc.problems)
    Validator(loader, model).run()
    problems = sorted(loader.problems, key=lambda p: (p.line is None, p.line or 0))
    return model, problems


def load_model_partial(path: str | Path) -> tuple[SemanticModel | None, list[Problem]]:
    """``parse_model_partial`` of a file (None and the problem when it cannot be read)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, [Problem(str(path), None, "", f"cannot read the model file: {exc.strerror}")]
    return parse_model_partial(text, path)


def load_model(path: str | Path) -> SemanticModel:
    """Read and validate a semantic model YAML file; raises ModelError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelError(
            Problem(str(path), None, "", f"cannot read the model file: {exc.strerror}")
        ) from exc
    return parse_model(text, path)
