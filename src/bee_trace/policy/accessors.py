# Copyright 2026 The bee-trace Authors
# SPDX-License-Identifier: Apache-2.0
"""Entries of ``memory.allowed_accessors``: a comm name or an absolute executable path.

A comm name is what the kernel keeps as a task's name: at most
:data:`COMM_MAX_BYTES` bytes (``TASK_COMM_LEN`` less its NUL), never holding
``/`` when set from the executable's file name. An executable path is compared
by the file it names, so it must already be absolute and normalised.
"""

from __future__ import annotations

from typing import Final

COMM_MAX_BYTES: Final = 15
"""Longest comm name the kernel keeps, in bytes."""


def is_executable_path(raw: str) -> bool:
    """Return whether an accessor entry is an executable path rather than a comm name."""
    return raw.startswith("/")


def _check_path(raw: str) -> None:
    """Refuse an absolute path that is not in its normal form."""
    components = raw.split("/")[1:]
    if ".." in components:
        # not lexically removable: the component before it may be a symbolic link
        msg = "has a '..' component: write the path without it"
        raise ValueError(msg)
    normal = "/" + "/".join(part for part in components if part not in {"", "."})
    if normal == "/":
        msg = "names the root directory, not an executable"
        raise ValueError(msg)
    if raw != normal:
        what = "ends with '/'" if raw.endswith("/") else "has an empty or '.' component"
        msg = f"{what}: did you mean {normal!r}?"
        raise ValueError(msg)


def check_accessor(raw: str) -> None:
    """Check one ``memory.allowed_accessors`` entry.

    Raises :class:`ValueError` whose message says what is wrong, for example
    ``ends with '/': did you mean '/usr/bin/gdb'?``.
    """
    if not raw:
        msg = "empty string"
        raise ValueError(msg)
    if "\0" in raw:
        msg = "contains a NUL character"
        raise ValueError(msg)
    if is_executable_path(raw):
        _check_path(raw)
        return
    if "/" in raw:
        msg = "a relative path: write the absolute path, or a comm name without '/'"
        raise ValueError(msg)
    encoded = raw.encode("utf-8")
    if len(encoded) > COMM_MAX_BYTES:
        msg = f"{len(encoded)} bytes, over the {COMM_MAX_BYTES} the kernel keeps"
        try:
            kept = encoded[:COMM_MAX_BYTES].decode("utf-8")
        except UnicodeDecodeError:
            # the kernel cuts bytes, not characters; no text names such a comm
            msg += ", which end inside a character: write the executable's absolute path"
        else:
            msg += f": write {kept!r}, or the executable's absolute path"
        raise ValueError(msg)
