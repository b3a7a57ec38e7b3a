"""Turning the name a process passed into an absolute path.

The kernel resolves the path of every file that was opened. When an open
fails there is no file, only the name passed, possibly relative to the
thread's working directory or to a directory descriptor. This module makes it
absolute from ``/proc`` while the process still exists; when it is gone the
name stays as passed and the event says it is unresolved.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

AT_FDCWD: Final = -100


def _readlink(link: Path) -> bytes | None:
    try:
        return os.readlink(os.fsencode(link))  # noqa: PTH115 - bytes in, bytes out
    except OSError:
        return None


def base_directory(pid: int, tid: int, dfd: int, proc: Path = Path("/proc")) -> bytes | None:
    """The directory a relative name was looked up from, if still knowable."""
    if dfd == AT_FDCWD:
        return _readlink(proc / str(pid) / "task" / str(tid) / "cwd") or _readlink(
            proc / str(pid) / "cwd"
        )
    if dfd < 0:
        return None
    return _readlink(proc / str(pid) / "fd" / str(dfd))


def normalize(path: bytes) -> bytes:
    """Collapse ``//``, ``.`` and ``..`` lexically, keeping bytes as they are."""
    parts: list[bytes] = []
    for part in path.split(b"/"):
        if part in {b"", b"."}:
            continue
        if part == b"..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return b"/" + b"/".join(parts)


def follow(path: bytes, *, follow_last: bool = False) -> bytes:
    """Resolve symlinks and ``..`` in an absolute path, as far as it exists.

    The open failed, so the file itself may not exist; the directories
    usually do. Components that exist are followed through symlinks, the
    rest is taken as written. The last component is followed only with
    follow_last (a denied open: the file exists, maybe as a symlink).
    """
    if follow_last:
        return os.path.realpath(path)
    head, _, name = path.rpartition(b"/")
    real = os.path.realpath(head or b"/")
    return normalize(real + b"/" + name)


def absolute(  # noqa: PLR0913 - the open's own arguments, plus where /proc is
    name: bytes,
    pid: int,
    tid: int,
    dfd: int,
    proc: Path = Path("/proc"),
    *,
    follow_last: bool = False,
) -> tuple[bytes, bool]:
    """Return ``(path, resolved)`` for a name passed to open.

    ``resolved`` is true when the result is absolute. The kernel side puts
    the caller's directory in front of a relative name already; this is the
    fallback when it could not. Symlinks in the directory part are followed
    as bee-trace sees the file system.
    """
    if name.startswith(b"/"):
        return follow(name, follow_last=follow_last), True
    base = base_directory(pid, tid, dfd, proc)
    if base is None or not base.startswith(b"/"):
        return name, False
    return follow(base + b"/" + name, follow_last=follow_last), True
