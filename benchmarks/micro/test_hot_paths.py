"""What user space spends per event: decoding, policy matching, formatting.

Run with ``pytest benchmarks/micro --benchmark-only``; ``python -m
benchmarks`` runs them and records the means. Records are built with the
ctypes mirrors, exactly as the ring buffer carries them.
"""

from __future__ import annotations

import ctypes
import os
import struct
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import pytest

from bee_trace.bpf.ringbuf import RingView
from bee_trace.events.model import FileAccessEvent, NetworkConnectionEvent, ProcessInfo
from bee_trace.events.records import (
    HEADER,
    EventHeader,
    EventKind,
    FileEvent,
    NetEvent,
    RecordHeader,
)
from bee_trace.outputs import LineOutput, jsonl, text
from bee_trace.policy import load_policy
from bee_trace.probes.base import ProbeContext
from bee_trace.probes.file import FileProbe, OpenSyscall, PathSource
from bee_trace.probes.network import NetworkProbe
from bee_trace.runtime import Monitor, _Loaded

if TYPE_CHECKING:
    from pytest_benchmark.fixture import BenchmarkFixture

    from bee_trace.bpf import BpfObject

PORT = 8080
PID = 4001
WATCHED = b"/home/alice/.ssh/id_rsa"
UNWATCHED = b"/home/alice/project/README.md"
GLOB_HIT = b"/etc/kubernetes/pki/apiserver.key"


def _context() -> ProbeContext:
    return ProbeContext(policy=load_policy(None), self_pid=1, boot_to_utc_ns=1_790_000_000 * 10**9)


def _header(rec: Any, kind: int) -> None:  # noqa: ANN401 - any record with a hdr field
    rec.hdr.kind = kind
    rec.hdr.ts_boot_ns = 3_000_000_999_999
    rec.hdr.pid = PID
    rec.hdr.tid = 4001
    rec.hdr.ppid = 1
    rec.hdr.uid = 1000
    rec.hdr.comm = b"cat"


def file_record(path: bytes) -> tuple[EventHeader, bytes]:
    """A resolved file record, cut to its wire size as the ring buffer carries it."""
    rec = FileEvent()
    _header(rec, EventKind.FILE_ACCESS)
    rec.result = 3
    rec.flags = os.O_RDONLY | os.O_CLOEXEC
    rec.syscall = OpenSyscall.OPENAT
    rec.path_len = len(path)
    rec.path_source = PathSource.RESOLVED
    rec.path = path
    size = FileEvent.path.offset + len(path) + 1
    rec.hdr.size = size
    return rec.hdr, bytes(rec)[:size]


def net_record() -> tuple[EventHeader, bytes]:
    """A TCP connect to 127.0.0.1:PORT."""
    rec = NetEvent()
    _header(rec, EventKind.NETWORK)
    rec.family = 2
    rec.protocol = 6
    rec.syscall = 1
    rec.dport = PORT
    rec.daddr[:4] = [127, 0, 0, 1]
    rec.hdr.size = ctypes.sizeof(NetEvent)
    return rec.hdr, bytes(rec)


def file_event() -> FileAccessEvent:
    """A decoded file event, as outputs receive it."""
    return FileAccessEvent(
        timestamp=datetime(2026, 12, 4, 15, 38, 31, 192856, tzinfo=UTC),
        process=ProcessInfo(pid=4001, tid=4001, ppid=1, uid=1000, comm=b"cat"),
        syscall="openat",
        path=WATCHED,
        flags=os.O_RDONLY | os.O_CLOEXEC,
        result=3,
        resolved=True,
        rule="id_rsa",
    )


def net_event() -> NetworkConnectionEvent:
    """A decoded network event."""
    return NetworkConnectionEvent(
        timestamp=datetime(2026, 12, 4, 15, 38, 31, 192856, tzinfo=UTC),
        process=ProcessInfo(pid=4001, tid=4001, ppid=1, uid=1000, comm=b"curl"),
        syscall="connect",
        family="AF_INET",
        protocol="tcp",
        daddr="127.0.0.1",
        dport=PORT,
        result=0,
        count=1,
        blocked=False,
        rule=None,
        action="allowed",
    )


def test_decode_file_event(benchmark: BenchmarkFixture) -> None:
    """FileProbe.decode of a resolved record that the policy matches."""
    probe = FileProbe(_context())
    header, raw = file_record(WATCHED)
    event = benchmark(probe.decode, header, raw)
    if event is None or event.rule != "id_rsa":
        pytest.fail(f"decoded to {event!r}")


