"""Kernel cost: run time and run count of BPF programs, from the kernel's BPF stats.

``kernel.bpf_stats_enabled`` makes the kernel account each program's run
time; :func:`bpf_stats` switches it on and restores the previous value.
The figures are read with ``bpf_obj_get_info_by_fd`` through libbpf.
"""

from __future__ import annotations

import ctypes
import errno
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterator

STATS_SYSCTL: Final = Path("/proc/sys/kernel/bpf_stats_enabled")


class _ProgInfo(ctypes.Structure):
    """``struct bpf_prog_info`` (include/uapi/linux/bpf.h) up to ``recursion_misses``."""

    _fields_ = (
        ("type", ctypes.c_uint32),
        ("id", ctypes.c_uint32),
        ("tag", ctypes.c_uint8 * 8),
        ("jited_prog_len", ctypes.c_uint32),
        ("xlated_prog_len", ctypes.c_uint32),
        ("jited_prog_insns", ctypes.c_uint64),
        ("xlated_prog_insns", ctypes.c_uint64),
        ("load_time", ctypes.c_uint64),
        ("created_by_uid", ctypes.c_uint32),
        ("nr_map_ids", ctypes.c_uint32),
        ("map_ids", ctypes.c_uint64),
        ("name", ctypes.c_char * 16),
        ("ifindex", ctypes.c_uint32),
        ("gpl_compatible", ctypes.c_uint32),
        ("netns_dev", ctypes.c_uint64),
        ("netns_ino", ctypes.c_uint64),
        ("nr_jited_ksyms", ctypes.c_uint32),
        ("nr_jited_func_lens", ctypes.c_uint32),
        ("jited_ksyms", ctypes.c_uint64),
        ("jited_func_lens", ctypes.c_uint64),
        ("btf_id", ctypes.c_uint32),
        ("func_info_rec_size", ctypes.c_uint32),
        ("func_info", ctypes.c_uint64),
        ("nr_func_info", ctypes.c_uint32),
        ("nr_line_info", ctypes.c_uint32),
        ("line_info", ctypes.c_uint64),
        ("jited_line_info", ctypes.c_uint64),
        ("nr_jited_line_info", ctypes.c_uint32),
        ("line_info_rec_size", ctypes.c_uint32),
        ("jited_line_info_rec_size", ctypes.c_uint32),
        ("nr_prog_tags", ctypes.c_uint32),
        ("prog_tags", ctypes.c_uint64),
        ("run_time_ns", ctypes.c_uint64),
        ("run_cnt", ctypes.c_uint64),
        ("recursion_misses", ctypes.c_uint64),
    )


@dataclass(frozen=True, slots=True)
class ProgStats:
    """One loaded program's accounting."""

    prog_id: int
    name: str
    run_time_ns: int
    run_cnt: int


def _lib() -> ctypes.CDLL:
    lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
    lib.bpf_prog_get_next_id.argtypes = [ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint32)]
    lib.bpf_prog_get_next_id.restype = ctypes.c_int
    lib.bpf_prog_get_fd_by_id.argtypes = [ctypes.c_uint32]
    lib.bpf_prog_get_fd_by_id.restype = ctypes.c_int
    lib.bpf_obj_get_info_by_fd.argtypes = [
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_uint32),
    ]
    lib.bpf_obj_get_info_by_fd.restype = ctypes.c_int
    return lib


def programs() -> dict[int, ProgStats]:
    """Every BPF program loaded in the kernel now, by id."""
    lib = _lib()
    found: dict[int, ProgStats] = {}
    current = ctypes.c_uint32(0)
    # bounded: the kernel hands out ids in increasing order, so this ends
    for _ in range(1_000_000):
        if lib.bpf_prog_get_next_id(current.value, ctypes.byref(current)) != 0:
            break
        fd = lib.bpf_prog_get_fd_by_id(current.value)
        if fd < 0:
            continue  # unloaded meanwhile
        try:
            info = _ProgInfo()
            size = ctypes.c_uint32(ctypes.sizeof(info))
            if lib.bpf_obj_get_info_by_fd(fd, ctypes.byref(info), ctypes.byref(size)) != 0:
                err = ctypes.get_errno() or errno.EINVAL
                msg = f"bpf_obj_get_info_by_fd: {os.strerror(err)}"
                raise OSError(err, msg)
        finally:
            os.close(fd)
        found[info.id] = ProgStats(
            prog_id=info.id,
            name=info.name.decode(errors="replace"),
            run_time_ns=info.run_time_ns,
            run_cnt=info.run_cnt,
        )
    return found


@contextmanager
def bpf_stats() -> Iterator[None]:
    """Switch the kernel's BPF run-time accounting on; restore the old value after."""
    before = STATS_SYSCTL.read_text().strip()
    STATS_SYSCTL.write_text("1\n")
    try:
        yield
    finally:
        STATS_SYSCTL.write_text(f"{before}\n")
