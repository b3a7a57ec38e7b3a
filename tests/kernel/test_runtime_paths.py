"""The monitor's error paths on the real kernel.

A start that fails part way leaves nothing loaded; a record the probe cannot
decode is counted as dropped; an output that fails stops taking events, and
every event after it is counted instead of lost unseen.
"""

from __future__ import annotations

import ctypes
import os
import platform
import subprocess
import threading
import time
from typing import TYPE_CHECKING

import pytest

from bee_trace.bpf.libbpf import lib
from bee_trace.bpf.ringbuf import RecordBatcher
from bee_trace.errors import LoadError, OutputError
from bee_trace.events.model import FileAccessEvent
from bee_trace.events.records import EventHeader, EventKind, FileEvent
from bee_trace.policy import parse_policy
from bee_trace.probes.base import ProbeContext
from bee_trace.probes.file import FileProbe, OpenSyscall, PathSource
from bee_trace.runtime import Monitor, run_until
from tests.fakes import Recorder
from tests.kernel.helpers import program_ids_of

if TYPE_CHECKING:
    from pathlib import Path

    from bee_trace.bpf import BpfObject

pytestmark = pytest.mark.kernel


def _ctx(suffix: str) -> ProbeContext:
    policy = parse_policy(f"files:\n  watch_read:\n    - '*{suffix}'\n", "test")
    return ProbeContext(policy=policy, self_pid=os.getpid(), boot_to_utc_ns=0)


@pytest.fixture
def target(tmp_path: Path) -> Path:
    """A watched file, unique to this run so a concurrent run's opens do not count."""
    path = tmp_path / f"t.beetest-rt-{os.getpid()}"
    path.write_text("x")
    return path


def _open_in_child(path: Path, times: int) -> None:
    subprocess.run(["cat", *[str(path)] * times], check=True, capture_output=True)


# --- all or none ---


class _FailsToPopulate(FileProbe):
    """Fails in populate, after every object loaded; notes which programs it held then."""

    held: set[int]

    def populate(self, obj: BpfObject) -> None:
        del obj
        self.held = program_ids_of(os.getpid())
        msg = "populate failed: test"
        raise LoadError(msg)


class _KernelRefusesMap(FileProbe):
    """Asks for a zero-sized hash map, which the kernel refuses at load."""

    def configure(self, obj: BpfObject) -> None:
        super().configure(obj)
        pending = obj.map("pending")
        lib().bpf_map__set_max_entries(pending._ptr, 0)  # noqa: SLF001 - the raw map


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (_FailsToPopulate, "populate failed: test"),
        (_KernelRefusesMap, r"cannot load file_monitor\.bpf\.o into the kernel: EINVAL"),
    ],
)
def test_a_failed_start_unloads_the_probes_before_it(
    target: Path, broken: type[_FailsToPopulate | _KernelRefusesMap], message: str
) -> None:
    before = program_ids_of(os.getpid())
    ctx = _ctx(target.name)
    second = broken(ctx)
    monitor = Monitor([FileProbe(ctx), second], Recorder())
    with pytest.raises(LoadError, match=message):
        monitor.start()
    assert not monitor.started
    # a failure after the file probe loaded (populate runs after every load)
    # leaves nothing loaded, nor does the kernel refusing an object
    if isinstance(second, _FailsToPopulate):
        assert second.held > before
    assert program_ids_of(os.getpid()) == before
    # what was counted before the failure is still there, and nothing more is read
    stats = monitor.stats()
    assert [(s.probe, s.events, s.dropped) for s in stats] == [
        ("file_monitor", 0, 0),
        ("file_monitor", 0, 0),
    ]
    monitor.flush(final=True)
    monitor.close()


# --- records the probe cannot decode ---


def _header(kind: int, size: int) -> EventHeader:
    header = EventHeader()
    header.kind = kind
    header.size = size
    header.pid = header.tid = 1
    header.comm = b"test"
    return header


def _file_record(source: int, path: bytes) -> bytes:
    rec = FileEvent()
    rec.hdr = _header(EventKind.FILE_ACCESS, ctypes.sizeof(FileEvent))
    rec.syscall = OpenSyscall.OPENAT
    rec.path_source = source
    rec.path_len = len(path)
    rec.path = path
    return bytes(rec)


