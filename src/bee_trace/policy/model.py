# Copyright 2026 The bee-trace Authors
# SPDX-License-Identifier: Apache-2.0
"""The policy as the rest of bee-trace sees it: frozen records, no YAML.

Paths are ``bytes`` throughout, because the kernel gives no encoding guarantee;
patterns are written as text and compared as ``os.fsencode`` of that text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bee_trace.policy.patterns import PatternKind, compile_glob, pattern_kind, validate_pattern

if TYPE_CHECKING:
    import re


@dataclass(frozen=True, slots=True)
class WatchPattern:
    """One entry of ``files.watch_read``: which real paths it names.

    Constructing one validates ``raw`` (raising
    :class:`~bee_trace.policy.patterns.InvalidPatternError`) and checks that
    ``kind`` agrees with it.
    """

    raw: str
    kind: PatternKind
    line: int
    _encoded: bytes = field(init=False, repr=False, compare=False)
    _regex: re.Pattern[bytes] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Validate the pattern and prepare it for matching."""
        validate_pattern(self.raw)
        expected = pattern_kind(self.raw)
        if self.kind != expected:
            msg = f"pattern {self.raw!r} is of kind {expected!r}, not {self.kind!r}"
            raise ValueError(msg)
        object.__setattr__(self, "_encoded", os.fsencode(self.raw))
        regex = compile_glob(self.raw) if self.kind == "glob" else None
        object.__setattr__(self, "_regex", regex)

    @classmethod
    def parse(cls, raw: str, line: int = 0) -> WatchPattern:
        """Build a pattern from its text, working out its kind."""
        return cls(raw=raw, kind=pattern_kind(raw), line=line)

    def matches(self, path: bytes) -> bool:
        """Return whether the real absolute ``path`` is one this pattern names."""
        if self._regex is not None:
            subject = path if self._encoded.startswith(b"/") else path.rpartition(b"/")[2]
            return self._regex.fullmatch(subject) is not None
        if self.kind == "path":
            return path == self._encoded
        return path.rpartition(b"/")[2] == self._encoded


@dataclass(frozen=True, slots=True)
class FilePolicy:
    """The ``files`` section: which files to report when opened for reading."""

    watch_read: tuple[WatchPattern, ...] = ()

    def match(self, path: bytes) -> WatchPattern | None:
        """Return the first pattern in ``watch_read`` that matches ``path``, if any."""
        for pattern in self.watch_read:
            if pattern.matches(path):
                return pattern
        return None


@dataclass(frozen=True, slots=True)
class Policy:
    """A whole, validated policy and where it came from.

    ``source`` is the file path shown in messages, or ``<embedded>/security.yml``
    for the default policy shipped inside the package.
    """

    source: str
    files: FilePolicy = field(default_factory=FilePolicy)
