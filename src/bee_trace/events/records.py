"""ctypes mirrors of the records declared in ``kernel/bee_trace.h``.

The C header is the declaration; these mirrors are checked against the BTF
that clang emits for it into each object (:func:`check_layout`), when the
object is loaded and in the tests. A mismatch stops bee-trace rather than
letting it decode garbage.
"""

from __future__ import annotations

import ctypes
import struct
from enum import IntEnum
from typing import Final, NamedTuple

from bee_trace.bpf import StructLayout
from bee_trace.errors import LoadError

COMM_LEN: Final = 16
PATH_MAX: Final = 4096
FILTER_KEY_MAX: Final = 60
# BT_SIG_WORDS: the file probe's signature bit set, in 64-bit words
SIG_WORDS: Final = (1 << 16) // 64


class EventKind(IntEnum):
    """``enum bt_event_kind``: what follows the common header."""

    FILE_ACCESS = 1
    NETWORK = 2
    MEMORY = 3


class Counter(IntEnum):
    """``enum bt_counter``: the per-CPU counters every probe keeps."""

    EMITTED = 0
    DROP_RINGBUF = 1  # output buffer full (ring buffer, or perf buffer in the fallback)
    DROP_PENDING_FULL = 2
    UDP_UNAGGREGATED = 3
    DROP_UNREADABLE = 4  # a name or destination gone from the caller's memory by the call's exit


COUNTER_SLOTS: Final = 5


class EventHeader(ctypes.Structure):
    """``struct bt_event_header``."""

    _fields_ = (
        ("kind", ctypes.c_uint16),
        ("size", ctypes.c_uint16),
        ("_pad0", ctypes.c_uint32),
        ("ts_boot_ns", ctypes.c_uint64),
        ("pid", ctypes.c_uint32),
        ("tid", ctypes.c_uint32),
        ("ppid", ctypes.c_uint32),
        ("uid", ctypes.c_uint32),
        ("comm", ctypes.c_char * COMM_LEN),
    )


class RecordHeader(NamedTuple):
    """The common header as the consumer reads it: exactly what :data:`HEADER` unpacks.

    Cheaper to make and to read than an :class:`EventHeader`, which stays the
    mirror checked against the BTF. Unlike the mirror's, ``comm`` is the whole
    field as the kernel wrote it, NUL padding included;
    :func:`~bee_trace.events.model.process_info` cuts it at its first NUL.
    """

    kind: int
    size: int
    ts_boot_ns: int
    pid: int
    tid: int
    ppid: int
    uid: int
    comm: bytes


# struct bt_event_header in one unpack: kind, size, (pad), ts_boot_ns, pid, tid,
# ppid, uid, comm; checked against the mirror below
HEADER: Final = struct.Struct(f"=HH4xQIIII{COMM_LEN}s")
_HEADER_FIELDS: Final = ("kind", "size", "ts_boot_ns", "pid", "tid", "ppid", "uid", "comm")
if HEADER.size != ctypes.sizeof(EventHeader) or [
    getattr(EventHeader, f).offset for f in _HEADER_FIELDS
] != [0, 2, 8, 16, 20, 24, 28, 32]:  # pragma: no cover - the mirror and format change together
    msg = "EventHeader mirror and its struct format disagree"
    raise ImportError(msg)

# what a probe's decode is given: the consumer's header, or the mirror (tests, tools)
AnyHeader = EventHeader | RecordHeader


class FileEvent(ctypes.Structure):
    """``struct bt_file_event``; the path is variable-length on the wire."""

    _fields_ = (
        ("hdr", EventHeader),
        ("result", ctypes.c_int32),
        ("flags", ctypes.c_uint32),
        ("dfd", ctypes.c_int32),
        ("dev", ctypes.c_uint32),
        ("syscall", ctypes.c_uint16),
        ("path_len", ctypes.c_uint16),
        ("path_source", ctypes.c_uint8),
        ("_pad1", ctypes.c_uint8 * 3),
        ("path", ctypes.c_char * PATH_MAX),
    )


class FilterKey(ctypes.Structure):
    """``struct bt_filter_key``."""

    _fields_ = (
        ("kind", ctypes.c_uint8),
        ("len", ctypes.c_uint8),
        ("_pad", ctypes.c_uint8 * 2),
        ("value", ctypes.c_char * FILTER_KEY_MAX),
    )


class FileConfig(ctypes.Structure):
    """``struct bt_file_config``, the file probe's read-only globals."""

    _fields_ = (
        ("self_tgid", ctypes.c_uint32),
        ("args_at_exit", ctypes.c_uint8),
        ("task_btf", ctypes.c_uint8),
        ("has_dirname", ctypes.c_uint8),
        ("has_handoff", ctypes.c_uint8),
        ("suffix_lens", ctypes.c_uint64),
        ("prefix_lens", ctypes.c_uint64),
        ("sig_lens", ctypes.c_uint8 * 4),
        ("_pad1", ctypes.c_uint8 * 4),
        ("sig_bits", ctypes.c_uint64 * SIG_WORDS),
    )


