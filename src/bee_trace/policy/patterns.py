# Copyright 2026 The bee-trace Authors
# SPDX-License-Identifier: Apache-2.0
"""Watch-pattern syntax: validation, glob compilation and kernel pre-filter keys.

A pattern is one of three kinds:

* ``path``: an absolute path without wildcards, compared with the whole real path;
* ``name``: a bare file name (no ``/``) without wildcards, compared with the basename;
* ``glob``: either of the above with wildcards (``*``, ``?``, ``[...]``); a glob
  without ``/`` is matched against the basename, an absolute glob against the
  whole path.

The kernel cannot run globs. It filters opens by the basename of the opened
file and the name of its parent directory, so each pattern gets one cheap
:class:`FilterKey` that every path the pattern matches satisfies. User space
then refines each event with the full pattern.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from collections.abc import Iterable

    from bee_trace.policy.model import WatchPattern

PatternKind = Literal["path", "name", "glob"]

FILTER_KEY_MAX: Final = 60
"""Longest key value, in bytes, the kernel compares."""

_WILDCARDS: Final = frozenset("*?[")

# one character: a whole UTF-8 sequence or, for names that are not UTF-8, any one byte
_UTF8_SEQUENCE: Final = (
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_ONE_CHAR: Final = b"(?:" + _UTF8_SEQUENCE + rb"|[^/])"

_NOT_PREFILTERABLE: Final = (
    "pattern cannot be pre-filtered in the kernel: its file name must begin or end with "
    "a literal character, or its parent directory must be literal"
)


class InvalidPatternError(ValueError):
    """A watch pattern that cannot be used; the message says what was expected."""


class FilterKind(IntEnum):
    """How the kernel compares a :class:`FilterKey` with an opened file."""

    NAME = 1
    """The basename equals the value."""
    SUFFIX = 2
    """The basename ends with the value."""
    PREFIX = 3
    """The basename starts with the value."""
    DIRNAME = 4
    """The name of the parent directory equals the value."""
    HANDOFF = 5
    """The basename equals the value, and another probe wants the open (``/proc/<pid>/mem``)."""


@dataclass(frozen=True, slots=True)
class FilterKey:
    """One kernel pre-filter entry: a kind and 1 to :data:`FILTER_KEY_MAX` bytes."""

    kind: FilterKind
    value: bytes

    def __post_init__(self) -> None:
        """Refuse values the kernel's fixed-size key cannot hold."""
        if not 1 <= len(self.value) <= FILTER_KEY_MAX:
            msg = f"filter key value must be 1 to {FILTER_KEY_MAX} bytes, got {len(self.value)}"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class _Star:
    """``*``: any run of characters within one component."""


@dataclass(frozen=True, slots=True)
class _AnyChar:
    """``?``: exactly one character."""


@dataclass(frozen=True, slots=True)
class _Bracket:
    """``[...]``: one character from (or, negated, not from) a set of byte ranges."""

    negated: bool
    ranges: tuple[tuple[int, int], ...]


_Token = str | _Star | _AnyChar | _Bracket


def has_wildcard(text: str) -> bool:
    """Return whether ``text`` contains a wildcard character (``*``, ``?`` or ``[``)."""
    return not _WILDCARDS.isdisjoint(text)


def _parse_bracket(component: str, start: int) -> tuple[_Bracket, int]:
    """Parse the bracket expression opening at ``component[start]``; return it and its end."""
    i = start + 1
    negated = i < len(component) and component[i] in "!^"
    if negated:
        i += 1
    members: list[str] = []
    first = True
    while i < len(component) and (first or component[i] != "]"):
        members.append(component[i])
        first = False
        i += 1
    if i >= len(component):
        msg = "pattern must close every '[' with a ']' in the same component"
        raise InvalidPatternError(msg)
    body = "".join(members)
    if "[:" in body or "[=" in body or "[." in body:
        msg = "pattern must not use POSIX classes such as '[:alpha:]' inside '[...]'"
        raise InvalidPatternError(msg)
    if not body.isascii():
        msg = "pattern must use only ASCII characters inside '[...]'"
        raise InvalidPatternError(msg)
    ranges: list[tuple[int, int]] = []
    j = 0
    while j < len(body):
        if j + 2 < len(body) and body[j + 1] == "-":
            low, high = ord(body[j]), ord(body[j + 2])
            if low > high:
                msg = (
                    f"pattern must write ranges low to high, as in '[a-z]', not {body[j : j + 3]!r}"
                )
                raise InvalidPatternError(msg)
            ranges.append((low, high))
            j += 3
        else:
            ranges.append((ord(body[j]), ord(body[j])))
            j += 1
    return _Bracket(negated=negated, ranges=tuple(ranges)), i + 1


def _tokenize(component: str) -> list[_Token]:
    """Split one path component into literal runs and wildcards."""
    tokens: list[_Token] = []
    literal: list[str] = []
    i = 0
    while i < len(component):
        char = component[i]
        if char in _WILDCARDS:
            if literal:
                tokens.append("".join(literal))
                literal = []
            if char == "*":
                if not tokens or not isinstance(tokens[-1], _Star):
                    tokens.append(_Star())
                i += 1
            elif char == "?":
                tokens.append(_AnyChar())
                i += 1
            else:
                bracket, i = _parse_bracket(component, i)
                tokens.append(bracket)
        else:
            literal.append(char)
            i += 1
    if literal:
        tokens.append("".join(literal))
    return tokens


def _components(raw: str) -> list[str]:
    """Return the components of a pattern: its names between slashes."""
    return raw.removeprefix("/").split("/")


