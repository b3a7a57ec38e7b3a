"""Decoded, enriched events, as outputs receive them.

Outputs depend on this module only; they know nothing of the kernel. Byte
fields (``comm``, ``path``) stay ``bytes`` because the kernel gives no
encoding guarantee; outputs escape them when they render.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Final


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """The process that caused an event."""

    pid: int
    tid: int
    ppid: int
    uid: int
    comm: bytes


@dataclass(frozen=True, slots=True, init=False)
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

    def __init__(  # noqa: PLR0913, PLR0917 - one argument per field, as dataclass makes it
        self,
        timestamp: datetime,
        process: ProcessInfo,
        syscall: str,
        path: bytes,
        flags: int,
        result: int,
        resolved: bool,  # noqa: FBT001 - a field, as dataclass would take it
        rule: str,
    ) -> None:
        """Set every field, as a frozen dataclass does, through the slots directly.

        The generated ``__init__`` looks each slot up by name; a flood builds
        one of these per event, so the setters are looked up once instead.
        """
        (
            set_timestamp,
            set_process,
            set_syscall,
            set_path,
            set_flags,
            set_result,
            set_resolved,
            set_rule,
        ) = _FILE_ACCESS_SETTERS
        set_timestamp(self, timestamp)
        set_process(self, process)
        set_syscall(self, syscall)
        set_path(self, path)
        set_flags(self, flags)
        set_result(self, result)
        set_resolved(self, resolved)
        set_rule(self, rule)


# each field's slot setter, in field order: what FileAccessEvent.__init__ calls
_FILE_ACCESS_SETTERS: Final = tuple(
    getattr(FileAccessEvent, f.name).__set__ for f in fields(FileAccessEvent)
)


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


# distinct values the helpers below remember; a flood repeats a few of them
_INTERN_MAX: Final = 1024
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_S: Final = 1_000_000_000

_processes: dict[tuple[int, int, int, int, bytes], ProcessInfo] = {}
_seconds: dict[int, tuple[int, int, int, int, int, int]] = {}


def process_info(pid: int, tid: int, ppid: int, uid: int, comm: bytes) -> ProcessInfo:
    """The ProcessInfo of these values, shared between events (it is immutable).

    ``comm`` is cut at its first NUL: the kernel's field is NUL-padded. A
    flood of events comes from few threads: reusing one object saves building
    a new one per event, and lets outputs cache its rendering.
    """
    key = (pid, tid, ppid, uid, comm)
    found = _processes.get(key)
    if found is None:
        if len(_processes) >= _INTERN_MAX:
            _processes.clear()
        name = comm.partition(b"\0")[0]
        found = _processes[key] = ProcessInfo(pid=pid, tid=tid, ppid=ppid, uid=uid, comm=name)
    return found


def utc_from_ns(ns: int) -> datetime:
    """Nanoseconds since the Unix epoch as an aware UTC datetime, to the microsecond (floored).

    The same value as ``epoch + timedelta(microseconds=ns // 1000)``, with the
    date and time of day of each second worked out once.
    """
    second, rest = divmod(ns, _NS_PER_S)
    fields = _seconds.get(second)
    if fields is None:
        if len(_seconds) >= _INTERN_MAX:
            _seconds.clear()
        whole = _EPOCH + timedelta(seconds=second)
        fields = (whole.year, whole.month, whole.day, whole.hour, whole.minute, whole.second)
        _seconds[second] = fields
    year, month, day, hour, minute, sec = fields
    return datetime(year, month, day, hour, minute, sec, rest // 1000, UTC)