def test_decode_net_event(benchmark: BenchmarkFixture) -> None:
    """NetworkProbe.decode of a TCP connect."""
    probe = NetworkProbe(_context())
    header, raw = net_record()
    event = benchmark(probe.decode, header, raw)
    if event is None or event.dport != PORT:
        pytest.fail(f"decoded to {event!r}")


def test_header_parse(benchmark: BenchmarkFixture) -> None:
    """The common header every record starts with, as the consumer reads it."""
    _, raw = file_record(WATCHED)
    make, unpack = RecordHeader._make, HEADER.unpack_from
    header = benchmark(lambda: make(unpack(raw)))
    if header.kind != EventKind.FILE_ACCESS or header.pid != PID:
        pytest.fail(f"parsed {header!r}")


@pytest.mark.parametrize("path", [WATCHED, UNWATCHED, GLOB_HIT], ids=["name", "miss", "glob"])
def test_policy_match(benchmark: BenchmarkFixture, path: bytes) -> None:
    """FilePolicy.match over the default policy's watch_read patterns."""
    files = load_policy(None).files
    benchmark(files.match, path)


def test_format_json_file(benchmark: BenchmarkFixture) -> None:
    """One file event as a JSON line."""
    line = benchmark(jsonl.format_event, file_event())
    if '"rule":"id_rsa"' not in line:
        pytest.fail(line)


def test_format_json_net(benchmark: BenchmarkFixture) -> None:
    """One network event as a JSON line."""
    benchmark(jsonl.format_event, net_event())


def test_format_text_file(benchmark: BenchmarkFixture) -> None:
    """One file event as a text line."""
    line = benchmark(text.format_event, file_event())
    if "rule=id_rsa" not in line:
        pytest.fail(line)


def test_format_text_net(benchmark: BenchmarkFixture) -> None:
    """One network event as a text line."""
    benchmark(text.format_event, net_event())


# --- per batch, as the runtime works: BATCH records at a time ---

BATCH = 1024
_PAGE = 4096


class _NullStream:
    """A byte stream that takes everything and keeps nothing."""

    def write(self, data: bytes, /) -> int:
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def _ring_of(records: list[bytes]) -> tuple[bytearray, bytes, int]:
    """A ring buffer's consumer page and producer page + data, holding records."""
    data = bytearray()
    for raw in records:
        data += struct.pack("@II", len(raw), 0) + raw
        data += b"\0" * (-len(data) % 8)
    size = 1 << max(len(data) - 1, 1).bit_length()
    data += b"\0" * (size - len(data))
    producer = bytearray(_PAGE)
    struct.pack_into("@L", producer, 0, sum((len(r) + 8 + 7) & ~7 for r in records))
    return bytearray(_PAGE), bytes(producer) + bytes(data) * 2, size


def test_batch_ring_take(benchmark: BenchmarkFixture) -> None:
    """RingView.take of BATCH file records from a mapped-ring layout (per batch)."""
    _, raw = file_record(WATCHED)
    consumer, area, size = _ring_of([raw] * BATCH)

    def take() -> list[bytes]:
        consumer[:8] = bytes(8)  # the ring is full again
        return RingView(consumer, area, _PAGE, size).take()

    taken = benchmark(take)
    if len(taken) != BATCH:
        pytest.fail(f"took {len(taken)}")


def test_batch_decode_format_write(benchmark: BenchmarkFixture) -> None:
    """The runtime's handler on BATCH records: header, decode, JSON lines, one write (per batch)."""
    probe = FileProbe(_context())
    _, raw = file_record(WATCHED)
    output = LineOutput(
        jsonl.format_event, _NullStream(), "null", owned=True, format_lines=jsonl.format_lines
    )
    monitor = Monitor([probe], output)
    loaded = _Loaded(probe, cast("BpfObject", None))
    handle = monitor._handler(loaded)  # noqa: SLF001 - the per-batch hot path itself
    benchmark(handle, [raw] * BATCH)
    if loaded.malformed or loaded.delivered % BATCH:
        pytest.fail(f"delivered {loaded.delivered}, malformed {loaded.malformed}")


def test_batch_format_json(benchmark: BenchmarkFixture) -> None:
    """BATCH file events as JSON lines in one string (per batch)."""
    events = [file_event()] * BATCH
    text_out = benchmark(jsonl.format_lines, events)
    if text_out.count("\n") != BATCH:
        pytest.fail("wrong line count")
