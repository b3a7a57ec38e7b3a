"""The runtime on the real kernel: loss accounting, self-filtering, shutdown."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bee_trace.policy import parse_policy
from bee_trace.probes import ProbeContext
from bee_trace.probes.file import FileProbe
from bee_trace.runtime import Monitor
from tests.fakes import Recorder
from tests.kernel.helpers import BeeTrace, file_monitor_counts, flood_while_stopped, open_in_child

pytestmark = pytest.mark.kernel

FLOOD_OPENS = 60_000


def test_no_event_is_lost_unseen_when_the_consumer_stalls(tmp_path: Path) -> None:
    """Stop bee-trace, flood, resume: every open is delivered or counted dropped."""
    # unique per run, so that a concurrent run's flood is not counted here
    pid, run = flood_while_stopped(tmp_path, f".beetest-flood-{os.getpid()}", FLOOD_OPENS)
    assert run.returncode == 0, run.stderr
    delivered = [e for e in run.events if e["pid"] == pid]
    events, dropped = file_monitor_counts(run)
    assert dropped > 0, "the flood should overrun the ring buffer while bee-trace is stopped"
    assert events == len(run.events)
    assert len(delivered) + dropped == FLOOD_OPENS
    assert "warning:" in run.stderr
    assert "dropped" in run.stderr


def test_bee_trace_does_not_report_its_own_opens(tmp_path: Path) -> None:
    """The kernel side skips the monitor's own process (self_pid)."""
    suffix = f".beetest-self-{os.getpid()}"
    target = tmp_path / f"own{suffix}"
    target.write_text("x")
    policy = parse_policy(f"files:\n  watch_read:\n    - '*{suffix}'\n", "test")
    ctx = ProbeContext(policy=policy, self_pid=os.getpid(), boot_to_utc_ns=0)
    out = Recorder()
    monitor = Monitor([FileProbe(ctx)], out)
    monitor.start()
    try:
        target.read_text()  # this process: must not be reported
        child = open_in_child(target, 1)  # another process: must be
        deadline = time.monotonic() + 10
        while not out.events and time.monotonic() < deadline:
            monitor.poll(100)
        summary = monitor.stop()
    finally:
        monitor.close()
    assert [e.process.pid for e in out.events] == [child]
    assert summary.total_dropped == 0
    assert summary.probes[0].events == 1


def test_sigterm_stops_with_a_summary_and_verbose_reports_progress(tmp_path: Path) -> None:
    with BeeTrace("--verbose", "--stats-interval", "0.2", output=tmp_path / "out.jsonl") as bee:
        time.sleep(1.0)
        run = bee.stop(signal.SIGTERM)
    assert run.returncode == 0
    assert re.search(r"stats: file_monitor: \d+ events?, \d+ dropped", run.stderr), run.stderr
    assert "received SIGTERM" in run.stderr
    assert "summary: ran" in run.stderr


def test_duration_ends_the_run(tmp_path: Path) -> None:
    start = time.monotonic()
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("bee-trace")),
            "--duration",
            "1.5",
            "--probe-type",
            "all",
            "--output",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert "starting file_monitor" in proc.stderr
    assert "ready" in proc.stderr
    assert "summary: ran" in proc.stderr
    assert elapsed >= 1.5


def test_a_signal_stops_bee_trace_even_when_stdout_is_not_read(tmp_path: Path) -> None:
    """A pipe nobody reads cannot hold bee-trace hostage; the rest is counted."""
    suffix = f".beetest-stall-{os.getpid()}"
    target = tmp_path / f"f{suffix}"
    target.write_text("x")
    policy = tmp_path / "policy.yml"
    policy.write_text(f"files:\n  watch_read:\n    - '*{suffix}'\n")
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("bee-trace")),
            "--probe-type",
            "file_monitor",
            "--config",
            str(policy),
            "--format",
            "json",
        ],
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(write_end)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "ready" in line:
                break
        open_in_child(target, 20_000)  # far more than a 64 KiB pipe holds
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        os.close(read_end)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 5, err
    assert "output is not being read" in err
    m = re.search(r"file_monitor: (\d+) events?, (\d+) dropped", err)
    assert m, err
    assert int(m.group(1)) + int(m.group(2)) == 20_000


def test_sighup_stops_with_a_summary(tmp_path: Path) -> None:
    with BeeTrace(output=tmp_path / "out.jsonl") as bee:
        run = bee.stop(signal.SIGHUP)
    assert run.returncode == 0
    assert "received SIGHUP" in run.stderr
    assert "summary: ran" in run.stderr
