"""Kernel cost: run time and run count of BPF programs, from the kernel's BPF stats.

``kernel.bpf_stats_enabled`` makes the kernel account each program's run
time; :func:`bpf_stats` switches it on and restores the previous value.
The figures are read with ``bpf_obj_get_info_by_fd`` through libbpf.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Final

from bee_trace.bpf.libbpf import ProgramStats, loaded_programs

if TYPE_CHECKING:
    from collections.abc import Iterator

STATS_SYSCTL: Final = Path("/proc/sys/kernel/bpf_stats_enabled")


def programs() -> dict[int, ProgramStats]:
    """Every BPF program loaded in the kernel now, by id (through the binding)."""
    return loaded_programs()


@contextmanager
def bpf_stats() -> Iterator[None]:
    """Switch the kernel's BPF run-time accounting on; restore the old value after."""
    before = STATS_SYSCTL.read_text().strip()
    STATS_SYSCTL.write_text("1\n")
    try:
        yield
    finally:
        STATS_SYSCTL.write_text(f"{before}\n")
