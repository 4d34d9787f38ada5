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
    path = Path(path)
    loader = Loader(str(path))
    yaml = YAML(typ="rt")
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise ModelError(
            Problem(
                str(path),
                mark.line + 1 if mark else None,
                "syntax",
                f"YAML syntax error: {message}",
            )
        ) from exc
    except YAMLError as exc:
        raise ModelError(Problem(str(path), None, "syntax", f"YAML error: {exc}")) from exc
    if data is None:
        raise ModelError(Problem(str(path), None, "", "the model file is empty"))
    loader.collect_lines(data, "")
    model = loader.model(data, path)
    Validator(loader, model).run()
    if loader.problems:
        problems = sorted(loader.problems, key=lambda p: (p.line is None, p.line or 0))
        raise ModelError(problems)
    return model


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
