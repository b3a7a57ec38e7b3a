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


@dataclass(frozen=True, slots=True)
class NetworkConnectionEvent:
    """An outbound connection attempt, or UDP datagrams to one destination.

    ``daddr`` is the destination as text; an IPv4-mapped IPv6 destination is
    reported as the IPv4 address with ``family`` ``AF_INET``. ``result`` is 0
    or a negative errno (``-EINPROGRESS`` for a non-blocking connect).
    ``count`` is 1 for a connect; for UDP sends it is how many datagrams this
    event stands for (repeats within the aggregation window are folded).
    ``rule`` is the ``network.blocked_ips`` entry that matched, as written.
    ``action`` is ``denied`` when enforcement refused the connection, else
    ``allowed``.
    """

    type: ClassVar[str] = "network_connection"
    category: ClassVar[str] = "Network connection"

    timestamp: datetime
    process: ProcessInfo
    syscall: str
    family: str
    protocol: str
    daddr: str
    dport: int
    result: int
    count: int
    blocked: bool
    rule: str | None
    action: str


@dataclass(frozen=True, slots=True)
class MemoryAccessEvent:
    """One process reading, writing or attaching to another's memory.

    ``operation`` is ``ptrace``, ``process_vm_readv``, ``process_vm_writev``
    or ``proc_mem``; ``request`` is the ptrace request name (``PTRACE_PEEKDATA``)
    for ``ptrace`` and None otherwise. ``access`` is ``read``, ``write``,
    ``read_write`` or ``attach``. ``action`` is ``killed`` when enforcement
    sent SIGKILL to the accessor, else ``allowed``.
    """

    type: ClassVar[str] = "memory_access"
    category: ClassVar[str] = "Memory access"

    timestamp: datetime
    process: ProcessInfo
    operation: str
    request: str | None
    access: str
    target_pid: int
    target_comm: bytes
    result: int
    action: str


Event = FileAccessEvent | NetworkConnectionEvent | MemoryAccessEvent


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
