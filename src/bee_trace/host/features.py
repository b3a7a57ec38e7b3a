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
    BPF_FUNC_GET_CURRENT_TASK_BTF,
    BPF_FUNC_TASK_PT_REGS,
    BPF_MAP_TYPE_RINGBUF,
    BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
    BPF_PROG_TYPE_TRACEPOINT,
    helper_supported,
    map_type_supported,
    prog_type_supported,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

log = logging.getLogger(__name__)

# test and diagnostic switches, documented in docs/troubleshooting.md
FORCE_PERFBUF_ENV: Final = "BEE_TRACE_FORCE_PERFBUF"
FORCE_NO_CGROUP_ENV: Final = "BEE_TRACE_FORCE_NO_CGROUP"
FORCE_NO_TASK_BTF_ENV: Final = "BEE_TRACE_FORCE_NO_TASK_BTF"


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


def task_btf_missing(environ: Mapping[str, str]) -> str | None:
    """Why tracepoint programs cannot load task_struct fields directly, or None when they can."""
    if forced(environ, FORCE_NO_TASK_BTF_ENV):
        return f"forced by {FORCE_NO_TASK_BTF_ENV}"
    if not helper_supported(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_GET_CURRENT_TASK_BTF):
        return "the kernel has no bpf_get_current_task_btf (Linux 5.11)"
    return None


def task_regs_missing(environ: Mapping[str, str]) -> str | None:
    """Why an exit program cannot read the call's arguments from the task's registers.

    Without bpf_task_pt_regs an entry program has to keep them for the exit
    program: a second program on every open. Forcing the absence of task BTF
    forces this too, since the helper takes a BTF task pointer.
    """
    why = task_btf_missing(environ)
    if why is not None:
        return why
    if not helper_supported(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_TASK_PT_REGS):
        return "the kernel has no bpf_task_pt_regs (Linux 5.15)"
    return None