def _check_syntax(raw: str) -> None:
    """Raise :class:`InvalidPatternError` unless ``raw`` is well formed."""
    if not raw:
        msg = "pattern must be a non-empty string"
        raise InvalidPatternError(msg)
    if "\0" in raw:
        msg = "pattern must not contain a NUL character"
        raise InvalidPatternError(msg)
    try:
        os.fsencode(raw)
    except UnicodeEncodeError:
        msg = "pattern must be encodable as a file name"
        raise InvalidPatternError(msg) from None
    if raw.endswith("/"):
        msg = "pattern must name a file, so it must not end with '/'"
        raise InvalidPatternError(msg)
    if "/" in raw and not raw.startswith("/"):
        msg = "pattern must be an absolute path or a bare file name"
        raise InvalidPatternError(msg)
    components = _components(raw)
    if "" in components:
        msg = "pattern must not contain an empty component ('//')"
        raise InvalidPatternError(msg)
    if "." in components or ".." in components:
        msg = "pattern must not contain '.' or '..' components, since real paths have none"
        raise InvalidPatternError(msg)
    for component in components:
        _tokenize(component)


def validate_pattern(raw: str) -> PatternKind:
    """Check a pattern, including that the kernel can pre-filter it; return its kind.

    Raises :class:`InvalidPatternError` whose message says what was expected.
    """
    _check_syntax(raw)
    filter_key(raw)
    return pattern_kind(raw)


def pattern_kind(raw: str) -> PatternKind:
    """Classify a well-formed pattern as ``path``, ``name`` or ``glob``."""
    if has_wildcard(raw):
        return "glob"
    return "path" if raw.startswith("/") else "name"


def _bracket_regex(bracket: _Bracket) -> bytes:
    """Compile a bracket expression to a bytes regex matching one character."""
    members = b"".join(
        rb"\x%02x" % low if low == high else rb"\x%02x-\x%02x" % (low, high)
        for low, high in bracket.ranges
    )
    if not bracket.negated:
        return b"[" + members + b"]"
    # a negated set holds ASCII only, so any multi-byte character is outside it
    return b"(?:" + _UTF8_SEQUENCE + b"|[^/" + members + b"])"


def _component_regex(component: str) -> bytes:
    """Compile one component (never ``**``) to a bytes regex that stays within it."""
    parts: list[bytes] = []
    for token in _tokenize(component):
        if isinstance(token, str):
            parts.append(re.escape(os.fsencode(token)))
        elif isinstance(token, _Star):
            parts.append(b"[^/]*")
        elif isinstance(token, _AnyChar):
            parts.append(_ONE_CHAR)
        else:
            parts.append(_bracket_regex(token))
    return b"".join(parts)


def compile_glob(raw: str) -> re.Pattern[bytes]:
    """Compile a well-formed glob to a bytes regex for :meth:`re.Pattern.fullmatch`.

    A glob without ``/`` compiles to a regex for a basename; an absolute glob to
    one for a whole path. ``*``, ``?`` and ``[...]`` never match ``/``; a ``**``
    component matches any number of whole components (zero or more in the
    middle, one or more at the end).
    """
    if not raw.startswith("/"):
        return re.compile(_component_regex(raw))
    components = _components(raw)
    parts: list[bytes] = []
    for index, component in enumerate(components):
        if component != "**":
            parts.append(b"/" + _component_regex(component))
        elif index == len(components) - 1:
            parts.append(b"(?:/[^/]+)+")
        elif index == 0 or components[index - 1] != "**":
            # consecutive '**' mean the same as one and would only slow matching down
            parts.append(b"(?:/[^/]+)*")
    return re.compile(b"".join(parts))


def filter_key(raw: str) -> FilterKey:
    """Derive the kernel pre-filter key of a well-formed pattern.

    Raises :class:`InvalidPatternError` when no key can hold every path the
    pattern matches.
    """
    components = _components(raw)
    basename = components[-1]
    if raw.startswith("/") and basename == "**":
        msg = (
            f"{_NOT_PREFILTERABLE}; a final '**' reaches files at any depth, "
            "so neither their name nor their parent directory is known"
        )
        raise InvalidPatternError(msg)
    tokens = _tokenize(basename)
    if len(tokens) == 1 and isinstance(tokens[0], str):
        name = os.fsencode(tokens[0])
        if len(name) <= FILTER_KEY_MAX:
            return FilterKey(FilterKind.NAME, name)
        return FilterKey(FilterKind.PREFIX, name[:FILTER_KEY_MAX])
    if isinstance(tokens[-1], str):
        return FilterKey(FilterKind.SUFFIX, os.fsencode(tokens[-1])[-FILTER_KEY_MAX:])
    if isinstance(tokens[0], str):
        return FilterKey(FilterKind.PREFIX, os.fsencode(tokens[0])[:FILTER_KEY_MAX])
    parent = components[-2] if raw.startswith("/") and len(components) > 1 else None
    if parent is None or has_wildcard(parent):
        raise InvalidPatternError(_NOT_PREFILTERABLE)
    parent_bytes = os.fsencode(parent)
    if len(parent_bytes) > FILTER_KEY_MAX:
        msg = (
            f"{_NOT_PREFILTERABLE}; its parent directory name is longer than {FILTER_KEY_MAX} bytes"
        )
        raise InvalidPatternError(msg)
    return FilterKey(FilterKind.DIRNAME, parent_bytes)


def kernel_filter_keys(patterns: Iterable[WatchPattern]) -> tuple[FilterKey, ...]:
    """Return the pre-filter keys of ``patterns``, without duplicates, in first-seen order."""
    return tuple(dict.fromkeys(filter_key(pattern.raw) for pattern in patterns))
