"""Running bee-trace under the suite: start, wait for ``ready``, stop, read the summary."""

from __future__ import annotations

import re
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Self

if TYPE_CHECKING:
    from types import TracebackType

BEE_TRACE: Final = Path(sys.executable).with_name("bee-trace")
READY_TIMEOUT_S: Final = 30.0
STOP_TIMEOUT_S: Final = 60.0

_TOTAL = re.compile(r"summary: .*total: (\d+) events?, (\d+) dropped")
_PROBE = re.compile(r"(\w+_monitor): (\d+) events?, (\d+) dropped")


class MonitorError(RuntimeError):
    """bee-trace did not start, stop or report as expected."""


@dataclass(frozen=True, slots=True)
class Summary:
    """bee-trace's own totals, from its summary line on stderr."""

    events: int
    dropped: int
    stderr: str
    # probe name -> (events, dropped)
    probes: dict[str, tuple[int, int]]


def peak_rss_bytes(pid: int) -> int:
    """VmHWM of a running process: the peak resident set size so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    msg = f"no VmHWM in /proc/{pid}/status"
    raise MonitorError(msg)


class BeeTrace:
    """One bee-trace process: ``with BeeTrace(...) as bt:`` returns once it is ready."""

    def __init__(self, *args: str) -> None:
        """Keep the arguments; nothing runs until the context is entered."""
        self.argv = [str(BEE_TRACE), *args]
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr = bytearray()
        self.startup_s = 0.0
        self.summary: Summary | None = None

    @property
    def pid(self) -> int:
        """The process id of the running bee-trace."""
        if self._proc is None:
            msg = "bee-trace is not running"
            raise MonitorError(msg)
        return self._proc.pid

    def __enter__(self) -> Self:
        """Start bee-trace and wait for its ready line; startup_s is exec to ready."""
        started = time.monotonic()
        self._proc = subprocess.Popen(  # noqa: S603 - the installed bee-trace
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        stream = self._proc.stderr
        if stream is None:  # pragma: no cover - stderr=PIPE always gives one
            raise MonitorError
        deadline = started + READY_TIMEOUT_S
        with selectors.DefaultSelector() as sel:
            sel.register(stream, selectors.EVENT_READ)
            while b"ready:" not in self._stderr:
                left = deadline - time.monotonic()
                if left <= 0 or (self._proc.poll() is not None and not sel.select(0)):
                    self._kill()
                    msg = f"bee-trace did not get ready: {self._stderr.decode(errors='replace')}"
                    raise MonitorError(msg)
                if sel.select(min(left, 0.5)):
                    chunk = stream.read1(65536)  # type: ignore[attr-defined]
                    if not chunk and self._proc.poll() is not None:
                        continue
                    self._stderr += chunk
        self.startup_s = time.monotonic() - started
        return self

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=STOP_TIMEOUT_S)

    def stop(self) -> Summary:
        """Stop with SIGINT, wait for the end and parse the summary line."""
        if self._proc is None:
            msg = "bee-trace is not running"
            raise MonitorError(msg)
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
        try:
            _, rest = self._proc.communicate(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._kill()
            raise
        self._stderr += rest
        text = self._stderr.decode(errors="replace")
        found = _TOTAL.search(text)
        if self._proc.returncode != 0 or found is None:
            msg = f"bee-trace ended with {self._proc.returncode} and no summary: {text}"
            raise MonitorError(msg)
        line = found[0]
        probes = {m[1]: (int(m[2]), int(m[3])) for m in _PROBE.finditer(line)}
        self.summary = Summary(
            events=int(found[1]), dropped=int(found[2]), stderr=text, probes=probes
        )
        return self.summary

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Never leave bee-trace running: stop it if the block did not."""
        if self._proc is not None and self._proc.poll() is None:
            if exc_type is None:
                self.stop()
            else:
                self._kill()
