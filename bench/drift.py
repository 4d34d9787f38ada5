"""Dependency drift: the test suite against the newest releases, before a user meets them.

``constraints.txt`` pins what the suite was run with; ``pyproject.toml`` bounds each
dependency below its next major version. This script resolves the newest releases twice —
within those bounds (what a fresh ``pip install -e .`` without the lock would get) and with
the upper bounds lifted (what moving a bound would bring) — prints every package whose
newest release differs from its pin, and, with ``--suite``, installs each resolution into a
throw-away virtual environment and runs the whole test suite there.

    python bench/drift.py                    # the table of drift only (a few seconds)
    python bench/drift.py --suite latest     # plus the suite on the newest releases
    python bench/drift.py --suite bounded --suite latest -- -x -q tests/queries

Needs ``uv`` (``pip install uv``), the tool that writes ``constraints.txt``. Prints a table;
exits 1 when a suite run failed, so it can gate a scheduled job.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from packaging.markers import Marker

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)(\s*;\s*(.+))?$")
PYTHON = ".".join(map(str, sys.version_info[:3]))
UPPER = re.compile(r",\s*<[^,;\"]+")


def pins(text: str) -> dict[str, str]:
    """``name → version`` of a uv/pip-compile file, for this interpreter and platform."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        match = PIN.match(line.strip())
        if not match:
            continue
        name, version, _, marker = match.groups()
        if marker and not Marker(marker).evaluate():
            continue
        out[name.lower().replace("_", "-")] = version
    return out


def requirements(lift_bounds: bool) -> list[str]:
    """The project's runtime and extra requirements, optionally without upper bounds."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs.extend(extra)
    return [UPPER.sub("", r) if lift_bounds else r for r in reqs]


def compile_newest(reqs: list[str], workdir: Path, label: str) -> dict[str, str]:
    source = workdir / f"{label}.in"
    source.write_text("\n".join(reqs) + "\n")
    target = workdir / f"{label}.txt"
    subprocess.run(
        [
            "uv",
            "pip",
            "compile",
            str(source),
            "--python-version",
            PYTHON,
            "--no-header",
            "--no-annotate",
            "-q",
            "-o",
            str(target),
        ],
        check=True,
    )
    return pins(target.read_text())


def run_suite(
    label: str, resolved: Path, workdir: Path, pytest_args: list[str]
) -> tuple[bool, float]:
    """Install ``resolved`` and the project (no deps) into a new venv; run the suite there."""
    venv = workdir / f"venv-{label}"
    subprocess.run(["uv", "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        ["uv", "pip", "install", "-q", "--python", str(python), "-r", str(resolved)], check=True
    )
    subprocess.run(
        ["uv", "pip", "install", "-q", "--python", str(python), "--no-deps", "-e", str(ROOT)],
        check=True,
    )
    env = {
        **os.environ,
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    started = time.monotonic()
    done = subprocess.run([str(python), "-m", "pytest", *pytest_args], cwd=ROOT, env=env)
    return done.returncode == 0, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--suite",
        action="append",
        choices=["bounded", "latest"],
        default=[],
        help="run the test suite on this resolution (repeatable)",
    )
    parser.add_argument("pytest_args", nargs="*", help="arguments for pytest, after --")
    args = parser.parse_args()

    locked = pins((ROOT / "constraints.txt").read_text())
    failed = False
    with tempfile.TemporaryDirectory(prefix="starboard-drift-") as tmp:
        workdir = Path(tmp)
        newest = {
            label: compile_newest(requirements(label == "latest"), workdir, label)
            for label in ("bounded", "latest")
        }
        names = sorted(
            {
                n
                for n in (*newest["bounded"], *newest["latest"])
                if newest["bounded"].get(n) != locked.get(n)
                or newest["latest"].get(n) != locked.get(n)
            }
        )
        print(f"{'package':<28} {'locked':<16} {'newest in bounds':<18} {'newest':<16}")
        for name in names:
            print(
                f"{name:<28} {locked.get(name, '-'):<16} "
                f"{newest['bounded'].get(name, '-'):<18} {newest['latest'].get(name, '-'):<16}"
            )
        if not names:
            print("(no drift: every locked version is the newest release)")
        print()
        for label in args.suite:
            ok, seconds = run_suite(
                label,
                workdir / f"{label}.txt",
                workdir,
                args.pytest_args or ["-q", "-p", "no:cacheprovider"],
            )
            failed |= not ok
            print(f"suite on {label:<8} {'passed' if ok else 'FAILED'} in {seconds:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
