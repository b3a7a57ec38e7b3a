"""What the running kernel supports, found by probing it, and switches to force its absence.

Optional kernel features are probed (libbpf creates a map or loads a program
of the type), never inferred from the version. Each probe has a
``BEE_TRACE_FORCE_*`` switch that makes it answer "unsupported", so that the
degraded path can be tested on a kernel that has the feature: the switch goes
through the same code as a real absence.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from bee_trace.bpf.libbpf import (
    BPF_MAP_TYPE_RINGBUF,
    BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
    map_type_supported,
    prog_type_supported,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

log = logging.getLogger(__name__)

# test and diagnostic switches, documented in docs/troubleshooting.md
FORCE_PERFBUF_ENV: Final = "BEE_TRACE_FORCE_PERFBUF"
FORCE_NO_CGROUP_ENV: Final = "BEE_TRACE_FORCE_NO_CGROUP"


def forced(environ: Mapping[str, str], name: str) -> bool:
    """Whether a ``BEE_TRACE_FORCE_*`` switch is on (``1``, ``true`` or ``yes``)."""
    return environ.get(name, "").strip().lower() in {"1", "true", "yes"}


def ring_buffer_missing(environ: Mapping[str, str]) -> str | None:
    """Why events cannot go through BPF ring buffers, or None when they can."""
    if forced(environ, FORCE_PERFBUF_ENV):
        return f"forced by {FORCE_PERFBUF_ENV}"
    if not map_type_supported(BPF_MAP_TYPE_RINGBUF):
        return "the kernel has no BPF ring buffer (BPF_MAP_TYPE_RINGBUF, Linux 5.8)"
    return None


def cgroup_hooks_missing(environ: Mapping[str, str]) -> str | None:
    """Why cgroup sock_addr programs cannot be loaded, or None when they can."""
    if forced(environ, FORCE_NO_CGROUP_ENV):
        return f"cgroup sock_addr programs unavailable (forced by {FORCE_NO_CGROUP_ENV})"
    if not prog_type_supported(BPF_PROG_TYPE_CGROUP_SOCK_ADDR):
        return (
            "the kernel cannot load cgroup sock_addr programs "
            "(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, CONFIG_CGROUP_BPF)"
        )
    return None
