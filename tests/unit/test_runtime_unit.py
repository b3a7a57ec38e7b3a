"""The monitor and its run loop without the kernel: a monitor with no probes."""

from __future__ import annotations

import itertools
import threading
import time

from bee_trace.runtime import Monitor, run_until
from tests.fakes import Recorder


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