def test_malformed_records_are_counted_as_dropped(target: Path) -> None:
    monitor = Monitor([FileProbe(_ctx(target.name))], Recorder())
    monitor.start()
    try:
        handle = monitor._handler(monitor._loaded[0])  # noqa: SLF001 - feed records directly
        header_size = ctypes.sizeof(EventHeader)
        # shorter than the common header
        handle([b"\0" * (header_size - 1)])
        # another probe's kind
        handle([bytes(_header(EventKind.NETWORK, header_size))])
        # a file header without its body
        handle([bytes(_header(EventKind.FILE_ACCESS, header_size))])
        # a path source the probe does not know
        handle([_file_record(0, str(target).encode())])
        # well formed, but no pattern matches it: refined away, not dropped
        handle([_file_record(PathSource.RESOLVED, b"/not/watched")])
        [stats] = monitor.stats()
        assert (stats.events, stats.dropped) == (0, 4)
    finally:
        summary = monitor.stop()
    assert summary.total_dropped == 4


# --- an output that fails ---


@pytest.mark.parametrize("fail_at", [1, 2])
def test_an_output_failure_while_stopping_is_kept_and_the_rest_counted(
    target: Path, fail_at: int
) -> None:
    out = Recorder(fail_at=fail_at)
    monitor = Monitor([FileProbe(_ctx(target.name))], out)
    monitor.start()
    try:
        _open_in_child(target, times=3)
    finally:
        summary = monitor.stop()
    assert isinstance(monitor.failure, OutputError)
    assert str(monitor.failure) == "output failed: test"
    assert out.abandoned
    # only the failing write reached the output after the events before it
    assert out.writes == fail_at
    [stats] = summary.probes
    assert (stats.events, stats.dropped) == (fail_at - 1, 3 - (fail_at - 1))
    # once closed, nothing is flushed and the counts stay as they were
    monitor.flush(final=True)
    assert monitor.stats() == list(summary.probes)


def test_events_after_an_output_failure_are_counted_not_written(target: Path) -> None:
    out = Recorder(fail_at=1)
    monitor = Monitor([FileProbe(_ctx(target.name))], out)
    monitor.start()
    try:
        _open_in_child(target, times=1)
        with pytest.raises(OutputError, match="output failed: test"):
            monitor.poll(5000)
        _open_in_child(target, times=2)
        monitor.drain()
        assert out.writes == 1
    finally:
        summary = monitor.stop()
    # the failure was met while running, not while stopping
    assert monitor.failure is None
    assert not out.abandoned
    [stats] = summary.probes
    assert (stats.events, stats.dropped) == (0, 3)


# --- running ---


def test_run_until_delivers_and_ticks_until_the_deadline(target: Path) -> None:
    out = Recorder()
    monitor = Monitor([FileProbe(_ctx(target.name))], out)
    ticks: list[float] = []
    monitor.start()
    try:
        _open_in_child(target, times=1)
        start = time.monotonic()
        run_until(
            monitor,
            threading.Event(),
            deadline=start + 1.0,
            tick=lambda: ticks.append(time.monotonic()),
            tick_every_s=0.2,
        )
        elapsed = time.monotonic() - start
    finally:
        summary = monitor.stop()
    assert elapsed >= 1.0
    assert len(ticks) >= 2
    assert [(type(e), getattr(e, "path", None)) for e in out.events] == [
        (FileAccessEvent, os.fsencode(target))
    ]
    assert summary.probes[0].events == 1


# --- the consumer for a weakly ordered CPU ---


def test_where_loads_may_be_reordered_libbpf_consumes_the_ring(
    target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # on arm64 the plain loads of the mapped consumer could see a record
    # before its bytes: libbpf's consumer, with acquire loads, takes over
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    out = Recorder()
    monitor = Monitor([FileProbe(_ctx(target.name))], out)
    monitor.start()
    try:
        assert isinstance(monitor._ring, RecordBatcher)  # noqa: SLF001 - the consumer chosen
        _open_in_child(target, times=3)
        deadline = time.monotonic() + 10
        while len(out.events) < 3 and time.monotonic() < deadline:
            monitor.poll(100)
    finally:
        summary = monitor.stop()
    assert [getattr(e, "path", None) for e in out.events] == [os.fsencode(target)] * 3
    assert (summary.probes[0].events, summary.probes[0].dropped) == (3, 0)
