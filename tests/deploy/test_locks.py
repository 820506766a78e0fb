"""The lock files: every import is locked, every pin hashed, and .venv is exactly the lock.

``requirements/samvad.txt`` (Samvad and its dev tools), ``requirements/bootstrap.txt``
(uv, pip, setuptools) and ``requirements/rasa.txt`` (.venv-rasa) are written by
``make lock`` and installed by ``make install``. Upgrading a package is a commit to them,
which these tests check.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from bot.rasa_project import RASA_VERSION

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements"
OUR_PACKAGES = {"bot", "channels", "core_api", "samvad", "bench", "flows", "tests"}
SOURCE_DIRS = sorted(OUR_PACKAGES)
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?"
                  r"\s*\\?$")


def pins(lock: str) -> dict[str, tuple[str, str | None, int]]:
    """``{canonical name: (version, marker or None, number of hashes)}`` of a lock file."""
    found: dict[str, tuple[str, str | None, int]] = {}
    name = None
    for line in (REQUIREMENTS / lock).read_text().splitlines():
        match = _PIN.match(line)
        if match:
            name = canonicalize_name(match[1])
            found[name] = (match[2], match[3], 0)
        elif name and line.strip().startswith("--hash=sha256:"):
            version, marker, hashes = found[name]
            found[name] = (version, marker, hashes + 1)
    return found


def applies(marker: str | None) -> bool:
    if not marker:
        return True
    from packaging.markers import Marker

    return Marker(marker).evaluate(default_environment())


def third_party_imports() -> dict[str, str]:
    """``{top-level module: first file importing it}`` over our sources and tests."""
    stdlib = set(sys.stdlib_module_names)
    files = [path for folder in SOURCE_DIRS for path in sorted((ROOT / folder).rglob("*.py"))]
    # Test helpers imported by their own name (pytest puts their folders on sys.path).
    ours = OUR_PACKAGES | {path.stem for path in (ROOT / "tests").rglob("*.py")}
    found: dict[str, str] = {}
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in stdlib and top not in ours and top != "__future__":
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_pin_in_every_lock_carries_hashes():
    for lock in ("bootstrap.txt", "samvad.txt", "rasa.txt"):
        locked = pins(lock)
        assert locked, lock
        unhashed = [name for name, (_v, _m, hashes) in locked.items() if hashes == 0]
        assert not unhashed, f"{lock}: pinned without a hash: {unhashed}"


def test_every_import_of_the_project_comes_from_a_locked_distribution():
    locked = pins("samvad.txt") | pins("bootstrap.txt")
    providers = metadata.packages_distributions()
    imports = third_party_imports()
    assert {"fastapi", "sqlalchemy", "redis", "twilio", "babel", "pytest"} <= set(imports)
    unlocked = {}
    for module, where in imports.items():
        distributions = {canonicalize_name(d) for d in providers.get(module, [])}
        if not distributions & set(locked):
            unlocked[module] = (where, sorted(distributions) or "not installed")
    assert not unlocked, f"imported but not in requirements/samvad.txt: {unlocked}"


def test_pyproject_requirements_are_all_locked_at_versions_they_accept():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    locked = pins("samvad.txt")
    for line in wanted:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} is in pyproject.toml but not locked: make lock"
        version = locked[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{requirement.name}=={version} in the lock does not satisfy {line!r}: make lock")


def test_the_virtualenv_is_exactly_the_lock():
    """What the suite runs on is what is committed: a package installed by hand, or a lock
    changed without ``make install``, shows up here."""
    locked = pins("samvad.txt") | pins("bootstrap.txt")
    wrong = {}
    for name, (version, marker, _hashes) in locked.items():
        if not applies(marker):
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed is None or Version(installed) != Version(version):
            wrong[name] = (version, installed)
    assert not wrong, f"(locked, installed) differ; run make install: {wrong}"
    extra = {canonicalize_name(d.metadata["Name"]) for d in metadata.distributions()}
    extra -= set(locked) | {"samvad"}
    assert not extra, f"installed but not locked: {sorted(extra)}"


def test_rasa_lock_pins_the_rasa_the_project_is_built_for():
    assert pins("rasa.txt")[canonicalize_name("rasa")][0] == RASA_VERSION
    assert f"rasa=={RASA_VERSION}" in (REQUIREMENTS / "rasa.in").read_text()


@pytest.mark.parametrize("target", ["install", "lock"])
def test_the_makefile_installs_from_and_writes_the_locks(target):
    makefile = (ROOT / "Makefile").read_text() + (ROOT / "rasa.mk").read_text()
    assert re.search(rf"^{target}:", makefile, re.M)
    assert "--require-hashes" in makefile and "requirements/rasa.txt" in makefile
