"""Decoded, enriched events, as outputs receive them.

Outputs depend on this module only; they know nothing of the kernel. Byte
fields (``comm``, ``path``) stay ``bytes`` because the kernel gives no
encoding guarantee; outputs escape them when they render.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from datetime import datetime


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """The process that caused an event."""

    pid: int
    tid: int
    ppid: int
    uid: int
    comm: bytes


@dataclass(frozen=True, slots=True)
class FileAccessEvent:
    """An open for reading of a watched file.

    ``result`` is the file descriptor returned (``>= 0``) or a negative errno.
    ``path`` is the real absolute path when ``resolved`` is true; otherwise it
    is the best reconstruction user space could make of the name the process
    passed (the open failed, so the kernel had no file to name).
    """

    type: ClassVar[str] = "file_access"
    category: ClassVar[str] = "File access"

    timestamp: datetime
    process: ProcessInfo
    syscall: str
    path: bytes
    flags: int
    result: int
    resolved: bool
    rule: str


Event = FileAccessEvent


@dataclass(frozen=True, slots=True)
class ProbeStats:
    """What one probe delivered and lost during a run."""

    probe: str
    events: int
    dropped: int


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What bee-trace reports when it stops."""

    duration_s: float
    probes: tuple[ProbeStats, ...]

    @property
    def total_events(self) -> int:
        """Events delivered by every probe."""
        return sum(p.events for p in self.probes)

    @property
    def total_dropped(self) -> int:
        """Events lost by every probe."""
        return sum(p.dropped for p in self.probes)
