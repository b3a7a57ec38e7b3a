"""Running bee-trace, and the actions that give each probe something to report.

Actions run in child processes: with memory enforcement the accessor is
killed, and it must not be the suite. Network traffic goes to loopback only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final

BEE_TRACE: Final = Path(sys.executable).with_name("bee-trace")
READY_TIMEOUT_S: Final = 30.0
STOP_TIMEOUT_S: Final = 30.0

# a child that reads another child's memory with process_vm_readv
_ACCESSOR: Final = """
import ctypes, subprocess, sys
target = subprocess.Popen(["sleep", "5"])
libc = ctypes.CDLL(None, use_errno=True)
class IoVec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))
buf = ctypes.create_string_buffer(8)
local = IoVec(ctypes.cast(buf, ctypes.c_void_p), 8)
remote = IoVec(0x1000, 8)
libc.process_vm_readv(target.pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
target.kill()
target.wait()
"""

# opens of a watched file at a fixed rate, for a fixed time: argv path rate seconds
_FLOOD: Final = """
import os, sys, time
path, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
start = time.monotonic()
n = 0
while (now := time.monotonic()) - start < seconds:
    due = int((now - start) * rate)
    while n < due:
        os.close(os.open(path, os.O_RDONLY))
        n += 1
    time.sleep(0.001)
print(n)
"""


def trigger_file(scratch: Path) -> None:
    """Open a watched file (``.env``) for reading."""
    path = scratch / ".env"
    path.write_text("X=1\n")
    path.read_text()


def trigger_network(_scratch: Path) -> None:
    """Send one UDP datagram to the loopback discard port."""
    import socket  # noqa: PLC0415 - only this action needs it

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"bee-trace validation", ("127.0.0.1", 9))


def trigger_memory(_scratch: Path) -> None:
    """Read another process's memory from a child (killed under enforcement)."""
    subprocess.run([sys.executable, "-c", _ACCESSOR], check=False, timeout=30)  # noqa: S603


def flood(path: Path, rate_per_s: float, seconds: float) -> subprocess.Popen[str]:
    """Start opening ``path`` rate_per_s times a second for ``seconds``."""
    return subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _FLOOD, str(path), str(rate_per_s), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )


@dataclass
class Run:
    """One bee-trace process, from start to exit."""

    argv: list[str]
    output: Path
    proc: subprocess.Popen[str] | None = None
    stderr: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    returncode: int | None = None
    pump: threading.Thread | None = None

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.stderr.append(line.rstrip("\n"))
            if ": ready: " in line:
                self.ready.set()

    def start(self) -> bool:
        """Start bee-trace; return whether it reported ready (False: it exited)."""
        self.proc = subprocess.Popen(  # noqa: S603 - bee-trace, as configured
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        assert self.proc.stderr is not None  # noqa: S101 - PIPE was asked for
        pump = threading.Thread(target=self._pump, args=(self.proc.stderr,), daemon=True)
        pump.start()
        self.pump = pump
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.ready.wait(0.05):
                return True
            if self.proc.poll() is not None:
                break
        if not self.ready.is_set():
            self.stop()
            return False
        return True

    @property
    def pid(self) -> int:
        """The bee-trace process id."""
        assert self.proc is not None  # noqa: S101 - started
        return self.proc.pid

    def stop(self) -> int:
        """SIGINT, then wait for the exit code."""
        assert self.proc is not None  # noqa: S101 - started
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.returncode = self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.returncode = self.proc.wait()
        if self.pump is not None:
            self.pump.join(5)  # it reads the last lines, up to end of file
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return self.returncode

    def events(self) -> int:
        """Events written to the output file."""
        try:
            return sum(1 for line in self.output.read_text().splitlines() if line.strip())
        except FileNotFoundError:
            return 0


def bee_trace_argv(*args: str, output: Path, prefix: list[str] | None = None) -> list[str]:
    """The command line of a validation run: JSON events to ``output``."""
    return [*(prefix or []), str(BEE_TRACE), *args, "--format", "json", "--output", str(output)]


def proc_status(pid: int) -> dict[str, str]:
    """/proc/<pid>/status as a mapping."""
    out: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields after the comm: state is [0], utime [11], stime [12]
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")
