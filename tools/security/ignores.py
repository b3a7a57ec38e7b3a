"""The committed list of accepted vulnerabilities: id, reason, expiry date.

``tools/security/audit-ignores.toml`` holds ``[[ignore]]`` tables. The loader
reports every problem of the file at once, each naming the entry and key, what
was expected and what was found.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

KEYS = ("id", "reason", "expires")


class IgnoreFileError(Exception):
    """The ignore file cannot be used; ``problems`` lists every reason."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        """Keep the problems; the message joins them, one a line."""
        self.problems = problems
        super().__init__("\n".join(f"{path}: {problem}" for problem in problems))


@dataclass(frozen=True)
class Ignore:
    """One accepted vulnerability."""

    id: str
    reason: str
    # the last day the ignore holds
    expires: dt.date

    def expired(self, today: dt.date) -> bool:
        """True from the day after ``expires``."""
        return today > self.expires


def _entry(index: int, raw: object, problems: list[str]) -> Ignore | None:
    """One ``[[ignore]]`` table, or None with its problems appended."""
    where = f"ignore[{index}]"
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a table, found {raw!r}")
        return None
    before = len(problems)
    problems.extend(
        f"{where}: unknown key {key!r} (expected {', '.join(KEYS)})"
        for key in raw
        if key not in KEYS
    )
    values: dict[str, object] = {key: raw.get(key) for key in KEYS}
    for key in ("id", "reason"):
        value = values[key]
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}: {key}: expected a non-empty string, found {value!r}")
    expires = values["expires"]
    # a TOML datetime is a date too: only a bare date says which day
    if not isinstance(expires, dt.date) or isinstance(expires, dt.datetime):
        problems.append(f"{where}: expires: expected a date such as 2027-03-31, found {expires!r}")
    if len(problems) > before:
        return None
    assert isinstance(values["id"], str)  # noqa: S101 - checked above
    assert isinstance(values["reason"], str)  # noqa: S101 - checked above
    assert isinstance(expires, dt.date)  # noqa: S101 - checked above
    return Ignore(id=values["id"].strip(), reason=values["reason"].strip(), expires=expires)


def parse_ignores(text: str, path: Path) -> list[Ignore]:
    """Parse the ignore file's text; raise :class:`IgnoreFileError` with every problem."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise IgnoreFileError(path, [f"not valid TOML: {exc}"]) from exc
    problems = [
        f"unknown top-level key {key!r} (expected [[ignore]] tables)"
        for key in document
        if key != "ignore"
    ]
    raw_entries = document.get("ignore", [])
    if not isinstance(raw_entries, list):
        problems.append(f"ignore: expected [[ignore]] tables, found {raw_entries!r}")
        raw_entries = []
    ignores: list[Ignore] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_entries):
        entry = _entry(index, raw, problems)
        if entry is None:
            continue
        if entry.id in seen:
            problems.append(f"ignore[{index}]: id {entry.id!r} is listed twice")
        seen.add(entry.id)
        ignores.append(entry)
    if problems:
        raise IgnoreFileError(path, problems)
    return ignores


def load_ignores(path: Path) -> list[Ignore]:
    """Read and parse the ignore file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise IgnoreFileError(path, [f"cannot read: {exc.strerror}"]) from exc
    return parse_ignores(text, path)
