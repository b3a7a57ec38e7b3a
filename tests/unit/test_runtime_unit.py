"""The monitor and its run loop without the kernel: a monitor with no probes."""

from __future__ import annotations

import errno
import io
import itertools
import os
import threading
import time
from typing import TYPE_CHECKING, cast

import pytest

from bee_trace.errors import OutputError
from bee_trace.events.records import HEADER, EventKind, FileEvent
from bee_trace.outputs import LineOutput, jsonl
from bee_trace.policy import parse_policy
from bee_trace.probes.base import ProbeContext
from bee_trace.probes.file import FileProbe, OpenSyscall, PathSource
from bee_trace.runtime import Monitor, _Loaded, run_until
from tests.fakes import Recorder

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from bee_trace.bpf import BpfObject


def test_a_monitor_without_probes_starts_and_stops_empty() -> None:
    monitor = Monitor([], Recorder())
    monitor.start()
    assert monitor.started
    assert monitor.poll(0) == 0
    monitor.drain()
    monitor.flush()
    assert monitor.stats() == []
    summary = monitor.stop()
    assert summary.probes == ()
    assert summary.duration_s >= 0
    assert monitor.failure is None
    monitor.close()


def test_run_until_returns_at_once_when_stop_is_set() -> None:
    stop = threading.Event()
    stop.set()
    ticks: list[None] = []
    run_until(Monitor([], Recorder()), stop, None, lambda: ticks.append(None), 0.01)
    assert ticks == []


def test_run_until_returns_at_once_past_the_deadline() -> None:
    ticks: list[None] = []
    start = time.monotonic()
    run_until(Monitor([], Recorder()), threading.Event(), start - 1, lambda: ticks.append(None))
    assert ticks == []
    assert time.monotonic() - start < 1


def test_run_until_ticks_until_the_tick_stops_it() -> None:
    stop = threading.Event()
    ticks: list[float] = []

    def tick() -> None:
        ticks.append(time.monotonic())
        if len(ticks) == 3:
            stop.set()

    start = time.monotonic()
    run_until(Monitor([], Recorder()), stop, None, tick, tick_every_s=0.05)
    assert len(ticks) == 3
    assert ticks[0] - start >= 0.05
    assert all(later - earlier >= 0.05 for earlier, later in itertools.pairwise(ticks))


def test_run_until_never_ticks_without_an_interval() -> None:
    ticks: list[None] = []
    start = time.monotonic()
    run_until(Monitor([], Recorder()), threading.Event(), start + 0.05, lambda: ticks.append(None))
    assert ticks == []
    assert time.monotonic() - start >= 0.05


# --- a batch of records, as the ring buffer consumer hands it over ---


def _watching_probe(path: bytes) -> FileProbe:
    policy = parse_policy(f"files:\n  watch_read:\n    - {path.decode()}\n", "test")
    return FileProbe(ProbeContext(policy=policy, self_pid=1, boot_to_utc_ns=10**18))


def _record(path: bytes, *, kind: int = EventKind.FILE_ACCESS, pid: int = 4001) -> bytes:
    rec = FileEvent()
    rec.hdr.kind = kind
    rec.hdr.ts_boot_ns = 3_000_000_999_999
    rec.hdr.pid = pid
    rec.hdr.tid = pid
    rec.hdr.comm = b"cat"
    rec.syscall = OpenSyscall.OPENAT
    rec.path_len = len(path)
    rec.path_source = PathSource.RESOLVED
    rec.path = path
    size = FileEvent.path.offset + len(path) + 1
    return bytes(rec)[:size]


def _fed(output: Recorder) -> tuple[Monitor, _Loaded, Callable[[list[bytes]], None]]:
    monitor = Monitor([], output)
    loaded = _Loaded(_watching_probe(WATCHED), cast("BpfObject", None))
    return monitor, loaded, monitor._handler(loaded)  # noqa: SLF001 - feed records directly


WATCHED = b"/srv/secret.key"


def test_a_batch_is_decoded_and_written_together() -> None:
    out = Recorder()
    _, loaded, handle = _fed(out)
    handle([_record(WATCHED, pid=pid) for pid in (1, 2, 3)])
    assert [e.process.pid for e in out.events] == [1, 2, 3]
    assert out.batches == 1
    assert (loaded.delivered, loaded.malformed, loaded.undelivered) == (3, 0, 0)
    # the header's comm is cut at its NUL, as the ctypes mirror cuts it
    assert out.events[0].process.comm == b"cat"


def test_malformed_records_of_a_batch_are_counted_and_the_rest_written() -> None:
    out = Recorder()
    _, loaded, handle = _fed(out)
    handle(
        [
            b"\0" * (HEADER.size - 1),  # shorter than the header
            _record(WATCHED, kind=EventKind.NETWORK),  # another probe's kind
            _record(WATCHED)[: HEADER.size],  # a header without its body
            _record(b"/not/watched"),  # refined away: no event, not dropped
            _record(WATCHED),
        ]
    )
    assert (loaded.delivered, loaded.malformed, loaded.undelivered) == (1, 3, 0)
    assert out.batches == 1


def test_a_batch_refined_away_entirely_writes_nothing() -> None:
    out = Recorder()
    _, loaded, handle = _fed(out)
    handle([_record(b"/not/watched")])
    assert out.batches == 0
    assert (loaded.delivered, loaded.malformed, loaded.undelivered) == (0, 0, 0)


def test_a_batch_write_failure_counts_every_event_not_written() -> None:
    out = Recorder(fail_at=2)
    _, loaded, handle = _fed(out)
    with pytest.raises(OutputError, match="output failed: test"):
        handle([_record(WATCHED, pid=pid) for pid in (1, 2, 3, 4)])
    # the first was written; the one that failed and the two after it were not
    assert (loaded.delivered, loaded.undelivered) == (1, 3)
    # from now on every event is counted, none written
    handle([_record(WATCHED), _record(WATCHED)])
    assert (loaded.delivered, loaded.undelivered) == (1, 5)
    assert out.writes == 2


def test_a_failing_line_output_counts_the_whole_batch(tmp_path: Path) -> None:
    class Full(io.BytesIO):
        def write(self, _data: bytes, /) -> int:  # type: ignore[override]
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    output = LineOutput(jsonl.format_event, Full(), str(tmp_path / "x"), owned=True)
    monitor = Monitor([], output)
    loaded = _Loaded(_watching_probe(WATCHED), cast("BpfObject", None))
    with pytest.raises(OutputError, match="No space left"):
        monitor._handler(loaded)([_record(WATCHED)] * 3)  # noqa: SLF001
    assert (loaded.delivered, loaded.undelivered) == (0, 3)
