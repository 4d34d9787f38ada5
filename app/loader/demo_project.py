"""The demo as a pipeline project: its raw files' layout and the project that loads them.

``app/loader/demo/`` holds the project (``pipeline.yaml`` and ``transforms/*.sql``);
``starboard generate DIR`` writes the raw files and a copy of the project into ``DIR``, and
``starboard load DIR`` builds it with the same code as any other project. The layout of the
raw files (``RAW_FILES``) is read from the project's source declarations, so the generator and
the loader cannot disagree.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from app.core.config import DEMO_MODEL
from app.loader.project import PROJECT_FILE, Project, load_project

TEMPLATE = Path(__file__).with_name("demo")


@dataclass(frozen=True)
class RawColumn:
    name: str
    type: str  # DuckDB type the loader casts to
    nullable: bool = False


@dataclass(frozen=True)
class RawFile:
    entity: str
    columns: tuple[RawColumn, ...]
    natural_key: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def write_project(out_dir: Path, fmt: str = "parquet") -> Path:
    """Write the demo's ``pipeline.yaml`` and transforms into ``out_dir`` (next to the raw
    files of format ``fmt``); return the ``pipeline.yaml``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = (TEMPLATE / PROJECT_FILE).read_text(encoding="utf-8")
    text = text.replace("{model}", str(DEMO_MODEL)).replace("{ext}", fmt)
    target = out_dir / PROJECT_FILE
    target.write_text(text, encoding="utf-8")
    transforms = out_dir / "transforms"
    if transforms.exists():
        shutil.rmtree(transforms)
    shutil.copytree(TEMPLATE / "transforms", transforms)
    return target


def _project() -> Project:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="starboard-demo-") as tmp:
        write_project(Path(tmp))
        return load_project(Path(tmp))


def _raw_files() -> tuple[RawFile, ...]:
    out = []
    for name, source in _project().sources.items():
        columns = tuple(RawColumn(c, t, c not in source.required) for c, t in source.columns)
        out.append(RawFile(name, columns, source.key))
    return tuple(out)


RAW_FILES: tuple[RawFile, ...] = _raw_files()
_BY_NAME = {f.entity: f for f in RAW_FILES}
CHANNELS = _BY_NAME["channels"]
USERS = _BY_NAME["users"]
PRODUCTS = _BY_NAME["products"]
CAMPAIGNS = _BY_NAME["campaigns"]
INTERACTIONS = _BY_NAME["interactions"]
MARKETING_SPEND = _BY_NAME["marketing_spend"]

INTERACTION_TYPES = (
    "visit",
    "product_view",
    "add_to_cart",
    "checkout",
    "purchase",
    "email_sent",
    "email_open",
    "email_click",
)
DEVICES = ("desktop", "mobile", "tablet")
