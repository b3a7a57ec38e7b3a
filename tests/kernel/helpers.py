"""Helpers for tests that run bee-trace on the real kernel."""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Self

if TYPE_CHECKING:
    from types import TracebackType

BEE_TRACE = Path(sys.executable).with_name("bee-trace")
READY_TIMEOUT_S = 30.0


@dataclass
class Run:
    """The result of one bee-trace run."""

    returncode: int
    stderr: str
    events: list[dict[str, object]] = field(default_factory=list)
    stdout: str = ""


class BeeTrace:
    """Start bee-trace, wait for its ready line, stop it with a signal."""

    def __init__(self, *args: str, output: Path, fmt: str = "json") -> None:
        self.output = output
        self.fmt = fmt
        self.argv = [str(BEE_TRACE), *args, "--format", fmt, "--output", str(output)]
        self.proc: subprocess.Popen[str] | None = None
        self._stderr: list[str] = []
        self._ready = threading.Event()
        self.result: Run | None = None

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._stderr.append(line)
            if "ready" in line:
                self._ready.set()

    def __enter__(self) -> Self:
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.proc.stderr is not None
        self._pump_thread = threading.Thread(
            target=self._pump, args=(self.proc.stderr,), daemon=True
        )
        self._pump_thread.start()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                self._pump_thread.join(timeout=10)
                msg = f"bee-trace did not get ready: {''.join(self._stderr)}"
                raise AssertionError(msg)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, sig: int = signal.SIGINT) -> Run:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout=30)
        self._pump_thread.join(timeout=10)
        assert self.proc.stdout is not None
        stdout = self.proc.stdout.read()
        self.proc.stdout.close()
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        text = self.output.read_text() if self.output.exists() else ""
        events = [json.loads(line) for line in text.splitlines()] if self.fmt == "json" else []
        self.result = Run(self.proc.returncode, "".join(self._stderr), events, stdout)
        return self.result

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.result is None:
            self.stop()


def as_int(value: object) -> int:
    """A JSON event field that must be an integer."""
    assert isinstance(value, int), value
    return value


def as_str(value: object) -> str:
    """A JSON event field that must be a string."""
    assert isinstance(value, str), value
    return value


def as_list(value: object) -> list[object]:
    """A JSON event field that must be an array."""
    assert isinstance(value, list), value
    return value


# --- BPF programs a process holds, for leak checks ---

_libbpf = ctypes.CDLL("libbpf.so.1", use_errno=True)
_libbpf.bpf_prog_get_fd_by_id.argtypes = [ctypes.c_uint32]


def program_ids_of(pid: int) -> set[int]:
    """IDs of the BPF programs a process holds open (from its fdinfo)."""
    ids: set[int] = set()
    for info in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            text = info.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("prog_id:"):
                ids.add(int(line.split()[1]))
    return ids


def program_exists(prog_id: int) -> bool:
    """Whether the kernel still holds a BPF program with this ID."""
    fd = _libbpf.bpf_prog_get_fd_by_id(prog_id)
    if fd < 0:
        return False
    os.close(fd)
    return True


def open_in_child(path: Path, count: int = 1, *, cpu: int | None = None) -> int:
    """Open path for reading count times in a child process; return its pid.

    With cpu, the child runs on that CPU only: perf reports a buffer's lost
    samples with the next record written to that same CPU's buffer.
    """
    pin = f"os.sched_setaffinity(0, {{{cpu}}})\n" if cpu is not None else ""
    code = (
        f"import os\n{pin}"
        f"for _ in range({count}):\n"
        f"    os.close(os.open({str(path)!r}, os.O_RDONLY))\n"
        "print(os.getpid())"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(out.stdout)


def flood_while_stopped(
    tmp_path: Path, suffix: str, count: int, *, limits: str = "", cpu: int | None = None
) -> tuple[int, Run]:
    """Watch one file, stop bee-trace, open the file count times, resume, stop bee-trace.

    ``limits`` is the policy's limits section, if any. With cpu, the opens run
    on that CPU, and one more open there once bee-trace has resumed lets perf
    report the samples it lost. Returns the flooding child's pid and the run.
    """
    target = tmp_path / f"flood{suffix}"
    target.write_text("x")
    policy = tmp_path / "policy.yml"
    policy.write_text(f"files:\n  watch_read:\n    - '*{suffix}'\n{limits}")
    with BeeTrace(
        "--probe-type", "file_monitor", "--config", str(policy), output=tmp_path / "out.jsonl"
    ) as bee:
        os.kill(bee.pid, signal.SIGSTOP)
        try:
            pid = open_in_child(target, count, cpu=cpu)
        finally:
            os.kill(bee.pid, signal.SIGCONT)
        time.sleep(0.5)
        if cpu is not None:
            open_in_child(target, cpu=cpu)
            time.sleep(0.5)
        return pid, bee.stop()


def file_monitor_counts(run: Run) -> tuple[int, int]:
    """The events and drops the run's summary reports for file_monitor."""
    m = re.search(r"file_monitor: (\d+) events?, (\d+) dropped", run.stderr)
    assert m, run.stderr
    return int(m.group(1)), int(m.group(2))


# The start of a child script that keeps an argument of a system call in a
# page of its own (``page``), which another of its threads can unmap or
# rewrite while the call runs: libc's mmap and munmap, declared for ctypes.
OWN_PAGE_PRELUDE = """
import ctypes, os, socket, struct, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
page = libc.mmap(None, 4096, 3, 0x22, -1, 0)
"""


def traced_child(
    bee_args: tuple[str, ...], output: Path, script: str, *argv: str
) -> tuple[Run, str]:
    """Run a child script under a bee-trace of its own; its stdout, and the stopped run."""
    with BeeTrace(*bee_args, output=output) as bee:
        proc = subprocess.run(
            [sys.executable, "-c", script, *argv],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        time.sleep(0.3)  # the child's events reach the output
        run = bee.stop()
    assert run.returncode == 0, run.stderr
    return run, proc.stdout
