"""Where a file system is mounted, from ``/proc/self/mountinfo``.

The kernel names a file reached through a bind mount of part of a file
system by its path inside that file system (see ``BT_PATH_FS_RELATIVE``);
this module finds a mount of the whole file system, or of a part containing
the file, and turns that path into one a person would recognise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

MOUNTINFO: Final = Path("/proc/self/mountinfo")
_ESCAPE = re.compile(rb"\\([0-7]{3})")


def _unescape(field: bytes) -> bytes:
    return _ESCAPE.sub(lambda m: bytes([int(m.group(1), 8)]), field)


def kernel_dev(major: int, minor: int) -> int:
    """The kernel's internal dev_t encoding (MKDEV), as ``sb->s_dev`` holds it."""
    return (major << 20) | minor


@dataclass(frozen=True, slots=True)
class Mount:
    """One line of mountinfo: which part (root) of which device, mounted where."""

    dev: int
    root: bytes
    mount_point: bytes


def parse_mountinfo(text: bytes) -> list[Mount]:
    """Parse mountinfo; lines that do not parse are skipped."""
    mounts: list[Mount] = []
    for line in text.splitlines():
        fields = line.split(b" ")
        if len(fields) < 5:  # noqa: PLR2004 - id, parent, dev, root, mount point
            continue
        major, _, minor = fields[2].partition(b":")
        if not (major.isdigit() and minor.isdigit()):
            continue
        mounts.append(
            Mount(
                dev=kernel_dev(int(major), int(minor)),
                root=_unescape(fields[3]),
                mount_point=_unescape(fields[4]),
            )
        )
    return mounts


class MountTable:
    """Maps (device, path inside the file system) to a path in our mount tree."""

    def __init__(self, source: Path = MOUNTINFO) -> None:
        """Read lazily: nothing is parsed until the first lookup."""
        self._source = source
        self._mounts: list[Mount] | None = None

    def _load(self) -> list[Mount]:
        try:
            self._mounts = parse_mountinfo(self._source.read_bytes())
        except OSError:
            self._mounts = []
        return self._mounts

    def _find(self, dev: int, fs_path: bytes) -> bytes | None:
        best: Mount | None = None
        for m in self._mounts or []:
            if m.dev != dev:
                continue
            root = m.root.rstrip(b"/")
            if fs_path != root and not fs_path.startswith(root + b"/"):
                continue
            # the widest mount (shortest root) gives the path most people know
            if best is None or len(m.root) < len(best.root):
                best = m
        if best is None:
            return None
        rest = fs_path[len(best.root.rstrip(b"/")) :]
        return (best.mount_point.rstrip(b"/") + rest) or b"/"

    def locate(self, dev: int, fs_path: bytes) -> bytes | None:
        """The path of fs_path on device dev, or None when it is not mounted here."""
        if self._mounts is None:
            self._load()
        found = self._find(dev, fs_path)
        if found is None:
            # a mount made since we last looked
            self._load()
            found = self._find(dev, fs_path)
        return found
