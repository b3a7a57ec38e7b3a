"""mount(2), for the file systems bee-trace mounts itself: tracefs, cgroup2."""

from __future__ import annotations

import ctypes
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def mount_fs(fstype: bytes, target: Path) -> None:
    """Mount a file system of type fstype at target (needs CAP_SYS_ADMIN)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p] * 4 + [ctypes.c_void_p]
    libc.mount.restype = ctypes.c_int
    if libc.mount(fstype, os.fsencode(target), fstype, None, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(target))
