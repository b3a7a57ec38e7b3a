"""Licences of every locked dependency, checked against the committed allow list.

The licence of each pin in ``requirements/*.lock`` is read from the installed
distribution's metadata (this runs in the project's ``.venv``, which holds the
whole dev lock): the SPDX ``License-Expression`` where the package declares
one, else the ``License`` field or the ``License ::`` classifiers through the
alias table of ``tools/security/licenses.toml``. A package whose metadata says
nothing usable needs an entry in that file's ``[packages]``, with a reason.

    python -m tools.security.licenses
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "tools" / "security" / "licenses.toml"
LOCKS = ROOT / "requirements"
RUNTIME_LOCK = "runtime.lock"

# a free-text License field longer than this is a whole licence text, not a name
_SHORT_LICENSE = 40
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_SPDX_LIKE = re.compile(r"^[A-Za-z0-9.+-]+(?: (?:AND|OR|WITH) [A-Za-z0-9.+-]+)*$")
_NO_LICENSE = {"UNKNOWN", "NONE", "OTHER", "PROPRIETARY"}


def normalize(name: str) -> str:
    """PEP 503's form of a distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_names(lock: Path) -> dict[str, str]:
    """The ``name: version`` pins of one hashed lock file."""
    pins: dict[str, str] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        if match := _PIN.match(line):
            pins[normalize(match[1])] = match[2]
    return pins


class _Spdx:
    """A tiny SPDX expression evaluator: OR, AND, WITH and parentheses."""

    def __init__(self, expression: str, allowed: set[str]) -> None:
        self.tokens: list[str] = _TOKEN.findall(expression)
        self.allowed = {a.lower() for a in allowed}
        self.position = 0

    def _peek(self) -> str:
        return self.tokens[self.position].upper() if self.position < len(self.tokens) else ""

    def _take(self) -> str:
        self.position += 1
        return self.tokens[self.position - 1]

    def _factor(self) -> bool:
        word = self._take()
        if word == "(":
            value = self._either()
            if self._take() != ")":
                raise IndexError(word)
            return value
        if self._peek() == "WITH":
            self._take()
            self._take()
        return word.lower() in self.allowed

    def _both(self) -> bool:
        value = self._factor()
        while self._peek() == "AND":
            self._take()
            value = self._factor() and value
        return value

    def _either(self) -> bool:
        value = self._both()
        while self._peek() == "OR":
            self._take()
            value = self._both() or value
        return value

    def allows(self) -> bool:
        """True when the whole expression parses and is satisfied."""
        try:
            return bool(self.tokens) and self._either() and self.position == len(self.tokens)
        except IndexError:
            return False


def spdx_allows(expression: str, allowed: set[str]) -> bool:
    """Evaluate an SPDX expression: OR needs one allowed side, AND needs both.

    ``WITH`` exceptions only widen what a licence allows, so ``X WITH E`` counts
    as ``X``. Identifiers compare case-insensitively; a malformed expression is
    not allowed.
    """
    return _Spdx(expression, allowed).allows()


@dataclass(frozen=True)
class Policy:
    """The allow list: what any pin may use, what dev tools may, known exceptions."""

    allowed: set[str]
    dev_allowed: set[str]
    aliases: dict[str, str]
    # normalized name -> (SPDX expression, reason)
    packages: dict[str, tuple[str, str]]


def load_policy(path: Path) -> Policy:
    """Read ``licenses.toml``."""
    with path.open("rb") as f:
        raw = tomllib.load(f)
    packages = {
        normalize(name): (str(entry["license"]), str(entry["reason"]))
        for name, entry in raw.get("packages", {}).items()
    }
    return Policy(
        allowed=set(raw["allowed"]),
        dev_allowed=set(raw.get("dev_allowed", [])),
        aliases={str(k): str(v) for k, v in raw.get("aliases", {}).items()},
        packages=packages,
    )


def _field(meta: metadata.PackageMetadata, key: str) -> str:
    """One metadata field, stripped; empty when absent."""
    values = meta.get_all(key) or []
    return str(values[0]).strip() if values else ""


def declared_license(meta: metadata.PackageMetadata, aliases: dict[str, str]) -> str | None:
    """The SPDX expression a distribution's metadata declares, or None."""
    if expression := _field(meta, "License-Expression"):
        return expression
    text = _field(meta, "License")
    if text and len(text) <= _SHORT_LICENSE and "\n" not in text:
        if text in aliases:
            return aliases[text]
        # an SPDX id or expression as it is; "UNKNOWN" and the like fall through
        if _SPDX_LIKE.match(text) and text.upper() not in _NO_LICENSE:
            return text
    classifiers = [c for c in (meta.get_all("Classifier") or []) if c.startswith("License :: ")]
    known = [aliases[c] for c in classifiers if c in aliases]
    # several licence classifiers mean a choice between them
    return " OR ".join(known) if known else None


def check(
    pins: dict[str, str],
    runtime: set[str],
    policy: Policy,
    read_metadata: Callable[[str], metadata.PackageMetadata] = metadata.metadata,
) -> list[str]:
    """Every pin whose licence is unknown or not allowed, as one line each."""
    problems: list[str] = []
    for name in sorted(pins):
        allowed = policy.allowed if name in runtime else policy.allowed | policy.dev_allowed
        if name in policy.packages:
            expression, _reason = policy.packages[name]
        else:
            try:
                meta = read_metadata(name)
            except metadata.PackageNotFoundError:
                problems.append(f"{name} {pins[name]}: not installed, so its licence is unknown")
                continue
            found = declared_license(meta, policy.aliases)
            if found is None:
                problems.append(
                    f"{name} {pins[name]}: no licence in its metadata; add it to "
                    "[packages] in tools/security/licenses.toml with a reason"
                )
                continue
            expression = found
        if not spdx_allows(expression, allowed):
            where = "the runtime" if name in runtime else "a development tool"
            problems.append(f"{name} {pins[name]}: {expression!r} is not allowed for {where}")
    return problems


def main() -> int:
    """Check every pin of every lock file; 1 when one is not allowed."""
    policy = load_policy(POLICY)
    pins: dict[str, str] = {}
    for lock in sorted(LOCKS.glob("*.lock")):
        pins.update(locked_names(lock))
    runtime = set(locked_names(LOCKS / RUNTIME_LOCK))
    problems = check(pins, runtime, policy)
    for problem in problems:
        sys.stderr.write(f"error: {problem}\n")
    if problems:
        return 1
    sys.stdout.write(f"licences: {len(pins)} locked dependencies, all on the allow list\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