class NetEvent(ctypes.Structure):
    """``struct bt_net_event``."""

    _fields_ = (
        ("hdr", EventHeader),
        ("result", ctypes.c_int32),
        ("rule", ctypes.c_uint32),
        ("total", ctypes.c_uint64),
        ("family", ctypes.c_uint16),
        ("dport", ctypes.c_uint16),
        ("protocol", ctypes.c_uint8),
        ("syscall", ctypes.c_uint8),
        ("blocked", ctypes.c_uint8),
        ("_pad0", ctypes.c_uint8),
        ("daddr", ctypes.c_uint8 * 16),
    )


class LpmV4(ctypes.Structure):
    """``struct bt_lpm_v4``."""

    _fields_ = (("prefixlen", ctypes.c_uint32), ("addr", ctypes.c_uint8 * 4))


class LpmV6(ctypes.Structure):
    """``struct bt_lpm_v6``."""

    _fields_ = (("prefixlen", ctypes.c_uint32), ("addr", ctypes.c_uint8 * 16))


class UdpKey(ctypes.Structure):
    """``struct bt_udp_key``."""

    _fields_ = (
        ("tgid", ctypes.c_uint32),
        ("result", ctypes.c_int32),
        ("uid", ctypes.c_uint32),
        ("family", ctypes.c_uint16),
        ("dport", ctypes.c_uint16),
        ("syscall", ctypes.c_uint8),
        ("protocol", ctypes.c_uint8),
        ("_pad", ctypes.c_uint8 * 6),
        ("daddr", ctypes.c_uint8 * 16),
        ("comm", ctypes.c_char * COMM_LEN),
    )


class UdpValue(ctypes.Structure):
    """``struct bt_udp_value``."""

    _fields_ = (("total", ctypes.c_uint64), ("last_emit_ns", ctypes.c_uint64))


class NetConfig(ctypes.Structure):
    """``struct bt_net_config``, the network probe's read-only globals."""

    _fields_ = (
        ("self_tgid", ctypes.c_uint32),
        ("enforce", ctypes.c_uint8),
        ("args_at_exit", ctypes.c_uint8),
        ("_pad", ctypes.c_uint8 * 2),
        ("udp_window_ns", ctypes.c_uint64),
    )


class MemEvent(ctypes.Structure):
    """``struct bt_mem_event``."""

    _fields_ = (
        ("hdr", EventHeader),
        ("result", ctypes.c_int32),
        ("target_pid", ctypes.c_uint32),
        ("request", ctypes.c_uint64),
        ("operation", ctypes.c_uint8),
        ("killed", ctypes.c_uint8),
        ("_pad", ctypes.c_uint8 * 6),
    )


class ExeId(ctypes.Structure):
    """``struct bt_exe_id``."""

    _fields_ = (("ino", ctypes.c_uint64), ("dev", ctypes.c_uint32), ("_pad", ctypes.c_uint32))


class MemConfig(ctypes.Structure):
    """``struct bt_mem_config``, the memory probe's read-only globals."""

    _fields_ = (
        ("self_tgid", ctypes.c_uint32),
        ("enforce", ctypes.c_uint8),
        ("watch_ptrace", ctypes.c_uint8),
        ("watch_process_vm", ctypes.c_uint8),
        ("watch_proc_mem", ctypes.c_uint8),
        ("args_at_exit", ctypes.c_uint8),
        ("_pad", ctypes.c_uint8 * 3),
    )


# C struct name -> its mirror
MIRRORS: Final[dict[str, type[ctypes.Structure]]] = {
    "bt_event_header": EventHeader,
    "bt_file_event": FileEvent,
    "bt_filter_key": FilterKey,
    "bt_file_config": FileConfig,
    "bt_net_event": NetEvent,
    "bt_lpm_v4": LpmV4,
    "bt_lpm_v6": LpmV6,
    "bt_udp_key": UdpKey,
    "bt_udp_value": UdpValue,
    "bt_net_config": NetConfig,
    "bt_mem_event": MemEvent,
    "bt_exe_id": ExeId,
    "bt_mem_config": MemConfig,
}


def mirrors_of(*names: str) -> dict[str, type[ctypes.Structure]]:
    """The mirrors of the named C structs, for a probe's ``records``."""
    return {name: MIRRORS[name] for name in names}


def mirror_layout(mirror: type[ctypes.Structure]) -> StructLayout:
    """The layout of a ctypes mirror, in the same shape as BTF gives it."""
    offsets: dict[str, int] = {}
    for field in mirror._fields_:
        name = field[0]
        offsets[name] = getattr(mirror, name).offset
    return StructLayout(name=mirror.__name__, size=ctypes.sizeof(mirror), offsets=offsets)


def check_layout(btf: StructLayout, mirror: type[ctypes.Structure]) -> None:
    """Raise LoadError naming every difference between BTF and mirror."""
    ours = mirror_layout(mirror)
    problems: list[str] = []
    if btf.size != ours.size:
        problems.append(f"size {btf.size} in BTF, {ours.size} in Python")
    for name in sorted(set(btf.offsets) | set(ours.offsets)):
        theirs, mine = btf.offsets.get(name), ours.offsets.get(name)
        if theirs != mine:
            problems.append(f"field {name}: offset {theirs} in BTF, {mine} in Python")
    if problems:
        msg = f"struct {btf.name} drifted from its Python mirror: " + "; ".join(problems)
        raise LoadError(msg)
