"""The same unwatched-open workload under peers, for the report: bpftrace and auditd.

Both come from the distribution (``apt-get install bpftrace auditd``); a peer
that is not installed is reported as such and measured no further. Neither
figure is gated: they put bee-trace's own overhead ratio in context.

- bpftrace: a one-liner that prints every open, to /dev/null.
- auditd: one watch rule (``-w FILE -p r``) on the watched scratch file, the
  way auditd users watch a secret. The rule set is restored afterwards, and
  an auditd started here is stopped again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import shutil
import subprocess
import time
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

log = logging.getLogger(__name__)

BPFTRACE_PROGRAM: Final = (
    'tracepoint:syscalls:sys_enter_openat { printf("%s %s\\n", comm, str(args->filename)); }'
)
AUDIT_KEY: Final = "bee-trace-bench"
READY_TIMEOUT_S: Final = 30.0


class PeerUnavailableError(RuntimeError):
    """A peer is not installed or cannot run here; the message says which and why."""


@contextlib.contextmanager
def bpftrace() -> Iterator[None]:
    """bpftrace printing every open, attached until the block ends."""
    proc = subprocess.Popen(  # noqa: S603 - fixed argv
        [_tool("bpftrace"), "-e", BPFTRACE_PROGRAM],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(proc, b"Attaching")
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=READY_TIMEOUT_S)


def _wait_for(proc: subprocess.Popen[bytes], needle: bytes) -> None:
    """Read proc's output until needle, then keep draining it to /dev/null in the kernel."""
    assert proc.stdout is not None  # noqa: S101 - Popen was given a pipe
    seen = b""
    deadline = time.monotonic() + READY_TIMEOUT_S
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while needle not in seen:
            if time.monotonic() > deadline or proc.poll() is not None:
                msg = f"bpftrace did not attach: {seen.decode(errors='replace')[-300:]}"
                raise PeerUnavailableError(msg)
            if sel.select(timeout=0.2):
                seen += os.read(proc.stdout.fileno(), 4096)
    # from here on its prints go nowhere: a pipe nobody reads would stall it
    subprocess.Popen(  # noqa: S603 - fixed argv
        [_tool("cat"), "-"], stdin=proc.stdout, stdout=subprocess.DEVNULL
    )


def _tool(name: str) -> str:
    """The absolute path of a program, or PeerUnavailableError naming it."""
    path = shutil.which(name)
    if path is None:
        msg = f"{name} is not installed"
        raise PeerUnavailableError(msg)
    return path


def _auditctl(*args: str) -> str:
    proc = subprocess.run(  # noqa: S603 - fixed argv
        [_tool("auditctl"), *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        msg = f"auditctl {' '.join(args)}: {(proc.stderr or proc.stdout).strip()}"
        raise PeerUnavailableError(msg)
    return proc.stdout


@contextlib.contextmanager
def auditd_watch(path: Path) -> Iterator[None]:
    """An audit watch rule on path, with auditd running, until the block ends."""
    auditd = _tool("auditd")
    status = _auditctl("-s")
    was_enabled = "enabled 1" in status
    daemon = None
    if "pid 0" in status:
        daemon = subprocess.Popen(  # noqa: S603 - fixed argv
            [auditd, "-n"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(0.5)
    try:
        _auditctl("-e", "1")
        _auditctl("-w", str(path), "-p", "r", "-k", AUDIT_KEY)
        try:
            yield
        finally:
            _auditctl("-W", str(path), "-p", "r", "-k", AUDIT_KEY)
    finally:
        if not was_enabled:
            _auditctl("-e", "0")
        if daemon is not None:
            daemon.terminate()
            daemon.wait(timeout=READY_TIMEOUT_S)
