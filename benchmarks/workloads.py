"""The workload generators: small C programs, built here, run bounded.

Each program takes a count and a deadline and stops at whichever comes
first, then prints ``done=<n> elapsed_ns=<t> pid=<pid>``. Network traffic
goes to 127.0.0.1 only.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Sequence

ROOT: Final = Path(__file__).resolve().parent.parent
SOURCES: Final = Path(__file__).resolve().parent / "workloads"
BUILD: Final = ROOT / "build" / "bench"
PROGRAMS: Final = ("open_loop", "net_loop", "vm_read_loop")

# every workload ends by itself; this is the backstop if one does not
RUN_TIMEOUT_S: Final = 120.0

_RESULT = re.compile(rb"done=(\d+) elapsed_ns=(\d+) pid=(\d+)")


class WorkloadError(RuntimeError):
    """A workload could not be built or did not finish as it should."""


@dataclass(frozen=True, slots=True)
class WorkloadResult:
    """What one workload run did: how many operations, how long, as which pid."""

    done: int
    elapsed_s: float
    pid: int

    @property
    def rate_per_s(self) -> float:
        """Operations a second over the run."""
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0


def build() -> dict[str, Path]:
    """Compile every workload into build/bench/ (again only when its source changed)."""
    BUILD.mkdir(parents=True, exist_ok=True)
    header = SOURCES / "common.h"
    built: dict[str, Path] = {}
    for name in PROGRAMS:
        source = SOURCES / f"{name}.c"
        binary = BUILD / name
        newest = max(source.stat().st_mtime, header.stat().st_mtime)
        if not binary.exists() or binary.stat().st_mtime < newest:
            cmd = ["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(binary), str(source)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
            if done.returncode != 0:
                msg = f"cannot build workload {name}: {done.stderr.strip()}"
                raise WorkloadError(msg)
        built[name] = binary
    return built


def install(built: dict[str, Path], where: Path) -> dict[str, Path]:
    """Copy the built workloads to where, and return the copies."""
    where.mkdir(parents=True, exist_ok=True)
    return {name: Path(shutil.copy2(binary, where / name)) for name, binary in built.items()}


def run(argv: Sequence[str | os.PathLike[str]]) -> WorkloadResult:
    """Run one workload to its end and return what it reported."""
    done = subprocess.run(  # noqa: S603 - our own binaries, fixed arguments
        [os.fspath(a) for a in argv], capture_output=True, timeout=RUN_TIMEOUT_S, check=False
    )
    found = _RESULT.search(done.stdout)
    if done.returncode != 0 or found is None:
        msg = f"workload {argv[0]} failed ({done.returncode}): {done.stderr.decode().strip()}"
        raise WorkloadError(msg)
    count, elapsed_ns, pid = (int(g) for g in found.groups())
    return WorkloadResult(done=count, elapsed_s=elapsed_ns / 1e9, pid=pid)
