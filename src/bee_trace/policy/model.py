# Copyright 2026 The bee-trace Authors
# SPDX-License-Identifier: Apache-2.0
"""The policy as the rest of bee-trace sees it: frozen records, no YAML.

File paths are ``bytes`` throughout, because the kernel gives no encoding
guarantee; patterns are written as text and compared as ``os.fsencode`` of that
text. Allowed accessors stay text as written: the runtime turns executable paths
into device and inode numbers, and comm names into the kernel's bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bee_trace.policy.accessors import check_accessor, is_executable_path
from bee_trace.policy.networks import parse_blocked, unmap_address, unmap_network
from bee_trace.policy.patterns import PatternKind, compile_glob, pattern_kind, validate_pattern

if TYPE_CHECKING:
    import ipaddress
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
class BlockedNetwork:
    """One entry of ``network.blocked_ips``: as written, where, and the network it blocks.

    ``network`` is normalised: an IPv4-mapped IPv6 network is stored as the IPv4
    network it maps, which is how the kernel matches such destinations.
    """

    raw: str
    line: int
    network: ipaddress.IPv4Network | ipaddress.IPv6Network

    def __post_init__(self) -> None:
        """Refuse a network that is not normalised; it would never match."""
        if unmap_network(self.network) != self.network:
            msg = f"network {self.network} is IPv4-mapped; give it as {unmap_network(self.network)}"
            raise ValueError(msg)

    @classmethod
    def parse(cls, raw: str, line: int = 0) -> BlockedNetwork:
        """Build an entry from its text; raises :class:`ValueError` saying what is wrong."""
        return cls(raw=raw, line=line, network=parse_blocked(raw))


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    """The ``network`` section: destinations to report and, with ``enforce``, deny."""

    blocked_ips: tuple[BlockedNetwork, ...] = ()
    enforce: bool = False

    def match(
        self,
        addr: ipaddress.IPv4Address | ipaddress.IPv6Address,
    ) -> BlockedNetwork | None:
        """Return the entry with the longest prefix that contains ``addr``, if any.

        An IPv4-mapped IPv6 address is matched as the IPv4 address it maps, as
        the kernel does; of entries with equal prefixes the first wins.
        """
        addr = unmap_address(addr)
        best: BlockedNetwork | None = None
        for entry in self.blocked_ips:
            network = entry.network
            if network.version != addr.version or addr not in network:
                continue
            if best is None or network.prefixlen > best.network.prefixlen:
                best = entry
        return best


@dataclass(frozen=True, slots=True)
class MemoryWatch:
    """The ``memory.watch`` section: which kinds of cross-process memory access to report."""

    ptrace: bool = True
    process_vm: bool = True
    proc_mem: bool = True


@dataclass(frozen=True, slots=True)
class MemoryPolicy:
    """The ``memory`` section: which accesses to report, who may make them, and enforcement.

    Constructing one checks every entry of ``allowed_accessors`` (raising
    :class:`ValueError`): a comm name, or an absolute, normalised executable path.
    """

    watch: MemoryWatch = field(default_factory=MemoryWatch)
    allowed_accessors: tuple[str, ...] = ()
    enforce: bool = False

    def __post_init__(self) -> None:
        """Check each allowed accessor."""
        for raw in self.allowed_accessors:
            try:
                check_accessor(raw)
            except ValueError as exc:
                msg = f"allowed accessor {raw!r}: {exc}"
                raise ValueError(msg) from exc

    @property
    def allowed_comms(self) -> tuple[str, ...]:
        """The entries that are comm names, in order."""
        return tuple(raw for raw in self.allowed_accessors if not is_executable_path(raw))

    @property
    def allowed_executables(self) -> tuple[str, ...]:
        """The entries that are absolute executable paths, in order."""
        return tuple(raw for raw in self.allowed_accessors if is_executable_path(raw))


MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class LimitsPolicy:
    """The ``limits`` section: what bee-trace may take from the host.

    ``ring_buffer_bytes`` sizes each probe's ring buffer; the others are
    ceilings the policy loader and the eBPF validation suite hold it to.
    """

    ring_buffer_bytes: int = 4 * MIB
    kernel_memory_bytes: int = 64 * MIB
    user_memory_bytes: int = 128 * MIB
    cpu_percent: float = 50.0


@dataclass(frozen=True, slots=True)
class Policy:
    """A whole, validated policy and where it came from.

    ``source`` is the file path shown in messages, or ``<embedded>/security.yml``
    for the default policy shipped inside the package.
    """

    source: str
    files: FilePolicy = field(default_factory=FilePolicy)
    network: NetworkPolicy = field(default_factory=NetworkPolicy)
    memory: MemoryPolicy = field(default_factory=MemoryPolicy)
    limits: LimitsPolicy = field(default_factory=LimitsPolicy)
