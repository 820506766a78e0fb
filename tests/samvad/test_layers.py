"""The layer contracts of pyproject.toml (``lint-imports``) see every module: a Python file
grimp does not find (a folder without ``__init__.py`` inside a package) would escape them.
Files that cannot be imported by name (Alembic's ``0001_initial_schema.py``) are not modules."""

from __future__ import annotations

import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]


def test_every_python_file_of_the_layers_is_in_the_checked_graph():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["importlinter"]
    packages = config["root_packages"]
    graph = grimp.build_graph(*packages, cache_dir=None)
    names = [path.relative_to(ROOT).with_suffix("").parts
             for package in packages for path in (ROOT / package).rglob("*.py")]
    files = {".".join(parts).removesuffix(".__init__") for parts in names
             if all(part.isidentifier() for part in parts)}
    assert files and sorted(files - graph.modules) == []
