"""What the loaded semantic model declares, for the pages that need it (``needs=`` on a
page's ``register_page``): the navigation hides such a page and the gate answers 404 when
the model does not declare its feature.

- ``segments``: a ``segments:`` section that validates against the model
  (queries/segments.py ``parse_spec``);
- ``tree``: a ``tree:`` section;
- ``goals``: a ``goals:`` section;
- ``alerts``: an ``alerts:`` section.
"""

from __future__ import annotations

from app.core.errors import ModelError, Problem, StarboardError
from app.core.runtime import Runtime, current_runtime
from queries import segments
from queries.semantic.run import current_model
from queries.semantic.types import SemanticModel

FEATURES = ("segments", "tree", "goals", "alerts")
MISSING = {
    "segments": "This model declares no segments: add a `segments:` section to {model} "
    "to cluster its members.",
    "tree": "This model declares no metric tree: add a `tree:` section to {model} to "
    "see how metrics break down.",
    "goals": "This model declares no goals: add a `goals:` section to {model}.",
    "alerts": "This model declares no alert rules: add an `alerts:` section to {model}.",
}


def declared(runtime: Runtime | None = None) -> frozenset[str] | None:
    """The features the current model declares; None when the model cannot be read (each
    page then says why itself)."""
    runtime = runtime or current_runtime()
    try:
        model = current_model(runtime)
    except StarboardError:
        return None
    found = {name for name in ("tree", "goals", "alerts") if getattr(model, name)}
    try:
        if segments.segment_spec(runtime) is not None:
            found.add("segments")
    except (ModelError, OSError):
        pass  # a declaration that does not validate: `starboard check` names the key
    return frozenset(found)


def missing(feature: str, runtime: Runtime | None = None) -> str | None:
    """Why a page needing ``feature`` is not there ("This model declares no segments: …"),
    or None when the model declares it (or cannot be read: the page then says why)."""
    runtime = runtime or current_runtime()
    have = declared(runtime)
    if have is None or feature in have:
        return None
    return missing_message(feature, current_model(runtime))


def missing_message(feature: str, model: SemanticModel) -> str:
    """'This model declares no segments: …' naming the model file."""
    template = MISSING.get(feature, "This model declares no {feature}.")
    return template.format(model=model.path.name, feature=feature)


def check(model: SemanticModel) -> list[Problem]:
    """Problems of the declarations checked outside the model loader (``segments:``), for
    ``starboard check``: each names the file, line and key."""
    try:
        segments.parse_spec(segments.raw_section(model.path), model)
    except ModelError as exc:
        return list(exc.problems)
    except OSError:
        return []
    return []
