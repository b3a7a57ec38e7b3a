"""Finding, or mounting, the cgroup v2 tree that enforcement attaches to.

cgroup sock_addr programs attached at the root of the v2 hierarchy see every
socket on the host whose cgroup is in that hierarchy, which is every socket
unless net_cls or net_prio of cgroup v1 are in use: those take sockets off
the v2 path, and the kernel then skips cgroup BPF programs for them.
"""

from __future__ import annotations

import errno
import logging
import os
import re
from pathlib import Path
from typing import Final

from bee_trace.host.mount import mount_fs

log = logging.getLogger(__name__)

PROC_MOUNTS: Final = Path("/proc/self/mounts")
PRIVATE_MOUNT: Final = Path("/run/bee-trace/cgroup2")
_ESCAPE: Final = re.compile(r"\\([0-7]{3})")


class CgroupUnavailableError(Exception):
    """cgroup v2 is not mounted and could not be mounted."""


def _mounts(mounts: Path) -> list[list[str]]:
    # mount points are bytes, in no particular encoding
    text = os.fsdecode(mounts.read_bytes())
    return [line.split() for line in text.splitlines() if line.strip()]


def _unescape(field: str) -> str:
    r"""Undo the octal escapes of a mounts field (a space is written ``\040``)."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def find_cgroup2(mounts: Path = PROC_MOUNTS) -> Path | None:
    """Where cgroup v2 is mounted, if anywhere."""
    for fields in _mounts(mounts):
        if len(fields) > 2 and fields[2] == "cgroup2":  # noqa: PLR2004 - fstype field
            return Path(_unescape(fields[1]))
    return None


def v1_socket_controllers(mounts: Path = PROC_MOUNTS) -> list[str]:
    """cgroup v1 controllers mounted that take sockets off cgroup v2."""
    found: list[str] = []
    for fields in _mounts(mounts):
        if len(fields) > 3 and fields[2] == "cgroup":  # noqa: PLR2004 - fstype, options
            found.extend(c for c in ("net_cls", "net_prio") if c in fields[3].split(","))
    return sorted(set(found))


def _mount_cgroup2(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    mount_fs(b"cgroup2", target)


def cgroup2_root(mounts: Path = PROC_MOUNTS, private: Path = PRIVATE_MOUNT) -> Path:
    """The cgroup v2 root, mounting it at ``private`` when it is not mounted."""
    found = find_cgroup2(mounts)
    if found is not None:
        return found
    try:
        _mount_cgroup2(private)
    except OSError as exc:
        name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        msg = (
            f"cgroup v2 is not mounted and mounting it at {private} failed: {name} ({exc.strerror})"
        )
        raise CgroupUnavailableError(msg) from exc
    log.info("mounted cgroup v2 at %s for enforcement", private)
    return private
