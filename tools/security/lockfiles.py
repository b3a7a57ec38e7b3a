"""pyproject.toml, requirements/*.in and requirements/*.lock must agree.

- ``runtime.in`` lists exactly ``[project] dependencies``; ``build.in`` exactly
  ``[build-system] requires``; ``test.in`` the ``test`` extra (plus the build
  requirements, for ``--no-build-isolation``), nothing else of its own.
- Every requirement of every ``.in`` file, ``-r`` includes followed, is pinned in
  the ``.lock`` of the same name at a version its specifier allows.
- Every pin of every lock carries at least one ``--hash``.

:func:`problems` returns every disagreement at once; tests/unit/test_lockfiles.py
fails on any.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

if TYPE_CHECKING:
    from pathlib import Path

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)")
_INCLUDE = re.compile(r"^-r\s+(?P<path>\S+)$")


@dataclass(frozen=True)
class Declared:
    """One requirement line and where it was written."""

    requirement: Requirement
    where: str

    @property
    def name(self) -> str:
        """The canonical distribution name."""
        return canonicalize_name(self.requirement.name)


def _same(a: Requirement, b: Requirement) -> bool:
    """Same distribution, specifier, extras and marker, however spelt."""
    return (
        canonicalize_name(a.name) == canonicalize_name(b.name)
        and a.specifier == b.specifier
        and {canonicalize_name(e) for e in a.extras} == {canonicalize_name(e) for e in b.extras}
        and str(a.marker or "") == str(b.marker or "")
    )


def read_in(path: Path, *, follow: bool, problems: list[str]) -> list[Declared]:
    """The requirements of one ``.in`` file; with ``follow``, those of its includes too."""
    found: list[Declared] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if include := _INCLUDE.match(line):
            if follow:
                found += read_in(path.parent / include["path"], follow=True, problems=problems)
            continue
        try:
            found.append(Declared(Requirement(line), f"{path.name}:{number}"))
        except InvalidRequirement as exc:
            problems.append(f"{path.name}:{number}: not a requirement: {exc}")
    return found


def read_lock(path: Path, problems: list[str]) -> dict[str, Version]:
    """The pins of one lock file; a pin without a hash is a problem."""
    pins: dict[str, Version] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        match = _PIN.match(line)
        if match is None:
            continue
        name = canonicalize_name(match["name"])
        try:
            pins[name] = Version(match["version"])
        except InvalidVersion:
            problems.append(f"{path.name}:{number}: {name}: {match['version']!r} is no version")
            continue
        # the hashes follow on continuation lines, up to the next pin
        block = [line]
        for following in lines[number:]:
            if _PIN.match(following):
                break
            block.append(following)
        if not any("--hash=" in part for part in block):
            problems.append(f"{path.name}:{number}: {name} has no --hash")
    return pins


def _declared(pyproject: dict[str, object], key: str) -> list[Declared]:
    """Requirements of one pyproject key such as ``project.dependencies``."""
    node: object = pyproject
    for part in key.split("."):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    items = node if isinstance(node, list) else []
    return [Declared(Requirement(str(item)), f"pyproject.toml {key}") for item in items]


def _lists(
    in_file: str, own: list[Declared], must: list[Declared], may: list[Declared]
) -> list[str]:
    """``own`` (an .in file's own lines) lists every ``must`` and nothing beyond ``may``."""
    problems = [
        f"{in_file}: missing {d.requirement} (declared in {d.where})"
        for d in must
        if not any(_same(d.requirement, o.requirement) for o in own)
    ]
    problems += [
        f"{o.where}: {o.requirement} is not declared in pyproject.toml "
        "(or differs from its declaration there)"
        for o in own
        if not any(_same(o.requirement, d.requirement) for d in [*must, *may])
    ]
    return problems


def problems(root: Path) -> list[str]:
    """Every disagreement between pyproject.toml and requirements/, one line each."""
    found: list[str] = []
    with (root / "pyproject.toml").open("rb") as f:
        pyproject = tomllib.load(f)
    reqs = root / "requirements"
    runtime = _declared(pyproject, "project.dependencies")
    test = _declared(pyproject, "project.optional-dependencies.test")
    build = _declared(pyproject, "build-system.requires")

    own = {
        name: read_in(reqs / f"{name}.in", follow=False, problems=found)
        for name in ("runtime", "test", "build")
    }
    found += _lists("runtime.in", own["runtime"], runtime, [])
    found += _lists("build.in", own["build"], build, [])
    # test.in adds the build requirements: the tests install with --no-build-isolation
    found += _lists("test.in", own["test"], test, build)

    for in_path in sorted(reqs.glob("*.in")):
        lock_path = in_path.with_suffix(".lock")
        if not lock_path.exists():
            found.append(f"{in_path.name}: no {lock_path.name} beside it")
            continue
        pins = read_lock(lock_path, found)
        for declared in read_in(in_path, follow=True, problems=found):
            req = declared.requirement
            if req.marker is not None and not req.marker.evaluate({"python_version": "3.11"}):
                continue
            version = pins.get(declared.name)
            if version is None:
                found.append(f"{lock_path.name}: {req} ({declared.where}) is not pinned")
            elif not req.specifier.contains(version, prereleases=True):
                found.append(
                    f"{lock_path.name}: {declared.name}=={version} does not satisfy "
                    f"{req} ({declared.where})"
                )
    return found
