"""Type-check the ``newsevents`` package with mypy: ``python tools/typecheck.py``.

The package's sub-packages live in the repository's top-level folders
(``model/``, ``streams/``, ``training/``, ``samples/``) and setuptools maps them
under ``newsevents`` at install time. mypy finds modules by walking folders
and cannot follow that mapping, so this script lays the package out as it is
installed (``build/typecheck/newsevents``, symbolic links to the real files),
runs mypy on it with the settings of ``pyproject.toml``, and prints the
findings with the repository's own paths. Exits with mypy's status.
"""

from __future__ import annotations

import os
import shutil
import sys
import tomllib
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "typecheck"


def package_layout() -> dict[str, Path]:
    """The installed package name of each mapped folder, from pyproject.toml."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mapping = config["tool"]["setuptools"]["package-dir"]
    return {name: ROOT / folder for name, folder in mapping.items()}


def build_tree() -> dict[str, str]:
    """Lay out ``build/typecheck``; return the path prefixes to map back (tree -> repository)."""
    shutil.rmtree(TREE, ignore_errors=True)
    back: dict[str, str] = {}
    # Shorter names first, so a sub-package's link goes inside its parent's folder.
    for name, folder in sorted(package_layout().items(), key=lambda item: item[0].count(".")):
        target = TREE.joinpath(*name.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for source in folder.glob("*.py"):
            (target / source.name).symlink_to(source)
        back[str(target.relative_to(ROOT)) + "/"] = str(folder.relative_to(ROOT)) + "/"
    return back


def main() -> int:
    back = build_tree()
    os.environ["MYPYPATH"] = str(TREE.relative_to(ROOT))
    stdout, stderr, status = api.run(["--config-file", str(ROOT / "pyproject.toml"), "-p", "newsevents"])
    # Longest prefixes first: build/typecheck/newsevents/model/ before build/typecheck/newsevents/.
    prefixes = sorted(back, key=len, reverse=True)
    for line in stdout.splitlines():
        for prefix in prefixes:
            if line.startswith(prefix):
                line = back[prefix] + line[len(prefix) :]
                break
        print(line)
    if stderr:
        print(stderr, file=sys.stderr, end="")
    return status


if __name__ == "__main__":
    sys.exit(main())
