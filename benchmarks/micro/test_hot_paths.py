"""What user space spends per event: decoding, policy matching, formatting.

Run with ``pytest benchmarks/micro --benchmark-only``; ``python -m
benchmarks`` runs them and records the means. Records are built with the
ctypes mirrors, exactly as the ring buffer carries them.
"""

from __future__ import annotations

import ctypes
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from bee_trace.events.model import FileAccessEvent, NetworkConnectionEvent, ProcessInfo
from bee_trace.events.records import EventHeader, EventKind, FileEvent, NetEvent
from bee_trace.outputs import jsonl, text
from bee_trace.policy import load_policy
from bee_trace.probes.base import ProbeContext
from bee_trace.probes.file import FileProbe, OpenSyscall, PathSource
from bee_trace.probes.network import NetworkProbe

if TYPE_CHECKING:
    from pytest_benchmark.fixture import BenchmarkFixture

PORT = 8080
WATCHED = b"/home/alice/.ssh/id_rsa"
UNWATCHED = b"/home/alice/project/README.md"
GLOB_HIT = b"/etc/kubernetes/pki/apiserver.key"


def _context() -> ProbeContext:
    return ProbeContext(policy=load_policy(None), self_pid=1, boot_to_utc_ns=1_790_000_000 * 10**9)


def _header(rec: Any, kind: int) -> None:  # noqa: ANN401 - any record with a hdr field
    rec.hdr.kind = kind
    rec.hdr.ts_boot_ns = 3_000_000_999_999
    rec.hdr.pid = 4001
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
    size = ctypes.sizeof(EventHeader)
    benchmark(lambda: EventHeader.from_buffer_copy(raw[:size]))


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
