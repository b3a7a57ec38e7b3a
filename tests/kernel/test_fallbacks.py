"""What bee-trace does without ring buffers or cgroup hooks, forced on this kernel.

The kernel tests run on a kernel that has both; ``BEE_TRACE_FORCE_PERFBUF``
and ``BEE_TRACE_FORCE_NO_CGROUP`` make the feature probes answer
"unsupported", so the degraded paths below run as they would on an older or
differently built kernel.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.kernel.helpers import (
    BeeTrace,
    Run,
    file_monitor_counts,
    flood_while_stopped,
    open_in_child,
)

pytestmark = pytest.mark.kernel

ACCESSOR = Path(__file__).with_name("accessor.py")
FLOOD_OPENS = 60_000
WAIT_S = 10.0


@pytest.fixture(autouse=True)
def perf_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEE_TRACE_FORCE_PERFBUF", "1")


def _run_until(bee: BeeTrace, pid: int) -> Run:
    """Stop bee-trace once an event of pid is in its output."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        text = bee.output.read_text() if bee.output.exists() else ""
        if f'"pid":{pid},' in text:
            break
        time.sleep(0.05)
    run = bee.stop()
    assert run.returncode == 0, run.stderr
    assert "events go through perf buffers" in run.stderr
    assert "forced by BEE_TRACE_FORCE_PERFBUF" in run.stderr
    return run


def test_watched_read_through_perf_buffers(tmp_path: Path) -> None:
    suffix = f".beetest-perfbuf-{os.getpid()}"
    target = tmp_path / f"secret{suffix}"
    target.write_text("x")
    policy = tmp_path / "policy.yml"
    policy.write_text(f"files:\n  watch_read:\n    - '*{suffix}'\n")
    with BeeTrace(
        "--probe-type", "file_monitor", "--config", str(policy), output=tmp_path / "out.jsonl"
    ) as bee:
        opened_at = datetime.now(tz=UTC)
        pid = open_in_child(target, cpu=0)
        run = _run_until(bee, pid)
    (event,) = [e for e in run.events if e["pid"] == pid]
    assert event["type"] == "file_access"
    assert event["path"] == str(target)
    # the fallback stamps with CLOCK_MONOTONIC; the time shown is still UTC now
    stamped = datetime.fromisoformat(str(event["timestamp"]))
    assert abs((stamped - opened_at).total_seconds()) < 5
    assert "file_monitor: 1 event, 0 dropped" in run.stderr


def test_loopback_connect_through_perf_buffers(tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with BeeTrace("--probe-type", "network_monitor", output=tmp_path / "out.jsonl") as bee:
            code = f"import os, socket\nsocket.create_connection(('127.0.0.1', {port})).close()\n"
            code += "print(os.getpid())"
            out = subprocess.run(
                [sys.executable, "-c", code], check=True, capture_output=True, text=True
            )
            pid = int(out.stdout)
            run = _run_until(bee, pid)
    (event,) = [e for e in run.events if e["pid"] == pid]
    assert (event["syscall"], event["daddr"], event["dport"]) == ("connect", "127.0.0.1", port)
    assert event["result"] == 0


def test_cross_process_read_through_perf_buffers(tmp_path: Path, sibling: int) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_text("memory:\n  allowed_accessors:\n    - bt-allowed\n")
    with BeeTrace(
        "--probe-type", "memory_monitor", "--config", str(policy), output=tmp_path / "out.jsonl"
    ) as bee:
        proc = subprocess.run(
            [sys.executable, str(ACCESSOR), str(sibling), "vm_readv"],
            check=True,
            capture_output=True,
            text=True,
        )
        assert proc.stdout.startswith("vm_readv"), proc.stdout
        # the accessor's pid: the only process reading the sibling
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and "target_pid" not in bee.output.read_text():
            time.sleep(0.05)
        run = bee.stop()
    assert run.returncode == 0, run.stderr
    assert "events go through perf buffers" in run.stderr
    mine = [e for e in run.events if e["target_pid"] == sibling]
    assert [(e["operation"], e["target_comm"]) for e in mine] == [("process_vm_readv", "sleep")]


def test_no_event_is_lost_unseen_when_the_consumer_stalls(tmp_path: Path) -> None:
    """Stop bee-trace, flood, resume: every open is delivered or counted dropped."""
    # small perf buffers, so that the flood overruns them
    pid, run = flood_while_stopped(
        tmp_path,
        f".beetest-pflood-{os.getpid()}",
        FLOOD_OPENS,
        limits="limits:\n  ring_buffer_bytes: 65536\n",
        cpu=0,
    )
    assert run.returncode == 0, run.stderr
    delivered = [e for e in run.events if e["pid"] == pid]
    events, dropped = file_monitor_counts(run)
    assert dropped > 0, "the flood should overrun the perf buffers while bee-trace is stopped"
    assert events == len(run.events)
    assert len(delivered) + dropped == FLOOD_OPENS
    assert "dropped" in run.stderr


def test_enforcement_without_cgroup_hooks_monitors_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BEE_TRACE_FORCE_NO_CGROUP", "1")
    with BeeTrace(
        "--probe-type", "network_monitor", "--enforce", output=tmp_path / "out.jsonl"
    ) as bee:
        code = "import os, socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        code += "s.sendto(b'x', ('127.0.0.1', 9))\nprint(os.getpid())"
        out = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        )
        pid = int(out.stdout)
        run = _run_until(bee, pid)
    assert "network enforcement unavailable, monitoring only" in run.stderr
    assert "BEE_TRACE_FORCE_NO_CGROUP" in run.stderr
    assert "network enforcement on" not in run.stderr
    (event,) = [e for e in run.events if e["pid"] == pid]
    assert (event["syscall"], event["daddr"], event["action"]) == ("sendto", "127.0.0.1", "allowed")
