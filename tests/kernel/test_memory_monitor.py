"""memory_monitor on the real kernel: a child reads a sleeping sibling's memory."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.kernel.helpers import BeeTrace

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("arg_source")]

ACCESSOR = Path(__file__).with_name("accessor.py")
WAIT_S = 10.0


@dataclass
class Access:
    pid: int
    returncode: int
    stdout: str
    stderr: str


def _access(pid: int, *methods: str, comm: str | None = None) -> Access:
    argv = [sys.executable, str(ACCESSOR), str(pid), *methods]
    if comm:
        argv += ["--comm", comm]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=30)
    return Access(proc.pid, proc.returncode, out, err)


def _events(bee: BeeTrace) -> list[dict[str, object]]:
    """The memory access events so far (other probes may run beside this one)."""
    text = bee.output.read_text() if bee.output.exists() else ""
    events = [json.loads(line) for line in text.splitlines() if line.endswith("}")]
    return [e for e in events if e["type"] == "memory_access"]


def _wait(bee: BeeTrace, pid: int, n: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        mine = [e for e in _events(bee) if e["pid"] == pid]
        if len(mine) >= n:
            return mine
        time.sleep(0.05)
    pytest.fail(f"fewer than {n} events for pid {pid}: {_events(bee)[-5:]}")


def _policy(tmp_path: Path, body: str = "") -> Path:
    policy = tmp_path / "policy.yml"
    policy.write_text(f"memory:\n  allowed_accessors:\n    - bt-allowed\n{body}")
    return policy


def _marker(bee: BeeTrace, sibling: int) -> None:
    """A reported access after the others: once seen, the earlier ones are in."""
    proc = _access(sibling, "vm_readv")
    _wait(bee, proc.pid, 1)


# with file_monitor running, /proc/<pid>/mem opens reach this probe by a
# tail call from file_monitor's exit program instead of its own
@pytest.mark.parametrize("probe_type", ["memory_monitor", "all"])
def test_three_ways_into_a_sibling_and_none_into_itself(
    tmp_path: Path, sibling: int, probe_type: str
) -> None:
    with BeeTrace(
        "--probe-type",
        probe_type,
        "--config",
        str(_policy(tmp_path)),
        output=tmp_path / "out.jsonl",
    ) as bee:
        proc = _access(sibling, "ptrace", "vm_readv", "proc_mem")
        out = proc.stdout
        assert proc.returncode == 0, proc.stderr
        mine = _wait(bee, proc.pid, 4)
        own = _access(sibling, "self_vm_readv", "self_proc_mem")
        allowed = _access(sibling, "ptrace", "vm_readv", "proc_mem", comm="bt-allowed")
        _marker(bee, sibling)
        run = bee.stop()
    assert run.returncode == 0, run.stderr
    assert "peek errno=0" in out
    by_op = {(e["operation"], e["request"]) for e in mine}
    assert by_op == {
        ("ptrace", "PTRACE_ATTACH"),
        ("ptrace", "PTRACE_PEEKDATA"),
        ("process_vm_readv", None),
        ("proc_mem", None),
    }
    for e in mine:
        assert e["type"] == "memory_access"
        assert e["target_pid"] == sibling
        assert e["target_comm"] == "sleep"
        assert isinstance(e["result"], int)
        assert e["result"] >= 0
        assert e["action"] == "allowed"
    access = {e["operation"]: e["access"] for e in mine if e["operation"] != "ptrace"}
    assert access == {"process_vm_readv": "read", "proc_mem": "read"}
    others = [e for e in run.events if e["type"] == "memory_access"]
    assert [e for e in others if e["pid"] in {own.pid, allowed.pid}] == []


def test_allowed_executable_is_not_reported(tmp_path: Path, sibling: int) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_text(f"memory:\n  allowed_accessors:\n    - {Path(sys.executable).resolve()}\n")
    with BeeTrace(
        "--probe-type", "memory_monitor", "--config", str(policy), output=tmp_path / "out.jsonl"
    ) as bee:
        proc = _access(sibling, "vm_readv", "proc_mem")
        assert proc.returncode == 0
        other = subprocess.run(
            ["dd", f"if=/proc/{sibling}/mem", "of=/dev/null", "bs=1", "count=0"],
            capture_output=True,
            check=False,
        )
        del other
        deadline = time.monotonic() + WAIT_S
        while not [e for e in _events(bee) if e["comm"] == "dd"]:
            assert time.monotonic() < deadline, "dd's open of /proc/<pid>/mem not seen"
            time.sleep(0.05)
        run = bee.stop()
    assert [e for e in run.events if e["pid"] == proc.pid] == []


def test_enforcement_kills_the_accessor(tmp_path: Path, sibling: int) -> None:
    policy = _policy(tmp_path, "  enforce: true\n")
    with BeeTrace(
        "--probe-type", "memory_monitor", "--config", str(policy), output=tmp_path / "out.jsonl"
    ) as bee:
        proc = _access(sibling, "vm_readv")
        assert proc.returncode == -signal.SIGKILL
        (event,) = _wait(bee, proc.pid, 1)
        allowed = _access(sibling, "vm_readv", comm="bt-allowed")
        run = bee.stop()
    assert event["action"] == "killed"
    assert allowed.returncode == 0
    assert run.returncode == 0


def test_self_access_inside_a_pid_namespace_is_not_reported(tmp_path: Path, sibling: int) -> None:
    """In its own pid namespace a process names itself by a small pid; still itself."""
    with BeeTrace(
        "--probe-type",
        "memory_monitor",
        "--config",
        str(_policy(tmp_path)),
        output=tmp_path / "out.jsonl",
    ) as bee:
        proc = subprocess.Popen(
            [
                "unshare",
                "--pid",
                "--fork",
                "--mount-proc",
                sys.executable,
                str(ACCESSOR),
                "1",
                "self_vm_readv",
                "self_proc_mem",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "self_vm_readv read 16" in out
        _marker(bee, sibling)
        run = bee.stop()
    inside = [e for e in run.events if e["comm"] == "python3" and e["target_pid"] in (1, 2)]
    assert inside == []
