"""Renderings shared by every output format and event type: open flags, results, timestamps."""

from __future__ import annotations

import errno
from datetime import UTC, datetime
from functools import lru_cache

# open(2) flag values of Linux's generic ABI (asm-generic/fcntl.h), which x86_64
# uses. Spelled out rather than read from the os module, whose values follow the
# host bee-trace happens to run on and lack the kernel-internal bits.
O_ACCMODE = 0o3
O_CREAT = 0o100
O_EXCL = 0o200
O_NOCTTY = 0o400
O_TRUNC = 0o1000
O_APPEND = 0o2000
O_NONBLOCK = 0o4000
O_DSYNC = 0o10000
FASYNC = 0o20000
O_DIRECT = 0o40000
O_LARGEFILE = 0o100000
O_DIRECTORY = 0o200000
O_NOFOLLOW = 0o400000
O_NOATIME = 0o1000000
O_CLOEXEC = 0o2000000
_O_SYNC = 0o4000000
O_SYNC = _O_SYNC | O_DSYNC
O_PATH = 0o10000000
_O_TMPFILE = 0o20000000
O_TMPFILE = _O_TMPFILE | O_DIRECTORY

_ACCESS_MODES = ("O_RDONLY", "O_WRONLY", "O_RDWR")

# names in the order they are rendered; O_SYNC and O_TMPFILE span several bits
_FLAG_TABLE: tuple[tuple[str, int], ...] = (
    ("O_CREAT", O_CREAT),
    ("O_EXCL", O_EXCL),
    ("O_NOCTTY", O_NOCTTY),
    ("O_TRUNC", O_TRUNC),
    ("O_APPEND", O_APPEND),
    ("O_NONBLOCK", O_NONBLOCK),
    ("O_DSYNC", O_DSYNC),
    ("FASYNC", FASYNC),
    ("O_DIRECT", O_DIRECT),
    ("O_LARGEFILE", O_LARGEFILE),
    ("O_DIRECTORY", O_DIRECTORY),
    ("O_NOFOLLOW", O_NOFOLLOW),
    ("O_NOATIME", O_NOATIME),
    ("O_CLOEXEC", O_CLOEXEC),
    ("O_SYNC", O_SYNC),
    ("O_PATH", O_PATH),
    ("O_TMPFILE", O_TMPFILE),
)

# openat2(2) takes 64-bit flags; a negative value is read as its 64-bit pattern
_FLAGS_MASK = (1 << 64) - 1

# errno.errorcode picks glibc's alias for these; the kernel's own names read better
_ERRNO_NAMES = {35: "EDEADLK", 95: "EOPNOTSUPP"}


def flag_name_list(flags: int) -> list[str]:
    """Return the names of the open flags set in ``flags``.

    The access mode comes first, then one name per flag in bit order. A
    multi-bit flag (``O_SYNC``, ``O_TMPFILE``) is named only when all its bits
    are set, and then its bits are not named again. Bits no name covers,
    including an access mode of 3, come last as one ``0x`` hex value.
    """
    return list(_flag_names(flags & _FLAGS_MASK))


# a process opens with a handful of flag combinations: name each once
@lru_cache(maxsize=512)
def _flag_names(flags: int) -> tuple[str, ...]:
    """The names of :func:`flag_name_list`, for flags already masked to 64 bits."""
    names: list[str] = []
    named_bits = 0

    mode = flags & O_ACCMODE
    if mode < len(_ACCESS_MODES):
        names.append(_ACCESS_MODES[mode])
        named_bits |= O_ACCMODE

    for name, mask in _FLAG_TABLE:
        if flags & mask != mask:
            continue
        # a bit that belongs to a wider flag also present is named by that flag
        if any(
            other != mask and other & mask == mask and flags & other == other
            for _, other in _FLAG_TABLE
        ):
            continue
        names.append(name)
        named_bits |= mask

    leftover = flags & ~named_bits
    if leftover:
        names.append(f"{leftover:#x}")
    return tuple(names)


def flag_names(flags: int) -> str:
    """Return the open flags as names joined by ``|``, such as ``O_RDONLY|O_CLOEXEC``."""
    return "|".join(_flag_names(flags & _FLAGS_MASK))


def errno_name(errnum: int) -> str:
    """Return the symbolic name of a positive errno, or ``E<n>`` for one without a name."""
    return _ERRNO_NAMES.get(errnum) or errno.errorcode.get(errnum) or f"E{errnum}"


def result_name(result: int) -> str:
    """Return a syscall result for text output: the number, or the errno name if negative.

    The number is whatever the call returned on success: a file descriptor for
    an open, 0 for a connect.
    """
    if result >= 0:
        return str(result)
    return errno_name(-result)


def error_name(result: int) -> str | None:
    """Return the errno name of a failed syscall's result, or None when it succeeded."""
    if result >= 0:
        return None
    return errno_name(-result)


def format_timestamp(when: datetime) -> str:
    """Return ``when`` in RFC 3339 UTC with microseconds, like ``2026-12-04T15:30:01.123456Z``.

    A naive datetime is taken to be UTC already.
    """
    if when.tzinfo is UTC:
        when = when.replace(tzinfo=None)  # what decoding gives: no conversion needed
    elif when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when.isoformat(timespec="microseconds") + "Z"
